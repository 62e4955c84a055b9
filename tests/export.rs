//! `export`: PKCS#12 OpenSSL opens (modern and legacy), Kubernetes TLS
//! Secrets and combined PEM whose contents verify, and clear refusals.

use base64::Engine;

use crate::common::*;

fn p12_env() -> (Env, std::path::PathBuf) {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    let pw = env.path("p12pw");
    std::fs::write(&pw, "device password\n").unwrap();
    (env, pw)
}

#[test]
fn default_p12_opens_in_openssl_without_legacy_and_holds_key_and_full_chain() {
    let (env, pw) = p12_env();
    let j = env.json(&["export", "dev1", "--p12-passphrase-file", s(&pw)]);
    let file = env.cert_dir("dev1").join("dev1.p12");
    assert_eq!(j["file"], s(&file));
    assert_eq!(mode(&file), 0o600);
    let passin = format!("file:{}", s(&pw));
    let (ok, info) = openssl(&[
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        s(&file),
        "-passin",
        &passin,
    ]);
    assert!(ok, "{info}");
    assert!(
        info.contains("MAC: sha256") && info.contains("AES-256-CBC"),
        "{info}"
    );
    // Leaf, intermediate and root, and a key that belongs to the leaf.
    let (ok, certs) = openssl(&["pkcs12", "-in", s(&file), "-passin", &passin, "-nokeys"]);
    assert!(ok, "{certs}");
    assert_eq!(certs.matches("BEGIN CERTIFICATE").count(), 3, "{certs}");
    let out = env.path("p12.pem");
    let (ok, t) = openssl(&[
        "pkcs12",
        "-in",
        s(&file),
        "-passin",
        &passin,
        "-nodes",
        "-out",
        s(&out),
    ]);
    assert!(ok, "{t}");
    let (_, key_pub) = openssl(&["pkey", "-in", s(&out), "-pubout"]);
    let (_, cert_pub) = openssl(&[
        "x509",
        "-in",
        s(&env.cert_dir("dev1").join("cert.pem")),
        "-noout",
        "-pubkey",
    ]);
    assert_eq!(key_pub.trim(), cert_pub.trim());
    // The wrong password does not open it.
    let (ok, _) = openssl(&[
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        s(&file),
        "-passin",
        "pass:wrong",
    ]);
    assert!(!ok);
}

#[test]
fn legacy_p12_uses_3des_and_sha1_and_opens_with_openssl_legacy() {
    let (env, pw) = p12_env();
    let file = env.path("out/legacy.p12");
    env.ok(&[
        "export",
        "dev1",
        "--legacy",
        "--out",
        s(&file),
        "--p12-passphrase-file",
        s(&pw),
        "-q",
    ]);
    let (ok, info) = openssl(&[
        "pkcs12",
        "-info",
        "-noout",
        "-legacy",
        "-in",
        s(&file),
        "-passin",
        &format!("file:{}", s(&pw)),
    ]);
    assert!(ok, "{info}");
    assert!(
        info.contains("MAC: sha1") && info.contains("3-KeyTripleDES"),
        "{info}"
    );
}

#[test]
fn p12_without_terminal_or_password_file_names_the_flag_and_writes_nothing() {
    let (env, _) = p12_env();
    let before = env.tree_hash();
    let err = env.fails(2, &["export", "dev1"]);
    assert!(
        err.contains("hint: pass --p12-passphrase-file FILE"),
        "{err}"
    );
    assert_eq!(before, env.tree_hash());
}

#[test]
fn existing_export_is_not_overwritten_without_force() {
    let (env, pw) = p12_env();
    env.ok(&["export", "dev1", "--p12-passphrase-file", s(&pw), "-q"]);
    let err = env.fails(2, &["export", "dev1", "--p12-passphrase-file", s(&pw)]);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    env.ok(&[
        "export",
        "dev1",
        "--p12-passphrase-file",
        s(&pw),
        "--force",
        "-q",
    ]);
}

