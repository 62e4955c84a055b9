//! `verify` must agree with `openssl verify -x509_strict` on a matrix of
//! valid and broken chains, all at one fixed time. The odd cases (pathlen,
//! name constraints, tampered signature) are built here with rcgen and byte
//! edits, because certsmith itself refuses to make them.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};

use crate::common::*;
use crate::trust::ok_at;

/// The time every case is checked at.
const AT: &str = "2026-06-01T00:00:00Z";
const AT_EPOCH: &str = "1780272000";
/// When the hierarchy is made: the CAs are valid from here to 2032.
const MADE: &str = "2024-01-01T00:00:00Z";
const ISSUED: &str = "2026-01-01T00:00:00Z";

struct Case {
    name: &'static str,
    cert: PathBuf,
    chain: PathBuf,
    crls: Vec<PathBuf>,
    purpose: &'static str,
    /// None when valid; else a phrase certsmith's reason must contain.
    expect: Option<&'static str>,
}

fn hierarchy_at(env: &Env, org: &str) {
    let root = format!("{org} Root");
    let issuing = format!("{org} Issuing");
    ok_at(
        env,
        MADE,
        &[
            "init",
            "--cn",
            &root,
            "--validity",
            "10y",
            "--no-passphrase",
            "-q",
        ],
    );
    ok_at(
        env,
        MADE,
        &[
            "intermediate",
            "issuing",
            "--cn",
            &issuing,
            "--validity",
            "8y",
            "--no-passphrase",
            "-q",
        ],
    );
}

fn ca_issuer(env: &Env, ca: &str) -> Issuer<'static, KeyPair> {
    let dir = env.pki.join("cas").join(ca);
    let key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca.key.pem")).unwrap()).unwrap();
    Issuer::from_ca_cert_pem(&std::fs::read_to_string(dir.join("ca.pem")).unwrap(), key).unwrap()
}

fn params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.not_before = time::macros::datetime!(2026-01-01 00:00 UTC);
    p.not_after = time::macros::datetime!(2027-01-01 00:00 UTC);
    p.serial_number = Some(SerialNumber::from_slice(
        &certsmith::serial::random().unwrap(),
    ));
    p.use_authority_key_identifier_extension = true;
    p
}

fn leaf_params(cn: &str, sans: Vec<SanType>) -> CertificateParams {
    let mut p = params(cn);
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    p.subject_alt_names = sans;
    p
}

fn write(env: &Env, name: &str, pem: &str) -> PathBuf {
    let p = env.path(name);
    std::fs::write(&p, pem).unwrap();
    p
}

fn cat(env: &Env, name: &str, files: &[&Path]) -> PathBuf {
    let text: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    write(env, name, &text)
}

