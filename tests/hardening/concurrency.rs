//! Many certsmith processes on one PKI directory at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::listed;
use crate::common::*;

const WORKERS: usize = 8;
const PER_WORKER: usize = 50;

#[test]
fn eight_parallel_issuers_lose_no_record_and_duplicate_no_serial() {
    let env = Arc::new(Env::new());
    env.hierarchy();
    env.ok(&["issue", "victim-0", "-q"]);
    env.ok(&["issue", "victim-1", "-q"]);
    // Two revocations and two `crl` processes at a time run beside the issuers.
    let done = Arc::new(AtomicBool::new(false));
    let side: Vec<_> = (0..2)
        .map(|lane| {
            let (env, done) = (env.clone(), done.clone());
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                let mut numbers = Vec::new();
                let mut round = 0;
                // Keep going until the issuers finish, then twice more.
                while !done.load(Ordering::SeqCst) || round < 2 {
                    if round == 0 {
                        let r = env.run(&[
                            "revoke",
                            &format!("victim-{lane}"),
                            "--reason",
                            "key-compromise",
                        ]);
                        if r.code != 0 || !r.stderr.is_empty() {
                            errors.push(format!("revoke: {}{}", r.stdout, r.stderr));
                        }
                    }
                    let r = env.run(&["--json", "crl", "--ca", "issuing"]);
                    // On a loaded machine one `crl` may wait for the other and say so.
                    let quiet = r.stderr.lines().all(|l| {
                        l.starts_with("note: waiting")
                            && l.ends_with("to release the CRL lock of CA 'issuing'")
                    });
                    match serde_json::from_str::<serde_json::Value>(&r.stdout) {
                        Ok(j) if r.code == 0 && quiet => {
                            numbers.push(j["crls"][0]["crl_number"].as_i64().unwrap())
                        }
                        _ => errors.push(format!("crl: {}{}", r.stdout, r.stderr)),
                    }
                    round += 1;
                }
                (errors, numbers)
            })
        })
        .collect();

    let issuers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let env = env.clone();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                for i in 0..PER_WORKER {
                    let r = env.run(&["issue", &format!("w{w}-{i:03}"), "-q"]);
                    if r.code != 0 || !r.stderr.is_empty() || !r.stdout.is_empty() {
                        errors.push(format!(
                            "w{w}-{i:03}: exit {} {}{}",
                            r.code, r.stdout, r.stderr
                        ));
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors: Vec<String> = issuers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    done.store(true, Ordering::SeqCst);
    let mut crl_numbers = Vec::new();
    for h in side {
        let (e, n) = h.join().unwrap();
        errors.extend(e);
        crl_numbers.extend(n);
    }
    assert!(
        errors.is_empty(),
        "errors from concurrent runs:\n{}",
        errors.join("\n")
    );
    assert_unique_and_contiguous(&crl_numbers);

    let rows = listed(&env);
    let workers: Vec<_> = rows
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with('w'))
        .collect();
    assert_eq!(workers.len(), WORKERS * PER_WORKER, "ledger rows");
    // Serials as the certificate files carry them (the ledger's unique index
    // would hide a duplicate that only the files show).
    let mut serials = HashSet::new();
    for r in &rows {
        let cert = env.cert_dir(r["name"].as_str().unwrap()).join("cert.pem");
        let info = certsmith::certinfo::read_certs(&cert).unwrap().remove(0);
        assert!(
            serials.insert(info.serial.clone()),
            "serial {} appears twice (again in {})",
            certsmith::serial::to_hex(&info.serial),
            cert.display()
        );
    }
    assert!(
        rows.iter().all(|r| r["status"] != "pending"),
        "pending rows left"
    );
    let revoked: Vec<_> = rows.iter().filter(|r| r["status"] == "revoked").collect();
    assert_eq!(revoked.len(), 2, "both victims revoked");

    // Every certificate file is whole and verifies; one openssl run for all.
    let mut args: Vec<String> = ["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(env.root_pem().display().to_string());
    args.push("-untrusted".into());
    args.push(env.pki.join("cas/issuing/ca.pem").display().to_string());
    for w in &workers {
        let d = env.cert_dir(w["name"].as_str().unwrap());
        let fp = w["fingerprint"].as_str().unwrap();
        let pem = std::fs::read_to_string(d.join("cert.pem")).unwrap();
        let der = pem_body_der(&pem);
        assert_eq!(
            certsmith::certinfo::fingerprint(&der),
            fp,
            "{}",
            d.display()
        );
        args.push(d.join("cert.pem").display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = openssl(&refs);
    assert!(ok, "{out}");
    assert_eq!(out.matches(": OK").count(), WORKERS * PER_WORKER, "{out}");

    let r = env.run(&["doctor"]);
    assert_eq!(
        r.code, 0,
        "doctor after the storm:\n{}{}",
        r.stdout, r.stderr
    );
}

/// DER of the first PEM block.
pub fn pem_body_der(pem: &str) -> Vec<u8> {
    ::pem::parse(pem).expect("PEM").into_contents()
}

#[test]
fn parallel_inits_on_one_new_directory_leave_exactly_one_root() {
    let env = Arc::new(Env::new());
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || env.run(&["init", "--cn", "Root", "--no-passphrase", "-q"]))
        })
        .collect();
    let results: Vec<Run> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    let winners = results.iter().filter(|r| r.code == 0).count();
    assert_eq!(winners, 1, "exactly one init wins");
    for r in results.iter().filter(|r| r.code != 0) {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("already"), "{}", r.stderr);
        assert_eq!(
            r.stderr
                .lines()
                .filter(|l| l.starts_with("certsmith: "))
                .count(),
            1,
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("locked"), "{}", r.stderr);
    }
    assert!(
        env.root_pem().exists(),
        "the winner's root survived the losers"
    );
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn two_processes_issuing_one_name_yield_one_certificate() {
    let env = Arc::new(Env::new());
    env.hierarchy();
    for round in 0..5 {
        let name = format!("same-{round}");
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let (env, name) = (env.clone(), name.clone());
                std::thread::spawn(move || env.run(&["issue", &name, "-q"]))
            })
            .collect();
        let results: Vec<Run> = runs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.code == 0).count(), 1, "{name}");
        for r in results.iter().filter(|r| r.code != 0) {
            assert_eq!(r.code, 2, "{}", r.stderr);
            assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
            assert!(r.stderr.lines().count() <= 2, "{}", r.stderr);
        }
        let files: Vec<_> = std::fs::read_dir(env.cert_dir(&name))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(files.len(), 4, "{name}: {files:?}");
    }
    assert_eq!(env.run(&["doctor"]).code, 0);
}

