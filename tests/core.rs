//! Core CA: every profile × key type verified by OpenSSL, CA key types,
//! bootstrap, --force backups, permissions, and the no-prompt rule.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

const KEYS: [&str; 6] = [
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
];

/// (profile, purpose that must pass, purpose that must fail)
const PROFILES: [(&str, &[&str], &str); 4] = [
    ("device", &["sslclient"], "sslserver"),
    ("client", &["sslclient"], "sslserver"),
    ("server", &["sslserver"], "sslclient"),
    ("peer", &["sslserver", "sslclient"], "smimesign"),
];

#[test]
fn every_profile_and_key_type_verifies_with_openssl_for_its_purpose_only() {
    let env = Env::new();
    env.hierarchy();
    for key in KEYS {
        for (profile, good, bad) in PROFILES {
            let name = format!("{profile}-{key}");
            env.ok(&[
                "issue",
                &name,
                "--profile",
                profile,
                "--key",
                key,
                "--san",
                "dns:svc.test.internal",
                "-q",
            ]);
            let d = env.cert_dir(&name);
            for purpose in good {
                let (ok, out) = openssl_verify(
                    &env.root_pem(),
                    Some(&d.join("chain.pem")),
                    &d.join("cert.pem"),
                    purpose,
                );
                assert!(ok, "{name} as {purpose}: {out}");
            }
            let (ok, out) = openssl_verify(
                &env.root_pem(),
                Some(&d.join("chain.pem")),
                &d.join("cert.pem"),
                bad,
            );
            assert!(!ok, "{name} must not verify as {bad}: {out}");
            assert!(
                out.contains("unsuitable certificate purpose"),
                "{name}: {out}"
            );
            let (ok, out) =
                openssl(&["pkey", "-in", d.join("key.pem").to_str().unwrap(), "-noout"]);
            assert!(ok, "openssl cannot read the {key} key of {name}: {out}");
        }
    }
}

#[test]
fn every_ca_key_type_signs_a_chain_openssl_accepts() {
    for key in KEYS {
        let env = Env::new();
        env.ok(&[
            "init",
            "--cn",
            "Root",
            "--key",
            key,
            "--no-passphrase",
            "-q",
        ]);
        env.ok(&[
            "intermediate",
            "sub",
            "--cn",
            "Sub",
            "--key",
            key,
            "--no-passphrase",
            "-q",
        ]);
        env.ok(&["issue", "dev", "--ca", "sub", "-q"]);
        let d = env.cert_dir("dev");
        let (ok, out) = openssl_verify(
            &env.root_pem(),
            Some(&d.join("chain.pem")),
            &d.join("cert.pem"),
            "sslclient",
        );
        assert!(ok, "{key} CAs: {out}");
        let (ok, out) = openssl(&[
            "pkey",
            "-in",
            env.pki.join("cas/root/ca.key.pem").to_str().unwrap(),
            "-noout",
        ]);
        assert!(ok, "openssl cannot read the {key} CA key: {out}");
        let text = openssl(&[
            "x509",
            "-in",
            env.pki.join("cas/sub/ca.pem").to_str().unwrap(),
            "-noout",
            "-text",
        ])
        .1;
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    }
}

#[test]
fn leaf_directly_under_root_has_empty_chain_and_verifies() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    env.ok(&["issue", "dev", "-q"]);
    let d = env.cert_dir("dev");
    assert_eq!(std::fs::read(d.join("chain.pem")).unwrap().len(), 0);
    assert_eq!(
        std::fs::read(d.join("fullchain.pem")).unwrap(),
        std::fs::read(d.join("cert.pem")).unwrap()
    );
    let (ok, out) = openssl_verify(&env.root_pem(), None, &d.join("cert.pem"), "sslclient");
    assert!(ok, "{out}");
}

#[test]
fn chain_and_fullchain_hold_the_intermediate_but_not_the_root() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let d = env.cert_dir("dev");
    let chain = std::fs::read_to_string(d.join("chain.pem")).unwrap();
    let inter = std::fs::read_to_string(env.pki.join("cas/issuing/ca.pem")).unwrap();
    assert_eq!(chain, inter);
    let full = std::fs::read_to_string(d.join("fullchain.pem")).unwrap();
    let cert = std::fs::read_to_string(d.join("cert.pem")).unwrap();
    assert_eq!(full, format!("{cert}{inter}"));
}

