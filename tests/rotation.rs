//! Rotation and renewal: a default issuing CA, retiring a CA, moving
//! certificates to another CA, bulk renewal, pruning old files, CA
//! renewal, re-keying and cross-signing, first CRLs and per-CA passphrases.

use std::path::Path;

use crate::common::*;

/// root → `a` and root → `b`, both unencrypted, with a device under each.
fn two_intermediates(env: &Env) {
    env.hierarchy();
    env.ok(&[
        "intermediate",
        "next",
        "--cn",
        "Next Issuing CA",
        "--no-passphrase",
        "-q",
    ]);
}

fn run_at(env: &Env, now: &str, args: &[&str]) -> Run {
    let out = env
        .command(args)
        .env("CERTSMITH_NOW", now)
        .output()
        .expect("run certsmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn issuer_cn(cert: &Path) -> String {
    openssl(&[
        "x509",
        "-in",
        s(cert),
        "-noout",
        "-issuer",
        "-nameopt",
        "RFC2253",
    ])
    .1
}

#[test]
fn issue_without_ca_uses_the_default_issuing_ca() {
    let env = Env::new();
    two_intermediates(&env);
    env.ok(&["ca", "default", "next", "-q"]);
    env.ok(&["issue", "dev-1", "-q"]);
    let issuer = issuer_cn(&env.cert_dir("dev-1").join("cert.pem"));
    assert!(issuer.contains("CN=Next Issuing CA"), "{issuer}");
    assert_eq!(
        env.json(&["ca", "default", "issuing"])["default_ca"],
        "issuing"
    );
    env.ok(&["issue", "dev-2", "-q"]);
    let issuer = issuer_cn(&env.cert_dir("dev-2").join("cert.pem"));
    assert!(issuer.contains("CN=Test Issuing CA"), "{issuer}");
}

#[test]
fn issue_without_ca_and_two_intermediates_refuses_naming_ca_default() {
    let env = Env::new();
    two_intermediates(&env);
    let err = refused(&env, &["issue", "dev-1"]);
    assert!(err.contains("certsmith ca default"), "{err}");
    assert!(err.contains("issuing") && err.contains("next"), "{err}");
}

#[test]
fn ca_default_of_an_unknown_ca_is_refused() {
    let env = Env::new();
    two_intermediates(&env);
    let err = refused(&env, &["ca", "default", "nope"]);
    assert!(
        err.starts_with("certsmith: no CA 'nope'") || err.contains("'nope'"),
        "{err}"
    );
}

#[test]
fn retired_ca_refuses_issue_sign_and_batch_naming_the_default() {
    let env = Env::new();
    two_intermediates(&env);
    env.ok(&["ca", "default", "next", "-q"]);
    env.ok(&["ca", "retire", "issuing", "-q"]);
    for args in [
        vec!["issue", "dev-1", "--ca", "issuing"],
        vec![
            "batch",
            "--count",
            "2",
            "--name-pattern",
            "d-{:02}",
            "--ca",
            "issuing",
        ],
    ] {
        let err = refused(&env, &args);
        assert!(err.contains("CA 'issuing' is retired"), "{err}");
        assert!(err.contains("'next'"), "the hint names the default: {err}");
    }
    let (key, csr) = (env.path("k.pem"), env.path("c.csr"));
    openssl_p256_csr(&key, &csr, "/CN=csr-dev");
    let err = refused(&env, &["sign", s(&csr), "--ca", "issuing"]);
    assert!(err.contains("CA 'issuing' is retired"), "{err}");
    // Without --ca the default issues.
    env.ok(&["issue", "dev-1", "-q"]);
}

#[test]
fn retiring_the_default_ca_is_refused() {
    let env = Env::new();
    two_intermediates(&env);
    env.ok(&["ca", "default", "issuing", "-q"]);
    let err = refused(&env, &["ca", "retire", "issuing"]);
    assert!(err.contains("ca default"), "{err}");
}

#[test]
fn retired_ca_stays_in_bundles_until_its_last_certificate_expires_then_is_dropped_with_a_note() {
    let env = Env::new();
    let t0 = "2026-12-01T00:00:00Z";
    for args in [
        vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
        vec![
            "intermediate",
            "issuing",
            "--cn",
            "Old CA",
            "--no-passphrase",
            "-q",
        ],
        vec![
            "intermediate",
            "next",
            "--cn",
            "New CA",
            "--no-passphrase",
            "-q",
        ],
        vec![
            "issue",
            "dev-1",
            "--ca",
            "issuing",
            "--validity",
            "30d",
            "-q",
        ],
        vec!["ca", "default", "next", "-q"],
        vec!["ca", "retire", "issuing", "-q"],
    ] {
        let r = run_at(&env, t0, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let subjects = |r: &Run| -> Vec<String> {
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        j["certs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["subject"].as_str().unwrap().to_string())
            .collect()
    };
    let before = run_at(&env, "2026-12-20T00:00:00Z", &["--json", "bundle"]);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(
        subjects(&before).iter().any(|s| s.contains("Old CA")),
        "{}",
        before.stdout
    );
    let after = run_at(&env, "2027-01-05T00:00:00Z", &["bundle"]);
    assert_eq!(after.code, 0, "{}", after.stderr);
    let text = std::fs::read_to_string(env.pki.join("bundles/generic/manifest.json")).unwrap();
    assert!(!text.contains("Old CA"), "{text}");
    assert!(text.contains("New CA"), "{text}");
    assert!(
        after.stderr.contains("note: CA 'issuing' is retired") && after.stderr.contains("left out"),
        "{}",
        after.stderr
    );
}

#[test]
fn new_intermediate_has_its_first_crl_so_bundle_with_crl_works_at_once() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Test Root CA", "--no-passphrase", "-q"]);
    env.ok(&["crl", "-q"]);
    let j = env.json(&[
        "intermediate",
        "issuing",
        "--cn",
        "Test Issuing CA",
        "--no-passphrase",
    ]);
    let crl = env.pki.join("cas/issuing/crl.pem");
    assert!(crl.is_file(), "{j}");
    let (ok, out) = openssl(&["crl", "-in", s(&crl), "-noout", "-text"]);
    assert!(
        ok && out.contains("X509v3 CRL Number") && out.contains("No Revoked"),
        "{out}"
    );
    env.ok(&["bundle", "--with-crl", "-q"]);
    // Recorded like `crl --ca`: the next CRL has the next number.
    let next = env.json(&["crl", "--ca", "issuing"]);
    assert_eq!(next["crls"][0]["crl_number"], 2, "{next}");
}

fn pass_file(env: &Env, name: &str, secret: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = env.path(name);
    std::fs::write(&p, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A PKI made by bootstrap whose root and intermediate keys have
/// different passphrases (files `root.pass` and `ca.pass`).
fn bootstrap_two_passphrases(env: &Env) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = pass_file(env, "root.pass", "root passphrase for the safe");
    let inter = pass_file(env, "ca.pass", "issuing passphrase online");
    env.ok(&[
        "bootstrap",
        "--yes",
        "--root-passphrase-file",
        s(&root),
        "--passphrase-file",
        s(&inter),
        "-q",
    ]);
    (root, inter)
}

#[test]
fn bootstrap_root_passphrase_file_encrypts_the_root_key_apart_from_the_intermediate() {
    let env = Env::new();
    let (root, inter) = bootstrap_two_passphrases(&env);
    let root_key = env.pki.join("cas/root/ca.key.pem");
    let inter_key = env.pki.join("cas/issuing/ca.key.pem");
    assert!(
        openssl_opens_key(&root_key, &root).0,
        "root opens with root.pass"
    );
    assert!(
        !openssl_opens_key(&root_key, &inter).0,
        "root must not open with ca.pass"
    );
    assert!(
        openssl_opens_key(&inter_key, &inter).0,
        "issuing opens with ca.pass"
    );
    assert!(
        !openssl_opens_key(&inter_key, &root).0,
        "issuing must not open with root.pass"
    );
    // Issuing needs only the intermediate's passphrase.
    env.ok(&["issue", "dev-2", "--passphrase-file", s(&inter), "-q"]);
}

#[test]
fn crl_over_every_ca_takes_one_passphrase_file_per_ca() {
    let env = Env::new();
    let (root, inter) = bootstrap_two_passphrases(&env);
    let j = env.json(&[
        "crl",
        "--passphrase-file",
        &format!("root={}", s(&root)),
        "--passphrase-file",
        &format!("issuing={}", s(&inter)),
    ]);
    let cas: Vec<&str> = j["crls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["ca"].as_str().unwrap())
        .collect();
    assert_eq!(cas, ["root", "issuing"], "{j}");
    // A plain file is the default for the CAs not named.
    let j = env.json(&[
        "crl",
        "--passphrase-file",
        s(&inter),
        "--passphrase-file",
        &format!("root={}", s(&root)),
    ]);
    assert_eq!(j["crls"].as_array().unwrap().len(), 2, "{j}");
}

#[test]
fn crl_without_a_terminal_names_each_ca_it_cannot_open_and_the_flag() {
    let env = Env::new();
    let (_root, inter) = bootstrap_two_passphrases(&env);
    let before = std::fs::read(env.pki.join("cas/root/crl.pem")).unwrap();
    // The issuing CA's CRL is written; the root's key cannot be opened.
    let r = env.run(&[
        "crl",
        "--passphrase-file",
        &format!("issuing={}", s(&inter)),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("CA 'root'") && r.stderr.contains("--passphrase-file root=FILE"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("CA 'issuing'"), "{}", r.stdout);
    assert_eq!(
        before,
        std::fs::read(env.pki.join("cas/root/crl.pem")).unwrap()
    );
}

#[test]
fn crl_passphrase_file_for_an_unknown_ca_is_refused() {
    let env = Env::new();
    let (root, _) = bootstrap_two_passphrases(&env);
    let err = refused(
        &env,
        &["crl", "--passphrase-file", &format!("nope={}", s(&root))],
    );
    assert!(err.contains("'nope'"), "{err}");
}

#[test]
fn renew_with_ca_moves_a_certificate_to_another_ca_and_its_chain_verifies() {
    let env = Env::new();
    two_intermediates(&env);
    env.ok(&["issue", "dev-1", "--ca", "issuing", "-q"]);
    let j = env.json(&["renew", "dev-1", "--ca", "next"]);
    assert_eq!(j["issuer"], "next", "{j}");
    let d = env.cert_dir("dev-1");
    assert!(issuer_cn(&d.join("cert.pem")).contains("CN=Next Issuing CA"));
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
    let listed = env.json(&["list", "--ca", "next"]);
    assert!(listed.to_string().contains("dev-1"), "{listed}");
}

#[test]
fn renew_from_a_retired_ca_without_ca_is_refused_naming_the_move() {
    let env = Env::new();
    two_intermediates(&env);
    env.ok(&["issue", "dev-1", "--ca", "issuing", "-q"]);
    env.ok(&["ca", "default", "next", "-q"]);
    env.ok(&["ca", "retire", "issuing", "-q"]);
    let err = refused(&env, &["renew", "dev-1"]);
    assert!(
        err.contains("renew NAME --ca next") || err.contains("--ca next"),
        "{err}"
    );
    env.ok(&["renew", "dev-1", "--ca", "next", "-q"]);
}

#[test]
fn bulk_renew_renews_only_what_expires_within_the_window_and_dry_run_changes_nothing() {
    let env = Env::new();
    let t0 = "2026-12-01T00:00:00Z";
    for args in [
        vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
        vec![
            "intermediate",
            "issuing",
            "--cn",
            "Old CA",
            "--no-passphrase",
            "-q",
        ],
        vec![
            "intermediate",
            "next",
            "--cn",
            "New CA",
            "--no-passphrase",
            "-q",
        ],
        vec![
            "issue",
            "soon-1",
            "--ca",
            "issuing",
            "--validity",
            "20d",
            "-q",
        ],
        vec![
            "issue",
            "soon-2",
            "--ca",
            "issuing",
            "--validity",
            "25d",
            "-q",
        ],
        vec![
            "issue",
            "later",
            "--ca",
            "issuing",
            "--validity",
            "90d",
            "-q",
        ],
    ] {
        let r = run_at(&env, t0, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let at = "2026-12-05T00:00:00Z";
    let before = env.tree_hash();
    let dry = run_at(
        &env,
        at,
        &[
            "--json",
            "renew",
            "--expiring-within",
            "30d",
            "--ca",
            "next",
            "--dry-run",
        ],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(env.tree_hash(), before, "--dry-run changed the PKI");
    let j: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let names = |j: &serde_json::Value, key: &str| -> Vec<String> {
        j[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&j, "renewed"), ["soon-1", "soon-2"], "{j}");
    assert_eq!(j["dry_run"], true);
    let r = run_at(
        &env,
        at,
        &[
            "--json",
            "renew",
            "--expiring-within",
            "30d",
            "--ca",
            "next",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(names(&j, "renewed"), ["soon-1", "soon-2"], "{j}");
    for n in ["soon-1", "soon-2"] {
        assert!(
            issuer_cn(&env.cert_dir(n).join("cert.pem")).contains("CN=New CA"),
            "{n}"
        );
    }
    assert!(issuer_cn(&env.cert_dir("later").join("cert.pem")).contains("CN=Old CA"));
    // Renewed once: a second run finds nothing to do.
    let again = run_at(&env, at, &["--json", "renew", "--expiring-within", "30d"]);
    let j: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(names(&j, "renewed"), Vec::<String>::new(), "{j}");
}

#[test]
fn renew_with_a_name_and_expiring_within_is_refused() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev-1", "-q"]);
    let before = env.tree_hash();
    let err = env.fails(2, &["renew", "dev-1", "--expiring-within", "30d"]);
    assert!(
        err.contains("cannot be used with '--expiring-within"),
        "{err}"
    );
    let err = env.fails(2, &["renew"]);
    assert!(err.contains("<NAME>"), "{err}");
    let err = refused(
        &env,
        &["renew", "--expiring-within", "2027-01-01T00:00:00Z"],
    );
    assert!(err.contains("not a positive length"), "{err}");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn renew_warns_that_exports_of_the_old_certificate_are_stale() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev-1", "-q"]);
    let pw = pass_file(&env, "p12.pass", "device export password");
    env.ok(&[
        "export",
        "dev-1",
        "--format",
        "p12",
        "--p12-passphrase-file",
        s(&pw),
        "-q",
    ]);
    env.ok(&["export", "dev-1", "--format", "k8s-secret", "-q"]);
    let r = env.run(&["renew", "dev-1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in ["dev-1.p12", "secret.yaml"] {
        assert!(
            r.stderr.lines().any(|l| l.starts_with("warning: ")
                && l.contains(f)
                && l.contains("old certificate")),
            "no warning for {f}: {}",
            r.stderr
        );
    }
    assert!(r.stderr.contains("certsmith"), "{}", r.stderr);
    let j = env.json(&["renew", "dev-1"]);
    assert_eq!(j["stale_exports"].as_array().unwrap().len(), 2, "{j}");
}

#[test]
fn prune_lists_old_files_past_the_age_and_removes_them_only_with_yes() {
    let env = Env::new();
    for (now, args) in [
        (
            "2026-10-01T00:00:00Z",
            vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
        ),
        (
            "2026-10-01T00:00:00Z",
            vec![
                "intermediate",
                "issuing",
                "--cn",
                "Issuing",
                "--no-passphrase",
                "-q",
            ],
        ),
        ("2026-10-01T00:00:00Z", vec!["issue", "dev-1", "-q"]),
        ("2026-10-01T00:00:00Z", vec!["issue", "dev-2", "-q"]),
        ("2026-10-10T00:00:00Z", vec!["renew", "dev-1", "-q"]),
        ("2026-11-25T00:00:00Z", vec!["renew", "dev-2", "-q"]),
    ] {
        let r = run_at(&env, now, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let old = |n: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(env.cert_dir(n))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|f| f.contains(".old-"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(old("dev-1").len(), 4, "{:?}", old("dev-1"));
    let at = "2026-12-01T00:00:00Z";
    let before = env.tree_hash();
    let dry = run_at(&env, at, &["--json", "prune", "--older-than", "30d"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        env.tree_hash(),
        before,
        "prune without --yes removed something"
    );
    let j: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 4, "{j}");
    assert!(
        files
            .iter()
            .all(|f| f["path"].as_str().unwrap().contains("dev-1")),
        "{j}"
    );
    let r = run_at(&env, at, &["prune", "--older-than", "30d", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(old("dev-1").is_empty(), "{:?}", old("dev-1"));
    assert_eq!(old("dev-2").len(), 4, "renewed 6 days ago: kept");
    for f in ["cert.pem", "key.pem", "chain.pem", "fullchain.pem"] {
        assert!(env.cert_dir("dev-1").join(f).is_file(), "{f}");
    }
}

/// `bundle --target generic --ca …` into `out` (relative to the temp
/// dir); returns the path of its ca-bundle.pem.
fn bundle_of(env: &Env, out: &str, cas: &[&str]) -> std::path::PathBuf {
    let dir = env.path(out);
    let mut args = vec!["bundle", "--target", "generic", "--out", s(&dir), "-q"];
    for c in cas {
        args.extend(["--ca", c]);
    }
    env.ok(&args);
    dir.join("ca-bundle.pem")
}

/// Concatenates PEM files into `out` (relative to the temp dir).
fn cat(env: &Env, out: &str, files: &[&Path]) -> std::path::PathBuf {
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let p = env.path(out);
    std::fs::write(&p, text).unwrap();
    p
}

/// `openssl verify -x509_strict -purpose sslclient` of `cert` with
/// `anchors` trusted and `untrusted` as the intermediates.
fn strict_ok(anchors: &Path, untrusted: &Path, cert: &Path) -> (bool, String) {
    let (ok, out) = openssl(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "sslclient",
        "-CAfile",
        s(anchors),
        "-untrusted",
        s(untrusted),
        s(cert),
    ]);
    (ok, out)
}

/// nginx requiring client certificates trusted by `bundle` (depth 4).
fn mtls(bundle: &Path) -> String {
    format!(
        "ssl_verify_client on; ssl_client_certificate {}; ssl_verify_depth 4;",
        bundle.display()
    )
}

#[test]
fn ca_renew_keeps_the_key_so_old_and_new_leaves_verify_under_old_and_new_ca_certificates() {
    use crate::common::nginx::*;
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "issue",
        "localhost",
        "--profile",
        "server",
        "--san",
        "dns:localhost",
        "-q",
    ]);
    env.ok(&["issue", "dev-old", "-q"]);
    let ca = env.pki.join("cas/issuing/ca.pem");
    let old_ca = env.path("old-issuing.pem");
    std::fs::copy(&ca, &old_ca).unwrap();
    let old_bundle = bundle_of(&env, "b-old", &["issuing"]);
    let before = openssl(&[
        "x509",
        "-in",
        s(&ca),
        "-noout",
        "-pubkey",
        "-serial",
        "-enddate",
    ])
    .1;
    let j = env.json(&["ca", "renew", "issuing", "--validity", "4y"]);
    assert_eq!(j["ca"], "issuing", "{j}");
    let after = openssl(&[
        "x509",
        "-in",
        s(&ca),
        "-noout",
        "-pubkey",
        "-serial",
        "-enddate",
    ])
    .1;
    let key = |t: &str| t.split("serial=").next().unwrap().to_string();
    assert_eq!(key(&before), key(&after), "the same key");
    assert_ne!(before, after, "a new serial and notAfter");
    let serial = j["old_serial"].as_str().unwrap();
    assert!(
        env.pki
            .join(format!("cas/issuing/ca.pem.old-{serial}"))
            .is_file()
    );
    env.ok(&["issue", "dev-new", "-q"]);
    let new_bundle = bundle_of(&env, "b-new", &["issuing"]);
    let text = std::fs::read_to_string(&new_bundle).unwrap();
    assert_eq!(
        text.matches("BEGIN CERTIFICATE").count(),
        2,
        "issuing and its root: {text}"
    );
    let (root, leaf) = (env.root_pem(), |n: &str| env.cert_dir(n).join("cert.pem"));
    for (inter, what) in [(&old_ca, "old CA certificate"), (&ca, "new CA certificate")] {
        for n in ["dev-old", "dev-new"] {
            let (ok, out) = strict_ok(&root, inter, &leaf(n));
            assert!(ok, "{n} under the {what}: {out}");
        }
    }
    // The CA keeps issuing, revoking and publishing under its new certificate.
    env.ok(&["revoke", "dev-old", "-q"]);
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    let (ok, out) = openssl(&[
        "crl",
        "-in",
        s(&env.pki.join("cas/issuing/crl.pem")),
        "-noout",
        "-CAfile",
        s(&cat(&env, "anchors.pem", &[&ca, &root])),
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    if !nginx_available() {
        return;
    }
    // dev-old as the device still sends it: its certificate from before the
    // CA's renewal with the old CA certificate (nginx loads no CRL here).
    let old_id = (
        cat(&env, "old-client.pem", &[&leaf("dev-old"), &old_ca]),
        env.cert_dir("dev-old").join("key.pem"),
    );
    let new_id = (
        env.cert_dir("dev-new").join("fullchain.pem"),
        env.cert_dir("dev-new").join("key.pem"),
    );
    for bundle in [&old_bundle, &new_bundle] {
        let port = free_port();
        let _n = start_nginx_with(&env, port, &mtls(bundle));
        assert_eq!(
            curl(&env, port, Some(old_id.clone())),
            "200",
            "old chain, {}",
            bundle.display()
        );
        assert_eq!(
            curl(&env, port, Some(new_id.clone())),
            "200",
            "new chain, {}",
            bundle.display()
        );
        assert_ne!(curl(&env, port, None), "200", "no client certificate");
    }
}

#[test]
fn ca_renew_of_a_root_keeps_its_key_so_its_intermediates_verify() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev-1", "-q"]);
    let old_root = env.path("old-root.pem");
    std::fs::copy(env.root_pem(), &old_root).unwrap();
    env.ok(&["ca", "renew", "root", "-q"]);
    assert_ne!(
        std::fs::read(&old_root).unwrap(),
        std::fs::read(env.root_pem()).unwrap()
    );
    let chain = env.cert_dir("dev-1").join("chain.pem");
    for anchor in [&old_root, &env.root_pem()] {
        let (ok, out) = strict_ok(anchor, &chain, &env.cert_dir("dev-1").join("cert.pem"));
        assert!(ok, "{}: {out}", anchor.display());
    }
    env.ok(&["issue", "dev-2", "-q"]);
    env.ok(&[
        "intermediate",
        "next",
        "--cn",
        "Next",
        "--no-passphrase",
        "-q",
    ]);
}

#[test]
fn ca_renew_of_a_revoked_or_unknown_ca_is_refused() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "intermediate",
        "gone",
        "--cn",
        "Gone",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "revoke",
        "gone",
        "--reason",
        "key-compromise",
        "--yes",
        "-q",
    ]);
    let err = refused(&env, &["ca", "renew", "gone"]);
    assert!(err.contains("CA 'gone' is revoked"), "{err}");
    refused(&env, &["ca", "renew", "nope"]);
}

/// An old root (pathlen 2, so a cross-signed root fits below it) with
/// `issuing`, a new root `root-2` with `next`, a server and a device under
/// each, and `root-2` cross-signed by `root`.
fn cross_signed(env: &Env) -> std::path::PathBuf {
    env.ok(&[
        "init",
        "--cn",
        "Old Root",
        "--pathlen",
        "2",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "issuing",
        "--cn",
        "Old Issuing",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "init",
        "--name",
        "root-2",
        "--cn",
        "New Root",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "next",
        "--cn",
        "New Issuing",
        "--issuer",
        "root-2",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "issue",
        "localhost",
        "--ca",
        "issuing",
        "--profile",
        "server",
        "--san",
        "dns:localhost",
        "-q",
    ]);
    env.ok(&["issue", "dev-old", "--ca", "issuing", "-q"]);
    env.ok(&["issue", "dev-new", "--ca", "next", "-q"]);
    let j = env.json(&["ca", "cross-sign", "root-2", "--by", "root"]);
    assert_eq!(j["name"], "root-2-by-root", "{j}");
    env.pki.join("cas/root-2/cross-signed-by-root.pem")
}

#[test]
fn cross_signed_new_root_is_accepted_by_old_only_trust_and_both_roots_during_the_move() {
    use crate::common::nginx::*;
    let env = Env::new();
    let cross = cross_signed(&env);
    let (old_root, new_root) = (env.root_pem(), env.pki.join("cas/root-2/ca.pem"));
    let leaf = |n: &str| env.cert_dir(n).join("cert.pem");
    let new_chain = cat(
        &env,
        "new-chain.pem",
        &[&env.cert_dir("dev-new").join("chain.pem"), &cross],
    );
    // New device, old-only trust: through the cross-certificate.
    let (ok, out) = strict_ok(&old_root, &new_chain, &leaf("dev-new"));
    assert!(ok, "{out}");
    // New device, new-only trust; old device, old-only trust.
    assert!(strict_ok(&new_root, &new_chain, &leaf("dev-new")).0);
    let old_chain = env.cert_dir("dev-old").join("chain.pem");
    assert!(strict_ok(&old_root, &old_chain, &leaf("dev-old")).0);
    // An old device is not accepted by new-only trust: renew it before
    // the trust store drops the old root.
    assert!(!strict_ok(&new_root, &old_chain, &leaf("dev-old")).0);
    // doctor knows the cross-certificate's file.
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Recorded under the old root: revoking it puts it on the old root's CRL.
    let listed = env.json(&["list", "--all", "--ca", "root"]);
    assert!(listed.to_string().contains("root-2-by-root"), "{listed}");
    if !nginx_available() {
        return;
    }
    let old_only = bundle_of(&env, "b-old", &["issuing"]);
    let both = bundle_of(&env, "b-both", &["issuing", "next"]);
    let new_only = bundle_of(&env, "b-new", &["next"]);
    let new_id = (
        cat(&env, "new-client.pem", &[&leaf("dev-new"), &new_chain]),
        env.cert_dir("dev-new").join("key.pem"),
    );
    let old_id = (
        env.cert_dir("dev-old").join("fullchain.pem"),
        env.cert_dir("dev-old").join("key.pem"),
    );
    for (bundle, old_in, new_in) in [
        (&old_only, "200", "200"),
        (&both, "200", "200"),
        (&new_only, "400", "200"),
    ] {
        let port = free_port();
        let _n = start_nginx_with(&env, port, &mtls(bundle));
        assert_eq!(
            curl(&env, port, Some(old_id.clone())),
            old_in,
            "old device, {}",
            bundle.display()
        );
        assert_eq!(
            curl(&env, port, Some(new_id.clone())),
            new_in,
            "new device, {}",
            bundle.display()
        );
    }
}

#[test]
fn cross_sign_under_an_old_root_whose_pathlen_has_no_room_is_refused_naming_the_fix() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Old Root", "--no-passphrase", "-q"]);
    env.ok(&[
        "init",
        "--name",
        "root-2",
        "--cn",
        "New Root",
        "--no-passphrase",
        "-q",
    ]);
    let err = refused(&env, &["ca", "cross-sign", "root-2", "--by", "root"]);
    assert!(
        err.contains("cannot cross-sign 'root-2' by 'root'") && err.contains("--pathlen 2"),
        "{err}"
    );
    let err = refused(&env, &["ca", "cross-sign", "root", "--by", "root"]);
    assert!(err.contains("itself"), "{err}");
}

#[test]
fn bulk_renew_reports_a_certificate_it_cannot_renew_renews_the_others_and_exits_1() {
    let env = Env::new();
    let t0 = "2026-12-01T00:00:00Z";
    let (key, csr) = (env.path("k.pem"), env.path("c.csr"));
    openssl_p256_csr(&key, &csr, "/CN=from-csr");
    for args in [
        vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
        vec![
            "intermediate",
            "issuing",
            "--cn",
            "Issuing",
            "--no-passphrase",
            "-q",
        ],
        vec!["issue", "dev-1", "--validity", "20d", "-q"],
        vec![
            "sign",
            s(&csr),
            "--name",
            "from-csr",
            "--validity",
            "20d",
            "-q",
        ],
    ] {
        let r = run_at(&env, t0, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let r = run_at(
        &env,
        "2026-12-05T00:00:00Z",
        &["--json", "renew", "--expiring-within", "30d"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["renewed"][0]["name"], "dev-1", "{j}");
    assert_eq!(j["failed"][0]["name"], "from-csr", "{j}");
    assert!(
        r.stderr.contains("'from-csr'") && r.stderr.contains("--reuse-key"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("1 of 2 renewals failed (from-csr)"),
        "{}",
        r.stderr
    );
    // --reuse-key renews it.
    let r = run_at(
        &env,
        "2026-12-05T00:00:00Z",
        &["renew", "--expiring-within", "30d", "--reuse-key", "-q"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn ca_default_without_a_name_shows_the_default() {
    let env = Env::new();
    two_intermediates(&env);
    assert_eq!(
        env.json(&["ca", "default"])["default_ca"],
        serde_json::Value::Null
    );
    env.ok(&["ca", "default", "next", "-q"]);
    let j = env.json(&["ca", "default"]);
    assert_eq!(
        (j["default_ca"].as_str(), j["changed"].as_bool()),
        (Some("next"), Some(false)),
        "{j}"
    );
}

#[test]
fn renew_name_dry_run_reports_what_would_be_renewed_and_changes_nothing_in_every_form() {
    let env = Env::new();
    two_intermediates(&env);
    env.ok(&["issue", "dev-1", "--ca", "issuing", "-q"]);
    for args in [
        vec!["renew", "dev-1", "--dry-run"],
        vec!["renew", "--dry-run", "dev-1"],
        vec!["renew", "dev-1", "--dry-run", "--revoke-old"],
        vec!["renew", "dev-1", "--dry-run", "--ca", "next", "--reuse-key"],
    ] {
        let before = env.tree_hash();
        let out = env.ok(&args);
        assert_eq!(env.tree_hash(), before, "{args:?} changed the PKI");
        assert!(out.contains("Would renew 'dev-1'"), "{args:?}: {out}");
        assert!(out.contains("Nothing was changed (--dry-run)"), "{out}");
    }
    let j = env.json(&["renew", "dev-1", "--dry-run", "--ca", "next"]);
    assert_eq!(j["dry_run"], true, "{j}");
    assert_eq!(j["renewed"][0]["new_issuer"], "next", "{j}");
    let revoked = env.json(&["list", "--revoked"]);
    assert!(!revoked.to_string().contains("dev-1"), "{revoked}");
}

#[test]
fn dry_run_reports_the_refusals_the_real_run_would_hit() {
    let env = Env::new();
    let t0 = "2026-12-01T00:00:00Z";
    let at = |args: &[&str]| run_at(&env, t0, args);
    // Refused with exit 2, the PKI unchanged; returns stderr.
    let refused_at = |args: &[&str]| {
        let before = env.tree_hash();
        let r = at(args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert_eq!(env.tree_hash(), before, "{args:?} changed the PKI");
        r.stderr
    };
    for args in [
        vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
        vec![
            "intermediate",
            "issuing",
            "--cn",
            "Test Issuing CA",
            "--no-passphrase",
            "-q",
        ],
        vec![
            "intermediate",
            "nc",
            "--cn",
            "NC",
            "--permit-dns",
            "only.example",
            "--validity",
            "2y",
            "--no-passphrase",
            "-q",
        ],
        vec![
            "issue",
            "web",
            "--ca",
            "issuing",
            "--san",
            "dns:www.other.example",
            "-q",
        ],
        vec![
            "issue",
            "ok",
            "--ca",
            "issuing",
            "--san",
            "dns:a.only.example",
            "-q",
        ],
    ] {
        let r = at(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    // One certificate: the same refusal as the real run.
    let real = refused_at(&["renew", "web", "--ca", "nc"]);
    let dry = refused_at(&["renew", "web", "--ca", "nc", "--dry-run"]);
    assert_eq!(dry, real);
    assert!(dry.contains("name constraints"), "{dry}");
    // Validity against the new issuer.
    let real = refused_at(&["renew", "ok", "--ca", "nc", "--validity", "5y"]);
    let dry = refused_at(&["renew", "ok", "--ca", "nc", "--validity", "5y", "--dry-run"]);
    assert_eq!(dry, real);
    assert!(dry.contains("past the notAfter of issuer 'nc'"), "{dry}");
    // Bulk: the failure is reported, the others would be renewed, exit 1 like the real run.
    let before = env.tree_hash();
    let r = at(&[
        "renew",
        "--expiring-within",
        "400d",
        "--ca",
        "nc",
        "--dry-run",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.tree_hash(), before);
    assert!(r.stdout.contains("Would renew 'ok'"), "{}", r.stdout);
    assert!(!r.stdout.contains("Would renew 'web'"), "{}", r.stdout);
    assert!(
        r.stderr.contains("'web'") && r.stderr.contains("name constraints"),
        "{}",
        r.stderr
    );
}

/// A 10-year root and a 5-year intermediate `issuing`, made at `t0`.
fn root_and_issuing_at(env: &Env, t0: &str) {
    for args in [
        vec![
            "init",
            "--cn",
            "Test Root CA",
            "--validity",
            "10y",
            "--no-passphrase",
            "-q",
        ],
        vec![
            "intermediate",
            "issuing",
            "--cn",
            "Issuing",
            "--validity",
            "5y",
            "--no-passphrase",
            "-q",
        ],
    ] {
        let r = run_at(env, t0, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
}

#[test]
fn ca_renew_ending_before_a_live_certificate_it_signed_is_refused_naming_it() {
    let env = Env::new();
    let t0 = "2026-12-01T00:00:00Z";
    root_and_issuing_at(&env, t0);
    let before = env.tree_hash();
    let r = run_at(&env, t0, &["ca", "renew", "root", "--validity", "1y"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        env.tree_hash(),
        before,
        "a refused ca renew changed the PKI"
    );
    assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
    assert!(r.stderr.contains("'issuing'"), "{}", r.stderr);
    assert!(r.stderr.contains("2031-"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: ") && r.stderr.contains("--validity"),
        "{}",
        r.stderr
    );
}

#[test]
fn ca_renew_names_the_earlier_of_old_and_new_not_after_as_the_deadline() {
    let env = Env::new();
    let t0 = "2026-12-01T00:00:00Z";
    root_and_issuing_at(&env, t0);
    for args in [
        vec!["issue", "dev-1", "--validity", "30d", "-q"],
        vec![
            "ca",
            "renew",
            "issuing",
            "--validity",
            "2027-06-01T00:00:00Z",
        ],
    ] {
        let r = run_at(&env, t0, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        if args[1] == "renew" {
            assert!(
                r.stdout.contains("before 2027-06-01T00:00:00Z"),
                "{}",
                r.stdout
            );
        }
    }
}

#[test]
fn crl_wrong_passphrase_for_one_ca_hints_at_the_per_ca_flag_for_that_ca() {
    let env = Env::new();
    let (root, inter) = bootstrap_two_passphrases(&env);
    // The root's file given for `issuing` too: the issuing key does not open.
    let r = env.run(&[
        "crl",
        "--passphrase-file",
        &format!("root={}", s(&root)),
        "--passphrase-file",
        &format!("issuing={}", s(&root)),
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("hint: ") && r.stderr.contains("--passphrase-file issuing=FILE"),
        "{}",
        r.stderr
    );
    let _ = inter;
}

#[test]
fn retiring_a_ca_that_signed_live_intermediates_speaks_of_its_cas_not_of_leaf_renewal() {
    let env = Env::new();
    two_intermediates(&env);
    env.ok(&["ca", "default", "next", "-q"]);
    let out = env.ok(&["ca", "retire", "root"]);
    assert!(!out.contains("renew --expiring-within"), "{out}");
    assert!(out.contains("'issuing'") && out.contains("'next'"), "{out}");
    assert!(
        out.contains("certsmith ca cross-sign") || out.contains("--issuer"),
        "{out}"
    );
    let j = env.json(&["ca", "retire", "root"]);
    assert_eq!(j["live_cas"], serde_json::json!(["issuing", "next"]), "{j}");
    // Re-issuing an intermediate under the retired root: the hint speaks of CAs.
    let err = refused(&env, &["ca", "renew", "next", "--validity", "1y"]);
    assert!(!err.contains("renew NAME"), "{err}");
    assert!(err.contains("--issuer"), "{err}");
}

#[test]
fn ca_default_refuses_a_ca_exported_for_a_mesh_unless_yes_and_never_moves_certificates_onto_it() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "intermediate",
        "mesh-ca",
        "--cn",
        "Mesh CA",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["ca", "default", "issuing", "-q"]);
    env.ok(&["crl", "-q"]);
    env.ok(&["bundle", "--target", "istio", "--ca", "mesh-ca", "-q"]);
    let err = refused(&env, &["ca", "default", "mesh-ca"]);
    assert!(err.contains("istio") && err.contains("--yes"), "{err}");
    let out = env.ok(&["ca", "default", "mesh-ca", "--yes"]);
    assert!(!out.contains("renew --expiring-within"), "{out}");
    assert!(!out.contains("ca retire"), "{out}");
}

#[test]
fn renewal_says_exports_written_with_out_are_not_tracked() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev-1", "-q"]);
    let out = env.ok(&["renew", "dev-1"]);
    assert!(
        out.contains("--out") && out.contains("not tracked"),
        "{out}"
    );
    let out = env.ok(&["renew", "--expiring-within", "3000d"]);
    assert!(
        out.contains("--out") && out.contains("not tracked"),
        "{out}"
    );
}

#[test]
fn prune_removes_only_backups_of_superseded_records_and_lists_other_old_files_as_unknown() {
    let env = Env::new();
    for (now, args) in [
        (
            "2026-10-01T00:00:00Z",
            vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
        ),
        (
            "2026-10-01T00:00:00Z",
            vec![
                "intermediate",
                "issuing",
                "--cn",
                "Issuing",
                "--no-passphrase",
                "-q",
            ],
        ),
        ("2026-10-01T00:00:00Z", vec!["issue", "dev-1", "-q"]),
        ("2026-10-10T00:00:00Z", vec!["renew", "dev-1", "-q"]),
    ] {
        let r = run_at(&env, now, &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let foreign = [
        env.cert_dir("dev-1").join("notes.old-backup"),
        env.cert_dir("dev-1").join("cert.pem.old-deadbeef"),
        env.pki.join("cas/issuing/ca.key.pem.old-deadbeef"),
    ];
    for f in &foreign {
        std::fs::write(f, "mine\n").unwrap();
        let ok = std::process::Command::new("touch")
            .args(["-d", "2020-01-01", s(f)])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let at = "2027-01-10T00:00:00Z";
    let r = run_at(
        &env,
        at,
        &["--json", "prune", "--older-than", "30d", "--yes"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let files = j["files"].as_array().unwrap();
    assert_eq!(files.len(), 4, "{j}");
    assert!(
        files
            .iter()
            .all(|f| f["serial"].as_str().unwrap().len() > 16),
        "{j}"
    );
    let unknown = j["unknown"].to_string();
    for f in &foreign {
        assert!(f.is_file(), "{} was removed", f.display());
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(unknown.contains(&name), "{name} not listed: {j}");
    }
    let human = run_at(&env, at, &["prune", "--older-than", "30d"]);
    assert!(
        human.stdout.contains("notes.old-backup"),
        "{}",
        human.stdout
    );
    // The parse hint offers only lengths.
    let err = refused(&env, &["prune", "--older-than", "soon"]);
    assert!(!err.contains("end time"), "{err}");
}

#[test]
fn second_cross_sign_re_issues_the_cross_certificate_keeping_the_old_one_aside() {
    let env = Env::new();
    let cross = cross_signed(&env);
    let (ok, out) = openssl(&["x509", "-in", s(&cross), "-noout", "-serial"]);
    assert!(ok, "{out}");
    let old_serial = out.trim().trim_start_matches("serial=").to_lowercase();
    let j = env.json(&["ca", "cross-sign", "root-2", "--by", "root"]);
    assert_eq!(j["name"], "root-2-by-root", "{j}");
    assert_ne!(j["serial"], old_serial.as_str(), "{j}");
    assert_eq!(j["old_serial"], old_serial.as_str(), "{j}");
    let aside = cross.with_file_name(format!("cross-signed-by-root.pem.old-{old_serial}"));
    assert!(aside.is_file(), "{} missing", aside.display());
    // `ca renew` of it names what to do instead.
    let err = refused(&env, &["ca", "renew", "root-2-by-root"]);
    assert!(!err.contains("CA:FALSE"), "{err}");
    assert!(err.contains("ca cross-sign root-2 --by root"), "{err}");
}

#[test]
fn a_leaf_cannot_take_the_name_a_cross_certificate_would_need() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--cn",
        "Old Root",
        "--pathlen",
        "2",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "issuing",
        "--cn",
        "Old Issuing",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "init",
        "--name",
        "root-2",
        "--cn",
        "New Root",
        "--no-passphrase",
        "-q",
    ]);
    let err = refused(&env, &["issue", "root-2-by-root", "--ca", "issuing"]);
    assert!(err.contains("cross-certificate"), "{err}");
    env.ok(&["ca", "cross-sign", "root-2", "--by", "root", "-q"]);
}
