//! The ledger (`pki/ledger.db`, SQLite): every CA and certificate ever
//! issued, its status and revocation, and each CA's CRL number. It is the
//! source of truth for serials and names; SQLite's locking (WAL, busy
//! timeout, `BEGIN IMMEDIATE`) keeps concurrent certsmith processes from
//! losing or duplicating a record.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::error::{Error, Result};

/// The schema version this build writes and reads. Version 1 (certsmith
/// 0.1) had no key store columns on `cas` (see [`MIGRATE_V1_TO_V2`]),
/// version 2 no `settings` table (see [`MIGRATE_V2_TO_V3`]).
pub const SCHEMA_VERSION: i64 = 3;

/// Version 1 → 2: where each CA key lives. `key_store` NULL means a key
/// file (every v1 CA), `key_ref` is the PKCS#11 URI with the module path
/// (never a PIN), `offline` is set by `certsmith key offline`. A writer
/// applies it once, in one transaction, when it opens a v1 ledger.
const MIGRATE_V1_TO_V2: &str = "
ALTER TABLE cas ADD COLUMN key_store TEXT;
ALTER TABLE cas ADD COLUMN key_ref TEXT;
ALTER TABLE cas ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;
UPDATE schema_version SET version = 2;
";

/// Version 2 → 3: settings a CA or the PKI keeps beyond its certificate
/// (see [`Ledger::setting`]). Applied after [`MIGRATE_V1_TO_V2`] when needed,
/// in the same transaction.
const MIGRATE_V2_TO_V3: &str = "
CREATE TABLE IF NOT EXISTS settings (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
UPDATE schema_version SET version = 3;
";

/// What a reader that must not write sees of a v1 ledger: `cas` with the
/// v2 columns at their defaults, as a view in the connection's own temp
/// schema (which shadows `main.cas`); the ledger file is not touched.
const READ_V1_AS_V2: &str = "
CREATE TEMP VIEW cas AS SELECT *, NULL AS key_store, NULL AS key_ref, 0 AS offline FROM main.cas;
";

/// What a reader that must not write sees of a v1 or v2 ledger: no
/// settings, as an empty table in the connection's own temp schema.
const READ_V2_AS_V3: &str = "
CREATE TEMP TABLE settings (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (scope, key));
";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'intermediate', 'leaf')),
    issuer TEXT,
    serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL DEFAULT '[]',
    profile TEXT NOT NULL,
    key_type TEXT NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'superseded')),
    revoked_at INTEGER,
    revocation_reason TEXT,
    dir TEXT NOT NULL,
    has_key INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS certificates_current_name ON certificates(name) WHERE state != 'superseded';
CREATE UNIQUE INDEX IF NOT EXISTS certificates_issuer_serial ON certificates(issuer, serial);
CREATE INDEX IF NOT EXISTS certificates_serial ON certificates(serial);
CREATE INDEX IF NOT EXISTS certificates_not_after ON certificates(not_after);
CREATE INDEX IF NOT EXISTS certificates_revoked ON certificates(issuer, revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS cas (
    name TEXT PRIMARY KEY,
    cert_id INTEGER NOT NULL REFERENCES certificates(id),
    encrypted INTEGER NOT NULL,
    pathlen INTEGER,
    crl_number INTEGER NOT NULL DEFAULT 0,
    key_store TEXT,
    key_ref TEXT,
    offline INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settings (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
";

/// Whether a record is a root CA, an intermediate CA or a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Root,
    Intermediate,
    Leaf,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Root => "root",
            Kind::Intermediate => "intermediate",
            Kind::Leaf => "leaf",
        }
    }
    fn parse(s: &str) -> Kind {
        match s {
            "root" => Kind::Root,
            "intermediate" => Kind::Intermediate,
            _ => Kind::Leaf,
        }
    }
}

/// One certificate (CA or leaf) in the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRecord {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    /// Name of the issuing CA; `None` for a self-signed root or an
    /// imported CA whose issuer is outside this PKI.
    pub issuer: Option<String>,
    /// Serial, lowercase hex without leading zero octets.
    pub serial: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub profile: String,
    pub key_type: String,
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint: String,
    /// `pending` (files not yet durable), `active`, or `superseded`.
    pub state: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
    /// Directory of its files, relative to the PKI directory when inside it.
    pub dir: String,
    pub has_key: bool,
    pub created_at: i64,
}

impl CertRecord {
    /// `valid`, `revoked`, `expired`, `superseded` or `pending` at unix time `now`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.state == "superseded" {
            "superseded"
        } else if self.state == "pending" {
            "pending"
        } else if self.not_after < now {
            "expired"
        } else {
            "valid"
        }
    }
}

/// A CA: its certificate record plus CA-only facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaRecord {
    pub cert: CertRecord,
    pub encrypted: bool,
    pub pathlen: Option<i64>,
    pub crl_number: i64,
    /// Where its private key lives (a file, or a token key).
    pub key_ref: crate::keystore::KeyRef,
    /// `certsmith key offline`: its key is away (a root in a safe).
    pub offline: bool,
}

/// Filters for [`Ledger::list`].
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub issuer: Option<String>,
    /// Only certificates (not revoked) whose notAfter is before this unix time.
    pub expiring_before: Option<i64>,
    /// Only revoked certificates, superseded ones included (as on the CRL).
    pub revoked_only: bool,
    pub include_superseded: bool,
    pub include_cas: bool,
}

/// Per-CA counts for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaCounts {
    pub issued: i64,
    pub revoked: i64,
    pub expiring: i64,
}

/// A name held while a certificate's files are written.
#[derive(Debug)]
pub struct Reservation {
    pub id: i64,
    replaced: Option<i64>,
}

