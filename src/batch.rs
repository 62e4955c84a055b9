//! Batch issuance: many leaf certificates from one CA and profile, checked
//! completely before the first key is made, then made in parallel with
//! memory that does not grow with the number of certificates.
//!
//! Pipeline: one thread reads the manifest and sends rows through a
//! bounded channel to `jobs` workers; each worker makes keys and signs a
//! handful of rows, reserves their names in the ledger as `pending` rows
//! (one transaction), and only then writes each certificate's directory (a
//! temporary directory renamed into place, without fsync). The calling
//! thread collects the reserved rows and, per chunk, flushes the
//! filesystem (syncfs) and then marks the chunk `active` in one
//! transaction. So no file is ever written for a name the ledger does not
//! hold, a name another process took meanwhile is skipped (with
//! `--skip-existing`) instead of overwritten, and after a crash the last
//! chunk is `pending` rows that `doctor --repair` settles (complete files →
//! `active`, partial ones removed).
//!
//! With `--archive` the workers hand each device's files to the calling
//! thread, which appends them to one tar ([`crate::archive`]) and, per
//! chunk, makes the archive durable before it marks the chunk `active`.
//! In directories, `chain.pem` (the same for every device of the CA) is
//! written once and hard-linked into each further device directory (a copy
//! where linking fails). A row with a CSR (`--csr-dir`, or the manifest's
//! `csr` column) is planned exactly as `certsmith sign` plans it
//! ([`crate::ops::sign::plan`]), in parallel, and gets no key file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::archive::{self, Archive};
use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::leaf::{LeafKey, LeafRequest, SignedLeaf};
use crate::ledger::{CertRecord, Ledger, name_taken};
use crate::manifest::{Manifest, Row};
use crate::names::Subject;
use crate::passphrase::Passphrase;
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
/// Most rows checked in parallel at once (a CSR row is read, parsed and its
/// self-signature verified).
const CHECK_AT_ONCE: usize = 1024;

/// What each device gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceFormat {
    /// `key.pem`, `cert.pem`, `chain.pem`, `fullchain.pem`.
    #[default]
    Pem,
    /// `<name>.p12` (key, certificate, chain, root; `--p12-passphrase-file`)
    /// beside `cert.pem`, `chain.pem` and `fullchain.pem`; no `key.pem`.
    P12,
}

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
    /// `--archive`: one tar instead of directories.
    pub archive: Option<archive::Target>,
    pub format: DeviceFormat,
    /// The PKCS#12 password for [`DeviceFormat::P12`].
    pub p12_pass: Option<Passphrase>,
    /// Threads that check and issue.
    pub jobs: usize,
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
    /// Where the keys came from: the key type, `keys from the CSRs`, or both.
    pub keys: String,
    pub out: PathBuf,
    pub clamped: bool,
}

enum Action {
    Issue,
    Skip,
}

/// One certificate to sign: its leaf, and the CSR's key when it has one.
struct Job {
    leaf: LeafRequest,
    csr_key: Option<(rcgen::SubjectPublicKeyInfo, KeyType)>,
}

/// One file of a device, for its directory or its archive entry.
struct DeviceFile {
    name: String,
    bytes: Zeroizing<Vec<u8>>,
    mode: u32,
    /// `chain.pem`: the same for every device, hard-linked in directories.
    shared: bool,
}

/// One signed certificate waiting for its name to be reserved.
struct Made {
    record: CertRecord,
    files: Vec<DeviceFile>,
}

/// What a worker hands the collector: a reserved row, its files written
/// (directories) or to be appended (archive).
struct Done {
    id: i64,
    device: Option<Box<Made>>,
}

/// The `chain.pem` this batch wrote last, hard-linked into the next device
/// directories.
#[derive(Default)]
struct SharedChain(Mutex<Option<PathBuf>>);

impl SharedChain {
    fn source(&self) -> Option<PathBuf> {
        self.0.lock().ok().and_then(|s| s.clone())
    }

    fn set(&self, p: PathBuf) {
        if let Ok(mut s) = self.0.lock() {
            *s = Some(p);
        }
    }
}

