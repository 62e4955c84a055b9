//! `certsmith prune --older-than 30d [--yes]`: removes the `*.old-<serial>`
//! files a renewal or `--force` re-issue kept aside, once they have been
//! aside longer than the given length. Without `--yes` it only lists them.
//! Only `<file certsmith writes>.old-<serial>` whose serial is a superseded
//! record of that directory in the ledger is ever removed; any other
//! `*.old-*` file (an operator's own backup, a CA key backup) is listed as
//! unknown and left alone.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::Duration;

use crate::error::{Error, Result};
use crate::ledger::{CertRecord, ListFilter};
use crate::pki::Pki;

/// How old a kept-aside file must be, and whether to remove it.
#[derive(Clone, Debug)]
pub struct PruneRequest {
    pub older_than: Duration,
    /// `--yes`: remove; otherwise only list.
    pub remove: bool,
}

/// One kept-aside file.
#[derive(Clone, Debug, Serialize)]
pub struct OldFile {
    pub path: PathBuf,
    /// The serial in its name: a superseded record of its directory.
    pub serial: String,
    /// Since when it has been aside (RFC 3339): when the certificate that
    /// replaced it was recorded.
    pub aside_since: String,
}

/// What `prune` found (and removed with `--yes`).
#[derive(Clone, Debug, Serialize)]
pub struct PruneReport {
    pub removed: bool,
    /// The cut-off: files aside since before this go (RFC 3339).
    pub aside_before: String,
    pub files: Vec<OldFile>,
    /// Kept-aside files younger than the cut-off.
    pub kept: usize,
    /// `*.old-*` files that are not a backup of a superseded record
    /// certsmith made: never removed.
    pub unknown: Vec<PathBuf>,
}

/// Finds the kept-aside files in every directory the ledger knows (the
/// default `certs/<name>/`, `--out` directories, `cas/<ca>/`) and, with
/// `req.remove`, removes those aside longer than `req.older_than`.
pub fn prune(pki: &Pki, req: &PruneRequest) -> Result<PruneReport> {
    if req.older_than <= Duration::ZERO {
        return Err(Error::input("--older-than must be a positive length"));
    }
    let ledger = pki.read_ledger()?;
    let _lock = crate::lock::shared(&pki.root)?;
    let now = crate::clock::now()?;
    let cutoff = now
        .checked_sub(req.older_than)
        .ok_or_else(|| Error::input("--older-than reaches before the start of time"))?;
    let records = ledger.list(&ListFilter {
        include_superseded: true,
        include_cas: true,
        ..ListFilter::default()
    })?;
    // When each record was set aside: when the next record of its name was made.
    let mut by_name: HashMap<&str, Vec<&CertRecord>> = HashMap::new();
    for r in &records {
        by_name.entry(&r.name).or_default().push(r);
    }
    let mut aside: HashMap<(PathBuf, String), i64> = HashMap::new();
    let mut dirs = BTreeSet::new();
    for recs in by_name.values_mut() {
        recs.sort_by_key(|r| r.id);
        for pair in recs.windows(2) {
            let dir = pki.resolve_dir(&pair[0].dir);
            aside.insert((dir, pair[0].serial.clone()), pair[1].created_at);
        }
        for r in recs.iter() {
            dirs.insert(pki.resolve_dir(&r.dir));
        }
    }
    let mut report = PruneReport {
        removed: req.remove,
        aside_before: crate::clock::rfc3339(cutoff),
        files: Vec::new(),
        kept: 0,
        unknown: Vec::new(),
    };
    for dir in &dirs {
        for (path, base, serial) in old_files(dir)? {
            let since = match aside.get(&(dir.clone(), serial.clone())) {
                Some(t) if written_by_certsmith(&base) => *t,
                _ => {
                    report.unknown.push(path);
                    continue;
                }
            };
            if since >= cutoff.unix_timestamp() {
                report.kept += 1;
                continue;
            }
            let at = time::OffsetDateTime::from_unix_timestamp(since)
                .map(crate::clock::rfc3339)
                .unwrap_or_default();
            report.files.push(OldFile {
                path,
                serial,
                aside_since: at,
            });
        }
    }
    if req.remove {
        for f in &report.files {
            std::fs::remove_file(&f.path)
                .map_err(|e| crate::store::io_err("cannot remove", &f.path, &e))?;
        }
        for dir in report
            .files
            .iter()
            .filter_map(|f| f.path.parent())
            .collect::<BTreeSet<_>>()
        {
            crate::store::sync_dir(dir)?;
        }
    }
    Ok(report)
}

/// Whether certsmith writes a file named `base` and keeps it aside as
/// `<base>.old-<serial>`: a certificate's files, a CA certificate, a
/// cross-certificate. Never a CA key (`ca.key.pem`).
fn written_by_certsmith(base: &str) -> bool {
    crate::layout::FILES.contains(&base)
        || base == "ca.pem"
        || (base.starts_with(crate::layout::CROSS_SIGNED_PREFIX) && base.ends_with(".pem"))
}

/// The `*.old-<suffix>` regular files in `dir`, with the name before
/// `.old-` and the suffix.
fn old_files(dir: &Path) -> Result<Vec<(PathBuf, String, String)>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(crate::store::io_err("cannot read", dir, &e)),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((base, suffix)) = name.rsplit_once(".old-") else {
            continue;
        };
        if !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        out.push((e.path(), base.to_string(), suffix.to_string()));
    }
    out.sort();
    Ok(out)
}
