//! At the terminal: help texts and examples, value lists, completions,
//! man pages, doctor on certsmith's own exports, read-only commands on a
//! loose PKI directory and finding the PKI from inside it.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use crate::common::*;

/// A root and an issuing CA, a device, with CRLs.
fn pki_with_device(env: &Env) {
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    env.ok(&["crl", "-q"]);
}

#[test]
fn read_only_commands_warn_on_a_0755_pki_directory_and_writers_refuse() {
    let env = Env::new();
    pki_with_device(&env);
    std::fs::set_permissions(&env.pki, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = env.tree_hash();
    let cert = env.cert_dir("dev1").join("cert.pem");
    for args in [
        vec!["list"],
        vec!["status"],
        vec!["inspect", s(&cert)],
        vec!["verify", s(&cert), "--ca", "issuing"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
        if args[0] != "inspect" {
            assert!(
                r.stderr.contains("certsmith: warning: PKI directory")
                    && r.stderr.contains("mode 0755"),
                "{args:?} must warn: {}",
                r.stderr
            );
        }
    }
    assert!(env.run(&["list"]).stdout.contains("dev1"));
    // Writers still refuse, changing nothing.
    for args in [vec!["issue", "dev2"], vec!["revoke", "dev1"], vec!["crl"]] {
        let err = env.fails(2, &args);
        assert!(err.contains("mode 0755"), "{args:?}: {err}");
    }
    assert_eq!(env.tree_hash(), before, "a read-only command changed the PKI");
}

/// certsmith run with no `--pki` in `dir` (relative to the temp dir).
fn run_in(env: &Env, dir: &std::path::Path, args: &[&str]) -> Run {
    let out = certsmith()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run certsmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn commands_run_inside_the_pki_directory_or_below_find_it() {
    let env = Env::new();
    pki_with_device(&env);
    let before = env.tree_hash();
    for dir in [
        env.pki.clone(),
        env.pki.join("certs"),
        env.cert_dir("dev1"),
    ] {
        let r = run_in(&env, &dir, &["list"]);
        assert_eq!(r.code, 0, "in {}: {}{}", dir.display(), r.stdout, r.stderr);
        assert!(r.stdout.contains("dev1"), "in {}: {}", dir.display(), r.stdout);
        let r = run_in(&env, &dir, &["status"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("issuing"), "{}", r.stdout);
    }
    assert_eq!(env.tree_hash(), before);
    // From inside, a writer works on the same PKI, and init refuses to nest one.
    let r = run_in(&env, &env.pki.join("certs"), &["issue", "dev2", "--no-sync", "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(env.cert_dir("dev2").join("cert.pem").is_file());
    let before = env.tree_hash();
    let r = run_in(&env, &env.pki.join("certs"), &["init", "--no-passphrase"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.tree_hash(), before);
    assert!(!env.pki.join("certs/pki").exists());
    // ./pki wins over a ledger above; $CERTSMITH_PKI and --pki win over both.
    let other = Env::new();
    let r = run_in(&other, other.dir.path(), &["list"]);
    assert_eq!(r.code, 2, "no PKI here: {}", r.stderr);
    assert!(r.stderr.contains("no PKI directory at 'pki'"), "{}", r.stderr);
}

#[test]
fn doctor_recognises_every_export_and_bundle_certsmith_writes() {
    let env = Env::new();
    pki_with_device(&env);
    let pass = env.path("p12.pass");
    std::fs::write(&pass, "export password\n").unwrap();
    env.ok(&["export", "dev1", "--p12-passphrase-file", s(&pass), "-q"]);
    env.ok(&["export", "dev1", "--format", "k8s-secret", "-q"]);
    env.ok(&["export", "dev1", "--format", "pem", "-q"]);
    for target in ["generic", "nginx", "haproxy", "envoy", "k8s"] {
        env.ok(&["bundle", "--target", target, "-q"]);
    }
    env.ok(&["bundle", "--target", "k8s", "--cert", "dev1", "-q"]);
    let d = env.cert_dir("dev1");
    for f in ["dev1.p12", "secret.yaml", "combined.pem"] {
        assert!(d.join(f).is_file(), "export wrote no {f}");
    }
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("No problems found."), "{}", r.stdout);
}

#[test]
fn doctor_suggests_repair_only_for_what_repair_fixes() {
    let env = Env::new();
    pki_with_device(&env);
    // A file certsmith did not write: doctor reports it and never removes it.
    let stray = env.cert_dir("dev1").join("notes.txt");
    std::fs::write(&stray, "mine").unwrap();
    let before = env.tree_hash();
    let err = env.fails(1, &["doctor"]);
    assert!(!err.contains("--repair"), "repair cannot fix a stray file: {err}");
    assert!(err.contains("hint: move the files certsmith did not write"), "{err}");
    let r = env.run(&["doctor", "--repair"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.tree_hash(), before, "--repair touched a stray file");
    // An empty directory no certificate owns: --repair removes it, and the
    // hint says so (alongside the step for the stray file).
    std::fs::create_dir(env.pki.join("certs/leftover")).unwrap();
    std::fs::set_permissions(
        env.pki.join("certs/leftover"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let err = env.fails(1, &["doctor"]);
    assert!(
        err.contains("move the files certsmith did not write")
            && err.contains("then `certsmith doctor --repair` fixes what is safe to fix"),
        "{err}"
    );
    std::fs::remove_file(&stray).unwrap();
    let err = env.fails(1, &["doctor"]);
    assert!(err.contains("hint: run `certsmith doctor --repair`"), "{err}");
    env.ok(&["doctor", "--repair", "-q"]);
    assert!(!env.pki.join("certs/leftover").exists());
}
