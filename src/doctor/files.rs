//! The filesystem checks of `doctor`: permissions, symlinks, temporary
//! files left by an interrupted write, orphans, and CRL freshness.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use x509_parser::prelude::FromDer;

use super::{Options, Report, Severity, rel};
use crate::certinfo::CertInfo;
use crate::ledger::{CertRecord, Kind};
use crate::perms::{mode_of, open_to_others};
use crate::pki::Pki;
use crate::store::{DIR_MODE, KEY_MODE};
use time::{Duration, OffsetDateTime};

/// Every entry below `root`, symlinks not followed.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Whether a file holds a secret: private keys (and their backups), the
/// ledger, and the exports that carry a key (`combined.pem`,
/// `secret.yaml`, PKCS#12).
fn is_private(name: &str) -> bool {
    name.ends_with("key.pem")
        || name.contains("key.pem.old-")
        || name.starts_with("ledger.db")
        || name == crate::export::Format::Pem.default_file("")
        || name == crate::export::Format::K8sSecret.default_file("")
        || name.ends_with(".p12")
        || name.ends_with(".pfx")
}

/// The directories of a PKI directory that are certsmith's own: doctor
/// walks, and repairs, only these (and the files at the top), never a
/// directory of someone else's that happens to sit there.
const OWN_DIRS: [&str; 4] = ["cas", "certs", "bundles", "templates"];

/// The PKI directory, its top-level files and everything below its own
/// directories ([`OWN_DIRS`]), symlinks not followed.
fn own_entries(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    let mut top: Vec<_> = rd.flatten().collect();
    top.sort_by_key(|e| e.file_name());
    for e in top {
        let p = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            out.push(p);
        } else if OWN_DIRS.iter().any(|d| e.file_name() == *d) {
            out.push(p.clone());
            out.extend(walk(&p));
        }
    }
    out
}

/// Whether a file under `bundles/` holds a private key (`export --out`
/// can put one there): such a file needs 0600 like a key.
fn holds_key(p: &Path) -> bool {
    std::fs::read(p).is_ok_and(|b| {
        let t = String::from_utf8_lossy(&b);
        t.contains("PRIVATE KEY-----") || t.contains("tls.key:")
    })
}

/// Directories must be 0700 and private files 0600; symlinks are reported.
pub fn permissions(pki: &Pki, opts: &Options, report: &mut Report) {
    let bundles = pki.root.join("bundles");
    let entries = own_entries(&pki.root);
    for p in entries {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let shown = if p == pki.root {
            p.display().to_string()
        } else {
            rel(pki, &p)
        };
        let want = if meta.file_type().is_symlink() {
            report.problem(
                "permissions",
                shown.clone(),
                format!("'{shown}' is a symlink; certsmith does not write through symlinks in the PKI directory"),
            );
            continue;
        } else if meta.is_dir() {
            DIR_MODE
        } else if is_private(&name) || (p.starts_with(&bundles) && holds_key(&p)) {
            KEY_MODE
        } else {
            continue;
        };
        let Some(mode) = mode_of(&p) else { continue };
        if open_to_others(mode) {
            let severity = if opts.allow_insecure_perms {
                Severity::Warning
            } else {
                Severity::Problem
            };
            report.add(
                severity,
                "permissions",
                Some(shown.clone()),
                format!(
                    "'{shown}' is open to group or others (mode {mode:04o}, expected {want:04o})"
                ),
            );
            if opts.repair
                && std::fs::set_permissions(&p, std::fs::Permissions::from_mode(want)).is_ok()
            {
                report.repaired(format!("set mode {want:04o}"));
            }
        }
    }
}

/// Whether a path is a staged write: `.certsmith-*` (a file, or a whole
/// certificate directory staged by `batch`).
fn is_temp(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".certsmith-"))
}

/// `.certsmith-*` files and directories are staged writes that never got
/// renamed into place.
pub fn temp_files(pki: &Pki, opts: &Options, alone: bool, report: &mut Report) {
    let all = walk(&pki.root);
    for p in &all {
        // Inside a staged directory, the directory itself is the finding.
        let inside = p.strip_prefix(&pki.root).unwrap_or(p);
        if !is_temp(p) || inside.ancestors().skip(1).any(is_temp) {
            continue;
        }
        let p = p.clone();
        if !alone {
            report.add(
                Severity::Note,
                "temp-files",
                Some(rel(pki, &p)),
                format!(
                    "'{}' may be a write in progress by another certsmith process; not checked",
                    rel(pki, &p)
                ),
            );
            continue;
        }
        if let Some(dest) = crate::store::previous_of(&p).filter(|_| p.is_file()) {
            previous_copy(pki, &p, &dest, opts, report);
            continue;
        }
        let bootstrap = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".certsmith-bootstrap-"));
        let what = if bootstrap {
            "the staging area of an interrupted bootstrap (it may hold unencrypted CA keys)"
        } else {
            "a temporary file left by an interrupted command"
        };
        report.repairable(
            "temp-files",
            rel(pki, &p),
            format!("'{}' is {what}", rel(pki, &p)),
        );
        if !opts.repair {
            continue;
        }
        let removed = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if removed.is_ok() {
            report.repaired("removed it");
        }
    }
}

