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
