//! Writes certsmith's man pages (clap_mangen) from the same clap types the
//! binary uses: `cargo run --example man -- DIR` (the `just man` recipe).
//! An example rather than a subcommand, so the shipped binary stays exactly
//! the commands of the spec and needs no build script.

#[allow(dead_code)]
#[path = "../src/cli.rs"]
mod cli;

use clap::CommandFactory;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target/man".into());
    std::fs::create_dir_all(&dir)?;
    // One page for certsmith(1) and one per subcommand (certsmith-init(1), …).
    clap_mangen::generate_to(cli::Cli::command(), &dir)?;
    println!("man pages written to {}", dir.display());
    Ok(())
}
