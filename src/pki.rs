//! The layout of a PKI directory and the loading of its CAs.

use std::path::{Path, PathBuf};

use crate::certinfo::CertInfo;
use crate::error::{Error, Result};
use crate::ledger::{CaRecord, Ledger};

/// A PKI directory.
#[derive(Clone, Debug)]
pub struct Pki {
    pub root: PathBuf,
    /// `--ledger` / `$CERTSMITH_LEDGER`; `None`: `sqlite:<root>/ledger.db`.
    pub ledger: Option<crate::ledger::LedgerUrl>,
    /// `--allow-insecure-perms`: accept a PKI directory or CA key open to group or others.
    pub allow_insecure_perms: bool,
    /// Set when a command opened the ledger to write: once it succeeded,
    /// [`Pki::materialise_after_write`] writes missing CA certificate files.
    pub(crate) wrote: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// What an `--out` names, for [`Pki::check_out`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out<'a> {
    /// The directory of certificate `name`'s files (`issue`, `sign`).
    CertDir(&'a str),
    /// A directory of several outputs (`batch`, `bundle`).
    Dir,
    /// One file written for certificate `name` (`export`).
    File(&'a str),
}

/// `--out` as given, made absolute against the working directory: the one
/// spelling of it that is checked, written to and stored in the ledger (a
/// relative path stored would later be read relative to the PKI directory).
pub fn absolute_out(out: &Path) -> Result<PathBuf> {
    std::path::absolute(out).map_err(|e| {
        Error::input(format!(
            "--out '{}' is not a usable path: {e}",
            crate::error::shown(&out.display().to_string())
        ))
    })
}

/// The rule for `--out`, with every recorded certificate directory (CAs,
/// superseded and `pending` ones included) resolved once.
#[derive(Debug)]
pub struct OutRule {
    root: PathBuf,
    dirs: Vec<(String, PathBuf)>,
}

impl OutRule {
    /// Refuses an `--out` that points at certsmith's own files: anything
    /// inside `cas/`, the ledger (and its `-wal` / `-shm` / `-journal`),
    /// or another certificate's directory; for [`Out::CertDir`] and
    /// [`Out::File`] also the PKI directory itself, its `certs/`, or a
    /// directory holding another certificate's directory; for
    /// [`Out::File`], also the files certsmith issued into the owner's own
    /// directory. Symlinks and `..` are resolved first, so no spelling of
    /// the path gets through. Every command's `--out` goes through here,
    /// with or without `--force`. Returns `out` made absolute.
    pub fn check(&self, out: &Path, kind: Out<'_>) -> Result<PathBuf> {
        let abs = absolute_out(out)?;
        let target = resolved(&abs);
        let root = &self.root;
        let refuse = |why: String| {
            Err(Error::input(format!(
                "--out '{}' {why}; certsmith's own files are never a destination",
                crate::error::shown(&out.display().to_string())
            ))
            .hint("choose a path outside cas/, the ledger and other certificates' directories"))
        };
        let owner = match kind {
            Out::CertDir(n) | Out::File(n) => Some(n),
            Out::Dir => None,
        };
        if let Ok(rel) = target.strip_prefix(root) {
            if rel.starts_with("cas") {
                return refuse("is inside the CA directory cas/".into());
            }
            let mut parts = rel.components();
            match (parts.next(), parts.next()) {
                (Some(first), None)
                    if first.as_os_str().to_string_lossy().starts_with("ledger.db") =>
                {
                    return refuse("is the ledger".into());
                }
                (None, _) if owner.is_some() => return refuse("is the PKI directory".into()),
                (Some(first), None) if owner.is_some() && first.as_os_str() == "certs" => {
                    return refuse("is the certificates directory certs/".into());
                }
                _ => {}
            }
        }
        for (name, dir) in &self.dirs {
            if owner.is_some()
                && owner != Some(name.as_str())
                && dir.starts_with(&target)
                && *dir != target
            {
                return refuse(format!(
                    "holds the directory of certificate '{}'",
                    crate::error::shown(name)
                ));
            }
            if !target.starts_with(dir) {
                continue;
            }
            if owner != Some(name.as_str()) {
                return refuse(format!(
                    "is inside the directory of certificate '{}'",
                    crate::error::shown(name)
                ));
            }
            let issued = crate::layout::FILES;
            if matches!(kind, Out::File(_))
                && target.parent() == Some(dir.as_path())
                && target
                    .file_name()
                    .is_some_and(|f| issued.iter().any(|i| f.to_string_lossy().starts_with(i)))
            {
                return refuse(format!(
                    "would replace a file of certificate '{}'",
                    crate::error::shown(name)
                ));
            }
        }
        Ok(abs)
    }
}

/// `path` absolute, with its longest existing part resolved (symlinks,
/// `..`) and the rest appended as written (`..` taken lexically).
pub fn resolved(path: &Path) -> PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let comps: Vec<Component<'_>> = abs.components().collect();
    for i in (0..=comps.len()).rev() {
        let head: PathBuf = comps[..i].iter().collect();
        let Ok(mut out) = head.canonicalize() else {
            continue;
        };
        for c in &comps[i..] {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(n) => out.push(n),
                _ => {}
            }
        }
        return out;
    }
    abs
}