fn openssl_says(env: &Env, c: &Case) -> (bool, String) {
    let mut cmd = Command::new("openssl");
    cmd.args(["verify", "-x509_strict", "-attime", AT_EPOCH, "-purpose"])
        .arg(if c.purpose == "client" {
            "sslclient"
        } else {
            "sslserver"
        })
        .arg("-CAfile")
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(&c.chain);
    if !c.crls.is_empty() {
        let refs: Vec<&Path> = c.crls.iter().map(PathBuf::as_path).collect();
        cmd.arg("-crl_check_all")
            .arg("-CRLfile")
            .arg(cat(env, "all-crls.pem", &refs));
    }
    let out = cmd.arg(&c.cert).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn certsmith_says(env: &Env, c: &Case) -> (bool, String) {
    let root = env.root_pem();
    let mut args: Vec<String> = vec![
        "verify".into(),
        c.cert.display().to_string(),
        "--bundle".into(),
        root.display().to_string(),
        "--chain".into(),
        c.chain.display().to_string(),
        "--purpose".into(),
        c.purpose.into(),
        "--at".into(),
        AT.into(),
    ];
    for crl in &c.crls {
        args.push("--crl".into());
        args.push(crl.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = env.run(&refs);
    assert!(
        r.code == 0 || r.code == 1,
        "{}: exit {} {}",
        c.name,
        r.code,
        r.stderr
    );
    (r.code == 0, format!("{}{}", r.stdout, r.stderr))
}

#[test]
fn verify_agrees_with_openssl_on_the_matrix() {
    if !have("openssl") {
        panic!("openssl is required for this test");
    }
    let env = Env::new();
    hierarchy_at(&env, "Matrix");
    let issuing_pem = env.pki.join("cas/issuing/ca.pem");
    let issue = |now: &str, name: &str, extra: &[&str]| {
        let mut a = vec!["issue", name, "-q"];
        a.extend_from_slice(extra);
        ok_at(&env, now, &a);
        env.cert_dir(name).join("cert.pem")
    };
    let valid = issue(ISSUED, "valid", &[]);
    let expired = issue("2025-01-01T00:00:00Z", "expired", &["--validity", "30d"]);
    let early = issue("2027-01-01T00:00:00Z", "early", &[]);
    let server = issue(
        ISSUED,
        "api",
        &["--profile", "server", "--san", "dns:api.test"],
    );
    let revoked = issue(ISSUED, "stolen", &[]);
    ok_at(
        &env,
        "2026-02-01T00:00:00Z",
        &["revoke", "stolen", "--reason", "key-compromise"],
    );
    ok_at(
        &env,
        "2026-05-01T00:00:00Z",
        &["crl", "--next-update", "90d", "-q"],
    );
    let crls = vec![
        env.pki.join("cas/root/crl.pem"),
        env.pki.join("cas/issuing/crl.pem"),
    ];

    // A foreign PKI's device.
    let foreign = Env::new();
    hierarchy_at(&foreign, "Foreign");
    ok_at(&foreign, ISSUED, &["issue", "alien", "-q"]);
    let alien = foreign.cert_dir("alien").join("cert.pem");
    let alien_chain = foreign.pki.join("cas/issuing/ca.pem");

    // An impostor: another PKI whose CAs carry the very same names.
    let impostor = Env::new();
    hierarchy_at(&impostor, "Matrix");
    ok_at(&impostor, ISSUED, &["issue", "twin", "-q"]);
    let twin = impostor.cert_dir("twin").join("cert.pem");
    let twin_chain = impostor.pki.join("cas/issuing/ca.pem");

    // pathlen: 'issuing' has pathlen 0, yet a sub-CA below it signs a device.
    let sub_key = KeyPair::generate().unwrap();
    let mut sub = params("Rogue Sub CA");
    sub.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    sub.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let sub_cert = sub
        .signed_by(&sub_key, &ca_issuer(&env, "issuing"))
        .unwrap();
    let sub_issuer = Issuer::new(sub, sub_key);
    let deep_key = KeyPair::generate().unwrap();
    let deep = leaf_params("too-deep", vec![])
        .signed_by(&deep_key, &sub_issuer)
        .unwrap();
    let deep_path = write(&env, "deep.pem", &deep.pem());
    let deep_chain = write(
        &env,
        "deep-chain.pem",
        &format!(
            "{}{}",
            sub_cert.pem(),
            std::fs::read_to_string(&issuing_pem).unwrap()
        ),
    );

    // Name constraints: a CA limited to example.com signs evil.org.
    ok_at(
        &env,
        MADE,
        &[
            "intermediate",
            "narrow",
            "--cn",
            "Narrow CA",
            "--validity",
            "8y",
            "--permit-dns",
            "example.com",
            "--no-passphrase",
            "-q",
        ],
    );
    let evil_key = KeyPair::generate().unwrap();
    let evil = leaf_params(
        "evil",
        vec![SanType::DnsName("evil.org".try_into().unwrap())],
    )
    .signed_by(&evil_key, &ca_issuer(&env, "narrow"))
    .unwrap();
    let evil_path = write(&env, "evil.pem", &evil.pem());
    let narrow_pem = env.pki.join("cas/narrow/ca.pem");

    // A valid certificate with one bit of its signature flipped.
    let der = certsmith::certinfo::read_certs(&valid)
        .unwrap()
        .remove(0)
        .der;
    let mut bad = der.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let tampered = write(
        &env,
        "tampered.pem",
        &certsmith::keys::pem_encode("CERTIFICATE", &bad),
    );

    let case = |name, cert: &PathBuf, chain: &PathBuf, purpose, expect| Case {
        name,
        cert: cert.clone(),
        chain: chain.clone(),
        crls: Vec::new(),
        purpose,
        expect,
    };
    let mut cases = vec![
        case("valid", &valid, &issuing_pem, "client", None),
        case(
            "expired",
            &expired,
            &issuing_pem,
            "client",
            Some("expired on 2025-01-31"),
        ),
        case(
            "not yet valid",
            &early,
            &issuing_pem,
            "client",
            Some("is not valid before 2026-12-31"),
        ),
        case(
            "wrong purpose",
            &server,
            &issuing_pem,
            "client",
            Some("not valid for client authentication"),
        ),
        case("server as server", &server, &issuing_pem, "server", None),
        case(
            "revoked",
            &revoked,
            &issuing_pem,
            "client",
            Some("was revoked on 2026-02-01T00:00:00Z (reason key-compromise)"),
        ),
        case("valid with CRLs", &valid, &issuing_pem, "client", None),
        case(
            "unknown issuer",
            &alien,
            &alien_chain,
            "client",
            Some("no trusted issuer found"),
        ),
        case(
            "same-name impostor CA",
            &twin,
            &twin_chain,
            "client",
            Some("a re-keyed or mismatched root"),
        ),
        case(
            "pathlen violated",
            &deep_path,
            &deep_chain,
            "client",
            Some("path length constraint violated"),
        ),
        case(
            "name constraint violated",
            &evil_path,
            &narrow_pem,
            "client",
            Some("violates the name constraints"),
        ),
        case(
            "signature tampered",
            &tampered,
            &issuing_pem,
            "client",
            Some("bad signature"),
        ),
    ];
    cases[5].crls = crls.clone();
    cases[6].crls = crls;
    for c in &cases {
        let (ossl_ok, ossl_out) = openssl_says(&env, c);
        let (cs_ok, cs_out) = certsmith_says(&env, c);
        assert_eq!(
            cs_ok, ossl_ok,
            "case '{}': certsmith and openssl disagree\ncertsmith: {cs_out}\nopenssl: {ossl_out}",
            c.name
        );
        assert_eq!(
            cs_ok,
            c.expect.is_none(),
            "case '{}': {cs_out}\nopenssl: {ossl_out}",
            c.name
        );
        if let Some(phrase) = c.expect {
            assert!(
                cs_out.contains(phrase),
                "case '{}': expected '{phrase}' in: {cs_out}",
                c.name
            );
        }
    }
}

#[test]
fn verify_with_ca_uses_the_pki_root_and_its_published_crls() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    let cert = env.cert_dir("dev1").join("cert.pem");
    let cert = cert.to_str().unwrap();
    let out = env.ok(&["verify", cert, "--ca", "issuing", "--purpose", "client"]);
    assert!(
        out.contains("OK: 'CN=dev1' is valid for client use"),
        "{out}"
    );
    assert!(out.contains("CN=Test Root CA"), "{out}");
    env.ok(&["revoke", "dev1"]);
    // Not yet published: the PKI's CRLs do not list it.
    env.ok(&["verify", cert, "--ca", "issuing"]);
    env.ok(&["crl"]);
    let err = env.fails(1, &["verify", cert, "--ca", "issuing"]);
    assert!(err.contains("was revoked on"), "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&env.run(&["--json", "verify", cert]).stdout).unwrap();
    assert_eq!(v["valid"], false);
}

#[test]
fn verify_checks_the_dns_name() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "issue",
        "api",
        "--profile",
        "server",
        "--san",
        "dns:api.acme.test",
    ]);
    let cert = env.cert_dir("api").join("cert.pem");
    let cert = cert.to_str().unwrap();
    env.ok(&[
        "verify",
        cert,
        "--purpose",
        "server",
        "--dns",
        "api.acme.test",
    ]);
    let err = env.fails(
        1,
        &[
            "verify",
            cert,
            "--purpose",
            "server",
            "--dns",
            "www.acme.test",
        ],
    );
    assert!(
        err.contains("not valid for the name 'www.acme.test' (its DNS names: api.acme.test)"),
        "{err}"
    );
}

