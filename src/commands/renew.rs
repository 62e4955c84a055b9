//! `certsmith renew <name>`: re-issue with the same subject, SANs, profile
//! and issuer (or `--ca`); new serial, new key unless `--reuse-key`.
//! `renew --expiring-within 30d [--dry-run]` renews every certificate due;
//! `renew NAME --dry-run` says what renewing one would do.

use certsmith::error::Result;
use certsmith::ops::renew_bulk::{self, BulkRenewRequest, BulkRenewed};
use certsmith::renew::{self, RenewRequest};

use super::Ctx;
use crate::cli::RenewArgs;

pub fn run(ctx: &Ctx, a: RenewArgs) -> Result<()> {
    let base = RenewRequest {
        name: a.name.clone().unwrap_or_default(),
        pass: super::pass_options(&a.pass),
        validity: super::validity(a.validity.as_deref())?,
        clamp: a.clamp,
        reuse_key: a.reuse_key,
        revoke_old: a.revoke_old,
        ca: a.ca.clone(),
        force: a.force,
    };
    if let Some(w) = &a.expiring_within {
        let req = BulkRenewRequest {
            within: certsmith::validity::positive_length("--expiring-within", w)?,
            dry_run: a.dry_run,
            base,
        };
        return bulk(ctx, &renew_bulk::renew_expiring(&ctx.pki, &req)?);
    }
    if a.dry_run {
        return bulk(ctx, &renew_bulk::preview_one(&ctx.pki, &base)?);
    }
    let r = renew::renew(&ctx.pki, &base)?;
    let mut notes = vec![format!(
        "the old certificate (serial {}) is kept in the ledger as superseded; its files were kept as *.old-{}",
        r.old_serial, r.old_serial
    )];
    if let Some(from) = &r.moved_from {
        notes.push(format!(
            "moved from CA '{from}' to CA '{}': peers must trust '{}' (bundle it) before the device presents the new certificate",
            r.leaf.issuer, r.leaf.issuer
        ));
    }
    if r.reused_key {
        notes.push("the key was reused (--reuse-key)".into());
    }
    notes.push(UNTRACKED.into());
    if r.old_revoked {
        notes.push(format!(
            "the old certificate was revoked (reason superseded); publish it with: certsmith{} crl --ca {}",
            super::pki_flag(ctx),
            r.leaf.issuer
        ));
    }
    warn_stale(ctx, &r.leaf.name, &r.stale_exports);
    if ctx.json {
        let json = serde_json::to_value(&r).unwrap_or_default();
        ctx.report(super::Lines::new, &json);
    } else {
        super::issue::leaf_report(ctx, &r.leaf, &notes);
    }
    Ok(())
}

/// What a renewal cannot see: the exports written elsewhere.
const UNTRACKED: &str = "exports written with `export --out` outside the certificate's directory are not tracked: export those again too";

/// Warns, on stderr, about each export that still holds the old certificate.
fn warn_stale(ctx: &Ctx, name: &str, stale: &[std::path::PathBuf]) {
    let p = super::pki_flag(ctx);
    for f in stale {
        let file = f.file_name().unwrap_or_default().to_string_lossy();
        let format = if file.ends_with(".p12") {
            "p12 --p12-passphrase-file FILE"
        } else if file == "secret.yaml" {
            "k8s-secret"
        } else {
            "pem"
        };
        super::diagnostic(
            "warning: ",
            &format!(
                "{} still holds the old certificate; export it again: certsmith{p} export {name} --format {format} --force",
                f.display()
            ),
        );
    }
}

fn bulk(ctx: &Ctx, r: &BulkRenewed) -> Result<()> {
    for item in &r.renewed {
        if !r.dry_run {
            warn_stale(ctx, &item.name, &item.stale_exports);
        }
    }
    ctx.report(
        || {
            let mut s = super::Lines::new();
            let verb = if r.dry_run { "Would renew" } else { "Renewed" };
            if let (true, true, Some(before)) = (
                r.renewed.is_empty(),
                r.failed.is_empty(),
                &r.expiring_before,
            ) {
                s.line(format!(
                    "Nothing expires before {before}: nothing to renew."
                ));
            }
            for i in &r.renewed {
                let moved = if i.issuer != i.new_issuer {
                    format!(", moved from CA '{}' to '{}'", i.issuer, i.new_issuer)
                } else {
                    String::new()
                };
                let new = match (&i.serial, &i.not_after) {
                    (Some(serial), Some(na)) => format!(" → serial {serial}, notAfter {na}"),
                    _ => String::new(),
                };
                s.line(format!(
                    "{verb} '{}' (serial {}, notAfter {}){moved}{new}",
                    i.name, i.old_serial, i.old_not_after
                ));
            }
            if !r.dry_run && !r.renewed.is_empty() {
                s.line(format!("Note: {UNTRACKED}."));
            }
            if r.dry_run && !(r.renewed.is_empty() && r.failed.is_empty()) {
                s.line("Nothing was changed (--dry-run).");
            }
            s
        },
        &serde_json::to_value(r).unwrap_or_default(),
    );
    let Some(err) = r.error() else {
        return Ok(());
    };
    for f in &r.failed {
        super::diagnostic("certsmith: ", &format!("'{}': {}", f.name, f.error));
        if let Some(h) = &f.hint {
            super::diagnostic("hint: ", h);
        }
    }
    Err(err)
}
