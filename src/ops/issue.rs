//! Issuing a leaf with a new key (`certsmith issue`): request → profile →
//! key → signed certificate → files and ledger record → report, each step a
//! value handed to the next.

use crate::error::Result;
use crate::keys::KeyType;
use crate::leaf::{self, IssuedLeaf, LeafKey, LeafRequest, WriteOptions};
use crate::names::{San, Subject};
use crate::passphrase::PassOptions;
use crate::pki::{Pki, validate_name};
use crate::profile::Profile;
use crate::validity::Validity;

/// A leaf to issue and what the operator said about it.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// The certificate's name (its directory, and its CN by default).
    pub name: String,
    /// `--profile`.
    pub profile: String,
    /// `--key`; default the profile's.
    pub key: Option<KeyType>,
    /// `--subject` / `--cn`; default the profile's subject for `name`.
    pub subject: Option<Subject>,
    pub sans: Vec<San>,
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// `--ca`; default the only intermediate, else the only root.
    pub ca: Option<String>,
    /// How the issuing CA's key is opened.
    pub pass: PassOptions,
    pub write: WriteOptions,
}

impl IssueRequest {
    /// A request with `certsmith issue`'s defaults: profile `device`, no overrides.
    pub fn new(name: impl Into<String>) -> IssueRequest {
        IssueRequest {
            name: name.into(),
            profile: "device".into(),
            key: None,
            subject: None,
            sans: Vec::new(),
            validity: None,
            clamp: false,
            ca: None,
            pass: PassOptions::default(),
            write: WriteOptions::default(),
        }
    }

    /// The leaf its profile makes of it. No I/O beyond reading the profile.
    pub fn leaf(&self, pki: &Pki) -> Result<LeafRequest> {
        let profile = Profile::load(Some(&pki.root), &self.profile)?;
        let subject = match &self.subject {
            Some(s) => s.clone(),
            None => profile.subject_for(&self.name)?,
        };
        Ok(LeafRequest {
            name: self.name.clone(),
            profile,
            subject,
            sans: self.sans.clone(),
            validity: self.validity,
            clamp: self.clamp,
        })
    }
}

/// `certsmith issue`: checks the name and the issuer, makes the key, signs,
/// and writes the files and ledger record together (nothing on failure).
pub fn issue(pki: &Pki, mut req: IssueRequest) -> Result<IssuedLeaf> {
    validate_name("certificate", &req.name)?;
    let mut ledger = pki.open_ledger()?;
    let leaf = req.leaf(pki)?;
    let key_type = req.key.unwrap_or(leaf.profile.default_key);
    let signer = super::issuer_for(
        pki,
        &ledger,
        &leaf.name,
        req.ca.as_deref(),
        &req.pass,
        &mut req.write,
    )?;
    leaf.check(&signer)?;
    let now = crate::clock::now()?;
    let key = LeafKey::Held(key_type.generate()?);
    let signed = leaf.sign_leaf(&signer, key, key_type, now)?;
    leaf::write(pki, &mut ledger, &signer, &signed, &req.write)
}
