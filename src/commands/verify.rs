//! `certsmith verify`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::VerifyArgs;

pub fn run(_ctx: &Ctx, _a: VerifyArgs) -> Result<()> {
    super::not_built("verify")
}
