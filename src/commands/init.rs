//! `certsmith init`: create the PKI directory and a self-signed root CA.

use certsmith::ca::{self, CaRequest, CreatedCa, NewCa};
use certsmith::error::{Error, Result};
use certsmith::import;
use certsmith::keys::Kdf;
use certsmith::ledger::{Kind, Ledger};
use certsmith::passphrase::{self, PassOptions};
use certsmith::pki::validate_name;
use certsmith::profile::Profile;
use certsmith::{clock, store};

use super::Ctx;
use crate::cli::{CaArgs, InitArgs};

pub fn run(ctx: &Ctx, a: InitArgs) -> Result<()> {
    if let Some(imported) = import_ca(ctx, &a.name, Kind::Root, &a.ca)? {
        import_report(ctx, &imported, None);
        return Ok(());
    }
    let req = super::ca_request(&a.ca)?;
    let (pass, kdf) = super::new_key_options(&a.ca.pass, &a.ca.protect)?;
    let created = create(ctx, &a.name, &req, a.ca.key.as_deref(), &pass, kdf)?;
    super::ca_report(
        ctx,
        &created,
        &format!(
            "certsmith{} intermediate issuing --cn \"Issuing CA\"",
            super::pki_flag(ctx)
        ),
    );
    Ok(())
}

/// Creates the PKI directory if needed and root CA `name` in it. On
/// failure a directory this call created is removed again.
pub fn create(
    ctx: &Ctx,
    name: &str,
    req: &CaRequest,
    key: Option<&str>,
    pass: &PassOptions,
    kdf: Kdf,
) -> Result<CreatedCa> {
    validate_name("CA", name)?;
    let pki = &ctx.pki;
    let existed = pki.root.exists();
    if existed {
        certsmith::perms::check_pki_dir(&pki.root, pki.allow_insecure_perms)?;
    }
    if existed && pki.ledger_path().exists() {
        ca::ensure_name_free(&pki.open_ledger()?, name)?;
    }
    let profile = Profile::load(existed.then_some(pki.root.as_path()), "root-ca")?;
    let key_type = super::key_type(key, profile.default_key)?;
    let pass = passphrase::for_new_key(pass, &format!("root CA '{name}'"))?;
    let now = clock::now()?;
    let key = key_type.generate()?;
    let signed = ca::make_root(req, &key, &profile, now)?;
    let created = (|| {
        store::create_private_dir(&pki.root, &pki.root)?;
        let mut ledger = if pki.ledger_path().exists() {
            Ledger::open(&pki.ledger_path())?
        } else {
            Ledger::create(&pki.ledger_path())?
        };
        let new = NewCa {
            name: name.to_string(),
            kind: Kind::Root,
            issuer: None,
            profile: profile.name.clone(),
            signed,
            subject: req.subject.to_string(),
            key,
            pathlen: req.pathlen.or(profile.default_pathlen).map(u32::from),
        };
        ca::write_ca(
            pki,
            &mut ledger,
            &new,
            pass.as_ref(),
            kdf,
            now,
            &certsmith::ledger::no_check,
        )
    })();
    // Another `init` may have put its root into the directory meanwhile:
    // remove the directory only while its ledger holds no record at all.
    if created.is_err() && !existed && ledger_is_empty(pki) {
        let _ = std::fs::remove_dir_all(&pki.root);
    }
    created
}

/// Whether the PKI's ledger is missing or holds no certificate (not even a
/// `pending` reservation of a concurrent process).
fn ledger_is_empty(pki: &certsmith::pki::Pki) -> bool {
    if !pki.ledger_path().exists() {
        return true;
    }
    // A ledger without the table (this process failed while creating it) is empty too.
    rusqlite::Connection::open(pki.ledger_path())
        .and_then(|c| {
            c.busy_timeout(std::time::Duration::from_secs(60))?;
            c.query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'certificates'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .and_then(|t| {
                if t == 0 {
                    Ok(0)
                } else {
                    c.query_row("SELECT COUNT(*) FROM certificates", [], |r| {
                        r.get::<_, i64>(0)
                    })
                }
            })
        })
        .map(|n| n == 0)
        .unwrap_or(false)
}