impl Ledger {
    /// The serial of the record `r` superseded (a `--force` re-issue), read
    /// in the ledger: the name its write backs up the previous files under.
    pub fn replaced_serial(&self, r: &Reservation) -> Result<Option<String>> {
        let Some(id) = r.replaced else {
            return Ok(None);
        };
        self.conn
            .query_row(
                "SELECT serial FROM certificates WHERE id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .map_err(db_err)
    }
}

/// An open ledger.
pub struct Ledger {
    conn: Connection,
    /// A shared `flock` on the PKI directory, held while this ledger is
    /// open: `doctor --repair` takes it exclusively to know that no other
    /// certsmith process is between `reserve` and `confirm` (see
    /// docs/internals.md). The kernel drops it when the process dies.
    dir_lock: Option<std::fs::File>,
    /// The ledger's `-wal` / `-shm` files that did not exist before this
    /// connection opened it.
    sidecars: Vec<std::path::PathBuf>,
}

const CERT_COLS: &str = "id, name, kind, issuer, serial, subject, sans, profile, key_type, not_before, not_after, fingerprint, state, revoked_at, revocation_reason, dir, has_key, created_at";

/// The SANs column (a JSON array of strings). Anything else is an error
/// naming the record: reading it as "no SANs" would let `renew` drop them.
fn parse_sans(json: &str, r: &Row<'_>) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| {
        let name: String = r.get(1).unwrap_or_default();
        let id: i64 = r.get(0).unwrap_or_default();
        rusqlite::Error::FromSqlConversionFailure(
            6,
            rusqlite::types::Type::Text,
            Box::new(Error::failed(format!(
                "the ledger record of '{}' (row {id}) has unreadable SANs: {e}",
                crate::error::shown(&name)
            ))),
        )
    })
}

fn cert_from_row(r: &Row<'_>) -> rusqlite::Result<CertRecord> {
    let sans: String = r.get(6)?;
    Ok(CertRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: Kind::parse(&r.get::<_, String>(2)?),
        issuer: r.get(3)?,
        serial: r.get(4)?,
        subject: r.get(5)?,
        sans: parse_sans(&sans, r)?,
        profile: r.get(7)?,
        key_type: r.get(8)?,
        not_before: r.get(9)?,
        not_after: r.get(10)?,
        fingerprint: r.get(11)?,
        state: r.get(12)?,
        revoked_at: r.get(13)?,
        revocation_reason: r.get(14)?,
        dir: r.get(15)?,
        has_key: r.get::<_, i64>(16)? != 0,
        created_at: r.get(17)?,
    })
}

/// The ledger this process opened, for errors that need its path.
static ERROR_PATH: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

/// Turns a SQLite failure into a one-line error; a full disk or quota
/// (SQLite's FULL, or an I/O error whose errno says so) gets the one
/// message [`crate::store::no_space`].
pub fn db_err(e: rusqlite::Error) -> Error {
    // A row certsmith could not read carries its own message (see `parse_sans`).
    if let rusqlite::Error::FromSqlConversionFailure(_, _, inner) = &e
        && let Some(mine) = inner.downcast_ref::<Error>()
    {
        return mine.clone();
    }
    if disk_full(&e) {
        return crate::store::no_space(&error_path());
    }
    Error::Ledger {
        detail: e.to_string(),
    }
}

/// The path of the ledger last opened, for messages.
fn error_path() -> std::path::PathBuf {
    ERROR_PATH
        .lock()
        .ok()
        .and_then(|p| p.clone())
        .unwrap_or_else(|| "ledger.db".into())
}

/// Whether SQLite failed for want of space: its FULL, or an I/O error
/// (growing the 32 KiB `-shm`, writing the `-wal`) whose system call
/// failed with ENOSPC or EDQUOT. Called as soon as SQLite returns, on
/// the thread that called it, so `errno` is still that of SQLite's
/// failed call (the value `sqlite3_system_errno` reports, read without
/// `unsafe`); free space is no test: a nearly full disk can have a few
/// blocks left and still not fit the `-shm`.
fn disk_full(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            rusqlite::ErrorCode::DiskFull => true,
            rusqlite::ErrorCode::SystemIoFailure => {
                no_space_errno(&std::io::Error::last_os_error())
            }
            _ => false,
        },
        _ => false,
    }
}

