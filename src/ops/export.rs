//! Exporting a leaf with its key and chain (`certsmith export`): PKCS#12,
//! a Kubernetes Secret or one PEM file, for devices and clusters.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::export::{self, Format};
use crate::passphrase::Passphrase;
use crate::pki::{Out, Pki};
use crate::store::{self, Existing};

/// Which certificate to export, how, and where.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub name: String,
    pub format: Format,
    /// `--out`; default a file in the certificate's directory.
    pub out: Option<PathBuf>,
    /// `--legacy`: PKCS#12 with 3DES / SHA-1, for old importers.
    pub legacy: bool,
    /// Replace an existing file.
    pub force: bool,
}

/// What `export` wrote.
#[derive(Clone, Debug)]
pub struct Exported {
    pub name: String,
    pub format: Format,
    pub legacy: bool,
    pub file: PathBuf,
}

/// Writes the export of `req.name`. `p12_pass` is asked only for
/// `--format p12`, after everything else was checked.
pub fn export(
    pki: &Pki,
    req: &ExportRequest,
    p12_pass: &mut dyn FnMut() -> Result<Passphrase>,
) -> Result<Exported> {
    let (name, format) = (req.name.as_str(), req.format);
    if req.legacy && format != Format::P12 {
        return Err(Error::input("--legacy applies to --format p12 only"));
    }
    let ledger = pki.read_ledger()?;
    let src = export::load(pki, &ledger, name)?;
    let dest = match &req.out {
        // A bare file name means the current directory.
        Some(p) if p.parent().is_none_or(|d| d.as_os_str().is_empty()) => Path::new(".").join(p),
        Some(p) => p.to_path_buf(),
        None => pki
            .resolve_dir(&src.record.dir)
            .join(format.default_file(name)),
    };
    pki.check_out(&ledger, &dest, Out::File(name))?;
    let existing = if req.force {
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
            export::p12(&src, &pass, req.legacy)?
        }
        Format::K8sSecret => {
            let secret = export::k8s_name_of(&ledger, name)?;
            zeroize::Zeroizing::new(export::k8s_secret(&src, &secret)?.as_bytes().to_vec())
        }
        Format::Pem => zeroize::Zeroizing::new(export::combined_pem(&src).as_bytes().to_vec()),
    };
    let root = if dest.starts_with(&pki.root) {
        pki.root.clone()
    } else {
        dest.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    // Its temporary file may be inside the PKI directory: held against
    // `doctor --repair`, which deletes the temporary files of dead commands.
    let _lock = crate::lock::shared(&pki.root)?;
    // Every export but a key-less PEM holds a private key: 0600 for all, to keep one rule.
    let file = store::write_file(&root, &dest, &bytes, store::KEY_MODE, existing)?;
    Ok(Exported {
        name: name.to_string(),
        format,
        legacy: req.legacy,
        file,
    })
}
