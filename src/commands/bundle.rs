//! `certsmith bundle`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::BundleArgs;

pub fn run(_ctx: &Ctx, _a: BundleArgs) -> Result<()> {
    super::not_built("bundle")
}
