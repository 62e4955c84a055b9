//! Signing a CSR (`certsmith sign`): the device keeps its key; the profile,
//! not the CSR, decides what the certificate may say.
//!
//! Three steps, each a function the command, the property tests and the
//! fuzz target share: [`plan`] turns the CSR and the operator's overrides
//! into a [`LeafRequest`] (pure), [`SignPlan::sign`] checks it against the
//! issuer and signs it (no I/O), and [`sign_csr`] runs both between the
//! ledger checks and the atomic write.

use time::OffsetDateTime;

use crate::ca::{Signed, Signer};
use crate::clock;
use crate::csr::{self, Csr};
use crate::error::{Error, Result, shown};
use crate::leaf::{self, IssuedLeaf, LeafKey, LeafRequest, SignedLeaf};
use crate::pki::{Pki, validate_name};
use crate::profile::Profile;

use super::LeafOptions;

/// A CSR to sign and what the operator said about it.
#[derive(Clone, Debug)]
pub struct SignRequest {
    /// The CSR file's bytes (PEM or DER).
    pub csr: Vec<u8>,
    /// How messages name the CSR (its path).
    pub csr_label: String,
    /// `--name`; default the CSR's CN.
    pub name: Option<String>,
    /// Profile, subject (default the CSR's, else the profile's), SANs (when
    /// none is given, the CSR's SANs the profile allows), validity, issuer
    /// and where the files go.
    pub leaf: LeafOptions,
}

impl SignRequest {
    /// A request with `certsmith sign`'s defaults: profile `device`, no overrides.
    pub fn new(csr: Vec<u8>, csr_label: impl Into<String>) -> SignRequest {
        SignRequest {
            csr,
            csr_label: csr_label.into(),
            name: None,
            leaf: LeafOptions::default(),
        }
    }
}

/// The CSR turned into the leaf to sign, with notes for the operator about
/// what the CSR asked for and did not get.
#[derive(Clone, Debug)]
pub struct SignPlan {
    pub csr: Csr,
    pub leaf: LeafRequest,
    pub notes: Vec<String>,
}

/// What `sign_csr` wrote, and the notes to show with it.
#[derive(Clone, Debug)]
pub struct SignReport {
    pub issued: IssuedLeaf,
    pub notes: Vec<String>,
}

/// Parses and checks the CSR and decides the leaf: its name, subject and
/// SANs (the CSR's, only as far as `profile` allows). No I/O.
pub fn plan(req: &SignRequest, profile: Profile) -> Result<SignPlan> {
    let what = &req.csr_label;
    let o = &req.leaf;
    let csr = csr::parse(&req.csr, what)?;
    if let (None, Some(e)) = (&o.subject, &csr.subject_error) {
        return Err(e.clone());
    }
    let csr_cn = csr
        .subject
        .as_ref()
        .or(o.subject.as_ref())
        .and_then(|s| s.common_name().map(str::to_string));
    let name = match req.name.clone().or(csr_cn) {
        Some(n) => n,
        None => {
            return Err(Error::input(format!(
                "CSR '{}' has no CN to name the certificate after",
                shown(what)
            ))
            .hint("pass --name NAME"));
        }
    };
    validate_name("certificate", &name)
        .map_err(|e| e.hint("pass --name NAME with letters, digits and . _ - @ +"))?;
    let subject = match (&o.subject, &csr.subject) {
        (Some(s), _) | (None, Some(s)) => s.clone(),
        (None, None) => profile.subject_for(&name)?,
    };
    let mut notes: Vec<String> = csr
        .ignored
        .iter()
        .map(|x| format!("ignored {x} from the CSR; the profile decides"))
        .chain(csr.notes.iter().cloned())
        .collect();
    let mut sans = o.sans.clone();
    if o.sans.is_empty() {
        for s in &csr.sans {
            if profile.san_allowed.iter().any(|k| k == s.kind()) {
                sans.push(s.clone());
            } else {
                notes.push(format!(
                    "dropped SAN '{s}' from the CSR: profile '{}' does not allow it",
                    profile.name
                ));
            }
        }
    }
    let leaf = LeafRequest {
        name,
        profile,
        subject,
        sans,
        validity: o.validity,
        clamp: o.clamp,
    };
    Ok(SignPlan { csr, leaf, notes })
}

impl SignPlan {
    /// Checks the leaf against its profile and the issuer's name
    /// constraints, then signs the CSR's key. No I/O.
    pub fn sign(&self, signer: &Signer, now: OffsetDateTime) -> Result<Signed> {
        self.leaf.check(signer)?;
        self.leaf
            .sign(signer, &self.csr.public_key, self.csr.key_type, now)
    }
}

/// `certsmith sign`: plans the leaf, checks the name and the issuer, signs,
/// and writes the files and ledger record together (nothing on failure).
pub fn sign_csr(pki: &Pki, mut req: SignRequest) -> Result<SignReport> {
    let mut ledger = pki.open_ledger()?;
    let profile = Profile::load(Some(&pki.root), &req.leaf.profile)?;
    let plan = plan(&req, profile)?;
    let signer = req.leaf.issuer_for(pki, &ledger, &plan.leaf.name)?;
    let now = clock::now()?;
    let signed = plan.sign(&signer, now)?;
    let leaf = SignedLeaf {
        request: plan.leaf,
        signed,
        key: LeafKey::Public(plan.csr.public_key),
        key_type: plan.csr.key_type,
        signed_at: now,
    };
    let issued = leaf::write(pki, &mut ledger, &signer, &leaf, &req.leaf.write)?;
    Ok(SignReport {
        issued,
        notes: plan.notes,
    })
}
