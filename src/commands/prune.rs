//! `certsmith prune --older-than 30d [--yes]`: list (or, with `--yes`,
//! remove) the `*.old-<serial>` files kept aside by renewals.

use certsmith::error::Result;
use certsmith::ops::prune::{PruneRequest, prune};

use super::Ctx;

pub fn run(ctx: &Ctx, a: crate::cli::PruneArgs) -> Result<()> {
    let req = PruneRequest {
        older_than: certsmith::validity::positive_length("--older-than", &a.older_than)?,
        remove: ctx.yes,
    };
    let r = prune(&ctx.pki, &req)?;
    let p = super::pki_flag(ctx);
    ctx.report(
        || {
            let mut s = super::Lines::new();
            let verb = if r.removed { "Removed" } else { "Would remove" };
            for f in &r.files {
                s.line(format!(
                    "{verb} {} (aside since {})",
                    f.path.display(),
                    f.aside_since
                ));
            }
            s.line(format!(
                "{} file(s) kept aside since before {}; {} younger kept.",
                r.files.len(),
                r.aside_before,
                r.kept
            ));
            for u in &r.unknown {
                s.line(format!(
                    "Left alone {}: not a backup of a superseded certificate certsmith made (remove it yourself if it is not needed)",
                    u.display()
                ));
            }
            if !r.removed && !r.files.is_empty() {
                s.line(format!(
                    "Nothing was removed: run certsmith{p} prune --older-than {} --yes to remove them.",
                    a.older_than
                ));
            }
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}
