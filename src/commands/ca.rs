//! `certsmith ca …`: change a CA's settings; each subcommand in its own file.

use certsmith::error::Result;

use super::Ctx;
use crate::cli::CaCommand;

pub fn run(ctx: &Ctx, cmd: CaCommand) -> Result<()> {
    match cmd {
        CaCommand::SetUrls(a) => super::ca_urls::run(ctx, a),
        CaCommand::SetCrl(a) => super::ca_crl::run(ctx, a),
        CaCommand::Default(a) => super::ca_default::run(ctx, a),
        CaCommand::Retire(a) => super::ca_retire::run(ctx, a),
        CaCommand::Renew(a) => super::ca_rotate::renew(ctx, a),
        CaCommand::CrossSign(a) => super::ca_rotate::cross_sign(ctx, a),
    }
}
