//! certsmith binary: parse flags, run the command, print the error chain,
//! exit 0 / 1 / 2.

use std::process::ExitCode;

use clap::FromArgMatches;

mod cli;
mod commands;
mod help;

/// Parses `args` against the full command tree (examples included).
fn parse(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<cli::Cli, clap::Error> {
    help::command()
        .try_get_matches_from(args)
        .and_then(|m| cli::Cli::from_arg_matches(&m))
}

fn main() -> ExitCode {
    let cli = match parse(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // clap quotes the offending argument in its message: render the
            // same error from the arguments with their control characters
            // escaped, so a newline in a value cannot start a line of its own.
            let shown = std::env::args_os()
                .map(|a| certsmith::error::escape_controls(&a.to_string_lossy()));
            let e = match parse(shown.map(std::ffi::OsString::from)) {
                Err(again) if again.kind() == e.kind() => again,
                _ => e,
            };
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text).to_string();
            // `--json` anywhere before a `--`: the script gets the error as JSON too.
            let json = std::env::args_os()
                .skip(1)
                .take_while(|a| a != "--")
                .any(|a| a == "--json");
            let e = certsmith::Error::Usage { text };
            commands::report_error(&e, json.then_some(serde_json::Value::Null));
            return ExitCode::from(e.exit_code());
        }
    };
    ExitCode::from(commands::run(cli))
}
