//! Crash safety: a certsmith killed at any step of a write leaves a PKI
//! directory that `doctor --repair` settles without losing a certificate.

use std::time::Duration;

use super::listed;
use crate::common::*;

/// Runs `issue name` with the crash hook set; the process must die there.
fn issue_crashing_at(env: &Env, name: &str, point: &str) {
    let out = env
        .command(&["issue", name, "-q"])
        .env("CERTSMITH_TEST_CRASH_AT", point)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "{point}: the process should have been killed"
    );
}

fn doctor_repairs_then_is_clean(env: &Env) -> String {
    let r = env.run(&["doctor"]);
    assert_eq!(
        r.code, 1,
        "doctor must see the interrupted write:\n{}{}",
        r.stdout, r.stderr
    );
    let r = env.run(&["doctor", "--repair"]);
    assert_eq!(r.code, 0, "doctor --repair:\n{}{}", r.stdout, r.stderr);
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "doctor after repair:\n{}{}", r.stdout, r.stderr);
    r.stdout
}

fn assert_verifies(env: &Env, name: &str) {
    let d = env.cert_dir(name);
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{name}: {out}");
}

#[test]
fn issue_killed_before_its_files_land_is_rolled_back_by_doctor_and_can_be_reissued() {
    for point in ["reserved", "staged", "partial"] {
        let env = Env::new();
        env.hierarchy();
        issue_crashing_at(&env, "dev", point);
        let r = env.run(&["issue", "dev"]);
        assert_eq!(
            r.code, 2,
            "{point}: the reserved name is held until doctor settles it"
        );
        assert!(r.stderr.contains("doctor --repair"), "{}", r.stderr);
        let repaired = env.run(&["doctor", "--repair"]);
        assert!(
            repaired.stdout.contains("removed the reservation"),
            "{point}: {}",
            repaired.stdout
        );
        doctor_clean(&env);
        assert!(
            listed(&env).is_empty(),
            "{point}: no record of a certificate that never landed"
        );
        env.ok(&["issue", "dev", "-q"]);
        assert_verifies(&env, "dev");
        doctor_clean(&env);
    }
}

fn doctor_clean(env: &Env) {
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn issue_killed_after_its_files_land_keeps_the_certificate() {
    let env = Env::new();
    env.hierarchy();
    issue_crashing_at(&env, "dev", "committed");
    let out = doctor_repairs_then_is_clean(&env);
    assert!(out.contains("No problems found"), "{out}");
    let rows = listed(&env);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], "valid");
    assert_verifies(&env, "dev");
}

