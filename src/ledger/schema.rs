//! The ledger's tables, per backend, and the versioned steps that upgrade
//! an older ledger in place, in one transaction.

use std::path::Path;

use super::db::{Backend, Db};
use crate::error::{Error, Result};

/// The schema version this build writes and reads. Version 1 (certsmith
/// 0.1) had no key store columns on `cas`, version 2 no `settings` table,
/// version 3 no DER, audit or lease columns and no change counter.
pub const SCHEMA_VERSION: i64 = 4;

/// One upgrade step: from version `from` to `from + 1`.
struct Step {
    from: i64,
    sqlite: &'static str,
    /// `None`: no PostgreSQL ledger was ever at version `from`.
    postgres: Option<&'static str>,
}

const STEPS: &[Step] = &[
    // Where each CA key lives. `key_store` NULL means a key file (every v1
    // CA), `key_ref` is the PKCS#11 URI with the module path (never a PIN),
    // `offline` is set by `certsmith key offline`.
    Step {
        from: 1,
        sqlite: "
ALTER TABLE cas ADD COLUMN key_store TEXT;
ALTER TABLE cas ADD COLUMN key_ref TEXT;
ALTER TABLE cas ADD COLUMN offline INTEGER NOT NULL DEFAULT 0;
",
        postgres: None,
    },
    // Settings a CA or the PKI keeps beyond its certificate.
    Step {
        from: 2,
        sqlite: "
CREATE TABLE IF NOT EXISTS settings (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
",
        postgres: None,
    },
    // Every certificate's DER (so a second host can rebuild the PKI from
    // the ledger), who issued and revoked it (host and OS user), the owner
    // and lease of a pending reservation, and a counter every write
    // transaction bumps (the token `serve` watches for changes).
    Step {
        from: 3,
        sqlite: "
ALTER TABLE certificates ADD COLUMN der BLOB;
ALTER TABLE certificates ADD COLUMN issued_host TEXT;
ALTER TABLE certificates ADD COLUMN issued_user TEXT;
ALTER TABLE certificates ADD COLUMN revoked_host TEXT;
ALTER TABLE certificates ADD COLUMN revoked_user TEXT;
ALTER TABLE certificates ADD COLUMN owner TEXT;
ALTER TABLE certificates ADD COLUMN lease_until INTEGER;
CREATE TABLE IF NOT EXISTS ledger_version (n INTEGER NOT NULL);
INSERT INTO ledger_version (n) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM ledger_version);
",
        postgres: None,
    },
];

/// What a SQLite reader that must not write sees of an older ledger: the
/// columns and tables later versions added, at their defaults, in the
/// connection's own temp schema (which shadows `main`); the ledger file is
/// not touched. Indexed by the version they lift a reader from.
const SQLITE_READ_SHIMS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TEMP VIEW cas AS SELECT *, NULL AS key_store, NULL AS key_ref, 0 AS offline FROM main.cas;",
    ),
    (
        2,
        "CREATE TEMP TABLE settings (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (scope, key));",
    ),
    (
        3,
        "CREATE TEMP VIEW certificates AS SELECT *, NULL AS der, NULL AS issued_host, NULL AS issued_user, NULL AS revoked_host, NULL AS revoked_user, NULL AS owner, NULL AS lease_until FROM main.certificates;
         CREATE TEMP TABLE ledger_version (n INTEGER NOT NULL); INSERT INTO temp.ledger_version (n) VALUES (0);",
    ),
];

const SQLITE_SCHEMA: &str = "
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
    created_at INTEGER NOT NULL,
    der BLOB,
    issued_host TEXT,
    issued_user TEXT,
    revoked_host TEXT,
    revoked_user TEXT,
    owner TEXT,
    lease_until INTEGER
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
CREATE TABLE IF NOT EXISTS ledger_version (n INTEGER NOT NULL);
INSERT INTO ledger_version (n) VALUES (0);
";

