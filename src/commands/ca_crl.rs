//! `certsmith ca set-crl <ca> [--next-update 30d] [--prune-after 30d]`:
//! store a CA's CRL lengths once.

use certsmith::crl::parse_length;
use certsmith::error::Result;
use certsmith::ops::ca_crl::{SetCrlRequest, set_crl};

use super::Ctx;
use crate::cli::SetCrlArgs;

pub fn run(ctx: &Ctx, a: SetCrlArgs) -> Result<()> {
    let req = SetCrlRequest {
        ca: a.ca.clone(),
        next_update: a
            .next_update
            .as_deref()
            .map(|s| parse_length("--next-update", s))
            .transpose()?,
        prune_after: a
            .prune_after
            .as_deref()
            .map(|s| parse_length("--prune-after", s))
            .transpose()?,
    };
    let r = set_crl(&ctx.pki, &req)?;
    let p = super::pki_flag(ctx);
    let default = |d: bool| if d { " (default)" } else { "" };
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!(
                "CRLs of CA '{}': nextUpdate {}{}, expired certificates listed until {}{} after their notAfter.",
                r.ca,
                r.next_update_words,
                default(r.next_update_is_default),
                r.prune_after_words,
                default(r.prune_after_is_default)
            ));
            s.line(format!(
                "Next: certsmith{p} crl --ca {} (a `crl --next-update` still overrides one run)",
                r.ca
            ));
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}
