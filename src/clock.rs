//! The current time, in one place, so tests can pin it with `CERTSMITH_NOW`;
//! every time certsmith parses or computes is UTC and checked against the
//! range an X.509 time can hold.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::error::{Error, Result, shown};

/// Name of the environment variable that pins "now" (RFC 3339), for tests
/// and reproducible CI fixtures.
pub const NOW_ENV: &str = "CERTSMITH_NOW";

/// Now, in UTC, truncated to whole seconds (X.509 times carry no fractions).
/// With `$CERTSMITH_NOW` set, that time instead, and a warning on stderr
/// (once per process) so a fixed clock is never in effect unnoticed.
pub fn now() -> Result<OffsetDateTime> {
    let t = match std::env::var(NOW_ENV) {
        Ok(v) => {
            let t = parse(&format!("${NOW_ENV}"), &v)?;
            warn_fixed(t);
            t
        }
        Err(_) => OffsetDateTime::now_utc(),
    };
    Ok(truncate(t))
}

fn warn_fixed(t: OffsetDateTime) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        crate::error::diagnostic(
            "certsmith: warning: ",
            &format!("the clock is fixed at {} by ${NOW_ENV}", rfc3339(t)),
        );
    });
}

/// Drops sub-second precision.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// RFC 3339 text of a time, UTC, e.g. `2027-01-31T00:00:00Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.checked_to_offset(UtcOffset::UTC)
        .and_then(|u| u.format(&Rfc3339).ok())
        .unwrap_or_else(|| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 time given on the command line (e.g. `--at`).
pub fn parse_rfc3339(flag: &str, v: &str) -> Result<OffsetDateTime> {
    parse(flag, v)
}

/// The one parser for times from users: RFC 3339, converted to UTC here
/// (rcgen picks UTCTime or GeneralizedTime from the year in the value's own
/// offset, so `2049-12-31T23:30:00-01:00` would otherwise panic in yasna),
/// and within the years an X.509 time can hold.
fn parse(what: &str, v: &str) -> Result<OffsetDateTime> {
    let bad = || {
        Error::input(format!("{what} '{}' is not an RFC 3339 time", shown(v)))
            .hint("write it like 2027-01-31T00:00:00Z")
    };
    let t = OffsetDateTime::parse(v, &Rfc3339).map_err(|_| bad())?;
    t.checked_to_offset(UtcOffset::UTC)
        .and_then(in_range)
        .ok_or_else(|| {
            Error::input(format!(
                "{what} '{}' is outside the years 0000 to 9999 that a certificate can hold",
                shown(v)
            ))
        })
}

fn in_range(t: OffsetDateTime) -> Option<OffsetDateTime> {
    (0..=9999).contains(&t.year()).then_some(t)
}

/// `t + d`, in UTC, or an error naming `what` (the flag or value the
/// length came from) when the result leaves the years 0000 to 9999. Every
/// length added to or subtracted from a time goes through here: `+` on
/// `OffsetDateTime` panics on overflow.
pub fn shift(t: OffsetDateTime, d: Duration, what: &str) -> Result<OffsetDateTime> {
    t.checked_add(d)
        .and_then(|r| r.checked_to_offset(UtcOffset::UTC))
        .and_then(in_range)
        .ok_or_else(|| {
            Error::input(format!(
                "{what} from {} ends outside the years 0000 to 9999 that a certificate can hold",
                rfc3339(t)
            ))
            .hint("ask for a shorter length, or check $CERTSMITH_NOW")
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_with_an_offset_are_read_as_utc() {
        let t = parse_rfc3339("--at", "2049-12-31T23:30:00-01:00").unwrap();
        assert_eq!(t, datetime!(2050-01-01 0:30 UTC));
        assert_eq!(t.offset(), UtcOffset::UTC);
    }

    #[test]
    fn shifting_past_year_9999_or_before_year_0_is_an_error_not_a_panic() {
        let late = datetime!(9999-12-31 0:00 UTC);
        let e = shift(late, Duration::days(365), "--validity '1y'").unwrap_err();
        assert!(e.to_string().contains("--validity '1y'"), "{e}");
        let early = datetime!(0000-01-01 0:00 UTC);
        assert!(shift(early, -Duration::minutes(1), "backdating").is_err());
        assert!(shift(early, Duration::minutes(1), "x").is_ok());
    }
}
