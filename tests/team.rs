//! A team's CA on one PostgreSQL ledger: two PKI directories ("host A" and
//! "host B") sharing a database in a real PostgreSQL cluster started by the
//! tests (tests/common/postgres.rs), the ways such a ledger can be reached
//! wrongly, and `ledger copy` between SQLite and PostgreSQL.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use crate::common::postgres::{self, Cluster, Database, PASSWORD};
use crate::common::*;

/// Host A: a root and an issuing CA, both on the ledger `db`.
fn host_a(db: &Database) -> Env {
    let mut a = Env::on_ledger(db);
    a.ledger_env.push(("CERTSMITH_TEST_HOST", "host-a".into()));
    a.hierarchy();
    a
}

/// Host B: an empty PKI directory on the same ledger, holding only a copy
/// of the issuing CA's key file (as an operator would copy it there).
fn host_b(db: &Database, a: &Env) -> Env {
    use std::os::unix::fs::PermissionsExt;
    let mut b = Env::on_ledger(db);
    b.ledger_env.push(("CERTSMITH_TEST_HOST", "host-b".into()));
    let dir = b.pki.join("cas/issuing");
    std::fs::create_dir_all(&dir).unwrap();
    for d in [&b.pki, &b.pki.join("cas"), &dir] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let key = dir.join("ca.key.pem");
    std::fs::copy(a.pki.join("cas/issuing/ca.key.pem"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    b
}

/// Every leaf the ledger holds (`list --all --json`), as JSON objects.
fn leaves(env: &Env) -> Vec<serde_json::Value> {
    env.json(&["list", "--all"])["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "leaf")
        .cloned()
        .collect()
}

/// The CRL number of a CRL file, from `openssl crl -crlnumber`.
fn crl_number(crl: &Path) -> u64 {
    let (ok, out) = openssl(&["crl", "-in", s(crl), "-noout", "-crlnumber"]);
    assert!(ok, "openssl crl: {out}");
    let hex = out.trim().trim_start_matches("crlNumber=0x");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("crl number in {out:?}"))
}

/// The serials a CRL file lists, lowercase hex without leading zeros.
fn crl_serials(crl: &Path) -> Vec<String> {
    let (ok, out) = openssl(&["crl", "-in", s(crl), "-noout", "-text"]);
    assert!(ok, "openssl crl: {out}");
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|h| h.trim().to_lowercase().trim_start_matches('0').to_string())
        .collect()
}

#[test]
fn two_hosts_with_four_processes_each_issue_400_distinct_certificates_that_openssl_verifies() {
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let b = host_b(&db, &a);
    // Per host: two processes issuing 50 certificates one `issue` at a
    // time, and two `batch` runs of 50, all eight at once.
    std::thread::scope(|scope| {
        for (host, env) in [("a", &a), ("b", &b)] {
            for p in 0..4 {
                scope.spawn(move || {
                    if p < 2 {
                        for i in 0..50 {
                            env.ok(&[
                                "issue",
                                &format!("{host}{p}-{i:02}"),
                                "--ca",
                                "issuing",
                                "-q",
                            ]);
                        }
                    } else {
                        let pattern = format!("{host}{p}-{{:02}}");
                        env.ok(&[
                            "batch",
                            "--count",
                            "50",
                            "--name-pattern",
                            &pattern,
                            "--ca",
                            "issuing",
                            "--jobs",
                            "1",
                            "-q",
                        ]);
                    }
                });
            }
        }
    });
    let all = leaves(&a);
    assert_eq!(all.len(), 400, "host A sees every record");
    assert_eq!(leaves(&b).len(), 400, "host B sees every record");
    let serials: HashSet<&str> = all.iter().map(|c| c["serial"].as_str().unwrap()).collect();
    assert_eq!(serials.len(), 400, "400 distinct serials");
    let names: HashSet<&str> = all.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 400);
    assert!(
        all.iter().all(|c| c["status"] == "valid"),
        "none left pending"
    );
    // One openssl run per host checks every certificate that host wrote.
    for (host, env) in [("a", &a), ("b", &b)] {
        let mut c = std::process::Command::new("openssl");
        c.args(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"])
            .arg(a.root_pem())
            .arg("-untrusted")
            .arg(env.cert_dir(&format!("{host}0-00")).join("chain.pem"));
        for name in names.iter().filter(|n| n.starts_with(host)) {
            c.arg(env.cert_dir(name).join("cert.pem"));
        }
        let out = c.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "openssl verify on host {host}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(text.matches(": OK").count(), 200, "{text}");
    }
}

#[test]
fn host_b_revokes_what_host_a_issued_and_crl_numbers_increase_across_both_hosts() {
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let b = host_b(&db, &a);
    let issued = a.json(&["issue", "sensor-7", "--ca", "issuing"]);
    let serial = issued["serial"]
        .as_str()
        .unwrap()
        .trim_start_matches('0')
        .to_string();
    b.ok(&["revoke", "sensor-7", "--reason", "key-compromise", "-q"]);
    a.ok(&["crl", "--ca", "issuing", "-q"]);
    let crl = a.pki.join("cas/issuing/crl.pem");
    assert_eq!(
        crl_serials(&crl),
        vec![serial],
        "host A's CRL lists what host B revoked"
    );
    let revoked = a.json(&["list", "--revoked"]);
    assert_eq!(
        revoked["certificates"][0]["revocation_reason"],
        "key-compromise"
    );

    let mut numbers = vec![crl_number(&crl)];
    for i in 0..6 {
        let env = if i % 2 == 0 { &b } else { &a };
        env.ok(&["crl", "--ca", "issuing", "-q"]);
        numbers.push(crl_number(&env.pki.join("cas/issuing/crl.pem")));
    }
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "CRL numbers across hosts: {numbers:?}"
    );
}

