//! The ledger: every CA and certificate ever issued, its status and
//! revocation, and each CA's CRL number. It is the source of truth for
//! serials and names. The domain operations below are written once against
//! the [`db::Db`] seam; the backend (SQLite `ledger.db` by default) keeps
//! concurrent certsmith processes from losing or duplicating a record.
//! No module outside this one writes SQL.

pub(crate) mod db;
pub mod lease;
mod records;
pub mod schema;
mod sqlite;
pub mod url;
// `ledger copy` and `ledger info`, and the PostgreSQL backend.
mod copy;
mod inventory;
pub mod postgres;
pub use copy::{Copied, target_not_empty};
pub use inventory::{Inventory, KindCount};

use std::path::Path;

use crate::error::{Error, Result};
use db::{CommitSync, Db, Value, params};
use records::{CERT_COLS, ca_from_row, cert_cols_of, cert_from_row};

pub use db::Backend;
pub use records::{
    Actor, CaCounts, CaRecord, CertRecord, Kind, ListFilter, Reservation, audit_json, audit_lines,
    host_name,
};
pub use schema::SCHEMA_VERSION;
pub use url::LedgerUrl;

/// What a command does with the ledger it opens (see [`Ledger::open`] and
/// its siblings for what each takes and changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Write,
    Read,
    ReadLocked,
    KeptWriter,
}

/// An open ledger.
pub struct Ledger {
    db: Box<dyn Db>,
    /// A shared `flock` on the PKI directory, held while this ledger is
    /// open: `doctor --repair` takes it exclusively to know that no other
    /// certsmith process is between `reserve` and `confirm` (see
    /// docs/internals.md). The kernel drops it when the process dies.
    dir_lock: Option<std::fs::File>,
    /// Whether a write transaction of [`Ledger::write`] is open.
    in_write: bool,
    /// Whether a read transaction of [`Ledger::read`] is open.
    in_read: bool,
    /// Whether the open write transaction changed a row: only then is
    /// the change counter bumped (a refusal leaves the ledger's bytes).
    dirty: std::cell::Cell<bool>,
}

/// A check run inside a reservation transaction, on what that transaction
/// reads: what it refuses cannot have changed between the check and the
/// reservation (another process's `revoke` commits either before or after).
pub type Check<'a> = &'a dyn Fn(&Ledger) -> Result<()>;

/// The [`Check`] of a reservation that depends on nothing else (a root CA).
pub fn no_check(_: &Ledger) -> Result<()> {
    Ok(())
}

/// The refusal for a name already in the ledger; a `pending` one names
/// `doctor --repair`, which settles reservations of interrupted commands.
pub fn name_taken(name: &str, pending: bool) -> Error {
    Error::NameTaken {
        name: name.to_string(),
        pending,
    }
}

/// One revoked certificate as a CRL lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: String,
    pub revoked_at: i64,
    pub reason: Option<String>,
    pub not_after: i64,
}

/// What [`Ledger::revoke`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    /// The record is gone (never expected: records are not deleted).
    Vanished,
    /// It was revoked before, at this time and for this reason.
    Already {
        at: i64,
        reason: Option<String>,
    },
}

/// A `pending` row and who holds it (see [`lease`]).
#[derive(Clone, Debug)]
pub struct PendingRow {
    pub record: CertRecord,
    pub owner: Option<String>,
    pub lease_until: Option<i64>,
}

/// What the OCSP responder needs of a serial: its state and revocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SerialStatus {
    pub state: String,
    pub revoked_at: Option<i64>,
    pub reason: Option<String>,
}

/// Opening and transactions.
impl Ledger {
    /// Opens an existing ledger for a command that may write: takes the
    /// shared PKI directory lock first (see [`crate::lock`]). Nothing is
    /// written until the command writes a record (or upgrades an older
    /// ledger).
    pub fn open(path: &Path) -> Result<Ledger> {
        Self::open_mode(path, true, true)
    }

    /// Opens an existing ledger for a command that only reads: no lock is
    /// taken, so it never waits for `doctor --repair`, and no byte changes.
    pub fn open_read(path: &Path) -> Result<Ledger> {
        Self::open_mode(path, false, false)
    }

    /// Opens an existing ledger for a command that only reads but must
    /// know whether it is alone on the PKI (`doctor` without `--repair`):
    /// takes the shared lock like a writer, yet changes no byte (an older
    /// ledger is read as the current version, not upgraded).
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