/// A copy of a replaced file kept by a write that was interrupted before it
/// settled (`.certsmith-prev-<file>.*`): put back when `<file>` is missing;
/// a key's copy is never deleted (it may be the only key that still opens),
/// any other is removed.
fn previous_copy(pki: &Pki, copy: &Path, dest: &Path, opts: &Options, report: &mut Report) {
    let (copy_rel, dest_rel) = (rel(pki, copy), rel(pki, dest));
    let is_key = dest
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with("key.pem"));
    if std::fs::symlink_metadata(dest).is_err() {
        report.repairable(
            "temp-files",
            copy_rel.clone(),
            format!("'{copy_rel}' is the previous '{dest_rel}', which is missing"),
        );
        if opts.repair && crate::store::rename_noreplace(copy, dest).is_ok() {
            report.repaired("put it back");
        }
    } else if is_key {
        report.problem(
            "temp-files",
            copy_rel.clone(),
            format!(
                "'{copy_rel}' is the previous '{dest_rel}', kept by an interrupted command (it opens with the previous passphrase); remove it once '{dest_rel}' is known to open"
            ),
        );
    } else {
        report.repairable(
            "temp-files",
            copy_rel.clone(),
            format!("'{copy_rel}' is the previous '{dest_rel}', left by an interrupted command"),
        );
        if opts.repair && std::fs::remove_file(copy).is_ok() {
            report.repaired("removed it");
        }
    }
}

/// Files a certificate or CA directory may hold besides backups (`*.old-*`).
const LEAF_FILES: &[&str] = &crate::layout::FILES;
const CA_FILES: &[&str] = &["ca.pem", "ca.key.pem", "crl.pem", "crl.der"];

