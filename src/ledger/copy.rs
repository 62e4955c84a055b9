//! `ledger copy`: every row of one ledger into a new, empty one (SQLite →
//! PostgreSQL and back), in one transaction on the target, checked before
//! it commits: each table's row count, and each certificate's SHA-256
//! fingerprint against its DER. Nothing of a failed copy stays behind.

use sha2::Digest;

use super::db::{Backend, Db, Value};
use super::url::LedgerUrl;
use super::{Ledger, schema};
use crate::error::{Error, Result};

/// The tables of a ledger in an order that keeps references valid
/// (`cas.cert_id` names a certificate), with the columns their rows are
/// read in order of.
const TABLES: &[(&str, &str)] = &[
    ("certificates", "id"),
    ("cas", "name"),
    ("settings", "scope, key"),
];

/// What a copy wrote, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    /// Rows per table, as counted in the target after the copy.
    pub rows: Vec<(String, u64)>,
    /// Certificates whose DER the target holds and whose fingerprint matched it.
    pub fingerprints_checked: u64,
    pub schema_version: i64,
}

/// The refusal of a copy target that holds anything already.
pub fn target_not_empty(target: &str) -> Error {
    Error::input(format!(
        "ledger copy target '{}' is not empty",
        crate::error::shown(target)
    ))
    .hint("copy into a new, empty database, or a SQLite path that does not exist yet")
}

impl Ledger {
    /// Copies every row of this ledger into `target`, a new ledger's empty
    /// database: `fresh` means its tables do not exist yet (they are
    /// created in the same transaction). `what` names the target in errors.
    pub(crate) fn copy_into(&self, target: &dyn Db, fresh: bool) -> Result<Copied> {
        self.db.begin_read()?;
        let copied = target
            .begin_write()
            .map_err(Error::from)
            .and_then(|()| self.copy_rows(target, fresh));
        let _ = self.db.rollback();
        match copied {
            Ok(c) => {
                target.commit()?;
                Ok(c)
            }
            Err(e) => {
                let _ = target.rollback();
                Err(e)
            }
        }
    }

    fn copy_rows(&self, target: &dyn Db, fresh: bool) -> Result<Copied> {
        if fresh {
            target.execute_batch(schema::ddl(target.backend()))?;
        }
        let version: i64 = match self
            .db
            .query_opt("SELECT version FROM schema_version", &[])?
        {
            Some(r) => r.get(0)?,
            None => 0,
        };
        if version != schema::SCHEMA_VERSION {
            return Err(Error::input(format!(
                "this ledger has schema version {version}; ledger copy needs version {}",
                schema::SCHEMA_VERSION
            ))
            .hint("run any command that writes (e.g. `certsmith doctor --repair`) to upgrade it first"));
        }
        target.execute("DELETE FROM schema_version", &[])?;
        target.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            &[Value::Int(version)],
        )?;
        let mut rows = Vec::new();
        for (table, order) in TABLES {
            let source = self
                .db
                .query(&format!("SELECT * FROM {table} ORDER BY {order}"), &[])?;
            for row in &source {
                let cols = row.columns.join(", ");
                let marks: Vec<String> = (1..=row.values.len()).map(|i| format!("?{i}")).collect();
                target.execute(
                    &format!("INSERT INTO {table} ({cols}) VALUES ({})", marks.join(", ")),
                    &row.values,
                )?;
            }
            let counted = count(target, table)?;
            if counted != source.len() as u64 {
                return Err(Error::failed(format!(
                    "ledger copy: the target holds {counted} rows of {table}, the source {}",
                    source.len()
                )));
            }
            rows.push((table.to_string(), counted));
        }
        if let Some(r) = self.db.query_opt("SELECT n FROM ledger_version", &[])? {
            target.execute("UPDATE ledger_version SET n = ?1", &[r.values[0].clone()])?;
        }
        if target.backend() == Backend::Postgres {
            // Explicit ids leave the identity's sequence behind: new rows
            // must get ids after the copied ones.
            target.query(
                "SELECT setval(pg_get_serial_sequence('certificates', 'id'), MAX(id)) FROM certificates",
                &[],
            )?;
        }
        let fingerprints_checked = check_fingerprints(target)?;
        Ok(Copied {
            rows,
            fingerprints_checked,
            schema_version: version,
        })
    }
}

fn count(db: &dyn Db, table: &str) -> Result<u64> {
    let n: i64 = match db.query_opt(&format!("SELECT COUNT(*) FROM {table}"), &[])? {
        Some(r) => r.get(0)?,
        None => 0,
    };
    Ok(n as u64)
}

/// Checks every certificate DER the target holds against its recorded
/// fingerprint (SHA-256, lowercase hex); the number checked.
fn check_fingerprints(db: &dyn Db) -> Result<u64> {
    let rows = db.query(
        "SELECT name, fingerprint, der FROM certificates WHERE der IS NOT NULL ORDER BY id",
        &[],
    )?;
    for r in &rows {
        let name: String = r.get(0)?;
        let fingerprint: String = r.get(1)?;
        let der: Vec<u8> = r.get(2)?;
        let actual = crate::serial::to_hex(&sha2::Sha256::digest(&der));
        if actual != fingerprint {
            return Err(Error::failed(format!(
                "ledger copy: certificate '{}' arrived with fingerprint {actual}, not {fingerprint}",
                crate::error::shown(&name)
            )));
        }
    }
    Ok(rows.len() as u64)
}

impl Ledger {
    /// Copies this ledger into a new ledger at `to`: a SQLite path that
    /// does not exist yet, or an empty PostgreSQL database. A target that
    /// holds anything is refused unchanged; a failed copy leaves nothing.
    pub fn copy_to(&self, to: &LedgerUrl) -> Result<Copied> {
        match to {
            LedgerUrl::Sqlite(path) => {
                if std::fs::symlink_metadata(path).is_ok() {
                    return Err(target_not_empty(&to.redacted()));
                }
                super::sqlite::create(path)?;
                let copied = super::sqlite::open(path, false)
                    .and_then(|opened| self.copy_into(&opened.db, false));
                if copied.is_err() {
                    for suffix in ["", "-wal", "-shm"] {
                        let mut p = path.as_os_str().to_owned();
                        p.push(suffix);
                        let _ = std::fs::remove_file(p);
                    }
                }
                copied
            }
            LedgerUrl::Postgres(url) => {
                let db = super::postgres::PostgresDb::connect(url)?;
                if !db.is_empty()? {
                    return Err(target_not_empty(&to.redacted()));
                }
                self.copy_into(&db, true)
            }
        }
    }
}
