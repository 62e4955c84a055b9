//! Renewing a leaf: the same subject, SANs, profile and issuer under a new
//! serial, with a new key unless the old one is reused. The old certificate
//! stays in the ledger, superseded (and revoked if asked).

use rcgen::KeyPair;
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ca::Signer;
use crate::certinfo;
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::leaf::{self, IssuedLeaf, LeafRequest, WriteOptions};
use crate::ledger::{Kind, Ledger};
use crate::names::{San, Subject};
use crate::passphrase::PassOptions;
use crate::pki::Pki;
use crate::profile::Profile;
use crate::validity::Validity;

/// How to renew.
#[derive(Clone, Debug, Default)]
pub struct RenewOptions {
    /// Validity of the new certificate (default: the profile's).
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// Certify the current public key again instead of making a new key.
    pub reuse_key: bool,
    /// Also revoke the old certificate, reason superseded.
    pub revoke_old: bool,
}

/// What a renewal did.
#[derive(Clone, Debug, Serialize)]
pub struct Renewed {
    #[serde(flatten)]
    pub leaf: IssuedLeaf,
    pub old_serial: String,
    pub reused_key: bool,
    pub old_revoked: bool,
}

/// The key of the new certificate.
enum NewKey {
    /// A key certsmith holds (new, or reused from key.pem).
    Held(KeyPair),
    /// Only the public key, from a CSR-signed certificate.
    Public(rcgen::SubjectPublicKeyInfo),
}

/// Renews leaf `name` at `now`.
pub fn renew(
    pki: &Pki,
    ledger: &mut Ledger,
    name: &str,
    opts: &RenewOptions,
    pass: &PassOptions,
    now: OffsetDateTime,
) -> Result<Renewed> {
    let old = ledger
        .cert_by_name(name)?
        .ok_or_else(|| Error::NoSuchCert {
            name: name.to_string(),
            issuer: None,
        })?;
    if old.kind != Kind::Leaf {
        return Err(Error::input(format!(
            "'{name}' is a CA; renew re-issues device, client and server certificates"
        ))
        .hint("make a new CA with `certsmith intermediate` and move issuance to it"));
    }
    // A leaf that took a CA's name in an older ledger is not renewed over it.
    crate::leaf::check_name(ledger, name, true)?;
    if old.revoked_at.is_some() && opts.reuse_key {
        return Err(Error::input(format!(
            "certificate '{name}' is revoked; its key must not be certified again"
        ))
        .hint("renew without --reuse-key to get a new key"));
    }
    let dir = pki.resolve_dir(&old.dir);
    let cert_path = dir.join("cert.pem");
    let old_cert = certinfo::read_certs(&cert_path)?.remove(0);
    if old_cert.fingerprint != old.fingerprint {
        return Err(Error::failed(format!(
            "'{}' does not match the ledger (fingerprint {} expected)",
            cert_path.display(),
            old.fingerprint
        ))
        .hint("run `certsmith doctor`"));
    }
    let req = LeafRequest {
        name: name.to_string(),
        profile: Profile::load(Some(&pki.root), &old.profile)?,
        subject: Subject::parse(&old.subject)?,
        sans: old
            .sans
            .iter()
            .map(|s| San::parse(s))
            .collect::<Result<_>>()?,
        validity: opts.validity,
        clamp: opts.clamp,
    };
    let issuer = old.issuer.clone().unwrap_or_default();
    let signer = Signer::load(pki, ledger, &issuer, pass)?;
    req.check(&signer)?;
    let new_key = if opts.reuse_key {
        if old.has_key {
            let path = dir.join("key.pem");
            let what = path.display().to_string();
            let text = Zeroizing::new(crate::input::read_to_string(
                &path,
                crate::input::Kind::Key,
            )?);
            let key = keys::load_private_key(&text, &what, &mut || {
                Err(Error::input(format!(
                    "'{what}' is encrypted; certsmith cannot reuse it"
                )))
            })?;
            if !keys::key_matches_spki(&key, &old_cert.spki_der) {
                return Err(Error::failed(format!(
                    "the key in '{what}' does not belong to certificate '{name}'"
                ))
                .hint("run `certsmith doctor`"));
            }
            NewKey::Held(key)
        } else {
            NewKey::Public(
                rcgen::SubjectPublicKeyInfo::from_der(&old_cert.spki_der).map_err(|e| {
                    Error::failed(format!("cannot read the public key of '{name}': {e}"))
                })?,
            )
        }
    } else {
        if !old.has_key {
            return Err(Error::input(format!(
                "certificate '{name}' was signed from a CSR; certsmith cannot make a new key for it"
            ))
            .hint(format!(
                "pass --reuse-key to certify the same public key again, or sign a new CSR: certsmith sign CSR --name {name} --force"
            )));
        }
        let kt: KeyType = old.key_type.parse()?;
        NewKey::Held(kt.generate()?)
    };
    let key_type = match &new_key {
        NewKey::Held(k) => keys::key_type_of(k)?,
        NewKey::Public(_) => old.key_type.parse()?,
    };
    let wopts = WriteOptions {
        out: (dir != pki.cert_dir(name)).then(|| dir.clone()),
        force: true,
    };
    let issued = match &new_key {
        NewKey::Held(k) => {
            let signed = req.sign(&signer, k, key_type, now)?;
            leaf::write(
                pki,
                ledger,
                &signer,
                &req,
                &signed,
                Some(k),
                key_type,
                &wopts,
                now,
            )?
        }
        NewKey::Public(p) => {
            let signed = req.sign(&signer, p, key_type, now)?;
            leaf::write(
                pki, ledger, &signer, &req, &signed, None, key_type, &wopts, now,
            )?
        }
    };
    let mut old_revoked = false;
    if opts.revoke_old && old.revoked_at.is_none() {
        crate::revoke::revoke(ledger, &old, "superseded", now)?;
        old_revoked = true;
    }
    Ok(Renewed {
        leaf: issued,
        old_serial: old.serial,
        reused_key: opts.reuse_key,
        old_revoked,
    })
}
