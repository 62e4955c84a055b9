//! One CA as `serve` answers for it: its certificate, its key (opened once
//! at start), the delegated OCSP responder it issues for itself, and the
//! CRL it serves.

use std::sync::{Arc, Mutex, RwLock};

use rcgen::{KeyPair, PublicKeyData};
use time::OffsetDateTime;

use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::leaf::LeafRequest;
use crate::ocsp::{IssuerIds, ResponderKey};
use crate::pki::Pki;
use crate::profile::Profile;

/// The profile of the responder certificates `serve` issues.
pub const RESPONDER_PROFILE: &str = "ocsp-responder";

/// A delegated responder: a key held in memory only and its certificate.
struct Responder {
    key: KeyPair,
    spki: Vec<u8>,
    cert: Vec<u8>,
    /// Renewed from this time on: half way through its validity.
    renew_at: i64,
}

/// The CRL being served and when to sign the next one.
pub struct ServedCrl {
    pub der: Arc<Vec<u8>>,
    /// (revocations, latest revocation time) it was signed over.
    pub revocations: (i64, i64),
    pub refresh_at: i64,
}

/// One CA of the PKI, as served.
pub struct Authority {
    pub name: String,
    pub cert_der: Arc<Vec<u8>>,
    pub ids: IssuerIds,
    /// Whether it signs CRLs (not a CA made with `--no-crl`).
    pub publishes_crl: bool,
    spki: Vec<u8>,
    /// Its key, when it could be opened.
    signer: Option<Mutex<Signer>>,
    responder: RwLock<Option<Responder>>,
    pub crl: Mutex<Option<ServedCrl>>,
}

impl Authority {
    /// CA `name` with its certificate and (when it opened) its signer.
    pub fn new(
        pki: &Pki,
        ledger: &crate::ledger::Ledger,
        name: &str,
        signer: Option<Signer>,
    ) -> Result<Authority> {
        let (_, info) = pki.ca(ledger, name)?;
        Ok(Authority {
            name: name.to_string(),
            ids: IssuerIds::new(&info.subject_raw, &info.spki_der)?,
            publishes_crl: crate::ca::publishes_crl(&info),
            spki: info.spki_der.clone(),
            cert_der: Arc::new(info.der),
            signer: signer.map(Mutex::new),
            responder: RwLock::new(None),
            crl: Mutex::new(None),
        })
    }

    /// The signer, when the key was opened.
    pub fn signer(&self) -> Option<std::sync::MutexGuard<'_, Signer>> {
        self.signer
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Signs with the key that answers for this CA: the CA key (`with_ca`)
    /// or the delegated responder, issued or renewed first when due. The
    /// bool says whether a new responder was issued (cached responses then
    /// carry the old one).
    pub fn with_responder<T>(
        &self,
        with_ca: bool,
        now: OffsetDateTime,
        f: impl FnOnce(&ResponderKey<'_>) -> Result<T>,
    ) -> Result<(T, bool)> {
        if with_ca {
            let signer = self.signer().ok_or_else(|| self.no_key())?;
            let key = ResponderKey {
                key: signer.key(),
                spki_der: &self.spki,
                cert_der: None,
            };
            return Ok((f(&key)?, false));
        }
        let mut renewed = false;
        {
            let r = self.responder.read().unwrap_or_else(|p| p.into_inner());
            if let Some(r) = r.as_ref().filter(|r| now.unix_timestamp() < r.renew_at) {
                let key = ResponderKey {
                    key: &r.key,
                    spki_der: &r.spki,
                    cert_der: Some(&r.cert),
                };
                return Ok((f(&key)?, false));
            }
        }
        let mut w = self.responder.write().unwrap_or_else(|p| p.into_inner());
        if w.as_ref()
            .is_none_or(|r| now.unix_timestamp() >= r.renew_at)
        {
            *w = Some(self.issue_responder(now)?);
            renewed = true;
        }
        let r = w.as_ref().ok_or_else(|| self.no_key())?;
        let key = ResponderKey {
            key: &r.key,
            spki_der: &r.spki,
            cert_der: Some(&r.cert),
        };
        Ok((f(&key)?, renewed))
    }

    fn no_key(&self) -> Error {
        Error::failed(format!(
            "the key of CA '{}' is not open, so its OCSP responses cannot be signed",
            self.name
        ))
    }

    /// Issues a responder certificate (profile `ocsp-responder`) for a new
    /// key kept in memory; it is not recorded in the ledger: it lives as
    /// long as this process, at most its short validity.
    fn issue_responder(&self, now: OffsetDateTime) -> Result<Responder> {
        let signer = self.signer().ok_or_else(|| self.no_key())?;
        let profile = Profile::load(None, RESPONDER_PROFILE)?;
        let key_type = KeyType::EcdsaP256;
        let key = key_type.generate()?;
        let req = LeafRequest {
            name: format!("{} OCSP responder", self.name),
            subject: crate::names::Subject::parse(&format!(
                "CN={} OCSP responder",
                self.name.replace(',', "\\,")
            ))?,
            profile,
            sans: Vec::new(),
            validity: None,
            clamp: true,
        };
        let signed = req.sign(&signer, &key, key_type, now)?;
        let (nb, na) = (
            signed.window.not_before.unix_timestamp(),
            signed.window.not_after.unix_timestamp(),
        );
        Ok(Responder {
            spki: key.subject_public_key_info(),
            key,
            cert: signed.der,
            renew_at: nb + (na - nb) / 2,
        })
    }
}
