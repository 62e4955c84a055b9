//! `certsmith ca retire <ca>`: stop a CA issuing.

use certsmith::error::Result;
use certsmith::ops::ca_retire::retire;

use super::Ctx;
use crate::cli::CaRetireArgs;

pub fn run(ctx: &Ctx, a: CaRetireArgs) -> Result<()> {
    let r = retire(&ctx.pki, &a.ca)?;
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!(
                "CA '{}' is retired (since {}): it issues nothing more.",
                r.ca, r.retired_at
            ));
            match &r.last_expiry {
                Some(t) => s.line(format!(
                    "Bundles keep it until its last certificate expires ({t}), then leave it out."
                )),
                None => s.line("It issued no certificate still in use: bundles leave it out."),
            };
            let to = r.default_ca.as_deref().unwrap_or("NEW");
            s.line(format!(
                "Next: certsmith{p} renew --expiring-within 30d --ca {to} (moves its certificates as they come due)"
            ));
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}
