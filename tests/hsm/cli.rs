//! The HSM flow end to end through the binary: CAs made in a SoftHSM2
//! token, certificates and CRLs signed there, refusals, offline CAs.

use super::{Hsm, PIN, key_files};
use crate::common::{Env, openssl, openssl_verify, run_child_test, s};

/// The four flags that put a new CA's key in `hsm`'s token.
pub(super) fn token_flags<'a>(hsm: &'a Hsm, uri: &'a str) -> Vec<&'a str> {
    vec![
        "--key-store",
        "pkcs11",
        "--pkcs11-module",
        hsm.module(),
        "--pkcs11-uri",
        uri,
        "--pin-file",
        hsm.pin_file(),
    ]
}

/// A PKI whose root and issuing CA (both `key`) live in token `acme-ca`.
fn token_pki(key: &str) -> Option<(Env, Hsm)> {
    let env = Env::new();
    let hsm = Hsm::new(&env, "acme-ca")?;
    let uri = hsm.uri("");
    let mut init = vec!["init", "--cn", "Token Root CA", "--key", key, "-q"];
    init.extend(token_flags(&hsm, &uri));
    hsm.ok(&env, &init);
    let mut inter = vec![
        "intermediate",
        "issuing",
        "--cn",
        "Token Issuing CA",
        "--key",
        key,
        "-q",
    ];
    inter.extend(token_flags(&hsm, &uri));
    hsm.ok(&env, &inter);
    Some((env, hsm))
}

fn issue_server_and_device(env: &Env, hsm: &Hsm) {
    let pin = hsm.pin_file();
    hsm.ok(
        env,
        &[
            "issue",
            "api",
            "--profile",
            "server",
            "--san",
            "dns:api.test.internal",
            "--pin-file",
            pin,
            "-q",
        ],
    );
    hsm.ok(env, &["issue", "dev-1", "--pin-file", pin, "-q"]);
}

fn verify_leaves(env: &Env) {
    let chain = env.pki.join("cas/issuing/ca.pem");
    for (name, purpose) in [("api", "sslserver"), ("dev-1", "sslclient")] {
        let (ok, out) = openssl_verify(
            &env.root_pem(),
            Some(&chain),
            &env.cert_dir(name).join("cert.pem"),
            purpose,
        );
        assert!(ok, "{name}: {out}");
    }
}

#[test]
fn token_root_and_intermediate_sign_leaves_that_openssl_and_rustls_accept_with_no_ca_key_file() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    issue_server_and_device(&env, &hsm);
    verify_leaves(&env);
    let r = crate::handshake::handshake(
        &env.root_pem(),
        &env.cert_dir("api"),
        &env.root_pem(),
        Some(&env.cert_dir("dev-1")),
    );
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        key_files(&env.pki.join("cas")),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn loading_a_token_ca_makes_no_signature_so_issuing_makes_exactly_one() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    // The second token signature of the process fails: issuing succeeds
    // only if loading the CA signed nothing with the token key.
    let r = hsm.run_with(
        &env,
        &["issue", "dev-1", "--pin-file", hsm.pin_file(), "-q"],
        &[("CERTSMITH_TEST_FAIL_AT", "token-sign@2")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = env.tree_hash();
    let r = hsm.run_with(
        &env,
        &["issue", "dev-2", "--pin-file", hsm.pin_file(), "-q"],
        &[("CERTSMITH_TEST_FAIL_AT", "token-sign@1")],
    );
    assert_ne!(r.code, 0, "the failing token signature went unnoticed");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn token_private_key_is_sensitive_never_extractable_and_cannot_be_read() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    let (ok, out) = hsm.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("label:      root") && out.contains("label:      issuing"),
        "{out}"
    );
    let accesses: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("Access:"))
        .collect();
    assert_eq!(accesses.len(), 2, "{out}");
    for a in accesses {
        assert!(
            a.contains("sensitive") && a.contains("never extractable"),
            "{a}"
        );
    }
    let usages: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("Usage:"))
        .collect();
    for u in usages {
        assert_eq!(u.trim(), "Usage:      sign", "a CA key must only sign: {u}");
    }
    // Asking the token itself for CKA_VALUE (pkcs11-tool does not even try):
    // a child process of this test binary, with the token's SOFTHSM2_CONF.
    let text = run_child_test(
        "hsm::cli::child_reads_the_private_key_value",
        &[
            ("SOFTHSM2_CONF", hsm.conf.as_os_str()),
            ("HSM_CHILD_MODULE", hsm.module.as_os_str()),
        ],
        env.dir.path(),
    );
    assert!(
        text.contains("private key value refused by the token"),
        "{text}"
    );
}

