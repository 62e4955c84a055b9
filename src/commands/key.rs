//! `certsmith key change-passphrase <ca>`: re-encrypt a CA key in place,
//! atomically; also turns an unencrypted key into an encrypted one.

use certsmith::error::{Error, Result};
use certsmith::keys;
use certsmith::ledger::db_err;
use certsmith::passphrase::{self, PassOptions, Passphrase};
use certsmith::store::{self, Existing};

use super::Ctx;
use crate::cli::{ChangePassphraseArgs, KeyCommand};

pub fn run(ctx: &Ctx, cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::ChangePassphrase(a) => change_passphrase(ctx, a),
    }
}

/// The new passphrase: `--new-passphrase-file`, else a prompt with
/// confirmation. `$CERTSMITH_PASSPHRASE` is deliberately not read here: it
/// holds the old passphrase.
fn new_passphrase(a: &ChangePassphraseArgs, ca: &str) -> Result<Option<Passphrase>> {
    if a.protect.no_passphrase {
        if a.new_passphrase_file.is_some() {
            return Err(Error::input(
                "--no-passphrase and --new-passphrase-file contradict each other",
            ));
        }
        return Ok(None);
    }
    if let Some(f) = &a.new_passphrase_file {
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

fn change_passphrase(ctx: &Ctx, a: ChangePassphraseArgs) -> Result<()> {
    let pki = &ctx.pki;
    let mut ledger = pki.open_ledger()?;
    let (_, info) = pki.ca(&ledger, &a.ca)?;
    let kdf: keys::Kdf = a.protect.kdf.parse()?;
    let path = pki.ca_key_path(&a.ca);
    certsmith::perms::check_key_file(&path, pki.allow_insecure_perms)?;
    let what = path.display().to_string();
    let text = zeroize::Zeroizing::new(certsmith::input::read_to_string(
        &path,
        certsmith::input::Kind::Key,
    )?);
    let was_encrypted = keys::is_encrypted_pem(&text);
    let old = PassOptions {
        file: a.pass.passphrase_file.clone(),
        ..Default::default()
    };
    let key = keys::load_private_key(&text, &what, &mut || {
        passphrase::for_existing_key(&old, &format!("CA '{}'", a.ca))
    })?;
    if !keys::key_matches_spki(&key, &info.spki_der) {
        return Err(Error::failed(format!(
            "the key in '{what}' does not belong to the certificate of CA '{}'",
            a.ca
        ))
        .hint("run `certsmith doctor`"));
    }
    let new = new_passphrase(&a, &a.ca)?;
    let pem = match &new {
        Some(p) => keys::to_encrypted_pem(&key, p, kdf)?,
        None => keys::to_pem(&key)?,
    };
    // The new file, fsynced, must read back as the same key before it is
    // placed; the previous one stays beside it (a hidden hard link that
    // doctor never deletes) until the ledger row is updated, and is put back
    // if that fails.
    let mut staged = store::Staged::new(&pki.root);
    staged.add(&path, pem.as_bytes(), store::KEY_MODE, Existing::Replace)?;
    staged.verify(|_, tmp| read_back(tmp, new.as_ref(), &info.spki_der, &a.ca))?;
    let placed = staged.place()?;
    let outcome = ledger
        .conn()
        .execute(
            "UPDATE cas SET encrypted = ?1 WHERE name = ?2",
            rusqlite::params![new.is_some() as i64, a.ca],
        )
        .map_err(db_err)
        .map(drop);
    placed.settle(outcome)?;
    let state = match (&new, kdf) {
        (None, _) => "unencrypted".to_string(),
        (Some(_), keys::Kdf::Scrypt) => "encrypted (PKCS#8 PBES2, scrypt, AES-256-CBC)".into(),
        (Some(_), keys::Kdf::Pbkdf2) => {
            "encrypted (PKCS#8 PBES2, PBKDF2-SHA256, AES-256-CBC)".into()
        }
    };
    let json = serde_json::json!({
        "ca": a.ca,
        "file": path,
        "encrypted": new.is_some(),
        "was_encrypted": was_encrypted,
        "kdf": new.as_ref().map(|_| match kdf { keys::Kdf::Scrypt => "scrypt", keys::Kdf::Pbkdf2 => "pbkdf2" }),
    });
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!("The key of CA '{}' is now {state}.", a.ca))
                .line(format!("  {}", path.display()));
            if new.is_none() {
                s.line("warning: the CA key is stored unencrypted (--no-passphrase)");
            }
            s
        },
        &json,
    );
    Ok(())
}

/// Reads the newly written key file back, opens it with the new passphrase
/// and checks it is still the key of CA `ca` (public key `spki`).
fn read_back(
    path: &std::path::Path,
    new: Option<&Passphrase>,
    spki: &[u8],
    ca: &str,
) -> Result<()> {
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
