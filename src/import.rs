//! Adopting a CA made elsewhere (openssl, step, easy-rsa): the certificate is
//! kept byte for byte, the key is checked against it and re-encrypted the
//! way certsmith stores every CA key.

use std::path::Path;

use rcgen::{CertificateParams, Issuer, KeyPair, SerialNumber};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use zeroize::Zeroizing;

use crate::ca::Signed;
use crate::certinfo::{self, CertInfo};
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::ledger::Ledger;
use crate::passphrase::{self, PassOptions};
use crate::pki::Pki;
use crate::validity::Window;

/// A CA certificate and its key, checked and ready to be written.
pub struct ImportedCa {
    pub info: CertInfo,
    pub key: KeyPair,
    pub key_type: KeyType,
}

impl std::fmt::Debug for ImportedCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedCa")
            .field("subject", &self.info.subject)
            .field("key", &"[secret key elided]")
            .finish()
    }
}

impl ImportedCa {
    /// The certificate as `ca::write_ca` takes it: the original DER, untouched.
    pub fn signed(&self) -> Signed {
        Signed {
            der: self.info.der.clone(),
            serial: self.info.serial.clone(),
            window: Window {
                not_before: self.info.not_before,
                not_after: self.info.not_after,
                clamped: false,
            },
            fingerprint: self.info.fingerprint.clone(),
        }
    }
}

/// Reads `cert_path` and `key_path` and checks that together they are a CA
/// certsmith can sign with at `now`. `key_pass` is asked for only if the key
/// file is encrypted.
pub fn load(
    cert_path: &Path,
    key_path: &Path,
    key_pass: &PassOptions,
    now: OffsetDateTime,
) -> Result<ImportedCa> {
    let cert_what = cert_path.display().to_string();
    let mut certs = certinfo::read_certs(cert_path)?;
    if certs.len() != 1 {
        return Err(Error::input(format!(
            "'{cert_what}' holds {} certificates; --import-cert takes the CA certificate alone",
            certs.len()
        ))
        .hint("split the file and pass only the CA's own certificate"));
    }
    let info = certs.remove(0);
    check_ca(&info, &cert_what, now)?;
    let key_what = key_path.display().to_string();
    let text = Zeroizing::new(crate::input::read_to_string(
        key_path,
        crate::input::Kind::Key,
    )?);
    let key = keys::load_private_key(&text, &key_what, &mut || {
        passphrase::for_existing_key(key_pass, &format!("'{key_what}'"))
    })?;
    if !keys::key_matches_spki(&key, &info.spki_der) {
        return Err(Error::input(format!(
            "the key in '{key_what}' does not belong to certificate '{cert_what}'"
        ))
        .hint("pass the private key that was used to make this CA certificate"));
    }
    let key_type = keys::key_type_of(&key)?;
    check_name_round_trips(&info, &key, &cert_what)?;
    Ok(ImportedCa {
        info,
        key,
        key_type,
    })
}

fn check_ca(info: &CertInfo, what: &str, now: OffsetDateTime) -> Result<()> {
    // The subject is shown by every command that names this CA, and no
    // subject certsmith makes carries one (`names::check_attr`).
    if info
        .subject
        .chars()
        .any(|c| c.is_control() || crate::error::reorders_text(c))
    {
        return Err(Error::input(format!(
            "the subject of '{what}' holds a control or bidi character: '{}'",
            crate::error::shown(&info.subject)
        ))
        .hint("certsmith imports only CAs whose subject shows as plain text"));
    }
    if !info.is_ca {
        return Err(Error::input(format!(
            "'{what}' is not a CA certificate (basicConstraints CA:TRUE is missing)"
        )));
    }
    if info.key_usage.is_empty() {
        // OpenSSL's -x509_strict rejects every chain through a CA without keyUsage.
        return Err(Error::input(format!(
            "CA certificate '{what}' has no keyUsage extension, so strict verifiers reject what it signs"
        ))
        .hint("re-issue it with: keyUsage = critical, keyCertSign, cRLSign"));
    }
    if !info.key_usage.contains(&"keyCertSign") {
        return Err(Error::input(format!(
            "CA certificate '{what}' may not sign certificates (keyUsage lacks keyCertSign)"
        )));
    }
    if info.version != 3 {
        return Err(Error::input(format!(
            "'{what}' is an X.509 v{} certificate; certsmith adopts only v3 CAs",
            info.version
        )));
    }
    if now > info.not_after {
        return Err(Error::input(format!(
            "CA certificate '{what}' expired on {}",
            crate::clock::rfc3339(info.not_after)
        )));
    }
    if now < info.not_before {
        return Err(Error::input(format!(
            "CA certificate '{what}' is not valid before {}",
            crate::clock::rfc3339(info.not_before)
        )));
    }
    Ok(())
}