/// `--import-cert` / `--import-key` of `init` and `intermediate`: adopts an
/// existing CA as `name`. `None` when no import was asked for. Creates the
/// PKI directory if needed (an intermediate whose root stays elsewhere may
/// be the first CA of a PKI); on failure a directory this call created is
/// removed again.
pub fn import_ca(ctx: &Ctx, name: &str, kind: Kind, a: &CaArgs) -> Result<Option<ImportedCa>> {
    let (Some(cert), Some(key)) = (&a.import_cert, &a.import_key) else {
        return Ok(None);
    };
    validate_name("CA", name)?;
    let pki = &ctx.pki;
    let (new_pass, kdf) = super::new_key_options(&a.pass, &a.protect)?;
    let key_pass = PassOptions {
        file: a
            .import_passphrase_file
            .clone()
            .or(a.pass.passphrase_file.clone()),
        ..Default::default()
    };
    let existed = pki.root.exists();
    let has_ledger = existed && pki.ledger_path().exists();
    let ledger = has_ledger.then(|| pki.open_ledger()).transpose()?;
    if let Some(l) = &ledger {
        ca::ensure_name_free(l, name)?;
    }
    let now = clock::now()?;
    let imported = import::load(cert, key, &key_pass, now)?;
    let what = cert.display();
    import::check_crl_sign(&imported.info, &what.to_string(), a.no_crl)?;
    let issuer = match kind {
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
    let pass = passphrase::for_new_key(&new_pass, &format!("CA '{name}'"))?;
    let written = (|| {
        store::create_private_dir(&pki.root, &pki.root)?;
        let mut ledger = match ledger {
            Some(l) => l,
            None => Ledger::create(&pki.ledger_path())?,
        };
        let new = NewCa {
            name: name.to_string(),
            kind,
            issuer: issuer.clone(),
            profile: "imported".into(),
            signed: imported.signed(),
            subject: imported.info.subject.clone(),
            pathlen: imported.info.pathlen,
            key: imported.key,
        };
        ca::write_ca(
            pki,
            &mut ledger,
            &new,
            pass.as_ref(),
            kdf,
            now,
            &certsmith::ledger::no_check,
        )
    })();
    if written.is_err() && !existed && ledger_is_empty(pki) {
        let _ = std::fs::remove_dir_all(&pki.root);
    }
    Ok(Some(ImportedCa {
        created: written?,
        issuer,
    }))
}

/// What an import wrote, and which CA of this PKI signed it (if any).
pub struct ImportedCa {
    pub created: CreatedCa,
    pub issuer: Option<String>,
}

/// Human / JSON report of an imported CA.
pub fn import_report(ctx: &Ctx, i: &ImportedCa, next: Option<String>) {
    let ca = &i.created;
    let mut json = serde_json::to_value(ca).unwrap_or_default();
    json["imported"] = serde_json::json!(true);
    json["issuer"] = serde_json::json!(i.issuer);
    let p = super::pki_flag(ctx);
    let next = next.unwrap_or_else(|| format!("certsmith{p} issue device-001 --ca {}", ca.name));
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!(
                "Imported {} CA '{}' ({}, {}, valid until {}); the certificate is kept byte for byte.",
                ca.kind, ca.name, ca.subject, ca.key_type, ca.not_after
            ));
            if ca.kind != "root" {
                match &i.issuer {
                    Some(x) => s.line(format!("Its issuer is CA '{x}' of this PKI (signature checked).")),
                    None => s.line("Its issuer is outside this PKI; keep that root's certificate at hand for trust stores."),
                };
            }
            s.append(super::file_lines(&ca.files));
            if ca.encrypted {
                s.line("The key is stored re-encrypted as PKCS#8 (PBES2, AES-256-CBC).");
            } else {
                s.line("warning: the CA key is stored unencrypted (--no-passphrase)");
            }
            s.line(format!("Next: {next}"));
            s
        },
        &json,
    );
}
