//! Expiry questions a cron job asks: which certificates of the ledger
//! expire soon or have expired (`list --expiring-within`, `--expired`), and
//! whether one certificate needs renewal (`needs-renewal`, exit 0 / 1 like
//! `step certificate needs-renewal`).

use std::path::Path;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::clock;
use crate::error::{Error, Result, shown};
use crate::ledger::{CertRecord, Ledger, ListFilter};
use crate::pki::Pki;
use crate::validity::Validity;

/// Which certificates an expiry query keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Still valid (not revoked, not expired) and ending within this
    /// length; the flag and value as given, for an error.
    Within(Duration, String),
    /// Past their notAfter (and not revoked).
    Expired,
}

/// A length given to `flag` (`--expiring-within`, `--within`), parsed the
/// way `--validity` is: `30d`, `12h`, `2w`, `1y`. An end time is refused.
/// See [`within`] for the [`Expiry`] of a flag.
pub fn length(flag: &str, value: &str) -> Result<Duration> {
    match Validity::parse_flag(flag, value)? {
        Validity::For(d) => Ok(d),
        Validity::Until(_) => Err(Error::input(format!(
            "{flag} '{}' is a time; it takes a length",
            shown(value)
        ))
        .hint("write a length like 30d, 12h or 2w")),
    }
}

/// [`Expiry::Within`] the length given to `flag`.
pub fn within(flag: &str, value: &str) -> Result<Expiry> {
    Ok(Expiry::Within(
        length(flag, value)?,
        format!("{flag} '{}'", shown(value)),
    ))
}

/// The current certificates of `filter` that `expiry` keeps at `now`,
/// soonest to expire first for [`Expiry::Within`].
pub fn list(
    ledger: &Ledger,
    filter: &ListFilter,
    expiry: Expiry,
    now: OffsetDateTime,
) -> Result<Vec<CertRecord>> {
    let now_ts = now.unix_timestamp();
    let mut f = filter.clone();
    let rows = match &expiry {
        Expiry::Within(d, given) => {
            let end = clock::shift(now, *d, given)?;
            f.expiring_before = Some(end.unix_timestamp());
            ledger.list(&f)?
        }
        Expiry::Expired => {
            f.expiring_before = Some(now_ts);
            ledger.list(&f)?
        }
    };
    let want = match expiry {
        Expiry::Within(..) => "valid",
        Expiry::Expired => "expired",
    };
    Ok(rows
        .into_iter()
        .filter(|r| r.status(now_ts) == want)
        .collect())
}

/// The answer of `needs-renewal`.
#[derive(Clone, Debug, Serialize)]
pub struct RenewalCheck {
    /// The ledger name, when the certificate was named (not a file).
    pub name: Option<String>,
    pub subject: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    /// From when on renewal is needed: notAfter minus the window.
    pub renew_after: String,
    /// `last-third` (the default) or the `--within` length as given.
    pub window: String,
    pub expired: bool,
    /// Revoked in the ledger: such a certificate never "needs renewal"
    /// (renewing it would certify a key or device withdrawn on purpose).
    pub revoked: bool,
    pub needs_renewal: bool,
}

/// Whether certificate `target` — a name in the ledger, or a certificate
/// file (PEM or DER; a path with a `/` or an existing file) — needs
/// renewal at `now`: it is expired, or within `within` of its notAfter
/// (default: in the last third of its lifetime, as step does).
pub fn needs_renewal(
    pki: &Pki,
    target: &str,
    within: Option<(Duration, &str)>,
    now: OffsetDateTime,
) -> Result<RenewalCheck> {
    let path = Path::new(target);
    let (name, subject, serial, not_before, not_after, revoked) = if target.contains('/')
        || path.is_file()
    {
        let cert = crate::certinfo::read_certs(path)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::input(format!("'{}' holds no certificate", shown(target))))?;
        let revoked = pki
            .recorded(&cert.fingerprint)
            .is_some_and(|r| r.revoked_at.is_some());
        (
            None,
            cert.subject,
            crate::serial::to_hex(crate::serial::normalize(&cert.serial)),
            cert.not_before,
            cert.not_after,
            revoked,
        )
    } else {
        let ledger = pki.show_ledger()?;
        let r = ledger
            .cert_by_name(target)?
            .ok_or_else(|| Error::NoSuchCert {
                name: target.to_string(),
                issuer: None,
            })?;
        let t = |s: i64| {
            OffsetDateTime::from_unix_timestamp(s)
                .map_err(|_| Error::failed(format!("the ledger holds a bad time for '{}'", r.name)))
        };
        (
            Some(r.name.clone()),
            r.subject.clone(),
            r.serial.clone(),
            t(r.not_before)?,
            t(r.not_after)?,
            r.revoked_at.is_some(),
        )
    };
    let (window, label) = match within {
        Some((d, given)) => (d, given.to_string()),
        None => ((not_after - not_before) / 3, "last-third".to_string()),
    };
    let renew_after = not_after - window;
    Ok(RenewalCheck {
        name,
        subject,
        serial,
        not_before: clock::rfc3339(not_before),
        not_after: clock::rfc3339(not_after),
        renew_after: clock::rfc3339(renew_after),
        window: label,
        expired: now > not_after,
        revoked,
        needs_renewal: !revoked && now >= renew_after,
    })
}
