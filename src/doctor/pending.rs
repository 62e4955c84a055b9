//! Reconciling `pending` ledger rows: a certsmith process reserves a name
//! (a `pending` row) before it renames its files into place and marks the
//! row `active` after. A process killed in between leaves a `pending` row;
//! once no certsmith process holds the PKI open, `doctor --repair` makes
//! the row `active` when all its files are in place and match it, and
//! otherwise removes the row and the partial files it had written. A row
//! of another host is never judged by this host's files: signed, it is
//! kept as issued; never signed, it is abandoned.

use super::{Options, Report, Severity, expected_files, first_cert, rel};
use crate::certinfo::CertInfo;
use crate::error::Result;
use crate::ledger::lease::Holder;
use crate::ledger::{CertRecord, Kind, Ledger};
use crate::pki::Pki;
use std::path::{Path, PathBuf};

/// Finds `pending` rows and, when `alone` and repairing, settles each.
pub fn reconcile(
    pki: &Pki,
    ledger: &mut Ledger,
    opts: &Options,
    alone: bool,
    report: &mut Report,
) -> Result<()> {
    let pending = ledger.pending()?;
    let mut archives = Archives::default();
    for row in pending {
        let rec = row.record;
        let what = format!("'{}' (serial {})", rec.name, rec.serial);
        // Settled only once its owner is provably gone: a process of this
        // host that no longer runs or an expired lease; a row recorded
        // before leases, only when no certsmith process has the PKI open.
        let now = opts.now.unix_timestamp();
        match crate::ledger::lease::holder(row.owner.as_deref(), row.lease_until, now) {
            Holder::Gone => {}
            Holder::Unknown if alone => {}
            Holder::Elsewhere { host, until } => {
                report.add(
                    Severity::Note,
                    "pending",
                    None,
                    format!(
                        "{what} is being written by a certsmith process on host '{}' (its lease runs until {}); not checked",
                        crate::error::shown(&host),
                        crate::clock::rfc3339(
                            time::OffsetDateTime::from_unix_timestamp(until)
                                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
                        )
                    ),
                );
                continue;
            }
            Holder::Running | Holder::Unknown => {
                report.add(
                    Severity::Note,
                    "pending",
                    None,
                    format!("{what} is being written by another certsmith process; not checked"),
                );
                continue;
            }
        }
        if let Some(host) = crate::ledger::lease::other_host(row.owner.as_deref())
            && ledger.shared()
        {
            settle_elsewhere(ledger, opts, &rec, &what, &host, report)?;
            continue;
        }
        if crate::archive::is_archived(&rec.dir) {
            settle_archived(ledger, opts, &rec, &what, &mut archives, report)?;
            continue;
        }
        let (cert_path, wanted) = expected_files(pki, ledger, &rec);
        let cert = first_cert(&cert_path).filter(|c| c.fingerprint == rec.fingerprint);
        let cert_matches = cert.is_some();
        let complete = cert.as_ref().is_some_and(|c| {
            wanted.iter().all(|f| f.exists())
                && (rec.kind != Kind::Leaf || leaf_is_new(pki, &rec, c))
        });
        if complete {
            report.repairable(
                "pending",
                rel(pki, &cert_path),
                format!(
                    "{what} was written completely but never marked active (interrupted command)"
                ),
            );
            if opts.repair {
                // The files must be durable before the ledger relies on them.
                for d in dirs_of(&wanted) {
                    crate::store::sync_dir(&d)?;
                }
                for f in &wanted {
                    std::fs::File::open(f)
                        .and_then(|f| f.sync_all())
                        .map_err(|e| crate::store::io_err("cannot flush", f, &e))?;
                }
                ledger.settle_active(rec.id)?;
                report.repaired("marked it active");
            }
            continue;
        }
        report.repairable(
            "pending",
            None,
            format!("{what} was reserved but its files were never completely written (interrupted command)"),
        );
        if opts.repair {
            let restored = put_back(ledger, pki, &rec)?;
            let rest: Vec<_> = wanted
                .iter()
                .filter(|f| !restored.contains(f))
                .cloned()
                .collect();
            // In a re-issue, a file with no backup may still be the previous
            // one (the write stopped before it): only a provably new one goes.
            let rest: Vec<_> = match (&cert, replaces(ledger, &rec.name)?) {
                (Some(c), true) => rest.into_iter().filter(|f| file_is_new(f, c)).collect(),
                (_, _) => rest,
            };
            let removed = remove_partial(&rest, &cert_path, cert_matches);
            drop_row(ledger, &rec)?;
            let mut msg = "removed the reservation".to_string();
            if !removed.is_empty() {
                let list: Vec<String> = removed.iter().map(|p| rel(pki, p)).collect();
                msg.push_str(&format!(" and its partial files {}", list.join(", ")));
            }
            if !restored.is_empty() {
                let list: Vec<String> = restored.iter().map(|p| rel(pki, p)).collect();
                msg.push_str(&format!(
                    ", and put back the previous files {}",
                    list.join(", ")
                ));
            }
            report.repaired(msg);
        }
    }
    Ok(())
}

