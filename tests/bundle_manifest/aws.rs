//! The AWS targets as AWS documents them: IoT's registration commands and
//! verification certificates, the ALB's passthrough header read by
//! `verify --alb-header`, RSASSA-PSS signatures, the positive-serial rule on
//! CRL entries, a stale CRL as a warning, and API Gateway's depth,
//! duplicate subjects and printed steps.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::*;

/// root → issuing, a device, CRLs published.
fn ready() -> Env {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    env.ok(&["crl", "-q"]);
    env
}

fn read(p: std::path::PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn code() -> String {
    "a1b2".repeat(16)
}

#[test]
fn aws_iot_prints_default_and_sni_only_registrations_with_the_documented_flags() {
    let env = ready();
    let out = env.ok(&[
        "bundle",
        "--target",
        "aws-iot",
        "--registration-code",
        &code(),
    ]);
    let d = env.pki.join("bundles/aws-iot");
    let default = format!(
        "aws iot register-ca-certificate --ca-certificate file://{}/ca-cert.pem --verification-certificate file://{}/verification-cert.pem --set-as-active",
        d.display(),
        d.display()
    );
    assert!(out.contains(&format!("{default}\n")), "{out}");
    assert!(!out.contains("--verification-cert "), "{out}");
    assert!(!out.contains("--allow-auto-registration"), "{out}");
    assert!(
        out.contains(&format!(
            "aws iot register-ca-certificate --ca-certificate file://{}/ca-cert.pem --certificate-mode SNI_ONLY --set-as-active",
            d.display()
        )),
        "{out}"
    );
    // Auto-registration only when asked, with what it leaves to do.
    let out = env.ok(&[
        "bundle",
        "--target",
        "aws-iot",
        "--registration-code",
        &code(),
        "--allow-auto-registration",
    ]);
    assert!(
        out.contains(&format!("{default} --allow-auto-registration")),
        "{out}"
    );
    assert!(out.contains("PENDING_ACTIVATION"), "{out}");
    // Without a code: the code's command and certsmith's own, with --pki kept.
    let out = env.ok(&["bundle", "--target", "aws-iot"]);
    assert!(
        out.contains(&format!(
            "certsmith --pki {} bundle --target aws-iot --ca issuing --registration-code CODE",
            env.pki.display()
        )),
        "{out}"
    );
}

#[test]
fn aws_iot_takes_a_0x_registration_code_and_signs_the_bare_code() {
    let env = ready();
    env.ok(&[
        "bundle",
        "--target",
        "aws-iot",
        "--registration-code",
        &format!("0x{}", code()),
    ]);
    let vc = env.pki.join("bundles/aws-iot/verification-cert.pem");
    let (ok, subject) = openssl(&["x509", "-noout", "-subject", "-in", vc.to_str().unwrap()]);
    assert!(ok, "{subject}");
    assert_eq!(subject.trim(), format!("subject=CN = {}", code()));
}

#[test]
fn aws_iot_needs_ca_among_several_issuing_cas_and_signs_one_verification_certificate_each() {
    let env = ready();
    env.ok(&[
        "intermediate",
        "fleet-b",
        "--cn",
        "Fleet B CA",
        "--no-passphrase",
        "-q",
    ]);
    let before = env.tree_hash();
    let err = env.fails(
        2,
        &[
            "bundle",
            "--target",
            "aws-iot",
            "--registration-code",
            &code(),
        ],
    );
    assert!(
        err.contains("certsmith: target aws-iot registers one CA per verification certificate, and this PKI has several issuing CAs: 'fleet-b', 'issuing'"),
        "{err}"
    );
    assert!(
        err.contains("hint: ") && err.contains("--ca issuing"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
    let out = env.ok(&[
        "bundle",
        "--target",
        "aws-iot",
        "--registration-code",
        &code(),
        "--ca",
        "issuing",
        "--ca",
        "fleet-b",
    ]);
    let d = env.pki.join("bundles/aws-iot");
    for ca in ["issuing", "fleet-b"] {
        let vc = d.join(format!("verification-cert-{ca}.pem"));
        let cert = d.join(format!("ca-cert-{ca}.pem"));
        assert_eq!(
            read(cert.clone()),
            read(env.pki.join(format!("cas/{ca}/ca.pem")))
        );
        let (ok, o) = openssl(&[
            "verify",
            "-partial_chain",
            "-CAfile",
            cert.to_str().unwrap(),
            vc.to_str().unwrap(),
        ]);
        assert!(ok, "{ca}: {o}");
        assert!(
            out.contains(&format!(
                "--ca-certificate file://{}/ca-cert-{ca}.pem --verification-certificate file://{}/verification-cert-{ca}.pem",
                d.display(),
                d.display()
            )),
            "{out}"
        );
    }
}

#[test]
fn aws_iot_with_crl_warns_that_iot_reads_no_crl_and_writes_none() {
    let env = ready();
    let r = env.run(&["bundle", "--target", "aws-iot", "--with-crl"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("aws-iot rule 'no-crl-support'")
            && r.stdout.contains("AWS IoT reads no CRL")
            && r.stdout.contains("aws iot update-certificate"),
        "{}",
        r.stdout
    );
    assert!(
        !std::fs::read_dir(env.pki.join("bundles/aws-iot"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains("crl")),
    );
}

/// An openssl-made self-signed CA with extra `req` flags; returns its PEM.
fn openssl_ca(env: &Env, name: &str, extra: &[&str]) -> String {
    let out = env.path(&format!("{name}.pem"));
    let key = env.path(&format!("{name}.key"));
    let st = Command::new("openssl")
        .args(["req", "-x509", "-nodes", "-days", "30", "-subj"])
        .arg(format!("/CN={name}"))
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

/// `verify dev1 --bundle TEXT --target T` (with `extra` args); (code, stdout, stderr).
fn check_text(env: &Env, target: &str, text: &str, extra: &[&str]) -> (i32, String, String) {
    let f = env.path("candidate.pem");
    std::fs::write(&f, text).unwrap();
    let cert = env.cert_dir("dev1").join("cert.pem");
    let mut args = vec![
        "verify",
        cert.to_str().unwrap(),
        "--bundle",
        f.to_str().unwrap(),
        "--target",
        target,
    ];
    args.extend_from_slice(extra);
    let r = env.run(&args);
    (r.code, r.stdout, r.stderr)
}

fn ca_pems(env: &Env) -> String {
    read(env.pki.join("cas/issuing/ca.pem")) + &read(env.root_pem())
}

#[test]
fn aws_alb_and_iot_accept_rsassa_pss_with_sha2_and_refuse_it_with_sha1() {
    let env = ready();
    for (hash, ok) in [
        ("-sha256", true),
        ("-sha384", true),
        ("-sha512", true),
        ("-sha1", false),
    ] {
        let pss = openssl_ca(
            &env,
            &format!("Pss{hash} CA"),
            &[
                "-newkey",
                "rsa:2048",
                hash,
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:-1",
            ],
        );
        for t in ["aws-alb", "aws-iot"] {
            let (code, _, err) = check_text(&env, t, &(ca_pems(&env) + &pss), &[]);
            if ok {
                assert_eq!(code, 0, "{t} {hash}: {err}");
            } else {
                assert_eq!(code, 1, "{t} {hash}: {err}");
                assert!(
                    err.contains("rule 'signature-algorithm'")
                        && err.contains("is signed with rsassa-pss with SHA-1"),
                    "{t} {hash}: {err}"
                );
            }
        }
    }
}

#[test]
fn aws_alb_refuses_a_crl_listing_a_negative_serial() {
    let env = ready();
    // An openssl CA whose CRL lists serial -05 (openssl reads index.txt serials with a sign).
    let ca = openssl_ca(
        &env,
        "NegCrl CA",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    std::fs::write(
        env.path("index.txt"),
        "R\t301231000000Z\t251201000000Z\t-05\tunknown\t/CN=x\n",
    )
    .unwrap();
    std::fs::write(env.path("crlnumber"), "01\n").unwrap();
    std::fs::write(
        env.path("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\ndefault_crl_days = 3650\n",
    )
    .unwrap();
    let crl = env.path("neg.crl.pem");
    let st = Command::new("openssl")
        .current_dir(env.dir.path())
        .args([
            "ca",
            "-config",
            "ca.cnf",
            "-gencrl",
            "-keyfile",
            "NegCrl CA.key",
            "-cert",
            "NegCrl CA.pem",
            "-out",
        ])
        .arg(&crl)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let text = ca_pems(&env) + &ca;
    let (code, _, err) = check_text(&env, "aws-alb", &text, &["--crl", crl.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("aws-alb rule 'positive-serial': the CRL of 'CN=NegCrl CA' lists serial -05"),
        "{err}"
    );
}

#[test]
fn aws_alb_bundles_with_a_stale_crl_with_a_warning_and_a_placeholder_name() {
    let env = Env::new();
    let t0 = "2026-12-01T00:00:00Z";
    let run = |now: &str, args: &[&str]| {
        let r = env
            .command(args)
            .env("CERTSMITH_NOW", now)
            .output()
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&r.stdout).into_owned(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        );
        assert_eq!(r.status.code(), Some(0), "{args:?}: {out}{err}");
        out
    };
    run(
        t0,
        &["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
    );
    run(
        t0,
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Test Issuing CA",
            "--no-passphrase",
            "-q",
        ],
    );
    run(t0, &["crl", "--ca", "root", "-q"]);
    run(t0, &["crl", "--ca", "issuing", "--next-update", "1d", "-q"]);
    // Three days on, the issuing CA's CRL is past nextUpdate: AWS documents
    // no such check, so the bundle is written with a warning.
    let out = run(
        "2026-12-04T00:00:00Z",
        &["bundle", "--target", "aws-alb", "--with-crl"],
    );
    assert!(
        out.contains("warning: aws-alb rule 'crl-fresh': the CRL of 'CN=Test Issuing CA' expired on 2026-12-02T00:00:00Z"),
        "{out}"
    );
    assert!(
        out.contains("aws elbv2 create-trust-store --name TRUST_STORE_NAME "),
        "{out}"
    );
}

#[test]
fn aws_apigw_takes_a_root_and_three_intermediates_and_refuses_four() {
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
    let mut issuer = "root".to_string();
    for (i, pathlen) in [(1, "3"), (2, "2"), (3, "1"), (4, "0")] {
        let name = format!("l{i}");
        env.ok(&[
            "intermediate",
            &name,
            "--issuer",
            &issuer,
            "--cn",
            &format!("L{i}"),
            "--pathlen",
            pathlen,
            "--clamp",
            "--no-passphrase",
            "-q",
        ]);
        issuer = name;
    }
    env.ok(&["bundle", "--target", "aws-apigw", "--ca", "l3"]);
    let err = env.fails(1, &["bundle", "--target", "aws-apigw", "--ca", "l4"]);
    assert!(
        err.contains("aws-apigw rule 'chain-depth': the bundle holds a chain of 5 CA certificates; the limit is 4"),
        "{err}"
    );
}

#[test]
fn aws_apigw_warns_on_two_cas_with_one_subject_and_prints_the_documented_steps() {
    let env = ready();
    env.ok(&[
        "intermediate",
        "twin",
        "--cn",
        "Test Issuing CA",
        "--no-passphrase",
        "-q",
    ]);
    let out = env.ok(&["bundle", "--target", "aws-apigw", "--accept-ca-change"]);
    assert!(
        out.contains("warning: aws-apigw rule 'duplicate-subject'")
            && out.contains("'CN=Test Issuing CA'"),
        "{out}"
    );
    for needle in [
        "aws apigatewayv2 get-domain-name --domain-name api.example.com --query MutualTlsAuthentication.TruststoreWarnings",
        "aws apigateway get-domain-name --domain-name api.example.com --query mutualTlsAuthentication.truststoreWarnings",
        "aws s3api head-object --bucket BUCKET --key truststore.pem --query VersionId --output text",
        "aws apigateway update-domain-name --domain-name api.example.com --patch-operations op=replace,path=/mutualTlsAuthentication/truststoreVersion,value=VERSION_ID",
        "TruststoreVersion=VERSION_ID",
        "--ownership-verification-certificate-arn",
    ] {
        assert!(out.contains(needle), "missing {needle}: {out}");
    }
}

/// The `X-Amzn-Mtls-Clientcert` value an ALB in passthrough mode sends for
/// `pem`: URL-encoded, with `+`, `=` and `/` left as they are.
fn alb_header(pem: &str) -> String {
    let mut s = String::new();
    for b in pem.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~+=/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[test]
fn verify_reads_an_alb_passthrough_header_with_the_same_rules_and_crls() {
    let env = ready();
    env.ok(&["issue", "dev-stolen", "-q"]);
    env.ok(&[
        "issue",
        "web",
        "--profile",
        "server",
        "--san",
        "dns:web.example.com",
        "-q",
    ]);
    env.ok(&["revoke", "dev-stolen"]);
    env.ok(&["crl", "-q"]);
    env.ok(&[
        "bundle",
        "--target",
        "aws-alb",
        "--with-crl",
        "--accept-ca-change",
    ]);
    let b = env.pki.join("bundles/aws-alb");
    let bundle = b.join("ca-bundle.pem");
    let header = |name: &str| {
        let f = env.path(&format!("{name}.header"));
        std::fs::write(
            &f,
            alb_header(&read(env.cert_dir(name).join("fullchain.pem"))),
        )
        .unwrap();
        f
    };
    let crls = [b.join("crl-issuing.pem"), b.join("crl-root.pem")];
    let args = |h: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = [
            "verify",
            "--alb-header",
            h.to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "--purpose",
            "client",
            "--target",
            "aws-alb",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for c in &crls {
            v.push("--crl".into());
            v.push(c.to_str().unwrap().into());
        }
        v
    };
    let run = |h: &std::path::Path| {
        let a = args(h);
        env.run(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let ok = run(&header("dev1"));
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("OK: 'CN=dev1' is valid for client use")
            && ok.stdout.contains("not revoked"),
        "{}",
        ok.stdout
    );
    let revoked = run(&header("dev-stolen"));
    assert_eq!(revoked.code, 1, "{}", revoked.stderr);
    assert!(revoked.stderr.contains("revoked"), "{}", revoked.stderr);
    let server = run(&header("web"));
    assert_eq!(server.code, 1, "{}", server.stderr);
    assert!(
        server
            .stderr
            .contains("not valid for client authentication"),
        "{}",
        server.stderr
    );
    // From stdin, as a backend shells out: `-`.
    let mut a = args(std::path::Path::new("-"));
    a.insert(0, env.pki.to_str().unwrap().to_string());
    a.insert(0, "--pki".into());
    let mut child = certsmith()
        .args(&a)
        .current_dir(env.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(read(header("dev1")).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not a header: said so, exit 2.
    let junk = env.path("junk.header");
    std::fs::write(&junk, "%ZZnot a certificate").unwrap();
    let r = run(&junk);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("certsmith: the X-Amzn-Mtls-Clientcert value in"),
        "{}",
        r.stderr
    );
}

#[test]
fn aws_alb_warns_when_the_ca_subjects_pass_the_subject_size_quota() {
    let env = ready();
    let out = env.ok(&["bundle", "--target", "aws-alb"]);
    assert!(!out.contains("ca-subject-size"), "{out}");
    // Twenty CAs whose subjects fill CN, O, OU (64 characters each), L and
    // ST (128 each): about 500 DER bytes a subject, 10,000 more in all.
    let long = |n: usize| "x".repeat(n);
    for i in 0..20 {
        env.ok(&[
            "intermediate",
            &format!("wide-{i}"),
            "--subject",
            &format!(
                "CN=Wide {i:02}{},O={},OU={},L={},ST={}",
                long(56),
                long(64),
                long(64),
                long(128),
                long(128)
            ),
            "--no-passphrase",
            "-q",
        ]);
    }
    let out = env.ok(&["bundle", "--target", "aws-alb", "--accept-ca-change"]);
    assert!(
        out.contains(
            "warning: aws-alb rule 'ca-subject-size': the CA subjects of the bundle add up to "
        ) && out
            .contains("the default quota \"CA certificate subject size per trust store\" is 10000"),
        "{out}"
    );
    assert!(env.pki.join("bundles/aws-alb/ca-bundle.pem").exists());
}

#[test]
fn a_self_signed_pss_root_with_an_mgf1_hash_certsmith_cannot_check_is_named_so_at_import() {
    if !have("openssl") {
        assert!(std::env::var_os("CI").is_none(), "openssl is missing");
        return;
    }
    let env = Env::new();
    let key = env.path("ca.key");
    let cert = env.path("ca.crt");
    let (ok, text) = openssl(&["genrsa", "-out", s(&key), "2048"]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&key),
        "-subj",
        "/CN=PSS Root2",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_mgf1_md:sha1",
        "-days",
        "365",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        s(&cert),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&["verify", "-CAfile", s(&cert), s(&cert)]);
    assert!(ok, "OpenSSL itself accepts it: {text}");
    let err = env.fails(
        2,
        &[
            "init",
            "--import-cert",
            s(&cert),
            "--import-key",
            s(&key),
            "--no-passphrase",
        ],
    );
    assert!(!err.contains("is not a self-signed root"), "{err}");
    assert!(
        err.contains("names itself as its issuer, but certsmith cannot check its signature"),
        "{err}"
    );
    assert!(!err.contains("certsmith intermediate"), "{err}");
    assert!(!env.pki.join("ledger.db").exists());
}