/// The PKI directory when neither `--pki` nor `$CERTSMITH_PKI` names one:
/// the current directory or the nearest one above it that holds a
/// `ledger.db` (so a command run inside a PKI directory, or below it, finds
/// that PKI, whatever its certificates are called), spelled relative (`.`,
/// `..`, …); else `./pki` (where `init` and `bootstrap` make a new one).
/// The walk up never enters a directory another user owns or that group or
/// others may write (a 1777 `/tmp`): a ledger planted there is not taken.
pub fn discover(cwd: &Path) -> PathBuf {
    let mut rel = PathBuf::from(".");
    for dir in trusted_ancestors(cwd) {
        if dir.join("ledger.db").is_file() {
            return rel;
        }
        rel = if rel == Path::new(".") {
            PathBuf::from("..")
        } else {
            rel.join("..")
        };
    }
    PathBuf::from("pki")
}

/// `dir` and the directories above it, nearest first, up to (not into)
/// the first one that is not the current user's or is writable by group
/// or others: what discovery and the nesting check may trust.
fn trusted_ancestors(dir: &Path) -> impl Iterator<Item = &Path> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    dir.ancestors().take_while(move |d| {
        std::fs::metadata(d).is_ok_and(|m| m.uid() == me && m.mode() & 0o022 == 0)
    })
}

impl Pki {
    /// Refuses to make a new PKI inside another PKI's directory tree (a
    /// directory above that holds a ledger): its files would be foreign
    /// files there, and commands run inside would find the outer PKI.
    pub fn check_not_nested(&self) -> Result<()> {
        let here = resolved(&self.root);
        let outer = here.parent().and_then(|p| {
            trusted_ancestors(p)
                .find(|d| d.join("ledger.db").is_file())
                .map(Path::to_path_buf)
        });
        match outer {
            Some(outer) => Err(Error::input(format!(
                "'{}' is inside the PKI directory '{}'",
                self.root.display(),
                outer.display()
            ))
            .hint("run certsmith there to use that PKI, or choose a --pki outside it")),
            None => Ok(()),
        }
    }
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
    /// The PKI directory `root`. A `root` that is itself a symlink is
    /// resolved here, once: every check and write then sees its target.
    pub fn at(root: impl Into<PathBuf>) -> Pki {
        let root: PathBuf = root.into();
        let root = match std::fs::symlink_metadata(&root) {
            Ok(m) if m.file_type().is_symlink() => root.canonicalize().unwrap_or(root),
            _ => root,
        };
        Pki {
            root,
            ledger: None,
            allow_insecure_perms: false,
            wrote: Default::default(),
        }
    }

    /// The same PKI, accepting (or not) loose permissions.
    pub fn allowing_insecure_perms(mut self, allow: bool) -> Pki {
        self.allow_insecure_perms = allow;
        self
    }

    /// The same PKI with its ledger at `url` (`--ledger`).
    pub fn with_ledger(mut self, url: Option<crate::ledger::LedgerUrl>) -> Pki {
        self.ledger = url;
        self
    }

    /// Where the ledger is: `--ledger`, or `sqlite:<pki>/ledger.db`.
    pub fn ledger_url(&self) -> crate::ledger::LedgerUrl {
        self.ledger
            .clone()
            .unwrap_or_else(|| crate::ledger::LedgerUrl::default_for(&self.root))
    }

    /// The SQLite ledger file: the one `--ledger sqlite:PATH` names, else
    /// `<pki>/ledger.db` (which a PostgreSQL ledger leaves absent).
    pub fn ledger_path(&self) -> PathBuf {
        match &self.ledger {
            Some(crate::ledger::LedgerUrl::Sqlite(p)) => p.clone(),
            _ => self.root.join("ledger.db"),
        }
    }

