//! `inspect`, `list` and `status`: readable and JSON views, never secrets.

use crate::common::*;

#[test]
fn inspect_certificate_shows_public_facts_as_text_and_json() {
    let env = Env::new();
    env.hierarchy();
    let issued = env.json(&[
        "issue",
        "api",
        "--profile",
        "server",
        "--san",
        "dns:api.test.internal",
    ]);
    let cert = env.cert_dir("api").join("cert.pem");
    let text = env.ok(&["inspect", cert.to_str().unwrap()]);
    assert!(text.contains("Subject:              CN=api"), "{text}");
    assert!(text.contains("Extended key usage:   serverAuth"), "{text}");
    assert!(
        text.contains("SANs:                 dns:api.test.internal"),
        "{text}"
    );
    let j = env.json(&["inspect", cert.to_str().unwrap()]);
    assert_eq!(j["type"], "certificate");
    assert_eq!(j["certificate"]["serial"], issued["serial"]);
    assert_eq!(
        j["certificate"]["sha256_fingerprint"],
        issued["sha256_fingerprint"]
    );
    assert_eq!(j["certificate"]["is_ca"], false);
}

#[test]
fn inspect_fullchain_lists_each_certificate() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let j = env.json(&[
        "inspect",
        env.cert_dir("dev").join("fullchain.pem").to_str().unwrap(),
    ]);
    assert_eq!(j["type"], "bundle");
    assert_eq!(j["certificates"].as_array().unwrap().len(), 2);
    assert_eq!(j["certificates"][1]["subject"], "CN=Test Issuing CA");
}

#[test]
fn inspect_private_key_never_prints_key_material() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let key_path = env.cert_dir("dev").join("key.pem");
    let key_pem = std::fs::read_to_string(&key_path).unwrap();
    let body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    for args in [
        vec!["inspect", key_path.to_str().unwrap()],
        vec!["--json", "inspect", key_path.to_str().unwrap()],
    ] {
        let out = env.ok(&args);
        assert!(out.contains("ecdsa-p256"), "{out}");
        for chunk in body.as_bytes().chunks(16) {
            assert!(
                !out.contains(std::str::from_utf8(chunk).unwrap()),
                "key material leaked: {out}"
            );
        }
    }
}

#[test]
fn inspect_csr_reports_a_bad_signature() {
    let env = Env::new();
    let key = env.path("k.pem");
    let csr = env.path("r.csr");
    openssl_p256_csr(&key, &csr, "/CN=probe");
    let j = env.json(&["inspect", csr.to_str().unwrap()]);
    assert_eq!(j["type"], "csr");
    assert_eq!(j["signature_valid"], true);
    assert_eq!(j["subject"], "CN=probe");
}

#[test]
fn inspect_refuses_a_file_that_is_not_pki_material() {
    let env = Env::new();
    std::fs::write(env.path("notes.txt"), "hello\n").unwrap();
    let err = env.fails(2, &["inspect", env.path("notes.txt").to_str().unwrap()]);
    assert_eq!(
        err.lines().next().unwrap(),
        format!(
            "certsmith: '{}' is not a certificate, CSR, CRL or key in PEM or DER",
            env.path("notes.txt").display()
        )
    );
}

#[test]
fn list_filters_by_ca_and_expiry_and_status_counts_them() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "short", "--validity", "10d", "-q"]);
    env.ok(&["issue", "long", "-q"]);
    env.ok(&["issue", "from-root", "--ca", "root", "-q"]);
    let all = env.json(&["list"]);
    assert_eq!(all["certificates"].as_array().unwrap().len(), 3);
    let soon = env.json(&["list", "--expiring-within", "30d"]);
    let names: Vec<&str> = soon["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["short"]);
    let by_ca = env.json(&["list", "--ca", "root"]);
    let names: Vec<&str> = by_ca["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["from-root"]);
    let st = env.json(&["status"]);
    let root = &st["cas"][0];
    assert_eq!(root["issued"], 2, "issuing CA + from-root");
    assert_eq!(root["children"][0]["issued"], 2);
    assert_eq!(root["children"][0]["expiring_30d"], 1);
    let text = env.ok(&["status"]);
    assert!(
        text.contains("└── issuing [intermediate] CN=Test Issuing CA"),
        "{text}"
    );
}

#[test]
fn inspect_crl_lists_the_revoked_serial_and_reason() {
    let env = Env::new();
    env.hierarchy();
    let issued = env.json(&["issue", "lost", "-q"]);
    env.ok(&["revoke", "lost", "--reason", "key-compromise", "-q"]);
    env.ok(&["crl", "--ca", "issuing", "-q"]);
    let j = env.json(&[
        "inspect",
        env.pki.join("cas/issuing/crl.pem").to_str().unwrap(),
    ]);
    assert_eq!(j["type"], "crl");
    assert_eq!(j["issuer"], "CN=Test Issuing CA");
    assert_eq!(j["revoked"][0]["serial"], issued["serial"]);
    assert_eq!(
        j["revoked"][0]["revocation_reason"], "key-compromise",
        "{j}"
    );
}

#[test]
fn output_into_a_closed_pipe_does_not_panic() {
    let env = Env::new();
    env.hierarchy();
    // ~200 KB of output: far more than a pipe buffer, so the writer meets a closed pipe.
    let one = std::fs::read_to_string(env.root_pem()).unwrap();
    std::fs::write(env.path("big.pem"), one.repeat(300)).unwrap();
    let bin = env!("CARGO_BIN_EXE_certsmith");
    let script = format!(
        "{bin} inspect {} | head -c 10 >/dev/null; exit ${{PIPESTATUS[0]}}",
        env.path("big.pem").display()
    );
    let out = clean_env(&mut std::process::Command::new("bash"))
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn inspect_refuses_a_der_csr_with_bytes_after_it_as_sign_does() {
    let env = Env::new();
    let key = env.path("k.pem");
    let csr = env.path("r.csr");
    openssl_p256_csr(&key, &csr, "/CN=probe");
    let der = env.path("r.der");
    let mut bytes = openssl_der("req", &csr, &der);
    bytes.extend_from_slice(b"junk");
    std::fs::write(&der, bytes).unwrap();
    let err = env.fails(2, &["inspect", der.to_str().unwrap()]);
    assert!(err.contains("trailing bytes after the CSR"), "{err}");
}