/// ENOSPC or EDQUOT.
fn no_space_errno(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// The directory holding the ledger file `path`.
fn ledger_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `ledger.db-wal` and the like.
fn sidecar(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

impl Ledger {
    /// Opens an existing ledger for a command that may write: takes the
    /// shared PKI directory lock first (see [`crate::lock`]). Nothing is
    /// written until the command writes a record.
    pub fn open(path: &Path) -> Result<Ledger> {
        Self::open_with(path, true)
    }

    /// Opens an existing ledger for a command that only reads: no lock is
    /// taken, so it never waits for `doctor --repair`, and no byte changes.
    pub fn open_read(path: &Path) -> Result<Ledger> {
        Self::open_with(path, false)
    }

    /// Opens an existing ledger for a command that only reads but must
    /// know whether it is alone on the PKI (`doctor` without `--repair`):
    /// takes the shared lock like a writer, yet changes no byte (a v1
    /// ledger is read as v2, not upgraded).
    pub fn open_read_locked(path: &Path) -> Result<Ledger> {
        Self::open_mode(path, true, false)
    }

    /// Opens an existing ledger for a long-running process that writes
    /// now and then (`serve` signing CRLs): kept open, so it holds no
    /// PKI directory lock; the caller takes [`crate::lock::shared`] of
    /// the directory around each write, as a command holds it for its run.
    pub fn open_kept_writer(path: &Path) -> Result<Ledger> {
        Self::open_mode(path, false, true)
    }

    fn open_with(path: &Path, lock: bool) -> Result<Ledger> {
        Self::open_mode(path, lock, lock)
    }

    fn open_mode(path: &Path, lock: bool, write: bool) -> Result<Ledger> {
        let not_ledger = || Error::input(format!("'{}' is not a certsmith ledger", path.display()));
        match std::fs::symlink_metadata(path) {
            Err(_) => {
                return Err(Error::NoLedger {
                    path: path.to_path_buf(),
                });
            }
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::input(format!(
                    "ledger '{}' is a symlink; certsmith does not write through symlinks",
                    path.display()
                ))
                .hint("replace the link with the ledger file itself"));
            }
            Ok(m) if !m.is_file() => return Err(not_ledger()),
            Ok(_) => {}
        }
        // Whether it is an SQLite file at all is asked of SQLite, never
        // by reading it through a handle of our own: on Linux closing any
        // descriptor of a file drops every POSIX lock this process holds
        // on it, those of SQLite connections still open here (`serve`)
        // included; another process would then checkpoint and remove the
        // -wal / -shm under them. An empty or foreign file fails the
        // version query below (no table, or not a database) before
        // anything is written: it is refused as not a ledger, unchanged.
        let dir_lock = if lock {
            crate::lock::shared(ledger_dir(path))?
        } else {
            None
        };
        let l = Self::connect(path, dir_lock, !write)?;
        let v = retry_busy(|| {
            l.conn
                .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
                .optional()
        });
        let v = match v {
            Ok(v) => v,
            Err(e) if disk_full(&e) => {
                // The message first: closing makes system calls that change errno.
                let err = db_err(e);
                l.close_leaving_nothing();
                return Err(err);
            }
            Err(
                e @ rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error {
                        code:
                            rusqlite::ErrorCode::DatabaseBusy
                            | rusqlite::ErrorCode::DatabaseLocked
                            | rusqlite::ErrorCode::SystemIoFailure,
                        ..
                    },
                    _,
                ),
            ) => return Err(db_err(e)),
            Err(_) => return Err(not_ledger()),
        };
        match v {
            Some(SCHEMA_VERSION) => Ok(l),
            Some(1 | 2) if write => {
                l.migrate()?;
                Ok(l)
            }
            Some(v @ (1 | 2)) => {
                if v == 1 {
                    l.conn.execute_batch(READ_V1_AS_V2).map_err(db_err)?;
                }
                l.conn.execute_batch(READ_V2_AS_V3).map_err(db_err)?;
                Ok(l)
            }
            Some(v) if v > SCHEMA_VERSION => Err(Error::input(format!(
                "ledger '{}' has schema version {v}, newer than this certsmith understands ({SCHEMA_VERSION})",
                path.display()
            ))
            .hint("upgrade certsmith")),
            _ => Err(not_ledger()),
        }
    }

    /// Upgrades a v1 or v2 ledger to the current version in one
    /// transaction; a concurrent writer that upgraded it first leaves
    /// nothing to do.
    fn migrate(&self) -> Result<()> {
        retry_busy(|| -> rusqlite::Result<()> {
            let tx =
                rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?;
            let v: i64 = tx.query_row("SELECT version FROM schema_version", [], |r| r.get(0))?;
            if v == 1 {
                tx.execute_batch(MIGRATE_V1_TO_V2)?;
            }
            if v <= 2 {
                tx.execute_batch(MIGRATE_V2_TO_V3)?;
            }
            tx.commit()
        })
        .map_err(db_err)
    }

    /// The value of setting `key` in `scope`, if set. Scopes: `ca:<name>`
    /// for a CA, `pki` for the whole PKI, `bundle:<target>` for what a
    /// bundle target recorded. Callers go through a typed module that
    /// owns its keys; nothing else spells a key.
    pub fn setting(&self, scope: &str, key: &str) -> Result<Option<String>> {
        retry_busy(|| {
            self.conn
                .query_row(
                    "SELECT value FROM settings WHERE scope = ?1 AND key = ?2",
                    params![scope, key],
                    |r| r.get(0),
                )
                .optional()
        })
        .map_err(db_err)
    }

    /// Sets (`Some`) or clears (`None`) setting `key` in `scope`, in one
    /// transaction.
    pub fn set_setting(&mut self, scope: &str, key: &str, value: Option<&str>) -> Result<()> {
        retry_busy(|| match value {
            Some(v) => self.conn.execute(
                "INSERT INTO settings (scope, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                params![scope, key, v],
            ),
            None => self.conn.execute(
                "DELETE FROM settings WHERE scope = ?1 AND key = ?2",
                params![scope, key],
            ),
        })
        .map_err(db_err)
        .map(drop)
    }

    /// Every setting in `scope`, sorted by key.
    pub fn settings(&self, scope: &str) -> Result<Vec<(String, String)>> {
        retry_busy(|| {
            let mut st = self
                .conn
                .prepare_cached("SELECT key, value FROM settings WHERE scope = ?1 ORDER BY key")?;
            st.query_map([scope], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(db_err)
    }

    /// Records where CA `name`'s key is: online, or away (`key offline`).
    pub fn set_offline(&mut self, name: &str, offline: bool) -> Result<bool> {
        let n = retry_busy(|| {
            self.conn.execute(
                "UPDATE cas SET offline = ?2 WHERE name = ?1",
                params![name, offline as i64],
            )
        })
        .map_err(db_err)?;
        Ok(n == 1)
    }

    /// Creates a new ledger, or opens the one a concurrent `init` created.
    ///
    /// The ledger is built complete (0600, WAL mode, schema, version) in a
    /// temporary file beside `path` and linked into place without
    /// clobbering, so no process ever opens a half-created ledger: racing
    /// `init`s each build one, one wins, the others open the winner's.
    pub fn create(path: &Path) -> Result<Ledger> {
        if !path.exists() {
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            use std::os::unix::fs::PermissionsExt;
            let tmp = tempfile::Builder::new()
                .prefix(".certsmith-ledger-")
                .permissions(std::fs::Permissions::from_mode(0o600))
                .tempfile_in(dir)
                .map_err(|e| crate::store::io_err("cannot create a temporary file in", dir, &e))?;
            {
                let conn = Connection::open(tmp.path()).map_err(db_err)?;
                conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
                    .map_err(db_err)?;
                conn.execute_batch(SCHEMA).map_err(db_err)?;
                conn.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )
                .map_err(db_err)?;
                // Closing checkpoints the WAL into the file and removes -wal / -shm.
                conn.close().map_err(|(_, e)| db_err(e))?;
            }
            tmp.as_file()
                .sync_all()
                .map_err(|e| crate::store::io_err("cannot write", tmp.path(), &e))?;
            match tmp.persist_noclobber(path) {
                Ok(_) => crate::store::sync_dir(dir)?,
                // Another `init` linked its complete ledger first: use that one.
                Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(crate::store::io_err("cannot create", path, &e.error)),
            }
        }
        Self::open(path)
    }

    /// Opens the SQLite connection: never creates the file, never follows
    /// a symlink, and changes nothing (the journal mode is set when the
    /// ledger is created, not on every open). For a `read_only` command,
    /// a non-empty `-wal` found at open (a writer died before it was
    /// checkpointed) is not checkpointed on close, so ledger.db, the
    /// `-wal` and the `-shm` stay as they were.
    fn connect(path: &Path, dir_lock: Option<std::fs::File>, read_only: bool) -> Result<Ledger> {
        use rusqlite::OpenFlags;
        if let Ok(mut p) = ERROR_PATH.lock() {
            *p = Some(path.to_path_buf());
        }
        let sidecars = [sidecar(path, "-wal"), sidecar(path, "-shm")];
        let created: Vec<bool> = sidecars
            .iter()
            .map(|p| std::fs::symlink_metadata(p).is_err())
            .collect();
        // A `-wal` holding frames (a writer that died before checkpointing)
        // is not ours to fold into ledger.db: a read-only command closing
        // the last connection would otherwise checkpoint it and delete it.
        let foreign_wal = std::fs::metadata(&sidecars[0]).is_ok_and(|m| m.len() > 0);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_NOFOLLOW,
        )
        .map_err(|e| Error::input(format!("cannot open ledger '{}': {e}", path.display())))?;
        let sidecars = sidecars
            .into_iter()
            .zip(created)
            .filter_map(|(p, c)| c.then_some(p))
            .collect();
        let l = Ledger {
            conn,
            dir_lock,
            sidecars,
        };
        let setup = l.conn.busy_timeout(Duration::from_secs(60)).and_then(|_| {
            if read_only && foreign_wal {
                l.conn
                    .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
            }
            l.conn
                .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
        });
        match setup {
            Ok(()) => Ok(l),
            Err(e) if disk_full(&e) => {
                // The message first: closing makes system calls that change errno.
                let err = db_err(e);
                l.close_leaving_nothing();
                Err(err)
            }
            Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error {
                    code: rusqlite::ErrorCode::NotADatabase,
                    ..
                },
                _,
            )) => Err(Error::input(format!(
                "'{}' is not a certsmith ledger",
                path.display()
            ))),
            Err(e) => Err(db_err(e)),
        }
    }

    /// Closes a ledger that failed to open for want of space and removes
    /// the `-wal` / `-shm` files this process created, so the failure
    /// leaves the PKI directory as it was. Another process may have opened
    /// the ledger between the check and the open, and written into them:
    /// so both are removed only while no other process has the ledger
    /// open (see [`crate::lock::shm_unused`]), and the `-wal` only when it
    /// is empty (one holding frames holds committed rows).
    fn close_leaving_nothing(self) {
        let Ledger { conn, sidecars, .. } = self;
        drop(conn);
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let ours = |suffix: &str| {
            sidecars
                .iter()
                .find(|p| p.as_os_str().as_bytes().ends_with(suffix.as_bytes()))
        };
        let Some(any) = sidecars.first() else {
            return;
        };
        // `ledger.db-wal` or `ledger.db-shm`: the same length of suffix.
        let bytes = any.as_os_str().as_bytes();
        let mut shm = bytes[..bytes.len().saturating_sub(4)].to_vec();
        shm.extend_from_slice(b"-shm");
        let shm = std::path::PathBuf::from(std::ffi::OsString::from_vec(shm));
        // Held while removing: no connection opens the ledger meanwhile.
        let _unused = if shm.exists() {
            match crate::lock::shm_unused(&shm) {
                Some(f) => Some(f),
                None => return,
            }
        } else {
            None
        };
        if let Some(wal) = ours("-wal").filter(|w| std::fs::metadata(w).is_ok_and(|m| m.len() == 0))
        {
            let _ = std::fs::remove_file(wal);
        }
        if ours("-shm").is_some() {
            let _ = std::fs::remove_file(&shm);
        }
    }

    /// Tries to turn this process's shared lock on the PKI directory into
    /// an exclusive one: true means no other certsmith process has this
    /// PKI open, so `pending` rows are leftovers of a process that died.
    pub fn try_lock_exclusive(&self) -> bool {
        self.dir_lock.as_ref().is_some_and(|f| f.try_lock().is_ok())
    }

    /// The underlying connection, for modules that add their own queries.
    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The current (not superseded) certificate called `name`.
    pub fn cert_by_name(&self, name: &str) -> Result<Option<CertRecord>> {
        cert_by_name_on(&self.conn, name)
    }

    /// Certificates with serial `serial` (normalized hex), from any issuer.
    pub fn certs_by_serial(&self, serial: &str) -> Result<Vec<CertRecord>> {
        let mut st = self
            .conn
            .prepare_cached(&format!(
                "SELECT {CERT_COLS} FROM certificates WHERE serial = ?1"
            ))
            .map_err(db_err)?;
        st.query_map([serial], cert_from_row)
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)
    }

    /// The CA called `name`.
    pub fn ca(&self, name: &str) -> Result<Option<CaRecord>> {
        ca_on(&self.conn, name)
    }

    /// The connection, for checks that read the ledger the way a
    /// reservation transaction does (see [`Check`]).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Every CA, roots first, then in creation order.
    pub fn cas(&self) -> Result<Vec<CaRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT cas.name FROM cas JOIN certificates c ON c.id = cas.cert_id ORDER BY c.kind = 'root' DESC, c.id")
            .map_err(db_err)?;
        let names: Vec<String> = st
            .query_map([], |r| r.get(0))
            .map_err(db_err)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db_err)?;
        names
            .iter()
            .filter_map(|n| self.ca(n).transpose())
            .collect()
    }

    /// Holds `rec.name` with a `pending` record. With `replace`, a current
    /// record of that name is marked superseded in the same transaction.
    pub fn reserve(
        &mut self,
        rec: &CertRecord,
        replace: bool,
        check: Check<'_>,
    ) -> Result<Reservation> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        check(&tx)?;
        let existing: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, state FROM certificates WHERE name = ?1 AND state != 'superseded'",
                [&rec.name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err)?;
        let mut replaced = None;
        if let Some((id, state)) = existing {
            if !replace || state == "pending" {
                return Err(name_taken(&rec.name, state == "pending"));
            }
            tx.execute(
                "UPDATE certificates SET state = 'superseded' WHERE id = ?1",
                [id],
            )
            .map_err(db_err)?;
            replaced = Some(id);
        }
        let id = insert(&tx, rec, "pending")?;
        tx.commit().map_err(db_err)?;
        Ok(Reservation { id, replaced })
    }

    /// [`Ledger::reserve`] without waiting for the disk: SQLite
    /// `synchronous=NORMAL` for this one commit (in WAL mode no fsync at
    /// commit, while a checkpoint or WAL restart it triggers stays synced;
    /// never OFF, which checkpoints without any fsync). The caller must make
    /// the ledger's WAL durable (the one flush point that also makes the
    /// certificate's files durable) before any file relies on it.
    pub fn reserve_unsynced(
        &mut self,
        rec: &CertRecord,
        replace: bool,
        check: Check<'_>,
    ) -> Result<Reservation> {
        let level: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(db_err)?;
        self.conn
            .execute_batch("PRAGMA synchronous=NORMAL")
            .map_err(db_err)?;
        let r = self.reserve(rec, replace, check);
        let back = self
            .conn
            .execute_batch(&format!("PRAGMA synchronous={level}"))
            .map_err(db_err);
        match (r, back) {
            (Ok(r), Ok(())) => Ok(r),
            (Ok(r), Err(e)) => Err(self.abandon_after(r, e)),
            (Err(e), _) => Err(e),
        }
    }

    /// Marks a reserved certificate active once its files are durable. An
    /// error unless exactly that `pending` row changed (a row that vanished
    /// or was settled by someone else must not pass silently).
    pub fn confirm(&mut self, r: &Reservation) -> Result<()> {
        self.activate(&[r.id])
    }

    /// Marks the `pending` rows `ids` active in one transaction; an error,
    /// changing nothing, unless every one of them changed.
    pub fn activate(&mut self, ids: &[i64]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let mut changed = 0;
        {
            let mut st = tx
                .prepare_cached(
                    "UPDATE certificates SET state = 'active' WHERE id = ?1 AND state = 'pending'",
                )
                .map_err(db_err)?;
            for id in ids {
                changed += st.execute([id]).map_err(db_err)?;
            }
        }
        if changed != ids.len() {
            return Err(Error::failed(format!(
                "the ledger changed under this command: {} of {} reserved record(s) were no longer pending",
                ids.len() - changed,
                ids.len()
            ))
            .hint("run `certsmith doctor`"));
        }
        tx.commit().map_err(db_err)
    }

    /// Drops a reservation whose files could not be written, restoring what
    /// it replaced. A failure here is reported: the row then stays `pending`
    /// for `doctor --repair` to settle.
    pub fn abandon(&mut self, r: Reservation) -> Result<()> {
        self.drop_pending(&[r.id], r.replaced)
    }

    /// [`Ledger::abandon`] after `cause` made the reservation useless:
    /// returns `cause`, with the abandon's own failure added if it failed.
    pub fn abandon_after(&mut self, r: Reservation, cause: Error) -> Error {
        match self.abandon(r) {
            Ok(()) => cause,
            Err(a) => crate::store::also(cause, &a),
        }
    }

    /// Deletes the `pending` rows `ids` (and, when given, makes the record
    /// they superseded current again) in one transaction.
    fn drop_pending(&mut self, ids: &[i64], replaced: Option<i64>) -> Result<()> {
        let failed = |e: rusqlite::Error| {
            Error::failed(format!(
                "cannot release the ledger reservation of this command: {}",
                e.to_string().to_lowercase()
            ))
            .hint("run `certsmith doctor --repair` to settle it")
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        for id in ids {
            tx.execute("DELETE FROM cas WHERE cert_id = ?1", [id])
                .map_err(failed)?;
            tx.execute(
                "DELETE FROM certificates WHERE id = ?1 AND state = 'pending'",
                [id],
            )
            .map_err(failed)?;
        }
        if let Some(old) = replaced {
            tx.execute(
                "UPDATE certificates SET state = 'active' WHERE id = ?1",
                [old],
            )
            .map_err(failed)?;
        }
        tx.commit().map_err(failed)
    }

    /// Makes the reserved certificate `r` (a re-issue of CA `name`'s
    /// certificate, which `reserve` with `replace` superseded) the CA's
    /// current certificate and marks it active, in one transaction; an
    /// error, changing nothing, unless both rows changed.
    pub fn confirm_ca_reissue(&mut self, r: &Reservation, name: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        let moved = tx
            .execute(
                "UPDATE cas SET cert_id = ?2 WHERE name = ?1",
                params![name, r.id],
            )
            .map_err(db_err)?;
        let activated = tx
            .execute(
                "UPDATE certificates SET state = 'active' WHERE id = ?1 AND state = 'pending'",
                [r.id],
            )
            .map_err(db_err)?;
        if moved != 1 || activated != 1 {
            return Err(Error::failed(format!(
                "the ledger changed under this command: CA '{}' or its new certificate is gone",
                crate::error::shown(name)
            ))
            .hint("run `certsmith doctor`"));
        }
        tx.commit().map_err(db_err)
    }

    /// Reserves a CA: its certificate record plus its `cas` row.
    pub fn reserve_ca(
        &mut self,
        rec: &CertRecord,
        encrypted: bool,
        pathlen: Option<u32>,
        key_ref: &crate::keystore::KeyRef,
        check: Check<'_>,
    ) -> Result<Reservation> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        check(&tx)?;
        if encrypted || matches!(key_ref, crate::keystore::KeyRef::Pkcs11(_)) {
            let protection = if encrypted {
                "an encrypted key"
            } else {
                "a key in a token"
            };
            crate::durability::refuse_protected_ca(&tx, &rec.name, protection)?;
        }
        let taken: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM certificates WHERE name = ?1 AND state != 'superseded') OR EXISTS(SELECT 1 FROM cas WHERE name = ?1)",
                [&rec.name],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        if taken {
            return Err(name_taken(&rec.name, false));
        }
        let id = insert(&tx, rec, "pending")?;
        tx.execute(
            "INSERT INTO cas (name, cert_id, encrypted, pathlen, key_store, key_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                rec.name,
                id,
                encrypted as i64,
                pathlen.map(i64::from),
                key_ref.to_ledger().map(|_| key_ref.store().as_str()),
                key_ref.to_ledger()
            ],
        )
        .map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(Reservation { id, replaced: None })
    }

    /// Reserves many names at once (for batch), as `pending` rows, in one
    /// transaction. A name that is already current (another process took
    /// it since the batch checked) is left out when `skip_taken`, else the
    /// whole call fails and reserves nothing. Returns each record's row id,
    /// `None` for a name left out.
    pub fn reserve_many(
        &mut self,
        recs: &[CertRecord],
        skip_taken: bool,
        check: Check<'_>,
    ) -> Result<Vec<Option<i64>>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_err)?;
        check(&tx)?;
        let mut ids = Vec::with_capacity(recs.len());
        for r in recs {
            let taken: Option<String> = tx
                .prepare_cached(
                    "SELECT state FROM certificates WHERE name = ?1 AND state != 'superseded'",
                )
                .and_then(|mut st| st.query_row([&r.name], |row| row.get(0)).optional())
                .map_err(db_err)?;
            match taken {
                Some(_) if skip_taken => ids.push(None),
                Some(state) => return Err(name_taken(&r.name, state == "pending")),
                None => ids.push(Some(insert(&tx, r, "pending")?)),
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(ids)
    }

    /// Drops `pending` rows (for batch) whose files were never written.
    pub fn release(&mut self, ids: &[i64]) -> Result<()> {
        self.drop_pending(ids, None)
    }

    /// Certificates matching `f`, newest first.
    pub fn list(&self, f: &ListFilter) -> Result<Vec<CertRecord>> {
        let mut sql = format!("SELECT {CERT_COLS} FROM certificates WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if !f.include_cas {
            sql.push_str(" AND kind = 'leaf'");
        }
        // A revoked certificate is on the CRL whatever its state (doctor
        // revokes an interrupted archive batch's rows as superseded).
        if !f.include_superseded && !f.revoked_only {
            sql.push_str(" AND state != 'superseded'");
        }
        if let Some(i) = &f.issuer {
            sql.push_str(" AND issuer = ?");
            args.push(i.clone().into());
        }
        if let Some(t) = f.expiring_before {
            sql.push_str(" AND not_after < ? AND revoked_at IS NULL");
            args.push(t.into());
        }
        if f.revoked_only {
            sql.push_str(" AND revoked_at IS NOT NULL");
        }
        sql.push_str(if f.expiring_before.is_some() {
            " ORDER BY not_after"
        } else {
            " ORDER BY id DESC"
        });
        let mut st = self.conn.prepare(&sql).map_err(db_err)?;
        st.query_map(rusqlite::params_from_iter(args), cert_from_row)
            .map_err(db_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_err)
    }

    /// Issued / revoked / expiring-before-`soon` counts of the current
    /// certificates each CA issued (CAs included), keyed by CA name; revoked
    /// counts every revoked certificate, as the CRL lists it.
    pub fn counts(
        &self,
        now: i64,
        soon: i64,
    ) -> Result<std::collections::HashMap<String, CaCounts>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT issuer, SUM(state != 'superseded'),
                        SUM(revoked_at IS NOT NULL),
                        SUM(state != 'superseded' AND revoked_at IS NULL AND not_after >= ?1 AND not_after < ?2)
                 FROM certificates WHERE (state != 'superseded' OR revoked_at IS NOT NULL)
                   AND issuer IS NOT NULL AND issuer != name
                 GROUP BY issuer",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map(params![now, soon], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    CaCounts {
                        issued: r.get(1)?,
                        revoked: r.get(2)?,
                        expiring: r.get(3)?,
                    },
                ))
            })
            .map_err(db_err)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db_err)
    }
}