    /// Opens the ledger for `access`, wherever it is.
    pub fn ledger(&self, access: crate::ledger::Access) -> Result<Ledger> {
        Ledger::open_url(&self.ledger_url(), access)
    }

    /// Creates the ledger (`init`), wherever it is.
    pub fn create_ledger(&self) -> Result<Ledger> {
        Ledger::create_url(&self.ledger_url())
    }

    /// Opens the ledger of an existing PKI directory for a command that may
    /// write (it waits, bounded, for the PKI directory lock).
    /// A CA certificate file missing here is read from the ledger's DER in
    /// memory; it is written only once the command succeeded
    /// ([`Pki::materialise_after_write`]), so a refused writer changes nothing.
    pub fn open_ledger(&self) -> Result<Ledger> {
        self.check_dir()?;
        let ledger = self.ledger(crate::ledger::Access::Write)?;
        self.wrote.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(ledger)
    }

    /// Opens the ledger for a command that only reads: it takes no lock
    /// and changes no byte of the PKI directory (a CA certificate file
    /// missing here is read from the ledger's DER, in memory).
    pub fn read_ledger(&self) -> Result<Ledger> {
        self.check_dir()?;
        self.ledger(crate::ledger::Access::Read)
    }

    /// After a command that opened the ledger to write succeeded: writes
    /// the certificate file of every CA whose file is missing, from the
    /// ledger's DER, under the PKI directory lock (a second host sharing
    /// the ledger gets the CA files). Read-only commands never get here.
    pub fn materialise_after_write(&self) -> Result<()> {
        if !self.wrote.swap(false, std::sync::atomic::Ordering::Relaxed) || !self.root.is_dir() {
            return Ok(());
        }
        let ledger = self.ledger(crate::ledger::Access::Write)?;
        self.materialise_cas(&ledger)
    }

    /// The ledger's record of the certificate with `fingerprint`, if this
    /// PKI issued or adopted it (for `inspect`). Reads the ledger without
    /// writing (a PKI directory open to others gets [`Pki::show_ledger`]'s
    /// warning, never a silent miss); `None` when there is none.
    pub fn recorded(&self, fingerprint: &str) -> Option<crate::ledger::CertRecord> {
        if matches!(self.ledger_url(), crate::ledger::LedgerUrl::Sqlite(p) if !p.is_file()) {
            return None;
        }
        let ledger = self.show_ledger().ok()?;
        ledger
            .certs_by_fingerprint(fingerprint)
            .ok()?
            .into_iter()
            .last()
    }

    /// Writes the certificate file of every CA whose file is missing from
    /// the ledger's DER (see [`Pki::materialise_ca`]): a host with an empty
    /// PKI directory and the same ledger has the CA certificates at once.
    /// A PKI whose files are all there is not touched.
    fn materialise_cas(&self, ledger: &Ledger) -> Result<()> {
        for ca in ledger.cas()? {
            if std::fs::symlink_metadata(self.ca_cert_path(&ca.cert.name)).is_err() {
                self.materialise_ca(ledger, &ca)?;
            }
        }
        Ok(())
    }

    /// Opens the ledger for a command that only shows what is there
    /// (`list`, `status`, `verify --ca`): a PKI directory open to group or
    /// others gets a warning on stderr, not a refusal, since nothing is
    /// written and no key is read. Writers keep refusing it.
    pub fn show_ledger(&self) -> Result<Ledger> {
        if let Err(e) = self.check_dir() {
            if !matches!(e, Error::NoPkiDir { .. }) && self.root.is_dir() {
                crate::error::diagnostic(
                    "certsmith: warning: ",
                    &format!("{e}; reading it anyway, as this command writes nothing"),
                );
            } else {
                return Err(e);
            }
        }
        self.ledger(crate::ledger::Access::Read)
    }

    fn check_dir(&self) -> Result<()> {
        if !self.root.is_dir() {
            return Err(Error::NoPkiDir {
                path: self.root.clone(),
            });
        }
        crate::perms::check_pki_dir(&self.root, self.allow_insecure_perms)
    }

    /// Refuses an `--out` that points at certsmith's own files (see
    /// [`OutRule::check`]) and returns it absolute: the caller uses that
    /// path from then on, to write and to store in the ledger.
    pub fn check_out(&self, ledger: &Ledger, out: &Path, kind: Out<'_>) -> Result<PathBuf> {
        self.out_rule(ledger)?.check(out, kind)
    }

