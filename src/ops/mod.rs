//! Use cases: what one certsmith command does, as a library call that takes
//! a request of plain values and returns a report. `commands/` only turns
//! flags into requests and reports into text; tests and fuzz targets call
//! these functions, so they exercise exactly what the binary runs.

pub mod adopt;
pub mod batch;
pub mod bootstrap;
pub mod ca_crl;
pub mod ca_urls;
pub mod change_passphrase;
pub mod crl;
pub mod export;
pub mod init;
pub mod intermediate;
pub mod issue;
pub mod ledger;
pub mod revoke;
pub mod serve;
pub mod sign;
pub mod verify;

use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::leaf::{self, WriteOptions};
use crate::ledger::{Kind, Ledger};
use crate::names::{San, Subject};
use crate::passphrase::PassOptions;
use crate::pki::{Out, Pki};
use crate::validity::Validity;

/// `--ca`, or the default issuing CA: the only intermediate, else the only root.
pub fn issuing_ca(ledger: &Ledger, arg: Option<&str>) -> Result<String> {
    if let Some(a) = arg {
        return Ok(a.to_string());
    }
    let cas = ledger.cas()?;
    let inter: Vec<_> = cas
        .iter()
        .filter(|c| c.cert.kind == Kind::Intermediate)
        .collect();
    let pick = match (inter.len(), cas.len()) {
        (1, _) => Some(inter[0].cert.name.clone()),
        (0, 1) => Some(cas[0].cert.name.clone()),
        _ => None,
    };
    pick.ok_or_else(|| {
        let names: Vec<String> = cas.iter().map(|c| c.cert.name.clone()).collect();
        if names.is_empty() {
            Error::input("this PKI has no CA yet").hint("run `certsmith init` first")
        } else {
            Error::input("more than one CA could sign this; say which")
                .hint(format!("pass --ca NAME, one of: {}", names.join(", ")))
        }
    })
}

/// What the operator says about a new leaf, for `issue` and `sign` alike.
#[derive(Clone, Debug)]
pub struct LeafOptions {
    /// `--profile`.
    pub profile: String,
    /// `--subject` / `--cn`.
    pub subject: Option<Subject>,
    /// `--san`.
    pub sans: Vec<San>,
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// `--ca`; default the only intermediate, else the only root.
    pub ca: Option<String>,
    /// How the issuing CA's key is opened.
    pub pass: PassOptions,
    pub write: WriteOptions,
}

impl Default for LeafOptions {
    /// The defaults of `issue` and `sign`: profile `device`, no overrides.
    fn default() -> LeafOptions {
        LeafOptions {
            profile: "device".into(),
            subject: None,
            sans: Vec::new(),
            validity: None,
            clamp: false,
            ca: None,
            pass: PassOptions::default(),
            write: WriteOptions::default(),
        }
    }
}

impl LeafOptions {
    /// What `issue` and `sign` check before they sign leaf `name`: the name
    /// is free (a `pending` one belongs to a running or interrupted command,
    /// never re-issued over), `--out` is not at certsmith's own files (and is
    /// made absolute, as it is then written to and stored), and the issuing
    /// CA (`--ca`, else the default) loads.
    pub(crate) fn issuer_for(&mut self, pki: &Pki, ledger: &Ledger, name: &str) -> Result<Signer> {
        leaf::check_name(ledger, name, self.write.force)?;
        if let Some(out) = &self.write.out {
            self.write.out = Some(pki.check_out(ledger, out, Out::CertDir(name))?);
        }
        let ca = issuing_ca(ledger, self.ca.as_deref())?;
        Signer::load(pki, ledger, &ca, &self.pass)
    }
}
