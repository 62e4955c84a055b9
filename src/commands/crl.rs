//! `certsmith crl`: write the CRL of one CA, or of every CA.

use certsmith::ca::{self, Signer};
use certsmith::crl::{self, WrittenCrl};
use certsmith::error::{Error, Result};

use super::Ctx;
use crate::cli::CrlArgs;

pub fn run(ctx: &Ctx, a: CrlArgs) -> Result<()> {
    let next_update = crl::parse_next_update(&a.next_update)?;
    let mut ledger = ctx.pki.open_ledger()?;
    let names: Vec<String> = match &a.ca {
        Some(ca) => vec![ca.clone()],
        None => ledger.cas()?.into_iter().map(|c| c.cert.name).collect(),
    };
    let pass = super::pass_options(&a.pass);
    let mut written: Vec<WrittenCrl> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut failed: Vec<(String, Error)> = Vec::new();
    for n in &names {
        // One CA at a time, so a CA that cannot be read or cannot sign does
        // not keep the others' CRLs back.
        let publishes = ctx.pki.ca(&ledger, n).and_then(|(_, info)| {
            if ca::publishes_crl(&info) {
                Ok(true)
            } else if a.ca.is_some() {
                Err(Error::input(format!(
                    "CA '{n}' publishes no CRL (made with --no-crl; keyUsage lacks cRLSign)"
                ))
                .hint(
                    "revocations under it reach peers only by removing it from their trust stores",
                ))
            } else {
                Ok(false)
            }
        });
        let result = match publishes {
            Ok(false) => {
                skipped.push(n.clone());
                continue;
            }
            Ok(true) => Signer::load_for_crl(&ctx.pki, &ledger, n, &pass)
                .and_then(|s| crl::write(&ctx.pki, &mut ledger, &s, next_update, a.der)),
            Err(e) => Err(e),
        };
        match result {
            Ok(w) => written.push(w),
            // With --ca there is only this one: its own error is the answer.
            Err(e) if a.ca.is_some() => return Err(e),
            Err(e) => failed.push((n.clone(), e)),
        }
    }
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            let mut s = super::Lines::new();
            for w in &written {
                s.line(format!(
                    "Wrote CRL #{} of CA '{}' ({} revoked, next update {}).",
                    w.crl_number, w.ca, w.revoked, w.next_update
                ));
                s.append(super::file_lines(&w.files));
            }
            for n in &skipped {
                s.line(format!(
                    "Skipped CA '{n}': it publishes no CRL (made with --no-crl; keyUsage lacks cRLSign)."
                ));
            }
            if let Some(w) = written.first() {
                s.line(format!(
                    "Publish it before {}: certsmith{p} bundle --target nginx --with-crl",
                    w.next_update
                ));
            }
            s
        },
        &serde_json::json!({
            "crls": written,
            "skipped": skipped,
            "failed": failed.iter().map(|(n, e)| serde_json::json!({"ca": n, "error": e.to_string()})).collect::<Vec<_>>(),
        }),
    );
    if failed.is_empty() {
        return Ok(());
    }
    for (n, e) in &failed {
        super::report_error(&e.clone().context(format!("CA '{n}'")));
    }
    let names: Vec<&str> = failed.iter().map(|(n, _)| n.as_str()).collect();
    Err(Error::failed(format!(
        "{} of {} CRLs could not be written ({})",
        failed.len(),
        written.len() + failed.len(),
        names.join(", ")
    )))
}
