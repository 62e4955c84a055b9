//! Creating an intermediate CA (`certsmith intermediate`): a CA signed by
//! another CA of this PKI.

use crate::ca::{self, CreatedCa, NewCa, Signer};
use crate::clock;
use crate::error::Result;
use crate::ledger::Kind;
use crate::passphrase::PassOptions;
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
    req.new.urls.check()?;
    let mut ledger = pki.open_ledger()?;
    ca::ensure_name_free(&ledger, name)?;
    let profile = Profile::load(Some(&pki.root), "intermediate-ca")?;
    let key_type = req.new.key.unwrap_or(profile.default_key);
    let signer = Signer::load(pki, &ledger, &req.issuer, &req.issuer_pass)?;
    let now = clock::now()?;
    let key = req.new.store.make_key(key_type, req.new.key, name)?;
    if let Err(e) = ca::ensure_key_unused(pki, &ledger, &key) {
        key.discard();
        return Err(e);
    }
    let prepared = ca::make_intermediate(&req.new.ca, &key, &profile, &signer, now)
        .and_then(|made| Ok((made, req.new.passphrase(&format!("CA '{name}'"))?)));
    let ((signed, pathlen), pass) = match prepared {
        Ok(p) => p,
        Err(e) => {
            key.discard();
            return Err(e);
        }
    };
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
    let alive = |l: &crate::ledger::Ledger| signer.check_alive_on(l, now);
    let created = ca::write_ca(
        pki,
        &mut ledger,
        &new,
        pass.as_ref(),
        req.new.kdf,
        now,
        &alive,
    );
    if created.is_err() {
        new.key.discard();
    }
    let created = created?;
    req.new.urls.save(&mut ledger, name)?;
    Ok(created)
}
