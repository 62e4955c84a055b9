//! Validity periods: `90d`, `12h`, `5y`, or an RFC 3339 end date, and the
//! rule that a certificate never outlives its issuer.

use time::{Duration, OffsetDateTime};

use crate::clock;
use crate::error::{Error, Result};

/// How long before "now" notBefore is set, to absorb clock skew between
/// the CA and the peers that check the certificate.
pub const BACKDATE: Duration = Duration::minutes(1);

/// A requested validity: a length, or a fixed end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    For(Duration),
    Until(OffsetDateTime),
}

impl Validity {
    /// Parses `90d`, `12h`, `30m`, `2w`, `5y` (365 days a year) or an RFC 3339 time
    /// given to `--validity`.
    pub fn parse(s: &str) -> Result<Validity> {
        Validity::parse_flag("--validity", s)
    }

    /// [`Validity::parse`] for a value of `flag` (`--expiring-within`,
    /// `--next-update`), which every error names.
    pub fn parse_flag(flag: &str, s: &str) -> Result<Validity> {
        let bad = || {
            Error::input(format!(
                "{flag} '{}' is not understood",
                crate::error::shown(s)
            ))
            .hint("write a length like 90d, 12h or 5y, or an end time like 2027-01-31T00:00:00Z")
        };
        let s = s.trim();
        if s.contains('T') || s.contains(':') {
            return Ok(Validity::Until(clock::parse_rfc3339(flag, s)?));
        }
        if s.len() < 2 {
            return Err(bad());
        }
        // Split off the last character, not byte: a multi-byte unit ("5Σ") must not panic.
        let unit_at = s.char_indices().last().map_or(0, |(i, _)| i);
        let (num, unit) = s.split_at(unit_at);
        let n: i64 = num.parse().map_err(|_| bad())?;
        if n <= 0 {
            return Err(Error::input(format!(
                "{flag} '{}' must be positive",
                crate::error::shown(s)
            )));
        }
        // Count in minutes with checked arithmetic: `Duration::days(n)` panics
        // on overflow for a huge n (e.g. 99999999999999y).
        let per_unit: i64 = match unit {
            "m" => 1,
            "h" => 60,
            "d" => 24 * 60,
            "w" => 7 * 24 * 60,
            "y" => 365 * 24 * 60,
            _ => return Err(bad()),
        };
        let Some(minutes) = n
            .checked_mul(per_unit)
            .filter(|m| *m <= 100 * 365 * 24 * 60)
        else {
            return Err(Error::input(format!(
                "{flag} '{}' is longer than 100 years",
                crate::error::shown(s)
            )));
        };
        let d = Duration::minutes(minutes);
        Ok(Validity::For(d))
    }

    /// The notAfter this validity gives when issued at `now`; an error when
    /// a length would carry it past year 9999.
    pub fn not_after(&self, now: OffsetDateTime) -> Result<OffsetDateTime> {
        match self {
            Validity::For(d) => clock::shift(now, *d, &format!("validity '{self}'")),
            Validity::Until(t) => Ok(clock::truncate(*t)),
        }
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Validity::For(d) => f.write_str(&length_text(*d)),
            Validity::Until(t) => f.write_str(&clock::rfc3339(*t)),
        }
    }
}

/// A length as `--validity` takes it, in its largest exact unit: `1y`,
/// `90d`, `12h`, `30m` (weeks are shown as days).
pub fn length_text(d: Duration) -> String {
    let minutes = d.whole_minutes();
    for (unit, per) in [("y", 365 * 24 * 60), ("d", 24 * 60), ("h", 60)] {
        if minutes != 0 && minutes % per == 0 {
            return format!("{}{unit}", minutes / per);
        }
    }
    format!("{minutes}m")
}

