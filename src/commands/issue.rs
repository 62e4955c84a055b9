//! `certsmith issue <name>`: new key + certificate from a profile.

use certsmith::error::Result;
use certsmith::leaf::IssuedLeaf;
use certsmith::ops::issue::IssueRequest;

use super::Ctx;
use crate::cli::IssueArgs;

pub fn run(ctx: &Ctx, a: IssueArgs) -> Result<()> {
    let req = IssueRequest {
        name: a.name.clone(),
        key: super::key_type(a.key.as_deref())?,
        leaf: super::leaf_options(&a.leaf)?,
        no_sync: a.no_sync,
    };
    let issued = certsmith::ops::issue::issue(&ctx.pki, req)?;
    leaf_report(ctx, &issued, &[]);
    Ok(())
}

/// Human / JSON report of a new leaf.
pub fn leaf_report(ctx: &Ctx, l: &IssuedLeaf, notes: &[String]) {
    let mut json = serde_json::to_value(l).unwrap_or_default();
    if !notes.is_empty() {
        json["notes"] = serde_json::json!(notes);
    }
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!(
                "Issued '{}' ({}, profile {}, {}) from CA '{}', serial {}, valid until {}.",
                l.name, l.subject, l.profile, l.key_type, l.issuer, l.serial, l.not_after
            ));
            if l.clamped {
                s.line("note: the validity was shortened to the issuer's notAfter (--clamp)");
            }
            for n in notes {
                s.line(format!("note: {n}"));
            }
            s.append(super::file_lines(&l.files));
            let cert = l
                .files
                .iter()
                .find(|f| f.ends_with(certsmith::layout::CERT))
                .map(|f| f.display().to_string())
                .unwrap_or_default();
            s.line(format!(
                "Next: certsmith{} inspect {cert}",
                super::pki_flag(ctx)
            ));
            s
        },
        &json,
    );
}
