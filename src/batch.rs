//! Batch issuance: many leaf certificates from one CA and profile, checked
//! completely before the first key is made, then made in parallel with
//! memory that does not grow with the number of certificates.
//!
//! Pipeline: one thread reads the manifest and sends requests through a
//! bounded channel to `jobs` workers; each worker makes keys and signs a
//! handful of requests, reserves their names in the ledger as `pending`
//! rows (one transaction), and only then writes each certificate's
//! directory (a temporary directory renamed into place, without fsync).
//! The calling thread collects the reserved rows and, per chunk, flushes
//! the filesystem (syncfs) and then marks the chunk `active` in one
//! transaction. So no file is ever written for a name the ledger does not
//! hold, a name another process took meanwhile is skipped (with
//! `--skip-existing`) instead of overwritten, and after a crash the last
//! chunk is `pending` rows that `doctor --repair` settles (complete files →
//! `active`, partial ones removed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;
use time::OffsetDateTime;

use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::leaf::{LeafKey, LeafRequest};
use crate::ledger::{CertRecord, Ledger, db_err, name_taken};
use crate::manifest::{Manifest, Row};
use crate::names::Subject;
use crate::pki::Pki;
use crate::profile::Profile;
use crate::store::{self, Existing, Staged, StagedDir};
use crate::validity::Validity;

/// Most rows recorded per ledger transaction (and per filesystem flush).
pub const CHUNK: usize = 16_384;
/// A chunk is also recorded once this much time has passed since the last
/// one: a filesystem flush costs ~0.1 s here, so a few per second at most.
const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Certificates written but not yet collected (bounds memory).
const IN_FLIGHT: usize = 4096;
/// Most certificates a worker signs and reserves in one ledger transaction.
const RESERVE_AT_ONCE: usize = 256;
/// Bad rows kept for the report; more are only counted.
const MAX_REPORTED: usize = 1000;

/// What every certificate of the batch shares.
pub struct Plan<'a> {
    pub pki: &'a Pki,
    pub signer: &'a Signer,
    pub profile: Profile,
    pub key_type: KeyType,
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// `--out DIR`: per-certificate directories go to `DIR/<name>/`.
    pub out: Option<PathBuf>,
    pub skip_existing: bool,
    pub now: OffsetDateTime,
}

/// The outcome of checking a manifest.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    pub rows: u64,
    pub to_issue: u64,
    /// Already in the ledger (with `--skip-existing`).
    pub skipped: u64,
    /// Files on disk without a ledger row, to be re-issued (with `--skip-existing`).
    pub unrecorded: u64,
    /// The validity was shortened to the issuer's notAfter (`--clamp`).
    pub clamped: bool,
    /// `<where>: <reason>` for the first bad rows.
    pub errors: Vec<String>,
    pub bad_lines: Vec<u64>,
    pub bad: u64,
}

/// The outcome of a batch run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    pub issued: u64,
    pub skipped: u64,
    pub elapsed_seconds: f64,
    pub certs_per_second: f64,
    pub ca: String,
    pub profile: String,
    pub key_type: String,
    pub out: PathBuf,
    pub clamped: bool,
}

enum Action {
    Issue(Box<LeafRequest>),
    Skip,
}