/// Settles a dead `pending` row of another host: its files (or archive)
/// are on that host, never here, so this host cannot judge them. A row
/// whose certificate was signed (its DER is recorded) is kept as issued,
/// active and revocable; only a row never signed is abandoned (its name
/// freed). No file of this host is touched.
fn settle_elsewhere(
    ledger: &mut Ledger,
    opts: &Options,
    rec: &CertRecord,
    what: &str,
    host: &str,
    report: &mut Report,
) -> Result<()> {
    let host = crate::error::shown(host);
    if ledger.cert_der(rec.id)?.is_some() {
        report.repairable(
            "pending",
            None,
            format!(
                "{what} was signed by a certsmith process on host '{host}' that stopped before marking it active"
            ),
        );
        if opts.repair {
            ledger.settle_active(rec.id)?;
            report.repaired(format!(
                "marked it issued: its files are on host '{host}': check them there, or revoke it"
            ));
        }
        return Ok(());
    }
    report.repairable(
        "pending",
        None,
        format!(
            "{what} was reserved by a certsmith process on host '{host}' that stopped before signing it"
        ),
    );
    if opts.repair {
        drop_row(ledger, rec)?;
        report.repaired(format!(
            "removed the reservation (no certificate was signed); any partial files are on host '{host}'"
        ));
    }
    Ok(())
}

/// The devices each archive holds completely (read once per doctor run),
/// and the archives already flushed by this run.
#[derive(Default)]
struct Archives {
    /// `None` when the archive is missing or unreadable.
    read: std::collections::HashMap<
        PathBuf,
        Option<std::collections::HashMap<String, crate::archive::Held>>,
    >,
    flushed: std::collections::HashSet<PathBuf>,
}

/// Settles a `pending` row of an interrupted `batch --archive`: the
/// certificate was signed and may be in the archive, so the row is never
/// dropped. When the archive holds the device completely with this very
/// certificate, the row becomes active (after the archive is flushed);
/// otherwise it is revoked (cessation of operation) so that a certificate
/// in a cut-off entry reaches the CRL, and its name is free for a rerun.
fn settle_archived(
    ledger: &mut Ledger,
    opts: &Options,
    rec: &CertRecord,
    what: &str,
    archives: &mut Archives,
    report: &mut Report,
) -> Result<()> {
    let path = crate::archive::path_of(&rec.dir);
    let shown_archive = match &path {
        Some(p) => format!(
            "archive '{}'",
            crate::error::shown(&p.display().to_string())
        ),
        None => "the archive written to stdout".to_string(),
    };
    let held = match &path {
        Some(p) => {
            if !archives.read.contains_key(p) {
                // Missing or unreadable is not "incomplete": the archive may
                // only have moved, and a revocation cannot be taken back.
                let devices = p
                    .is_file()
                    .then(|| crate::archive::held_devices(p).ok())
                    .flatten();
                archives.read.insert(p.clone(), devices);
            }
            match &archives.read[p] {
                Some(devices) => devices
                    .get(&rec.name)
                    .is_some_and(|h| h.complete(&rec.fingerprint, rec.has_key)),
                None if opts.archive_lost => false,
                None => {
                    report.problem_fixed_by(
                        "pending",
                        None,
                        format!(
                            "{what}: {shown_archive} not found (or unreadable); the row stays pending (an interrupted batch signed it for that archive)"
                        ),
                        super::Fixer::Manual(format!(
                            "put {shown_archive} back at that path, or run `certsmith doctor --repair --archive-lost` to revoke its pending certificates"
                        )),
                    );
                    return Ok(());
                }
            }
        }
        None => false,
    };
    if held {
        report.repairable(
            "pending",
            None,
            format!("{what} is complete in {shown_archive} but was never marked active (interrupted batch)"),
        );
        if opts.repair {
            if let Some(p) = path.filter(|p| !archives.flushed.contains(p)) {
                std::fs::File::open(&p)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| crate::store::io_err("cannot flush", &p, &e))?;
                archives.flushed.insert(p);
            }
            ledger.settle_active(rec.id)?;
            report.repaired(format!(
                "marked it active: its files are in {shown_archive}"
            ));
        }
        return Ok(());
    }
    report.repairable(
        "pending",
        None,
        format!(
            "{what} was signed for {shown_archive} but is not complete in it (interrupted batch); the certificate may be in a partial entry"
        ),
    );
    if opts.repair {
        let reason = archive_revocation(rec.has_key);
        ledger.settle_revoked(rec.id, opts.now.unix_timestamp(), reason)?;
        report.repaired(format!(
            "revoked it ({reason}) so the next CRL lists it; a rerun with --skip-existing issues the name again"
        ));
    }
    Ok(())
}