/// Runs `f` again while SQLite reports BUSY / LOCKED for a statement that
/// does not go through the busy handler, for up to 60 s.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut wait = Duration::from_millis(1);
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, m))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(rusqlite::Error::SqliteFailure(e, m));
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// The refusal for a name already in the ledger; a `pending` one names
/// `doctor --repair`, which settles reservations of interrupted commands.
pub fn name_taken(name: &str, pending: bool) -> Error {
    Error::NameTaken {
        name: name.to_string(),
        pending,
    }
}

/// A check run inside a reservation transaction, on what that transaction
/// reads: what it refuses cannot have changed between the check and the
/// reservation (another process's `revoke` commits either before or after).
pub type Check<'a> = &'a dyn Fn(&Connection) -> Result<()>;

/// The [`Check`] of a reservation that depends on nothing else (a root CA).
pub fn no_check(_: &Connection) -> Result<()> {
    Ok(())
}

/// The CA called `name`, read on `conn` (a connection or a transaction).
pub fn ca_on(conn: &Connection, name: &str) -> Result<Option<CaRecord>> {
    conn
        .query_row(
            &format!(
                "SELECT {}, cas.encrypted, cas.pathlen, cas.crl_number, cas.key_store, cas.key_ref, cas.offline FROM cas JOIN certificates c ON c.id = cas.cert_id WHERE cas.name = ?1",
                CERT_COLS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ")
            ),
            [name],
            |r| {
                Ok(CaRecord {
                    cert: cert_from_row(r)?,
                    encrypted: r.get::<_, i64>(18)? != 0,
                    pathlen: r.get(19)?,
                    crl_number: r.get(20)?,
                    key_ref: crate::keystore::KeyRef::from_ledger(
                        r.get::<_, Option<String>>(21)?.as_deref(),
                        r.get::<_, Option<String>>(22)?.as_deref(),
                    )
                    .map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            22,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                    offline: r.get::<_, i64>(23)? != 0,
                })
            },
        )
        .optional()
        .map_err(db_err)
}

