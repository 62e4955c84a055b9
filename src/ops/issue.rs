//! Issuing a leaf with a new key (`certsmith issue`): request → profile →
//! key → signed certificate → files and ledger record → report, each step a
//! value handed to the next.

use crate::error::Result;
use crate::keys::KeyType;
use crate::leaf::{self, IssuedLeaf, LeafKey, LeafRequest};
use crate::pki::{Pki, validate_name};
use crate::profile::Profile;

use super::LeafOptions;

/// A leaf to issue and what the operator said about it.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    /// The certificate's name (its directory, and its CN by default).
    pub name: String,
    /// `--key`; default the profile's.
    pub key: Option<KeyType>,
    /// Profile, subject (default the profile's subject for `name`), SANs,
    /// validity, issuer and where the files go.
    pub leaf: LeafOptions,
    /// `--no-sync`: no fsync (throwaway PKIs only; see [`crate::durability`]).
    pub no_sync: bool,
}

impl IssueRequest {
    /// A request with `certsmith issue`'s defaults: profile `device`, no overrides.
    pub fn new(name: impl Into<String>) -> IssueRequest {
        IssueRequest {
            name: name.into(),
            key: None,
            leaf: LeafOptions::default(),
            no_sync: false,
        }
    }

    /// The leaf its profile makes of it. No I/O beyond reading the profile.
    pub fn leaf(&self, pki: &Pki) -> Result<LeafRequest> {
        let o = &self.leaf;
        let profile = Profile::load(Some(&pki.root), &o.profile)?;
        let subject = match &o.subject {
            Some(s) => s.clone(),
            None => profile.subject_for(&self.name)?,
        };
        Ok(LeafRequest {
            name: self.name.clone(),
            profile,
            subject,
            sans: o.sans.clone(),
            validity: o.validity,
            clamp: o.clamp,
        })
    }
}

/// `certsmith issue`: checks the name and the issuer, makes the key, signs,
/// and writes the files and ledger record together (nothing on failure).
pub fn issue(pki: &Pki, mut req: IssueRequest) -> Result<IssuedLeaf> {
    validate_name("certificate", &req.name)?;
    let mut ledger = pki.open_ledger()?;
    if req.no_sync {
        crate::durability::refuse_for_real_ca(&ledger)?;
    }
    let leaf = req.leaf(pki)?;
    let key_type = req.key.unwrap_or(leaf.profile.default_key);
    let signer = req.leaf.issuer_for(pki, &ledger, &leaf.name)?;
    leaf.check(&signer)?;
    let now = crate::clock::now()?;
    let key = LeafKey::Held(key_type.generate()?);
    let signed = leaf.sign_leaf(&signer, key, key_type, now)?;
    if req.no_sync {
        crate::durability::skip_syncs(&mut ledger, now)?;
    }
    leaf::write(pki, &mut ledger, &signer, &signed, &req.leaf.write)
}
