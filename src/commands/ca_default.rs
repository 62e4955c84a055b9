//! `certsmith ca default [<ca>]`: set or show the default issuing CA.

use certsmith::error::Result;
use certsmith::ops::ca_default::set_default;

use super::Ctx;
use crate::cli::CaDefaultArgs;

pub fn run(ctx: &Ctx, a: CaDefaultArgs) -> Result<()> {
    let r = set_default(&ctx.pki, a.ca.as_deref(), a.yes)?;
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            let mut s = super::Lines::new();
            match (&r.default_ca, a.ca.is_some()) {
                (Some(d), true) => {
                    s.line(format!(
                        "The default issuing CA is now '{d}'{}: issue, sign and batch use it without --ca.",
                        match &r.previous {
                            Some(old) if old != d => format!(" (was '{old}')"),
                            _ => String::new(),
                        }
                    ));
                    if let Some(t) = &r.key_exported_for {
                        s.line(format!(
                            "Its key was exported for '{t}': leave the certificates of other CAs where they are (do not renew them onto it)."
                        ));
                    } else if let Some(old) = r.previous.as_ref().filter(|o| *o != d) {
                        s.line(format!(
                            "Next: certsmith{p} ca retire {old}, then certsmith{p} renew --expiring-within 30d (moves its certificates to '{d}')"
                        ));
                    }
                }
                (Some(d), false) => {
                    s.line(format!("The default issuing CA is '{d}'."));
                }
                (None, _) => {
                    s.line(format!(
                        "No default issuing CA is set: set one with certsmith{p} ca default NAME"
                    ));
                }
            }
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}