    /// Opens the ledger at `url` for `access`: the one place every
    /// command's ledger is opened through.
    pub fn open_url(url: &LedgerUrl, access: Access) -> Result<Ledger> {
        match url {
            LedgerUrl::Sqlite(path) => match access {
                Access::Write => Self::open(path),
                Access::Read => Self::open_read(path),
                Access::ReadLocked => Self::open_read_locked(path),
                Access::KeptWriter => Self::open_kept_writer(path),
            },
            LedgerUrl::Postgres(u) => {
                postgres::open(u, matches!(access, Access::Write | Access::KeptWriter))
            }
        }
    }

    /// Creates the ledger at `url` (or opens the one a concurrent `init`
    /// created).
    pub fn create_url(url: &LedgerUrl) -> Result<Ledger> {
        match url {
            LedgerUrl::Sqlite(path) => Self::create(path),
            LedgerUrl::Postgres(u) => postgres::create(u),
        }
    }

    fn open_mode(path: &Path, lock: bool, write: bool) -> Result<Ledger> {
        sqlite::check_file(path)?;
        let dir_lock = if lock {
            crate::lock::shared(sqlite::ledger_dir(path))?
        } else {
            None
        };
        let opened = sqlite::open(path, !write)?;
        let what = path.display().to_string();
        let l = Ledger::from_db(Box::new(opened.db), dir_lock);
        if schema::check_version(&what, opened.version)? {
            if write {
                let backup = sqlite::backup_before_upgrade(l.db.as_ref(), path, opened.version)?;
                // Certificates' DER from the files of the PKI directory the
                // ledger sits in (its usual place), when they are there.
                let upgraded =
                    schema::upgrade(l.db.as_ref(), &what, Some(sqlite::ledger_dir(path)))?;
                if upgraded {
                    crate::error::diagnostic(
                        "certsmith: ",
                        &format!(
                            "upgraded ledger '{what}' from schema version {} to {SCHEMA_VERSION}; the previous one is kept as '{}'",
                            opened.version,
                            backup.display()
                        ),
                    );
                }
            } else {
                schema::read_as_current(l.db.as_ref(), opened.version)?;
            }
        }
        Ok(l)
    }

    /// A ledger over an open database connection (the backend checked
    /// its schema version).
    pub(crate) fn from_db(db: Box<dyn Db>, dir_lock: Option<std::fs::File>) -> Ledger {
        Ledger {
            db,
            dir_lock,
            in_write: false,
            in_read: false,
            dirty: std::cell::Cell::new(false),
        }
    }

    /// Creates a new ledger, or opens the one a concurrent `init` created.
    pub fn create(path: &Path) -> Result<Ledger> {
        sqlite::create(path)?;
        Self::open(path)
    }

    /// Whether the ledger at `path` is missing or holds no certificate (not
    /// even a `pending` reservation of a concurrent process): then a
    /// directory an `init` made for it may be removed again.
    pub fn is_empty_at(path: &Path) -> bool {
        sqlite::is_empty_at(path)
    }

    /// Which database this ledger is in.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Whether several hosts may share this ledger (PostgreSQL): a record
    /// issued on another host has its files on that host. A SQLite ledger
    /// lives in one PKI directory, which holds all its files.
    pub fn shared(&self) -> bool {
        self.backend() == Backend::Postgres
    }

    /// Tries to turn this process's shared lock on the PKI directory into
    /// an exclusive one: true means no other certsmith process has this
    /// PKI open, so `pending` rows are leftovers of a process that died.
    pub fn try_lock_exclusive(&self) -> bool {
        self.dir_lock.as_ref().is_some_and(|f| f.try_lock().is_ok())
    }

    /// Runs `f` inside one write transaction (SQLite `BEGIN IMMEDIATE`):
    /// committed, with the ledger's change counter bumped, when it
    /// succeeds; rolled back when it fails. Inside another write
    /// transaction `f` simply runs as part of it.
    pub fn in_transaction<T>(&mut self, f: impl FnOnce(&mut Ledger) -> Result<T>) -> Result<T> {
        self.write(f)
    }