impl Plan<'_> {
    /// Directory of certificate `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        match &self.out {
            Some(o) => o.join(name),
            None => self.pki.cert_dir(name),
        }
    }

    /// Where the certificate directories go (the `certs/` of the PKI, or `--out`).
    pub fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| self.pki.root.join("certs"))
    }

    /// The directory below which no symlink is followed.
    fn write_root(&self) -> PathBuf {
        match &self.out {
            Some(o) if !o.starts_with(&self.pki.root) => o.clone(),
            _ => self.pki.root.clone(),
        }
    }

    fn request(&self, row: &Row) -> Result<LeafRequest> {
        let subject = match &row.cn {
            Some(cn) => Subject::cn(cn),
            None => self.profile.subject_for(&row.name)?,
        };
        subject.to_dn()?;
        let req = LeafRequest {
            name: row.name.clone(),
            profile: self.profile.clone(),
            subject,
            sans: row.sans.clone(),
            validity: self.validity,
            clamp: self.clamp,
        };
        req.check(self.signer)?;
        Ok(req)
    }

    /// Decides what to do with one row, given the ledger.
    fn classify(&self, ledger: &mut Ledger, row: &Row) -> Result<Action> {
        match ledger_state(ledger, &row.name)? {
            Some(state) if state == "pending" => return Err(name_taken(&row.name, true)),
            Some(_) if self.skip_existing => return Ok(Action::Skip),
            Some(_) => return Err(name_taken(&row.name, false)),
            None => {}
        }
        Ok(Action::Issue(Box::new(self.request(row)?)))
    }

    /// Checks every row before anything is made: names, duplicates, the
    /// ledger, SANs against the profile and the CA's name constraints, the
    /// validity against the issuer, files already on disk.
    pub fn check(&self, ledger: &mut Ledger, manifest: &Manifest) -> Result<Checked> {
        let v = self.validity.unwrap_or(self.profile.default_validity);
        let window = self.signer.window(
            v,
            self.now,
            Some((self.profile.max_validity, &self.profile.name)),
            self.clamp,
        )?;
        let mut c = Checked {
            clamped: window.clamped,
            ..Checked::default()
        };
        let mut seen: HashMap<String, u64> = HashMap::new();
        let ca_names: std::collections::HashSet<String> =
            ledger.cas()?.into_iter().map(|ca| ca.cert.name).collect();
        let bad = |c: &mut Checked, line: u64, reason: String| {
            c.bad += 1;
            if c.errors.len() < MAX_REPORTED {
                c.errors
                    .push(format!("{}: {reason}", manifest.row_label(line)));
                c.bad_lines.push(line);
            }
        };
        for row in manifest.rows()? {
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    if let Some(fatal) = e.fatal {
                        return Err(fatal);
                    }
                    c.rows += 1;
                    bad(&mut c, e.line, e.reason);
                    continue;
                }
            };
            c.rows += 1;
            if manifest.may_repeat_names() {
                if let Some(first) = seen.get(&row.name) {
                    let why = format!("name '{}' is repeated (first on line {first})", row.name);
                    bad(&mut c, row.line, why);
                    continue;
                }
                seen.insert(row.name.clone(), row.line);
            }
            if ca_names.contains(&row.name) {
                bad(
                    &mut c,
                    row.line,
                    crate::leaf::ca_name_taken(&row.name).to_string(),
                );
                continue;
            }
            match self.classify(ledger, &row) {
                Ok(Action::Skip) => c.skipped += 1,
                Ok(Action::Issue(_)) => {
                    let dir = self.dir(&row.name);
                    let unrecorded =
                        dir.is_dir() && crate::layout::FILES.iter().any(|f| dir.join(f).exists());
                    if unrecorded && !self.skip_existing {
                        let why = format!(
                            "files for '{}' already exist in '{}' but the ledger has no such certificate",
                            row.name,
                            dir.display()
                        );
                        bad(&mut c, row.line, why);
                        continue;
                    }
                    c.unrecorded += unrecorded as u64;
                    c.to_issue += 1;
                }
                Err(e) => bad(&mut c, row.line, e.to_string()),
            }
        }
        Ok(c)
    }

    /// Issues every row that `check` accepted. `progress` is called with
    /// the number of certificates written so far.
    pub fn issue(
        &self,
        ledger: &mut Ledger,
        manifest: &Manifest,
        jobs: usize,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Summary> {
        let start = Instant::now();
        let out = self.out_dir();
        let root = self.write_root();
        store::create_private_dir(&root, &out)?;
        let chain: String = self
            .signer
            .chain
            .iter()
            .filter(|c| !c.self_signed)
            .map(|c| c.pem())
            .collect();
        let stop = AtomicBool::new(false);
        let skipped = AtomicU64::new(0);
        let jobs = jobs.max(1);
        let (job_tx, job_rx) = sync_channel::<Box<LeafRequest>>(jobs * 64);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = sync_channel::<Result<i64>>(IN_FLIGHT);
        let mut first_err: Option<Error> = None;
        let mut issued = 0u64;
        std::thread::scope(|s| {
            let (stop, skipped) = (&stop, &skipped);
            let tx = done_tx.clone();
            s.spawn(move || {
                if let Err(e) = self.produce(manifest, &job_tx, stop, skipped) {
                    stop.store(true, Ordering::Relaxed);
                    let _ = tx.send(Err(e));
                }
            });
            for _ in 0..jobs {
                let (rx, tx, chain, root) = (Arc::clone(&job_rx), done_tx.clone(), &chain, &root);
                s.spawn(move || {
                    if let Err(e) = self.work(&rx, &tx, stop, skipped, chain, root) {
                        stop.store(true, Ordering::Relaxed);
                        let _ = tx.send(Err(e));
                    }
                });
            }
            drop(done_tx);
            drop(job_rx);
            let mut chunk: Vec<i64> = Vec::new();
            let mut last_flush = Instant::now();
            let mut record = |chunk: &mut Vec<i64>| -> Result<()> {
                if chunk.is_empty() {
                    return Ok(());
                }
                store::sync_filesystem(&out)?;
                store::crash_point("batch-written");
                ledger.activate(chunk)?;
                issued += chunk.len() as u64;
                chunk.clear();
                Ok(())
            };
            let mut written = 0u64;
            for r in done_rx.iter() {
                match r {
                    Ok(id) => {
                        chunk.push(id);
                        written += 1;
                        progress(written);
                        let due = chunk.len() >= CHUNK || last_flush.elapsed() >= FLUSH_EVERY;
                        if due {
                            last_flush = Instant::now();
                        }
                        if due && let Err(e) = record(&mut chunk) {
                            stop.store(true, Ordering::Relaxed);
                            first_err.get_or_insert(e);
                            chunk.clear();
                        }
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        first_err.get_or_insert(e);
                    }
                }
            }
            // Files written before a failure are still recorded.
            if let Err(e) = record(&mut chunk) {
                first_err.get_or_insert(e);
            }
        });
        if let Some(e) = first_err {
            return Err(resumable(e, issued));
        }
        let elapsed = start.elapsed().max(Duration::from_micros(1)).as_secs_f64();
        Ok(Summary {
            issued,
            skipped: skipped.load(Ordering::Relaxed),
            elapsed_seconds: elapsed,
            certs_per_second: issued as f64 / elapsed,
            ca: self.signer.name.clone(),
            profile: self.profile.name.clone(),
            key_type: self.key_type.to_string(),
            out,
            clamped: false,
        })
    }

    /// Reads the manifest again and feeds the workers.
    fn produce(
        &self,
        manifest: &Manifest,
        jobs: &SyncSender<Box<LeafRequest>>,
        stop: &AtomicBool,
        skipped: &AtomicU64,
    ) -> Result<()> {
        // A connection of its own: rusqlite connections stay on one thread.
        let mut ledger = Ledger::open(&self.pki.ledger_path())?;
        for row in manifest.rows()? {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let changed = |line: u64, why: String| {
                Error::input(format!(
                    "{} changed while the batch ran: {why}",
                    manifest.row_label(line)
                ))
            };
            let row = row.map_err(|e| changed(e.line, e.reason))?;
            match self
                .classify(&mut ledger, &row)
                .map_err(|e| changed(row.line, e.to_string()))?
            {
                Action::Skip => {
                    skipped.fetch_add(1, Ordering::Relaxed);
                }
                Action::Issue(req) => {
                    if jobs.send(req).is_err() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// One worker: takes up to [`RESERVE_AT_ONCE`] requests, makes and
    /// signs them, reserves their names (`pending`), writes their files and
    /// sends each written row's id. A name taken meanwhile is skipped with
    /// `--skip-existing`; rows whose files could not be written are released.
    fn work(
        &self,
        rx: &Mutex<Receiver<Box<LeafRequest>>>,
        tx: &SyncSender<Result<i64>>,
        stop: &AtomicBool,
        skipped: &AtomicU64,
        chain: &str,
        root: &Path,
    ) -> Result<()> {
        // A connection of its own: rusqlite connections stay on one thread.
        let mut ledger = Ledger::open(&self.pki.ledger_path())?;
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let reqs = match rx.lock() {
                Ok(rx) => {
                    let Ok(first) = rx.recv() else { return Ok(()) };
                    let mut reqs = vec![first];
                    while reqs.len() < RESERVE_AT_ONCE {
                        match rx.try_recv() {
                            Ok(r) => reqs.push(r),
                            Err(_) => break,
                        }
                    }
                    reqs
                }
                Err(_) => return Ok(()),
            };
            let made = reqs
                .into_iter()
                .map(|r| self.make(*r, chain))
                .collect::<Result<Vec<_>>>()?;
            store::pause_point("batch-signed");
            let recs: Vec<CertRecord> = made.iter().map(|m| m.record.clone()).collect();
            let alive = |c: &rusqlite::Connection| self.signer.check_alive_on(c, self.now);
            // A refusal reserves nothing of this chunk; its signed certificates are dropped.
            let ids = ledger.reserve_many(&recs, self.skip_existing, &alive)?;
            let mut todo: Vec<(Made, i64)> = Vec::with_capacity(made.len());
            for (m, id) in made.into_iter().zip(ids) {
                match id {
                    Some(id) => todo.push((m, id)),
                    None => {
                        skipped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            for (i, (m, id)) in todo.iter().enumerate() {
                let written = store::fail_point("batch-write")
                    .and_then(|()| self.write(m, chain, &self.dir(&m.record.name), root));
                if let Err(e) = written {
                    let unwritten: Vec<i64> = todo[i..].iter().map(|(_, id)| *id).collect();
                    return Err(match ledger.release(&unwritten) {
                        Ok(()) => e,
                        Err(r) => store::also(e, &r),
                    });
                }
                if tx.send(Ok(*id)).is_err() {
                    // The collector is gone; the rows stay pending for doctor.
                    return Ok(());
                }
            }
        }
    }

    /// Makes a key and signs one certificate, in memory.
    fn make(&self, req: LeafRequest, chain: &str) -> Result<Made> {
        let key = self.key_type.generate()?;
        let key_pem = keys::to_pem(&key)?;
        let dir = self.dir(&req.name);
        let leaf = req.sign_leaf(self.signer, LeafKey::Held(key), self.key_type, self.now)?;
        let cert = leaf.signed.pem();
        let fullchain = format!("{cert}{chain}");
        let record = leaf.record(self.pki, self.signer, &dir);
        Ok(Made {
            record,
            key_pem,
            cert,
            fullchain,
        })
    }

    /// Writes one certificate's directory.
    fn write(&self, m: &Made, chain: &str, dir: &Path, root: &Path) -> Result<()> {
        let files = [
            (crate::layout::KEY, m.key_pem.as_bytes(), store::KEY_MODE),
            (crate::layout::CERT, m.cert.as_bytes(), store::PUBLIC_MODE),
            (crate::layout::CHAIN, chain.as_bytes(), store::PUBLIC_MODE),
            (
                crate::layout::FULLCHAIN,
                m.fullchain.as_bytes(),
                store::PUBLIC_MODE,
            ),
        ];
        // The usual case: a new directory, appearing whole with one rename.
        let fresh = StagedDir::new(dir)?;
        for (file, bytes, mode) in files {
            fresh.add(file, bytes, mode)?;
        }
        if !fresh.commit()? {
            // The directory exists. Without --skip-existing, `check` made sure
            // none of these files is there; with it, what is there has no
            // ledger row and is kept aside as *.old-unrecorded, not lost.
            let existing = if self.skip_existing {
                Existing::Backup("unrecorded".into())
            } else {
                Existing::Refuse
            };
            let mut staged = Staged::deferred_sync(root);
            for (file, bytes, mode) in files {
                staged.add(&dir.join(file), bytes, mode, existing.clone())?;
            }
            staged.commit()?;
        }
        Ok(())
    }
}

/// One signed certificate waiting for its name to be reserved.
struct Made {
    record: CertRecord,
    key_pem: zeroize::Zeroizing<String>,
    cert: String,
    fullchain: String,
}

/// A batch failure with the way to finish it: certificates already written
/// are recorded, so the same batch with `--skip-existing` issues the rest.
fn resumable(e: Error, issued: u64) -> Error {
    let hint = format!(
        "{issued} certificates were issued and recorded; once the cause is fixed, run `certsmith doctor --repair` (it settles certificates this run left pending), then the same batch again with --skip-existing to issue the rest"
    );
    e.hint(hint)
}

/// The state of the current certificate called `name`, if any (indexed lookup).
fn ledger_state(ledger: &mut Ledger, name: &str) -> Result<Option<String>> {
    ledger
        .conn()
        .prepare_cached("SELECT state FROM certificates WHERE name = ?1 AND state != 'superseded'")
        .and_then(|mut st| st.query_row([name], |r| r.get(0)).optional())
        .map_err(db_err)
}
