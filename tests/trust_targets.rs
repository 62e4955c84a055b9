//! `bundle` for the targets beyond the ALB: API Gateway limits and its lack
//! of CRLs, the IoT verification certificate, servers that need every CA's
//! CRL, the k8s Secret, Istio's cacerts, and bootstrap's final bundle.

use crate::common::*;
use crate::trust::ok_at;
use crate::trust_bundle::{check_text, read, ready};

#[test]
fn aws_apigw_needs_complete_chains_and_respects_its_limits() {
    let env = ready();
    let (code, err) = check_text(&env, "aws-apigw", &read(env.pki.join("cas/issuing/ca.pem")));
    assert_eq!(code, 1);
    assert!(
        err.contains("aws-apigw rule 'complete-chain' broken by 'CN=Test Issuing CA'")
            && err.contains("the issuer 'CN=Test Root CA' is not in the bundle"),
        "{err}"
    );
    let root = read(env.root_pem());
    let (code, err) = check_text(&env, "aws-apigw", &root.repeat(1001));
    assert_eq!(code, 1);
    assert!(
        err.contains("aws-apigw rule 'certificate-count': the bundle holds 1001 certificates"),
        "{err}"
    );
    let many = root.repeat(1024 * 1024 / root.len() + 1);
    let (code, err) = check_text(&env, "aws-apigw", &many);
    assert_eq!(code, 1);
    assert!(err.contains("aws-apigw rule 'bundle-size'"), "{err}");
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
    let err = env.fails(1, &["bundle", "--target", "aws-apigw", "--ca", "edge"]);
    assert!(
        err.contains("aws-apigw rule 'key-algorithm' broken by 'CN=Ed CA'"),
        "{err}"
    );
}

