//! `certsmith key`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::KeyCommand;

pub fn run(_ctx: &Ctx, _a: KeyCommand) -> Result<()> {
    super::not_built("key")
}
