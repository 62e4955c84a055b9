//! `certsmith sign <csr>`: a certificate for a CSR; the key stays on the device.

use certsmith::error::Result;
use certsmith::input::{self, Kind};
use certsmith::ops::sign::{SignRequest, sign_csr};

use super::Ctx;
use crate::cli::SignArgs;

pub fn run(ctx: &Ctx, a: SignArgs) -> Result<()> {
    let req = SignRequest {
        name: a.name.clone(),
        leaf: super::leaf_options(&a.leaf)?,
        csr_label: a.csr.display().to_string(),
        csr: input::read(&a.csr, Kind::Csr)?,
    };
    let report = sign_csr(&ctx.pki, req)?;
    super::issue::leaf_report(ctx, &report.issued, &report.notes);
    Ok(())
}