/// CRL numbers reported by `crl` runs: no two runs got the same number and
/// none was skipped.
fn assert_unique_and_contiguous(numbers: &[i64]) {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    let expected: Vec<i64> = (1..=numbers.len() as i64).collect();
    assert_eq!(sorted, expected, "CRL numbers as the runs reported them");
}

/// The CRL number of a PEM CRL file, as OpenSSL reads it.
fn crl_number(path: &std::path::Path) -> i64 {
    let (ok, out) = openssl(&["crl", "-noout", "-crlnumber", "-in", s(path)]);
    assert!(ok, "{out}");
    let hex = out
        .trim()
        .trim_start_matches("crlNumber=")
        .trim_start_matches("0x");
    i64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("{out}"))
}

#[test]
fn eight_concurrent_crls_never_publish_an_older_crl_and_list_every_revocation() {
    let env = Arc::new(Env::new());
    env.hierarchy();
    let victims: Vec<String> = (0..8).map(|i| format!("v{i}")).collect();
    for v in &victims {
        env.ok(&["issue", v, "-q"]);
    }
    // 20000 earlier revocations make every CRL large, so signing and writing
    // take long enough for the eight processes to overlap.
    let ledger = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    ledger
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO certificates (name, kind, issuer, serial, subject, sans, profile, key_type,
                 not_before, not_after, fingerprint, state, revoked_at, revocation_reason, dir,
                 has_key, created_at)
             SELECT 'old-' || i, 'leaf', 'issuing', printf('7f%08x', i), 'CN=old', '[]', 'device',
                 'ecdsa-p256', 0, 1, 'x', 'superseded', 1000, 'superseded', 'certs/old', 0, 0 FROM n",
        )
        .unwrap();
    drop(ledger);
    let crls = |rounds: usize| -> Vec<std::thread::JoinHandle<Vec<Run>>> {
        (0..8)
            .map(|_| {
                let env = env.clone();
                std::thread::spawn(move || {
                    (0..rounds)
                        .map(|_| env.run(&["--json", "crl", "--ca", "issuing"]))
                        .collect()
                })
            })
            .collect()
    };
    // Revocations while eight `crl` processes run, then eight more at once.
    let first = crls(3);
    for v in &victims {
        env.ok(&["revoke", v, "--reason", "key-compromise", "-q"]);
    }
    let mut runs: Vec<Run> = first.into_iter().flat_map(|h| h.join().unwrap()).collect();
    runs.extend(crls(1).into_iter().flat_map(|h| h.join().unwrap()));
    let numbers: Vec<i64> = runs
        .iter()
        .map(|r| {
            assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
            let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            j["crls"][0]["crl_number"].as_i64().unwrap()
        })
        .collect();
    assert_unique_and_contiguous(&numbers);
    let path = env.pki.join("cas/issuing/crl.pem");
    assert_eq!(
        crl_number(&path),
        numbers.len() as i64,
        "crl.pem is not the newest CRL"
    );
    let crl = certsmith::crl::read_file(&path).unwrap().remove(0);
    let rows = listed(&env);
    for v in &victims {
        let row = rows.iter().find(|r| r["name"] == v.as_str()).unwrap();
        let serial = certsmith::serial::from_hex(row["serial"].as_str().unwrap()).unwrap();
        assert!(
            crl.find(certsmith::serial::normalize(&serial)).is_some(),
            "revoked '{v}' missing from the newest CRL"
        );
    }
    let (ok, out) = openssl(&[
        "crl",
        "-noout",
        "-in",
        s(&path),
        "-CAfile",
        s(&env.pki.join("cas/issuing/ca.pem")),
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
}

#[test]
fn crl_refused_for_a_directory_in_the_way_takes_no_crl_number() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    let path = env.pki.join("cas/issuing/crl.pem");
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    refused(&env, &["crl", "--ca", "issuing"]);
    std::fs::remove_dir(&path).unwrap();
    let j = env.json(&["crl", "--ca", "issuing"]);
    assert_eq!(
        j["crls"][0]["crl_number"], 2,
        "a refused crl used up a number"
    );
    assert_eq!(crl_number(&path), 2);
}