/// Eight `crl` runs at once, four on each host: every one succeeds (a run
/// whose CRL number another host took meanwhile signs the next one) and
/// the numbers they wrote are distinct and strictly increasing.
#[test]
fn eight_concurrent_crl_runs_on_two_hosts_all_succeed_with_distinct_increasing_numbers() {
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let b = host_b(&db, &a);
    let children: Vec<_> = (0..8)
        .map(|i| {
            let env = if i % 2 == 0 { &a } else { &b };
            env.command(&["crl", "--ca", "issuing"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut numbers: Vec<u64> = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n = stdout
            .split("Wrote CRL #")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("CRL number in {stdout:?}"));
        numbers.push(n);
    }
    numbers.sort_unstable();
    assert!(
        numbers.windows(2).all(|w| w[0] < w[1]),
        "distinct CRL numbers: {numbers:?}"
    );
    // The last CRL written on either host carries the highest number.
    let last = crl_number(&a.pki.join("cas/issuing/crl.pem"))
        .max(crl_number(&b.pki.join("cas/issuing/crl.pem")));
    assert_eq!(Some(&last), numbers.last());
}

/// Host A's `issue` killed (as `kill -9` would) right after its reservation
/// and after its files were staged; host B's `doctor --repair` settles the
/// ledger: nothing reported lost, nothing left pending, the name free again.
#[test]
fn issue_killed_on_host_a_is_settled_by_doctor_repair_on_host_b() {
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let b = host_b(&db, &a);
    for point in ["reserved", "staged"] {
        let name = format!("cam-{point}");
        let out = a
            .command(&["issue", &name, "--ca", "issuing", "-q"])
            .env("CERTSMITH_TEST_CRASH_AT", point)
            .output()
            .unwrap();
        assert!(!out.status.success(), "the crash hook fired at {point}");
    }
    // A later clock: the dead process's leases have run out.
    let later = [("CERTSMITH_NOW", "2099-01-01T00:00:00Z")];
    let repair = b
        .command(&["--json", "doctor", "--repair"])
        .envs(later)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&repair.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json ({e}): {}",
            String::from_utf8_lossy(&repair.stderr)
        )
    });
    assert_pending_settled(&report, 2);
    assert!(
        leaves(&a).iter().all(|c| c["status"] != "pending"),
        "nothing left pending"
    );
    // Nothing half-written: the names are free and issue cleanly on host A.
    for point in ["reserved", "staged"] {
        a.ok(&[
            "issue",
            &format!("cam-{point}"),
            "--ca",
            "issuing",
            "-q",
            "--force",
        ]);
    }
    let a_doctor = a.json(&["doctor"]);
    assert_eq!(a_doctor["problems"], 0, "{a_doctor}");
}

