//! Fleet provisioning (issue 13): batch into one tar archive, factory CSRs
//! signed with `--csr-dir`, PKCS#12 per device, a hard-linked chain.pem,
//! and `--no-sync` for throwaway PKIs only.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// name → (serial, status) of every current certificate in the ledger.
fn ledger_rows(env: &Env) -> HashMap<String, (String, String)> {
    rows_of(env, &["list"])
}

/// name → (serial, status) of the certificates `list_args` lists.
fn rows_of(env: &Env, list_args: &[&str]) -> HashMap<String, (String, String)> {
    env.json(list_args)["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                (
                    c["serial"].as_str().unwrap().to_string(),
                    c["status"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

/// `tar -tvf`: (mode string, path) per entry.
fn tar_listing(archive: &Path) -> Vec<(String, String)> {
    let out = Command::new("tar")
        .arg("-tvf")
        .arg(archive)
        .output()
        .expect("tar");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[f.len() - 1].to_string())
        })
        .collect()
}

/// Extracts `archive` into a new directory `into`.
fn untar(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .output()
        .expect("tar");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The serial (lowercase hex, as the ledger has it) of a PEM certificate.
fn serial_of(cert: &Path) -> String {
    let (ok, out) = openssl(&["x509", "-noout", "-serial", "-in", s(cert)]);
    assert!(ok, "{out}");
    out.trim()
        .trim_start_matches("serial=")
        .trim_start_matches('0')
        .to_ascii_lowercase()
}

fn verifies_as_client(env: &Env, dir: &Path) {
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&dir.join("chain.pem")),
        &dir.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{}: {out}", dir.display());
}

#[test]
fn archive_of_2000_lists_every_device_with_0600_keys_and_verifies_with_openssl() {
    let env = Env::new();
    env.hierarchy();
    let tar = env.path("fleet.tar");
    let j = env.json(&[
        "batch",
        "--count",
        "2000",
        "--jobs",
        "2",
        "--archive",
        s(&tar),
    ]);
    assert_eq!(j["issued"], 2000, "{j}");
    assert_eq!(mode(&tar), 0o600);
    let listing = tar_listing(&tar);
    let keys: Vec<&(String, String)> = listing
        .iter()
        .filter(|(_, p)| p.ends_with("/key.pem"))
        .collect();
    assert_eq!(keys.len(), 2000);
    assert!(keys.iter().all(|(m, _)| m == "-rw-------"), "{keys:?}");
    for f in ["cert.pem", "chain.pem", "fullchain.pem"] {
        let n = listing
            .iter()
            .filter(|(_, p)| p.ends_with(&format!("/{f}")))
            .count();
        assert_eq!(n, 2000, "{f}");
    }
    let rows = ledger_rows(&env);
    assert_eq!(rows.len(), 2000);
    let x = env.path("x");
    untar(&tar, &x);
    for i in (1..=2000).step_by(40) {
        let name = format!("device-{i:06}");
        let dir = x.join(&name);
        verifies_as_client(&env, &dir);
        assert_eq!(
            serial_of(&dir.join("cert.pem")),
            rows[&name].0.trim_start_matches('0')
        );
    }
    // No files in the PKI for archived certificates, and doctor expects none.
    assert!(!env.pki.join("certs").join("device-000001").exists());
    env.ok(&["doctor"]);
}

