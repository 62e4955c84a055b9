//! The current time, in one place, so tests can pin it with `CERTSMITH_NOW`.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result};

/// Name of the environment variable that pins "now" (RFC 3339), for tests
/// and reproducible CI fixtures.
pub const NOW_ENV: &str = "CERTSMITH_NOW";

/// Now, truncated to whole seconds (X.509 times carry no fractions).
pub fn now() -> Result<OffsetDateTime> {
    let t = match std::env::var(NOW_ENV) {
        Ok(v) => OffsetDateTime::parse(&v, &Rfc3339)
            .map_err(|_| Error::input(format!("${NOW_ENV} '{v}' is not an RFC 3339 time")))?,
        Err(_) => OffsetDateTime::now_utc(),
    };
    Ok(truncate(t))
}

/// Drops sub-second precision.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).expect("zero nanoseconds is valid")
}

/// RFC 3339 text of a time, UTC, e.g. `2027-01-31T00:00:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 time given on the command line (e.g. `--at`).
pub fn parse_rfc3339(flag: &str, v: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
        Error::input(format!("{flag} '{v}' is not an RFC 3339 time"))
            .hint("write it like 2027-01-31T00:00:00Z")
    })
}
