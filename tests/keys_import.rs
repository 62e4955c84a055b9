//! Adopting CAs made with OpenSSL: they keep issuing certificates OpenSSL
//! accepts; bad imports are refused and leave nothing behind.

use std::path::{Path, PathBuf};

use crate::common::*;

/// An OpenSSL root (P-384) and an intermediate under it, like an
/// organisation's hand-made CA. Returns (root cert, root key, inter cert, inter key).
fn openssl_pki(env: &Env, root_subj: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let p = |n: &str| env.path(n);
    let ext = p("ext.cnf");
    std::fs::write(
        &ext,
        "[v3_ca]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let (ok, out) = openssl(args);
        assert!(ok, "openssl {args:?}: {out}");
    };
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        s(&p("root.key")),
    ]);
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&p("root.key")),
        "-out",
        s(&p("root.crt")),
        "-days",
        "3650",
        "-subj",
        root_subj,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        s(&p("inter.key")),
    ]);
    run(&[
        "req",
        "-new",
        "-key",
        s(&p("inter.key")),
        "-out",
        s(&p("inter.csr")),
        "-subj",
        "/C=CH/O=Acme AG/OU=PKI/CN=Acme Issuing",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        s(&p("inter.csr")),
        "-CA",
        s(&p("root.crt")),
        "-CAkey",
        s(&p("root.key")),
        "-CAcreateserial",
        "-out",
        s(&p("inter.crt")),
        "-days",
        "1825",
        "-extfile",
        s(&ext),
        "-extensions",
        "v3_ca",
    ]);
    (p("root.crt"), p("root.key"), p("inter.crt"), p("inter.key"))
}

fn der(pem_file: &Path) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem_file)
        .output()
        .unwrap();
    out.stdout
}

#[test]
fn imported_openssl_ca_with_multi_attribute_subject_issues_certs_openssl_verify_accepts() {
    let env = Env::new();
    let (rc, rk, ic, ik) = openssl_pki(&env, "/C=CH/O=Acme AG/OU=PKI/CN=Acme Root");
    env.ok(&[
        "init",
        "--import-cert",
        s(&rc),
        "--import-key",
        s(&rk),
        "--no-passphrase",
        "-q",
    ]);
    let j = env.json(&[
        "intermediate",
        "issuing",
        "--import-cert",
        s(&ic),
        "--import-key",
        s(&ik),
        "--no-passphrase",
    ]);
    assert_eq!(j["issuer"], "root", "{j}");
    assert_eq!(
        der(&rc),
        der(&env.root_pem()),
        "the root must be stored byte for byte"
    );
    assert_eq!(der(&ic), der(&env.pki.join("cas/issuing/ca.pem")));
    env.ok(&["issue", "dev1", "--ca", "issuing", "-q"]);
    env.ok(&[
        "issue",
        "api",
        "--ca",
        "issuing",
        "--profile",
        "server",
        "--san",
        "dns:api.acme.internal",
        "-q",
    ]);
    let d = env.cert_dir("dev1");
    let (ok, out) = openssl_verify(
        &rc,
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
    let d = env.cert_dir("api");
    let (ok, out) = openssl_verify(&rc, Some(&ic), &d.join("cert.pem"), "sslserver");
    assert!(ok, "{out}");
    // The issuer name of the leaf is the CA's subject, byte for byte.
    let (_, leaf_issuer) = openssl(&[
        "x509",
        "-noout",
        "-issuer",
        "-nameopt",
        "RFC2253",
        "-in",
        s(&d.join("cert.pem")),
    ]);
    assert!(
        leaf_issuer.contains("CN=Acme Issuing,OU=PKI,O=Acme AG,C=CH"),
        "{leaf_issuer}"
    );
}

#[test]
fn printable_string_subject_round_trips_as_issuer_name() {
    let env = Env::new();
    let cnf = env.path("printable.cnf");
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name=dn\nstring_mask=default\n[dn]\n",
    )
    .unwrap();
    let key = env.path("k.pem");
    let cert = env.path("c.pem");
    let (ok, out) = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        s(&key),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "req",
        "-config",
        s(&cnf),
        "-x509",
        "-new",
        "-key",
        s(&key),
        "-out",
        s(&cert),
        "-days",
        "365",
        "-subj",
        "/C=CH/O=Acme AG/OU=PKI/CN=Acme Root",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    assert!(ok, "{out}");
    let (_, asn1) = openssl(&["asn1parse", "-in", s(&cert)]);
    assert!(
        asn1.contains("PRINTABLESTRING   :Acme AG"),
        "fixture should use PrintableString: {asn1}"
    );
    env.ok(&[
        "init",
        "--import-cert",
        s(&cert),
        "--import-key",
        s(&key),
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["issue", "dev1", "--validity", "90d", "-q"]);
    let (ok, out) = openssl_verify(
        &cert,
        None,
        &env.cert_dir("dev1").join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
}

#[test]
fn intermediate_whose_root_is_elsewhere_is_imported_with_no_issuer() {
    let env = Env::new();
    let (rc, _, ic, ik) = openssl_pki(&env, "/C=CH/O=Acme AG/OU=PKI/CN=Acme Root");
    let j = env.json(&[
        "intermediate",
        "issuing",
        "--import-cert",
        s(&ic),
        "--import-key",
        s(&ik),
        "--no-passphrase",
    ]);
    assert_eq!(j["issuer"], serde_json::Value::Null, "{j}");
    env.ok(&["issue", "dev1", "-q"]);
    let (ok, out) = openssl_verify(
        &rc,
        Some(&ic),
        &env.cert_dir("dev1").join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
}

#[test]
fn imports_that_cannot_work_are_refused_and_leave_no_pki() {
    let env = Env::new();
    let (rc, rk, ic, ik) = openssl_pki(&env, "/C=CH/O=Acme AG/OU=PKI/CN=Acme Root");
    // A leaf (CA:FALSE) made with openssl.
    let leaf = env.path("leaf.crt");
    let (ok, out) = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&ik),
        "-out",
        s(&leaf),
        "-days",
        "30",
        "-subj",
        "/CN=leaf",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
    ]);
    assert!(ok, "{out}");
    // A CA without keyUsage, and one with a repeated OU.
    let no_ku = env.path("noku.crt");
    let (ok, out) = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&ik),
        "-out",
        s(&no_ku),
        "-days",
        "30",
        "-subj",
        "/CN=No KU",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
    ]);
    assert!(ok, "{out}");
    let two_ou = env.path("twoou.crt");
    let (ok, out) = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&ik),
        "-out",
        s(&two_ou),
        "-days",
        "30",
        "-subj",
        "/O=Acme/OU=a/OU=b/CN=Two OU",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    assert!(ok, "{out}");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["init", "--import-cert", s(&rc), "--import-key", s(&ik)],
            "does not belong to certificate",
        ),
        (
            vec!["init", "--import-cert", s(&leaf), "--import-key", s(&ik)],
            "is not a CA certificate",
        ),
        (
            vec!["init", "--import-cert", s(&no_ku), "--import-key", s(&ik)],
            "has no keyUsage extension",
        ),
        (
            vec!["init", "--import-cert", s(&two_ou), "--import-key", s(&ik)],
            "byte for byte",
        ),
        (
            vec!["init", "--import-cert", s(&ic), "--import-key", s(&ik)],
            "is not a self-signed root",
        ),
        (
            vec![
                "intermediate",
                "x",
                "--import-cert",
                s(&rc),
                "--import-key",
                s(&rk),
            ],
            "is a self-signed root",
        ),
        (
            vec![
                "init",
                "--import-cert",
                s(&rc),
                "--import-key",
                s(&rk),
                "--cn",
                "X",
            ],
            "cannot be used with",
        ),
    ];
    for (mut args, want) in cases {
        args.push("--no-passphrase");
        let err = env.fails(2, &args);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!env.pki.exists(), "{args:?} left a PKI directory");
    }
}