#[test]
fn archive_refuses_an_existing_file_and_changes_nothing() {
    let env = Env::new();
    env.hierarchy();
    let tar = env.path("old.tar");
    std::fs::write(&tar, "keep me").unwrap();
    let err = refused(&env, &["batch", "--count", "3", "--archive", s(&tar)]);
    assert!(err.contains("already exists"), "{err}");
    // The --out rule holds for the archive too: never inside cas/.
    let in_cas = env.pki.join("cas").join("fleet.tar");
    let err = refused(&env, &["batch", "--count", "3", "--archive", s(&in_cas)]);
    assert!(
        err.contains("--archive") && err.contains("inside the PKI directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&tar).unwrap(), "keep me");
}

#[test]
fn archive_anywhere_under_the_pki_directory_or_in_a_missing_directory_is_refused_naming_archive() {
    let env = Env::new();
    env.hierarchy();
    let hash = env.tree_hash();
    for inside in [env.pki.join("x.tar"), env.pki.join("certs").join("x.tar")] {
        for dry in [false, true] {
            let mut args = vec!["batch", "--count", "2", "--archive", s(&inside)];
            if dry {
                args.push("--dry-run");
            }
            let err = env.fails(2, &args);
            assert!(err.contains("--archive '"), "{err}");
            assert!(!err.contains("--out"), "{err}");
            assert!(err.contains("inside the PKI directory"), "{err}");
            assert_eq!(env.tree_hash(), hash);
        }
    }
    let missing = env.path("no-such-dir").join("x.tar");
    for dry in [true, false] {
        let mut args = vec!["batch", "--count", "2", "--archive", s(&missing)];
        if dry {
            args.push("--dry-run");
        }
        let err = env.fails(2, &args);
        assert!(
            err.contains("--archive '") && err.contains("does not exist"),
            "{err}"
        );
        assert_eq!(env.tree_hash(), hash);
    }
}

#[test]
fn archive_to_stdout_streams_a_tar_and_the_summary_goes_to_stderr() {
    let env = Env::new();
    env.hierarchy();
    let out = env
        .command(&["batch", "--count", "4", "--archive", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Issued 4 certificates"));
    let tar = env.path("piped.tar");
    std::fs::write(&tar, &out.stdout).unwrap();
    let x = env.path("x");
    untar(&tar, &x);
    verifies_as_client(&env, &x.join("device-000004"));
    assert_eq!(ledger_rows(&env).len(), 4);
}

#[test]
fn archive_killed_mid_way_records_only_certificates_durably_in_it_and_a_rerun_completes_it() {
    let env = Env::new();
    env.hierarchy();
    let first = env.path("first.tar");
    let out = env
        .command(&[
            "batch",
            "--count",
            "200",
            "--jobs",
            "2",
            "--archive",
            s(&first),
        ])
        .env("CERTSMITH_TEST_BATCH_CHUNK", "50")
        .env("CERTSMITH_TEST_CRASH_AT", "archive-appended@120")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "the batch should have been killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every certificate the ledger holds as valid is in the archive, same serial.
    let x = env.path("x1");
    untar(&first, &x);
    let rows = ledger_rows(&env);
    let valid: Vec<(&String, &String)> = rows
        .iter()
        .filter(|(_, (_, st))| st == "valid")
        .map(|(n, (serial, _))| (n, serial))
        .collect();
    assert!(valid.len() >= 100 && valid.len() < 120, "{}", valid.len());
    for (name, serial) in &valid {
        let cert = x.join(name).join("cert.pem");
        assert_eq!(&serial_of(&cert), &serial.trim_start_matches('0'), "{name}");
    }
    env.ok(&["doctor", "--repair", "-q"]);
    let second = env.path("second.tar");
    let j = env.json(&[
        "batch",
        "--count",
        "200",
        "--archive",
        s(&second),
        "--skip-existing",
    ]);
    assert_eq!(j["skipped"].as_u64(), Some(valid.len() as u64), "{j}");
    assert_eq!(j["issued"].as_u64(), Some(200 - valid.len() as u64), "{j}");
    let rows = ledger_rows(&env);
    assert_eq!(rows.len(), 200);
    let y = env.path("x2");
    untar(&second, &y);
    for (name, (serial, st)) in &rows {
        assert_eq!(st, "valid");
        let in_first = valid.iter().any(|(n, _)| *n == name);
        let cert = if in_first { x.join(name) } else { y.join(name) }.join("cert.pem");
        assert_eq!(&serial_of(&cert), serial.trim_start_matches('0'), "{name}");
    }
}

/// `n` CSRs made by OpenSSL in `dir`, `unit-NNNN.csr` with CN `unit-NNNN`,
/// from a handful of keys per type (P-256, P-384, RSA-2048, Ed25519).
fn openssl_csrs(env: &Env, dir: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let keys = env.path("factory-keys");
    std::fs::create_dir_all(&keys).unwrap();
    let kinds: [&[&str]; 4] = [
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        &["-algorithm", "ED25519"],
    ];
    let mut key_files = Vec::new();
    for (k, args) in kinds.iter().enumerate() {
        for j in 0..2 {
            let key = keys.join(format!("k{k}-{j}.pem"));
            let mut a = vec!["genpkey"];
            a.extend_from_slice(args);
            a.extend_from_slice(&["-out", s(&key)]);
            let (ok, out) = openssl(&a);
            assert!(ok, "{out}");
            key_files.push(key);
        }
    }
    let paths: Vec<PathBuf> = (1..=n)
        .map(|i| dir.join(format!("unit-{i:04}.csr")))
        .collect();
    std::thread::scope(|sc| {
        for part in paths.chunks(n.div_ceil(4)) {
            let key_files = &key_files;
            sc.spawn(move || {
                for p in part {
                    let stem = p.file_stem().unwrap().to_str().unwrap();
                    let i: usize = stem[5..].parse().unwrap();
                    let key = &key_files[i % key_files.len()];
                    let (ok, out) = openssl(&[
                        "req",
                        "-new",
                        "-key",
                        s(key),
                        "-subj",
                        &format!("/CN={stem}"),
                        "-out",
                        s(p),
                    ]);
                    assert!(ok, "{out}");
                }
            });
        }
    });
    paths
}

#[test]
fn csr_dir_signs_1000_openssl_csrs_of_mixed_key_types_without_key_files() {
    let env = Env::new();
    env.hierarchy();
    let csrs = env.path("csrs");
    openssl_csrs(&env, &csrs, 1000);
    let out = env.path("out");
    let j = env.json(&[
        "batch",
        "--csr-dir",
        s(&csrs),
        "--out",
        s(&out),
        "--jobs",
        "2",
    ]);
    assert_eq!(j["issued"], 1000, "{j}");
    let list = env.json(&["list"]);
    let certs = list["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1000);
    let types: HashSet<&str> = certs
        .iter()
        .map(|c| c["key_type"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 4, "{types:?}");
    for i in (1..=1000).step_by(50) {
        let dir = out.join(format!("unit-{i:04}"));
        assert!(!dir.join("key.pem").exists(), "{}", dir.display());
        verifies_as_client(&env, &dir);
        // The certificate certifies the CSR's key.
        let (_, from_cert) =
            openssl(&["x509", "-noout", "-pubkey", "-in", s(&dir.join("cert.pem"))]);
        let csr = csrs.join(format!("unit-{i:04}.csr"));
        let (_, from_csr) = openssl(&["req", "-noout", "-pubkey", "-in", s(&csr)]);
        assert_eq!(from_cert, from_csr, "unit-{i:04}");
    }
}

#[test]
fn three_tampered_csrs_among_100_are_all_named_and_nothing_is_written() {
    let env = Env::new();
    env.hierarchy();
    let csrs = env.path("csrs");
    let paths = openssl_csrs(&env, &csrs, 100);
    for i in [7usize, 42, 99] {
        // Change the requested CN after signing: the self-signature no longer holds.
        let der = openssl_der("req", &paths[i - 1], &env.path("t.der"));
        let from = format!("unit-{i:04}");
        let pos = der
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap();
        let mut bad = der.clone();
        bad[pos] = b'X';
        std::fs::write(&paths[i - 1], &bad).unwrap();
    }
    let before = env.tree_hash();
    let err = env.fails(2, &["batch", "--csr-dir", s(&csrs)]);
    assert_eq!(env.tree_hash(), before);
    for i in [7, 42, 99] {
        assert!(err.contains(&format!("unit-{i:04}.csr")), "{err}");
    }
    assert!(err.contains("3 bad CSRs"), "{err}");
    assert!(
        !env.pki.join("certs").exists()
            || std::fs::read_dir(env.pki.join("certs")).unwrap().count() == 0
    );
}

#[test]
fn csr_names_come_from_the_cn_with_name_from_cn() {
    let env = Env::new();
    env.hierarchy();
    let csrs = env.path("csrs");
    std::fs::create_dir_all(&csrs).unwrap();
    openssl_p256_csr(
        &env.path("k.pem"),
        &csrs.join("serial-123.pem"),
        "/CN=meter-7",
    );
    let j = env.json(&["batch", "--csr-dir", s(&csrs), "--name-from", "cn"]);
    assert_eq!(j["issued"], 1, "{j}");
    assert!(ledger_rows(&env).contains_key("meter-7"));
}

#[test]
fn p12_format_gives_each_device_a_pkcs12_file_openssl_opens_in_directories_and_archives() {
    let env = Env::new();
    env.hierarchy();
    let pw = env.path("p12.pass");
    std::fs::write(&pw, "s3cret\n").unwrap();
    // A PKCS#12 password without --format p12 would be silently unused: refused.
    let err = refused(
        &env,
        &["batch", "--count", "1", "--p12-passphrase-file", s(&pw)],
    );
    assert!(err.contains("--format p12"), "{err}");
    env.ok(&[
        "batch",
        "--count",
        "2",
        "--format",
        "p12",
        "--p12-passphrase-file",
        s(&pw),
        "-q",
    ]);
    let dir = env.cert_dir("device-000001");
    assert!(!dir.join("key.pem").exists());
    let p12 = dir.join("device-000001.p12");
    assert_eq!(mode(&p12), 0o600);
    let pass = format!("file:{}", s(&pw));
    let (ok, out) = openssl(&["pkcs12", "-in", s(&p12), "-passin", &pass, "-nodes"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("PRIVATE KEY") && out.matches("BEGIN CERTIFICATE").count() == 3,
        "{out}"
    );
    env.ok(&["doctor"]);
    let tar = env.path("p12.tar");
    env.ok(&[
        "batch",
        "--count",
        "2",
        "--name-pattern",
        "t-{}",
        "--format",
        "p12",
        "--p12-passphrase-file",
        s(&pw),
        "--archive",
        s(&tar),
        "-q",
    ]);
    let listing = tar_listing(&tar);
    assert!(
        listing.contains(&("-rw-------".into(), "t-1/t-1.p12".into())),
        "{listing:?}"
    );
    assert!(!listing.iter().any(|(_, p)| p.ends_with("key.pem")));
}

#[test]
fn chain_is_written_once_and_hard_linked_and_renew_leaves_the_shared_inode_alone() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["batch", "--count", "3", "--jobs", "1", "-q"]);
    let chain = |i: u32| env.cert_dir(&format!("device-00000{i}")).join("chain.pem");
    let ino = std::fs::metadata(chain(1)).unwrap().ino();
    for i in 1..=3 {
        let m = std::fs::metadata(chain(i)).unwrap();
        assert_eq!((m.ino(), m.nlink()), (ino, 3), "device {i}");
    }
    let text = std::fs::read(chain(1)).unwrap();
    env.ok(&["renew", "device-000002", "-q"]);
    // The renewed device has a chain of its own; the others keep theirs, unchanged.
    assert_ne!(std::fs::metadata(chain(2)).unwrap().ino(), ino);
    for i in [1, 3] {
        let m = std::fs::metadata(chain(i)).unwrap();
        assert_eq!((m.ino(), m.nlink()), (ino, 3), "device {i}");
        assert_eq!(std::fs::read(chain(i)).unwrap(), text);
    }
    verifies_as_client(&env, &env.cert_dir("device-000002"));
    env.ok(&["doctor"]);
    let pw = env.path("p.pass");
    std::fs::write(&pw, "pw\n").unwrap();
    env.ok(&["export", "device-000003", "--format", "pem", "-q"]);
}

#[test]
fn no_sync_is_refused_on_an_encrypted_key_pki_and_changes_nothing() {
    let env = Env::new();
    let pass = env.path("ca.pass");
    std::fs::write(&pass, "correct horse\n").unwrap();
    env.ok(&[
        "init",
        "--cn",
        "Real Root",
        "--passphrase-file",
        s(&pass),
        "-q",
    ]);
    let p = s(&pass);
    for args in [
        vec!["batch", "--count", "2", "--no-sync", "--passphrase-file", p],
        vec!["issue", "dev1", "--no-sync", "--passphrase-file", p],
    ] {
        let err = refused(&env, &args);
        assert!(
            err.contains("--no-sync") && err.contains("encrypted key"),
            "{err}"
        );
    }
}

#[test]
fn no_sync_batch_and_issue_are_recorded_and_doctor_says_so() {
    let env = Env::new();
    env.hierarchy();
    let out = env.ok(&["doctor"]);
    assert!(!out.contains("without durability"), "{out}");
    env.ok(&["batch", "--count", "3", "--no-sync", "-q"]);
    env.ok(&["issue", "one", "--no-sync", "-q"]);
    verifies_as_client(&env, &env.cert_dir("one"));
    let out = env.ok(&["doctor"]);
    assert!(
        out.contains("this PKI was made without durability"),
        "{out}"
    );
}

/// Whether strace is here; in CI it must be (`.ci/run` installs it).
fn strace_available() -> bool {
    if have("strace") {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("strace is required in CI (apt-get install strace)");
    }
    eprintln!(
        "\nSKIPPED: counting the flushes of `issue` needs strace (apt-get install strace); CI always runs it.\n"
    );
    false
}

/// `strace -f -c` of `certsmith issue NAME`: calls per flush syscall.
fn flushes_of_issue(env: &Env, name: &str) -> HashMap<String, u64> {
    let summary = env.path(&format!("strace-{name}.txt"));
    let mut c = Command::new("strace");
    c.args([
        "-f",
        "-c",
        "-e",
        "trace=fsync,fdatasync,syncfs,sync",
        "-o",
        s(&summary),
    ])
    .arg(env!("CARGO_BIN_EXE_certsmith"))
    .arg("--pki")
    .arg(&env.pki)
    .args(["issue", name, "-q"]);
    // strace hands its environment on to certsmith.
    clean_env(&mut c);
    let out = c.output().expect("strace");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&summary).unwrap();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // `% time  seconds  usecs/call  calls  [errors]  syscall`
            let call = *f.last()?;
            Some((call.to_string(), f.get(3)?.parse().ok()?))
        })
        .collect()
}

#[test]
fn single_issue_makes_its_files_and_reservation_durable_with_targeted_fsyncs_and_no_syncfs() {
    if !strace_available() {
        return;
    }
    let env = Env::new();
    env.hierarchy();
    let calls = flushes_of_issue(&env, "dev1");
    // No syncfs: a single issue never pays for other dirty data of the
    // filesystem. One flush point (4 temp files, certs/ for the new
    // directory, the ledger WAL, issued together), the directory after the
    // renames, the confirming commit.
    assert_eq!(calls.get("syncfs").copied(), None, "{calls:?}");
    assert_eq!(calls.get("sync").copied(), None, "{calls:?}");
    let fsyncs =
        calls.get("fsync").copied().unwrap_or(0) + calls.get("fdatasync").copied().unwrap_or(0);
    // SQLite adds its own: the WAL created by the reservation (the WAL and
    // the PKI directory) and the checkpoint on close (WAL and ledger.db).
    assert!(fsyncs <= 13, "{fsyncs} fsyncs: {calls:?}");
    verifies_as_client(&env, &env.cert_dir("dev1"));
    env.ok(&["doctor"]);
}

#[test]
fn manifest_csr_column_signs_the_csr_beside_the_manifest_and_makes_no_key() {
    let env = Env::new();
    env.hierarchy();
    let lot = env.path("lot-7");
    std::fs::create_dir_all(&lot).unwrap();
    openssl_p256_csr(&env.path("k1.pem"), &lot.join("a.csr"), "/CN=ignored-cn");
    let manifest = lot.join("devices.csv");
    std::fs::write(
        &manifest,
        "name,cn,san,csr\nmeter-1,Meter 1,uri:spiffe://fleet/meter-1,a.csr\nmeter-2,,,\n",
    )
    .unwrap();
    let j = env.json(&["batch", s(&manifest)]);
    assert_eq!(j["issued"], 2, "{j}");
    let d1 = env.cert_dir("meter-1");
    assert!(!d1.join("key.pem").exists());
    assert!(env.cert_dir("meter-2").join("key.pem").exists());
    verifies_as_client(&env, &d1);
    let (_, subject) = openssl(&[
        "x509",
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
        "-in",
        s(&d1.join("cert.pem")),
    ]);
    assert!(
        subject.contains("CN = Meter 1") && subject.contains("spiffe://fleet/meter-1"),
        "{subject}"
    );
    let (_, from_cert) = openssl(&["x509", "-noout", "-pubkey", "-in", s(&d1.join("cert.pem"))]);
    let (_, from_key) = openssl(&["pkey", "-pubout", "-in", s(&env.path("k1.pem"))]);
    assert_eq!(from_cert, from_key);
}

/// Serials (lowercase hex, no leading zeros) every CA's `crl.pem` lists.
fn crl_serials(env: &Env) -> HashSet<String> {
    let mut all = HashSet::new();
    for ca in std::fs::read_dir(env.pki.join("cas")).unwrap() {
        let path = ca.unwrap().path().join("crl.pem");
        if !path.exists() {
            continue;
        }
        let (ok, out) = openssl(&["crl", "-noout", "-text", "-in", s(&path)]);
        assert!(ok, "{out}");
        all.extend(
            out.lines()
                .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
                .map(|x| x.trim_start_matches('0').to_ascii_lowercase()),
        );
    }
    all
}

/// A 200-device archive batch killed at `crash` (chunks of 50): returns the
/// archive and the ledger rows it left.
fn killed_archive_batch(env: &Env, crash: &str) -> (PathBuf, HashMap<String, (String, String)>) {
    env.hierarchy();
    let tar = env.path("first.tar");
    let out = env
        .command(&[
            "batch",
            "--count",
            "200",
            "--jobs",
            "1",
            "--archive",
            s(&tar),
        ])
        .env("CERTSMITH_TEST_BATCH_CHUNK", "50")
        .env("CERTSMITH_TEST_CRASH_AT", crash)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "not killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tar.clone(), ledger_rows(env))
}

#[test]
fn interrupted_archive_batch_rows_complete_in_the_archive_become_active_naming_it_and_the_rest_are_revoked_onto_the_crl()
 {
    let env = Env::new();
    // Killed after the third chunk reached the disk, before the ledger recorded it.
    let (tar, before) = killed_archive_batch(&env, "batch-written@3");
    let pending: Vec<&String> = before
        .iter()
        .filter(|(_, (_, st))| st == "pending")
        .map(|(n, _)| n)
        .collect();
    // The third chunk (in the archive) and rows reserved after it.
    assert!(pending.len() >= 50, "{}", pending.len());
    // A rerun before the repair is refused and says what settles the rows.
    let x_tar = env.path("x.tar");
    let rerun = [
        "batch",
        "--count",
        "200",
        "--archive",
        s(&x_tar),
        "--skip-existing",
    ];
    // The first open after the crash lets SQLite fold the dead process's WAL in.
    let _ = env.run(&rerun);
    let hash = env.tree_hash();
    let r = env.run(&rerun);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("doctor --repair"), "{}", r.stderr);
    assert_eq!(env.tree_hash(), hash);
    assert_eq!(ledger_rows(&env), before);
    let report = env.ok(&["doctor", "--repair"]);
    assert!(
        report.contains(&format!("archive '{}'", tar.display())),
        "{report}"
    );
    // Revoked rows free their name: `list --all` shows them.
    let after = rows_of(&env, &["list", "--all"]);
    let x = env.path("x1");
    untar(&tar, &x);
    let mut activated = 0;
    for name in &pending {
        let (serial, st) = after
            .get(*name)
            .unwrap_or_else(|| panic!("{name} dropped: {report}"));
        assert_eq!(serial, &before[*name].0);
        if st == "valid" {
            activated += 1;
            assert_eq!(
                serial_of(&x.join(name).join("cert.pem")),
                serial.trim_start_matches('0')
            );
        }
    }
    // Every device but the last one written (nothing whole follows it) is held completely.
    assert!((49..=50).contains(&activated), "{activated}: {report}");
    env.ok(&["crl"]);
    let listed = crl_serials(&env);
    let revoked = revoked_serials(&env);
    assert_eq!(revoked.len(), pending.len() - activated, "{report}");
    for serial in &revoked {
        assert!(
            listed.contains(serial.trim_start_matches('0')),
            "{serial} not on the CRL"
        );
    }
}

/// Serials of revoked certificates (of every state) in the ledger.
fn revoked_serials(env: &Env) -> Vec<String> {
    let db = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    let mut q = db
        .prepare("SELECT serial FROM certificates WHERE revoked_at IS NOT NULL")
        .unwrap();
    q.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|s| s.unwrap().to_ascii_lowercase())
        .collect()
}