    /// The `--out` rule with the ledger's directories read once, for
    /// checking many paths (a batch's rows).
    /// Read on the ledger as it is, or inside the transaction that
    /// reserves a name (see [`crate::ledger::Check`]), so that the check and
    /// the reservation are one step for concurrent commands. `pending` rows
    /// are included: a running command's directory is taken too.
    pub fn out_rule(&self, ledger: &Ledger) -> Result<OutRule> {
        Ok(self.out_rule_from(ledger.names_and_dirs()?))
    }

    /// The `--out` rule over `(name, stored dir)` rows of the ledger, e.g.
    /// read inside a reservation's transaction, so that the check and the
    /// reservation are one step for concurrent commands.
    pub fn out_rule_from(&self, rows: impl IntoIterator<Item = (String, String)>) -> OutRule {
        let root = resolved(&self.root);
        let dirs = rows
            .into_iter()
            .map(|(name, stored)| {
                // Inside the PKI directory no symlink is followed (it is refused),
                // so only directories elsewhere need resolving: cheap for a big ledger.
                let stored = Path::new(&stored);
                let dir = if stored.is_absolute() {
                    resolved(stored)
                } else {
                    root.join(stored)
                };
                (name, dir)
            })
            .collect();
        OutRule { root, dirs }
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
                Ok(Some(_)) => Error::NotACa {
                    name: name.to_string(),
                },
                _ => Error::NoSuchCa {
                    name: name.to_string(),
                    pki: self.root.clone(),
                    known,
                },
            }
        })?;
        let path = self.ca_cert_path(name);
        if std::fs::symlink_metadata(&path).is_err()
            && let Some(der) = self.ledger_ca_der(ledger, &rec)?
        {
            let info = crate::certinfo::CertInfo::from_der(&der, &path.display().to_string())?;
            return Ok((rec, info));
        }
        let text = crate::input::read_to_string(&path, crate::input::Kind::Certificates)?;
        let mut certs = crate::certinfo::parse_pem_certs(&text, &path.display().to_string())?;
        let info = crate::layout::recorded(certs.remove(0), &path, &rec.cert.fingerprint)?;
        Ok((rec, info))
    }

    /// Writes CA `rec`'s certificate file from the DER the ledger holds
    /// (a second host with an empty PKI directory and the same ledger):
    /// atomically, 0644, only when its fingerprint is the record's. A
    /// ledger without the DER (recorded before schema version 4) writes
    /// nothing, and neither does a CA still pending (another process is
    /// writing its files): reading the file then fails as it always did.
    fn materialise_ca(&self, ledger: &Ledger, rec: &crate::ledger::CaRecord) -> Result<()> {
        // A pending CA is another process's write in progress: its files are its own.
        let Some(der) = self.ledger_ca_der(ledger, rec)? else {
            return Ok(());
        };
        let name = &rec.cert.name;
        let path = self.ca_cert_path(name);
        let pem = crate::keys::pem_encode("CERTIFICATE", &der);
        match crate::store::write_file(
            &self.root,
            &path,
            pem.as_bytes(),
            crate::store::PUBLIC_MODE,
            crate::store::Existing::Refuse,
        ) {
            Ok(_) => Ok(()),
            // Another process wrote it first: the read that follows checks it.
            Err(_) if std::fs::symlink_metadata(&path).is_ok() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// CA `rec`'s certificate DER as the ledger holds it, checked against
    /// its recorded fingerprint; `None` for a ledger without the DER
    /// (recorded before schema version 4) or a CA still pending.
    fn ledger_ca_der(&self, ledger: &Ledger, rec: &CaRecord) -> Result<Option<Vec<u8>>> {
        // A pending CA is another process's write in progress: its files are its own.
        if rec.cert.state == "pending" {
            return Ok(None);
        }
        let Some(der) = ledger.cert_der(rec.cert.id)? else {
            return Ok(None);
        };
        if crate::certinfo::fingerprint(&der) != rec.cert.fingerprint {
            return Err(Error::failed(format!(
                "the ledger's certificate of CA {} does not match its recorded fingerprint",
                crate::error::shown(&rec.cert.name)
            ))
            .hint("run `certsmith doctor` on a host that has the CA's files"));
        }
        Ok(Some(der))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_follows_symlinks_and_dot_dot_of_missing_tails() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("cas")).unwrap();
        std::os::unix::fs::symlink(real.join("cas"), real.join("link")).unwrap();
        assert_eq!(
            resolved(&real.join("link/root/ca.key.pem")),
            real.join("cas/root/ca.key.pem")
        );
        assert_eq!(
            resolved(&real.join("elsewhere/../cas/x")),
            real.join("cas/x")
        );
    }
}