/// The same tables in PostgreSQL: every integer is a BIGINT (the ledger
/// reads and binds 64-bit integers), ids come from an identity column.
const POSTGRES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('root', 'intermediate', 'leaf')),
    issuer TEXT,
    serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL DEFAULT '[]',
    profile TEXT NOT NULL,
    key_type TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'superseded')),
    revoked_at BIGINT,
    revocation_reason TEXT,
    dir TEXT NOT NULL,
    has_key BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    der BYTEA,
    issued_host TEXT,
    issued_user TEXT,
    revoked_host TEXT,
    revoked_user TEXT,
    owner TEXT,
    lease_until BIGINT
);
CREATE UNIQUE INDEX IF NOT EXISTS certificates_current_name ON certificates(name) WHERE state != 'superseded';
CREATE UNIQUE INDEX IF NOT EXISTS certificates_issuer_serial ON certificates(issuer, serial);
CREATE INDEX IF NOT EXISTS certificates_serial ON certificates(serial);
CREATE INDEX IF NOT EXISTS certificates_not_after ON certificates(not_after);
CREATE INDEX IF NOT EXISTS certificates_revoked ON certificates(issuer, revoked_at) WHERE revoked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS cas (
    name TEXT PRIMARY KEY,
    cert_id BIGINT NOT NULL REFERENCES certificates(id),
    encrypted BIGINT NOT NULL,
    pathlen BIGINT,
    crl_number BIGINT NOT NULL DEFAULT 0,
    key_store TEXT,
    key_ref TEXT,
    offline BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settings (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS ledger_version (n BIGINT NOT NULL);
INSERT INTO ledger_version (n) VALUES (0);
";

/// The DDL of a new ledger on `backend`.
pub fn ddl(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => SQLITE_SCHEMA,
        Backend::Postgres => POSTGRES_SCHEMA,
    }
}

/// Creates the tables of a new ledger at [`SCHEMA_VERSION`], in one transaction.
pub fn create(db: &dyn Db) -> Result<()> {
    db.begin_write()?;
    let made = db
        .execute_batch(ddl(db.backend()))
        .and_then(|()| {
            db.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                super::db::params![SCHEMA_VERSION],
            )
        })
        .and_then(|_| db.commit());
    if made.is_err() {
        let _ = db.rollback();
    }
    Ok(made?)
}

/// The refusal of a ledger newer than this build.
pub fn too_new(what: &str, version: i64) -> Error {
    Error::input(format!(
        "ledger '{what}' has schema version {version}, newer than this certsmith understands ({SCHEMA_VERSION})"
    ))
    .hint("upgrade certsmith")
}

/// Whether a ledger at `version` needs [`upgrade`] (a writer) or the read
/// shims (a reader); an error for one newer than this build or not a
/// ledger version at all.
pub fn check_version(what: &str, version: i64) -> Result<bool> {
    match version {
        SCHEMA_VERSION => Ok(false),
        v if v > SCHEMA_VERSION => Err(too_new(what, v)),
        v if v >= 1 => Ok(true),
        _ => Err(Error::input(format!("'{what}' is not a certsmith ledger"))),
    }
}

/// Upgrades the ledger to [`SCHEMA_VERSION`] in one write transaction;
/// a concurrent writer that upgraded it first leaves nothing to do (then
/// false). Certificates gain their DER from the files below `pki` where
/// those are present and match the record.
pub fn upgrade(db: &dyn Db, what: &str, pki: Option<&Path>) -> Result<bool> {
    db.begin_write()?;
    let done = upgrade_in(db, what, pki);
    match done {
        Ok(changed) => {
            db.commit()?;
            Ok(changed)
        }
        Err(e) => {
            let _ = db.rollback();
            Err(e)
        }
    }
}

