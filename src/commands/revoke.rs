//! `certsmith revoke`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::RevokeArgs;

pub fn run(_ctx: &Ctx, _a: RevokeArgs) -> Result<()> {
    super::not_built("revoke")
}
