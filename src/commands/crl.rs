//! `certsmith crl`: write the CRL of one CA, or of every CA.

use certsmith::crl;
use certsmith::error::Result;
use certsmith::ops::crl::CrlRequest;

use super::Ctx;
use crate::cli::CrlArgs;

pub fn run(ctx: &Ctx, a: CrlArgs) -> Result<()> {
    let next_update = a
        .next_update
        .as_deref()
        .map(crl::parse_next_update)
        .transpose()?;
    let req = CrlRequest {
        ca: a.ca.clone(),
        next_update,
        der: a.der,
        pass: certsmith::passphrase::PassOptions {
            pin_file: a.pin_file.clone(),
            ..Default::default()
        },
        files: certsmith::passphrase::PerCaFiles::parse(&a.passphrase_file)?,
    };
    let report = certsmith::ops::crl::crl(&ctx.pki, &req)?;
    let (written, skipped, failed) = (&report.written, &report.skipped, &report.failed);
    for n in &report.offline {
        super::diagnostic(
            "note: ",
            &format!(
                "CA '{n}' is offline; its CRL is not renewed (`certsmith key online {n}` when its key is back)"
            ),
        );
    }
    for (n, at) in &report.expired {
        super::diagnostic(
            "note: ",
            &format!(
                "CA '{n}' expired on {at}; it gets no CRL any more (retire it: bundle without it)"
            ),
        );
    }
    let p = super::pki_flag(ctx);
    // A hint must not fail a command whose CRLs are written: no record, no names.
    let commands = certsmith::ops::published::crl_bundle_commands(&ctx.pki)
        .ok()
        .flatten()
        .unwrap_or_else(|| vec!["bundle --target generic --with-crl".to_string()]);
    // The bundles to rebuild with the new CRLs: those of the targets in use,
    // each as its last bundle was made.
    let next: Vec<String> = match report.earliest_next_update() {
        Some(_) => commands
            .iter()
            .map(|c| format!("certsmith{p} {c}"))
            .collect(),
        None => Vec::new(),
    };
    ctx.report(
        || {
            let mut s = super::Lines::new();
            for w in written {
                let pruned = if w.pruned > 0 {
                    format!(", {} expired past the grace period left off", w.pruned)
                } else {
                    String::new()
                };
                s.line(format!(
                    "Wrote CRL #{} of CA '{}' ({} revoked{pruned}, next update {}{}).",
                    w.crl_number,
                    w.ca,
                    w.revoked,
                    w.next_update,
                    if w.clamped {
                        ", shortened to the CA's notAfter"
                    } else {
                        ""
                    }
                ));
                s.append(super::file_lines(&w.files));
            }
            for n in skipped {
                s.line(format!(
                    "Skipped CA '{n}': it publishes no CRL (made with --no-crl; keyUsage lacks cRLSign)."
                ));
            }
            if let Some(until) = report.earliest_next_update() {
                s.line(format!("Publish it before {until}:"));
                for n in &next {
                    s.line(format!("  {n}"));
                }
            }
            s
        },
        &serde_json::json!({
            "crls": written,
            "skipped": skipped,
            "next": next,
            "offline": report.offline,
            "expired": report.expired.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "failed": failed.iter().map(|(n, e)| serde_json::json!({"ca": n, "error": certsmith::json::error(e)})).collect::<Vec<_>>(),
        }),
    );
    let Some(err) = report.error() else {
        return Ok(());
    };
    for (n, e) in failed {
        super::report_error(&e.clone().context(format!("CA '{n}'")), None);
    }
    Err(err)
}
