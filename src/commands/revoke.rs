//! `certsmith revoke <name|serial>`: mark a certificate revoked in the ledger.

use certsmith::error::Result;
use certsmith::{clock, revoke};

use super::Ctx;
use crate::cli::RevokeArgs;

pub fn run(ctx: &Ctx, a: RevokeArgs) -> Result<()> {
    let reason = revoke::parse_reason(&a.reason)?;
    let mut ledger = ctx.pki.open_ledger()?;
    let rec = revoke::find(&ledger, &a.target, a.ca.as_deref())?;
    let now = clock::now()?;
    let done = revoke::revoke(&mut ledger, &rec, reason, now)?;
    let issuer = done.issuer.clone().unwrap_or_default();
    let json = serde_json::json!({
        "name": done.name,
        "kind": done.kind.as_str(),
        "serial": done.serial,
        "issuer": issuer,
        "subject": done.subject,
        "reason": reason,
        "revoked_at": clock::rfc3339(now),
    });
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            format!(
                "Revoked '{}' (serial {}, issued by '{issuer}') on {}, reason {reason}.\n\
                 It stays valid for peers until they load a new CRL.\n\
                 Next: certsmith{p} crl --ca {issuer}\n",
                done.name,
                done.serial,
                clock::rfc3339(now)
            )
        },
        &json,
    );
    Ok(())
}