#[test]
fn issued_certificate_has_profile_extensions_and_a_random_positive_serial() {
    let env = Env::new();
    env.hierarchy();
    let a = env.json(&[
        "issue",
        "api",
        "--profile",
        "server",
        "--san",
        "dns:api.test.internal",
        "--san",
        "10.0.0.7",
        "--key",
        "rsa-2048",
    ]);
    let b = env.json(&[
        "issue",
        "api2",
        "--profile",
        "server",
        "--san",
        "dns:api.test.internal",
    ]);
    let sa = a["serial"].as_str().unwrap();
    assert_ne!(sa, b["serial"].as_str().unwrap());
    assert!(sa.len() >= 38 && sa.len() <= 40, "{sa}");
    let text = openssl(&[
        "x509",
        "-in",
        env.cert_dir("api").join("cert.pem").to_str().unwrap(),
        "-noout",
        "-text",
    ])
    .1;
    assert!(
        text.contains("DNS:api.test.internal, IP Address:10.0.0.7"),
        "{text}"
    );
    assert!(
        text.contains("Digital Signature, Key Encipherment"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(
        text.contains("X509v3 Basic Constraints: critical\n                CA:FALSE"),
        "{text}"
    );
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
}

#[test]
fn country_is_a_printable_string_and_subject_order_is_kept() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--subject",
        "CN=Acme Root,O=Acme AG,C=CH",
        "--no-passphrase",
        "-q",
    ]);
    let (_, out) = openssl(&["asn1parse", "-in", env.root_pem().to_str().unwrap()]);
    let country = out
        .lines()
        .skip_while(|l| !l.ends_with(":countryName"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        country.contains("PRINTABLESTRING") && country.ends_with(":CH"),
        "{out}"
    );
    let (_, subj) = openssl(&[
        "x509",
        "-in",
        env.root_pem().to_str().unwrap(),
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
    ]);
    assert_eq!(subj.trim(), "subject=C=CH,O=Acme AG,CN=Acme Root");
}

#[test]
fn bootstrap_without_a_terminal_builds_a_verifiable_hierarchy() {
    let env = Env::new();
    let out = env.json(&["bootstrap", "--org", "Acme", "--no-passphrase"]);
    assert_eq!(out["device"]["name"], "device-001");
    let d = env.cert_dir("device-001");
    let (ok, text) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{text}");
    let status = env.json(&["status"]);
    assert_eq!(status["cas"][0]["name"], "root");
    assert_eq!(status["cas"][0]["children"][0]["name"], "issuing");
    assert_eq!(status["cas"][0]["children"][0]["issued"], 1);
}

#[test]
fn force_reissue_keeps_old_files_with_their_serial() {
    let env = Env::new();
    env.hierarchy();
    let first = env.json(&["issue", "dev"]);
    let old_serial = first["serial"].as_str().unwrap().to_string();
    let old_cert = std::fs::read(env.cert_dir("dev").join("cert.pem")).unwrap();
    let second = env.json(&["issue", "dev", "--force"]);
    assert_ne!(second["serial"], first["serial"]);
    let kept = env
        .cert_dir("dev")
        .join(format!("cert.pem.old-{old_serial}"));
    assert_eq!(std::fs::read(kept).unwrap(), old_cert);
    assert!(
        env.cert_dir("dev")
            .join(format!("key.pem.old-{old_serial}"))
            .exists()
    );
    let all = env.json(&["list", "--all"]);
    let states: Vec<&str> = all["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "dev")
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["valid", "superseded"]);
}

