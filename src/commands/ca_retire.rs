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
            match r.default_ca.as_deref() {
                Some(to) => s.line(format!(
                    "Next: certsmith{p} renew --expiring-within 30d (moves its certificates to '{to}' as they come due)"
                )),
                None => s.line(format!(
                    "Next: certsmith{p} renew --expiring-within 30d --ca NEW (moves certificates as they come due)"
                )),
            };
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}
