//! CSR signing: keys made elsewhere (OpenSSL), every key type and digest,
//! extra extensions, CA:TRUE requests, tampered CSRs.

use crate::common::*;

/// Makes key + CSR with openssl; returns the CSR path.
fn openssl_csr(
    env: &Env,
    name: &str,
    newkey: &[&str],
    digest: &str,
    extra: &[&str],
) -> std::path::PathBuf {
    let key = env.path(&format!("{name}.key"));
    let csr = env.path(&format!("{name}.csr"));
    let mut args = vec!["req", "-new", "-nodes", "-subj"];
    let subj = format!("/CN={name}/O=Device Maker");
    args.push(&subj);
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        csr.to_str().unwrap(),
    ]);
    if !digest.is_empty() {
        args.push(digest);
    }
    args.extend_from_slice(extra);
    let (ok, out) = openssl(&args);
    assert!(ok, "openssl req: {out}");
    csr
}

fn pubkey_of(args: &[&str]) -> String {
    let (ok, out) = openssl(args);
    assert!(ok, "{out}");
    out
}

fn sign_and_check(
    env: &Env,
    name: &str,
    csr: &std::path::Path,
    profile: &str,
    purpose: &str,
) -> serde_json::Value {
    let out = env.json(&["sign", csr.to_str().unwrap(), "--profile", profile]);
    let d = env.cert_dir(name);
    assert!(
        !d.join("key.pem").exists(),
        "no key file for a CSR-signed cert"
    );
    let (ok, text) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        purpose,
    );
    assert!(ok, "{name}: {text}");
    let cert_pub = pubkey_of(&[
        "x509",
        "-in",
        d.join("cert.pem").to_str().unwrap(),
        "-noout",
        "-pubkey",
    ]);
    let csr_pub = pubkey_of(&["req", "-in", csr.to_str().unwrap(), "-noout", "-pubkey"]);
    assert_eq!(
        cert_pub, csr_pub,
        "{name}: certificate must carry the CSR's key"
    );
    out
}

#[test]
fn csr_matrix_of_key_types_and_digests_gives_certificates_openssl_accepts() {
    let env = Env::new();
    env.hierarchy();
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "p256-sha256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "-sha256",
        ),
        // The rcgen#448 trap: a P-384 key signed with SHA-256, OpenSSL's default.
        (
            "p384-sha256",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "-sha256",
        ),
        (
            "p256-sha384",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "-sha384",
        ),
        ("rsa2048", &["-newkey", "rsa:2048"], "-sha256"),
        ("ed25519", &["-newkey", "ed25519"], ""),
    ];
    for (name, newkey, digest) in cases {
        let csr = openssl_csr(&env, name, newkey, digest, &[]);
        let out = sign_and_check(&env, name, &csr, "device", "sslclient");
        assert_eq!(out["subject"], format!("CN={name},O=Device Maker"));
    }
    let text = openssl(&[
        "x509",
        "-in",
        env.cert_dir("p384-sha256")
            .join("cert.pem")
            .to_str()
            .unwrap(),
        "-noout",
        "-text",
    ])
    .1;
    assert!(text.contains("NIST CURVE: P-384"), "{text}");
}

#[test]
fn csr_with_extra_extensions_is_signed_with_profile_extensions_only() {
    let env = Env::new();
    env.hierarchy();
    let csr = openssl_csr(
        &env,
        "gw",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "-sha256",
        &[
            "-addext",
            "subjectAltName=DNS:gw.test.internal,email:ops@test.example",
            "-addext",
            "keyUsage=critical,keyCertSign",
            "-addext",
            "1.2.3.4.5=ASN1:UTF8String:custom",
        ],
    );
    let out = sign_and_check(&env, "gw", &csr, "server", "sslserver");
    assert_eq!(out["sans"], serde_json::json!(["dns:gw.test.internal"]));
    assert!(
        out["notes"]
            .to_string()
            .contains("dropped SAN 'email:ops@test.example'"),
        "{out}"
    );
    let text = openssl(&[
        "x509",
        "-in",
        env.cert_dir("gw").join("cert.pem").to_str().unwrap(),
        "-noout",
        "-text",
    ])
    .1;
    assert!(!text.contains("Certificate Sign"), "{text}");
    assert!(!text.contains("1.2.3.4.5"), "{text}");
}

#[test]
fn csr_asking_for_ca_true_gets_ca_false() {
    let env = Env::new();
    env.hierarchy();
    let csr = openssl_csr(
        &env,
        "sneaky",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "-sha256",
        &["-addext", "basicConstraints=critical,CA:TRUE"],
    );
    sign_and_check(&env, "sneaky", &csr, "device", "sslclient");
    let text = openssl(&[
        "x509",
        "-in",
        env.cert_dir("sneaky").join("cert.pem").to_str().unwrap(),
        "-noout",
        "-text",
    ])
    .1;
    assert!(
        text.contains("CA:FALSE") && !text.contains("CA:TRUE"),
        "{text}"
    );
}

#[test]
fn tampered_csr_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.hierarchy();
    let csr = openssl_csr(
        &env,
        "victim",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "-sha256",
        &[],
    );
    let der_path = env.path("victim.der");
    let mut der = openssl_der("req", &csr, &der_path);
    // Change one byte of the subject CN ("victim" -> "vactim"): the signature no longer matches.
    let pos = der.windows(6).position(|w| w == b"victim").unwrap();
    der[pos + 1] = b'a';
    std::fs::write(&der_path, &der).unwrap();
    let err = fails_as(
        &env,
        &["sign", der_path.to_str().unwrap(), "--name", "victim"],
        &certsmith::Error::CsrSignature {
            what: der_path.display().to_string(),
        },
    );
    assert!(
        err.starts_with(&format!(
            "certsmith: CSR '{}' has a bad signature",
            der_path.display()
        )),
        "{err}"
    );
}

#[test]
fn csr_with_rsa_1024_key_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let csr = openssl_csr(&env, "weak", &["-newkey", "rsa:1024"], "-sha256", &[]);
    let before = env.tree_hash();
    let err = env.fails(2, &["sign", csr.to_str().unwrap()]);
    assert_eq!(env.tree_hash(), before);
    assert!(
        err.contains("holds an RSA-1024 key, which is too weak"),
        "{err}"
    );
}

#[test]
fn garbage_instead_of_a_csr_is_refused() {
    let env = Env::new();
    env.hierarchy();
    std::fs::write(
        env.path("junk.pem"),
        "-----BEGIN CERTIFICATE REQUEST-----\nnot base64!!\n-----END CERTIFICATE REQUEST-----\n",
    )
    .unwrap();
    let err = env.fails(2, &["sign", env.path("junk.pem").to_str().unwrap()]);
    assert!(
        err.starts_with("certsmith: '") && err.contains("is not valid PEM"),
        "{err}"
    );
}