/// The current (not superseded) certificate called `name`, read on `conn`.
pub fn cert_by_name_on(conn: &Connection, name: &str) -> Result<Option<CertRecord>> {
    conn.query_row(
        &format!("SELECT {CERT_COLS} FROM certificates WHERE name = ?1 AND state != 'superseded'"),
        [name],
        cert_from_row,
    )
    .optional()
    .map_err(db_err)
}

fn insert(tx: &rusqlite::Transaction<'_>, r: &CertRecord, state: &str) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO certificates (name, kind, issuer, serial, subject, sans, profile, key_type, not_before, not_after, fingerprint, state, revoked_at, revocation_reason, dir, has_key, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )
    .and_then(|mut st| {
        st.execute(params![
            r.name,
            r.kind.as_str(),
            r.issuer,
            r.serial,
            r.subject,
            serde_json::to_string(&r.sans).unwrap_or_else(|_| "[]".into()),
            r.profile,
            r.key_type,
            r.not_before,
            r.not_after,
            r.fingerprint,
            state,
            r.revoked_at,
            r.revocation_reason,
            r.dir,
            r.has_key as i64,
            r.created_at,
        ])
    })
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            Error::input(format!(
                "the ledger already holds a certificate named '{}' or serial {} from issuer '{}'",
                r.name,
                r.serial,
                r.issuer.as_deref().unwrap_or("-")
            ))
        }
        other => db_err(other),
    })?;
    Ok(tx.last_insert_rowid())
}