/// Host A's `issue` killed after its files were placed (`committed`) and
/// its `batch` killed after a chunk was written (`batch-written`); once
/// their leases ran out, host B's `doctor --repair` keeps every signed
/// certificate's record (its files are on host A): it stays revocable by
/// name and the next CRL lists it.
#[test]
fn doctor_repair_on_host_b_keeps_the_records_of_certificates_host_a_signed_and_they_stay_revocable()
{
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let b = host_b(&db, &a);
    let out = a
        .command(&["issue", "crashed-1", "--ca", "issuing", "-q"])
        .env("CERTSMITH_TEST_CRASH_AT", "committed")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crash hook fired at committed");
    assert!(a.pki.join("certs/crashed-1/cert.pem").is_file());
    let out = a
        .command(&[
            "batch",
            "--count",
            "3",
            "--name-pattern",
            "kb-{:02}",
            "--ca",
            "issuing",
            "--jobs",
            "1",
            "-q",
        ])
        .env("CERTSMITH_TEST_CRASH_AT", "batch-written")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the crash hook fired at batch-written"
    );
    let signed: Vec<serde_json::Value> = leaves(&a);
    assert_eq!(signed.len(), 4, "{signed:?}");
    assert!(signed.iter().all(|c| c["status"] == "pending"));
    // Later than every lease_until: host A's process is gone.
    let later = [("CERTSMITH_NOW", "2099-01-01T00:00:00Z")];
    let repair = b
        .command(&["--json", "doctor", "--repair"])
        .envs(later)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&repair.stdout).unwrap();
    assert_pending_settled(&report, 4);
    assert!(
        report.to_string().contains("host-a"),
        "names the host holding the files: {report}"
    );
    let kept = leaves(&a);
    assert_eq!(kept.len(), 4, "every signed record kept: {kept:?}");
    for c in &signed {
        assert!(
            kept.iter()
                .any(|k| k["serial"] == c["serial"] && k["status"] != "pending"),
            "{c} kept and settled: {kept:?}"
        );
    }
    // Revocable by name (on either host); the next CRL lists them.
    for name in ["crashed-1", "kb-02"] {
        b.ok(&["revoke", name, "--reason", "superseded", "-q"]);
    }
    b.ok(&["crl", "--ca", "issuing", "-q"]);
    let listed = crl_serials(&b.pki.join("cas/issuing/crl.pem"));
    for name in ["crashed-1", "kb-02"] {
        let c = signed.iter().find(|c| c["name"] == name).unwrap();
        let serial = c["serial"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .trim_start_matches('0')
            .to_string();
        assert!(listed.contains(&serial), "{name} {serial} in {listed:?}");
    }
}

