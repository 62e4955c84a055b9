//! `bundle` for every target: a valid hierarchy passes and writes clean
//! files; each target rule has a case that breaks it and names the
//! certificate and the rule. Rules are also reachable for any PEM file via
//! `verify --target`, which is how the odd bundles here are checked.

use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

const TARGETS: [&str; 9] = [
    "generic",
    "aws-alb",
    "aws-apigw",
    "aws-iot",
    "nginx",
    "envoy",
    "haproxy",
    "k8s",
    "istio",
];

pub fn ready() -> Env {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    env.ok(&["crl", "-q"]);
    env
}

pub fn fingerprint(env: &Env, ca: &str) -> String {
    let v = env.json(&["list", "--all"]);
    v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == ca)
        .map(|c| c["sha256_fingerprint"].as_str().unwrap().to_string())
        .unwrap()
}

/// Runs `verify dev1 --bundle FILE --target T` on `text`; returns (exit code, stderr).
pub fn check_text(env: &Env, target: &str, text: &str) -> (i32, String) {
    let f = env.path("candidate.pem");
    std::fs::write(&f, text).unwrap();
    let cert = env.cert_dir("dev1").join("cert.pem");
    let r = env.run(&[
        "verify",
        cert.to_str().unwrap(),
        "--bundle",
        f.to_str().unwrap(),
        "--chain",
        env.pki.join("cas/issuing/ca.pem").to_str().unwrap(),
        "--target",
        target,
    ]);
    (r.code, r.stderr)
}

pub fn read(p: PathBuf) -> String {
    std::fs::read_to_string(p).unwrap()
}

pub fn ca_pems(env: &Env) -> String {
    read(env.pki.join("cas/issuing/ca.pem")) + &read(env.root_pem())
}

/// An openssl-made CA with extra `req` flags; returns its PEM.
fn openssl_ca(env: &Env, name: &str, extra: &[&str]) -> String {
    let out = env.path(&format!("{name}.pem"));
    let key = env.path(&format!("{name}.key"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-nodes",
            "-days",
            "30",
            "-subj",
            &format!("/CN={name}"),
        ])
        .args(extra)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    read(out)
}

#[test]
fn every_target_accepts_a_valid_hierarchy_and_writes_clean_files() {
    let env = ready();
    for t in TARGETS {
        // istio signs with the CA named with --ca (its key is exported).
        let v = if t == "istio" {
            env.json(&["bundle", "--target", t, "--ca", "issuing"])
        } else {
            env.json(&["bundle", "--target", t])
        };
        assert_eq!(v["target"], t);
        let dir = env.pki.join("bundles").join(t);
        let text = read(dir.join("ca-bundle.pem"));
        assert!(
            !text.lines().any(|l| l.trim().is_empty()),
            "{t}: blank line in bundle"
        );
        assert!(
            text.lines().all(|l| !l.starts_with('#')),
            "{t}: comment in bundle"
        );
        assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2, "{t}");
        assert_eq!(mode(&dir.join("ca-bundle.pem")), 0o644);
        let m: serde_json::Value = serde_json::from_str(&read(dir.join("manifest.json"))).unwrap();
        let certs = m["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 2, "{t}");
        assert_eq!(certs[0]["role"], "intermediate");
        assert_eq!(certs[0]["subject"], "CN=Test Issuing CA");
        assert_eq!(certs[1]["role"], "root");
        assert_eq!(certs[1]["sha256_fingerprint"], fingerprint(&env, "root"));
        assert!(certs[1]["not_after"].as_str().unwrap().ends_with('Z'));
        assert!(
            !v["next"].as_array().unwrap().is_empty(),
            "{t}: no next commands"
        );
    }
    let (ok, out) = openssl_verify(
        &env.pki.join("bundles/generic/ca-bundle.pem"),
        None,
        &env.cert_dir("dev1").join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
}

#[test]
fn aws_alb_refuses_an_ed25519_ca_naming_it_and_the_rule() {
    let env = ready();
    env.ok(&[
        "intermediate",
        "edge",
        "--cn",
        "Ed CA",
        "--key",
        "ed25519",
        "--no-passphrase",
        "-q",
    ]);
    let fp = fingerprint(&env, "edge");
    let before = env.tree_hash();
    let err = env.fails(1, &["bundle", "--target", "aws-alb", "--ca", "edge"]);
    assert!(
        err.contains(&format!(
            "aws-alb rule 'key-algorithm' broken by 'CN=Ed CA' (sha256 {fp}): has a ed25519 key"
        )),
        "{err}"
    );
    assert!(
        err.contains("--key ecdsa-p256"),
        "the error names the fix: {err}"
    );
    assert!(
        err.contains("hint: each rule and its source are listed in docs/trust-stores.md#aws-alb"),
        "{err}"
    );
    assert_eq!(
        env.tree_hash(),
        before,
        "nothing is written when a rule is broken"
    );
    // The same CA is fine for a target without that rule.
    env.ok(&["bundle", "--target", "generic", "--ca", "edge"]);
}

#[test]
fn aws_alb_warns_above_25_cas_and_still_writes() {
    let env = ready();
    for i in 0..24 {
        env.ok(&[
            "intermediate",
            &format!("ca{i:02}"),
            "--cn",
            &format!("CA {i}"),
            "--no-passphrase",
            "-q",
        ]);
    }
    let r = env.run(&["bundle", "--target", "aws-alb"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("warning: aws-alb rule 'certificate-count': the bundle holds 26 certificates; the default quota of CA certificates per trust store is 25"),
        "{}",
        r.stdout
    );
    let text = read(env.pki.join("bundles/aws-alb/ca-bundle.pem"));
    assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 26);
}

#[test]
fn aws_alb_refuses_a_chain_deeper_than_four() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--cn",
        "Deep Root",
        "--pathlen",
        "4",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "l1",
        "--cn",
        "L1",
        "--pathlen",
        "3",
        "--clamp",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "l2",
        "--issuer",
        "l1",
        "--cn",
        "L2",
        "--pathlen",
        "2",
        "--clamp",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["bundle", "--target", "aws-alb", "--ca", "l2"]);
    env.ok(&[
        "intermediate",
        "l3",
        "--issuer",
        "l2",
        "--cn",
        "L3",
        "--pathlen",
        "0",
        "--clamp",
        "--no-passphrase",
        "-q",
    ]);
    let err = env.fails(1, &["bundle", "--target", "aws-alb", "--ca", "l3"]);
    assert!(
        err.contains("aws-alb rule 'chain-depth': a client chain would be 5 certificates long (device + 4 CAs); the limit is 4"),
        "{err}"
    );
    // API Gateway's depth counts CAs: root + 3 intermediates is allowed.
    env.ok(&["bundle", "--target", "aws-apigw", "--ca", "l3"]);
}

