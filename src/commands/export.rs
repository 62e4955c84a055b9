//! `certsmith export <name> --format p12|k8s-secret|pem`: a leaf with its
//! key and chain for devices and clusters.

use std::path::{Path, PathBuf};

use certsmith::error::{Error, Result};
use certsmith::export::{self, Format};
use certsmith::passphrase::{self, Passphrase};
use certsmith::pki::Out;
use certsmith::store::{self, Existing};

use super::Ctx;
use crate::cli::ExportArgs;

pub fn run(ctx: &Ctx, a: ExportArgs) -> Result<()> {
    let format: Format = a.format.parse()?;
    let out = write(
        ctx,
        &a.name,
        format,
        a.out.as_deref(),
        a.legacy,
        &mut || p12_password(a.p12_passphrase_file.as_deref(), &a.name),
        a.force,
    )?;
    report(ctx, &a.name, format, a.legacy, &out);
    Ok(())
}

/// The PKCS#12 password: `--p12-passphrase-file`, else a prompt with
/// confirmation. Never a built-in default.
pub fn p12_password(file: Option<&Path>, name: &str) -> Result<Passphrase> {
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

/// Writes the export of `name` and returns its path. `p12_pass` is asked
/// only for `--format p12`, after everything else was checked.
pub fn write(
    ctx: &Ctx,
    name: &str,
    format: Format,
    out: Option<&Path>,
    legacy: bool,
    p12_pass: &mut dyn FnMut() -> Result<Passphrase>,
    force: bool,
) -> Result<PathBuf> {
    if legacy && format != Format::P12 {
        return Err(Error::input("--legacy applies to --format p12 only"));
    }
    let pki = &ctx.pki;
    let ledger = pki.read_ledger()?;
    let src = export::load(pki, &ledger, name)?;
    let dest = match out {
        // A bare file name means the current directory.
        Some(p) if p.parent().is_none_or(|d| d.as_os_str().is_empty()) => Path::new(".").join(p),
        Some(p) => p.to_path_buf(),
        None => pki
            .resolve_dir(&src.record.dir)
            .join(format.default_file(name)),
    };
    pki.check_out(&ledger, &dest, Out::File(name))?;
    let existing = if force {
        Existing::Replace
    } else {
        if std::fs::symlink_metadata(&dest).is_ok() {
            return Err(Error::input(format!("'{}' already exists", dest.display()))
                .hint("pass --force to replace it, or --out FILE"));
        }
        Existing::Refuse
    };
    let bytes = match format {
        Format::P12 => {
            src.require_key(format)?;
            let pass = p12_pass()?;
            export::p12(&src, &pass, legacy)?
        }
        Format::K8sSecret => zeroize::Zeroizing::new(export::k8s_secret(&src)?.as_bytes().to_vec()),
        Format::Pem => zeroize::Zeroizing::new(export::combined_pem(&src).as_bytes().to_vec()),
    };
    let root = if dest.starts_with(&pki.root) {
        pki.root.clone()
    } else {
        dest.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    // Its temporary file may be inside the PKI directory: held against
    // `doctor --repair`, which deletes the temporary files of dead commands.
    let _lock = certsmith::lock::shared(&pki.root)?;
    // Every export but a key-less PEM holds a private key: 0600 for all, to keep one rule.
    store::write_file(&root, &dest, &bytes, store::KEY_MODE, existing)
}

pub fn report(ctx: &Ctx, name: &str, format: Format, legacy: bool, out: &Path) {
    let json = serde_json::json!({
        "name": name,
        "format": format.to_string(),
        "legacy": legacy,
        "file": out,
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
