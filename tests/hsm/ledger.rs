//! The ledger's schema version 3 (settings), version 2 (where each CA key
//! lives) and version 1 ledgers made by certsmith 0.1.

use crate::common::Env;

fn version(env: &Env) -> i64 {
    let c = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    c.query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap()
}

/// Turns the ledger of `env` back into the layout of schema version 3
/// (no DER, audit or lease columns, no change counter).
pub fn make_v3(env: &Env) {
    let c = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    c.execute_batch(
        "ALTER TABLE certificates DROP COLUMN der; ALTER TABLE certificates DROP COLUMN issued_host;
         ALTER TABLE certificates DROP COLUMN issued_user; ALTER TABLE certificates DROP COLUMN revoked_host;
         ALTER TABLE certificates DROP COLUMN revoked_user; ALTER TABLE certificates DROP COLUMN owner;
         ALTER TABLE certificates DROP COLUMN lease_until; DROP TABLE ledger_version;
         UPDATE schema_version SET version = 3;",
    )
    .unwrap();
    c.close().unwrap();
}

/// Turns the ledger of `env` back into the layout of schema version 2
/// (no `settings` table).
fn make_v2(env: &Env) {
    make_v3(env);
    let c = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    c.execute_batch("DROP TABLE settings; UPDATE schema_version SET version = 2;")
        .unwrap();
    c.close().unwrap();
}

/// Turns the ledger of `env` back into the v0.1 layout (schema version 1,
/// `cas` without the key store columns, no `settings`).
fn make_v1(env: &Env) {
    make_v2(env);
    let c = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    c.execute_batch(
        "ALTER TABLE cas DROP COLUMN key_store; ALTER TABLE cas DROP COLUMN key_ref;
         ALTER TABLE cas DROP COLUMN offline; UPDATE schema_version SET version = 1;",
    )
    .unwrap();
    c.close().unwrap();
}

fn has_settings_table(env: &Env) -> bool {
    let c = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    c.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'settings'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap()
        == 1
}

#[test]
fn new_ledger_has_the_current_schema_version_with_settings() {
    let env = Env::new();
    env.hierarchy();
    assert_eq!(version(&env), certsmith::ledger::SCHEMA_VERSION);
    assert!(has_settings_table(&env));
}

#[test]
fn v2_ledger_is_read_without_a_write_and_upgraded_to_current_by_a_writer() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev-1", "-q"]);
    make_v2(&env);
    let before = env.tree_hash();
    assert!(env.ok(&["list"]).contains("dev-1"));
    env.ok(&["status"]);
    let cert = env.cert_dir("dev-1").join("cert.pem");
    env.ok(&["verify", cert.to_str().unwrap(), "-q"]);
    assert_eq!(
        env.tree_hash(),
        before,
        "a read-only command wrote to a v2 ledger"
    );
    assert_eq!(version(&env), 2);
    env.ok(&["issue", "dev-2", "-q"]);
    assert_eq!(version(&env), certsmith::ledger::SCHEMA_VERSION);
    assert!(has_settings_table(&env));
}

#[test]
fn v1_ledger_is_read_without_a_write_and_upgraded_once_by_a_writer() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev-1", "-q"]);
    make_v1(&env);
    let before = env.tree_hash();
    let listed = env.ok(&["list"]);
    assert!(listed.contains("dev-1"), "{listed}");
    let status = env.ok(&["status"]);
    assert!(status.contains("issuing"), "{status}");
    let doctor = env.run(&["doctor"]);
    assert_eq!(doctor.code, 0, "{}{}", doctor.stdout, doctor.stderr);
    let cert = env.cert_dir("dev-1").join("cert.pem");
    env.ok(&["verify", cert.to_str().unwrap(), "-q"]);
    assert_eq!(
        env.tree_hash(),
        before,
        "a read-only command wrote to a v1 ledger"
    );
    assert_eq!(version(&env), 1);
    env.ok(&["issue", "dev-2", "-q"]);
    assert_eq!(version(&env), certsmith::ledger::SCHEMA_VERSION);
    assert!(has_settings_table(&env));
    env.ok(&["issue", "dev-3", "-q"]);
    assert_eq!(version(&env), certsmith::ledger::SCHEMA_VERSION);
    let c = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    let rows: Vec<(String, Option<String>, i64)> = c
        .prepare("SELECT name, key_store, offline FROM cas ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![("issuing".into(), None, 0), ("root".into(), None, 0)]
    );
}