#[test]
fn missing_crl_of_a_ca_in_the_chain_means_unknown_status() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    env.ok(&["crl"]);
    let cert = env.cert_dir("dev1").join("cert.pem");
    let crl = env.pki.join("cas/issuing/crl.pem");
    let err = env.fails(
        1,
        &[
            "verify",
            cert.to_str().unwrap(),
            "--bundle",
            env.root_pem().to_str().unwrap(),
            "--chain",
            env.pki.join("cas/issuing/ca.pem").to_str().unwrap(),
            "--crl",
            crl.to_str().unwrap(),
        ],
    );
    assert!(err.contains("revocation status of 'CN=Test Issuing CA' is unknown: no CRL from its issuer 'CN=Test Root CA'"), "{err}");
}

#[test]
fn bad_verify_input_is_a_usage_error() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    let cert = env.cert_dir("dev1").join("cert.pem");
    let err = env.fails(2, &["verify", cert.to_str().unwrap(), "--at", "tomorrow"]);
    assert!(
        err.contains("--at 'tomorrow' is not an RFC 3339 time"),
        "{err}"
    );
    let err = env.fails(2, &["verify", cert.to_str().unwrap(), "--purpose", "email"]);
    assert!(err.contains("unknown purpose 'email'"), "{err}");
}

#[test]
fn verify_refuses_a_crl_with_bytes_after_it_instead_of_trusting_part_of_it() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    env.ok(&["crl"]);
    let cert = env.cert_dir("dev1").join("cert.pem");
    let der = env.path("crl.der");
    let mut bytes = openssl_der("crl", &env.pki.join("cas/issuing/crl.pem"), &der);
    bytes.extend_from_slice(b"junk");
    std::fs::write(&der, bytes).unwrap();
    let err = env.fails(
        2,
        &[
            "verify",
            cert.to_str().unwrap(),
            "--crl",
            der.to_str().unwrap(),
        ],
    );
    assert!(err.contains("trailing bytes after the CRL"), "{err}");
}