#[test]
fn interrupted_archive_batch_rows_not_in_the_archive_are_revoked_not_forgotten_and_a_rerun_reissues_them()
 {
    let env = Env::new();
    // Killed with the chunk in flight still in the write buffer.
    let (tar, before) = killed_archive_batch(&env, "archive-appended@120");
    let pending: Vec<&String> = before
        .iter()
        .filter(|(_, (_, st))| st == "pending")
        .map(|(n, _)| n)
        .collect();
    assert!(!pending.is_empty());
    let report = env.ok(&["doctor", "--repair"]);
    assert!(report.contains("revoked it"), "{report}");
    env.ok(&["crl"]);
    let listed = crl_serials(&env);
    for name in &pending {
        let serial = before[*name].0.trim_start_matches('0').to_ascii_lowercase();
        assert!(
            listed.contains(&serial),
            "{name} ({serial}) is not on the CRL: {report}"
        );
    }
    let second = env.path("second.tar");
    let j = env.json(&[
        "batch",
        "--count",
        "200",
        "--archive",
        s(&second),
        "--skip-existing",
    ]);
    let valid = before.values().filter(|(_, st)| st == "valid").count() as u64;
    // The revoked names are issued again, with those never reserved.
    assert_eq!(j["issued"].as_u64(), Some(200 - valid), "{j}");
    assert_eq!(ledger_rows(&env).len(), 200);
    let rows = ledger_rows(&env);
    assert!(rows.values().all(|(_, st)| st == "valid"), "{rows:?}");
    let _ = tar;
}