/// The child half of the test above: reads CKA_VALUE of the token's root
/// key through PKCS#11 directly and expects the token to refuse it.
#[test]
#[ignore = "run by token_private_key_is_sensitive_never_extractable_and_cannot_be_read in a child process"]
fn child_reads_the_private_key_value() {
    use cryptoki::object::{Attribute, AttributeType, ObjectClass};
    let Some(module) = std::env::var_os("HSM_CHILD_MODULE") else {
        return;
    };
    let ctx = cryptoki::context::Pkcs11::new(module).unwrap();
    ctx.initialize(cryptoki::context::CInitializeArgs::new(
        cryptoki::context::CInitializeFlags::OS_LOCKING_OK,
    ))
    .unwrap();
    let slot = ctx
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label().trim_end() == "acme-ca")
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    session
        .login(cryptoki::session::UserType::User, Some(&PIN.into()))
        .unwrap();
    let keys = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"root".to_vec()),
        ])
        .unwrap();
    assert_eq!(keys.len(), 1);
    let flags = session
        .get_attributes(
            keys[0],
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
            ],
        )
        .unwrap();
    assert!(flags.contains(&Attribute::Sensitive(true)), "{flags:?}");
    assert!(flags.contains(&Attribute::Extractable(false)), "{flags:?}");
    assert!(
        flags.contains(&Attribute::NeverExtractable(true)),
        "{flags:?}"
    );
    match session.get_attributes(keys[0], &[AttributeType::Value]) {
        Ok(v) if v.iter().any(|a| matches!(a, Attribute::Value(_))) => {
            panic!("the token handed out the private key value")
        }
        Ok(_) => println!("private key value refused by the token (unavailable)"),
        Err(e) => println!("private key value refused by the token ({e})"),
    }
}

#[test]
fn crl_signed_through_the_token_verifies_with_openssl() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    issue_server_and_device(&env, &hsm);
    hsm.ok(
        &env,
        &["revoke", "dev-1", "--reason", "key-compromise", "-q"],
    );
    hsm.ok(&env, &["crl", "--pin-file", hsm.pin_file(), "-q"]);
    for (ca, issuer) in [
        ("issuing", env.pki.join("cas/issuing/ca.pem")),
        ("root", env.root_pem()),
    ] {
        let crl = env.pki.join(format!("cas/{ca}/crl.pem"));
        let (ok, out) = openssl(&[
            "crl",
            "-noout",
            "-verify",
            "-in",
            s(&crl),
            "-CAfile",
            s(&issuer),
        ]);
        assert!(ok && out.contains("verify OK"), "{ca}: {out}");
    }
}

#[test]
fn p384_and_rsa_token_cas_sign_certificates_openssl_verifies() {
    for key in ["ecdsa-p384", "rsa-2048"] {
        let Some((env, hsm)) = token_pki(key) else {
            return;
        };
        issue_server_and_device(&env, &hsm);
        verify_leaves(&env);
        let (ok, out) = openssl(&["x509", "-noout", "-text", "-in", s(&env.root_pem())]);
        let want = if key == "rsa-2048" {
            "Public-Key: (2048 bit)"
        } else {
            "NIST CURVE: P-384"
        };
        assert!(ok && out.contains(want), "{key}: {out}");
    }
}

#[test]
fn existing_token_key_named_by_object_becomes_the_root_key() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    hsm.p256_key_pair("root-2026", "2026");
    let uri = hsm.uri(";object=root-2026");
    hsm.init_root(&env, "Token Root CA", &uri);
    hsm.issue_verified(&env, "dev-1", "root");
    let status = env.ok(&["status"]);
    assert!(
        status.contains("object=root-2026") && status.contains("id=%20%26"),
        "{status}"
    );
}

