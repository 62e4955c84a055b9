//! Permission checks on a PKI directory and its private keys: a PKI
//! directory or key file open to group or others is refused before
//! certsmith reads a key from it or adds to it, unless the user says
//! `--allow-insecure-perms`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{Error, Result};
use crate::store::{DIR_MODE, KEY_MODE};

/// The permission bits of `path` (symlinks not followed), if it exists.
pub fn mode_of(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

/// Whether `mode` gives group or others any access.
pub fn open_to_others(mode: u32) -> bool {
    mode & 0o077 != 0
}

/// Refuses the PKI directory `root` when group or others may enter or list it.
pub fn check_pki_dir(root: &Path, allow_insecure: bool) -> Result<()> {
    check(root, "PKI directory", DIR_MODE, allow_insecure)
}

/// Refuses the private key file `path` when group or others may read it.
pub fn check_key_file(path: &Path, allow_insecure: bool) -> Result<()> {
    check(path, "private key", KEY_MODE, allow_insecure)
}

fn check(path: &Path, what: &str, want: u32, allow_insecure: bool) -> Result<()> {
    match mode_of(path) {
        Some(mode) if open_to_others(mode) && !allow_insecure => Err(Error::input(format!(
            "{what} '{}' is open to group or others (mode {mode:04o}, expected {want:04o})",
            path.display()
        ))
        .hint(format!(
            "run `chmod {want:o} {}` (or `certsmith doctor --repair`), or pass --allow-insecure-perms",
            path.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_readable_key_is_refused_unless_allowed() {
        let d = tempfile::tempdir().unwrap();
        let k = d.path().join("ca.key.pem");
        std::fs::write(&k, b"k").unwrap();
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = check_key_file(&k, false).unwrap_err();
        assert!(e.to_string().contains("mode 0640"), "{e}");
        assert!(check_key_file(&k, true).is_ok());
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(check_key_file(&k, false).is_ok());
    }
}