#[test]
fn batch_opens_the_descriptor_it_syncfs_before_it_stages_any_directory() {
    if !strace_available() {
        return;
    }
    let env = Env::new();
    env.hierarchy();
    let log = env.path("strace-batch.txt");
    let mut c = Command::new("strace");
    c.args([
        "-f",
        "-y",
        "-e",
        "trace=openat,mkdir,mkdirat,syncfs",
        "-o",
        s(&log),
    ])
    .arg(env!("CARGO_BIN_EXE_certsmith"))
    .arg("--pki")
    .arg(&env.pki)
    .args(["batch", "--count", "5", "-q"]);
    clean_env(&mut c);
    let out = c.output().expect("strace");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // syncfs(7</…/certs>…: the descriptor (with its path) it flushed.
    let (at, fd) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            let rest = &l[l.find("syncfs(")? + 7..];
            Some((i, rest[..rest.find('>')? + 1].to_string()))
        })
        .unwrap_or_else(|| panic!("no syncfs on ext4/tmpfs: {text}"));
    let opened = lines[..at]
        .iter()
        .position(|l| l.contains("openat(") && l.trim_end().ends_with(&format!("= {fd}")))
        .unwrap_or_else(|| panic!("{fd} not opened before the syncfs: {text}"));
    let staged = lines
        .iter()
        .position(|l| l.contains("mkdir") && l.contains(".certsmith-"))
        .expect("a staged directory");
    // Opened before anything was staged: syncfs (Linux >= 5.8) reports
    // every writeback error since the descriptor was opened.
    assert!(
        opened < staged,
        "opened at line {opened}, staged at {staged}: {text}"
    );
}

