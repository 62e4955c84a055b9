//! `certsmith intermediate <name>`: create a CA signed by another CA of this PKI.

use certsmith::error::Result;
use certsmith::ledger::Kind;
use certsmith::ops::intermediate::IntermediateRequest;
use certsmith::passphrase::PassOptions;

use super::Ctx;
use crate::cli::IntermediateArgs;

pub fn run(ctx: &Ctx, a: IntermediateArgs) -> Result<()> {
    if let Some(req) = super::init::adopt_request(&a.name, Kind::Intermediate, &a.ca)? {
        let adopted = certsmith::ops::adopt::adopt(&ctx.pki, &req)?;
        super::init::import_report(ctx, &adopted, None);
        return Ok(());
    }
    let req = IntermediateRequest {
        new: super::init::new_ca_request(&a.name, &a.ca)?,
        issuer: a.issuer.clone(),
        issuer_pass: PassOptions {
            file: a
                .issuer_passphrase_file
                .clone()
                .or(a.ca.pass.passphrase_file.clone()),
            pin_file: a.ca.pass.pin_file.clone(),
            ..Default::default()
        },
    };
    let created = certsmith::ops::intermediate::intermediate(&ctx.pki, &req)?;
    super::ca_report(
        ctx,
        &created,
        &format!(
            "certsmith{} issue device-001 --ca {}",
            super::pki_flag(ctx),
            a.name
        ),
    );
    Ok(())
}
