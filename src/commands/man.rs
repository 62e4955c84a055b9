//! `certsmith man [--dir DIR]`: the man pages, rendered by clap_mangen
//! from the same command tree as `--help`, so the binary alone carries them.

use certsmith::error::{Error, Result};

use crate::cli::ManArgs;

pub fn run(a: ManArgs) -> Result<()> {
    let cmd = crate::help::command();
    let Some(dir) = a.dir else {
        // certsmith(1) alone, for `certsmith man | man -l -`.
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut buf)
            .map_err(|e| Error::failed(format!("cannot render the man page: {e}")))?;
        super::write_stdout(&String::from_utf8_lossy(&buf));
        return Ok(());
    };
    let shown = certsmith::error::shown(&dir.display().to_string());
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::input(format!("cannot create '{shown}': {e}")))?;
    clap_mangen::generate_to(cmd, &dir)
        .map_err(|e| Error::failed(format!("cannot write the man pages to '{shown}': {e}")))?;
    Ok(())
}
