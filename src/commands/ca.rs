//! `certsmith ca …`: settings of one CA.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::CaCommand;

pub fn run(ctx: &Ctx, cmd: CaCommand) -> Result<()> {
    match cmd {
        CaCommand::SetUrls(a) => super::ca_urls::run(ctx, a),
    }
}
