//! A leaf's directory: which files it holds, and reading an issued leaf's
//! certificate and key back, checked against its ledger record.

use std::path::{Path, PathBuf};

use rcgen::KeyPair;
use zeroize::Zeroizing;

use crate::certinfo::{self, CertInfo};
use crate::error::{Error, Result};
use crate::keys;
use crate::ledger::CertRecord;
use crate::pki::Pki;

/// The leaf's private key (only when certsmith made it).
pub const KEY: &str = "key.pem";
/// The leaf certificate.
pub const CERT: &str = "cert.pem";
/// The issuing CAs, leaf and root excluded.
pub const CHAIN: &str = "chain.pem";
/// The certificate followed by `chain.pem`.
pub const FULLCHAIN: &str = "fullchain.pem";
/// Every file of a leaf's directory.
pub const FILES: [&str; 4] = [KEY, CERT, CHAIN, FULLCHAIN];

/// The file of a cross-certificate (`ca cross-sign <ca> --by <by>`) in
/// the new root's directory `cas/<ca>/`.
pub fn cross_signed_file(by: &str) -> String {
    format!("{CROSS_SIGNED_PREFIX}{by}.pem")
}

/// What every cross-certificate file's name starts with.
pub const CROSS_SIGNED_PREFIX: &str = "cross-signed-by-";

/// The directory of issued leaf `rec` and its certificate, which must be
/// the one the ledger recorded.
pub fn read_cert(pki: &Pki, rec: &CertRecord) -> Result<(PathBuf, CertInfo)> {
    if let Some(archive) = rec.dir.strip_prefix(crate::archive::LEDGER_PREFIX) {
        let into = match archive {
            "-" => "the archive written to stdout".to_string(),
            a => format!("archive '{}'", crate::error::shown(a)),
        };
        return Err(Error::input(format!(
            "certificate '{}' was issued into {into}; certsmith holds no files for it",
            crate::error::shown(&rec.name)
        ))
        .hint("its files are on the device; issue it again to get new ones (certsmith issue NAME --force)"));
    }
    let dir = pki.resolve_dir(&rec.dir);
    let path = dir.join(CERT);
    let cert = certinfo::read_certs(&path)?.remove(0);
    let cert = recorded(cert, &path, &rec.fingerprint)?;
    Ok((dir, cert))
}

/// `info`, read from `path`, if its fingerprint is the one the ledger
/// recorded; the one refusal of a file changed behind the ledger's back.
pub fn recorded(info: CertInfo, path: &Path, fingerprint: &str) -> Result<CertInfo> {
    if info.fingerprint != fingerprint {
        return Err(Error::failed(format!(
            "'{}' does not match the ledger (fingerprint {fingerprint} expected)",
            path.display(),
        ))
        .hint("run `certsmith doctor`"));
    }
    Ok(info)
}

/// The key of leaf `name` in `dir`, which must belong to `cert`.
/// certsmith writes leaf keys unencrypted; an encrypted one is refused
/// with `encrypted` saying what cannot be done with it.
pub fn read_key(dir: &Path, name: &str, cert: &CertInfo, encrypted: &str) -> Result<KeyPair> {
    let path = dir.join(KEY);
    let what = path.display().to_string();
    let text = Zeroizing::new(crate::input::read_to_string(
        &path,
        crate::input::Kind::Key,
    )?);
    let key = keys::load_private_key(&text, &what, &mut || {
        Err(Error::input(format!("'{what}' is encrypted; {encrypted}")))
    })?;
    if !keys::key_matches_spki(&key, &cert.spki_der) {
        return Err(Error::failed(format!(
            "the key in '{what}' does not belong to certificate '{name}'"
        ))
        .hint("run `certsmith doctor`"));
    }
    Ok(key)
}