/// `doctor` on host B does not judge the files of certificates host A
/// issued (they are on host A): a note counts them, no problem is added and
/// the exit code is the one it had before host A issued them.
#[test]
fn doctor_on_host_b_notes_certificates_issued_on_host_a_without_reporting_their_files_missing() {
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let b = host_b(&db, &a);
    let before = b.run(&["--json", "doctor"]);
    let before_json: serde_json::Value = serde_json::from_str(&before.stdout).unwrap();
    for name in ["web-1", "web-2", "web-3"] {
        a.ok(&["issue", name, "--ca", "issuing", "-q"]);
    }
    let tree = b.tree_hash();
    let after = b.run(&["--json", "doctor"]);
    let report: serde_json::Value = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(after.code, before.code, "{report}");
    assert_eq!(report["problems"], before_json["problems"], "{report}");
    assert_eq!(report["warnings"], before_json["warnings"], "{report}");
    let text = report.to_string();
    assert!(!text.contains("web-1"), "not judged here: {report}");
    let notes: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "note" && f["message"].as_str().unwrap().contains("host-a"))
        .collect();
    assert_eq!(notes.len(), 1, "{report}");
    assert!(
        notes[0]["message"].as_str().unwrap().contains('3'),
        "{report}"
    );
    assert_eq!(
        b.tree_hash(),
        tree,
        "doctor without --repair writes nothing"
    );
    // On host A they are checked as usual: nothing missing there.
    let a_doctor = a.json(&["doctor"]);
    assert_eq!(a_doctor["problems"], 0, "{a_doctor}");
}

/// A `doctor --repair --json` report that settled `n` pending rows of a
/// dead process and reported nothing lost. (Its exit code is not asserted:
/// host B lacks the root key on purpose, which doctor reports.)
fn assert_pending_settled(report: &serde_json::Value, n: usize) {
    let findings = report["findings"].as_array().unwrap();
    let pending: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["check"] == "pending")
        .collect();
    assert_eq!(pending.len(), n, "{report}");
    assert!(
        pending.iter().all(|f| !f["repaired"].is_null()),
        "every pending row settled: {report}"
    );
    assert!(
        !report.to_string().contains("lost"),
        "nothing reported lost: {report}"
    );
}

/// A `batch` killed mid-way (its files written, the chunk not yet
/// activated) on host A; `doctor --repair` on host B settles the ledger,
/// then `batch --skip-existing` on host A completes it without duplicates.
#[test]
fn batch_killed_on_host_a_is_settled_on_host_b_and_completed_without_duplicates() {
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let b = host_b(&db, &a);
    let args = [
        "batch",
        "--count",
        "40",
        "--name-pattern",
        "node-{:02}",
        "--ca",
        "issuing",
        "--jobs",
        "1",
        "-q",
    ];
    let out = a
        .command(&args)
        .env("CERTSMITH_TEST_CRASH_AT", "batch-written")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crash hook fired");
    let later = [("CERTSMITH_NOW", "2099-01-01T00:00:00Z")];
    let repair = b
        .command(&["--json", "doctor", "--repair"])
        .envs(later)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&repair.stdout).unwrap();
    assert_pending_settled(&report, 40);
    assert!(leaves(&a).iter().all(|c| c["status"] != "pending"));

    let mut again = args.to_vec();
    again.push("--skip-existing");
    a.ok(&again);
    let all = leaves(&a);
    let names: Vec<&str> = all.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let distinct: HashSet<&&str> = names.iter().collect();
    assert_eq!(names.len(), 40, "{names:?}");
    assert_eq!(distinct.len(), 40);
    assert!(all.iter().all(|c| c["status"] == "valid"));
}

