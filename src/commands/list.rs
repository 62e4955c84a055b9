//! `certsmith list`: certificates in the ledger, filtered.

use certsmith::error::Result;
use certsmith::ledger::ListFilter;
use certsmith::ops::expiry::{self, Expiry};
use certsmith::{Error, clock};

use super::Ctx;
use crate::cli::ListArgs;

pub fn run(ctx: &Ctx, a: ListArgs) -> Result<()> {
    let ledger = ctx.pki.show_ledger()?;
    let now = clock::now()?;
    let expiry = match (&a.expiring_within, a.expired) {
        (Some(w), _) => Some(expiry::within("--expiring-within", w)?),
        (None, true) => Some(Expiry::Expired),
        (None, false) => None,
    };
    if let Some(ca) = &a.ca
        && ledger.ca(ca)?.is_none()
    {
        return Err(Error::input(format!(
            "no CA named '{ca}' in '{}'",
            ctx.pki.root.display()
        )));
    }
    let filter = ListFilter {
        issuer: a.ca.clone(),
        expiring_before: None,
        revoked_only: a.revoked,
        include_superseded: a.all,
        include_cas: a.all,
    };
    let rows = match expiry {
        Some(e) => expiry::list(&ledger, &filter, e, now)?,
        None => ledger.list(&filter)?,
    };
    let now_ts = now.unix_timestamp();
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| certsmith::json::cert_record(r, &ctx.pki.root, now_ts))
        .collect();
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
    if a.fail_if_any && !rows.is_empty() {
        ctx.answer.set(1);
    }
    Ok(())
}

/// A unix time as RFC 3339.
pub fn time_text(t: i64) -> String {
    certsmith::json::time(t)
}
