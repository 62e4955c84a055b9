//! `certsmith list`: certificates in the ledger, filtered.

use certsmith::error::Result;
use certsmith::ledger::{CertRecord, ListFilter};
use certsmith::validity::Validity;
use certsmith::{Error, clock};

use super::Ctx;
use crate::cli::ListArgs;

pub fn run(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let ledger = ctx.pki.read_ledger()?;
    let now = clock::now()?;
    let expiring_before = match a
        .expiring_within
        .as_deref()
        .map(|v| Validity::parse_flag("--expiring-within", v))
        .transpose()?
    {
        Some(Validity::For(d)) => {
            let what = format!(
                "--expiring-within '{}'",
                certsmith::error::shown(a.expiring_within.as_deref().unwrap_or_default())
            );
            Some(clock::shift(now, d, &what)?.unix_timestamp())
        }
        Some(Validity::Until(_)) => {
            return Err(Error::input("--expiring-within takes a length such as 30d"));
        }
        None => None,
    };
    if let Some(ca) = &a.ca
        && ledger.ca(ca)?.is_none()
    {
        return Err(Error::input(format!(
            "no CA named '{ca}' in '{}'",
            ctx.pki.root.display()
        )));
    }
    let rows = ledger.list(&ListFilter {
        issuer: a.ca.clone(),
        expiring_before,
        revoked_only: a.revoked,
        include_superseded: a.all,
        include_cas: a.all,
    })?;
    let now_ts = now.unix_timestamp();
    let json: Vec<serde_json::Value> = rows.iter().map(|r| record_json(r, now_ts)).collect();
    ctx.report(
        || {
            if rows.is_empty() {
                return vec!["No certificates match.".to_string()].into();
            }
            let mut s = super::Lines::new();
            s.line(format!(
                "{:<24} {:<10} {:<12} {:<20} {:<10} {}",
                "NAME", "STATUS", "ISSUER", "NOT AFTER", "PROFILE", "SERIAL"
            ));
            for r in &rows {
                s.line(format!(
                    "{:<24} {:<10} {:<12} {:<20} {:<10} {}",
                    r.name,
                    r.status(now_ts),
                    r.issuer.as_deref().unwrap_or("-"),
                    time_text(r.not_after),
                    r.profile,
                    r.serial
                ));
            }
            s
        },
        &serde_json::json!({ "certificates": json }),
    );
    Ok(())
}

/// A ledger record as JSON.
pub fn record_json(r: &CertRecord, now: i64) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": r.name,
        "kind": r.kind.as_str(),
        "status": r.status(now),
        "issuer": r.issuer,
        "serial": r.serial,
        "subject": r.subject,
        "sans": r.sans,
        "profile": r.profile,
        "key_type": r.key_type,
        "not_before": time_text(r.not_before),
        "not_after": time_text(r.not_after),
        "fingerprint": r.fingerprint,
        "revoked_at": r.revoked_at.map(time_text),
        "revocation_reason": r.revocation_reason,
        "dir": r.dir,
    });
    certsmith::ledger::audit_json(r, &mut v);
    v
}

/// A unix time as RFC 3339.
pub fn time_text(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(clock::rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
