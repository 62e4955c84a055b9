//! CRL Distribution Point and AIA URLs: set on a CA at creation or with
//! `ca set-urls`, carried by every certificate it issues afterwards,
//! refused when unusable, turned off by a profile.

use std::path::Path;

use crate::common::*;

const CRL: &str = "http://pki.acme.test/crl/{ca}.crl";
const OCSP: &str = "http://pki.acme.test/ocsp";
const ISSUERS: &str = "http://pki.acme.test/ca/{ca}.crt";

/// root → issuing, both with the three URLs (`{ca}` filled per CA).
fn hierarchy_with_urls(env: &Env) {
    let urls = [
        "--crl-url",
        CRL,
        "--ocsp-url",
        OCSP,
        "--ca-issuers-url",
        ISSUERS,
    ];
    let mut a = vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"];
    a.extend(urls);
    env.ok(&a);
    let mut a = vec![
        "intermediate",
        "issuing",
        "--cn",
        "Test Issuing CA",
        "--no-passphrase",
        "-q",
    ];
    a.extend(urls);
    env.ok(&a);
}

/// `openssl x509 -text` of a certificate file.
fn x509_text(cert: &Path) -> String {
    let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", s(cert)]);
    assert!(ok, "{text}");
    text
}

fn chain_of(env: &Env) -> std::path::PathBuf {
    env.pki.join("cas/issuing/ca.pem")
}

#[test]
fn every_certificate_a_ca_issues_carries_its_crl_and_aia_urls_and_stays_x509_strict() {
    let env = Env::new();
    hierarchy_with_urls(&env);
    env.ok(&["issue", "device-1", "-q"]);
    env.ok(&[
        "issue",
        "api",
        "--profile",
        "server",
        "--san",
        "dns:api.acme.test",
        "-q",
    ]);
    env.ok(&["renew", "device-1", "-q"]);
    let key = env.path("csr.key");
    let csr = env.path("csr.pem");
    openssl_p256_csr(&key, &csr, "/CN=sensor-9");
    env.ok(&["sign", s(&csr), "--name", "sensor-9", "-q"]);
    for name in ["device-1", "api", "sensor-9"] {
        let cert = env.cert_dir(name).join("cert.pem");
        let text = x509_text(&cert);
        assert!(
            text.contains("X509v3 CRL Distribution Points")
                && text.contains("URI:http://pki.acme.test/crl/issuing.crl"),
            "{name}: {text}"
        );
        assert!(
            text.contains("Authority Information Access")
                && text.contains("OCSP - URI:http://pki.acme.test/ocsp")
                && text.contains("CA Issuers - URI:http://pki.acme.test/ca/issuing.crt"),
            "{name}: {text}"
        );
        let purpose = if name == "api" {
            "sslserver"
        } else {
            "sslclient"
        };
        let (ok, out) = openssl_verify(&env.root_pem(), Some(&chain_of(&env)), &cert, purpose);
        assert!(ok, "{name}: {out}");
    }
    // The intermediate carries the root's URLs; the root its own.
    let text = x509_text(&chain_of(&env));
    assert!(
        text.contains("URI:http://pki.acme.test/crl/root.crl"),
        "{text}"
    );
    assert!(
        text.contains("CA Issuers - URI:http://pki.acme.test/ca/root.crt"),
        "{text}"
    );
    // inspect shows them.
    let shown = env.ok(&["inspect", s(&env.cert_dir("device-1").join("cert.pem"))]);
    assert!(
        shown.contains("http://pki.acme.test/crl/issuing.crl"),
        "{shown}"
    );
    assert!(shown.contains("http://pki.acme.test/ocsp"), "{shown}");
    let json = env.json(&["inspect", s(&env.cert_dir("device-1").join("cert.pem"))]);
    let text = json.to_string();
    assert!(
        text.contains("\"ocsp_urls\":[\"http://pki.acme.test/ocsp\"]"),
        "{text}"
    );
}

#[test]
fn ca_set_urls_changes_only_certificates_issued_afterwards_and_clear_removes_them() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "before", "-q"]);
    let out = env.ok(&[
        "ca",
        "set-urls",
        "issuing",
        "--crl-url",
        "http://pki.acme.test/issuing.crl",
        "--ocsp-url",
        "http://ocsp.acme.test/",
    ]);
    assert!(out.contains("http://ocsp.acme.test/"), "{out}");
    env.ok(&["issue", "after", "-q"]);
    let before = x509_text(&env.cert_dir("before").join("cert.pem"));
    let after = x509_text(&env.cert_dir("after").join("cert.pem"));
    assert!(!before.contains("CRL Distribution Points"), "{before}");
    assert!(!before.contains("Authority Information Access"), "{before}");
    assert!(
        after.contains("URI:http://pki.acme.test/issuing.crl"),
        "{after}"
    );
    assert!(
        after.contains("OCSP - URI:http://ocsp.acme.test/"),
        "{after}"
    );
    assert!(!after.contains("CA Issuers"), "{after}");
    // Only the OCSP URL given: the CRL URL stays.
    env.ok(&[
        "ca",
        "set-urls",
        "issuing",
        "--ocsp-url",
        "http://o2.acme.test/",
        "-q",
    ]);
    env.ok(&["issue", "later", "-q"]);
    let later = x509_text(&env.cert_dir("later").join("cert.pem"));
    assert!(
        later.contains("URI:http://pki.acme.test/issuing.crl"),
        "{later}"
    );
    assert!(later.contains("OCSP - URI:http://o2.acme.test/"), "{later}");
    env.ok(&["ca", "set-urls", "issuing", "--clear", "-q"]);
    env.ok(&["issue", "cleared", "-q"]);
    let cleared = x509_text(&env.cert_dir("cleared").join("cert.pem"));
    assert!(!cleared.contains("CRL Distribution Points"), "{cleared}");
    assert!(
        !cleared.contains("Authority Information Access"),
        "{cleared}"
    );
}