#[test]
fn csr_signed_certificate_has_no_key_to_export_and_says_so() {
    let env = Env::new();
    env.hierarchy();
    let key = env.path("dev.key");
    let csr = env.path("dev.csr");
    openssl_p256_csr(&key, &csr, "/CN=onboard");
    env.ok(&["sign", s(&csr), "-q"]);
    let pw = env.path("pw");
    std::fs::write(&pw, "x").unwrap();
    let before = env.tree_hash();
    for format in ["p12", "k8s-secret"] {
        let err = env.fails(
            2,
            &[
                "export",
                "onboard",
                "--format",
                format,
                "--p12-passphrase-file",
                s(&pw),
            ],
        );
        assert!(
            err.contains("was signed from a CSR, so certsmith has no private key"),
            "{err}"
        );
    }
    assert_eq!(before, env.tree_hash());
    // PEM still gives the chain alone.
    env.ok(&["export", "onboard", "--format", "pem", "-q"]);
    let text = std::fs::read_to_string(env.cert_dir("onboard").join("combined.pem")).unwrap();
    assert!(!text.contains("PRIVATE KEY"));
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2);
}

/// The base64 value of `key` in a Secret YAML.
fn field(yaml: &str, key: &str) -> String {
    let line = yaml
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in {yaml}"));
    let b64 = line.split_once(':').unwrap().1.trim();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn k8s_secret_has_fullchain_key_and_root_that_verify() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "issue",
        "Api_Server",
        "--profile",
        "server",
        "--san",
        "dns:api.acme.internal",
        "-q",
    ]);
    env.ok(&["export", "Api_Server", "--format", "k8s-secret", "-q"]);
    let yaml = std::fs::read_to_string(env.cert_dir("Api_Server").join("secret.yaml")).unwrap();
    assert!(yaml.contains("type: kubernetes.io/tls"), "{yaml}");
    assert!(yaml.contains("  name: api-server\n"), "{yaml}");
    let dir = env.path("k8s");
    std::fs::create_dir(&dir).unwrap();
    for (k, f) in [
        ("tls.crt", "tls.crt"),
        ("tls.key", "tls.key"),
        ("ca.crt", "ca.crt"),
    ] {
        std::fs::write(dir.join(f), field(&yaml, k)).unwrap();
    }
    let crt = std::fs::read_to_string(dir.join("tls.crt")).unwrap();
    assert_eq!(
        crt.matches("BEGIN CERTIFICATE").count(),
        2,
        "tls.crt is leaf + intermediate"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ca.crt")).unwrap(),
        std::fs::read_to_string(env.root_pem()).unwrap()
    );
    let (ok, out) = openssl_verify(
        &dir.join("ca.crt"),
        Some(&dir.join("tls.crt")),
        &dir.join("tls.crt"),
        "sslserver",
    );
    assert!(ok, "{out}");
    let (_, key_pub) = openssl(&["pkey", "-in", s(&dir.join("tls.key")), "-pubout"]);
    let (_, cert_pub) = openssl(&["x509", "-in", s(&dir.join("tls.crt")), "-noout", "-pubkey"]);
    assert_eq!(key_pub.trim(), cert_pub.trim());
}

#[test]
fn pem_export_is_key_then_leaf_then_intermediate() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    env.ok(&["export", "dev1", "--format", "pem", "-q"]);
    let text = std::fs::read_to_string(env.cert_dir("dev1").join("combined.pem")).unwrap();
    let blocks = pem::parse_many(&text).unwrap();
    let tags: Vec<&str> = blocks.iter().map(|b| b.tag()).collect();
    assert_eq!(tags, ["PRIVATE KEY", "CERTIFICATE", "CERTIFICATE"]);
    let full = std::fs::read_to_string(env.cert_dir("dev1").join("fullchain.pem")).unwrap();
    assert!(text.ends_with(&full));
}

#[test]
fn revoked_or_unknown_or_ca_names_are_refused() {
    let env = Env::new();
    env.hierarchy();
    let err = fails_as(
        &env,
        &["export", "nope", "--format", "pem"],
        &certsmith::Error::NoSuchCert {
            name: "nope".into(),
            issuer: None,
        },
    );
    assert!(err.contains("no certificate named 'nope'"), "{err}");
    let err = env.fails(2, &["export", "issuing", "--format", "pem"]);
    assert!(err.contains("is a CA"), "{err}");
    let err = env.fails(2, &["export", "issuing", "--format", "jks"]);
    assert!(err.contains("unknown --format 'jks'"), "{err}");
}