    fn write<T>(&mut self, f: impl FnOnce(&mut Ledger) -> Result<T>) -> Result<T> {
        if self.in_write {
            return f(self);
        }
        self.db.begin_write()?;
        self.in_write = true;
        self.dirty.set(false);
        let done = f(self).and_then(|v| {
            if self.dirty.get() {
                self.db
                    .execute("UPDATE ledger_version SET n = n + 1", &[])?;
            }
            Ok(v)
        });
        self.in_write = false;
        match done {
            // Nothing changed: nothing to commit.
            Ok(v) if !self.dirty.get() => {
                self.db.rollback()?;
                Ok(v)
            }
            Ok(v) => match self.db.commit() {
                Ok(()) => Ok(v),
                Err(e) => {
                    let _ = self.db.rollback();
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.db.rollback();
                Err(e)
            }
        }
    }

    /// Runs `f` on one consistent snapshot (inside a write transaction,
    /// on that one).
    fn read<T>(&mut self, f: impl FnOnce(&Ledger) -> Result<T>) -> Result<T> {
        if self.in_write || self.in_read {
            return f(self);
        }
        self.db.begin_read()?;
        self.in_read = true;
        let done = f(self);
        self.in_read = false;
        match done {
            Ok(v) => {
                self.db.commit()?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.db.rollback();
                Err(e)
            }
        }
    }

    /// Runs one statement that may change rows, noting whether it did.
    fn exec(&self, sql: &str, params: &[Value]) -> db::DbResult<u64> {
        let n = self.db.execute(sql, params)?;
        if n > 0 {
            self.dirty.set(true);
        }
        Ok(n)
    }

    /// A token that changes whenever any record changes (a counter every
    /// write transaction bumps), for caches such as `serve`'s.
    pub fn change_token(&self) -> Result<i64> {
        match self.db.query_opt("SELECT n FROM ledger_version", &[])? {
            Some(r) => r.get(0),
            None => Ok(0),
        }
    }

    /// The database's own consistency check: `["ok"]`, or what is wrong.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        Ok(self.db.integrity_check()?)
    }

    /// Makes this connection's commits skip waiting for the disk
    /// (`--no-sync`, see [`crate::durability`]).
    pub fn skip_commit_syncs(&self) -> Result<()> {
        Ok(self.db.set_commit_sync(CommitSync::Off)?)
    }
}

/// Settings.
impl Ledger {
    /// The value of setting `key` in `scope`, if set. Scopes: `ca:<name>`
    /// for a CA, `pki` for the whole PKI, `bundle:<target>` for what a
    /// bundle target recorded. Callers go through a typed module that
    /// owns its keys; nothing else spells a key.
    pub fn setting(&self, scope: &str, key: &str) -> Result<Option<String>> {
        match self.db.query_opt(
            "SELECT value FROM settings WHERE scope = ?1 AND key = ?2",
            params![scope, key],
        )? {
            Some(r) => Ok(Some(r.get(0)?)),
            None => Ok(None),
        }
    }

    /// Sets (`Some`) or clears (`None`) setting `key` in `scope`, in one
    /// transaction.
    pub fn set_setting(&mut self, scope: &str, key: &str, value: Option<&str>) -> Result<()> {
        self.write(|l| {
            match value {
                Some(v) => l.exec(
                    "INSERT INTO settings (scope, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                    params![scope, key, v],
                )?,
                None => l.exec(
                    "DELETE FROM settings WHERE scope = ?1 AND key = ?2",
                    params![scope, key],
                )?,
            };
            Ok(())
        })
    }

    /// Every setting in `scope`, sorted by key.
    pub fn settings(&self, scope: &str) -> Result<Vec<(String, String)>> {
        self.db
            .query(
                "SELECT key, value FROM settings WHERE scope = ?1 ORDER BY key",
                params![scope],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }
}

/// Reading records.
impl Ledger {
    /// The current (not superseded) certificate called `name`.
    pub fn cert_by_name(&self, name: &str) -> Result<Option<CertRecord>> {
        self.db
            .query_opt(
                &format!(
                    "SELECT {CERT_COLS} FROM certificates WHERE name = ?1 AND state != 'superseded'"
                ),
                params![name],
            )?
            .map(|r| cert_from_row(&r))
            .transpose()
    }