/// The PostgreSQL server stopped while a batch waits between signing and
/// recording: the batch fails with one line naming the server, and after a
/// restart `batch --skip-existing` completes it with no duplicate.
#[test]
fn server_stopped_during_a_batch_fails_it_cleanly_and_skip_existing_completes_it() {
    if !postgres::available() {
        return;
    }
    // A cluster of its own: stopping the shared one would fail other tests.
    let cluster = Cluster::start();
    let db = cluster.database();
    let a = host_a(&db);
    let fifo = a.path("pause.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let args = [
        "batch",
        "--count",
        "30",
        "--name-pattern",
        "gw-{:02}",
        "--ca",
        "issuing",
        "--jobs",
        "1",
        "-q",
    ];
    let mut child = a
        .command(&args)
        .env(
            "CERTSMITH_TEST_PAUSE_AT",
            format!("batch-signed:{}", fifo.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("paused at batch-signed"), "{line}");
    cluster.stop();
    // Release the batch (and any later pause) until it exits.
    std::fs::write(&fifo, b"").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest}");
    let first = rest.lines().next().unwrap_or_default();
    assert!(first.starts_with("certsmith: "), "{rest}");
    assert!(
        first.contains("127.0.0.1") && first.contains(&db.name),
        "names host and database: {rest}"
    );
    assert!(!rest.contains(PASSWORD));

    cluster.restart();
    let mut again = args.to_vec();
    again.push("--skip-existing");
    a.ok(&again);
    let all = leaves(&a);
    let names: HashSet<&str> = all.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        (all.len(), names.len()),
        (30, 30),
        "no duplicate, none missing"
    );
    assert!(all.iter().all(|c| c["status"] == "valid"));
}

/// Every row of every table of a SQLite ledger, in a stable order.
fn sqlite_rows(path: &Path) -> Vec<(String, Vec<String>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
            let n = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                        .collect::<Vec<_>>()
                        .join("|"))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            rows.sort();
            (t, rows)
        })
        .collect()
}

#[test]
fn ledger_copy_round_trip_sqlite_postgres_sqlite_preserves_every_row() {
    let Some(db) = postgres::database() else {
        return;
    };
    let mut env = Env::new();
    // The source is the default SQLite ledger, whatever the harness's mode.
    env.ledger_env.clear();
    env.hierarchy();
    env.ok(&["issue", "one", "-q"]);
    env.ok(&["issue", "two", "--ca", "issuing", "-q"]);
    env.ok(&["issue", "two", "--ca", "issuing", "--force", "-q"]);
    env.ok(&["revoke", "one", "--reason", "superseded", "-q"]);
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    let source = env.pki.join("ledger.db");

    let pg = [("PGPASSWORD", PASSWORD)];
    let to_pg = env
        .command(&["--json", "ledger", "copy", "--to", &db.url()])
        .envs(pg)
        .output()
        .unwrap();
    assert_eq!(
        to_pg.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&to_pg.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&to_pg.stdout).unwrap();
    // root, issuing, one, two and the `two` it replaced.
    assert_eq!(report["rows"]["certificates"], 5, "{report}");
    assert_eq!(report["fingerprints_checked"], 5, "{report}");

    let back = env.path("back/ledger.db");
    std::fs::create_dir_all(back.parent().unwrap()).unwrap();
    let to_sqlite = env
        .command(&[
            "--ledger",
            &db.url(),
            "ledger",
            "copy",
            "--to",
            &format!("sqlite:{}", back.display()),
        ])
        .envs(pg)
        .output()
        .unwrap();
    assert_eq!(
        to_sqlite.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&to_sqlite.stderr)
    );
    assert_eq!(sqlite_rows(&back), sqlite_rows(&source));

    // A second copy onto the now non-empty database is refused, unchanged.
    let before = db_dump(&db);
    let again = env
        .command(&["ledger", "copy", "--to", &db.url()])
        .envs(pg)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.starts_with("certsmith: ") && err.contains("not empty"),
        "{err}"
    );
    assert_eq!(db_dump(&db), before);
}

