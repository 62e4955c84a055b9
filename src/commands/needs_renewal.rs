//! `certsmith needs-renewal <name|cert.pem> [--within 30d]`: exit 0 when
//! the certificate needs renewal, 1 when not, 2 on bad input.

use certsmith::clock;
use certsmith::error::Result;
use certsmith::ops::expiry;

use super::Ctx;
use crate::cli::NeedsRenewalArgs;

pub fn run(ctx: &Ctx, a: NeedsRenewalArgs) -> Result<()> {
    let within = a
        .within
        .as_deref()
        .map(|w| expiry::length("--within", w).map(|d| (d, w)))
        .transpose()?;
    let now = clock::now()?;
    let r = expiry::needs_renewal(&ctx.pki, &a.cert, within, now)?;
    let what = r.name.clone().unwrap_or_else(|| a.cert.clone());
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(if r.revoked {
                format!("'{what}' does not need renewal: it is revoked.")
            } else if r.expired {
                format!("'{what}' needs renewal: it expired on {}.", r.not_after)
            } else if r.needs_renewal {
                format!(
                    "'{what}' needs renewal: it expires on {} (renewal from {}).",
                    r.not_after, r.renew_after
                )
            } else {
                format!(
                    "'{what}' does not need renewal yet: it expires on {} (renewal from {}).",
                    r.not_after, r.renew_after
                )
            });
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    if !r.needs_renewal {
        ctx.answer.set(1);
    }
    Ok(())
}
