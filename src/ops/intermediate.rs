//! Creating an intermediate CA (`certsmith intermediate`): a CA signed by
//! another CA of this PKI.

use crate::ca::{self, CreatedCa, NewCa, Signer};
use crate::clock;
use crate::error::Result;
use crate::ledger::Kind;
use crate::passphrase::{self, PassOptions};
use crate::pki::{Pki, validate_name};
use crate::profile::Profile;

use super::init::NewCaRequest;

/// A new intermediate and the CA that signs it.
#[derive(Clone, Debug)]
pub struct IntermediateRequest {
    pub new: NewCaRequest,
    /// `--issuer`: the signing CA's name.
    pub issuer: String,
    /// How the issuer's key is opened.
    pub issuer_pass: PassOptions,
}

/// `certsmith intermediate`: creates CA `req.new.name` signed by `req.issuer`.
pub fn intermediate(pki: &Pki, req: &IntermediateRequest) -> Result<CreatedCa> {
    let name = req.new.name.as_str();
    validate_name("CA", name)?;
    let mut ledger = pki.open_ledger()?;
    ca::ensure_name_free(&ledger, name)?;
    let profile = Profile::load(Some(&pki.root), "intermediate-ca")?;
    let key_type = req.new.key.unwrap_or(profile.default_key);
    let signer = Signer::load(pki, &ledger, &req.issuer, &req.issuer_pass)?;
    let now = clock::now()?;
    let key = key_type.generate()?;
    let (signed, pathlen) = ca::make_intermediate(&req.new.ca, &key, &profile, &signer, now)?;
    let pass = passphrase::for_new_key(&req.new.pass, &format!("CA '{name}'"))?;
    let new = NewCa {
        name: name.to_string(),
        kind: Kind::Intermediate,
        issuer: Some(signer.name.clone()),
        profile: profile.name.clone(),
        signed,
        subject: req.new.ca.subject.to_string(),
        key,
        pathlen: pathlen.map(u32::from),
    };
    let alive = |c: &rusqlite::Connection| signer.check_alive_on(c, now);
    ca::write_ca(
        pki,
        &mut ledger,
        &new,
        pass.as_ref(),
        req.new.kdf,
        now,
        &alive,
    )
}
