//! `certsmith key change-passphrase <ca>`: re-encrypt a CA key in place,
//! atomically; also turns an unencrypted key into an encrypted one.

use certsmith::error::Result;
use certsmith::keys::Kdf;
use certsmith::ops::change_passphrase::ChangePassphraseRequest;

use super::Ctx;
use crate::cli::{ChangePassphraseArgs, KeyCommand};

pub fn run(ctx: &Ctx, cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::ChangePassphrase(a) => change_passphrase(ctx, a),
        KeyCommand::Offline(a) => set_offline(ctx, &a.ca, true),
        KeyCommand::Online(a) => set_offline(ctx, &a.ca, false),
    }
}

/// `key offline` / `key online`.
fn set_offline(ctx: &Ctx, ca: &str, offline: bool) -> Result<()> {
    let mut ledger = ctx.pki.open_ledger()?;
    let r = certsmith::keystore::set_offline(&ctx.pki, &mut ledger, ca, offline)?;
    ctx.report(
        || {
            let mut s = super::Lines::new();
            if offline {
                s.line(format!(
                    "CA '{ca}' is offline: it signs nothing, and `certsmith crl` skips it, until `certsmith key online {ca}`."
                ));
            } else {
                s.line(format!("CA '{ca}' is online again (its key: {}).", r.key));
            }
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}

fn change_passphrase(ctx: &Ctx, a: ChangePassphraseArgs) -> Result<()> {
    let req = ChangePassphraseRequest {
        ca: a.ca.clone(),
        old: super::pass_options(&a.pass),
        new_file: a.new_passphrase_file.clone(),
        no_passphrase: a.protect.no_passphrase,
        kdf: a.protect.kdf.parse()?,
    };
    let done = certsmith::ops::change_passphrase::change_passphrase(&ctx.pki, &req)?;
    let state = match done.kdf {
        None => "unencrypted".to_string(),
        Some(Kdf::Scrypt) => "encrypted (PKCS#8 PBES2, scrypt, AES-256-CBC)".into(),
        Some(Kdf::Pbkdf2) => "encrypted (PKCS#8 PBES2, PBKDF2-SHA256, AES-256-CBC)".into(),
    };
    let json = serde_json::json!({
        "ca": done.ca,
        "file": done.file,
        "encrypted": done.kdf.is_some(),
        "was_encrypted": done.was_encrypted,
        "kdf": done.kdf.map(|k| match k { Kdf::Scrypt => "scrypt", Kdf::Pbkdf2 => "pbkdf2" }),
    });
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!("The key of CA '{}' is now {state}.", done.ca))
                .line(format!("  {}", done.file.display()));
            if done.kdf.is_none() {
                s.line("warning: the CA key is stored unencrypted (--no-passphrase)");
            }
            s
        },
        &json,
    );
    Ok(())
}
