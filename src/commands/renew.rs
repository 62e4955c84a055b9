//! `certsmith renew`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::RenewArgs;

pub fn run(_ctx: &Ctx, _a: RenewArgs) -> Result<()> {
    super::not_built("renew")
}
