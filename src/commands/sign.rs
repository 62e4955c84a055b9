//! `certsmith sign <csr>`: a certificate for a CSR; the key stays on the device.

use certsmith::ca::Signer;
use certsmith::error::{Error, Result};
use certsmith::leaf;
use certsmith::pki::validate_name;
use certsmith::{clock, csr, store};

use super::Ctx;
use crate::cli::SignArgs;

pub fn run(ctx: &Ctx, a: SignArgs) -> Result<()> {
    let pki = &ctx.pki;
    let mut ledger = pki.open_ledger()?;
    let what = a.csr.display().to_string();
    let csr = csr::parse(&store::read(&a.csr)?, &what)?;
    let name = match a.name.clone().or_else(|| {
        csr.subject
            .as_ref()
            .and_then(|s| s.common_name().map(str::to_string))
    }) {
        Some(n) => n,
        None => {
            return Err(Error::input(format!(
                "CSR '{what}' has no CN to name the certificate after"
            ))
            .hint("pass --name NAME"));
        }
    };
    validate_name("certificate", &name)
        .map_err(|e| e.hint("pass --name NAME with letters, digits and . _ - @ +"))?;
    let (mut req, opts) = super::issue::leaf_request(ctx, &name, &a.leaf, csr.subject.clone())?;
    let mut notes: Vec<String> = csr
        .ignored
        .iter()
        .map(|x| format!("ignored {x} from the CSR; the profile decides"))
        .chain(csr.notes.iter().cloned())
        .collect();
    if a.leaf.san.is_empty() {
        // The CSR's SANs, only as far as the profile allows.
        for s in &csr.sans {
            if req.profile.san_allowed.iter().any(|k| k == s.kind()) {
                req.sans.push(s.clone());
            } else {
                notes.push(format!(
                    "dropped SAN '{s}' from the CSR: profile '{}' does not allow it",
                    req.profile.name
                ));
            }
        }
    }
    // A `pending` name belongs to a running or interrupted command: never re-issue over it.
    leaf::check_name(&ledger, &name, opts.force)?;
    let ca = super::issuing_ca(&ledger, a.leaf.ca.as_deref())?;
    let signer = Signer::load(pki, &ledger, &ca, &super::pass_options(&a.leaf.pass))?;
    req.check(&signer)?;
    let now = clock::now()?;
    let signed = req.sign(&signer, &csr.public_key, csr.key_type, now)?;
    let issued = leaf::write(
        pki,
        &mut ledger,
        &signer,
        &req,
        &signed,
        None,
        csr.key_type,
        &opts,
        now,
    )?;
    super::issue::leaf_report(ctx, &issued, &notes);
    Ok(())
}