/// Rows per ledger chunk: [`CHUNK`], or `$CERTSMITH_TEST_BATCH_CHUNK` in
/// test builds (so a test sees several chunks without 16,384 rows each).
fn chunk_size() -> usize {
    #[cfg(feature = "test-hooks")]
    if let Some(n) = std::env::var("CERTSMITH_TEST_BATCH_CHUNK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n;
    }
    CHUNK
}

impl Plan<'_> {
    /// Directory of certificate `name`.
    pub fn dir(&self, name: &str) -> PathBuf {
        match &self.out {
            Some(o) => o.join(name),
            None => self.pki.cert_dir(name),
        }
    }

    /// Where the certificates go: the `certs/` of the PKI, `--out`, or the archive.
    pub fn out_dir(&self) -> PathBuf {
        match &self.archive {
            Some(archive::Target::File(p)) => p.clone(),
            Some(archive::Target::Stdout) => PathBuf::from("-"),
            None => self
                .out
                .clone()
                .unwrap_or_else(|| self.pki.root.join("certs")),
        }
    }

    /// The directory below which no symlink is followed.
    fn write_root(&self) -> PathBuf {
        match &self.out {
            Some(o) if !o.starts_with(&self.pki.root) => o.clone(),
            _ => self.pki.root.clone(),
        }
    }

    /// The certificate a row asks for, checked against the profile and the
    /// issuer: a CSR row planned exactly as `certsmith sign` plans it.
    fn job(&self, row: &Row) -> Result<Job> {
        let Some(path) = &row.csr else {
            return Ok(Job {
                leaf: self.request(row)?,
                csr_key: None,
            });
        };
        if self.format == DeviceFormat::P12 {
            return Err(Error::input(
                "a CSR-signed certificate has no key for a PKCS#12 file; use --format pem",
            ));
        }
        let req = crate::ops::sign::SignRequest {
            csr: crate::input::read(path, crate::input::Kind::Csr)?,
            csr_label: path.display().to_string(),
            name: Some(row.name.clone()),
            leaf: crate::ops::LeafOptions {
                profile: self.profile.name.clone(),
                subject: row.cn.as_deref().map(Subject::cn),
                sans: row.sans.clone(),
                validity: self.validity,
                clamp: self.clamp,
                ..Default::default()
            },
        };
        let plan = crate::ops::sign::plan(&req, self.profile.clone())?;
        plan.leaf.check(self.signer)?;
        Ok(Job {
            leaf: plan.leaf,
            csr_key: Some((plan.csr.public_key, plan.csr.key_type)),
        })
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

    /// Decides what to do with one row, given the ledger (the certificate
    /// itself is checked by [`Plan::job`]).
    fn classify(&self, ledger: &mut Ledger, row: &Row) -> Result<Action> {
        match ledger_state(ledger, &row.name)? {
            Some(state) if state == "pending" => Err(name_taken(&row.name, true)),
            Some(_) if self.skip_existing => Ok(Action::Skip),
            Some(_) => Err(name_taken(&row.name, false)),
            None => Ok(Action::Issue),
        }
    }

    /// Checks every row before anything is made: names, duplicates, the
    /// ledger, SANs against the profile and the CA's name constraints, each
    /// CSR's self-signature, the validity against the issuer, files already
    /// on disk.
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
        let mut seen: HashMap<String, (u64, String)> = HashMap::new();
        let mut to_check: Vec<Row> = Vec::new();
        let ca_names: std::collections::HashSet<String> =
            ledger.cas()?.into_iter().map(|ca| ca.cert.name).collect();
        let bad = |c: &mut Checked, line: u64, reason: String| {
            c.bad += 1;
            if c.errors.len() < MAX_REPORTED {
                // A reason that already names the row (a CSR file) is not prefixed again.
                let label = manifest.row_label(line);
                c.errors.push(if reason.contains(&label) {
                    reason
                } else {
                    format!("{label}: {reason}")
                });
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
                // Keyed ignoring case: names that differ only in case would
                // collide on case-insensitive filesystems and extractors.
                let key = row.name.to_lowercase();
                if let Some((first, first_name)) = seen.get(&key) {
                    let first = match manifest {
                        Manifest::File { .. } => format!("on line {first}"),
                        _ => format!("in {}", manifest.row_label(*first)),
                    };
                    let why = if *first_name == row.name {
                        format!("name '{}' is repeated (first {first})", row.name)
                    } else {
                        format!(
                            "name '{}' equals '{first_name}' ({first}) ignoring case; they would collide on a case-insensitive filesystem or archive extractor",
                            row.name
                        )
                    };
                    bad(&mut c, row.line, why);
                    continue;
                }
                seen.insert(key, (row.line, row.name.clone()));
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
                Ok(Action::Issue) => {
                    to_check.push(row);
                    if to_check.len() >= CHECK_AT_ONCE {
                        self.check_rows(&mut c, &mut to_check, &bad);
                    }
                }
                Err(e) => bad(&mut c, row.line, e.to_string()),
            }
        }
        self.check_rows(&mut c, &mut to_check, &bad);
        Ok(c)
    }

    /// Checks `rows` (the ledger allows them), in parallel: each one's
    /// certificate against the profile and the issuer, and its files on disk.
    fn check_rows(
        &self,
        c: &mut Checked,
        rows: &mut Vec<Row>,
        bad: &dyn Fn(&mut Checked, u64, String),
    ) {
        let per = rows.len().div_ceil(self.jobs.max(1)).max(1);
        let outcomes: Vec<Option<String>> = std::thread::scope(|s| {
            let handles: Vec<_> = rows
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|r| self.job(r).err().map(|e| e.to_string()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|_| vec![Some("a checking thread panicked".into())])
                })
                .collect()
        });
        for (row, outcome) in rows.drain(..).zip(outcomes) {
            if let Some(why) = outcome {
                bad(c, row.line, why);
                continue;
            }
            let dir = self.dir(&row.name);
            let unrecorded = self.archive.is_none()
                && dir.is_dir()
                && crate::layout::FILES.iter().any(|f| dir.join(f).exists());
            if unrecorded && !self.skip_existing {
                let why = format!(
                    "files for '{}' already exist in '{}' but the ledger has no such certificate",
                    row.name,
                    dir.display()
                );
                bad(c, row.line, why);
                continue;
            }
            c.unrecorded += unrecorded as u64;
            c.to_issue += 1;
        }
    }

    /// Issues every row that `check` accepted. `progress` is called with
    /// the number of certificates written so far.
    pub fn issue(
        &self,
        ledger: &mut Ledger,
        manifest: &Manifest,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Summary> {
        let start = Instant::now();
        let out = self.out_dir();
        let root = self.write_root();
        let mut archive = match &self.archive {
            Some(t) => Some(Archive::create(t, self.now.unix_timestamp().max(0) as u64)?),
            None => {
                store::create_private_dir(&root, &out)?;
                None
            }
        };
        // Decided, and its descriptor opened, before anything is staged.
        let flush = match archive {
            None => Some(store::ChunkFlush::open(&out)?),
            Some(_) => None,
        };
        let chain: String = self
            .signer
            .chain
            .iter()
            .filter(|c| !c.self_signed)
            .map(|c| c.pem())
            .collect();
        let shared = SharedChain::default();
        let keys = KeySources::default();
        let stop = AtomicBool::new(false);
        let skipped = AtomicU64::new(0);
        let jobs = self.jobs.max(1);
        let chunk_rows = chunk_size();
        let (job_tx, job_rx) = sync_channel::<Row>(jobs * 64);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = sync_channel::<Result<Done>>(IN_FLIGHT);
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
                let (rx, tx) = (Arc::clone(&job_rx), done_tx.clone());
                let w = Worker {
                    keys: &keys,
                    per_file: flush.as_ref().is_some_and(store::ChunkFlush::per_file),
                    chain: &chain,
                    root: &root,
                    shared: &shared,
                    manifest,
                };
                s.spawn(move || {
                    if let Err(e) = self.work(&rx, &tx, stop, skipped, &w) {
                        stop.store(true, Ordering::Relaxed);
                        let _ = tx.send(Err(e));
                    }
                });
            }
            drop(done_tx);
            drop(job_rx);
            let mut chunk: Vec<i64> = Vec::new();
            // Reserved rows that never reached the archive, released at the end.
            let mut unwritten: Vec<i64> = Vec::new();
            let mut last_flush = Instant::now();
            let mut record = |chunk: &mut Vec<i64>, archive: &mut Option<Archive>| -> Result<()> {
                if chunk.is_empty() {
                    return Ok(());
                }
                match (archive, &flush) {
                    (Some(a), _) => a.make_durable()?,
                    (None, Some(f)) => f.flush()?,
                    (None, None) => {}
                }
                store::crash_point("batch-written");
                ledger.activate(chunk)?;
                issued += chunk.len() as u64;
                chunk.clear();
                Ok(())
            };
            let mut written = 0u64;
            for r in done_rx.iter() {
                let failed = first_err.is_some();
                let appended = r.and_then(|d| match (d.device, &mut archive) {
                    // After a failure nothing more goes into the archive.
                    (Some(_), Some(_)) if failed => {
                        unwritten.push(d.id);
                        Ok(None)
                    }
                    (Some(m), Some(a)) => {
                        let entries: Vec<archive::Entry<'_>> = m
                            .files
                            .iter()
                            .map(|f| archive::Entry {
                                name: &f.name,
                                bytes: &f.bytes,
                                mode: f.mode,
                            })
                            .collect();
                        match a.add_device(&m.record.name, &entries) {
                            Ok(()) => {
                                store::crash_point("archive-appended");
                                Ok(Some(d.id))
                            }
                            Err(e) => {
                                unwritten.push(d.id);
                                Err(e)
                            }
                        }
                    }
                    _ => Ok(Some(d.id)),
                });
                match appended {
                    Ok(None) => {}
                    Ok(Some(id)) => {
                        chunk.push(id);
                        written += 1;
                        progress(written);
                        let due = chunk.len() >= chunk_rows || last_flush.elapsed() >= FLUSH_EVERY;
                        if due {
                            last_flush = Instant::now();
                        }
                        if due && let Err(e) = record(&mut chunk, &mut archive) {
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
            if let Err(e) = record(&mut chunk, &mut archive) {
                first_err.get_or_insert(e);
            }
            if !unwritten.is_empty()
                && let Err(e) = ledger.release(&unwritten)
            {
                first_err.get_or_insert(e);
            }
        });
        if let Some(a) = archive
            && let Err(e) = a.finish()
        {
            first_err.get_or_insert(e);
        }
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
            keys: keys.describe(self.key_type),
            out,
            clamped: false,
        })
    }

    /// Reads the manifest again and feeds the workers the rows to issue.
    fn produce(
        &self,
        manifest: &Manifest,
        jobs: &SyncSender<Row>,
        stop: &AtomicBool,
        skipped: &AtomicU64,
    ) -> Result<()> {
        // A connection of its own: a ledger connection stays on one thread.
        let mut ledger = self.pki.ledger(crate::ledger::Access::Write)?;
        crate::durability::apply(&ledger)?;
        for row in manifest.rows()? {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let row = row.map_err(|e| changed(manifest, e.line, e.reason))?;
            match self
                .classify(&mut ledger, &row)
                .map_err(|e| changed_by(manifest, row.line, e))?
            {
                Action::Skip => {
                    skipped.fetch_add(1, Ordering::Relaxed);
                }
                Action::Issue => {
                    if jobs.send(row).is_err() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// One worker: takes up to [`RESERVE_AT_ONCE`] rows, makes and signs
    /// them, reserves their names (`pending`), writes their files (or hands
    /// them on for the archive) and sends each reserved row. A name taken
    /// meanwhile is skipped with `--skip-existing`; rows whose files could
    /// not be written are released.
    fn work(
        &self,
        rx: &Mutex<Receiver<Row>>,
        tx: &SyncSender<Result<Done>>,
        stop: &AtomicBool,
        skipped: &AtomicU64,
        w: &Worker<'_>,
    ) -> Result<()> {
        // A connection of its own: a ledger connection stays on one thread.
        let mut ledger = self.pki.ledger(crate::ledger::Access::Write)?;
        crate::durability::apply(&ledger)?;
        let mut renewed = std::time::Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            // A long batch keeps the leases of the rows it still holds
            // pending (see crate::ledger::lease), well before they run out.
            if renewed.elapsed().as_secs() as i64 >= crate::ledger::lease::LEASE_SECS / 2 {
                ledger.renew_leases()?;
                renewed = std::time::Instant::now();
            }
            let rows = match rx.lock() {
                Ok(rx) => {
                    let Ok(first) = rx.recv() else { return Ok(()) };
                    let mut rows = vec![first];
                    while rows.len() < RESERVE_AT_ONCE {
                        match rx.try_recv() {
                            Ok(r) => rows.push(r),
                            Err(_) => break,
                        }
                    }
                    rows
                }
                Err(_) => return Ok(()),
            };
            let made = rows
                .iter()
                .map(|r| {
                    let job = self.job(r).map_err(|e| changed_by(w.manifest, r.line, e))?;
                    let source = match job.csr_key {
                        Some(_) => &w.keys.from_csrs,
                        None => &w.keys.made,
                    };
                    source.store(true, Ordering::Relaxed);
                    self.make(job, w.chain)
                })
                .collect::<Result<Vec<_>>>()?;
            store::pause_point("batch-signed");
            let recs: Vec<CertRecord> = made.iter().map(|m| m.record.clone()).collect();
            let alive = |l: &Ledger| self.signer.check_alive_on(l, self.now);
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
            let mut todo = todo.into_iter();
            while let Some((m, id)) = todo.next() {
                let device = match self.archive {
                    Some(_) => Some(Box::new(m)),
                    None => {
                        let written = store::fail_point("batch-write")
                            .and_then(|()| self.write(&m, &self.dir(&m.record.name), w));
                        if let Err(e) = written {
                            let unwritten: Vec<i64> =
                                std::iter::once(id).chain(todo.map(|(_, id)| id)).collect();
                            return Err(match ledger.release(&unwritten) {
                                Ok(()) => e,
                                Err(r) => store::also(e, &r),
                            });
                        }
                        None
                    }
                };
                if tx.send(Ok(Done { id, device })).is_err() {
                    // The collector is gone; the rows stay pending for doctor.
                    return Ok(());
                }
            }
        }
    }

    /// Makes a key (unless the row has a CSR) and signs one certificate,
    /// with its files, in memory.
    fn make(&self, job: Job, chain: &str) -> Result<Made> {
        let (key, key_type) = match job.csr_key {
            Some((spki, kt)) => (LeafKey::Public(spki), kt),
            None => (LeafKey::Held(self.key_type.generate()?), self.key_type),
        };
        let dir = self.dir(&job.leaf.name);
        let leaf = job.leaf.sign_leaf(self.signer, key, key_type, self.now)?;
        let mut record = leaf.record(self.pki, self.signer, &dir);
        if let Some(a) = &self.archive {
            record.dir = a.ledger_dir();
        }
        let files = self.device_files(&leaf, &record, chain)?;
        if self.format == DeviceFormat::P12 {
            // The key lives only in the passphrase-protected PKCS#12 file.
            record.has_key = false;
        }
        Ok(Made { record, files })
    }

    /// The files of one device in [`Plan::format`].
    fn device_files(
        &self,
        leaf: &SignedLeaf,
        record: &CertRecord,
        chain: &str,
    ) -> Result<Vec<DeviceFile>> {
        let file = |name: &str, bytes: Vec<u8>, mode: u32| DeviceFile {
            name: name.to_string(),
            bytes: Zeroizing::new(bytes),
            mode,
            shared: false,
        };
        let cert = leaf.signed.pem();
        let mut files = Vec::with_capacity(4);
        let held = match &leaf.key {
            LeafKey::Held(k) => Some(k),
            LeafKey::Public(_) => None,
        };
        match (self.format, held) {
            (DeviceFormat::Pem, Some(k)) => {
                let pem = keys::to_pem(k)?;
                files.push(file(
                    crate::layout::KEY,
                    pem.as_bytes().to_vec(),
                    store::KEY_MODE,
                ));
            }
            (DeviceFormat::P12, Some(k)) => {
                let p12 = self.p12(leaf, record, k)?;
                let name = crate::export::Format::P12.default_file(&record.name);
                files.push(file(&name, p12.to_vec(), store::KEY_MODE));
            }
            (_, None) => {}
        }
        files.push(file(
            crate::layout::CERT,
            cert.clone().into_bytes(),
            store::PUBLIC_MODE,
        ));
        files.push(DeviceFile {
            shared: true,
            ..file(
                crate::layout::CHAIN,
                chain.as_bytes().to_vec(),
                store::PUBLIC_MODE,
            )
        });
        files.push(file(
            crate::layout::FULLCHAIN,
            format!("{cert}{chain}").into_bytes(),
            store::PUBLIC_MODE,
        ));
        Ok(files)
    }

    /// The device's PKCS#12 file, made by the same code as `certsmith export`.
    fn p12(
        &self,
        leaf: &SignedLeaf,
        record: &CertRecord,
        key: &rcgen::KeyPair,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let pass = self
            .p12_pass
            .as_ref()
            .ok_or_else(|| Error::input("--format p12 needs --p12-passphrase-file FILE"))?;
        let mut chain = self.signer.chain.clone();
        let root = match chain.last() {
            Some(c) if c.self_signed => chain.pop(),
            _ => None,
        };
        let src = crate::export::Source {
            record: record.clone(),
            cert: crate::certinfo::CertInfo::from_der(&leaf.signed.der, &record.name)?,
            chain,
            root,
            key: Some(keys::pkcs8_v1_der(key)?),
        };
        crate::export::p12(&src, pass, false)
    }

    /// Writes one certificate's directory; `chain.pem` is a hard link to the
    /// one this batch wrote before, when there is one and linking works.
    fn write(&self, m: &Made, dir: &Path, w: &Worker<'_>) -> Result<()> {
        let (root, shared) = (w.root, w.shared);
        // The usual case: a new directory, appearing whole with one rename.
        let fresh = StagedDir::new(dir)?.synced(w.per_file);
        let mut linked = false;
        for f in &m.files {
            if f.shared
                && let Some(src) = shared.source()
                && fresh.link(&f.name, &src)
            {
                linked = true;
                continue;
            }
            fresh.add(&f.name, &f.bytes, f.mode)?;
        }
        if fresh.commit()? {
            if !linked && m.files.iter().any(|f| f.shared) {
                shared.set(dir.join(crate::layout::CHAIN));
            }
            return Ok(());
        }
        // The directory exists. Without --skip-existing, `check` made sure
        // none of these files is there; with it, what is there has no
        // ledger row and is kept aside as *.old-unrecorded, not lost.
        let existing = if self.skip_existing {
            Existing::Backup("unrecorded".into())
        } else {
            Existing::Refuse
        };
        let mut staged = match w.per_file {
            true => Staged::new(root),
            false => Staged::deferred_sync(root),
        };
        for f in &m.files {
            staged.add(&dir.join(&f.name), &f.bytes, f.mode, existing.clone())?;
        }
        staged.commit()?;
        Ok(())
    }
}

/// What each worker shares with the others.
struct Worker<'a> {
    /// fsync every file as it is written (see [`store::ChunkFlush`]).
    per_file: bool,
    keys: &'a KeySources,
    chain: &'a str,
    root: &'a Path,
    shared: &'a SharedChain,
    manifest: &'a Manifest,
}

/// Where the batch's keys came from, for the summary.
#[derive(Default)]
struct KeySources {
    made: AtomicBool,
    from_csrs: AtomicBool,
}

impl KeySources {
    /// `ecdsa-p256`, `keys from the CSRs`, or both.
    fn describe(&self, made: KeyType) -> String {
        match (
            self.made.load(Ordering::Relaxed),
            self.from_csrs.load(Ordering::Relaxed),
        ) {
            (true, true) => format!("{made} and keys from the CSRs"),
            (false, true) => "keys from the CSRs".into(),
            _ => made.to_string(),
        }
    }
}

/// A row that passed the check but fails when issued.
fn changed(manifest: &Manifest, line: u64, why: String) -> Error {
    Error::input(format!(
        "{} changed while the batch ran: {why}",
        manifest.row_label(line)
    ))
}

/// [`changed`] for a row's own refusal; a failure that is not about the
/// row (the ledger's server gone, a full disk) keeps its own message and
/// exit code.
fn changed_by(manifest: &Manifest, line: u64, e: Error) -> Error {
    match e.kind() {
        crate::error::ErrorKind::Failed => e,
        crate::error::ErrorKind::Input => changed(manifest, line, e.to_string()),
    }
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
    ledger.current_state(name)
}