/// What the use cases in `ops` ask of the ledger beyond issuing.
impl Ledger {
    /// Whether the ledger at `path` is missing or holds no certificate (not
    /// even a `pending` reservation of a concurrent process): then a
    /// directory an `init` made for it may be removed again. A ledger
    /// without the table (its creation failed) is empty too; one that
    /// cannot be read is not.
    pub fn is_empty_at(path: &Path) -> bool {
        if !path.exists() {
            return true;
        }
        Connection::open(path)
            .and_then(|c| {
                c.busy_timeout(std::time::Duration::from_secs(60))?;
                c.query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE name = 'certificates'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .and_then(|t| {
                    if t == 0 {
                        Ok(0)
                    } else {
                        c.query_row("SELECT COUNT(*) FROM certificates", [], |r| {
                            r.get::<_, i64>(0)
                        })
                    }
                })
            })
            .map(|n| n == 0)
            .unwrap_or(false)
    }

    /// Records whether the key file of CA `name` is encrypted.
    pub fn set_key_encrypted(&mut self, name: &str, encrypted: bool) -> Result<()> {
        self.conn
            .execute(
                "UPDATE cas SET encrypted = ?1 WHERE name = ?2",
                params![encrypted as i64, name],
            )
            .map_err(db_err)
            .map(drop)
    }
}

