//! `certsmith init`: create the PKI directory and a self-signed root CA.

use certsmith::error::Result;
use certsmith::ledger::Kind;
use certsmith::ops::adopt::{AdoptRequest, AdoptedCa};
use certsmith::ops::init::NewCaRequest;
use certsmith::passphrase::PassOptions;

use super::Ctx;
use crate::cli::{CaArgs, InitArgs};

pub fn run(ctx: &Ctx, a: InitArgs) -> Result<()> {
    if let Some(req) = adopt_request(&a.name, Kind::Root, &a.ca)? {
        let adopted = certsmith::ops::adopt::adopt(&ctx.pki, &req)?;
        import_report(ctx, &adopted, None);
        return Ok(());
    }
    let created = certsmith::ops::init::init(&ctx.pki, &new_ca_request(&a.name, &a.ca)?)?;
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

/// The new CA `name` from the flags of `init` / `intermediate`.
pub fn new_ca_request(name: &str, a: &CaArgs) -> Result<NewCaRequest> {
    let ca = super::ca_request(a)?;
    let (pass, kdf) = super::new_key_options(&a.pass, &a.protect)?;
    Ok(NewCaRequest {
        name: name.to_string(),
        ca,
        key: super::key_type(a.key.as_deref())?,
        pass,
        kdf,
        store: super::key_store(&a.store, &a.pass)?,
        urls: super::url_change(&a.urls),
    })
}

/// `--import-cert` / `--import-key` of `init` and `intermediate`: the CA to
/// adopt as `name`, or `None` when no import was asked for.
pub fn adopt_request(name: &str, kind: Kind, a: &CaArgs) -> Result<Option<AdoptRequest>> {
    let (Some(cert), Some(key)) = (&a.import_cert, &a.import_key) else {
        return Ok(None);
    };
    let (pass, kdf) = super::new_key_options(&a.pass, &a.protect)?;
    Ok(Some(AdoptRequest {
        name: name.to_string(),
        kind,
        cert: cert.clone(),
        key: key.clone(),
        key_pass: PassOptions {
            file: a
                .import_passphrase_file
                .clone()
                .or(a.pass.passphrase_file.clone()),
            ..Default::default()
        },
        pass,
        kdf,
        no_crl: a.no_crl,
    }))
}

/// Human / JSON report of an imported CA.
pub fn import_report(ctx: &Ctx, i: &AdoptedCa, next: Option<String>) {
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
