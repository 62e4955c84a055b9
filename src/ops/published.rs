//! Which trust-store targets this PKI has bundled for: the ledger keeps
//! what each `bundle --target T` recorded under settings scope `bundle:T`.
//! Hints that say "now rebuild the bundle" name these targets, repeating
//! what each one's last bundle was asked for.

use crate::bundle::{CrlSupport, quoted};
use crate::error::Result;
use crate::pki::Pki;

/// The targets with a record in the ledger, in `--help` order; empty when
/// none has been recorded (or there is no ledger to ask).
pub fn bundle_targets(pki: &Pki) -> Result<Vec<&'static str>> {
    let Ok(ledger) = pki.read_ledger() else {
        return Ok(Vec::new());
    };
    let mut used = Vec::new();
    for t in crate::bundle::TARGETS {
        if !ledger.settings(&format!("bundle:{}", t.name()))?.is_empty() {
            used.push(t.name());
        }
    }
    Ok(used)
}

/// The `bundle` commands (without the leading `certsmith`) that publish
/// fresh CRLs to the targets in use: each repeats its last bundle's
/// `--out`, `--ca`, `--cert` and `--trust-store`, with `--with-crl`;
/// targets that read no CRL (aws-iot, aws-apigw) are left out. `None`
/// when no target was bundled yet.
pub fn crl_bundle_commands(pki: &Pki) -> Result<Option<Vec<String>>> {
    let used = bundle_targets(pki)?;
    if used.is_empty() {
        return Ok(None);
    }
    let ledger = pki.read_ledger()?;
    let mut out = Vec::new();
    for t in crate::bundle::TARGETS {
        if !used.contains(&t.name()) || t.crls() == CrlSupport::Unsupported {
            continue;
        }
        let last = crate::bundle::ca_set::last_run(&ledger, t.name())?;
        let mut c = format!("bundle --target {}", t.name());
        if let Some(o) = &last.out {
            c.push_str(&format!(" --out {}", quoted(o)));
        }
        for ca in &last.named_cas {
            c.push_str(&format!(" --ca {}", quoted(ca)));
        }
        if let Some(cert) = &last.cert {
            c.push_str(&format!(" --cert {}", quoted(cert)));
        }
        if let Some(s) = &last.trust_store {
            c.push_str(&format!(" --trust-store {}", quoted(s)));
        }
        c.push_str(" --with-crl");
        out.push(c);
    }
    Ok(Some(out))
}