    /// The state of the current certificate called `name`, if any.
    pub fn current_state(&self, name: &str) -> Result<Option<String>> {
        self.db
            .query_opt(
                "SELECT state FROM certificates WHERE name = ?1 AND state != 'superseded'",
                params![name],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// Certificates with serial `serial` (normalized hex), from any issuer.
    pub fn certs_by_serial(&self, serial: &str) -> Result<Vec<CertRecord>> {
        self.db
            .query(
                &format!("SELECT {CERT_COLS} FROM certificates WHERE serial = ?1"),
                params![serial],
            )?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    /// The CA called `name`.
    pub fn ca(&self, name: &str) -> Result<Option<CaRecord>> {
        self.db
            .query_opt(
                &format!(
                    "SELECT {}, cas.encrypted, cas.pathlen, cas.crl_number, cas.key_store, cas.key_ref, cas.offline
                     FROM cas JOIN certificates c ON c.id = cas.cert_id WHERE cas.name = ?1",
                    cert_cols_of("c")
                ),
                params![name],
            )?
            .map(|r| ca_from_row(&r))
            .transpose()
    }

    /// Every CA, roots first, then in creation order.
    pub fn cas(&self) -> Result<Vec<CaRecord>> {
        let names = self.db.query(
            "SELECT cas.name FROM cas JOIN certificates c ON c.id = cas.cert_id
             ORDER BY CASE WHEN c.kind = 'root' THEN 0 ELSE 1 END, c.id",
            &[],
        )?;
        let mut out = Vec::with_capacity(names.len());
        for r in names {
            if let Some(ca) = self.ca(&r.get::<String>(0)?)? {
                out.push(ca);
            }
        }
        Ok(out)
    }

    /// The serial of the record `r` superseded (a `--force` re-issue), read
    /// in the ledger: the name its write backs up the previous files under.
    pub fn replaced_serial(&self, r: &Reservation) -> Result<Option<String>> {
        let Some(id) = r.replaced else {
            return Ok(None);
        };
        self.db
            .query_opt("SELECT serial FROM certificates WHERE id = ?1", params![id])?
            .map(|r| r.get(0))
            .transpose()
    }

    /// The records whose certificate has SHA-256 `fingerprint`.
    pub fn certs_by_fingerprint(&self, fingerprint: &str) -> Result<Vec<CertRecord>> {
        self.db
            .query(
                &format!("SELECT {CERT_COLS} FROM certificates WHERE fingerprint = ?1 ORDER BY id"),
                params![fingerprint],
            )?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    /// The DER of record `id`, when the ledger holds it.
    pub fn cert_der(&self, id: i64) -> Result<Option<Vec<u8>>> {
        match self
            .db
            .query_opt("SELECT der FROM certificates WHERE id = ?1", params![id])?
        {
            Some(r) => r.get(0),
            None => Ok(None),
        }
    }

    /// The id and directory of the newest active, unrevoked leaf that CA
    /// `issuer` issued, if any.
    pub fn newest_leaf_of(&self, issuer: &str) -> Result<Option<(i64, String)>> {
        match self.db.query_opt(
            "SELECT id, dir FROM certificates WHERE kind = 'leaf' AND state = 'active' \
             AND revoked_at IS NULL AND issuer = ?1 ORDER BY id DESC LIMIT 1",
            params![issuer],
        )? {
            Some(r) => Ok(Some((r.get(0)?, r.get(1)?))),
            None => Ok(None),
        }
    }

    /// Every `pending` row with its reservation's owner and lease.
    pub fn pending(&self) -> Result<Vec<PendingRow>> {
        self.db
            .query(
                &format!(
                    "SELECT {CERT_COLS}, owner, lease_until FROM certificates WHERE state = 'pending' ORDER BY id DESC"
                ),
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(PendingRow {
                    record: cert_from_row(r)?,
                    owner: r.get(22)?,
                    lease_until: r.get(23)?,
                })
            })
            .collect()
    }

    /// Extends the lease of every row this process still holds pending
    /// (a long batch calls it as it goes).
    pub fn renew_leases(&mut self) -> Result<()> {
        let lease = lease::Lease::mine()?;
        self.write(|l| {
            l.exec(
                "UPDATE certificates SET lease_until = ?1 WHERE owner = ?2 AND state = 'pending'",
                params![lease.until, &lease.owner],
            )?;
            Ok(())
        })
    }

    /// The serial of the newest superseded record called `name`, if any.
    pub fn last_superseded_serial(&self, name: &str) -> Result<Option<String>> {
        self.db
            .query_opt(
                "SELECT serial FROM certificates WHERE name = ?1 AND state = 'superseded' ORDER BY id DESC LIMIT 1",
                params![name],
            )?
            .map(|r| r.get(0))
            .transpose()
    }

    /// `(name, stored directory)` of every record, pending ones included.
    pub fn names_and_dirs(&self) -> Result<Vec<(String, String)>> {
        self.db
            .query("SELECT name, dir FROM certificates", &[])?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
    }

    /// Certificates matching `f`, newest first.
    pub fn list(&self, f: &ListFilter) -> Result<Vec<CertRecord>> {
        let mut sql = format!("SELECT {CERT_COLS} FROM certificates WHERE 1=1");
        let mut args: Vec<Value> = Vec::new();
        if !f.include_cas {
            sql.push_str(" AND kind = 'leaf'");
        }
        // A revoked certificate is on the CRL whatever its state (doctor
        // revokes an interrupted archive batch's rows as superseded).
        if !f.include_superseded && !f.revoked_only {
            sql.push_str(" AND state != 'superseded'");
        }
        if let Some(i) = &f.issuer {
            args.push(i.into());
            sql.push_str(&format!(" AND issuer = ?{}", args.len()));
        }
        if let Some(t) = f.expiring_before {
            args.push(t.into());
            sql.push_str(&format!(
                " AND not_after <= ?{} AND revoked_at IS NULL",
                args.len()
            ));
        }
        if f.revoked_only {
            sql.push_str(" AND revoked_at IS NOT NULL");
        }
        sql.push_str(if f.expiring_before.is_some() {
            " ORDER BY not_after"
        } else {
            " ORDER BY id DESC"
        });
        self.db
            .query(&sql, &args)?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    /// Issued / revoked / expiring-before-`soon` counts of the current
    /// certificates each CA issued (CAs included), keyed by CA name; revoked
    /// counts every revoked certificate, as the CRL lists it.
    pub fn counts(
        &self,
        now: i64,
        soon: i64,
    ) -> Result<std::collections::HashMap<String, CaCounts>> {
        self.db
            .query(
                "SELECT issuer,
                        COUNT(CASE WHEN state != 'superseded' THEN 1 END),
                        COUNT(CASE WHEN revoked_at IS NOT NULL THEN 1 END),
                        COUNT(CASE WHEN state != 'superseded' AND revoked_at IS NULL AND not_after >= ?1 AND not_after < ?2 THEN 1 END)
                 FROM certificates WHERE (state != 'superseded' OR revoked_at IS NOT NULL)
                   AND issuer IS NOT NULL AND issuer != name
                 GROUP BY issuer",
                params![now, soon],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.get::<String>(0)?,
                    CaCounts {
                        issued: r.get(1)?,
                        revoked: r.get(2)?,
                        expiring: r.get(3)?,
                    },
                ))
            })
            .collect()
    }
}

/// Reserving, confirming and releasing names.
impl Ledger {
    /// Inserts `r` in state `state`, recorded by this host and user, with
    /// this process's lease when pending; its new row id.
    fn insert(&self, r: &CertRecord, state: &str) -> Result<i64> {
        let by = r.issued_by.clone().unwrap_or_else(Actor::current);
        let (owner, lease_until) = if state == "pending" {
            let lease = lease::Lease::mine()?;
            (Some(lease.owner), Some(lease.until))
        } else {
            (None, None)
        };
        self.dirty.set(true);
        let row = self.db.query_opt(
            "INSERT INTO certificates (name, kind, issuer, serial, subject, sans, profile, key_type, not_before, not_after, fingerprint, state, revoked_at, revocation_reason, dir, has_key, created_at, der, issued_host, issued_user, owner, lease_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22) RETURNING id",
            params![
                &r.name,
                r.kind.as_str(),
                r.issuer.as_deref(),
                &r.serial,
                &r.subject,
                serde_json::to_string(&r.sans).unwrap_or_else(|_| "[]".into()),
                &r.profile,
                &r.key_type,
                r.not_before,
                r.not_after,
                &r.fingerprint,
                state,
                r.revoked_at,
                r.revocation_reason.as_deref(),
                &r.dir,
                r.has_key,
                r.created_at,
                r.der.as_deref(),
                by.host,
                by.user,
                owner,
                lease_until,
            ],
        );
        match row {
            Ok(Some(row)) => row.get(0),
            Ok(None) => Err(Error::Ledger {
                detail: "an insert returned no row id".into(),
            }),
            Err(e) if e.unique_violation => Err(Error::input(format!(
                "the ledger already holds a certificate named '{}' or serial {} from issuer '{}'",
                r.name,
                r.serial,
                r.issuer.as_deref().unwrap_or("-")
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Holds `rec.name` with a `pending` record. With `replace`, a current
    /// record of that name is marked superseded in the same transaction.
    pub fn reserve(
        &mut self,
        rec: &CertRecord,
        replace: bool,
        check: Check<'_>,
    ) -> Result<Reservation> {
        self.write(|l| {
            check(l)?;
            let existing = l.db.query_opt(
                "SELECT id, state FROM certificates WHERE name = ?1 AND state != 'superseded'",
                params![&rec.name],
            )?;
            let mut replaced = None;
            if let Some(row) = existing {
                let (id, state): (i64, String) = (row.get(0)?, row.get(1)?);
                if !replace || state == "pending" {
                    return Err(name_taken(&rec.name, state == "pending"));
                }
                l.exec(
                    "UPDATE certificates SET state = 'superseded' WHERE id = ?1",
                    params![id],
                )?;
                replaced = Some(id);
            }
            let id = l.insert(rec, "pending")?;
            Ok(Reservation { id, replaced })
        })
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
        let level = self.db.commit_sync()?;
        if level == CommitSync::Full {
            self.db.set_commit_sync(CommitSync::Normal)?;
        }
        let r = self.reserve(rec, replace, check);
        let back = self.db.set_commit_sync(level).map_err(Error::from);
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

    /// Makes the reserved certificate `r` (a re-issue of CA `name`'s
    /// certificate, which `reserve` with `replace` superseded) the CA's
    /// current certificate and marks it active, in one transaction; an
    /// error, changing nothing, unless both rows changed.
    pub fn confirm_ca_reissue(&mut self, r: &Reservation, name: &str) -> Result<()> {
        self.write(|l| {
            let moved = l.exec(
                "UPDATE cas SET cert_id = ?2 WHERE name = ?1",
                params![name, r.id],
            )?;
            let activated = l.exec(
                "UPDATE certificates SET state = 'active', owner = NULL, lease_until = NULL WHERE id = ?1 AND state = 'pending'",
                params![r.id],
            )?;
            if moved != 1 || activated != 1 {
                return Err(Error::failed(format!(
                    "the ledger changed under this command: CA '{}' or its new certificate is gone",
                    crate::error::shown(name)
                ))
                .hint("run `certsmith doctor`"));
            }
            Ok(())
        })
    }

    /// Marks the `pending` rows `ids` active in one transaction; an error,
    /// changing nothing, unless every one of them changed.
    pub fn activate(&mut self, ids: &[i64]) -> Result<()> {
        self.write(|l| {
            let mut changed = 0;
            for id in ids {
                changed += l.exec(
                    "UPDATE certificates SET state = 'active', owner = NULL, lease_until = NULL WHERE id = ?1 AND state = 'pending'",
                    params![*id],
                )?;
            }
            if changed != ids.len() as u64 {
                return Err(Error::failed(format!(
                    "the ledger changed under this command: {} of {} reserved record(s) were no longer pending",
                    ids.len() as u64 - changed,
                    ids.len()
                ))
                .hint("run `certsmith doctor`"));
            }
            Ok(())
        })
    }

    /// Marks one `pending` row active (`doctor --repair`, once its files
    /// are in place); false when it was no longer pending.
    pub fn settle_active(&mut self, id: i64) -> Result<bool> {
        self.write(|l| {
            Ok(l.exec(
                "UPDATE certificates SET state = 'active', owner = NULL, lease_until = NULL WHERE id = ?1 AND state = 'pending'",
                params![id],
            )? == 1)
        })
    }

    /// Revokes a `pending` row and marks it superseded (`doctor --repair`
    /// of a certificate an interrupted archive batch may have let out).
    pub fn settle_revoked(&mut self, id: i64, at: i64, reason: &str) -> Result<bool> {
        self.write(|l| {
            let by = Actor::current();
            Ok(l.exec(
                "UPDATE certificates SET state = 'superseded', revoked_at = ?1, revocation_reason = ?2,
                     revoked_host = ?3, revoked_user = ?4, owner = NULL, lease_until = NULL
                 WHERE id = ?5 AND state = 'pending'",
                params![at, reason, by.host, by.user, id],
            )? == 1)
        })
    }

    /// Deletes a dead reservation and brings back the record it superseded
    /// (an interrupted `--force` re-issue), in one transaction.
    pub fn settle_dropped(&mut self, id: i64, name: &str) -> Result<()> {
        self.write(|l| {
            l.exec("DELETE FROM cas WHERE cert_id = ?1", params![id])?;
            l.exec(
                "DELETE FROM certificates WHERE id = ?1 AND state = 'pending'",
                params![id],
            )?;
            l.exec(
                "UPDATE certificates SET state = 'active' WHERE id = (
                     SELECT id FROM certificates WHERE name = ?1 AND state = 'superseded' ORDER BY id DESC LIMIT 1)
                 AND NOT EXISTS (SELECT 1 FROM certificates WHERE name = ?1 AND state != 'superseded')",
                params![name],
            )?;
            Ok(())
        })
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
        self.write(|l| {
            for id in ids {
                l.exec("DELETE FROM cas WHERE cert_id = ?1", params![*id])?;
                l.exec(
                    "DELETE FROM certificates WHERE id = ?1 AND state = 'pending'",
                    params![*id],
                )?;
            }
            if let Some(old) = replaced {
                l.exec(
                    "UPDATE certificates SET state = 'active' WHERE id = ?1",
                    params![old],
                )?;
            }
            Ok(())
        })
        .map_err(|e| {
            let detail = match &e {
                Error::Ledger { detail } => detail.clone(),
                other => other.to_string(),
            };
            Error::failed(format!(
                "cannot release the ledger reservation of this command: {}",
                detail.to_lowercase()
            ))
            .hint("run `certsmith doctor --repair` to settle it")
        })
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
        self.write(|l| {
            check(l)?;
            if encrypted || matches!(key_ref, crate::keystore::KeyRef::Pkcs11(_)) {
                let protection = if encrypted {
                    "an encrypted key"
                } else {
                    "a key in a token"
                };
                crate::durability::refuse_protected_ca(l, &rec.name, protection)?;
            }
            let taken = l.db.query_opt(
                "SELECT 1 FROM certificates WHERE name = ?1 AND state != 'superseded'
                 UNION ALL SELECT 1 FROM cas WHERE name = ?1",
                params![&rec.name],
            )?;
            if taken.is_some() {
                return Err(name_taken(&rec.name, false));
            }
            let id = l.insert(rec, "pending")?;
            l.exec(
                "INSERT INTO cas (name, cert_id, encrypted, pathlen, key_store, key_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    &rec.name,
                    id,
                    encrypted,
                    pathlen.map(i64::from),
                    key_ref.to_ledger().map(|_| key_ref.store().as_str()),
                    key_ref.to_ledger()
                ],
            )?;
            Ok(Reservation { id, replaced: None })
        })
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
        self.write(|l| {
            check(l)?;
            let mut ids = Vec::with_capacity(recs.len());
            for r in recs {
                match l.current_state(&r.name)? {
                    Some(_) if skip_taken => ids.push(None),
                    Some(state) => return Err(name_taken(&r.name, state == "pending")),
                    None => ids.push(Some(l.insert(r, "pending")?)),
                }
            }
            Ok(ids)
        })
    }

    /// Drops `pending` rows (for batch) whose files were never written.
    pub fn release(&mut self, ids: &[i64]) -> Result<()> {
        self.drop_pending(ids, None)
    }
}

/// CAs, revocation and CRLs.
impl Ledger {
    /// Records whether the key file of CA `name` is encrypted.
    pub fn set_key_encrypted(&mut self, name: &str, encrypted: bool) -> Result<()> {
        self.write(|l| {
            l.exec(
                "UPDATE cas SET encrypted = ?1 WHERE name = ?2",
                params![encrypted, name],
            )?;
            Ok(())
        })
    }

    /// Records where CA `name`'s key is: online, or away (`key offline`).
    pub fn set_offline(&mut self, name: &str, offline: bool) -> Result<bool> {
        self.write(|l| {
            Ok(l.exec(
                "UPDATE cas SET offline = ?2 WHERE name = ?1",
                params![name, offline],
            )? == 1)
        })
    }

    /// Revokes record `id` at `at` for `reason`, in one write transaction,
    /// unless it was revoked before.
    pub fn revoke(&mut self, id: i64, at: i64, reason: &str) -> Result<RevokeOutcome> {
        self.write(|l| {
            let Some(row) = l.db.query_opt(
                "SELECT revoked_at, revocation_reason FROM certificates WHERE id = ?1",
                params![id],
            )?
            else {
                return Ok(RevokeOutcome::Vanished);
            };
            if let Some(at) = row.get::<Option<i64>>(0)? {
                return Ok(RevokeOutcome::Already {
                    at,
                    reason: row.get(1)?,
                });
            }
            let by = Actor::current();
            l.exec(
                "UPDATE certificates SET revoked_at = ?1, revocation_reason = ?2, revoked_host = ?3, revoked_user = ?4 WHERE id = ?5",
                params![at, reason, by.host, by.user, id],
            )?;
            Ok(RevokeOutcome::Revoked)
        })
    }

    /// The last CRL number recorded for CA `ca` and every certificate it
    /// revoked (oldest revocation first), read on one snapshot.
    pub fn crl_state(&mut self, ca: &str) -> Result<(i64, Vec<RevokedEntry>)> {
        self.read(|l| {
            let number: i64 = match l
                .db
                .query_opt("SELECT crl_number FROM cas WHERE name = ?1", params![ca])?
            {
                Some(r) => r.get(0)?,
                None => {
                    return Err(Error::failed(format!(
                        "CA {} is no longer in the ledger",
                        crate::error::shown(ca)
                    )));
                }
            };
            // One query over the partial index on revoked certificates
            // keeps a CRL of 100k entries fast.
            let entries =
                l.db.query(
                    "SELECT serial, revoked_at, revocation_reason, not_after FROM certificates
                     WHERE issuer = ?1 AND revoked_at IS NOT NULL ORDER BY revoked_at, id",
                    params![ca],
                )?
                .iter()
                .map(|r| {
                    Ok(RevokedEntry {
                        serial: r.get(0)?,
                        revoked_at: r.get(1)?,
                        reason: r.get(2)?,
                        not_after: r.get(3)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((number, entries))
        })
    }

    /// Records `number` as CA `ca`'s last CRL number; false (changing
    /// nothing) unless it is higher than the one recorded.
    pub fn record_crl_number(&mut self, ca: &str, number: i64) -> Result<bool> {
        self.write(|l| {
            Ok(l.exec(
                "UPDATE cas SET crl_number = ?2 WHERE name = ?1 AND crl_number < ?2",
                params![ca, number],
            )? == 1)
        })
    }

    /// How many certificates CA `ca` revoked and when it last did (0 if
    /// never): what a cached CRL of it must still match.
    pub fn revocation_summary(&self, ca: &str) -> Result<(i64, i64)> {
        match self.db.query_opt(
            "SELECT COUNT(*), COALESCE(MAX(revoked_at), 0) FROM certificates
             WHERE issuer = ?1 AND revoked_at IS NOT NULL",
            params![ca],
        )? {
            Some(r) => Ok((r.get(0)?, r.get(1)?)),
            None => Ok((0, 0)),
        }
    }

    /// Serials CA `ca` revoked at or after `since`.
    pub fn revoked_since(&self, ca: &str, since: i64) -> Result<Vec<String>> {
        self.db
            .query(
                "SELECT serial FROM certificates WHERE issuer = ?1 AND revoked_at >= ?2",
                params![ca, since],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The state and revocation of the certificate CA `ca` issued with
    /// serial `serial` (normalized hex), if any.
    pub fn serial_status(&self, ca: &str, serial: &str) -> Result<Option<SerialStatus>> {
        self.db
            .query_opt(
                "SELECT state, revoked_at, revocation_reason FROM certificates WHERE issuer = ?1 AND serial = ?2",
                params![ca, serial],
            )?
            .map(|r| {
                Ok(SerialStatus {
                    state: r.get(0)?,
                    revoked_at: r.get(1)?,
                    reason: r.get(2)?,
                })
            })
            .transpose()
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
            issued_by: None,
            revoked_by: None,
            der: None,
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
        l.db.execute_batch("DELETE FROM certificates").unwrap();
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
        l.db.execute_batch("PRAGMA query_only = ON").unwrap();
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
        l.db.execute_batch("UPDATE certificates SET sans = 'not json'")
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
        let during = std::cell::Cell::new(None);
        let check = |l: &Ledger| -> Result<()> {
            during.set(Some(l.db.commit_sync()?));
            Ok(())
        };
        l.reserve_unsynced(&record("dev", "01"), false, &check)
            .unwrap();
        // NORMAL in WAL mode: no fsync at commit, but checkpoints and WAL
        // restarts stay synced; OFF would checkpoint without any fsync.
        assert_eq!(during.get(), Some(CommitSync::Normal));
        assert_eq!(
            l.db.commit_sync().unwrap(),
            CommitSync::Full,
            "FULL again after the reservation"
        );
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

    /// Every `.rs` file under `dir`, recursively.
    fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// The lines of `text` that reach a database directly: the SQLite
    /// crate, or a string literal starting with an SQL statement.
    fn sql_lines(text: &str) -> Vec<String> {
        let words = [
            "SELECT ", "UPDATE ", "INSERT ", "DELETE ", "PRAGMA ", "BEGIN", "CREATE ",
        ];
        text.lines()
            .filter(|l| {
                l.contains("rusqlite")
                    || l.contains("postgres::")
                    || words.iter().any(|w| l.contains(&format!("\"{w}")))
            })
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn no_module_outside_the_ledger_reaches_the_database() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let ledger = src.join("ledger");
        let found: Vec<String> = files
            .iter()
            .filter(|f| !f.starts_with(&ledger))
            .flat_map(|f| {
                let text = std::fs::read_to_string(f).unwrap();
                sql_lines(&text)
                    .into_iter()
                    .map(move |l| format!("{}: {}", f.display(), l.trim()))
            })
            .collect();
        assert!(files.len() > 50, "src/ was not found");
        assert!(
            found.is_empty(),
            "SQL outside src/ledger/:\n{}",
            found.join("\n")
        );
        // The scan itself finds what it looks for.
        assert_eq!(
            sql_lines("let x = c.query_row(\n\"SELECT 1\", [], f);\nuse rusqlite::Row;").len(),
            2
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
