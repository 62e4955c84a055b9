//! `certsmith doctor`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::DoctorArgs;

pub fn run(_ctx: &Ctx, _a: DoctorArgs) -> Result<()> {
    super::not_built("doctor")
}
