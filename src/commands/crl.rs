//! `certsmith crl`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::CrlArgs;

pub fn run(_ctx: &Ctx, _a: CrlArgs) -> Result<()> {
    super::not_built("crl")
}