#[test]
fn renew_of_a_pkcs12_device_is_refused_naming_the_format_and_a_command_that_works() {
    let env = Env::new();
    env.hierarchy();
    let pw = env.path("p12.pass");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let p12_batch = [
        "batch",
        "--count",
        "1",
        "--format",
        "p12",
        "--p12-passphrase-file",
        s(&pw),
        "-q",
    ];
    env.ok(&p12_batch);
    let hash = env.tree_hash();
    for args in [
        &["renew", "device-000001"][..],
        &["renew", "device-000001", "--reuse-key"][..],
    ] {
        let err = env.fails(2, args);
        assert!(
            err.contains("issued as PKCS#12 by batch --format p12"),
            "{err}"
        );
        assert!(!err.contains("signed from a CSR"), "{err}");
        assert!(err.contains("device-000001.p12"), "{err}");
        assert_eq!(env.tree_hash(), hash, "{args:?}");
    }
    // The commands the hint names work (FILE: the PKCS#12 password file).
    let err = env.fails(2, &["renew", "device-000001"]);
    let hint = err.lines().find(|l| l.starts_with("hint:")).unwrap();
    let cmds: Vec<&str> = hint.split('`').skip(1).step_by(2).collect();
    assert_eq!(cmds.len(), 2, "{hint}");
    for cmd in cmds {
        let cmd = cmd.replace("FILE", s(&pw));
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(cmd.replacen(
            "certsmith",
            &format!("{} --pki {}", env!("CARGO_BIN_EXE_certsmith"), s(&env.pki)),
            1,
        ));
        clean_env(&mut sh);
        let out = sh.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let p12 = env.cert_dir("device-000001").join("device-000001.p12");
    let (ok, out) = openssl(&[
        "pkcs12",
        "-in",
        s(&p12),
        "-passin",
        &format!("file:{}", s(&pw)),
        "-nokeys",
        "-clcerts",
    ]);
    assert!(ok, "{out}");
    let new_serial = ledger_rows(&env)["device-000001"].0.clone();
    let pem = env.path("p12-leaf.pem");
    std::fs::write(&pem, &out).unwrap();
    assert_eq!(serial_of(&pem), new_serial.trim_start_matches('0'));
}

#[test]
fn renew_and_export_of_an_archived_certificate_say_it_lives_in_the_archive() {
    let env = Env::new();
    env.hierarchy();
    let tar = env.path("a1.tar");
    env.ok(&["batch", "--count", "1", "--archive", s(&tar), "-q"]);
    let hash = env.tree_hash();
    for args in [
        &["renew", "device-000001"][..],
        &["export", "device-000001", "--format", "pem"][..],
    ] {
        let err = env.fails(2, args);
        assert!(
            err.contains(&format!(
                "was issued into archive '{}'; certsmith holds no files for it",
                tar.display()
            )),
            "{err}"
        );
        assert_eq!(env.tree_hash(), hash, "{args:?}");
    }
}

#[test]
fn a_no_sync_pki_cannot_gain_an_encrypted_ca_key_by_any_later_command_and_changes_nothing() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Throwaway Root", "--no-passphrase", "-q"]);
    env.ok(&["issue", "n1", "--no-sync", "-q"]);
    let pass = env.path("ca.pass");
    std::fs::write(&pass, "correct horse\n").unwrap();
    let hash = env.tree_hash();
    for args in [
        vec![
            "intermediate",
            "int",
            "--cn",
            "Int",
            "--passphrase-file",
            s(&pass),
        ],
        vec![
            "key",
            "change-passphrase",
            "root",
            "--new-passphrase-file",
            s(&pass),
        ],
    ] {
        let err = env.fails(2, &args);
        assert!(
            err.contains("written with --no-sync") && err.contains("encrypted key"),
            "{args:?}: {err}"
        );
        assert!(err.contains("new PKI directory"), "{err}");
        assert_eq!(env.tree_hash(), hash, "{args:?}");
    }
    // An unprotected CA key stays possible on a throwaway PKI.
    env.ok(&[
        "intermediate",
        "int",
        "--cn",
        "Int",
        "--no-passphrase",
        "-q",
    ]);
}

