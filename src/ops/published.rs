//! Which trust-store targets this PKI has bundled for: the ledger keeps
//! what each `bundle --target T` recorded under settings scope `bundle:T`.
//! Hints that say "now rebuild the bundle" name these targets.

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