#[test]
fn doctor_leaves_pending_rows_of_a_running_process_alone() {
    let env = Env::new();
    env.hierarchy();
    issue_crashing_at(&env, "dev", "staged");
    // A live certsmith process holds a shared lock on the PKI directory while it has the ledger
    // open, and owns the rows it reserved; hold the lock the same way and give the row a running
    // owner of this host (this test process): doctor must not touch what may be that process's work.
    let lock = std::fs::File::open(&env.pki).unwrap();
    lock.lock_shared().unwrap();
    let ledger = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    let owner: String = ledger
        .query_row(
            "SELECT owner FROM certificates WHERE name = 'dev'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let (host_and_pid, boot) = owner.rsplit_once(':').unwrap();
    let host = host_and_pid.rsplit_once(':').unwrap().0;
    let running = format!("{host}:{}:{boot}", std::process::id());
    let set_owner = |o: &str| {
        ledger
            .execute("UPDATE certificates SET owner = ?1 WHERE name = 'dev'", [o])
            .unwrap();
    };
    set_owner(&running);
    let r = env.run(&["doctor", "--repair"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("being written by another certsmith process"),
        "{}",
        r.stdout
    );
    assert!(
        std::fs::read_dir(env.cert_dir("dev")).unwrap().count() > 0,
        "temp files kept"
    );
    // The process is gone (the crashed one owned it) and no lock is held.
    set_owner(&owner);
    drop(ledger);
    drop(lock);
    let r = env.run(&["doctor", "--repair"]);
    assert!(r.stdout.contains("removed the reservation"), "{}", r.stdout);
    doctor_clean(&env);
}

#[test]
fn issues_killed_at_random_moments_lose_nothing_that_was_reported() {
    let env = Env::new();
    env.hierarchy();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let n = 24;
    // Names whose run printed its JSON report (exit 0) before the kill: those were
    // promised to the operator and must survive whatever the kill interrupted later.
    let mut reported: Vec<String> = Vec::new();
    let mut killed = 0;
    // Timed runs set the kill window: 0 to three times the fastest of them, so
    // kills land before, during and after the write on a fast or a loaded machine
    // (the fastest, because a first run on a cold machine can take many times longer).
    let fastest = (0..3)
        .map(|i| {
            let started = std::time::Instant::now();
            env.ok(&["--json", "issue", &format!("probe{i}")]);
            started.elapsed().as_micros() as u64
        })
        .min()
        .unwrap();
    let window = (fastest * 3).max(1);
    for i in 0..n {
        let name = format!("k{i:02}");
        let mut child = env
            .command(&["--json", "issue", &name])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A pseudo-random kill moment in the window: spread over process start, key
        // generation, ledger reservation, file writes and confirmation.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Every sixth run is killed at once and every sixth is never killed, so the
        // test always sees both outcomes however the machine's speed skews the rest.
        match i % 6 {
            0 => {
                let _ = child.kill();
            }
            3 => {}
            _ => {
                std::thread::sleep(Duration::from_micros(seed % window));
                let _ = child.kill();
            }
        }
        let out = child.wait_with_output().unwrap();
        if out.status.code().is_none() {
            killed += 1;
        }
        if out.status.success() {
            let j: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{name}: exit 0 without a JSON report ({e})"));
            assert_eq!(j["name"], name.as_str(), "{j}");
            reported.push(name);
        }
    }
    assert!(killed > 0, "no run was killed: the test proves nothing");
    assert!(
        !reported.is_empty(),
        "no run finished: the test proves nothing"
    );
    let r = env.run(&["doctor", "--repair"]);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    doctor_clean(&env);
    let rows = listed(&env);
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    for name in &reported {
        assert!(
            names.contains(&name.as_str()),
            "'{name}' was reported issued but is gone after the crash and repair: {names:?}"
        );
    }
    // Every recorded certificate is complete and valid, reported or not.
    for name in &names {
        assert_verifies(&env, name);
    }
    eprintln!(
        "{} of {n} runs finished before their kill; {} certificates recorded",
        reported.len(),
        names.len()
    );
}

#[test]
fn batch_killed_at_random_points_resumes_to_exactly_the_requested_certificates() {
    let env = Env::new();
    env.hierarchy();
    let count = 5000usize;
    let count_s = count.to_string();
    for delay_ms in [300u64, 900, 1700] {
        let mut child = env
            .command(&["batch", "--count", &count_s, "--skip-existing", "-q"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let r = env.run(&["doctor", "--repair"]);
        assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    }
    env.ok(&["batch", "--count", &count_s, "--skip-existing", "-q"]);
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let rows = listed(&env);
    assert_eq!(rows.len(), count);
    let mut args: Vec<String> = vec!["verify".into(), "-x509_strict".into(), "-CAfile".into()];
    args.push(env.root_pem().display().to_string());
    args.push("-untrusted".into());
    args.push(env.pki.join("cas/issuing/ca.pem").display().to_string());
    for r in &rows {
        args.push(
            env.cert_dir(r["name"].as_str().unwrap())
                .join("cert.pem")
                .display()
                .to_string(),
        );
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = openssl(&refs);
    assert!(ok, "{}", &out[..out.len().min(2000)]);
    assert_eq!(out.matches(": OK").count(), count);
}

/// Runs certsmith with the failure hook at `point`: the command must fail
/// with exit 1 and a one-line error (plus hint). Returns stderr.
fn failing_at(env: &Env, point: &str, args: &[&str]) -> String {
    let out = env
        .command(args)
        .env("CERTSMITH_TEST_FAIL_AT", point)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} failing at {point}: {err}"
    );
    assert!(err.starts_with("certsmith: "), "{err}");
    assert!(err.lines().count() <= 2, "{err}");
    err
}

/// Everything below the PKI directory except the ledger files, whose bytes a reservation
/// that was taken back may still change.
fn files_hash(env: &Env) -> String {
    let copy = env.path("files-only");
    let _ = std::fs::remove_dir_all(&copy);
    let copied = std::process::Command::new("cp")
        .args(["-a", s(&env.pki), s(&copy)])
        .status()
        .unwrap();
    assert!(copied.success());
    for f in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
        let _ = std::fs::remove_file(copy.join(f));
    }
    let h = tree_hash(&copy);
    std::fs::remove_dir_all(&copy).unwrap();
    h
}

#[test]
fn force_reissue_failing_after_its_files_land_puts_the_old_certificate_back() {
    for point in ["committed", "staged"] {
        let env = Env::new();
        env.hierarchy();
        env.ok(&["issue", "dev", "-q"]);
        let files = files_hash(&env);
        let ledger = env.json(&["list", "--all"]);
        let err = failing_at(&env, point, &["issue", "dev", "--force", "-q"]);
        assert!(err.contains("no space left on device"), "{point}: {err}");
        assert_eq!(
            files_hash(&env),
            files,
            "{point}: the old files are not back where they were"
        );
        assert_eq!(env.json(&["list", "--all"]), ledger, "{point}");
        assert_verifies(&env, "dev");
        doctor_clean(&env);
    }
}

#[test]
fn csr_reissue_failing_after_its_files_land_puts_the_old_key_back() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let key = env.path("dev.key");
    let csr = env.path("dev.csr");
    openssl_p256_csr(&key, &csr, "/CN=dev");
    let files = files_hash(&env);
    failing_at(
        &env,
        "committed",
        &["sign", s(&csr), "--name", "dev", "--force", "-q"],
    );
    assert_eq!(files_hash(&env), files, "key.pem is not back in place");
    doctor_clean(&env);
}

#[test]
fn force_reissue_killed_mid_rename_is_put_back_by_doctor() {
    for point in ["backed-up", "partial"] {
        let env = Env::new();
        env.hierarchy();
        env.ok(&["issue", "dev", "-q"]);
        let files = files_hash(&env);
        let ledger = env.json(&["list"]);
        let out = env
            .command(&["issue", "dev", "--force", "-q"])
            .env("CERTSMITH_TEST_CRASH_AT", point)
            .output()
            .unwrap();
        assert!(
            out.status.code().is_none(),
            "{point}: the process should have been killed"
        );
        let r = env.run(&["doctor", "--repair"]);
        assert!(
            r.stdout.contains("removed the reservation"),
            "{point}: {}",
            r.stdout
        );
        assert!(r.stdout.contains("put back"), "{point}: {}", r.stdout);
        doctor_clean(&env);
        assert_eq!(files_hash(&env), files, "{point}: old files not restored");
        assert_eq!(env.json(&["list"]), ledger, "{point}");
        assert_verifies(&env, "dev");
    }
}

#[test]
fn batch_killed_after_writing_a_chunk_left_it_reserved_for_doctor() {
    let env = Env::new();
    env.hierarchy();
    let out = env
        .command(&["batch", "--count", "20", "-q"])
        .env("CERTSMITH_TEST_CRASH_AT", "batch-written")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "the batch should have been killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = listed(&env);
    assert_eq!(rows.len(), 20, "written certificates without a ledger row");
    assert!(rows.iter().all(|r| r["status"] == "pending"), "{rows:?}");
    let r = env.run(&["doctor", "--repair"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    doctor_clean(&env);
    let rows = listed(&env);
    assert_eq!(rows.len(), 20);
    for r in &rows {
        assert_eq!(r["status"], "valid", "{r}");
        assert_verifies(&env, r["name"].as_str().unwrap());
    }
}

#[test]
fn batch_failing_to_write_part_way_records_what_it_wrote_and_says_how_to_resume() {
    let env = Env::new();
    env.hierarchy();
    // The 30th certificate directory cannot be written.
    let out = env
        .command(&["batch", "--count", "60", "--jobs", "1", "-q"])
        .env("CERTSMITH_TEST_FAIL_AT", "batch-write@30")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--skip-existing"), "{err}");
    assert_no_certificate_unrecorded(&env);
    assert_eq!(listed(&env).len(), 29);
    doctor_clean(&env);
    env.ok(&["batch", "--count", "60", "--skip-existing", "-q"]);
    assert_eq!(listed(&env).len(), 60);
    doctor_clean(&env);
}

/// Every directory under certs/ has a current ledger row, and every valid
/// row its files (a `pending` row may have none yet: doctor settles it).
fn assert_no_certificate_unrecorded(env: &Env) {
    let rows = listed(env);
    let names: std::collections::BTreeSet<String> = rows
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    let dirs: std::collections::BTreeSet<String> = std::fs::read_dir(env.pki.join("certs"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let unrecorded: Vec<_> = dirs.difference(&names).collect();
    assert!(
        unrecorded.is_empty(),
        "certificate directories without a ledger row: {unrecorded:?}"
    );
    for r in rows.iter().filter(|r| r["status"] != "pending") {
        let d = env.cert_dir(r["name"].as_str().unwrap());
        assert!(d.join("cert.pem").exists(), "{r}: files missing");
    }
}

#[test]
fn batch_running_out_of_disk_space_leaves_no_certificate_unrecorded() {
    let mut env = Env::new();
    let Some(_disk) = Tmpfs::mount(&env.path("small"), "4m") else {
        return;
    };
    env.pki = env.path("small/pki");
    env.hierarchy();
    // ~1 MiB stays free for the batch.
    std::fs::write(env.path("small/ballast"), vec![0u8; 3 * 1024 * 1024]).unwrap();
    let r = env.run(&["batch", "--count", "3000", "-q"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no space left on device"), "{}", r.stderr);
    assert!(r.stderr.contains("--skip-existing"), "{}", r.stderr);
    assert_no_certificate_unrecorded(&env);
    // Written certificates are recorded: `valid`, or `pending` when the disk
    // was too full even to mark them active (doctor --repair settles those).
    let rows = listed(&env);
    assert!(
        !rows.is_empty(),
        "the disk filled before the first certificate"
    );
    for r in rows.iter().filter(|r| r["status"] == "valid") {
        assert_verifies(&env, r["name"].as_str().unwrap());
    }
}

#[test]
fn change_passphrase_failing_after_the_new_file_lands_keeps_the_old_key() {
    let env = Env::new();
    let pass = env.path("pass");
    std::fs::write(&pass, "right").unwrap();
    env.ok(&["init", "--cn", "Root", "--passphrase-file", s(&pass), "-q"]);
    let new = env.path("new");
    std::fs::write(&new, "brand new").unwrap();
    let files = files_hash(&env);
    failing_at(
        &env,
        "key-verify",
        &[
            "key",
            "change-passphrase",
            "root",
            "--passphrase-file",
            s(&pass),
            "--new-passphrase-file",
            s(&new),
        ],
    );
    assert_eq!(files_hash(&env), files, "the key file changed");
    let (ok, out) = openssl_opens_key(&env.pki.join("cas/root/ca.key.pem"), &pass);
    assert!(ok, "the old passphrase no longer opens the key: {out}");
}

#[test]
fn change_passphrase_killed_after_the_new_file_lands_never_lets_doctor_delete_the_old_key() {
    let env = Env::new();
    let pass = env.path("pass");
    std::fs::write(&pass, "right").unwrap();
    env.ok(&["init", "--cn", "Root", "--passphrase-file", s(&pass), "-q"]);
    let key = env.pki.join("cas/root/ca.key.pem");
    let old = std::fs::read(&key).unwrap();
    let new = env.path("new");
    std::fs::write(&new, "brand new").unwrap();
    let out = env
        .command(&[
            "key",
            "change-passphrase",
            "root",
            "--passphrase-file",
            s(&pass),
            "--new-passphrase-file",
            s(&new),
        ])
        .env("CERTSMITH_TEST_CRASH_AT", "partial")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "the process should have been killed"
    );
    assert_ne!(
        std::fs::read(&key).unwrap(),
        old,
        "the new key did not land"
    );
    let r = env.run(&["doctor", "--repair"]);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    let kept = std::fs::read_dir(env.pki.join("cas/root"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &key)
        .any(|p| std::fs::read(&p).is_ok_and(|b| b == old));
    assert!(
        kept,
        "doctor --repair deleted the previous CA key:\n{}",
        r.stdout
    );
    // The new key was verified before it was placed: it opens with the new passphrase.
    let (ok, o) = openssl_opens_key(&key, &new);
    assert!(ok, "{o}");
}

#[test]
fn force_reissue_killed_after_its_new_cert_lands_is_put_back_whole_by_doctor() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let files = files_hash(&env);
    let ledger = env.json(&["list"]);
    // Files land key, cert, chain, fullchain: killed with the new key and cert
    // beside the old chain and fullchain.
    let out = env
        .command(&["issue", "dev", "--force", "-q"])
        .env("CERTSMITH_TEST_CRASH_AT", "partial@2")
        .output()
        .unwrap();
    assert!(
        out.status.code().is_none(),
        "the process should have been killed"
    );
    let r = env.run(&["doctor", "--repair"]);
    assert!(r.stdout.contains("put back"), "{}{}", r.stdout, r.stderr);
    doctor_clean(&env);
    assert_eq!(files_hash(&env), files, "the old files are not all back");
    assert_eq!(env.json(&["list"]), ledger);
    assert_verifies(&env, "dev");
}

#[test]
fn force_reissue_never_replaces_an_existing_backup() {
    let env = Env::new();
    env.hierarchy();
    let j = env.json(&["issue", "dev"]);
    let serial = j["serial"]
        .as_str()
        .or(j["certificates"][0]["serial"].as_str())
        .unwrap()
        .to_string();
    let backup = env.cert_dir("dev").join(format!("cert.pem.old-{serial}"));
    std::fs::write(&backup, "kept by the operator\n").unwrap();
    let before = env.tree_hash();
    let err = env.fails(2, &["issue", "dev", "--force"]);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        env.tree_hash(),
        before,
        "a refused re-issue changed the PKI"
    );
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "kept by the operator\n"
    );
}

#[test]
fn force_reissue_whose_undo_fails_stays_pending_for_doctor_to_put_back() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let files = files_hash(&env);
    let ledger = env.json(&["list"]);
    // The ledger update fails, then putting back the first file fails too.
    let r = env
        .command(&["issue", "dev", "--force", "-q"])
        .env("CERTSMITH_TEST_FAIL_AT", "committed,undo")
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let r = env.run(&["doctor", "--repair"]);
    assert!(r.stdout.contains("put back"), "{}{}", r.stdout, r.stderr);
    doctor_clean(&env);
    assert_eq!(files_hash(&env), files, "the old files are not all back");
    assert_eq!(env.json(&["list"]), ledger);
    assert_verifies(&env, "dev");
}

#[test]
fn force_reissue_that_cannot_restore_a_backup_says_so_and_doctor_puts_it_back() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let files = files_hash(&env);
    let ledger = env.json(&["list"]);
    let r = env
        .command(&["issue", "dev", "--force", "-q"])
        .env("CERTSMITH_TEST_FAIL_AT", "persist,restore-backup")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot restore"),
        "the failed restore was not said: {err}"
    );
    assert!(err.contains("doctor --repair"), "{err}");
    let r = env.run(&["doctor", "--repair"]);
    assert!(r.stdout.contains("put back"), "{}{}", r.stdout, r.stderr);
    doctor_clean(&env);
    assert_eq!(files_hash(&env), files, "the old files are not all back");
    assert_eq!(env.json(&["list"]), ledger);
}
