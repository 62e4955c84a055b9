//! `certsmith batch`.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::BatchArgs;

pub fn run(_ctx: &Ctx, _a: BatchArgs) -> Result<()> {
    super::not_built("batch")
}