#[test]
fn intermediate_under_a_pathlen_0_ca_of_this_pki_is_refused() {
    let env = Env::new();
    env.hierarchy();
    // An openssl CA signed by certsmith's "issuing" (pathlen 0) cannot chain.
    let (_, _, _, ik) = openssl_pki(&env, "/CN=Elsewhere");
    let csr = env.path("sub.csr");
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-key",
        s(&ik),
        "-out",
        s(&csr),
        "-subj",
        "/CN=Sub CA",
    ]);
    assert!(ok, "{out}");
    let sub = env.path("sub.crt");
    let (ok, out) = openssl(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&env.pki.join("cas/issuing/ca.pem")),
        "-CAkey",
        s(&env.pki.join("cas/issuing/ca.key.pem")),
        "-CAcreateserial",
        "-out",
        s(&sub),
        "-days",
        "30",
        "-extfile",
        s(&env.path("ext.cnf")),
        "-extensions",
        "v3_ca",
    ]);
    assert!(ok, "{out}");
    let before = env.tree_hash();
    let err = env.fails(
        2,
        &[
            "intermediate",
            "sub",
            "--import-cert",
            s(&sub),
            "--import-key",
            s(&ik),
            "--no-passphrase",
        ],
    );
    assert!(err.contains("CA 'issuing' has pathlen 0"), "{err}");
    assert_eq!(before, env.tree_hash());
}

#[test]
fn expired_ca_is_refused_at_import() {
    let env = Env::new();
    let (rc, rk, _, _) = openssl_pki(&env, "/CN=Old Root");
    let out = env
        .command(&[
            "init",
            "--import-cert",
            s(&rc),
            "--import-key",
            s(&rk),
            "--no-passphrase",
        ])
        .env("CERTSMITH_NOW", "2040-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("expired on"), "{err}");
    assert!(!env.pki.exists());
}

#[test]
fn encrypted_import_key_is_reencrypted_with_the_new_passphrase() {
    let env = Env::new();
    let (rc, rk, _, _) = openssl_pki(&env, "/O=Acme/CN=Root");
    let old = env.path("old");
    std::fs::write(&old, "their passphrase\n").unwrap();
    let new = env.path("new");
    std::fs::write(&new, "our passphrase\n").unwrap();
    let enc = env.path("root-enc.key");
    let (ok, out) = openssl(&[
        "pkcs8",
        "-topk8",
        "-in",
        s(&rk),
        "-out",
        s(&enc),
        "-v2",
        "aes-256-cbc",
        "-passout",
        &format!("file:{}", s(&old)),
    ]);
    assert!(ok, "{out}");
    env.ok(&[
        "init",
        "--import-cert",
        s(&rc),
        "--import-key",
        s(&enc),
        "--import-passphrase-file",
        s(&old),
        "--passphrase-file",
        s(&new),
        "--kdf",
        "pbkdf2",
        "-q",
    ]);
    let key = env.pki.join("cas/root/ca.key.pem");
    let (ok, out) = openssl(&[
        "pkey",
        "-in",
        s(&key),
        "-passin",
        &format!("file:{}", s(&new)),
        "-noout",
    ]);
    assert!(ok, "{out}");
    assert_eq!(mode(&key), 0o600);
}