/// Several writes through the `Ledger` methods as one transaction.
impl Ledger {
    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction: committed when
    /// it succeeds, rolled back when it fails.
    pub fn in_transaction<T>(&mut self, f: impl FnOnce(&mut Ledger) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(db_err)?;
        match f(self) {
            Ok(v) => {
                self.conn.execute_batch("COMMIT").map_err(db_err)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, serial: &str) -> CertRecord {
        CertRecord {
            id: 0,
            name: name.into(),
            kind: Kind::Leaf,
            issuer: Some("issuing".into()),
            serial: serial.into(),
            subject: "CN=x".into(),
            sans: vec!["dns:x.example".into()],
            profile: "device".into(),
            key_type: "ecdsa-p256".into(),
            not_before: 0,
            not_after: 1,
            fingerprint: "f".into(),
            state: "pending".into(),
            revoked_at: None,
            revocation_reason: None,
            dir: format!("certs/{name}"),
            has_key: true,
            created_at: 0,
        }
    }

    fn ledger() -> (tempfile::TempDir, Ledger) {
        let d = tempfile::tempdir().unwrap();
        let l = Ledger::create(&d.path().join("ledger.db")).unwrap();
        (d, l)
    }

    #[test]
    fn confirm_of_a_reservation_that_vanished_is_an_error() {
        let (_d, mut l) = ledger();
        let r = l.reserve(&record("dev", "01"), false, &no_check).unwrap();
        l.conn().execute_batch("DELETE FROM certificates").unwrap();
        let err = l.confirm(&r).unwrap_err();
        assert!(err.to_string().contains("no longer pending"), "{err}");
    }

    #[test]
    fn confirm_marks_exactly_the_reserved_row_active() {
        let (_d, mut l) = ledger();
        let r = l.reserve(&record("dev", "01"), false, &no_check).unwrap();
        l.confirm(&r).unwrap();
        assert_eq!(l.cert_by_name("dev").unwrap().unwrap().state, "active");
        assert!(l.confirm(&r).is_err(), "a second confirm changes no row");
    }

    #[test]
    fn abandon_that_cannot_write_the_ledger_is_reported() {
        let (_d, mut l) = ledger();
        let r = l.reserve(&record("dev", "01"), false, &no_check).unwrap();
        l.conn().execute_batch("PRAGMA query_only = ON").unwrap();
        let err = l.abandon(r).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot release the ledger reservation"),
            "{err}"
        );
        assert_eq!(
            err.hint_text().as_deref(),
            Some("run `certsmith doctor --repair` to settle it")
        );
    }

    #[test]
    fn unreadable_sans_are_an_error_naming_the_record() {
        let (_d, mut l) = ledger();
        let r = l.reserve(&record("dev", "01"), false, &no_check).unwrap();
        l.confirm(&r).unwrap();
        l.conn()
            .execute_batch("UPDATE certificates SET sans = 'not json'")
            .unwrap();
        let err = l.cert_by_name("dev").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the ledger record of 'dev' (row 1) has unreadable SANs"),
            "{err}"
        );
    }

