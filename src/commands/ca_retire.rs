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
            if !r.live_cas.is_empty() {
                let cas: Vec<String> = r.live_cas.iter().map(|c| format!("'{c}'")).collect();
                s.line(format!(
                    "It signed CAs still in use ({}): they keep issuing, but a retired CA re-issues none of their certificates (`ca renew`).",
                    cas.join(", ")
                ));
                s.line(format!(
                    "Next: before they near their end, make their successors under a CA that is not retired (certsmith{p} intermediate NEW --issuer ROOT) and move issuance there (certsmith{p} ca default NEW)"
                ));
                if r.live_leaves == 0 {
                    return s;
                }
            }
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
