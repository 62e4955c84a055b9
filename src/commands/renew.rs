//! `certsmith renew <name>`: re-issue with the same subject, SANs, profile
//! and issuer; new serial, new key unless `--reuse-key`.

use certsmith::error::Result;
use certsmith::renew::{self, RenewRequest};

use super::Ctx;
use crate::cli::RenewArgs;

pub fn run(ctx: &Ctx, a: RenewArgs) -> Result<()> {
    let req = RenewRequest {
        name: a.name.clone(),
        pass: super::pass_options(&a.pass),
        validity: super::validity(a.validity.as_deref())?,
        clamp: a.clamp,
        reuse_key: a.reuse_key,
        revoke_old: a.revoke_old,
    };
    let r = renew::renew(&ctx.pki, &req)?;
    let mut notes = vec![format!(
        "the old certificate (serial {}) is kept in the ledger as superseded; its files were kept as *.old-{}",
        r.old_serial, r.old_serial
    )];
    if r.reused_key {
        notes.push("the key was reused (--reuse-key)".into());
    }
    if r.old_revoked {
        notes.push(format!(
            "the old certificate was revoked (reason superseded); publish it with: certsmith{} crl --ca {}",
            super::pki_flag(ctx),
            r.leaf.issuer
        ));
    }
    if ctx.json {
        let json = serde_json::to_value(&r).unwrap_or_default();
        ctx.report(super::Lines::new, &json);
    } else {
        super::issue::leaf_report(ctx, &r.leaf, &notes);
    }
    Ok(())
}
