//! `certsmith intermediate <name>`: create a CA signed by another CA of this PKI.

use certsmith::ca::{self, CaRequest, CreatedCa, NewCa, Signer};
use certsmith::certinfo::CertInfo;
use certsmith::clock;
use certsmith::error::{Error, Result};
use certsmith::keys::Kdf;
use certsmith::ledger::Kind;
use certsmith::passphrase::{self, PassOptions};
use certsmith::pki::validate_name;
use certsmith::profile::Profile;

use super::Ctx;
use crate::cli::IntermediateArgs;

pub fn run(ctx: &Ctx, a: IntermediateArgs) -> Result<()> {
    if let Some(imported) = super::init::import_ca(ctx, &a.name, Kind::Intermediate, &a.ca)? {
        super::init::import_report(ctx, &imported, None);
        return Ok(());
    }
    let req = super::ca_request(&a.ca)?;
    let (pass, kdf) = super::new_key_options(&a.ca.pass, &a.ca.protect)?;
    let issuer_pass = PassOptions {
        file: a
            .issuer_passphrase_file
            .clone()
            .or(a.ca.pass.passphrase_file.clone()),
        ..Default::default()
    };
    let created = create(
        ctx,
        &a.name,
        &a.issuer,
        &req,
        a.ca.key.as_deref(),
        &issuer_pass,
        &pass,
        kdf,
    )?;
    super::ca_report(
        ctx,
        &created,
        &format!(
            "certsmith{} issue device-001 --ca {}",
            super::pki_flag(ctx),
            a.name
        ),
    );
    Ok(())
}

/// Creates intermediate CA `name` signed by `issuer`.
#[allow(clippy::too_many_arguments)]
pub fn create(
    ctx: &Ctx,
    name: &str,
    issuer: &str,
    req: &CaRequest,
    key: Option<&str>,
    issuer_pass: &PassOptions,
    pass: &PassOptions,
    kdf: Kdf,
) -> Result<CreatedCa> {
    validate_name("CA", name)?;
    let pki = &ctx.pki;
    let mut ledger = pki.open_ledger()?;
    ca::ensure_name_free(&ledger, name)?;
    let profile = Profile::load(Some(&pki.root), "intermediate-ca")?;
    let key_type = super::key_type(key, profile.default_key)?;
    let signer = Signer::load(pki, &ledger, issuer, issuer_pass)?;
    let now = clock::now()?;
    let key = key_type.generate()?;
    let signed = ca::make_intermediate(req, &key, &profile, &signer, now)?;
    let pass = passphrase::for_new_key(pass, &format!("CA '{name}'"))?;
    let pathlen = CertInfo::from_der(&signed.der, "new CA")
        .map_err(|e| Error::failed(e.to_string()))?
        .pathlen;
    let new = NewCa {
        name: name.to_string(),
        kind: Kind::Intermediate,
        issuer: Some(signer.name.clone()),
        profile: profile.name.clone(),
        signed,
        subject: req.subject.to_string(),
        key,
        pathlen,
    };
    let alive = |c: &rusqlite::Connection| signer.check_alive_on(c, now);
    ca::write_ca(pki, &mut ledger, &new, pass.as_ref(), kdf, now, &alive)
}