/// Directories under `certs/` and `cas/` that no ledger record owns, and
/// unknown files inside the ones it does. Never repaired: they may be data
/// someone put there.
pub fn orphans(
    pki: &Pki,
    records: &[CertRecord],
    opts: &Options,
    alone: bool,
    report: &mut Report,
) {
    let leaf_dirs: HashSet<PathBuf> = records
        .iter()
        .filter(|r| r.kind == Kind::Leaf)
        .map(|r| pki.resolve_dir(&r.dir))
        .collect();
    let ca_dirs: HashSet<PathBuf> = records
        .iter()
        .filter(|r| r.kind != Kind::Leaf)
        .map(|r| pki.resolve_dir(&r.dir))
        .collect();
    for (top, known, allowed) in [
        ("certs", &leaf_dirs, LEAF_FILES),
        ("cas", &ca_dirs, CA_FILES),
    ] {
        let Ok(rd) = std::fs::read_dir(pki.root.join(top)) else {
            continue;
        };
        let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs {
            if is_temp(&d) {
                continue; // reported by the temp-files check
            }
            if !known.contains(&d) {
                let empty = std::fs::read_dir(&d).is_ok_and(|mut r| r.next().is_none());
                if empty && alone {
                    // What an interrupted write leaves once its files are settled; a running
                    // process may be about to write into it, hence `alone`.
                    report.repairable(
                        "orphans",
                        rel(pki, &d),
                        format!(
                            "'{}' is an empty directory no certificate owns",
                            rel(pki, &d)
                        ),
                    );
                    if opts.repair && std::fs::remove_dir(&d).is_ok() {
                        report.repaired("removed it");
                    }
                } else if d.is_dir() && !empty {
                    report.problem(
                        "orphans",
                        rel(pki, &d),
                        format!("'{}' belongs to no certificate in the ledger", rel(pki, &d)),
                    );
                }
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            // What `export` (every format) and `batch --format p12` write there.
            let exports: Vec<String> = d
                .file_name()
                .map(|f| crate::export::Format::default_files(&f.to_string_lossy()))
                .unwrap_or_default();
            for n in names {
                if allowed.contains(&n.as_str())
                    || (top == "certs" && exports.contains(&n))
                    || n.contains(".old-")
                    || n.starts_with(".certsmith-")
                    || (top == "cas" && n.starts_with(crate::layout::CROSS_SIGNED_PREFIX))
                {
                    continue;
                }
                let p = d.join(&n);
                report.problem(
                    "orphans",
                    rel(pki, &p),
                    format!("'{}' is not a file certsmith wrote", rel(pki, &p)),
                );
            }
        }
    }
}

/// A CA's CRL, when it has one: signed by the CA, not past nextUpdate,
/// and not close to it (a warning); present when the ledger recorded one
/// (`crl_number` > 0). `offline`: the CA's key is away, so the fix starts
/// with `key online`.
pub fn crl(
    pki: &Pki,
    ca: &str,
    cert: &CertInfo,
    (offline, crl_number): (bool, i64),
    opts: &Options,
    report: &mut Report,
) {
    let path = pki.crl_path(ca);
    let shown = rel(pki, &path);
    let online_fix = |ca: &str| {
        if offline {
            format!(
                "bring its key back (`certsmith key online {ca}`) and run `certsmith crl --ca {ca}`"
            )
        } else {
            format!("run `certsmith crl --ca {ca}`")
        }
    };
    let text = match crate::input::read_to_string(&path, crate::input::Kind::Crl) {
        Ok(text) => text,
        // No CRL yet is not a problem; a signed one gone, or one that cannot be read, is.
        Err(_) if std::fs::symlink_metadata(&path).is_err() => {
            if crl_number > 0 {
                let fix = online_fix(ca);
                report.problem_fixed_by(
                    "crl",
                    shown.clone(),
                    format!(
                        "CRL of CA '{ca}' is missing: the ledger records CRL #{crl_number} but '{shown}' is gone, so it cannot be published; {fix}"
                    ),
                    super::Fixer::Manual(fix),
                );
            }
            return;
        }
        Err(e) => {
            report.problem("crl", shown, format!("CRL of CA '{ca}': {e}"));
            return;
        }
    };
    let der = match ::pem::parse(&text) {
        Ok(p) if p.tag() == "X509 CRL" => p.into_contents(),
        _ => {
            report.problem(
                "crl",
                shown.clone(),
                format!("CRL of CA '{ca}': '{shown}' is not a PEM CRL"),
            );
            return;
        }
    };
    let Ok((_, crl)) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der)
    else {
        report.problem(
            "crl",
            shown.clone(),
            format!("CRL of CA '{ca}': '{shown}' is not a valid CRL"),
        );
        return;
    };
    let signed_by_ca = x509_parser::x509::SubjectPublicKeyInfo::from_der(&cert.spki_der)
        .ok()
        .is_some_and(|(_, spki)| crl.verify_signature(&spki).is_ok());
    if !signed_by_ca {
        report.problem(
            "crl",
            shown.clone(),
            format!("CRL of CA '{ca}': '{shown}' is not signed by the CA's key"),
        );
    }
    let Some(next) = crl.next_update().map(|t| t.to_datetime()) else {
        return;
    };
    // An expired CA gets no new CRL: its CRL going stale is no problem of its own.
    if cert.not_after <= opts.now {
        report.add(
            Severity::Note,
            "crl",
            Some(shown),
            format!(
                "CA '{ca}' expired on {}, so its CRL is no longer renewed; retire it (bundle without it)",
                crate::clock::rfc3339(cert.not_after)
            ),
        );
        return;
    }
    let fix = if next >= cert.not_after {
        // A new CRL would be shortened to the same notAfter.
        format!(
            "its CRLs cannot outlast the CA ({}): rotate the CA (a new CA, then retire '{ca}')",
            crate::clock::rfc3339(cert.not_after)
        )
    } else {
        online_fix(ca)
    };
    let when = crate::clock::rfc3339(next);
    if next < opts.now {
        report.problem_fixed_by(
            "crl",
            shown,
            format!(
                "CRL of CA '{ca}' is past its nextUpdate ({when}); verifiers will reject it; {fix}"
            ),
            super::Fixer::Manual(fix),
        );
    } else if next - opts.now < crl_warning_window(crl.last_update().to_datetime(), next) {
        report.add(
            Severity::Warning,
            "crl",
            Some(shown),
            format!(
                "CRL of CA '{ca}' reaches its nextUpdate in {} ({when}); {fix}",
                remaining_text(next - opts.now)
            ),
        );
    }
}

/// How long before nextUpdate doctor warns: a quarter of the CRL's own
/// interval, at most 30 days (a 7-day CRL: 42 hours, enough for a weekly
/// job that failed once; a root's 180-day CRL: 30 days to fetch its key
/// from the safe).
pub fn crl_warning_window(this_update: OffsetDateTime, next_update: OffsetDateTime) -> Duration {
    crate::crl::due_window(this_update, next_update)
}

/// `36 hours`, `12 days`.
fn remaining_text(d: Duration) -> String {
    if d < Duration::days(2) {
        format!("{} hours", d.whole_hours())
    } else {
        format!("{} days", d.whole_days())
    }
}