/// A length in words for people: `30 days`, `1 hour`, `90 minutes`.
pub fn length_words(d: Duration) -> String {
    let minutes = d.whole_minutes();
    for (unit, per) in [("year", 365 * 24 * 60), ("day", 24 * 60), ("hour", 60)] {
        if minutes != 0 && minutes % per == 0 {
            let n = minutes / per;
            return format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
}

/// The validity window of a new certificate, checked against its issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Set when `--clamp` shortened the request to the issuer's notAfter.
    pub clamped: bool,
}

/// Computes notBefore/notAfter for a request at `now`. With an issuer
/// window, a notAfter past the issuer's is an error, or with `clamp` is
/// shortened to it. `max` is the profile's longest allowed validity.
pub fn window(
    requested: Validity,
    now: OffsetDateTime,
    issuer: Option<(&str, OffsetDateTime, OffsetDateTime)>,
    max: Option<(Duration, &str)>,
    clamp: bool,
) -> Result<Window> {
    let mut not_before = clock::shift(now, -BACKDATE, "backdating notBefore by 1m")?;
    let mut not_after = requested.not_after(now)?;
    if not_after <= now {
        return Err(Error::input(format!(
            "validity ends at {}, which is not in the future",
            clock::rfc3339(not_after)
        )));
    }
    if let Some((max, profile)) = max
        && not_after - now > max + Duration::minutes(1)
    {
        if clamp {
            not_after = clock::shift(now, max, &format!("max_validity '{}'", length_text(max)))?;
        } else {
            return Err(Error::input(format!(
                "validity of {} days is longer than profile '{profile}' allows ({} days)",
                (not_after - now).whole_days(),
                max.whole_days()
            ))
            .hint(
                "ask for less with --validity, pass --clamp, or raise max_validity in the profile",
            ));
        }
    }
    let mut clamped = false;
    if let Some((name, issuer_nb, issuer_na)) = issuer {
        if now > issuer_na {
            return Err(Error::input(format!(
                "issuer '{name}' expired at {}",
                clock::rfc3339(issuer_na)
            ))
            .hint("renew or replace the issuing CA first"));
        }
        if now < issuer_nb {
            return Err(Error::input(format!(
                "issuer '{name}' is not valid until {}",
                clock::rfc3339(issuer_nb)
            )));
        }
        if not_before < issuer_nb {
            not_before = issuer_nb;
        }
        if not_after > issuer_na {
            if clamp {
                not_after = issuer_na;
                clamped = true;
                // Clamped to an issuer that ends now: refused as --validity
                // set to that instant would be.
                if not_after <= now {
                    return Err(Error::input(format!(
                        "validity ends at {}, which is not in the future (issuer '{name}' ends then)",
                        clock::rfc3339(not_after)
                    ))
                    .hint("renew or replace the issuing CA first"));
                }
            } else {
                return Err(Error::ValidityPastIssuer {
                    issuer: name.to_string(),
                    requested: not_after,
                    issuer_not_after: issuer_na,
                });
            }
        }
    }
    Ok(Window {
        not_before,
        not_after,
        clamped,
    })
}

/// A positive length given to `flag` (`30d`, `12h`; not a date), e.g.
/// `renew --expiring-within` or `prune --older-than`.
pub fn positive_length(flag: &str, s: &str) -> Result<Duration> {
    // A length only: the parse hint must not offer an end time.
    let v = Validity::parse_flag(flag, s)
        .map_err(|e| e.hint(format!("write a length like {flag} 30d, 12h or 5y")))?;
    match v {
        Validity::For(d) if d > Duration::ZERO => Ok(d),
        _ => Err(Error::input(format!(
            "{flag} '{}' is not a positive length",
            crate::error::shown(s)
        ))
        .hint(format!("pass a length such as {flag} 30d"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn lengths_and_dates_parse() {
        assert_eq!(
            Validity::parse("90d").unwrap(),
            Validity::For(Duration::days(90))
        );
        assert_eq!(
            Validity::parse("5y").unwrap(),
            Validity::For(Duration::days(5 * 365))
        );
        assert_eq!(
            Validity::parse("2027-01-31T00:00:00Z").unwrap(),
            Validity::Until(datetime!(2027-01-31 0:00 UTC))
        );
        assert!(Validity::parse("0d").is_err());
        assert!(Validity::parse("ten days").is_err());
    }

    #[test]
    fn certificate_never_outlives_issuer_unless_clamped() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let issuer = Some(("root", now - Duration::days(1), now + Duration::days(10)));
        let err = window(Validity::For(Duration::days(30)), now, issuer, None, false).unwrap_err();
        assert_eq!(
            err,
            Error::ValidityPastIssuer {
                issuer: "root".into(),
                requested: now + Duration::days(30),
                issuer_not_after: now + Duration::days(10),
            }
        );
        assert_eq!((err.code(), err.exit_code()), ("validity_past_issuer", 2));
        let w = window(Validity::For(Duration::days(30)), now, issuer, None, true).unwrap();
        assert!(w.clamped);
        assert_eq!(w.not_after, now + Duration::days(10));
    }

    #[test]
    fn clamping_to_an_issuer_that_ends_now_is_refused() {
        let now = datetime!(2026-01-01 0:00 UTC);
        let issuer = Some(("root", now - Duration::days(10), now));
        let err = window(Validity::For(Duration::days(30)), now, issuer, None, true).unwrap_err();
        assert!(err.to_string().contains("not in the future"), "{err}");
    }
}
