//! `certsmith export`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::ExportArgs;

pub fn run(_ctx: &Ctx, _a: ExportArgs) -> Result<()> {
    super::not_built("export")
}