/// Refuses a CA that may not sign CRLs (keyUsage lacks cRLSign), unless
/// `no_crl` says it is meant to publish none; with `no_crl`, refuses a CA
/// that can sign them, so the certificate stays the record of the choice.
pub fn check_crl_sign(info: &CertInfo, what: &str, no_crl: bool) -> Result<()> {
    let can = info.key_usage.contains(&"cRLSign");
    if !can && !no_crl {
        return Err(Error::input(format!(
            "CA certificate '{what}' may not sign CRLs (keyUsage lacks cRLSign), so `certsmith crl` could not publish its revocations"
        ))
        .hint("re-issue it with keyUsage = critical, keyCertSign, cRLSign, or pass --no-crl to adopt it as a CA that publishes no CRL"));
    }
    if can && no_crl {
        return Err(Error::input(format!(
            "--no-crl: CA certificate '{what}' may sign CRLs (cRLSign), and certsmith publishes them"
        ))
        .hint("leave out --no-crl"));
    }
    Ok(())
}

/// Certificates signed by this CA carry its subject as their issuer name;
/// verifiers compare the two byte for byte, so refuse a subject certsmith
/// would re-encode differently (repeated or multi-valued attributes).
fn check_name_round_trips(info: &CertInfo, key: &KeyPair, what: &str) -> Result<()> {
    let refuse = || {
        Error::input(format!(
            "certsmith cannot reproduce the subject of '{what}' ({}) byte for byte as an issuer name, so certificates it signed would not chain",
            info.subject
        ))
        .hint("repeated or multi-valued name attributes are not supported; keep issuing from this CA with the tool that made it")
    };
    let issuer = Issuer::from_ca_cert_der(&info.der.clone().into(), key).map_err(|_| refuse())?;
    let mut p = CertificateParams::default();
    p.serial_number = Some(SerialNumber::from_slice(&[1]));
    let probe = p
        .signed_by(key, &issuer)
        .map_err(|e| Error::failed(format!("cannot sign with the key of '{what}': {e}")))?;
    let probe = CertInfo::from_der(probe.der(), "probe")?;
    if probe.issuer_raw != info.subject_raw {
        return Err(refuse());
    }
    Ok(())
}

/// Whether `child` carries a valid signature by `parent` (itself when `None`).
pub fn signed_by(child: &CertInfo, parent: Option<&CertInfo>) -> bool {
    let Ok((_, c)) = X509Certificate::from_der(&child.der) else {
        return false;
    };
    match parent {
        None => c.verify_signature(None).is_ok(),
        Some(p) => {
            let Ok((_, p)) = X509Certificate::from_der(&p.der) else {
                return false;
            };
            child.issuer_raw == p.subject().as_raw()
                && c.verify_signature(Some(p.public_key())).is_ok()
        }
    }
}

/// The CA of this PKI whose key signed `child`, if there is one.
pub fn find_issuer(pki: &Pki, ledger: &Ledger, child: &CertInfo) -> Result<Option<String>> {
    for ca in ledger.cas()? {
        let (_, info) = pki.ca(ledger, &ca.cert.name)?;
        if signed_by(child, Some(&info)) {
            return Ok(Some(ca.cert.name));
        }
    }
    Ok(None)
}

/// Refuses a CA under `issuer` when a pathlen above forbids another CA level:
/// verifiers would reject everything it signs.
pub fn check_pathlen(pki: &Pki, ledger: &Ledger, issuer: &str) -> Result<()> {
    let chain = pki.ca_chain(ledger, issuer)?;
    if let Some((depth, limit)) = crate::ca::pathlen_exceeded(chain.iter().map(|(_, i)| i.pathlen))
    {
        return Err(Error::PathLen {
            ca: chain[depth].0.cert.name.clone(),
            pathlen: limit,
            levels: depth + 1,
            case: crate::error::PathLenCase::Import,
        });
    }
    Ok(())
}
