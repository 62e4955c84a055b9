//! The SQLite [`Db`]: one local file (`<pki>/ledger.db`), WAL mode, a busy
//! timeout and `BEGIN IMMEDIATE` write transactions, so concurrent
//! certsmith processes on one machine never lose or duplicate a record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::db::{Backend, CommitSync, Db, DbError, DbResult, Row, Value};
use crate::error::{Error, Result};

/// A connection to a SQLite ledger.
pub struct SqliteDb {
    conn: Connection,
    /// The ledger's `-wal` / `-shm` files that did not exist before this
    /// connection opened it.
    sidecars: Vec<PathBuf>,
}

/// The ledger this process opened, for errors that need its path.
static ERROR_PATH: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

/// Turns a SQLite failure into a one-line error; a full disk or quota
/// (SQLite's FULL, or an I/O error whose errno says so) gets the one
/// message [`crate::store::no_space`].
pub(super) fn db_err(e: rusqlite::Error) -> Error {
    if disk_full(&e) {
        return crate::store::no_space(&error_path());
    }
    Error::Ledger {
        detail: e.to_string(),
    }
}

fn map_err(e: rusqlite::Error) -> DbError {
    let unique_violation = matches!(
        &e,
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation
            && matches!(
                f.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            )
    );
    DbError {
        unique_violation,
        error: db_err(e),
    }
}

