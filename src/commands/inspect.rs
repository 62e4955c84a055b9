//! `certsmith inspect <file>`: a readable or `--json` view of a PKI file.

use certsmith::error::Result;
use certsmith::input::{self, Kind};
use certsmith::inspect;

use super::Ctx;
use crate::cli::InspectArgs;

pub fn run(ctx: &Ctx, a: InspectArgs) -> Result<()> {
    let bytes = input::read(&a.file, Kind::Inspected)?;
    let d = inspect::describe(&bytes, &a.file.display().to_string())?;
    ctx.report(|| d.lines.clone().into(), &d.json);
    Ok(())
}