#[test]
fn archive_to_stdout_is_refused_on_a_terminal_and_changes_nothing() {
    assert!(
        have("script") || std::env::var("CI").is_err(),
        "CI needs script (bsdutils)"
    );
    if !have("script") {
        eprintln!("\nSKIPPED: the terminal case needs script(1) (bsdutils); CI always runs it.\n");
        return;
    }
    let env = Env::new();
    env.hierarchy();
    let hash = env.tree_hash();
    let cmd = format!(
        "{} --pki {} batch --count 1 --archive -",
        env!("CARGO_BIN_EXE_certsmith"),
        s(&env.pki)
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    clean_env(&mut c);
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("to the terminal"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    assert_eq!(env.tree_hash(), hash);
    assert!(ledger_rows(&env).is_empty());
}

#[test]
fn archive_to_stdout_redirected_to_a_file_is_fdatasynced_and_a_shared_file_is_warned_about() {
    if !strace_available() {
        return;
    }
    let env = Env::new();
    env.hierarchy();
    let tar = env.path("so.tar");
    let file = std::fs::File::create(&tar).unwrap();
    std::fs::set_permissions(&tar, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let log = env.path("strace-stdout.txt");
    let mut c = Command::new("strace");
    c.args(["-f", "-e", "trace=fdatasync", "-o", s(&log)])
        .arg(env!("CARGO_BIN_EXE_certsmith"))
        .arg("--pki")
        .arg(&env.pki)
        .args(["batch", "--count", "3", "--archive", "-"])
        .stdout(file);
    clean_env(&mut c);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("group or others may read"), "{err}");
    let trace = std::fs::read_to_string(&log).unwrap();
    assert!(
        trace.contains("fdatasync(1"),
        "stdout never fdatasynced: {trace}"
    );
    assert_eq!(tar_listing(&tar).len(), 3 * 5);
}

#[test]
fn csr_inputs_never_follow_links_or_leave_the_manifest_directory_and_every_bad_file_is_named_whole()
{
    let env = Env::new();
    env.hierarchy();
    let csrs = env.path("csrs");
    std::fs::create_dir_all(&csrs).unwrap();
    let key = env.path("k.pem");
    openssl_p256_csr(&key, &csrs.join("good-unit.csr"), "/CN=good-unit");
    // A link to a file outside, even a real CSR: refused, named.
    openssl_p256_csr(&env.path("k2.pem"), &env.path("outside.csr"), "/CN=outside");
    std::os::unix::fs::symlink(env.path("outside.csr"), csrs.join("shadow.csr")).unwrap();
    // Long names: the summary names every one whole.
    let long: Vec<String> = (1..=4)
        .map(|i| format!("a-rather-long-factory-unit-name-{i}.csr"))
        .collect();
    for n in &long {
        std::fs::write(csrs.join(n), "not a csr").unwrap();
    }
    let hash = env.tree_hash();
    let err = env.fails(2, &["batch", "--csr-dir", s(&csrs)]);
    assert!(
        err.contains("shadow.csr") && err.contains("symbolic link"),
        "{err}"
    );
    let summary = err
        .lines()
        .find(|l| l.contains("bad CSRs in"))
        .unwrap_or_else(|| panic!("{err}"));
    for n in &long {
        assert!(summary.contains(n.as_str()), "{n} cut in: {summary}");
    }
    assert_eq!(env.tree_hash(), hash);

    // Two CNs are named as such with --name-from cn.
    let two = env.path("two-cn");
    std::fs::create_dir_all(&two).unwrap();
    openssl_p256_csr(&env.path("k3.pem"), &two.join("x.csr"), "/CN=one/CN=two");
    let err = env.fails(2, &["batch", "--csr-dir", s(&two), "--name-from", "cn"]);
    assert!(err.contains("2 CNs"), "{err}");

    // A manifest's csr column stays inside the manifest's directory.
    let lot = env.path("lot");
    std::fs::create_dir_all(&lot).unwrap();
    std::fs::copy(env.path("outside.csr"), lot.join("ok.csr")).unwrap();
    for bad in ["../outside.csr", "/etc/passwd"] {
        let manifest = lot.join("m.csv");
        std::fs::write(&manifest, format!("name,csr\nm1,{bad}\n")).unwrap();
        let err = env.fails(2, &["batch", s(&manifest)]);
        assert!(
            err.contains("inside the manifest's directory"),
            "{bad}: {err}"
        );
        assert_eq!(env.tree_hash(), hash);
    }
}

#[test]
fn csr_batch_summary_says_the_keys_came_from_the_csrs() {
    let env = Env::new();
    env.hierarchy();
    let csrs = env.path("csrs");
    std::fs::create_dir_all(&csrs).unwrap();
    openssl_p256_csr(&env.path("k1.pem"), &csrs.join("u1.csr"), "/CN=u1");
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ed25519",
        "-noenc",
        "-keyout",
        s(&env.path("k2.pem")),
        "-subj",
        "/CN=u2",
        "-out",
        s(&csrs.join("u2.csr")),
    ]);
    assert!(ok, "{out}");
    let text = env.ok(&["batch", "--csr-dir", s(&csrs)]);
    assert!(
        text.contains("(profile device, keys from the CSRs)"),
        "{text}"
    );
}