fn upgrade_in(db: &dyn Db, what: &str, pki: Option<&Path>) -> Result<bool> {
    let mut v: i64 = match db.query_opt("SELECT version FROM schema_version", &[])? {
        Some(r) => r.get(0)?,
        None => return Err(Error::input(format!("'{what}' is not a certsmith ledger"))),
    };
    if !check_version(what, v)? {
        return Ok(false);
    }
    while v < SCHEMA_VERSION {
        let step = STEPS.iter().find(|s| s.from == v);
        let sql = match (db.backend(), step) {
            (Backend::Sqlite, Some(s)) => Some(s.sqlite),
            (Backend::Postgres, Some(s)) => s.postgres,
            (_, None) => None,
        };
        let Some(sql) = sql else {
            return Err(Error::input(format!(
                "ledger '{what}' has schema version {v}, which this certsmith cannot upgrade"
            )));
        };
        db.execute_batch(sql)?;
        v += 1;
    }
    db.execute(
        "UPDATE schema_version SET version = ?1",
        super::db::params![SCHEMA_VERSION],
    )?;
    if let Some(root) = pki {
        backfill_der(db, root)?;
    }
    Ok(true)
}

/// Fills the DER of every record that lacks it from its certificate file
/// below `root` (`ca.pem` of a CA, `cert.pem` of a leaf), when the file is
/// there and is that certificate (its fingerprint is the record's).
fn backfill_der(db: &dyn Db, root: &Path) -> Result<()> {
    let rows = db.query(
        "SELECT id, kind, dir, fingerprint FROM certificates WHERE der IS NULL",
        &[],
    )?;
    for r in rows {
        let (id, kind, dir, fp): (i64, String, String, String) =
            (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let dir = Path::new(&dir);
        let dir = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            root.join(dir)
        };
        let file = dir.join(if kind == "leaf" {
            crate::layout::CERT
        } else {
            "ca.pem"
        });
        let Some(der) = first_der(&file).filter(|d| crate::certinfo::fingerprint(d) == fp) else {
            continue;
        };
        db.execute(
            "UPDATE certificates SET der = ?1 WHERE id = ?2",
            super::db::params![der, id],
        )?;
    }
    Ok(())
}

/// The DER of the first certificate in the PEM file `path`, if readable.
fn first_der(path: &Path) -> Option<Vec<u8>> {
    if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    ::pem::parse_many(&text)
        .ok()?
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.contents().to_vec())
}

