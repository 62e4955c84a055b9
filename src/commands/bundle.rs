//! `certsmith bundle --target T`: package the CA bundle (and CRLs) for a
//! trust store, check its rules, and print the next commands.

use certsmith::bundle::{self, BundleResult, Options};
use certsmith::error::Result;

use super::Ctx;
use crate::cli::BundleArgs;

pub fn run(ctx: &Ctx, a: BundleArgs) -> Result<()> {
    let opts = Options {
        cas: a.ca.clone(),
        with_crl: a.with_crl,
        out: a.out.clone(),
        registration_code: a.registration_code.clone(),
        cert: a.cert.clone(),
        pass: super::pass_options(&a.pass),
        force: a.force,
        trust_store: a.trust_store.clone(),
        accept_ca_change: a.accept_ca_change,
        allow_auto_registration: a.allow_auto_registration,
    };
    if !a.uploaded.is_empty() || !a.removed.is_empty() {
        let done = bundle::confirm_uploads(&ctx.pki, &a.target, &opts, &a.uploaded, &a.removed)?;
        confirmed(ctx, &done);
        return Ok(());
    }
    let result = bundle::bundle(&ctx.pki, &a.target, &opts)?;
    report(ctx, &result);
    Ok(())
}

/// The human lines of a written bundle (shared with `bootstrap`).
pub fn human(r: &BundleResult) -> super::Lines {
    let mut s = super::Lines::new();
    s.line(format!(
        "Wrote the {} bundle ({} CA certificate(s)) to {}:",
        r.target,
        r.certs.len(),
        r.dir.display()
    ));
    s.append(super::file_lines(&r.files));
    for w in &r.warnings {
        s.line(format!("warning: {w}"));
    }
    s.line("Next:");
    for n in &r.next {
        s.line(format!("  {n}"));
    }
    s
}

fn report(ctx: &Ctx, r: &BundleResult) {
    for n in &r.notes {
        super::diagnostic("note: ", n);
    }
    // Warnings also go to stderr, so scripts that read --json still see them.
    if ctx.json || ctx.quiet {
        for w in &r.warnings {
            super::diagnostic("warning: ", &w.to_string());
        }
    }
    ctx.report(|| human(r), &serde_json::to_value(r).unwrap_or_default());
}

fn confirmed(ctx: &Ctx, done: &[certsmith::bundle::crl_uploads::Confirmed]) {
    ctx.report(
        || {
            let mut s = super::Lines::new();
            for c in done {
                let old = c.replaced.as_ref().and_then(|r| r.revocation_id);
                match &c.recorded {
                    Some(r) => {
                        s.line(format!(
                            "Recorded RevocationId {} for the CRL{} of CA '{}'.",
                            r.revocation_id.unwrap_or_default(),
                            r.crl_number
                                .as_ref()
                                .map(|n| format!(" #{n}"))
                                .unwrap_or_default(),
                            c.ca
                        ));
                        if let Some(old) = old.filter(|o| Some(*o) != r.revocation_id) {
                            s.line(format!(
                                "  It replaces RevocationId {old}: remove that list unless done: aws elbv2 remove-trust-store-revocations --trust-store-arn TRUST_STORE_ARN --revocation-ids {old}"
                            ));
                        }
                    }
                    None => {
                        s.line(format!(
                            "Cleared the record of CA '{}' (RevocationId {}).",
                            c.ca,
                            old.map_or_else(|| "unknown".to_string(), |o| o.to_string())
                        ));
                    }
                }
            }
            s
        },
        &serde_json::json!({ "confirmed": done }),
    );
}