#[test]
fn failed_crl_der_keeps_the_previous_crl_pem() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    let path = env.pki.join("cas/issuing/crl.pem");
    let before = std::fs::read(&path).unwrap();
    std::fs::create_dir(env.pki.join("cas/issuing/crl.der")).unwrap();
    refused(&env, &["crl", "--ca", "issuing", "--der"]);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn crl_never_replaces_a_newer_crl_even_when_the_ledger_is_behind() {
    let env = Env::new();
    env.hierarchy();
    // A ledger restored from an older backup: its CRL number is behind crl.pem's.
    let db = env.pki.join("ledger.db");
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    let old_ledger = std::fs::read(&db).unwrap();
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    std::fs::write(&db, old_ledger).unwrap();
    let j = env.json(&["crl", "--ca", "issuing"]);
    assert_eq!(
        j["crls"][0]["crl_number"], 4,
        "the new CRL must be numbered past the one it replaces"
    );
    assert_eq!(crl_number(&env.pki.join("cas/issuing/crl.pem")), 4);
}

#[test]
fn a_crl_signed_before_another_is_never_written_over_the_newer_one() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    env.hierarchy();
    let fifo = env.path("release");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // A: signs its CRL, then stops before writing it until the test releases it.
    let mut a = env
        .command(&["--json", "crl", "--ca", "issuing"])
        .env(
            "CERTSMITH_TEST_PAUSE_AT",
            format!("crl-signed:{}", fifo.display()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut a_err = BufReader::new(a.stderr.take().unwrap());
    let mut line = String::new();
    a_err.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "test hook: paused at crl-signed");
    // B: a second `crl` of the same CA while A holds its signed CRL. It either
    // finishes (nothing stops it) or says it waits for A; either way A goes on then.
    let mut b = env
        .command(&["--json", "crl", "--ca", "issuing"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut b_err = BufReader::new(b.stderr.take().unwrap());
    let mut b_line = String::new();
    b_err.read_line(&mut b_line).unwrap();
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    let a = a.wait_with_output().unwrap();
    let b = b.wait_with_output().unwrap();
    assert!(a.status.success() && b.status.success(), "{b_line}");
    let number = |out: &[u8]| -> i64 {
        let j: serde_json::Value = serde_json::from_slice(out).unwrap();
        j["crls"][0]["crl_number"].as_i64().unwrap()
    };
    let (na, nb) = (number(&a.stdout), number(&b.stdout));
    assert_ne!(na, nb, "two CRLs share a number");
    assert_eq!(
        crl_number(&env.pki.join("cas/issuing/crl.pem")),
        na.max(nb),
        "an older CRL was written over a newer one"
    );
}

#[test]
fn batch_with_skip_existing_never_takes_the_files_of_a_concurrent_issue() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    env.hierarchy();
    let fifo = env.path("release");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // The batch has checked its names and signed; it stops before it records or writes them.
    let mut batch = env
        .command(&[
            "batch",
            "--count",
            "3",
            "--jobs",
            "1",
            "--skip-existing",
            "-q",
        ])
        .env(
            "CERTSMITH_TEST_PAUSE_AT",
            format!("batch-signed:{}", fifo.display()),
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(batch.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "test hook: paused at batch-signed");
    // Meanwhile an operator issues one of the batch's names.
    let issued = env.json(&["issue", "device-000001"]);
    // The batch pauses once per chunk it signs, and how its three names fall
    // into chunks depends on timing: release each pause until stderr ends.
    loop {
        drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        assert_eq!(line.trim(), "test hook: paused at batch-signed");
    }
    let status = batch.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let cert = env.cert_dir("device-000001").join("cert.pem");
    let on_disk = certsmith::certinfo::read_certs(&cert).unwrap().remove(0);
    assert_eq!(
        on_disk.fingerprint, issued["fingerprint"],
        "the concurrent issue lost its certificate file"
    );
    let rows = listed(&env);
    assert_eq!(rows.len(), 3, "{rows:?}");
    let row = rows.iter().find(|r| r["name"] == "device-000001").unwrap();
    assert_eq!(row["fingerprint"], issued["fingerprint"]);
    let leftovers: Vec<_> = std::fs::read_dir(env.cert_dir("device-000001"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(env.run(&["doctor"]).code, 0);
}

#[test]
fn crl_numbers_past_a_newer_crl_der_when_the_ledger_is_older() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "--ca", "issuing", "--der", "-q"]);
    env.ok(&["crl", "--ca", "issuing", "--der", "-q"]);
    let ledger = env.pki.join("ledger.db");
    let saved = env.path("ledger.saved");
    std::fs::copy(&ledger, &saved).unwrap();
    env.ok(&["crl", "--ca", "issuing", "--der", "-q"]);
    env.ok(&["crl", "--ca", "issuing", "--der", "-q"]);
    let der = env.pki.join("cas/issuing/crl.der");
    let (ok, out) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-noout",
        "-crlnumber",
        "-in",
        s(&der),
    ]);
    assert!(ok, "{out}");
    assert!(out.contains("crlNumber=0x04"), "{out}");
    std::fs::copy(&saved, &ledger).unwrap();
    std::fs::remove_file(env.pki.join("cas/issuing/crl.pem")).unwrap();
    let j = env.json(&["crl", "--ca", "issuing", "--der"]);
    assert_eq!(
        j["crls"][0]["crl_number"], 5,
        "a CRL numbered below the published crl.der"
    );
}