#[test]
fn names_equal_ignoring_case_in_one_batch_are_refused_naming_both() {
    let env = Env::new();
    env.hierarchy();
    let manifest = env.path("m.csv");
    std::fs::write(&manifest, "name\nDevA\nother\ndeva\n").unwrap();
    let hash = env.tree_hash();
    let err = env.fails(2, &["batch", s(&manifest)]);
    assert!(
        err.contains("'deva' equals 'DevA'") && err.contains("ignoring case"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), hash);
}

#[test]
fn doctor_repair_leaves_rows_of_a_missing_archive_pending_until_it_is_back_or_declared_lost() {
    let env = Env::new();
    let (tar, before) = killed_archive_batch(&env, "batch-written@3");
    let pending = before.values().filter(|(_, st)| st == "pending").count();
    assert!(pending >= 50, "{pending}");
    // The first open after the crash lets SQLite fold the dead process's WAL in.
    let _ = env.run(&["list"]);
    let moved = env.path("moved.tar");
    std::fs::rename(&tar, &moved).unwrap();
    let r = env.run(&["doctor", "--repair"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "archive '{}' not found (or unreadable)",
            tar.display()
        )),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("--archive-lost"), "{}", r.stderr);
    assert!(!r.stdout.contains("revoked it"), "{}", r.stdout);
    // Other leftovers of the crash may be repaired; the rows are untouched.
    assert_eq!(ledger_rows(&env), before);
    // Put back, the archive settles the rows: those complete in it become active.
    std::fs::rename(&moved, &tar).unwrap();
    let report = env.ok(&["doctor", "--repair"]);
    assert!(report.contains("marked it active"), "{report}");
    assert!(revoked_serials(&env).len() < pending, "{report}");
}