    #[test]
    fn unsynced_reservation_commits_with_synchronous_normal_never_off_and_restores_full() {
        let (_d, mut l) = ledger();
        let level = |c: &Connection| -> i64 {
            c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap()
        };
        let during = std::cell::Cell::new(-1);
        let check = |c: &Connection| -> Result<()> {
            during.set(level(c));
            Ok(())
        };
        l.reserve_unsynced(&record("dev", "01"), false, &check)
            .unwrap();
        // NORMAL (1) in WAL mode: no fsync at commit, but checkpoints and WAL
        // restarts stay synced; OFF (0) would checkpoint without any fsync.
        assert_eq!(during.get(), 1);
        assert_eq!(level(l.conn()), 2, "FULL again after the reservation");
    }

    #[test]
    fn reserve_many_skips_taken_names_or_reserves_nothing() {
        let (_d, mut l) = ledger();
        let r = l.reserve(&record("b", "0b"), false, &no_check).unwrap();
        l.confirm(&r).unwrap();
        let recs = [record("a", "0a"), record("b", "1b"), record("c", "0c")];
        assert!(l.reserve_many(&recs, false, &no_check).is_err());
        assert!(l.cert_by_name("a").unwrap().is_none(), "nothing reserved");
        let ids = l.reserve_many(&recs, true, &no_check).unwrap();
        assert!(ids[0].is_some() && ids[1].is_none() && ids[2].is_some());
        l.release(&[ids[0].unwrap()]).unwrap();
        assert!(l.cert_by_name("a").unwrap().is_none());
        assert_eq!(l.cert_by_name("c").unwrap().unwrap().state, "pending");
    }

    #[test]
    fn settings_are_kept_per_scope_and_cleared_by_none() {
        let (_d, mut l) = ledger();
        assert_eq!(l.setting("ca:root", "crl_url").unwrap(), None);
        l.set_setting("ca:root", "crl_url", Some("http://a/root.crl"))
            .unwrap();
        l.set_setting("ca:root", "b", Some("1")).unwrap();
        l.set_setting("ca:issuing", "crl_url", Some("http://a/issuing.crl"))
            .unwrap();
        l.set_setting("ca:root", "crl_url", Some("http://b/root.crl"))
            .unwrap();
        assert_eq!(
            l.setting("ca:root", "crl_url").unwrap().as_deref(),
            Some("http://b/root.crl")
        );
        assert_eq!(
            l.settings("ca:root").unwrap(),
            vec![
                ("b".to_string(), "1".to_string()),
                ("crl_url".to_string(), "http://b/root.crl".to_string())
            ]
        );
        l.set_setting("ca:root", "crl_url", None).unwrap();
        assert_eq!(l.setting("ca:root", "crl_url").unwrap(), None);
        assert_eq!(
            l.setting("ca:issuing", "crl_url").unwrap().as_deref(),
            Some("http://a/issuing.crl")
        );
    }

    #[test]
    fn opening_a_missing_ledger_is_no_ledger_naming_its_path() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ledger.db");
        for opened in [Ledger::open(&path), Ledger::open_read(&path)] {
            let Err(err) = opened else {
                panic!("a missing ledger opened")
            };
            assert_eq!(err, Error::NoLedger { path: path.clone() });
            assert_eq!((err.code(), err.exit_code()), ("no_ledger", 2));
        }
        assert!(!path.exists(), "looking for a ledger made none");
    }
}