#[test]
fn keys_are_0600_and_directories_0700_even_with_umask_000() {
    let env = Env::new();
    let bin = env!("CARGO_BIN_EXE_certsmith");
    let pki = env.pki.to_str().unwrap();
    let script = format!(
        "umask 000 && {bin} --pki {pki} init --cn R --no-passphrase -q && {bin} --pki {pki} intermediate i --cn I --no-passphrase -q && {bin} --pki {pki} issue d -q"
    );
    let st = clean_env(&mut std::process::Command::new("sh"))
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success());
    let mode = |p: &str| {
        std::fs::metadata(env.pki.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for dir in ["", "cas", "cas/root", "cas/i", "certs", "certs/d"] {
        assert_eq!(mode(dir), 0o700, "dir {dir}");
    }
    for key in [
        "cas/root/ca.key.pem",
        "cas/i/ca.key.pem",
        "certs/d/key.pem",
        "ledger.db",
    ] {
        assert_eq!(mode(key), 0o600, "{key}");
    }
    assert_eq!(mode("certs/d/cert.pem"), 0o644);
}

#[test]
fn init_without_terminal_or_passphrase_fails_naming_the_flags_and_writes_nothing() {
    let env = Env::new();
    let err = env.fails(2, &["init", "--cn", "Root"]);
    assert!(err.starts_with("certsmith: the key of root CA 'root' needs a passphrase and there is no terminal to ask for one\n"), "{err}");
    assert!(
        err.contains(
            "hint: pass --passphrase-file FILE, set $CERTSMITH_PASSPHRASE, or pass --no-passphrase"
        ),
        "{err}"
    );
    assert!(!env.pki.exists());
}

#[test]
fn encrypted_ca_key_is_used_with_the_passphrase_file_and_refused_with_a_wrong_one() {
    let env = Env::new();
    std::fs::write(env.path("pass"), "correct horse\n").unwrap();
    std::fs::write(env.path("wrong"), "wrong horse\n").unwrap();
    let pass = env.path("pass");
    let pass = pass.to_str().unwrap();
    env.ok(&["init", "--cn", "Root", "--passphrase-file", pass, "-q"]);
    let key = std::fs::read_to_string(env.pki.join("cas/root/ca.key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let (ok, out) = openssl(&[
        "pkey",
        "-in",
        env.pki.join("cas/root/ca.key.pem").to_str().unwrap(),
        "-passin",
        "pass:correct horse",
        "-noout",
    ]);
    assert!(ok, "{out}");
    let before = env.tree_hash();
    let err = env.fails(
        2,
        &[
            "issue",
            "dev",
            "--passphrase-file",
            env.path("wrong").to_str().unwrap(),
        ],
    );
    assert!(
        err.starts_with("certsmith: wrong passphrase for '"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
    let err = env.fails(2, &["issue", "dev"]);
    assert!(
        err.contains("is encrypted and there is no terminal to ask for its passphrase"),
        "{err}"
    );
    env.ok(&["issue", "dev", "--passphrase-file", pass, "-q"]);
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.ok(&["completions", shell]);
        assert!(
            out.contains("certsmith") && out.contains("intermediate"),
            "{shell}"
        );
    }
}

#[test]
fn default_pki_directory_is_pki_in_the_current_directory() {
    let env = Env::new();
    let run = |args: &[&str]| {
        let out = certsmith()
            .args(args)
            .current_dir(env.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    run(&["issue", "dev", "-q"]);
    assert!(env.path("pki/certs/dev/cert.pem").exists());
    assert_eq!(mode(&env.path("pki")), 0o700);
    assert_eq!(mode(&env.path("pki/certs")), 0o700);
}

/// `certsmith::ops::issue::issue`, the function the binary runs, called as a
/// library: what it reports is what it wrote (files, ledger row), and a name
/// already taken is refused without changing a byte of the PKI.
#[test]
fn library_issue_writes_what_it_reports_and_refuses_a_taken_name_unchanged() {
    use certsmith::ops::issue::{IssueRequest, issue};
    let env = Env::new();
    env.hierarchy();
    let pki = certsmith::pki::Pki::at(&env.pki);
    let mut req = IssueRequest::new("lib-dev");
    req.leaf.sans = vec![certsmith::names::San::parse("dns:lib-dev.example").unwrap()];
    let issued = issue(&pki, req.clone()).unwrap();
    assert_eq!(
        issued.issuer, "issuing",
        "the only intermediate is the default CA"
    );
    let dir = env.cert_dir("lib-dev");
    let mut files: Vec<_> = issued
        .files
        .iter()
        .map(|f| f.strip_prefix(&dir).unwrap().to_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["cert.pem", "chain.pem", "fullchain.pem", "key.pem"].map(std::path::PathBuf::from)
    );
    let text = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    let cert = certsmith::certinfo::parse_pem_certs(&text, "cert.pem")
        .unwrap()
        .remove(0);
    assert_eq!(cert.fingerprint, issued.fingerprint);
    let row = pki
        .open_ledger()
        .unwrap()
        .cert_by_name("lib-dev")
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.state.as_str(), row.serial.as_str()),
        ("active", issued.serial.as_str())
    );
    assert_eq!(row.sans, ["dns:lib-dev.example"]);

    let before = env.tree_hash();
    let err = issue(&pki, req).unwrap_err();
    assert!(err.to_string().contains("'lib-dev' is already"), "{err}");
    assert_eq!(env.tree_hash(), before, "a refusal changed the PKI");
}

#[test]
fn library_issue_with_a_san_listed_twice_certifies_and_records_it_once() {
    use certsmith::ops::issue::{IssueRequest, issue};
    let env = Env::new();
    env.hierarchy();
    let pki = certsmith::pki::Pki::at(&env.pki);
    let mut req = IssueRequest::new("twice");
    let san = certsmith::names::San::parse("dns:twice.example").unwrap();
    req.leaf.sans = vec![san.clone(), san];
    issue(&pki, req).unwrap();
    let row = pki
        .open_ledger()
        .unwrap()
        .cert_by_name("twice")
        .unwrap()
        .unwrap();
    assert_eq!(row.sans, ["dns:twice.example"]);
    let (_, text) = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        &env.cert_dir("twice").join("cert.pem").display().to_string(),
    ]);
    assert_eq!(text.matches("twice.example").count(), 1, "{text}");
}
