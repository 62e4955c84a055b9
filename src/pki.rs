//! The layout of a PKI directory and the loading of its CAs.

use std::path::{Path, PathBuf};

use crate::certinfo::CertInfo;
use crate::error::{Error, Result};
use crate::ledger::{CaRecord, Ledger};

/// A PKI directory.
#[derive(Clone, Debug)]
pub struct Pki {
    pub root: PathBuf,
    /// `--allow-insecure-perms`: accept a PKI directory or CA key open to group or others.
    pub allow_insecure_perms: bool,
}

/// Checks a CA or certificate name: it becomes a directory name.
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::input(format!("{what} name '{}' is not valid", crate::error::shown(name)))
            .hint("names use letters, digits and . _ - @ +, up to 128 characters, and do not start with '.' or '-'"))
    }
}

impl Pki {
    pub fn at(root: impl Into<PathBuf>) -> Pki {
        Pki {
            root: root.into(),
            allow_insecure_perms: false,
        }
    }

    /// The same PKI, accepting (or not) loose permissions.
    pub fn allowing_insecure_perms(mut self, allow: bool) -> Pki {
        self.allow_insecure_perms = allow;
        self
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.root.join("ledger.db")
    }

    /// Opens the ledger of an existing PKI directory.
    pub fn open_ledger(&self) -> Result<Ledger> {
        if !self.root.is_dir() {
            return Err(Error::input(format!("no PKI directory at '{}'", self.root.display()))
                .hint("run `certsmith init` first, or point --pki / $CERTSMITH_PKI at your PKI directory"));
        }
        crate::perms::check_pki_dir(&self.root, self.allow_insecure_perms)?;
        Ledger::open(&self.ledger_path())
    }

    pub fn ca_dir(&self, name: &str) -> PathBuf {
        self.root.join("cas").join(name)
    }
    pub fn ca_cert_path(&self, name: &str) -> PathBuf {
        self.ca_dir(name).join("ca.pem")
    }
    pub fn ca_key_path(&self, name: &str) -> PathBuf {
        self.ca_dir(name).join("ca.key.pem")
    }
    pub fn crl_path(&self, name: &str) -> PathBuf {
        self.ca_dir(name).join("crl.pem")
    }
    pub fn cert_dir(&self, name: &str) -> PathBuf {
        self.root.join("certs").join(name)
    }

    /// A path as stored in the ledger: relative to the PKI directory when inside it.
    pub fn ledger_dir(&self, dir: &Path) -> String {
        dir.strip_prefix(&self.root)
            .unwrap_or(dir)
            .display()
            .to_string()
    }

    /// Resolves a ledger-stored directory back to a path.
    pub fn resolve_dir(&self, stored: &str) -> PathBuf {
        let p = Path::new(stored);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// The ledger record and parsed certificate of CA `name`.
    pub fn ca(&self, ledger: &Ledger, name: &str) -> Result<(CaRecord, CertInfo)> {
        let rec = ledger.ca(name)?.ok_or_else(|| {
            let known: Vec<String> = ledger
                .cas()
                .map(|v| v.into_iter().map(|c| c.cert.name).collect())
                .unwrap_or_default();
            match ledger.cert_by_name(name) {
                Ok(Some(_)) => {
                    Error::input(format!("'{name}' is not a CA (basicConstraints CA:FALSE)"))
                        .hint("name a CA of this PKI with --ca / --issuer")
                }
                _ => Error::input(format!("no CA named '{name}' in '{}'", self.root.display()))
                    .hint(if known.is_empty() {
                        "run `certsmith init` first".to_string()
                    } else {
                        format!("known CAs: {}", known.join(", "))
                    }),
            }
        })?;
        let path = self.ca_cert_path(name);
        let text = crate::input::read_to_string(&path, crate::input::Kind::Certificates)?;
        let mut certs = crate::certinfo::parse_pem_certs(&text, &path.display().to_string())?;
        let info = certs.remove(0);
        if info.fingerprint != rec.cert.fingerprint {
            return Err(Error::failed(format!(
                "'{}' does not match the ledger (fingerprint {} expected)",
                path.display(),
                rec.cert.fingerprint
            ))
            .hint("run `certsmith doctor`"));
        }
        Ok((rec, info))
    }

    /// The chain of CA `name` upward: itself first, its root (or the top
    /// CA known to this PKI) last.
    pub fn ca_chain(&self, ledger: &Ledger, name: &str) -> Result<Vec<(CaRecord, CertInfo)>> {
        let mut chain = Vec::new();
        let mut cur = name.to_string();
        loop {
            let (rec, info) = self.ca(ledger, &cur)?;
            let parent = rec.cert.issuer.clone();
            chain.push((rec, info));
            match parent {
                Some(p) if p != cur && chain.len() < 16 => cur = p,
                _ => break,
            }
        }
        Ok(chain)
    }
}