#[test]
fn a_leaf_in_the_bundle_is_refused() {
    let env = ready();
    let text = ca_pems(&env) + &read(env.cert_dir("dev1").join("cert.pem"));
    for t in ["aws-alb", "generic", "nginx"] {
        let (code, err) = check_text(&env, t, &text);
        assert_eq!(code, 1, "{t}: {err}");
        assert!(
            err.contains(&format!("{t} rule 'ca-only' broken by 'CN=dev1'")),
            "{t}: {err}"
        );
    }
}

#[test]
fn a_text_dump_before_the_pem_is_refused() {
    let env = ready();
    let text = "Certificate:\n    Data:\n        Version: 3 (0x2)\n".to_string() + &ca_pems(&env);
    for t in ["aws-alb", "aws-apigw", "generic"] {
        let (code, err) = check_text(&env, t, &text);
        assert_eq!(code, 1, "{t}: {err}");
        assert!(
            err.contains(&format!(
                "{t} rule 'pem-only': line 1 is text outside a PEM block ('Certificate:')"
            )),
            "{err}"
        );
    }
}

#[test]
fn aws_alb_refuses_blank_lines_and_comments_with_a_dash() {
    let env = ready();
    let (code, err) = check_text(
        &env,
        "aws-alb",
        &(read(env.root_pem()) + "\n" + &read(env.pki.join("cas/issuing/ca.pem"))),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("aws-alb rule 'no-blank-lines': line"), "{err}");
    let (code, err) = check_text(
        &env,
        "aws-alb",
        &("# Acme - issuing CA\n".to_string() + &ca_pems(&env)),
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("aws-alb rule 'comment-without-dash': line 1"),
        "{err}"
    );
    let (code, err) = check_text(
        &env,
        "aws-alb",
        &("# Acme issuing CA\n".to_string() + &ca_pems(&env)),
    );
    assert_eq!(code, 0, "a comment without '-' is allowed: {err}");
}

#[test]
fn a_private_key_in_the_bundle_is_refused() {
    let env = ready();
    let text = ca_pems(&env) + &read(env.cert_dir("dev1").join("key.pem"));
    let (code, err) = check_text(&env, "generic", &text);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("generic rule 'no-private-keys'"), "{err}");
}

