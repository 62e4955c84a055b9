//! Re-encrypting a CA key in place (`certsmith key change-passphrase`),
//! atomically; also turns an unencrypted key into an encrypted one.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::keys::{self, Kdf};
use crate::passphrase::{self, PassOptions, Passphrase};
use crate::pki::Pki;
use crate::store::{self, Existing};

/// Which CA key to re-encrypt, and with what.
#[derive(Clone, Debug)]
pub struct ChangePassphraseRequest {
    pub ca: String,
    /// How the current key is opened.
    pub old: PassOptions,
    /// `--new-passphrase-file`; without it (and without `no_passphrase`)
    /// the new passphrase is asked on the terminal.
    pub new_file: Option<PathBuf>,
    /// `--no-passphrase`: store the key unencrypted.
    pub no_passphrase: bool,
    pub kdf: Kdf,
}

/// What `change_passphrase` did.
#[derive(Clone, Debug)]
pub struct PassphraseChanged {
    pub ca: String,
    pub file: PathBuf,
    pub was_encrypted: bool,
    /// The KDF of the new key file; `None` when it is stored unencrypted.
    pub kdf: Option<Kdf>,
}

/// Re-encrypts the key of CA `req.ca`. The new file must read back as the
/// same key before it is placed; on any failure the previous file stays.
pub fn change_passphrase(pki: &Pki, req: &ChangePassphraseRequest) -> Result<PassphraseChanged> {
    let ca = req.ca.as_str();
    let mut ledger = pki.open_ledger()?;
    let (rec, info) = pki.ca(&ledger, ca)?;
    if let crate::keystore::KeyRef::Pkcs11(uri) = &rec.key_ref {
        return Err(Error::input(format!(
            "the key of CA '{ca}' is held in PKCS#11 token '{}' and has no passphrase",
            crate::error::shown(&uri.token)
        ))
        .hint("the token's PIN guards it; change the PIN with the token's own tools"));
    }
    let path = pki.ca_key_path(ca);
    crate::perms::check_key_file(&path, pki.allow_insecure_perms)?;
    let what = path.display().to_string();
    let text = zeroize::Zeroizing::new(crate::input::read_to_string(
        &path,
        crate::input::Kind::Key,
    )?);
    let was_encrypted = keys::is_encrypted_pem(&text);
    let key = keys::load_private_key(&text, &what, &mut || {
        passphrase::for_existing_key(&req.old, &format!("CA '{ca}'"))
    })?;
    if !keys::key_matches_spki(&key, &info.spki_der) {
        return Err(Error::failed(format!(
            "the key in '{what}' does not belong to the certificate of CA '{ca}'"
        ))
        .hint("run `certsmith doctor`"));
    }
    let new = new_passphrase(req)?;
    if new.is_some() {
        crate::durability::refuse_protected_ca(&ledger, ca, "an encrypted key")?;
    }
    let pem = match &new {
        Some(p) => keys::to_encrypted_pem(&key, p, req.kdf)?,
        None => keys::to_pem(&key)?,
    };
    // The new file, fsynced, must read back as the same key before it is
    // placed; the previous one stays beside it (a hidden hard link that
    // doctor never deletes) until the ledger row is updated, and is put back
    // if that fails.
    let mut staged = store::Staged::new(&pki.root);
    staged.add(&path, pem.as_bytes(), store::KEY_MODE, Existing::Replace)?;
    staged.verify(|_, tmp| read_back(tmp, new.as_ref(), &info.spki_der, ca))?;
    let placed = staged.place()?;
    let outcome = ledger.set_key_encrypted(ca, new.is_some());
    placed.settle(outcome)?;
    Ok(PassphraseChanged {
        ca: ca.to_string(),
        file: path,
        was_encrypted,
        kdf: new.as_ref().map(|_| req.kdf),
    })
}

/// The new passphrase: `--new-passphrase-file`, else a prompt with
/// confirmation. `$CERTSMITH_PASSPHRASE` is deliberately not read here: it
/// holds the old passphrase.
fn new_passphrase(req: &ChangePassphraseRequest) -> Result<Option<Passphrase>> {
    let ca = &req.ca;
    if req.no_passphrase {
        if req.new_file.is_some() {
            return Err(Error::input(
                "--no-passphrase and --new-passphrase-file contradict each other",
            ));
        }
        return Ok(None);
    }
    if let Some(f) = &req.new_file {
        return passphrase::read_file(f).map(Some);
    }
    if !passphrase::can_prompt() {
        return Err(Error::input(format!(
            "the new passphrase for CA '{ca}' cannot be asked: there is no terminal"
        ))
        .hint(
            "pass --new-passphrase-file FILE (or --no-passphrase to store the key unencrypted)",
        ));
    }
    passphrase::prompt_new(&format!("New passphrase for the key of CA '{ca}'")).map(Some)
}

/// Reads the newly written key file back, opens it with the new passphrase
/// and checks it is still the key of CA `ca` (public key `spki`).
fn read_back(path: &Path, new: Option<&Passphrase>, spki: &[u8], ca: &str) -> Result<()> {
    store::fail_point("key-verify")?;
    let what = path.display().to_string();
    let text = zeroize::Zeroizing::new(store::read_to_string(path)?);
    let unreadable = |why: String| {
        Error::failed(format!(
            "the re-encrypted key of CA '{ca}' does not read back ({why}); the previous key file was kept"
        ))
    };
    let key = keys::load_private_key(&text, &what, &mut || {
        new.cloned()
            .ok_or_else(|| Error::failed("the new key file is encrypted but no passphrase was set"))
    })
    .map_err(|e| unreadable(e.to_string()))?;
    if !keys::key_matches_spki(&key, spki) {
        return Err(unreadable("it holds another public key".into()));
    }
    Ok(())
}