#[test]
fn wrong_pin_missing_module_missing_object_and_removed_token_are_refused_in_one_line() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    // A copy of the module, so the test can take the "token" away.
    let module = env.path("softhsm-copy.so");
    std::fs::copy(&hsm.module, &module).unwrap();
    let uri = hsm.uri("");
    hsm.init_root_with_module(&env, "Token Root CA", &uri, &module);
    let wrong = env.path("wrong.pin");
    std::fs::write(&wrong, "000000\n").unwrap();
    let err = hsm.refused(&env, &["issue", "dev-1", "--pin-file", s(&wrong)], &[]);
    assert!(
        err.contains("wrong user PIN for PKCS#11 token 'acme-ca'"),
        "{err}"
    );
    let err = hsm.refused(
        &env,
        &["issue", "dev-1"],
        &[("CERTSMITH_PKCS11_PIN", "999999")],
    );
    assert!(err.contains("wrong user PIN"), "{err}");
    let err = hsm.refused(&env, &["issue", "dev-1"], &[]);
    assert!(
        err.contains("needs its user PIN") && err.contains("--pin-file"),
        "{err}"
    );
    // A second root whose object is not in the token, and a missing module.
    let env2 = Env::new();
    let missing = hsm.uri(";object=nope");
    let mut init = vec!["init", "--cn", "Other Root", "-q"];
    init.extend(token_flags(&hsm, &missing));
    let err = hsm.refused(&env2, &init, &[]);
    assert!(
        err.contains("holds no private key matching") && err.contains("object=nope"),
        "{err}"
    );
    let mut init = vec!["init", "--cn", "Other Root", "-q"];
    init.extend(token_flags(&hsm, &uri));
    let i = init.len() - 5;
    init[i] = "/nonexistent/libpkcs11.so";
    let err = hsm.refused(&env2, &init, &[]);
    assert!(
        err.contains("PKCS#11 module '/nonexistent/libpkcs11.so' does not exist"),
        "{err}"
    );
    // The token is taken away: its module path no longer exists.
    std::fs::rename(&module, env.path("unplugged.so")).unwrap();
    let err = hsm.refused(&env, &["issue", "dev-1", "--pin-file", hsm.pin_file()], &[]);
    assert!(err.contains("softhsm-copy.so' does not exist"), "{err}");
}

#[test]
fn batch_of_1000_from_a_token_intermediate_verifies() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    let r = hsm.run(
        &env,
        &[
            "--json",
            "batch",
            "--count",
            "1000",
            "--pin-file",
            hsm.pin_file(),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(summary["issued"], 1000, "{summary}");
    let mut args = vec![
        "verify".to_string(),
        "-x509_strict".into(),
        "-purpose".into(),
        "sslclient".into(),
        "-CAfile".into(),
        s(&env.root_pem()).into(),
        "-untrusted".into(),
        s(&env.pki.join("cas/issuing/ca.pem")).into(),
    ];
    for i in 1..=1000 {
        args.push(s(&env.cert_dir(&format!("device-{i:06}")).join("cert.pem")).into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = openssl(&args);
    assert!(ok, "{}", &out[..out.len().min(2000)]);
    assert_eq!(out.matches(": OK").count(), 1000);
}

#[test]
fn offline_root_is_skipped_by_crl_reported_by_doctor_and_refused_by_what_needs_it() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    hsm.ok(&env, &["key", "offline", "root"]);
    let r = hsm.run(&env, &["crl", "--pin-file", hsm.pin_file()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("note: ") && r.stderr.contains("'root' is offline"),
        "{}",
        r.stderr
    );
    assert!(env.pki.join("cas/issuing/crl.pem").exists());
    assert!(!env.pki.join("cas/root/crl.pem").exists());
    let r = hsm.run(&env, &["doctor", "--pin-file", hsm.pin_file()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("offline"), "{}", r.stdout);
    let mut inter = vec!["intermediate", "edge", "--cn", "Edge CA", "-q"];
    let uri = hsm.uri("");
    inter.extend(token_flags(&hsm, &uri));
    let err = hsm.refused(&env, &inter, &[]);
    assert!(err.starts_with("certsmith: CA 'root' is offline"), "{err}");
    hsm.ok(&env, &["key", "online", "root"]);
    hsm.ok(
        &env,
        &["crl", "--ca", "root", "--pin-file", hsm.pin_file(), "-q"],
    );
}

#[test]
fn status_inspect_and_doctor_show_where_each_ca_key_lives_and_doctor_checks_the_token() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    let status = env.ok(&["status"]);
    assert!(
        status.contains("pkcs11:token=acme-ca;object=root"),
        "{status}"
    );
    let j = env.json(&["status"]);
    assert!(
        j.to_string()
            .contains("pkcs11:token=acme-ca;object=issuing"),
        "{j}"
    );
    let inspect = env.ok(&["inspect", s(&env.root_pem())]);
    assert!(
        inspect.contains("pkcs11:token=acme-ca;object=root"),
        "{inspect}"
    );
    let out = hsm.ok(&env, &["doctor", "--pin-file", hsm.pin_file()]);
    assert!(out.contains("token key matches"), "{out}");
    assert!(!out.contains(PIN));
}

#[test]
fn istio_cacerts_of_a_token_ca_is_refused() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    let err = hsm.refused(
        &env,
        &[
            "bundle",
            "--target",
            "istio",
            "--ca",
            "issuing",
            "--pin-file",
            hsm.pin_file(),
        ],
        &[],
    );
    assert!(
        err.contains("is held in PKCS#11 token 'acme-ca' and cannot be exported"),
        "{err}"
    );
}

#[test]
fn bootstrap_makes_both_ca_keys_in_the_token_and_signs_its_first_certificate_there() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let uri = hsm.uri("");
    let mut args = vec!["bootstrap", "--yes", "-q"];
    args.extend(token_flags(&hsm, &uri));
    hsm.ok(&env, &args);
    assert_eq!(
        key_files(&env.pki.join("cas")),
        Vec::<std::path::PathBuf>::new()
    );
    let chain = env.pki.join("cas/issuing/ca.pem");
    let cert = env.cert_dir("device-001").join("cert.pem");
    let (ok, out) = openssl_verify(&env.root_pem(), Some(&chain), &cert, "sslclient");
    assert!(ok, "{out}");
    let (ok, out) = hsm.pkcs11_tool(&["--list-objects", "--type", "privkey"]);
    assert!(
        ok && out.contains("label:      root") && out.contains("label:      issuing"),
        "{out}"
    );
}

#[test]
fn change_passphrase_of_a_token_ca_is_refused() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    let err = hsm.refused(
        &env,
        &["key", "change-passphrase", "root", "--no-passphrase"],
        &[],
    );
    assert!(
        err.contains("is held in PKCS#11 token 'acme-ca' and has no passphrase"),
        "{err}"
    );
}

