//! `certsmith export <name> --format p12|k8s-secret|pem`: a leaf with its
//! key and chain for devices and clusters.

use std::path::Path;

use certsmith::error::{Error, Result};
use certsmith::export::Format;
use certsmith::ops::export::{ExportRequest, Exported};
use certsmith::passphrase::{self, Passphrase};

use super::Ctx;
use crate::cli::ExportArgs;

pub fn run(ctx: &Ctx, a: ExportArgs) -> Result<()> {
    let req = ExportRequest {
        name: a.name.clone(),
        format: a.format.parse()?,
        out: a.out.clone(),
        legacy: a.legacy,
        force: a.force,
    };
    let done = certsmith::ops::export::export(&ctx.pki, &req, &mut || {
        p12_password(a.p12_passphrase_file.as_deref(), &a.name)
    })?;
    report(ctx, &done);
    Ok(())
}

/// The PKCS#12 password: `--p12-passphrase-file`, else a prompt with
/// confirmation. Never a built-in default.
fn p12_password(file: Option<&Path>, name: &str) -> Result<Passphrase> {
    if let Some(f) = file {
        return passphrase::read_file(f);
    }
    if !passphrase::can_prompt() {
        return Err(Error::input(format!(
            "the PKCS#12 file of '{name}' needs a password and there is no terminal to ask for one"
        ))
        .hint("pass --p12-passphrase-file FILE"));
    }
    passphrase::prompt_new(&format!("Password for the PKCS#12 file of '{name}'"))
}

fn report(ctx: &Ctx, e: &Exported) {
    let (name, format, legacy, out) = (&e.name, e.format, e.legacy, &e.file);
    let json = serde_json::json!({
        "name": name,
        "format": format.to_string(),
        "legacy": legacy,
        "file": certsmith::json::path(out),
    });
    ctx.report(
        || {
            let what = match format {
                Format::P12 if legacy => "PKCS#12 (legacy 3DES / SHA-1)",
                Format::P12 => "PKCS#12 (AES-256 / HMAC-SHA256)",
                Format::K8sSecret => "Kubernetes Secret (kubernetes.io/tls)",
                Format::Pem => "PEM (key, certificate, chain)",
            };
            let next = match format {
                Format::P12 if legacy => {
                    format!("openssl pkcs12 -info -noout -legacy -in {}", out.display())
                }
                Format::P12 => format!("openssl pkcs12 -info -noout -in {}", out.display()),
                Format::K8sSecret => format!("kubectl apply -n NAMESPACE -f {}", out.display()),
                Format::Pem => format!("certsmith inspect {}", out.display()),
            };
            let mut s = super::Lines::new();
            s.line(format!("Exported '{name}' as {what}."))
                .line(format!("  {}", out.display()))
                .line(format!("Next: {next}"));
            s
        },
        &json,
    );
}
