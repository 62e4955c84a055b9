//! `certsmith completions <shell>`: print a shell completion script.

use clap::CommandFactory;

use certsmith::error::Result;

use crate::cli::{Cli, CompletionsArgs};

pub fn run(a: CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "certsmith", &mut std::io::stdout());
    Ok(())
}
