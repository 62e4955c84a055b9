//! `certsmith completions <shell>`: print a shell completion script.

use certsmith::error::Result;

use crate::cli::CompletionsArgs;

pub fn run(a: CompletionsArgs) -> Result<()> {
    let mut cmd = crate::help::command();
    // Rendered in memory first: clap_complete panics on a closed pipe.
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "certsmith", &mut buf);
    super::write_stdout(&String::from_utf8_lossy(&buf));
    Ok(())
}
