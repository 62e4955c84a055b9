//! Adopting a CA made elsewhere (`init` / `intermediate` with
//! `--import-cert` and `--import-key`): the checks of [`crate::import`],
//! then the certificate and re-encrypted key written like any CA's.

use std::path::PathBuf;

use crate::ca::{self, CreatedCa, NewCa};
use crate::clock;
use crate::error::{Error, Result};
use crate::import;
use crate::ledger::Kind;
use crate::passphrase::{self, PassOptions};
use crate::pki::{Pki, validate_name};

use super::init::in_pki_dir;

/// A CA certificate and key to adopt as `name`.
#[derive(Clone, Debug)]
pub struct AdoptRequest {
    /// The CA's name in this PKI.
    pub name: String,
    /// Root or intermediate: what the certificate must be.
    pub kind: Kind,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// How the key file being imported is opened.
    pub key_pass: PassOptions,
    /// How the adopted key is stored.
    pub pass: PassOptions,
    pub kdf: crate::keys::Kdf,
    /// `--no-crl`: the CA need not be allowed to sign CRLs.
    pub no_crl: bool,
}

/// What an import wrote, and which CA of this PKI signed it (if any).
pub struct AdoptedCa {
    pub created: CreatedCa,
    pub issuer: Option<String>,
}

/// Adopts an existing CA. Creates the PKI directory if needed (an
/// intermediate whose root stays elsewhere may be the first CA of a PKI);
/// on failure a directory this call created is removed again.
pub fn adopt(pki: &Pki, req: &AdoptRequest) -> Result<AdoptedCa> {
    let name = req.name.as_str();
    validate_name("CA", name)?;
    let (cert, key) = (&req.cert, &req.key);
    let existed = pki.root.exists();
    let has_ledger = existed && pki.ledger_path().exists();
    let ledger = has_ledger.then(|| pki.open_ledger()).transpose()?;
    if let Some(l) = &ledger {
        ca::ensure_name_free(l, name)?;
    }
    let now = clock::now()?;
    let imported = import::load(cert, key, &req.key_pass, now)?;
    let what = cert.display();
    import::check_crl_sign(&imported.info, &what.to_string(), req.no_crl)?;
    let issuer = match req.kind {
        // It names itself as issuer, but its signature's parameters are
        // ones certsmith does not check (RSASSA-PSS whose MGF1 hash differs
        // from the message hash, say): say that, not "not self-signed".
        Kind::Root if imported.info.self_signed && !import::signed_by(&imported.info, None) => {
            return Err(Error::input(format!(
                "'{what}' names itself as its issuer, but certsmith cannot check its signature ({})",
                crate::error::shown(&imported.info.signature_algorithm)
            ))
            .hint("certsmith checks RSA (PKCS#1 v1.5, or RSASSA-PSS whose MGF1 hash is the message hash: SHA-256, SHA-384 or SHA-512), ECDSA and Ed25519 signatures; re-sign the root with such parameters (openssl: -sigopt rsa_padding_mode:pss -sigopt rsa_mgf1_md:sha256 with -sha256)"));
        }
        Kind::Root if !imported.info.self_signed || !import::signed_by(&imported.info, None) => {
            return Err(Error::input(format!(
                "'{what}' is not a self-signed root certificate"
            ))
            .hint(format!(
                "adopt it as an intermediate: certsmith intermediate {name} --import-cert {what} --import-key {}",
                key.display()
            )));
        }
        Kind::Root => None,
        _ if imported.info.self_signed => {
            return Err(Error::input(format!(
                "'{what}' is a self-signed root, not an intermediate"
            ))
            .hint(format!(
                "adopt it with: certsmith init --name {name} --import-cert {what} --import-key {}",
                key.display()
            )));
        }
        _ => match &ledger {
            Some(l) => import::find_issuer(pki, l, &imported.info)?,
            None => None,
        },
    };
    if let (Some(i), Some(l)) = (&issuer, &ledger) {
        import::check_pathlen(pki, l, i)?;
    }
    let pass = passphrase::for_new_key(&req.pass, &format!("CA '{name}'"))?;
    let created = in_pki_dir(pki, existed, ledger, |ledger| {
        let new = NewCa {
            name: name.to_string(),
            kind: req.kind,
            issuer: issuer.clone(),
            profile: "imported".into(),
            signed: imported.signed(),
            subject: imported.info.subject.clone(),
            pathlen: imported.info.pathlen,
            key: imported.key,
        };
        ca::write_ca(
            pki,
            ledger,
            &new,
            pass.as_ref(),
            req.kdf,
            now,
            &crate::ledger::no_check,
        )
    })?;
    Ok(AdoptedCa { created, issuer })
}