#[test]
fn unusable_urls_are_refused_and_change_nothing() {
    let env = Env::new();
    env.hierarchy();
    for (flag, url, says) in [
        (
            "--crl-url",
            "https://pki.acme.test/a.crl",
            "only http:// URLs are allowed",
        ),
        (
            "--ocsp-url",
            "ldap://pki.acme.test/x",
            "only http:// URLs are allowed",
        ),
        ("--crl-url", "http://pki acme/a.crl", "contains a space"),
        (
            "--ca-issuers-url",
            "http://pki.acme.test/ca.crt#x",
            "has a fragment",
        ),
        ("--ocsp-url", "http://pkí.acme.test/", "non-ASCII"),
        ("--crl-url", "http:///a.crl", "has no host"),
    ] {
        let err = refused(&env, &["ca", "set-urls", "issuing", flag, url]);
        assert!(err.contains(says), "{url}: {err}");
    }
    let err = refused(
        &env,
        &["ca", "set-urls", "nosuch", "--ocsp-url", "http://o/"],
    );
    assert!(err.contains("no CA named 'nosuch'"), "{err}");
    let err = refused(&env, &["ca", "set-urls", "issuing"]);
    assert!(err.contains("nothing to change"), "{err}");
    // A CA is not made with an unusable URL either.
    let err = refused(
        &env,
        &[
            "intermediate",
            "second",
            "--cn",
            "Second",
            "--no-passphrase",
            "--crl-url",
            "https://x/y.crl",
        ],
    );
    assert!(err.contains("only http:// URLs are allowed"), "{err}");
    let fresh = Env::new();
    let r = fresh.run(&[
        "init",
        "--cn",
        "R",
        "--no-passphrase",
        "--ocsp-url",
        "http://a b/",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!fresh.pki.exists(), "a refused init left a PKI directory");
}

#[test]
fn a_profile_with_revocation_urls_false_issues_certificates_without_them() {
    let env = Env::new();
    hierarchy_with_urls(&env);
    std::fs::create_dir_all(env.pki.join("templates")).unwrap();
    let device = include_str!("../templates/device.json").replace(
        "\"san_required_one_of\": []",
        "\"san_required_one_of\": [],\n  \"revocation_urls\": false",
    );
    assert!(device.contains("revocation_urls"));
    std::fs::write(env.pki.join("templates/quiet.json"), device).unwrap();
    env.ok(&["issue", "plain", "--profile", "quiet", "-q"]);
    let text = x509_text(&env.cert_dir("plain").join("cert.pem"));
    assert!(!text.contains("CRL Distribution Points"), "{text}");
    assert!(!text.contains("Authority Information Access"), "{text}");
}

#[test]
fn bootstrap_gives_each_ca_its_own_urls() {
    let env = Env::new();
    env.ok(&[
        "bootstrap",
        "--org",
        "Acme",
        "--no-passphrase",
        "--crl-url",
        CRL,
        "--ocsp-url",
        OCSP,
        "-q",
    ]);
    let device = x509_text(&env.cert_dir("device-001").join("cert.pem"));
    assert!(
        device.contains("URI:http://pki.acme.test/crl/issuing.crl"),
        "{device}"
    );
    assert!(
        device.contains("OCSP - URI:http://pki.acme.test/ocsp"),
        "{device}"
    );
    let inter = x509_text(&chain_of(&env));
    assert!(
        inter.contains("URI:http://pki.acme.test/crl/root.crl"),
        "{inter}"
    );
}

#[test]
fn an_uppercase_scheme_is_taken_as_http_and_refusals_quote_the_url_as_typed() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--no-passphrase",
        "-q",
        "--crl-url",
        "HTTP://pki.acme.test/crl/{ca}.crl",
    ]);
    env.ok(&["issue", "dev", "-q"]);
    let text = x509_text(&env.cert_dir("dev").join("cert.pem"));
    assert!(
        text.contains("URI:http://pki.acme.test/crl/root.crl"),
        "{text}"
    );
    let before = env.tree_hash();
    let err = refused(
        &env,
        &["ca", "set-urls", "root", "--crl-url", "https://x/{ca}.crl"],
    );
    assert!(err.contains("'https://x/{ca}.crl'"), "{err}");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn a_ca_name_outside_the_unreserved_characters_is_percent_encoded_in_its_urls() {
    let env = Env::new();
    hierarchy_with_urls(&env);
    env.ok(&[
        "intermediate",
        "p+q@r",
        "--cn",
        "PQR",
        "--no-passphrase",
        "-q",
        "--crl-url",
        CRL,
        "--ca-issuers-url",
        ISSUERS,
    ]);
    env.ok(&["issue", "dev", "--ca", "p+q@r", "-q"]);
    let text = x509_text(&env.cert_dir("dev").join("cert.pem"));
    assert!(
        text.contains("URI:http://pki.acme.test/crl/p%2Bq%40r.crl"),
        "{text}"
    );
    assert!(
        text.contains("URI:http://pki.acme.test/ca/p%2Bq%40r.crt"),
        "{text}"
    );
}
