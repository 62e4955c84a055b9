//! Creating a root CA (`certsmith init`): the PKI directory, if needed, and
//! a self-signed root in it, all or nothing.

use crate::ca::{self, CaRequest, CreatedCa, NewCa};
use crate::clock;
use crate::error::Result;
use crate::keys::{Kdf, KeyType};
use crate::keystore::NewKeyStore;
use crate::ledger::{Kind, Ledger};
use crate::passphrase::{self, PassOptions};
use crate::pki::{Pki, validate_name};
use crate::profile::Profile;
use crate::store;

/// A new CA (root or intermediate) and how its key is kept.
#[derive(Clone, Debug)]
pub struct NewCaRequest {
    /// The CA's name in this PKI.
    pub name: String,
    pub ca: CaRequest,
    /// `--key`; default the profile's.
    pub key: Option<KeyType>,
    /// Where the new key's passphrase comes from (or `--no-passphrase`).
    pub pass: PassOptions,
    pub kdf: Kdf,
    /// Where the new key lives: a key file, or a PKCS#11 token.
    pub store: NewKeyStore,
    /// Where the certificates the new CA issues point for revocation data.
    pub urls: crate::ca_urls::UrlChange,
}

impl NewCaRequest {
    /// The passphrase of the new key: none for a token key, which the
    /// token's PIN guards.
    pub(crate) fn passphrase(&self, what: &str) -> Result<Option<passphrase::Passphrase>> {
        if self.store.in_token() {
            return Ok(None);
        }
        passphrase::for_new_key(&self.pass, what)
    }
}

/// `certsmith init`: creates the PKI directory if needed and root CA
/// `req.name` in it. On failure a directory this call created is removed
/// again.
pub fn init(pki: &Pki, req: &NewCaRequest) -> Result<CreatedCa> {
    validate_name("CA", &req.name)?;
    req.urls.check()?;
    pki.check_not_nested()?;
    let name = req.name.as_str();
    let existed = pki.root.exists();
    if existed {
        crate::perms::check_pki_dir(&pki.root, pki.allow_insecure_perms)?;
    }
    if existed && pki.ledger_path().exists() {
        ca::ensure_name_free(&pki.open_ledger()?, name)?;
    }
    let profile = Profile::load(existed.then_some(pki.root.as_path()), "root-ca")?;
    let key_type = req.key.unwrap_or(profile.default_key);
    let pass = req.passphrase(&format!("root CA '{name}'"))?;
    let now = clock::now()?;
    let key = req.store.make_key(key_type, req.key, name)?;
    if existed && pki.ledger_path().exists() {
        ca::ensure_key_unused(pki, &pki.read_ledger()?, &key)?;
    }
    let urls = req.urls.for_ca(name).applied_to(Default::default());
    let signed = match ca::make_root(&req.ca, &key, &profile, &urls, now) {
        Ok(s) => s,
        Err(e) => {
            key.discard();
            return Err(e);
        }
    };
    let new = NewCa {
        name: name.to_string(),
        kind: Kind::Root,
        issuer: None,
        profile: profile.name.clone(),
        signed,
        subject: req.ca.subject.to_string(),
        key,
        pathlen: req.ca.pathlen.or(profile.default_pathlen).map(u32::from),
    };
    let created = in_pki_dir(pki, existed, None, |ledger| {
        let created = ca::write_ca(
            pki,
            ledger,
            &new,
            pass.as_ref(),
            req.kdf,
            now,
            &crate::ledger::no_check,
        )?;
        req.urls.save(ledger, name)?;
        Ok(created)
    });
    if created.is_err() {
        new.key.discard();
    }
    created
}

/// Runs `write` on the PKI's ledger (`ledger`, else the one in the
/// directory, created with the directory if need be). When `write` fails and
/// the directory did not exist before (`existed`), it is removed again, but
/// only while its ledger holds no record at all: another `init` may have put
/// its root into it meanwhile.
pub(crate) fn in_pki_dir<T>(
    pki: &Pki,
    existed: bool,
    ledger: Option<Ledger>,
    write: impl FnOnce(&mut Ledger) -> Result<T>,
) -> Result<T> {
    let written = (|| {
        store::create_private_dir(&pki.root, &pki.root)?;
        let mut ledger = match ledger {
            Some(l) => l,
            None => pki.create_ledger()?,
        };
        write(&mut ledger)
    })();
    if written.is_err() && !existed && Ledger::is_empty_at(&pki.ledger_path()) {
        let _ = std::fs::remove_dir_all(&pki.root);
    }
    written
}