#[test]
fn doctor_repair_archive_lost_revokes_the_rows_of_a_missing_archive() {
    let env = Env::new();
    let (tar, before) = killed_archive_batch(&env, "batch-written@3");
    let pending = before.values().filter(|(_, st)| st == "pending").count();
    std::fs::remove_file(&tar).unwrap();
    let report = env.ok(&["doctor", "--repair", "--archive-lost"]);
    assert!(report.contains("revoked it (key-compromise)"), "{report}");
    assert_eq!(revoked_serials(&env).len(), pending, "{report}");
    // The lost archive held the devices' private keys: the CRL says so.
    env.ok(&["crl"]);
    let crl = env.pki.join("cas").join("issuing").join("crl.pem");
    let (ok, text) = openssl(&["crl", "-noout", "-text", "-in", s(&crl)]);
    assert!(ok, "{text}");
    assert_eq!(text.matches("Key Compromise").count(), pending, "{text}");
}

#[test]
fn doctor_skips_a_huge_archive_entry_by_its_size_without_reading_it_into_memory() {
    let env = Env::new();
    let (tar, _) = killed_archive_batch(&env, "batch-written@3");
    // A 2 GiB entry appended (sparse: only its header is on disk).
    let end = std::fs::metadata(&tar).unwrap().len();
    assert_eq!(end % 512, 0, "the chunk boundary is an entry boundary");
    let mut h = tar::Header::new_gnu();
    h.set_path("zz/big.bin").unwrap();
    h.set_size(2 << 30);
    h.set_mode(0o600);
    h.set_cksum();
    let f = std::fs::OpenOptions::new().append(true).open(&tar).unwrap();
    use std::io::Write;
    (&f).write_all(h.as_bytes()).unwrap();
    f.set_len(end + 512 + (2 << 30)).unwrap();
    drop(f);
    if !strace_available() {
        return;
    }
    // The bytes doctor reads, under a 1 GiB address-space limit.
    let trace = env.path("reads.txt");
    let c = env.command(&["doctor", "--repair"]);
    let mut sh = std::process::Command::new("sh");
    // The certsmith command's own environment is copied over below.
    clean_env(&mut sh);
    sh.arg("-c")
        .arg("ulimit -v 1048576 && exec strace -f -qq -e trace=read -o \"$TRACE\" \"$0\" \"$@\"")
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    if let Some(d) = c.get_current_dir() {
        sh.current_dir(d);
    }
    let out = sh.env("TRACE", &trace).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The entry closes the last device before it: every device of the chunk is active.
    assert_eq!(report.matches("marked it active").count(), 50, "{report}");
    let read: u64 = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter_map(|l| l.rsplit_once("= ")?.1.trim().parse::<u64>().ok())
        .sum();
    let archive_data = end;
    assert!(
        read < archive_data + (16 << 20),
        "read {read} bytes of a {archive_data}-byte archive and a 2 GiB entry"
    );
}

#[test]
fn certificates_doctor_revoked_from_an_archive_batch_are_listed_and_counted_as_revoked_like_the_crl()
 {
    let env = Env::new();
    let (tar, _) = killed_archive_batch(&env, "archive-appended@120");
    std::fs::remove_file(&tar).unwrap();
    env.ok(&["doctor", "--repair", "--archive-lost"]);
    env.ok(&["crl"]);
    let on_crl = crl_serials(&env);
    let revoked = revoked_serials(&env);
    assert!(!revoked.is_empty());
    assert_eq!(revoked.len(), on_crl.len());
    let listed = env.json(&["list", "--revoked"]);
    let listed = listed["certificates"].as_array().unwrap();
    assert_eq!(listed.len(), revoked.len(), "{listed:?}");
    let status = env.json(&["status"]);
    let counted: u64 = status["cas"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|ca| {
            fn sum(n: &serde_json::Value) -> u64 {
                n["revoked"].as_u64().unwrap_or(0)
                    + n["children"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(sum)
                        .sum::<u64>()
            }
            sum(ca)
        })
        .sum();
    assert_eq!(counted, revoked.len() as u64, "{status}");
}

#[test]
fn a_bad_csr_in_a_csr_dir_is_named_once_in_its_message() {
    let env = Env::new();
    env.hierarchy();
    let two = env.path("cd2");
    std::fs::create_dir_all(&two).unwrap();
    let csr = two.join("two.csr");
    openssl_p256_csr(&env.path("k3.pem"), &csr, "/CN=one/CN=one");
    let hash = env.tree_hash();
    let err = env.fails(2, &["batch", "--csr-dir", s(&two)]);
    let named = format!("CSR '{}'", csr.display());
    assert!(err.contains("appears more than once"), "{err}");
    assert_eq!(err.matches(&named).count(), 1, "{err}");
    assert_eq!(env.tree_hash(), hash);
}