/// The path of the ledger last opened, for messages.
fn error_path() -> PathBuf {
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

fn to_sql(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        Value::Int(i) => S::Integer(*i),
        Value::Text(s) => S::Text(s.clone()),
        Value::Blob(b) => S::Blob(b.clone()),
        Value::Null => S::Null,
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        // No column of the ledger is a REAL; a stray one reads as its text.
        ValueRef::Real(f) => Value::Text(f.to_string()),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

impl SqliteDb {
    /// Runs `f`, retried while the database is busy when no transaction is
    /// open (inside one, the busy handler already waited at its start).
    fn run<T>(&self, mut f: impl FnMut(&Connection) -> rusqlite::Result<T>) -> DbResult<T> {
        if self.conn.is_autocommit() {
            retry_busy(|| f(&self.conn)).map_err(map_err)
        } else {
            f(&self.conn).map_err(map_err)
        }
    }
}

impl Db for SqliteDb {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64> {
        self.run(|c| {
            let mut st = c.prepare_cached(sql)?;
            st.execute(rusqlite::params_from_iter(params.iter().map(to_sql)))
                .map(|n| n as u64)
        })
    }

    fn execute_batch(&self, sql: &str) -> DbResult<()> {
        self.run(|c| c.execute_batch(sql))
    }

    fn query(&self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        self.run(|c| {
            let mut st = c.prepare_cached(sql)?;
            let columns: std::sync::Arc<[String]> = st
                .column_names()
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
                .into();
            let n = columns.len();
            let mut rows = st.query(rusqlite::params_from_iter(params.iter().map(to_sql)))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let mut values = Vec::with_capacity(n);
                for i in 0..n {
                    values.push(from_sql(r.get_ref(i)?));
                }
                out.push(Row {
                    columns: columns.clone(),
                    values,
                });
            }
            Ok(out)
        })
    }

    fn begin_write(&self) -> DbResult<()> {
        self.run(|c| c.execute_batch("BEGIN IMMEDIATE"))
    }

    fn begin_read(&self) -> DbResult<()> {
        self.run(|c| c.execute_batch("BEGIN"))
    }

    fn commit(&self) -> DbResult<()> {
        self.conn.execute_batch("COMMIT").map_err(map_err)
    }

    fn rollback(&self) -> DbResult<()> {
        if self.conn.is_autocommit() {
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(map_err)
    }

    fn integrity_check(&self) -> DbResult<Vec<String>> {
        self.query("PRAGMA integrity_check", &[])?
            .iter()
            .map(|r| r.get::<String>(0).map_err(DbError::from))
            .collect()
    }

    fn commit_sync(&self) -> DbResult<CommitSync> {
        let level: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .map_err(map_err)?;
        Ok(match level {
            0 => CommitSync::Off,
            1 => CommitSync::Normal,
            _ => CommitSync::Full,
        })
    }

    fn set_commit_sync(&self, level: CommitSync) -> DbResult<()> {
        let v = match level {
            CommitSync::Off => "OFF",
            CommitSync::Normal => "NORMAL",
            CommitSync::Full => "FULL",
        };
        self.conn
            .execute_batch(&format!("PRAGMA synchronous={v}"))
            .map_err(map_err)
    }
}

/// The directory holding the ledger file `path`.
pub(super) fn ledger_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `ledger.db-wal` and the like.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    p.into()
}

/// What opening a SQLite ledger found: the connection and its schema version.
pub(super) struct Opened {
    pub db: SqliteDb,
    pub version: i64,
}

/// Opens the ledger file at `path` (never creating it, never through a
/// symlink) and reads its schema version; `read_only` connections leave a
/// foreign `-wal` as they found it. Refusals name the path.
pub(super) fn open(path: &Path, read_only: bool) -> Result<Opened> {
    let not_ledger = || Error::input(format!("'{}' is not a certsmith ledger", path.display()));
    check_file(path)?;
    // Whether it is an SQLite file at all is asked of SQLite, never by
    // reading it through a handle of our own: on Linux closing any
    // descriptor of a file drops every POSIX lock this process holds on
    // it, those of SQLite connections still open here (`serve`)
    // included; another process would then checkpoint and remove the
    // -wal / -shm under them. An empty or foreign file fails the version
    // query below (no table, or not a database) before anything is
    // written: it is refused as not a ledger, unchanged.
    let db = connect(path, read_only)?;
    let v = retry_busy(|| {
        use rusqlite::OptionalExtension;
        db.conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .optional()
    });
    match v {
        Ok(Some(version)) => Ok(Opened { db, version }),
        Ok(None) => Err(not_ledger()),
        Err(e) if disk_full(&e) => {
            // The message first: closing makes system calls that change errno.
            let err = db_err(e);
            db.close_leaving_nothing();
            Err(err)
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
        ) => Err(db_err(e)),
        Err(_) => Err(not_ledger()),
    }
}

/// Refuses a ledger path that is missing, a symlink or not a file.
pub(super) fn check_file(path: &Path) -> Result<()> {
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
    Ok(())
}

/// Builds a new ledger complete (0600, WAL mode, schema, version) in a
/// temporary file beside `path` and links it into place without
/// clobbering, so no process ever opens a half-created ledger: racing
/// `init`s each build one, one wins, the others open the winner's.
pub(super) fn create(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dir = ledger_dir(path);
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
        let db = SqliteDb {
            conn,
            sidecars: Vec::new(),
        };
        super::schema::create(&db)?;
        // Closing checkpoints the WAL into the file and removes -wal / -shm.
        db.conn.close().map_err(|(_, e)| db_err(e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| crate::store::io_err("cannot write", tmp.path(), &e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => crate::store::sync_dir(dir),
        // Another `init` linked its complete ledger first: use that one.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(crate::store::io_err("cannot create", path, &e.error)),
    }
}

/// Opens the SQLite connection: never creates the file, never follows a
/// symlink, and changes nothing (the journal mode is set when the ledger
/// is created, not on every open). For a `read_only` command, a non-empty
/// `-wal` found at open (a writer died before it was checkpointed) is not
/// checkpointed on close, so ledger.db, the `-wal` and the `-shm` stay as
/// they were.
fn connect(path: &Path, read_only: bool) -> Result<SqliteDb> {
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
    let db = SqliteDb { conn, sidecars };
    let setup = db.conn.busy_timeout(Duration::from_secs(60)).and_then(|_| {
        if read_only && foreign_wal {
            db.conn
                .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
        }
        db.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
    });
    match setup {
        Ok(()) => Ok(db),
        Err(e) if disk_full(&e) => {
            // The message first: closing makes system calls that change errno.
            let err = db_err(e);
            db.close_leaving_nothing();
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

impl SqliteDb {
    /// Closes a ledger that failed to open for want of space and removes
    /// the `-wal` / `-shm` files this process created, so the failure
    /// leaves the PKI directory as it was. Another process may have opened
    /// the ledger between the check and the open, and written into them:
    /// so both are removed only while no other process has the ledger
    /// open (see [`crate::lock::shm_unused`]), and the `-wal` only when it
    /// is empty (one holding frames holds committed rows).
    fn close_leaving_nothing(self) {
        let SqliteDb { conn, sidecars } = self;
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
        let shm = PathBuf::from(std::ffi::OsString::from_vec(shm));
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
}

/// Whether the ledger at `path` is missing or holds no certificate (not
/// even a `pending` reservation of a concurrent process). A ledger
/// without the table (its creation failed) is empty too; one that cannot
/// be read is not.
pub(super) fn is_empty_at(path: &Path) -> bool {
    if !path.exists() {
        return true;
    }
    Connection::open(path)
        .and_then(|c| {
            c.busy_timeout(Duration::from_secs(60))?;
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

/// Copies the ledger at `path`, at schema `version`, before an upgrade:
/// `<path>.v<version>-backup-<time>`, 0600, a consistent copy made by
/// SQLite itself (`VACUUM INTO`). Another process upgrading at the same
/// moment may have made that very copy: then it is kept as it is.
pub(super) fn backup_before_upgrade(db: &dyn Db, path: &Path, version: i64) -> Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let now = crate::clock::now()?;
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".v{version}-backup-{stamp}"));
    let backup = PathBuf::from(name);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&backup)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(backup),
        Err(e) => return Err(crate::store::io_err("cannot create", &backup, &e)),
    }
    let copied = db
        .execute(
            "VACUUM INTO ?1",
            &[Value::Text(backup.to_string_lossy().into_owned())],
        )
        .map_err(Error::from)
        .and_then(|_| {
            std::fs::File::open(&backup)
                .and_then(|f| f.sync_all())
                .map_err(|e| crate::store::io_err("cannot write", &backup, &e))
        })
        .and_then(|()| crate::store::sync_dir(ledger_dir(path)));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&backup);
        return Err(e);
    }
    Ok(backup)
}