#[test]
fn crl_that_cannot_remove_the_previous_copy_succeeds_with_a_warning() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    let r = env
        .command(&["--json", "crl", "--ca", "issuing"])
        .env("CERTSMITH_TEST_FAIL_AT", "keep")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(0), "{err}");
    assert!(err.contains("warning"), "{err}");
    assert_eq!(crl_number(&env.pki.join("cas/issuing/crl.pem")), 2);
}

#[test]
fn crl_over_a_crl_number_longer_than_8_bytes_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.hierarchy();
    let ca = env.pki.join("cas/issuing");
    let cfg = env.path("ca.cnf");
    std::fs::write(env.path("index.txt"), "").unwrap();
    // 9 bytes: past what a CRL number can count to here.
    std::fs::write(env.path("crlnumber"), "010000000000000000\n").unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[ca]\ndefault_ca = c\n[c]\ndatabase = {}\ncrlnumber = {}\ndefault_md = sha256\ndefault_crl_days = 30\n",
            s(&env.path("index.txt")),
            s(&env.path("crlnumber"))
        ),
    )
    .unwrap();
    let big = env.path("big.pem");
    let (ok, out) = openssl(&[
        "ca",
        "-config",
        s(&cfg),
        "-gencrl",
        "-keyfile",
        s(&ca.join("ca.key.pem")),
        "-cert",
        s(&ca.join("ca.pem")),
        "-out",
        s(&big),
    ]);
    assert!(ok, "{out}");
    std::fs::copy(&big, ca.join("crl.pem")).unwrap();
    let before = env.tree_hash();
    let err = env.fails(2, &["crl", "--ca", "issuing"]);
    assert!(err.contains("too large"), "{err}");
    assert_eq!(env.tree_hash(), before, "a refused crl changed the PKI");
}
