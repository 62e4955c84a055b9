//! `certsmith crl`: write the CRL of one CA, or of every CA.

use certsmith::ca::Signer;
use certsmith::crl;
use certsmith::error::Result;

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
    // Load every key first so a wrong passphrase writes no CRL at all.
    let signers = names
        .iter()
        .map(|n| Signer::load_for_crl(&ctx.pki, &ledger, n, &pass))
        .collect::<Result<Vec<_>>>()?;
    let mut written = Vec::new();
    for s in &signers {
        written.push(crl::write(&ctx.pki, &mut ledger, s, next_update, a.der)?);
    }
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            let mut s = String::new();
            for w in &written {
                s.push_str(&format!(
                    "Wrote CRL #{} of CA '{}' ({} revoked, next update {}).\n",
                    w.crl_number, w.ca, w.revoked, w.next_update
                ));
                s.push_str(&super::file_lines(&w.files));
            }
            s.push_str(&format!(
                "Publish it before {}: certsmith{p} bundle --target nginx --with-crl\n",
                written
                    .first()
                    .map(|w| w.next_update.as_str())
                    .unwrap_or("")
            ));
            s
        },
        &serde_json::json!({ "crls": written }),
    );
    Ok(())
}
