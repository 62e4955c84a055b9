//! `renew`: same subject, SANs, profile and issuer; new serial; new key
//! unless reused; the old certificate superseded, revoked on request.

use std::path::Path;

use crate::common::*;

fn pubkey(cert: &Path) -> String {
    openssl(&["x509", "-in", s(cert), "-noout", "-pubkey"]).1
}

fn field(cert: &Path, what: &str) -> String {
    openssl(&[
        "x509",
        "-in",
        s(cert),
        "-noout",
        what,
        "-nameopt",
        "RFC2253",
    ])
    .1
}

#[test]
fn renewed_server_cert_keeps_subject_sans_profile_issuer_with_new_serial_and_key() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "issue",
        "api",
        "--profile",
        "server",
        "--subject",
        "CN=api,O=Acme,C=CH",
        "--san",
        "dns:api.acme.internal",
        "--san",
        "ip:10.0.0.7",
        "-q",
    ]);
    let cert = env.cert_dir("api").join("cert.pem");
    let old_pub = pubkey(&cert);
    let old_serial = field(&cert, "-serial");
    let old_subject = field(&cert, "-subject");
    let j = env.json(&["renew", "api", "--validity", "30d"]);
    assert_eq!(j["reused_key"], false);
    assert_eq!(j["profile"], "server");
    assert_eq!(j["issuer"], "issuing");
    assert_ne!(old_serial, field(&cert, "-serial"));
    assert_ne!(old_pub, pubkey(&cert), "a new key by default");
    assert_eq!(old_subject, field(&cert, "-subject"));
    let (_, text) = openssl(&["x509", "-in", s(&cert), "-noout", "-ext", "subjectAltName"]);
    assert!(
        text.contains("DNS:api.acme.internal") && text.contains("IP Address:10.0.0.7"),
        "{text}"
    );
    let d = env.cert_dir("api");
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &cert,
        "sslserver",
    );
    assert!(ok, "{out}");
    // The old files are kept and the old record is superseded, not revoked.
    let old_hex = j["old_serial"].as_str().unwrap();
    assert!(d.join(format!("cert.pem.old-{old_hex}")).exists());
    assert!(d.join(format!("key.pem.old-{old_hex}")).exists());
    let all = env.json(&["list", "--all"]);
    let states: Vec<&str> = all["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("{all}"))
        .iter()
        .filter(|c| c["name"] == "api")
        .map(|c| c["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states.len(), 2, "{all}");
    assert!(
        states.contains(&"superseded") && states.contains(&"valid"),
        "old superseded (not revoked), new valid: {states:?}"
    );
}

#[test]
fn reuse_key_certifies_the_same_public_key_again() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    let cert = env.cert_dir("dev1").join("cert.pem");
    let before = pubkey(&cert);
    env.ok(&["renew", "dev1", "--reuse-key", "-q"]);
    assert_eq!(before, pubkey(&cert));
}

#[test]
fn revoke_old_marks_the_old_certificate_revoked_as_superseded() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    let j = env.json(&["renew", "dev1", "--revoke-old"]);
    assert_eq!(j["old_revoked"], true);
    let conn = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    let (reason, state): (String, String) = conn
        .query_row(
            "SELECT revocation_reason, state FROM certificates WHERE serial = ?1",
            [j["old_serial"].as_str().unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (reason.as_str(), state.as_str()),
        ("superseded", "superseded")
    );
}

#[test]
fn csr_signed_certificate_renews_only_with_reuse_key() {
    let env = Env::new();
    env.hierarchy();
    let key = env.path("dev.key");
    let csr = env.path("dev.csr");
    let (ok, t) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-nodes",
        "-keyout",
        s(&key),
        "-out",
        s(&csr),
        "-subj",
        "/CN=onboard",
    ]);
    assert!(ok, "{t}");
    env.ok(&["sign", s(&csr), "-q"]);
    let before = env.tree_hash();
    let err = env.fails(2, &["renew", "onboard"]);
    assert!(
        err.contains("was signed from a CSR") && err.contains("--reuse-key"),
        "{err}"
    );
    assert_eq!(before, env.tree_hash());
    env.ok(&["renew", "onboard", "--reuse-key", "-q"]);
    let cert = env.cert_dir("onboard").join("cert.pem");
    let (_, key_pub) = openssl(&["pkey", "-in", s(&key), "-pubout"]);
    assert_eq!(key_pub.trim(), pubkey(&cert).trim());
    assert!(!env.cert_dir("onboard").join("key.pem").exists());
}

#[test]
fn renewing_a_ca_or_an_unknown_name_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let before = env.tree_hash();
    let err = env.fails(2, &["renew", "issuing"]);
    assert!(err.contains("is a CA"), "{err}");
    let err = fails_as(
        &env,
        &["renew", "ghost"],
        &certsmith::Error::NoSuchCert {
            name: "ghost".into(),
            issuer: None,
        },
    );
    assert!(err.contains("no certificate named 'ghost'"), "{err}");
    assert_eq!(before, env.tree_hash());
}
