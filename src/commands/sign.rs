//! `certsmith sign <csr>`: a certificate for a CSR; the key stays on the device.

use certsmith::error::Result;
use certsmith::input::{self, Kind};
use certsmith::leaf::WriteOptions;
use certsmith::ops::sign::{SignRequest, sign_csr};

use super::Ctx;
use crate::cli::SignArgs;

pub fn run(ctx: &Ctx, a: SignArgs) -> Result<()> {
    let l = &a.leaf;
    let req = SignRequest {
        name: a.name.clone(),
        profile: l.profile.clone(),
        subject: super::subject(l.subject.as_deref(), l.cn.as_deref())?,
        sans: super::sans(&l.san)?,
        validity: super::validity(l.validity.as_deref())?,
        clamp: l.clamp,
        ca: l.ca.clone(),
        pass: super::pass_options(&l.pass),
        write: WriteOptions {
            out: l.out.clone(),
            force: l.force,
        },
        csr_label: a.csr.display().to_string(),
        csr: input::read(&a.csr, Kind::Csr)?,
    };
    let report = sign_csr(&ctx.pki, req)?;
    super::issue::leaf_report(ctx, &report.issued, &report.notes);
    Ok(())
}
