//! `certsmith init`: create the PKI directory and a self-signed root CA.

use certsmith::ca::{self, CaRequest, CreatedCa, NewCa};
use certsmith::error::{Error, Result};
use certsmith::keys::Kdf;
use certsmith::ledger::{Kind, Ledger};
use certsmith::passphrase::{self, PassOptions};
use certsmith::pki::validate_name;
use certsmith::profile::Profile;
use certsmith::{clock, store};

use super::Ctx;
use crate::cli::InitArgs;

pub fn run(ctx: &Ctx, a: InitArgs) -> Result<()> {
    if a.ca.import_cert.is_some() {
        return Err(Error::input("--import-cert is not available in this build"));
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
        ca::write_ca(pki, &mut ledger, &new, pass.as_ref(), kdf, now)
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