/// What the certsmith tables of `db` hold, for "nothing changed" checks.
fn db_dump(db: &Database) -> String {
    let cluster = postgres::shared().unwrap();
    let tables = cluster.psql(
        &db.name,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    let mut out = tables.clone();
    for t in tables.lines() {
        out.push_str(&cluster.psql(&db.name, &format!("SELECT * FROM \"{t}\" ORDER BY 1")));
    }
    out
}

/// A ledger URL that cannot be used: the run fails with exit `code` and one
/// line naming the host and the database, never the password, and records
/// nothing (no PKI directory made, no table created).
fn refused_ledger(url: &str, password: &str, code: i32, db: &str) {
    let env = Env::new();
    let out = certsmith()
        .arg("--pki")
        .arg(&env.pki)
        .args([
            "--ledger",
            url,
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "-q",
        ])
        .env("PGPASSWORD", password)
        .current_dir(env.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{url}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("certsmith: "), "{err}");
    assert!(
        lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")),
        "{err}"
    );
    assert!(
        lines[0].contains("127.0.0.1") && lines[0].contains(db),
        "names host and database: {err}"
    );
    assert!(!err.contains(password), "never the password: {err}");
    assert!(!env.pki.exists(), "nothing recorded in the PKI directory");
}

#[test]
fn unreachable_server_wrong_password_wrong_database_and_foreign_database_are_refused_naming_host_and_database()
 {
    let Some(cluster) = postgres::shared() else {
        return;
    };
    let nobody = crate::common::nginx::free_port();
    refused_ledger(
        &format!("postgres://certsmith@127.0.0.1:{nobody}/t_x"),
        PASSWORD,
        1,
        "t_x",
    );

    let db = cluster.database();
    refused_ledger(&db.url(), "not the password", 2, &db.name);
    assert_eq!(db_dump(&db), "", "nothing created by a refused login");

    let missing = format!("postgres://certsmith@127.0.0.1:{}/no_such_db", cluster.port);
    refused_ledger(&missing, PASSWORD, 2, "no_such_db");

    let foreign = cluster.database();
    cluster.psql(
        &foreign.name,
        "CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)",
    );
    let before = db_dump(&foreign);
    refused_ledger(&foreign.url(), PASSWORD, 2, &foreign.name);
    assert_eq!(
        db_dump(&foreign),
        before,
        "a foreign database is left as it was"
    );
}

/// The test cluster itself: the `certsmith` role logs in over TCP with its
/// password only (scram), so the wrong-password test above is real.
#[test]
fn test_cluster_checks_the_certsmith_password_over_tcp() {
    let Some(cluster) = postgres::shared() else {
        return;
    };
    let db = cluster.database();
    let login = |password: &str| {
        std::process::Command::new(postgres::bin_dir().unwrap().join("psql"))
            .args(["-h", "127.0.0.1", "-p", &db.port.to_string()])
            .args(["-U", postgres::USER, "-d", &db.name, "-qAtc", "SELECT 1"])
            .env("PGPASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let ok = login(PASSWORD);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let wrong = login("guess");
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("password authentication failed"));
}

/// `ledger info` names the backend, the URL without its password (here
/// given inside the URL), the schema version and the counts by kind and
/// state; it reads only.
#[test]
fn ledger_info_shows_backend_schema_and_counts_and_never_the_password() {
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    a.ok(&["issue", "one", "--ca", "issuing", "-q"]);
    a.ok(&["issue", "one", "--ca", "issuing", "--force", "-q"]);
    a.ok(&["revoke", "one", "--reason", "key-compromise", "-q"]);
    let encoded = PASSWORD.replace(' ', "%20");
    let url = format!(
        "postgres://{}:{encoded}@127.0.0.1:{}/{}",
        postgres::USER,
        db.port,
        db.name
    );
    let out = certsmith()
        .args(["--json", "--ledger", &url, "ledger", "info"])
        .current_dir(a.dir.path())
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains(&encoded) && !text.contains(PASSWORD),
        "{text}"
    );
    let info: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(info["backend"], "postgres");
    assert_eq!(info["url"], db.url());
    assert_eq!(info["ledger_schema_version"], 4);
    assert_eq!(info["schema_version"], 1);
    assert_eq!(info["cas"], 2);
    let count = |kind: &str, state: &str| {
        info["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["kind"] == kind && c["state"] == state)
            .map(|c| (c["count"].as_i64().unwrap(), c["revoked"].as_i64().unwrap()))
    };
    assert_eq!(count("leaf", "active"), Some((1, 1)), "{info}");
    assert_eq!(count("leaf", "superseded"), Some((1, 0)), "{info}");
    assert_eq!(count("root", "active"), Some((1, 0)), "{info}");
}

/// The password from a libpq password file named by the URL's `passfile=`
/// (its `*` wildcards honoured); a file others can read is ignored, as
/// libpq ignores it, and the login then fails naming what to do.
#[test]
fn password_comes_from_the_urls_passfile_and_a_file_others_can_read_is_ignored() {
    use std::os::unix::fs::PermissionsExt;
    let Some(db) = postgres::database() else {
        return;
    };
    let a = host_a(&db);
    let passfile = a.path("pgpass");
    std::fs::write(
        &passfile,
        format!(
            "# team ledger\n127.0.0.1:*:{}:{}:{PASSWORD}\n",
            db.name,
            postgres::USER
        ),
    )
    .unwrap();
    let run = |mode: u32| {
        std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(mode)).unwrap();
        let url = format!("{}?passfile={}", db.url(), passfile.display());
        let out = certsmith()
            .args(["--json", "--ledger", &url, "list", "--all"])
            .arg("--pki")
            .arg(&a.pki)
            .env_remove("PGPASSWORD")
            .env("HOME", a.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(0o600);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run(0o644);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("readable by others") && err.contains("asks for a password"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD));
}

/// TLS where the URL asks for it: the server's certificate (issued by this
/// PKI) checked against `sslrootcert`; another CA's root, or a server
/// without TLS, fails naming the database and records nothing.
#[test]
fn sslmode_require_checks_the_servers_certificate_against_sslrootcert() {
    if !postgres::available() {
        return;
    }
    let pki = Env::new();
    let mut pki = pki;
    pki.ledger_env.clear();
    pki.hierarchy();
    pki.ok(&[
        "issue",
        "db",
        "--profile",
        "server",
        "--san",
        "ip:127.0.0.1",
        "--san",
        "dns:localhost",
        "-q",
    ]);
    let cluster = Cluster::start_tls(
        &pki.cert_dir("db").join("fullchain.pem"),
        &pki.cert_dir("db").join("key.pem"),
    );
    let db = cluster.database();
    let tls_url = |root: &Path| {
        format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            db.url(),
            root.display()
        )
    };
    // Each run on a PKI directory of its own (`host`).
    let run = |host: &str, url: &str, args: &[&str]| {
        let out = certsmith()
            .arg("--pki")
            .arg(pki.path(host))
            .args(["--ledger", url])
            .args(args)
            .env("PGPASSWORD", PASSWORD)
            .current_dir(pki.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = tls_url(&pki.root_pem());
    let (code, err) = run(
        "a",
        &good,
        &["init", "--cn", "Team Root", "--no-passphrase", "-q"],
    );
    assert_eq!(code, Some(0), "{err}");
    // A root that did not issue the server's certificate.
    let other = Env::new();
    let mut other = other;
    other.ledger_env.clear();
    other.ok(&["init", "--cn", "Other Root", "--no-passphrase", "-q"]);
    let (code, err) = run("b", &tls_url(&other.root_pem()), &["ledger", "info"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.starts_with("certsmith: cannot reach database '") && err.contains("127.0.0.1"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD));

    // A server without TLS is refused, never used in the clear.
    if let Some(plain) = postgres::database() {
        let url = format!(
            "{}?sslmode=require&sslrootcert={}",
            plain.url(),
            pki.root_pem().display()
        );
        let (code, err) = run(
            "c",
            &url,
            &["init", "--cn", "Team Root", "--no-passphrase", "-q"],
        );
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains(&plain.name) && err.contains("TLS"), "{err}");
        assert_eq!(db_dump(&plain), "", "nothing created in the clear");
    }
}