#[test]
fn aws_apigw_has_no_crl_support_and_says_so() {
    let env = ready();
    let r = env.run(&["bundle", "--target", "aws-apigw", "--with-crl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("aws-apigw rule 'no-crl-support'"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("--mutual-tls-authentication truststoreUri=s3://BUCKET/truststore.pem"),
        "{}",
        r.stdout
    );
    let names: Vec<String> = std::fs::read_dir(env.pki.join("bundles/aws-apigw"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.contains("crl")), "{names:?}");
}

#[test]
fn aws_iot_signs_a_verification_certificate_for_the_registration_code() {
    let env = ready();
    let code = "a1b2".repeat(16);
    let out = env.ok(&[
        "bundle",
        "--target",
        "aws-iot",
        "--registration-code",
        &code,
    ]);
    assert!(
        out.contains("aws iot register-ca-certificate --ca-certificate file://"),
        "{out}"
    );
    let dir = env.pki.join("bundles/aws-iot");
    let vc = dir.join("verification-cert.pem");
    let (ok, subject) = openssl(&["x509", "-noout", "-subject", "-in", vc.to_str().unwrap()]);
    assert!(ok && subject.contains(&format!("CN = {code}")), "{subject}");
    let (ok, out) = openssl(&[
        "verify",
        "-x509_strict",
        "-partial_chain",
        "-CAfile",
        dir.join("ca-cert.pem").to_str().unwrap(),
        vc.to_str().unwrap(),
    ]);
    assert!(
        ok,
        "verification certificate must be signed by the registered CA: {out}"
    );
    assert_eq!(
        read(dir.join("ca-cert.pem")),
        read(env.pki.join("cas/issuing/ca.pem"))
    );
    let before = env.tree_hash();
    let err = env.fails(
        2,
        &[
            "bundle",
            "--target",
            "aws-iot",
            "--registration-code",
            "not-a-code",
        ],
    );
    assert!(
        err.contains("registration code 'not-a-code' is not 64 hexadecimal digits"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn servers_that_check_crls_need_a_fresh_crl_for_every_ca() {
    for t in ["nginx", "haproxy", "envoy"] {
        let env = Env::new();
        env.hierarchy();
        env.ok(&["crl", "--ca", "issuing", "-q"]);
        let err = env.fails(2, &["bundle", "--target", t]);
        assert!(
            err.contains(&format!(
                "CA 'root' has no CRL yet, and target '{t}' needs one"
            )),
            "{t}: {err}"
        );
        ok_at(
            &env,
            "2020-01-01T00:00:00Z",
            &["crl", "--ca", "root", "--next-update", "1d", "-q"],
        );
        let err = env.fails(1, &["bundle", "--target", t]);
        assert!(
            err.contains(&format!(
                "{t} rule 'crl-fresh': the CRL of 'CN=Test Root CA' expired on 2020-01-02T00:00:00Z"
            )),
            "{t}: {err}"
        );
        env.ok(&["crl", "-q"]);
        env.ok(&["bundle", "--target", t]);
    }
}

#[test]
fn server_snippets_point_at_the_bundle_and_crl_with_the_real_depth() {
    let env = ready();
    for (t, file, needle) in [
        ("nginx", "nginx-mtls.conf", "ssl_verify_depth 2;"),
        ("envoy", "envoy-mtls.yaml", "max_verify_depth: 2"),
        ("haproxy", "haproxy-mtls.cfg", "verify required"),
    ] {
        env.ok(&["bundle", "--target", t]);
        let dir = env.pki.join("bundles").join(t);
        let text = read(dir.join(file));
        assert!(text.contains(needle), "{t}: {text}");
        assert!(
            text.contains(&format!("{}/crl.pem", dir.display())),
            "{t}: {text}"
        );
        assert_eq!(
            read(dir.join("crl.pem")).matches("BEGIN X509 CRL").count(),
            2,
            "{t}"
        );
    }
}

#[test]
fn k8s_secret_holds_the_bundle_and_a_leaf_key_only_when_asked_and_then_is_private() {
    let env = ready();
    env.ok(&["bundle", "--target", "k8s", "--with-crl"]);
    let secret = env.pki.join("bundles/k8s/secret.yaml");
    let text = read(secret.clone());
    assert!(
        text.contains("kind: Secret")
            && text.contains("  ca.crt: |\n    -----BEGIN CERTIFICATE-----"),
        "{text}"
    );
    assert!(text.contains("  ca.crl: |"), "{text}");
    assert!(!text.contains("PRIVATE KEY"));
    assert_eq!(mode(&secret), 0o644);
    env.ok(&["bundle", "--target", "k8s", "--cert", "dev1"]);
    let text = read(secret.clone());
    assert!(
        text.contains("type: kubernetes.io/tls") && text.contains("  tls.key: |"),
        "{text}"
    );
    assert_eq!(
        mode(&secret),
        0o600,
        "a Secret with a private key is private"
    );
}

#[test]
fn istio_cacerts_layout_has_a_private_key_matching_the_ca() {
    let env = ready();
    env.ok(&["bundle", "--target", "istio", "--ca", "issuing"]);
    let dir = env.pki.join("bundles/istio");
    for f in [
        "ca-cert.pem",
        "ca-key.pem",
        "root-cert.pem",
        "cert-chain.pem",
        "cacerts.yaml",
    ] {
        assert!(dir.join(f).exists(), "{f}");
    }
    assert_eq!(mode(&dir.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("cacerts.yaml")), 0o600);
    assert_eq!(
        read(dir.join("ca-cert.pem")),
        read(env.pki.join("cas/issuing/ca.pem"))
    );
    assert_eq!(read(dir.join("root-cert.pem")), read(env.root_pem()));
    assert_eq!(
        read(dir.join("cert-chain.pem"))
            .matches("BEGIN CERTIFICATE")
            .count(),
        2
    );
    let (_, a) = openssl(&[
        "pkey",
        "-pubout",
        "-in",
        dir.join("ca-key.pem").to_str().unwrap(),
    ]);
    let (_, b) = openssl(&[
        "x509",
        "-noout",
        "-pubkey",
        "-in",
        dir.join("ca-cert.pem").to_str().unwrap(),
    ]);
    assert_eq!(a, b, "ca-key.pem must be the key of ca-cert.pem");
}

#[test]
fn bootstrap_ends_with_the_target_bundle_and_its_next_commands() {
    let env = Env::new();
    let out = env.ok(&[
        "bootstrap",
        "--org",
        "Acme",
        "--target",
        "nginx",
        "--no-passphrase",
    ]);
    assert!(
        out.contains("Wrote the nginx bundle (2 CA certificate(s))"),
        "{out}"
    );
    assert!(out.contains("nginx -t && sudo nginx -s reload"), "{out}");
    assert!(env.pki.join("bundles/nginx/crl.pem").exists());
    let env = Env::new();
    let err = env.fails(2, &["bootstrap", "--target", "azure", "--no-passphrase"]);
    assert!(err.contains("unknown trust-store target 'azure'"), "{err}");
    assert!(!env.pki.exists(), "a bad --target creates nothing");
}

#[test]
fn target_specific_flags_are_refused_for_other_targets() {
    let env = ready();
    let err = env.fails(2, &["bundle", "--target", "nginx", "--cert", "dev1"]);
    assert!(
        err.contains("--cert is only used by --target k8s, not 'nginx'"),
        "{err}"
    );
    let err = env.fails(
        2,
        &["bundle", "--target", "generic", "--registration-code", "ab"],
    );
    assert!(
        err.contains("--registration-code is only used by --target aws-iot"),
        "{err}"
    );
}