#[test]
fn token_flags_that_contradict_each_other_are_refused_before_anything_is_made() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let err = hsm.refused(
        &env,
        &[
            "init",
            "--cn",
            "R",
            "--key-store",
            "pkcs11",
            "--pin-file",
            hsm.pin_file(),
        ],
        &[],
    );
    assert!(
        err.contains("--key-store pkcs11 needs --pkcs11-uri"),
        "{err}"
    );
    let err = hsm.refused(
        &env,
        &[
            "init",
            "--cn",
            "R",
            "--no-passphrase",
            "--pkcs11-uri",
            "pkcs11:token=acme-ca",
        ],
        &[],
    );
    assert!(
        err.contains("--pkcs11-uri needs --key-store pkcs11"),
        "{err}"
    );
    let err = hsm.refused(
        &env,
        &[
            "init",
            "--cn",
            "R",
            "--key-store",
            "pkcs11",
            "--pkcs11-uri",
            "pkcs11:token=acme-ca;pin-value=246810",
        ],
        &[],
    );
    assert!(err.contains("never stores or accepts a PIN"), "{err}");
    let (ok, out) = hsm.pkcs11_tool(&["--list-objects"]);
    assert!(
        ok && !out.contains("Private Key Object"),
        "a refused init left a key in the token: {out}"
    );
}

#[test]
fn token_key_of_a_ca_that_failed_to_be_made_is_removed_from_the_token() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let uri = hsm.uri("");
    let mut init = vec!["init", "--cn", "Token Root CA", "-q"];
    init.extend(token_flags(&hsm, &uri));
    let r = hsm.run_with(&env, &init, &[("CERTSMITH_TEST_FAIL_AT", "token-sign@1")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!env.pki.exists(), "a failed init left the PKI directory");
    let (ok, out) = hsm.pkcs11_tool(&["--list-objects"]);
    assert!(
        ok && !out.contains("label:      root"),
        "the key of the failed CA stayed in the token: {out}"
    );
    // The name is free in the token again: the same init now succeeds.
    hsm.ok(&env, &init);
}

#[test]
fn no_sync_is_refused_for_a_token_held_ca_key_and_changes_nothing() {
    let Some((env, hsm)) = token_pki("ecdsa-p256") else {
        return;
    };
    let pin = hsm.pin_file();
    let before = env.tree_hash();
    for args in [
        vec!["batch", "--count", "2", "--no-sync", "--pin-file", pin],
        vec!["issue", "dev-1", "--no-sync", "--pin-file", pin],
    ] {
        let r = hsm.run(&env, &args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("a key in a token"), "{}", r.stderr);
        assert_eq!(env.tree_hash(), before, "{args:?} changed the PKI");
    }
}