/// Why `doctor --repair` revokes a certificate an archive does not hold
/// completely (or a lost archive held): the archive held the device's
/// private key, out of certsmith's hands, so key-compromise; a device
/// without one (a CSR's or a PKCS#12's key is not in a key.pem) ceases.
fn archive_revocation(has_key: bool) -> &'static str {
    if has_key {
        "key-compromise"
    } else {
        "cessation-of-operation"
    }
}

/// Puts back the files an interrupted `--force` re-issue had moved aside
/// (`<file>.old-<serial of the record it replaced>`): such a backup can only
/// come from that write, so it replaces whatever the write left in its
/// place. Backups named `.old-unrecorded` (no record was replaced) are put
/// back only where the original is missing. Returns the restored paths.
fn put_back(ledger: &mut Ledger, pki: &Pki, rec: &CertRecord) -> Result<Vec<std::path::PathBuf>> {
    if rec.kind != crate::ledger::Kind::Leaf {
        return Ok(Vec::new());
    }
    let replaced = ledger.last_superseded_serial(&rec.name)?;
    let only_if_missing = replaced.is_none();
    let suffix = replaced.unwrap_or_else(|| "unrecorded".into());
    let dir = pki.resolve_dir(&rec.dir);
    let mut restored = Vec::new();
    for name in crate::layout::FILES {
        let f = dir.join(name);
        let old = dir.join(format!("{name}.old-{suffix}"));
        if !old.is_file() || (only_if_missing && std::fs::symlink_metadata(&f).is_ok()) {
            continue;
        }
        std::fs::rename(&old, &f).map_err(|e| crate::store::io_err("cannot put back", &old, &e))?;
        restored.push(f);
    }
    if !restored.is_empty() {
        crate::store::sync_dir(&dir)?;
    }
    Ok(restored)
}

/// Removes the files an interrupted write had already renamed into place:
/// only when its certificate file is its own or was never written (a
/// different certificate there means the files are someone else's).
fn remove_partial(
    wanted: &[std::path::PathBuf],
    cert_path: &std::path::Path,
    cert_matches: bool,
) -> Vec<std::path::PathBuf> {
    if cert_path.exists() && !cert_matches {
        return Vec::new();
    }
    wanted
        .iter()
        .filter(|f| f.exists() && std::fs::remove_file(f).is_ok())
        .cloned()
        .collect()
}

/// Deletes a dead reservation and brings back the record it superseded
/// (an interrupted `--force` re-issue); the file checks that follow tell
/// whether that record's files are still in place.
fn drop_row(ledger: &mut Ledger, rec: &CertRecord) -> Result<()> {
    ledger.settle_dropped(rec.id, &rec.name)
}

/// Whether every file of leaf `rec` is the one its write placed: the key
/// belongs to the certificate `cert`, fullchain.pem is `cert` followed by
/// chain.pem. A write killed part-way leaves earlier files beside the
/// previous ones.
fn leaf_is_new(pki: &Pki, rec: &CertRecord, cert: &CertInfo) -> bool {
    let dir = pki.resolve_dir(&rec.dir);
    let key_ok = !rec.has_key || file_is_new(&dir.join(crate::layout::KEY), cert);
    let chain = crate::certinfo::read_certs(&dir.join(crate::layout::CHAIN));
    let full = crate::certinfo::read_certs(&dir.join(crate::layout::FULLCHAIN));
    let chain_ok = match (chain, full) {
        (Ok(chain), Ok(full)) => {
            full.len() == chain.len() + 1
                && full[0].der == cert.der
                && full[1..].iter().zip(&chain).all(|(a, b)| a.der == b.der)
        }
        _ => false,
    };
    key_ok && chain_ok
}

/// Whether `path` (key.pem, cert.pem or fullchain.pem of a leaf) was
/// written for `cert`: the key opens without a passphrase and belongs to it,
/// or the file starts with it. chain.pem cannot tell and counts as not new.
fn file_is_new(path: &Path, cert: &CertInfo) -> bool {
    match path.file_name().and_then(|n| n.to_str()) {
        Some(crate::layout::KEY) => crate::store::read_to_string(path).is_ok_and(|text| {
            let text = zeroize::Zeroizing::new(text);
            let mut no_pass = || Err(crate::error::Error::input("a leaf key has no passphrase"));
            crate::keys::load_private_key(&text, crate::layout::KEY, &mut no_pass)
                .is_ok_and(|k| crate::keys::key_matches_spki(&k, &cert.spki_der))
        }),
        Some(crate::layout::CERT | crate::layout::FULLCHAIN) => {
            first_cert(path).is_some_and(|c| c.der == cert.der)
        }
        _ => false,
    }
}

/// Whether a superseded record of `name` exists (the pending row re-issues it).
fn replaces(ledger: &mut Ledger, name: &str) -> Result<bool> {
    Ok(ledger.last_superseded_serial(name)?.is_some())
}

/// The directories holding `files`, once each.
fn dirs_of(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in files.iter().filter_map(|f| f.parent()) {
        if !dirs.iter().any(|x| x == d) {
            dirs.push(d.to_path_buf());
        }
    }
    dirs
}
