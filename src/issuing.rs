//! Which CA issues: the PKI's default issuing CA (`ca default`, scope
//! `pki`) and CAs retired from issuance (`ca retire`, scope `ca:<name>`),
//! kept in the ledger's settings. The only place that spells these keys.

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::ledger::{CaRecord, Kind, Ledger, ListFilter};

const PKI_SCOPE: &str = "pki";
const DEFAULT_CA: &str = "default-ca";
const RETIRED_AT: &str = "retired-at";

fn scope(ca: &str) -> String {
    format!("ca:{ca}")
}

/// The default issuing CA (`ca default`), if one is set.
pub fn default_ca(ledger: &Ledger) -> Result<Option<String>> {
    ledger.setting(PKI_SCOPE, DEFAULT_CA)
}

/// Makes `ca` the default issuing CA.
pub fn set_default_ca(ledger: &mut Ledger, ca: &str) -> Result<()> {
    ledger.set_setting(PKI_SCOPE, DEFAULT_CA, Some(ca))
}

/// When CA `ca` was retired (`ca retire`), if it was.
pub fn retired_at(ledger: &Ledger, ca: &str) -> Result<Option<OffsetDateTime>> {
    let Some(v) = ledger.setting(&scope(ca), RETIRED_AT)? else {
        return Ok(None);
    };
    v.parse::<i64>()
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(Some)
        .ok_or_else(|| {
            Error::failed(format!(
                "the ledger holds a malformed setting {RETIRED_AT} '{}' for CA '{}'",
                crate::error::shown(&v),
                crate::error::shown(ca)
            ))
            .hint(format!("retire it again with `certsmith ca retire {ca}`"))
        })
}

/// Marks CA `ca` retired at `now`.
pub fn set_retired(ledger: &mut Ledger, ca: &str, now: OffsetDateTime) -> Result<()> {
    let at = now.unix_timestamp().to_string();
    ledger.set_setting(&scope(ca), RETIRED_AT, Some(&at))
}

/// Refuses issuing from CA `ca` when it is retired, naming the default
/// issuing CA in the error.
pub fn check_not_retired(ledger: &Ledger, ca: &str) -> Result<()> {
    let Some(on) = retired_at(ledger, ca)? else {
        return Ok(());
    };
    Err(Error::CaNotAlive {
        name: ca.to_string(),
        above: None,
        state: crate::error::DeadCa::Retired {
            on,
            default: default_ca(ledger)?,
        },
    })
}

/// `--ca`, else the default issuing CA, else the only intermediate that is
/// not retired, else the only root.
pub fn issuing_ca(ledger: &Ledger, arg: Option<&str>) -> Result<String> {
    if let Some(a) = arg {
        return Ok(a.to_string());
    }
    if let Some(d) = default_ca(ledger)? {
        return Ok(d);
    }
    let mut cas = Vec::new();
    for c in ledger.cas()? {
        if retired_at(ledger, &c.cert.name)?.is_none() {
            cas.push(c);
        }
    }
    let inter: Vec<&CaRecord> = cas
        .iter()
        .filter(|c| c.cert.kind == Kind::Intermediate)
        .collect();
    let pick = match (inter.len(), cas.len()) {
        (1, _) => Some(inter[0].cert.name.clone()),
        (0, 1) => Some(cas[0].cert.name.clone()),
        _ => None,
    };
    pick.ok_or_else(|| {
        let names: Vec<String> = cas.iter().map(|c| c.cert.name.clone()).collect();
        if ledger.cas().is_ok_and(|all| all.is_empty()) {
            Error::input("this PKI has no CA yet").hint("run `certsmith init` first")
        } else {
            Error::input("more than one CA could sign this and no default issuing CA is set")
                .hint(format!(
                    "pass --ca NAME (one of: {}), or set the default once: `certsmith ca default NAME`",
                    names.join(", ")
                ))
        }
    })
}

/// The latest notAfter of the certificates CA `ca` issued that are not
/// revoked (superseded ones count: a device may still present one).
pub fn last_expiry(ledger: &Ledger, ca: &str) -> Result<Option<i64>> {
    let all = ledger.list(&ListFilter {
        issuer: Some(ca.to_string()),
        include_superseded: true,
        include_cas: true,
        ..ListFilter::default()
    })?;
    Ok(all
        .iter()
        .filter(|c| c.revoked_at.is_none() && c.state != "pending")
        .map(|c| c.not_after)
        .max())
}

/// The certificates CA `ca` signed that are live at `now`: current (not
/// superseded or pending), not revoked, not expired; leaves and CAs, never
/// the CA's own certificate.
pub fn live_signed(
    ledger: &Ledger,
    ca: &str,
    now: OffsetDateTime,
) -> Result<Vec<crate::ledger::CertRecord>> {
    Ok(ledger
        .list(&ListFilter {
            issuer: Some(ca.to_string()),
            include_cas: true,
            ..ListFilter::default()
        })?
        .into_iter()
        .filter(|c| {
            c.name != ca
                && c.state == "active"
                && c.revoked_at.is_none()
                && c.not_after > now.unix_timestamp()
        })
        .collect())
}

/// A retired CA whose last certificate has expired at `now` (or that never
/// issued one): no peer needs it any more, so bundles leave it out.
/// Returns when that last certificate expired (`None`: it issued none).
pub fn out_of_use(ledger: &Ledger, ca: &str, now: i64) -> Result<Option<Option<i64>>> {
    if retired_at(ledger, ca)?.is_none() {
        return Ok(None);
    }
    let last = last_expiry(ledger, ca)?;
    Ok(match last {
        Some(t) if t >= now => None,
        last => Some(last),
    })
}