/// Lets a SQLite reader that must not write read a ledger at `version`
/// as the current one (see [`SQLITE_READ_SHIMS`]).
pub fn read_as_current(db: &dyn Db, version: i64) -> Result<()> {
    for (from, sql) in SQLITE_READ_SHIMS {
        if version <= *from {
            db.execute_batch(sql)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{CertRecord, Kind, Ledger, no_check};
    use super::*;

    /// Turns the ledger at `path` back into the layout of schema `version`.
    fn downgrade(path: &Path, version: i64) {
        let c = rusqlite::Connection::open(path).unwrap();
        let mut sql = String::from(
            "ALTER TABLE certificates DROP COLUMN der; ALTER TABLE certificates DROP COLUMN issued_host;
             ALTER TABLE certificates DROP COLUMN issued_user; ALTER TABLE certificates DROP COLUMN revoked_host;
             ALTER TABLE certificates DROP COLUMN revoked_user; ALTER TABLE certificates DROP COLUMN owner;
             ALTER TABLE certificates DROP COLUMN lease_until; DROP TABLE ledger_version;",
        );
        if version <= 2 {
            sql.push_str("DROP TABLE settings;");
        }
        if version <= 1 {
            sql.push_str(
                "ALTER TABLE cas DROP COLUMN key_store; ALTER TABLE cas DROP COLUMN key_ref;
                 ALTER TABLE cas DROP COLUMN offline;",
            );
        }
        sql.push_str(&format!("UPDATE schema_version SET version = {version};"));
        c.execute_batch(&sql).unwrap();
    }

    fn version_of(path: &Path) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap()
    }

    fn backups(dir: &Path) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("ledger.db.v"))
            .collect()
    }

    /// A ledger at `dir` holding leaf `dev`, whose certificate file (a PEM
    /// block of stand-in bytes) is below `dir` as a PKI directory keeps it.
    fn ledger_with_dev(dir: &Path) -> Vec<u8> {
        let der = b"stand-in certificate bytes".to_vec();
        let mut l = Ledger::create(&dir.join("ledger.db")).unwrap();
        let rec = CertRecord {
            id: 0,
            name: "dev".into(),
            kind: Kind::Leaf,
            issuer: Some("issuing".into()),
            serial: "01".into(),
            subject: "CN=dev".into(),
            sans: Vec::new(),
            profile: "device".into(),
            key_type: "ecdsa-p256".into(),
            not_before: 0,
            not_after: 1,
            fingerprint: crate::certinfo::fingerprint(&der),
            state: "pending".into(),
            revoked_at: None,
            revocation_reason: None,
            dir: "certs/dev".into(),
            has_key: true,
            created_at: 0,
            issued_by: None,
            revoked_by: None,
            der: None,
        };
        let r = l.reserve(&rec, false, &no_check).unwrap();
        l.confirm(&r).unwrap();
        std::fs::create_dir_all(dir.join("certs/dev")).unwrap();
        std::fs::write(
            dir.join("certs/dev/cert.pem"),
            crate::keys::pem_encode("CERTIFICATE", &der),
        )
        .unwrap();
        der
    }

    #[test]
    fn v1_v2_and_v3_ledgers_upgrade_in_place_after_a_private_backup_with_der_backfilled() {
        use std::os::unix::fs::PermissionsExt;
        for from in [1, 2, 3] {
            let d = tempfile::tempdir().unwrap();
            let path = d.path().join("ledger.db");
            let der = ledger_with_dev(d.path());
            downgrade(&path, from);
            // A reader neither upgrades nor copies it.
            let before = std::fs::read(&path).unwrap();
            let r = Ledger::open_read(&path).unwrap();
            assert_eq!(r.cert_by_name("dev").unwrap().unwrap().state, "active");
            drop(r);
            assert_eq!(std::fs::read(&path).unwrap(), before, "v{from}");
            assert!(backups(d.path()).is_empty(), "v{from}");
            // A writer copies it, then upgrades it in place.
            let l = Ledger::open(&path).unwrap();
            assert_eq!(version_of(&path), SCHEMA_VERSION, "v{from}");
            let rec = l.cert_by_name("dev").unwrap().unwrap();
            assert_eq!(l.cert_der(rec.id).unwrap(), Some(der), "v{from}");
            drop(l);
            let copies = backups(d.path());
            assert_eq!(copies.len(), 1, "v{from}: {copies:?}");
            let name = copies[0]
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(
                name.starts_with(&format!("ledger.db.v{from}-backup-")),
                "{name}"
            );
            let mode = std::fs::metadata(&copies[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "v{from}");
            assert_eq!(version_of(&copies[0]), from, "the copy is the old ledger");
            // Once upgraded, opening it again copies nothing more.
            drop(Ledger::open(&path).unwrap());
            assert_eq!(backups(d.path()).len(), 1, "v{from}");
        }
    }

    #[test]
    fn a_ledger_newer_than_this_build_is_refused_naming_both_versions() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ledger.db");
        drop(Ledger::create(&path).unwrap());
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("UPDATE schema_version SET version = 9")
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        for opened in [Ledger::open(&path), Ledger::open_read(&path)] {
            let Err(err) = opened else {
                panic!("a newer ledger opened")
            };
            assert_eq!(
                err.to_string(),
                format!(
                    "ledger '{}' has schema version 9, newer than this certsmith understands ({SCHEMA_VERSION})",
                    path.display()
                )
            );
            assert_eq!(err.exit_code(), 2);
        }
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert!(backups(d.path()).is_empty());
    }
}
