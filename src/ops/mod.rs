//! Use cases: what one certsmith command does, as a library call that takes
//! a request of plain values and returns a report. `commands/` only turns
//! flags into requests and reports into text; tests and fuzz targets call
//! these functions, so they exercise exactly what the binary runs.

pub mod adopt;
pub mod batch;
pub mod bootstrap;
pub mod ca_crl;
pub mod ca_default;
pub mod ca_retire;
pub mod ca_rotate;
pub mod ca_urls;
pub mod change_passphrase;
pub mod crl;
pub mod expiry;
pub mod export;
pub mod init;
pub mod intermediate;
pub mod issue;
pub mod ledger;
pub mod prune;
pub mod published;
pub mod renew_bulk;
pub mod revoke;
pub mod serve;
pub mod sign;
pub mod verify;

use crate::ca::Signer;
use crate::error::Result;
use crate::leaf::{self, WriteOptions};
use crate::ledger::Ledger;
use crate::names::{San, Subject};
use crate::passphrase::PassOptions;
use crate::pki::{Out, Pki};
use crate::validity::Validity;

/// `--ca`, or the default issuing CA (see [`crate::issuing::issuing_ca`]).
pub fn issuing_ca(ledger: &Ledger, arg: Option<&str>) -> Result<String> {
    crate::issuing::issuing_ca(ledger, arg)
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
