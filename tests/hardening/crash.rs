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
    // open; hold one the same way: doctor must not touch what may be that process's work.
    let lock = std::fs::File::open(&env.pki).unwrap();
    lock.lock_shared().unwrap();
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
    for i in 0..n {
        let mut child = env
            .command(&["issue", &format!("k{i:02}"), "-q"])
            .spawn()
            .unwrap();
        // A pseudo-random kill moment between 0 and ~40 ms: spread over process start, key
        // generation, ledger reservation, file writes and confirmation.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 40_000));
        let _ = child.kill();
        let _ = child.wait();
    }
    let r = env.run(&["doctor", "--repair"]);
    assert!(r.code == 0 || r.code == 1, "{}{}", r.stdout, r.stderr);
    doctor_clean(&env);
    // Every recorded certificate is complete and valid; every other name can be issued again.
    let names: Vec<String> = listed(&env)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    for name in &names {
        assert_verifies(&env, name);
    }
    for i in 0..n {
        let name = format!("k{i:02}");
        if !names.contains(&name) {
            env.ok(&["issue", &name, "-q"]);
        }
        assert_verifies(&env, &name);
    }
    assert_eq!(listed(&env).len(), n);
    doctor_clean(&env);
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