#[test]
fn aws_alb_refuses_sha1_signatures_negative_serials_and_v1_certificates() {
    let env = ready();
    let sha1 = openssl_ca(
        &env,
        "Sha1 CA",
        &[
            "-newkey",
            "rsa:2048",
            "-sha1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
    let (code, err) = check_text(&env, "aws-alb", &(ca_pems(&env) + &sha1));
    assert_eq!(code, 1);
    assert!(
        err.contains("aws-alb rule 'signature-algorithm' broken by 'CN=Sha1 CA'"),
        "{err}"
    );
    assert!(
        err.contains("is signed with sha1WithRSAEncryption"),
        "{err}"
    );
    let neg = openssl_ca(
        &env,
        "Neg CA",
        &[
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-set_serial",
            "-5",
        ],
    );
    let (code, err) = check_text(&env, "aws-alb", &(ca_pems(&env) + &neg));
    assert_eq!(code, 1);
    assert!(
        err.contains("aws-alb rule 'positive-serial' broken by 'CN=Neg CA'"),
        "{err}"
    );
    // A v1 certificate: made from a CSR without extensions.
    let key = env.path("v1.key");
    let csr = env.path("v1.csr");
    let v1 = env.path("v1.pem");
    openssl_p256_csr(&key, &csr, "/CN=V1 CA");
    let (ok, out) = openssl(&[
        "x509",
        "-req",
        "-in",
        csr.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
        "-days",
        "30",
        "-out",
        v1.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let (code, err) = check_text(&env, "aws-alb", &(ca_pems(&env) + &read(v1)));
    assert_eq!(code, 1);
    assert!(
        err.contains("aws-alb rule 'x509-v3' broken by 'CN=V1 CA'"),
        "{err}"
    );
}

#[test]
fn aws_alb_refuses_a_certificate_over_16_kb() {
    let env = ready();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Huge CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let mut content = vec![0x04, 0x82, 0x42, 0x68];
    content.extend(std::iter::repeat_n(0x41, 0x4268));
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 99999, 1],
        content,
    )];
    let huge = p.self_signed(&key).unwrap().pem();
    let (code, err) = check_text(&env, "aws-alb", &(ca_pems(&env) + &huge));
    assert_eq!(code, 1);
    assert!(
        err.contains("aws-alb rule 'certificate-size' broken by 'CN=Huge CA'"),
        "{err}"
    );
    assert!(
        err.contains("the limit is 16384 bytes per certificate"),
        "{err}"
    );
}

#[test]
fn aws_alb_refuses_a_crl_whose_issuer_is_not_in_the_bundle() {
    let env = ready();
    let foreign = Env::new();
    foreign.ok(&["init", "--cn", "Other Root", "--no-passphrase", "-q"]);
    foreign.ok(&["crl"]);
    let text = ca_pems(&env) + &read(foreign.pki.join("cas/root/crl.pem"));
    let (code, err) = check_text(&env, "aws-alb", &text);
    assert_eq!(code, 1);
    assert!(
        err.contains("aws-alb rule 'crl-issuer-in-bundle': the CRL of 'CN=Other Root'"),
        "{err}"
    );
}

#[test]
fn aws_alb_with_crl_writes_one_crl_per_ca_and_the_revocation_commands() {
    let env = ready();
    let out = env.ok(&["bundle", "--target", "aws-alb", "--with-crl"]);
    let dir = env.pki.join("bundles/aws-alb");
    assert!(dir.join("crl-root.pem").exists() && dir.join("crl-issuing.pem").exists());
    assert!(read(dir.join("crl-issuing.pem")).starts_with("-----BEGIN X509 CRL-----"));
    assert!(out.contains("aws elbv2 add-trust-store-revocations --trust-store-arn TRUST_STORE_ARN --revocation-contents S3Bucket=BUCKET,S3Key=certsmith/crl-issuing.pem,RevocationType=CRL"), "{out}");
    assert!(
        out.contains("aws elbv2 create-trust-store --name TRUST_STORE_NAME"),
        "{out}"
    );
    assert!(out.contains("aws elbv2 modify-listener --listener-arn LISTENER_ARN --mutual-authentication Mode=verify,TrustStoreArn=TRUST_STORE_ARN"), "{out}");
}

#[test]
fn out_directory_and_unknown_target() {
    let env = ready();
    let out = env.path("upload");
    env.ok(&[
        "bundle",
        "--target",
        "generic",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(out.join("ca-bundle.pem").exists() && out.join("manifest.json").exists());
    let before = env.tree_hash();
    let err = env.fails(2, &["bundle", "--target", "azure"]);
    assert!(
        err.contains("unknown trust-store target 'azure'")
            && err.contains("hint: use one of: generic, aws-alb"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
}
