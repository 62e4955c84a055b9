//! Batch issuance: correctness at scale, validation before any key is
//! made, and resuming an interrupted run.

use std::collections::HashSet;
use std::path::Path;

use crate::common::*;

fn names_and_serials(env: &Env) -> Vec<(String, String)> {
    let list = env.json(&["list"]);
    list["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["serial"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn verifies_as_client(env: &Env, dir: &Path) -> bool {
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&dir.join("chain.pem")),
        &dir.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{}: {out}", dir.display());
    ok
}

fn csv(env: &Env, file: &str, rows: impl IntoIterator<Item = String>) -> String {
    let mut text = String::from("name,cn,san\n");
    for r in rows {
        text.push_str(&r);
        text.push('\n');
    }
    let p = env.path(file);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn batch_of_2000_has_distinct_serials_and_keys_and_verifies_with_openssl() {
    let env = Env::new();
    env.hierarchy();
    let summary = env.json(&["batch", "--count", "2000", "--jobs", "2"]);
    assert_eq!(summary["issued"], 2000, "{summary}");
    let rows = names_and_serials(&env);
    assert_eq!(rows.len(), 2000);
    let serials: HashSet<&str> = rows.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(serials.len(), 2000, "serials repeat");
    let mut keys = HashSet::new();
    for (name, _) in &rows {
        let key = std::fs::read(env.cert_dir(name).join("key.pem")).unwrap();
        assert!(keys.insert(key), "key of '{name}' repeats");
    }
    for i in (1..=2000).step_by(40) {
        verifies_as_client(&env, &env.cert_dir(&format!("device-{i:06}")));
    }
    // The serial in the ledger is the serial in the file.
    let d = env.cert_dir("device-000777");
    let (ok, out) = openssl(&[
        "x509",
        "-noout",
        "-serial",
        "-in",
        d.join("cert.pem").to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let ledger_serial = &rows.iter().find(|(n, _)| n == "device-000777").unwrap().1;
    assert!(
        out.trim()
            .to_ascii_lowercase()
            .ends_with(ledger_serial.as_str()),
        "{out} vs {ledger_serial}"
    );
}

#[test]
fn manifest_with_three_bad_rows_writes_nothing_and_names_each_line() {
    let env = Env::new();
    env.hierarchy();
    let mut rows: Vec<Vec<u8>> = (1..=100)
        .map(|i| format!("dev-{i},,dns:dev-{i}.fleet.example").into_bytes())
        .collect();
    rows[9] = b"dev 10,,".to_vec(); // line 11: a space in the name
    rows[41] = b"dev-1,,".to_vec(); // line 43: repeats line 2
    rows[76] = b"dev-77,,ip:10.0.0.77".to_vec(); // line 78: the device profile takes no IP SAN
    let mut text = b"name,cn,san\r\n".to_vec();
    for r in rows {
        text.extend_from_slice(&r);
        text.extend_from_slice(b"\r\n");
    }
    let manifest = env.path("fleet.csv");
    std::fs::write(&manifest, &text).unwrap();
    let before = env.tree_hash();
    let err = env.fails(2, &["batch", manifest.to_str().unwrap()]);
    assert_eq!(env.tree_hash(), before, "the PKI changed");
    assert!(
        err.contains("line 11: certificate name 'dev 10' is not valid"),
        "{err}"
    );
    assert!(
        err.contains("line 43: name 'dev-1' is repeated (first on line 2)"),
        "{err}"
    );
    assert!(
        err.contains("line 78: profile 'device' does not allow the SAN 'ip:10.0.0.77'"),
        "{err}"
    );
    assert!(err.contains("3 bad rows in"), "{err}");
    assert!(err.contains("(lines 11, 43, 78)"), "{err}");
    assert!(!env.pki.join("certs").exists());
}

#[test]
fn bad_utf8_and_name_constraint_violations_are_reported_by_line() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    env.ok(&[
        "intermediate",
        "edge",
        "--cn",
        "Edge CA",
        "--permit-dns",
        "fleet.example",
        "--no-passphrase",
        "-q",
    ]);
    let manifest = env.path("fleet.jsonl");
    let mut text = Vec::new();
    text.extend_from_slice(b"{\"name\":\"a\",\"san\":[\"dns:a.fleet.example\"]}\n");
    text.extend_from_slice(b"{\"name\":\"b\",\"san\":[\"dns:b.other.example\"]}\n");
    text.extend_from_slice(b"{\"name\":\"c\",\"cn\":\"\xff\"}\n");
    std::fs::write(&manifest, &text).unwrap();
    let before = env.tree_hash();
    let err = env.fails(2, &["batch", manifest.to_str().unwrap(), "--ca", "edge"]);
    assert_eq!(env.tree_hash(), before);
    assert!(
        err.contains("line 2: SAN 'dns:b.other.example' is outside the name constraints"),
        "{err}"
    );
    assert!(err.contains("line 3: the line is not valid UTF-8"), "{err}");
    assert!(!err.contains("line 1:"), "{err}");
}

#[test]
fn dry_run_checks_and_writes_nothing() {
    let env = Env::new();
    env.hierarchy();
    let m = csv(&env, "m.csv", (1..=5).map(|i| format!("d{i},Device {i},")));
    let before = env.tree_hash();
    let j = env.json(&["batch", &m, "--dry-run"]);
    assert_eq!(
        (j["rows"].as_u64(), j["to_issue"].as_u64()),
        (Some(5), Some(5)),
        "{j}"
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn skip_existing_resumes_an_interrupted_batch_without_duplicates() {
    let env = Env::new();
    env.hierarchy();
    let row = |i: u32| format!("dev-{i},Device {i},uri:spiffe://fleet/dev-{i}");
    let all = csv(&env, "all.csv", (1..=60).map(row));
    // The interrupted run: the first 25 rows made it into the ledger…
    let first = csv(&env, "first.csv", (1..=25).map(row));
    env.ok(&["batch", &first, "-q"]);
    // …and the chunk in flight left files for dev-26 but no ledger row.
    let orphan = env.cert_dir("dev-26");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join("cert.pem"), "unrecorded").unwrap();

    let before = env.tree_hash();
    let err = env.fails(2, &["batch", &all]);
    assert_eq!(env.tree_hash(), before);
    assert!(
        err.contains("line 2: name 'dev-1' is already taken in the ledger"),
        "{err}"
    );
    assert!(
        err.contains("line 27: files for 'dev-26' already exist"),
        "{err}"
    );
    assert!(err.contains("--skip-existing"), "{err}");

    let j = env.json(&["batch", &all, "--skip-existing"]);
    assert_eq!(
        (j["issued"].as_u64(), j["skipped"].as_u64()),
        (Some(35), Some(25)),
        "{j}"
    );
    assert_eq!(j["unrecorded_replaced"], 1, "{j}");
    let rows = names_and_serials(&env);
    let names: HashSet<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!((rows.len(), names.len()), (60, 60));
    assert_eq!(
        std::fs::read_to_string(orphan.join("cert.pem.old-unrecorded")).unwrap(),
        "unrecorded"
    );
    verifies_as_client(&env, &orphan);
    verifies_as_client(&env, &env.cert_dir("dev-60"));

    // A finished run resumed again issues nothing and changes nothing.
    let before = env.tree_hash();
    let j = env.json(&["batch", &all, "--skip-existing"]);
    assert_eq!(
        (j["issued"].as_u64(), j["skipped"].as_u64()),
        (Some(0), Some(60)),
        "{j}"
    );
    assert_eq!(names_and_serials(&env).len(), 60);
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn out_dir_receives_the_device_directories_with_private_keys() {
    let env = Env::new();
    env.hierarchy();
    let out = env.path("provisioning");
    env.ok(&[
        "batch",
        "--count",
        "3",
        "--name-pattern",
        "cam-{}",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    let key = out.join("cam-2/key.pem");
    assert_eq!(mode(&key), 0o600);
    assert!(!env.pki.join("certs/cam-2").exists());
    verifies_as_client(&env, &out.join("cam-3"));
    let (ok, out_text) = openssl(&["pkey", "-noout", "-in", key.to_str().unwrap()]);
    assert!(ok, "{out_text}");
}
