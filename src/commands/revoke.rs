//! `certsmith revoke <name|serial>`: mark a certificate revoked in the ledger.

use certsmith::error::{Error, Result};
use certsmith::ledger::CertRecord;
use certsmith::ops::revoke::RevokeRequest;
use certsmith::{clock, revoke};

use super::Ctx;
use crate::cli::RevokeArgs;

pub fn run(ctx: &Ctx, a: RevokeArgs) -> Result<()> {
    let req = RevokeRequest {
        target: a.target.clone(),
        ca: a.ca.clone(),
        reason: a.reason.clone(),
    };
    let r = certsmith::ops::revoke::revoke(&ctx.pki, &req, &mut |rec, n| confirm_ca(ctx, rec, n))?;
    let (done, reason, now, orphans) = (&r.record, r.reason, r.revoked_at, r.orphaned);
    let issuer = done.issuer.clone().unwrap_or_default();
    let json = serde_json::json!({
        "name": done.name,
        "kind": done.kind.as_str(),
        "serial": done.serial,
        "issuer": issuer,
        "subject": done.subject,
        "revocation_reason": reason,
        "revoked_at": clock::rfc3339(now),
        "orphaned": orphans,
    });
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!(
                "Revoked '{}' (serial {}, issued by '{issuer}') on {}, reason {reason}.",
                done.name,
                done.serial,
                clock::rfc3339(now)
            ));
            if let Some(n) = orphans {
                s.line(format!(
                    "This CA orphans {}: they fail verification wherever its issuer's CRL is loaded, and it issues nothing more.",
                    revoke::active_certificates(n)
                ));
            }
            s.line("It stays valid for peers until they load a new CRL.")
                .line(format!("Next: certsmith{p} crl --ca {issuer}"));
            s
        },
        &json,
    );
    Ok(())
}

/// Revoking a CA takes every certificate below it along: ask at a
/// terminal, and without one insist on `--yes`.
fn confirm_ca(ctx: &Ctx, rec: &CertRecord, orphans: usize) -> Result<()> {
    if ctx.yes {
        return Ok(());
    }
    let what = format!(
        "revoking CA '{}' orphans {}",
        rec.name,
        revoke::active_certificates(orphans)
    );
    if !certsmith::passphrase::can_prompt() {
        return Err(
            Error::input(format!("{what}; not revoked without confirmation"))
                .hint("pass --yes to confirm without a terminal"),
        );
    }
    let yes = dialoguer::Confirm::new()
        .with_prompt(format!("{what}. Revoke it?"))
        .default(false)
        .interact()
        .map_err(|e| Error::input(format!("cannot ask for confirmation: {e}")))?;
    if yes {
        Ok(())
    } else {
        Err(Error::input(format!(
            "CA '{}' was not revoked (not confirmed)",
            rec.name
        )))
    }
}
