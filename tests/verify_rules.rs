//! One test per class of `verify` decision that issue 15 found wrong, each
//! on the x509-limbo case that shows it (tests/data/limbo/limbo.json), run
//! through the shipped binary at the case's own time.

use std::path::PathBuf;

use crate::common::*;

/// The case's files written into `env`: (peer, bundle, chain, CRLs, time).
struct Limbo {
    peer: PathBuf,
    bundle: PathBuf,
    chain: Option<PathBuf>,
    crls: Vec<PathBuf>,
    at: String,
}

fn limbo_case(env: &Env, id: &str) -> Limbo {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/limbo/limbo.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let t = doc["testcases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no limbo case {id}"));
    let pems = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    let peer = env.path("peer.pem");
    std::fs::write(&peer, t["peer_certificate"].as_str().unwrap()).unwrap();
    let bundle = env.path("trusted.pem");
    std::fs::write(&bundle, pems(&t["trusted_certs"]).concat()).unwrap();
    let inter = pems(&t["untrusted_intermediates"]);
    let chain = (!inter.is_empty()).then(|| {
        let p = env.path("untrusted.pem");
        std::fs::write(&p, inter.concat()).unwrap();
        p
    });
    let crls = pems(&t["crls"])
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let p = env.path(&format!("crl{i}.pem"));
            std::fs::write(&p, c).unwrap();
            p
        })
        .collect();
    Limbo {
        peer,
        bundle,
        chain,
        crls,
        at: t["validation_time"]
            .as_str()
            .unwrap_or("2025-01-01T00:00:00Z")
            .to_string(),
    }
}

/// `certsmith verify` on a limbo case with `extra` flags.
fn verify_case(env: &Env, id: &str, extra: &[&str]) -> Run {
    let c = limbo_case(env, id);
    let mut args: Vec<String> = vec![
        "verify".into(),
        s(&c.peer).into(),
        "--bundle".into(),
        s(&c.bundle).into(),
        "--at".into(),
        c.at.clone(),
    ];
    if let Some(ch) = &c.chain {
        args.extend(["--chain".into(), s(ch).into()]);
    }
    for l in &c.crls {
        args.extend(["--crl".into(), s(l).into()]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args)
}

/// The case is valid.
fn accepted(id: &str, extra: &[&str]) {
    let env = Env::new();
    let r = verify_case(&env, id, extra);
    assert_eq!(r.code, 0, "{id}: {}{}", r.stdout, r.stderr);
}

/// The case is not valid (exit 1), for a reason naming `rule`, and nothing
/// was written.
fn rejected(id: &str, extra: &[&str], rule: &str) -> String {
    let env = Env::new();
    let before = env.tree_hash();
    let r = verify_case(&env, id, extra);
    assert_eq!(r.code, 1, "{id}: {}{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
    assert!(
        r.stderr.contains(rule),
        "{id}: wanted '{rule}' in: {}",
        r.stderr
    );
    assert_eq!(env.tree_hash(), before);
    r.stderr
}

#[test]
fn a_trusted_intermediate_or_a_root_listed_after_its_intermediate_is_an_anchor() {
    accepted(
        "rfc5280::root-and-intermediate-swapped",
        &["--purpose", "server"],
    );
    accepted("cve::cve-2024-0567", &["--purpose", "server"]);
}

#[test]
fn the_anchor_is_checked_at_the_same_whole_second_as_the_chain() {
    // Validation time 5 ms after the notAfter every certificate shares.
    accepted(
        "rfc5280::validity::notafter-fractional",
        &["--purpose", "server"],
    );
}

#[test]
fn an_anchor_that_breaks_the_ca_profile_is_not_trusted() {
    rejected(
        "rfc5280::unknown-critical-extension-root",
        &[],
        "trust anchor 'CN=x509-limbo-root' breaks RFC 5280 4.2: it has a critical extension",
    );
    rejected(
        "rfc5280::root-non-critical-basic-constraints",
        &[],
        "basicConstraints extension is not critical",
    );
    rejected(
        "rfc5280::root-missing-basic-constraints",
        &[],
        "it has no basicConstraints extension",
    );
    rejected(
        "rfc5280::root-inconsistent-ca-extensions",
        &[],
        "does not allow keyCertSign",
    );
}

#[test]
fn a_crl_from_an_issuer_without_crl_sign_or_without_a_crl_number_is_refused() {
    rejected("crl::issuer-missing-crlsign", &[], "RFC 5280 6.3.3");
    rejected("crl::crlnumber-missing", &[], "it has no cRLNumber");
}

#[test]
fn an_end_entity_that_breaks_the_profile_is_not_valid_for_its_purpose() {
    rejected(
        "rfc5280::leaf-ku-keycertsign",
        &["--purpose", "server"],
        "keyCertSign is asserted in a certificate that is not a CA",
    );
    rejected(
        "rfc5280::aki::leaf-missing-aki",
        &["--purpose", "server"],
        "it has no authorityKeyIdentifier",
    );
    rejected(
        "webpki::malformed-aia",
        &["--purpose", "server"],
        "its extension 1.3.6.1.5.5.7.1.1 is malformed",
    );
    rejected(
        "webpki::cn::case-mismatch",
        &["--purpose", "server"],
        "its common name 'Example.COM' is not spelled as in its subjectAltName",
    );
}

#[test]
fn self_issued_cas_over_pathlen_are_named_as_pathlen_not_bad_signature() {
    let err = rejected(
        "pathlen::self-issued-certs-pathlen",
        &["--purpose", "server"],
        "path length constraint",
    );
    assert!(!err.contains("bad signature"), "{err}");
}

#[test]
fn a_duplicate_extension_is_not_valid_exit_1_not_unreadable() {
    rejected(
        "rfc5280::duplicate-extensions",
        &["--purpose", "server"],
        "appears more than once",
    );
}

#[test]
fn dns_refuses_an_ip_literal_and_ip_checks_the_address() {
    let env = Env::new();
    let c = limbo_case(&env, "webpki::san::exact-localhost-ip-san");
    let before = env.tree_hash();
    let args = [
        "verify",
        s(&c.peer),
        "--bundle",
        s(&c.bundle),
        "--at",
        &c.at,
    ];
    let err = env.fails(2, &[&args[..], &["--dns", "127.0.0.1"]].concat());
    assert!(err.contains("--dns '127.0.0.1' is an IP address"), "{err}");
    assert!(err.contains("hint: check an IP address with --ip"), "{err}");
    assert_eq!(env.tree_hash(), before);
    env.ok(&[&args[..], &["--ip", "127.0.0.1"]].concat());
    let err = env.fails(1, &[&args[..], &["--ip", "127.0.0.2"]].concat());
    assert!(
        err.contains("not valid for the name '127.0.0.2' (its IP addresses: 127.0.0.1)"),
        "{err}"
    );
}

#[test]
fn email_constraints_permit_what_they_permit_and_email_checks_the_identity() {
    accepted(
        "rfc5280::nc::nc-permits-email-exact",
        &["--purpose", "client", "--email", "foo@example.com"],
    );
    rejected(
        "rfc5280::nc::nc-permits-email-exact",
        &["--purpose", "client", "--email", "bar@example.com"],
        "(its email addresses: foo@example.com)",
    );
    rejected(
        "rfc5280::nc::nc-permits-email-literal-asterisk-rejects-user",
        &["--purpose", "client", "--email", "user@example.com"],
        "name constraints",
    );
}

#[test]
fn a_re_keyed_root_next_to_the_old_one_anchors_its_chain_in_either_bundle_order() {
    const MADE: &str = "2026-03-01T00:00:00Z";
    const LATER: &str = "2026-04-01T00:00:00Z";
    let old = Env::new();
    crate::trust::ok_at(
        &old,
        MADE,
        &[
            "init",
            "--cn",
            "Same Root",
            "--validity",
            "10d",
            "--no-passphrase",
            "-q",
        ],
    );
    let new = Env::new();
    crate::trust::ok_at(
        &new,
        MADE,
        &["init", "--cn", "Same Root", "--no-passphrase", "-q"],
    );
    crate::trust::ok_at(&new, LATER, &["issue", "dev", "--ca", "root", "-q"]);
    let (old_pem, new_pem) = (
        std::fs::read_to_string(old.root_pem()).unwrap(),
        std::fs::read_to_string(new.root_pem()).unwrap(),
    );
    let cert = new.cert_dir("dev").join("cert.pem");
    for (name, text) in [
        ("old-first.pem", format!("{old_pem}{new_pem}")),
        ("new-first.pem", format!("{new_pem}{old_pem}")),
    ] {
        let bundle = new.path(name);
        std::fs::write(&bundle, text).unwrap();
        let r = new.run(&["verify", s(&cert), "--bundle", s(&bundle), "--at", LATER]);
        assert_eq!(r.code, 0, "{name}: {}{}", r.stdout, r.stderr);
    }
}

/// `certsmith verify` on a limbo case whose untrusted intermediates are put
/// into the bundle in front of the root, the layout `certsmith bundle` writes.
fn verify_case_int_root_bundle(env: &Env, id: &str, extra: &[&str]) -> Run {
    let c = limbo_case(env, id);
    if let Some(ch) = &c.chain {
        let text =
            std::fs::read_to_string(ch).unwrap() + &std::fs::read_to_string(&c.bundle).unwrap();
        std::fs::write(&c.bundle, text).unwrap();
    }
    let mut args = vec![
        "verify",
        s(&c.peer),
        "--bundle",
        s(&c.bundle),
        "--at",
        &c.at,
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

fn rejected_int_root_bundle(id: &str, extra: &[&str], rule: &str) {
    let env = Env::new();
    let before = env.tree_hash();
    let r = verify_case_int_root_bundle(&env, id, extra);
    assert_eq!(r.code, 1, "{id}: {}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(rule),
        "{id}: wanted '{rule}' in: {}",
        r.stderr
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn an_expired_root_above_a_trusted_intermediate_fails_the_chain() {
    rejected_int_root_bundle(
        "rfc5280::validity::expired-root",
        &["--purpose", "server"],
        "certificate 'CN=x509-limbo-root' expired on",
    );
}

#[test]
fn name_constraints_of_a_root_above_trusted_intermediates_are_enforced() {
    rejected_int_root_bundle(
        "rfc5280::nc::intermediate-with-san-rejected-by-root-nc",
        &["--purpose", "server", "--dns", "permitted.example.com"],
        "name constraints",
    );
}

#[test]
fn a_pathlen_above_trusted_intermediates_is_enforced() {
    rejected_int_root_bundle(
        "pathlen::intermediate-violates-pathlen-0",
        &["--purpose", "server"],
        "path length constraint",
    );
}

/// A root, an issuing CA `int` under it and `dev1` from `int`; returns the
/// bundle file holding `int` then the root, as `certsmith bundle` writes it.
fn int_root_pki(env: &Env) -> (PathBuf, PathBuf) {
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(env, AT, &["init", "--cn", "R2", "--no-passphrase", "-q"]);
    crate::trust::ok_at(
        env,
        AT,
        &["intermediate", "int", "--cn", "I2", "--no-passphrase", "-q"],
    );
    crate::trust::ok_at(env, AT, &["issue", "dev1", "--ca", "int", "-q"]);
    let int = env.pki.join("cas/int/ca.pem");
    let b = env.path("int-root.pem");
    std::fs::write(
        &b,
        std::fs::read_to_string(&int).unwrap() + &std::fs::read_to_string(env.root_pem()).unwrap(),
    )
    .unwrap();
    (env.cert_dir("dev1").join("cert.pem"), int)
}

#[test]
fn an_intermediate_revoked_on_the_roots_crl_fails_a_chain_whose_bundle_holds_both() {
    let env = Env::new();
    let (cert, _) = int_root_pki(&env);
    const LATER: &str = "2026-03-02T00:00:00Z";
    crate::trust::ok_at(&env, LATER, &["revoke", "int", "--yes", "-q"]);
    crate::trust::ok_at(&env, LATER, &["crl", "-q"]);
    let before = env.tree_hash();
    let err = env.fails(
        1,
        &[
            "verify",
            s(&cert),
            "--bundle",
            s(&env.path("int-root.pem")),
            "--crl",
            s(&env.pki.join("cas/root/crl.pem")),
            "--crl",
            s(&env.pki.join("cas/int/crl.pem")),
            "--at",
            "2026-03-03T00:00:00Z",
        ],
    );
    assert!(err.contains("issuer revoked: CA 'CN=I2'"), "{err}");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn an_intermediate_only_bundle_is_a_partial_chain_refused_for_openssl_targets() {
    let env = Env::new();
    let (cert, int) = int_root_pki(&env);
    crate::trust::ok_at(&env, "2026-03-02T00:00:00Z", &["crl", "-q"]);
    // The issuing CA and its CRL, so that the targets' CRL rules hold.
    let only_int = env.path("int-only.pem");
    std::fs::write(
        &only_int,
        std::fs::read_to_string(&int).unwrap()
            + &std::fs::read_to_string(env.pki.join("cas/int/crl.pem")).unwrap(),
    )
    .unwrap();
    // The targets' rules judge the CRL's freshness by the clock.
    let at_run = |extra: &[&str]| {
        let mut args = vec!["verify", s(&cert), "--bundle", s(&only_int)];
        args.extend_from_slice(extra);
        let out = env
            .command(&args)
            .env("CERTSMITH_NOW", "2026-03-03T00:00:00Z")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let before = env.tree_hash();
    // k8s: ingress-nginx, the controller its Secret is made for, is nginx.
    for t in ["nginx", "haproxy", "envoy", "generic", "k8s"] {
        let (code, _, err) = at_run(&["--target", t]);
        assert_eq!(code, 1, "{t}: {err}");
        assert!(err.contains("partial chain"), "{t}: {err}");
        assert!(err.contains(&format!("target '{t}'")), "{t}: {err}");
    }
    assert_eq!(env.tree_hash(), before);
    // Without a target, and for aws-alb (whose chain building is not
    // documented), a partial chain is valid with a warning.
    for extra in [&[][..], &["--target", "aws-alb"][..]] {
        let (code, out, err) = at_run(extra);
        assert_eq!(code, 0, "{extra:?}: {err}");
        assert!(
            out.contains(
                "warning: partial chain: anchored at a non-root certificate; OpenSSL-based servers need the root"
            ),
            "{out}"
        );
    }
}

/// A root and a server leaf made by OpenSSL the way Easy-RSA makes them
/// (authorityKeyIdentifier `keyid,issuer:always`), with `root_ext` added to
/// the root's extensions and `leaf_ext` to the leaf's; returns (root, leaf,
/// a time inside both).
fn openssl_chain(env: &Env, root_ext: &str, leaf_ext: &str) -> (PathBuf, PathBuf, String) {
    let p = |n: &str| env.path(n);
    std::fs::write(
        p("root.cnf"),
        format!(
            "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\n\
             keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid:always,issuer:always\n{root_ext}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        p("leaf.ext"),
        format!(
            "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid,issuer:always\nkeyUsage=critical,digitalSignature\n\
             subjectAltName=DNS:www.example.com\n{leaf_ext}\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let (ok, out) = openssl(args);
        assert!(ok, "openssl {args:?}: {out}");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&p("root.key")),
        "-out",
        s(&p("root.pem")),
        "-subj",
        "/CN=Easy Root",
        "-days",
        "3650",
        "-set_serial",
        "0x5a01",
        "-config",
        s(&p("root.cnf")),
        "-extensions",
        "v3_ca",
    ]);
    run(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&p("leaf.key")),
        "-out",
        s(&p("leaf.csr")),
        "-subj",
        "/CN=www.example.com",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        s(&p("leaf.csr")),
        "-CA",
        s(&p("root.pem")),
        "-CAkey",
        s(&p("root.key")),
        "-set_serial",
        "0x5a02",
        "-days",
        "365",
        "-extfile",
        s(&p("leaf.ext")),
        "-out",
        s(&p("leaf.pem")),
    ]);
    let at = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    (p("root.pem"), p("leaf.pem"), at)
}

#[test]
fn an_easy_rsa_chain_naming_its_issuer_and_serial_in_the_aki_is_valid() {
    let env = Env::new();
    let (root, leaf, at) = openssl_chain(&env, "", "extendedKeyUsage=serverAuth");
    let (ok, out) = openssl_verify(&root, None, &leaf, "sslserver");
    assert!(ok, "openssl -x509_strict refuses the chain: {out}");
    for purpose in ["server", "any"] {
        let r = env.run(&[
            "verify",
            s(&leaf),
            "--bundle",
            s(&root),
            "--at",
            &at,
            "--purpose",
            purpose,
        ]);
        assert_eq!(r.code, 0, "{purpose}: {}{}", r.stdout, r.stderr);
    }
}

#[test]
fn a_root_with_an_eku_is_refused_only_for_a_purpose_its_eku_excludes() {
    let env = Env::new();
    let (root, leaf, at) = openssl_chain(&env, "extendedKeyUsage=clientAuth", "");
    let base = ["verify", s(&leaf), "--bundle", s(&root), "--at", &at];
    env.ok(&[&base[..], &["--purpose", "client"]].concat());
    let before = env.tree_hash();
    let err = env.fails(1, &[&base[..], &["--purpose", "server"]].concat());
    assert!(err.contains("trust anchor 'CN=Easy Root'"), "{err}");
    assert!(err.contains("does not include server"), "{err}");
    assert_eq!(env.tree_hash(), before);
    // limbo's root with serverAuth, checked for server use.
    accepted("webpki::eku::root-has-eku", &["--purpose", "server"]);
}

#[test]
fn a_person_named_client_certificate_verifies_for_every_purpose() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(
        &env,
        AT,
        &[
            "issue",
            "juergen",
            "--profile",
            "client",
            "--cn",
            "Jürgen Müller",
            "--san",
            "dns:laptop-7.example.com",
            "-q",
        ],
    );
    let cert = env.cert_dir("juergen").join("cert.pem");
    for purpose in ["client", "any"] {
        env.ok(&[
            "verify",
            s(&cert),
            "--bundle",
            s(&env.root_pem()),
            "--at",
            AT,
            "--purpose",
            purpose,
        ]);
    }
}

#[test]
fn a_common_name_spelling_a_san_differently_fails_only_server_use() {
    rejected(
        "webpki::cn::case-mismatch",
        &["--purpose", "server"],
        "is not spelled as in its subjectAltName",
    );
    // The baseline's rule is about server certificates: a client one
    // whose common name differs in case from its SAN is valid.
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(
        &env,
        AT,
        &[
            "issue",
            "web01",
            "--profile",
            "client",
            "--cn",
            "WEB01.Example.com",
            "--san",
            "dns:web01.example.com",
            "-q",
        ],
    );
    let cert = env.cert_dir("web01").join("cert.pem");
    env.ok(&[
        "verify",
        s(&cert),
        "--bundle",
        s(&env.root_pem()),
        "--at",
        AT,
        "--purpose",
        "client",
    ]);
    // An IDN in its Unicode form where the SAN has its A-label: certsmith
    // refuses to issue it for server use (what verify would reject).
    let before = env.tree_hash();
    let r = run_at(
        &env,
        AT,
        &[
            "issue",
            "idn",
            "--profile",
            "server",
            "--cn",
            "münchen.example",
            "--san",
            "dns:xn--mnchen-3ya.example",
            "-q",
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("is not spelled as in its subjectAltName"),
        "{}",
        r.stderr
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn a_bundle_certificate_with_a_duplicate_extension_off_the_path_does_not_stop_verify() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(&env, AT, &["issue", "dev", "-q"]);
    let c = limbo_case(&env, "rfc5280::duplicate-extensions");
    let bundle = env.path("store.pem");
    std::fs::write(
        &bundle,
        std::fs::read_to_string(&c.peer).unwrap()
            + &std::fs::read_to_string(env.root_pem()).unwrap(),
    )
    .unwrap();
    let cert = env.cert_dir("dev").join("cert.pem");
    env.ok(&["verify", s(&cert), "--bundle", s(&bundle), "--at", AT]);
    // As the only trusted certificate it is judged, and not valid (exit 1).
    let before = env.tree_hash();
    let err = env.fails(
        1,
        &["verify", s(&c.peer), "--bundle", s(&c.peer), "--at", &c.at],
    );
    assert!(err.contains("appears more than once"), "{err}");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn a_crl_of_a_ca_off_the_path_is_not_judged() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(&env, AT, &["issue", "dev", "-q"]);
    crate::trust::ok_at(&env, AT, &["crl", "-q"]);
    // Another CA's CRL without a cRLNumber, next to the root's own.
    let other = limbo_case(&env, "crl::crlnumber-missing");
    let cert = env.cert_dir("dev").join("cert.pem");
    env.ok(&[
        "verify",
        s(&cert),
        "--bundle",
        s(&env.root_pem()),
        "--crl",
        s(&env.pki.join("cas/root/crl.pem")),
        "--crl",
        s(&other.crls[0]),
        "--at",
        "2026-03-02T00:00:00Z",
    ]);
}

#[test]
fn a_version_1_crl_is_named_as_such() {
    let env = Env::new();
    let (root, leaf, at) = openssl_chain(&env, "", "extendedKeyUsage=serverAuth");
    std::fs::write(env.path("index.txt"), "").unwrap();
    std::fs::write(
        env.path("ca.cnf"),
        format!(
            "[ca]\ndefault_ca=c\n[c]\ndatabase={}\ndefault_md=sha256\ndefault_crl_days=30\n",
            s(&env.path("index.txt"))
        ),
    )
    .unwrap();
    let crl = env.path("v1.crl.pem");
    let (ok, out) = openssl(&[
        "ca",
        "-gencrl",
        "-config",
        s(&env.path("ca.cnf")),
        "-keyfile",
        s(&env.path("root.key")),
        "-cert",
        s(&root),
        "-out",
        s(&crl),
    ]);
    assert!(ok, "{out}");
    let before = env.tree_hash();
    let err = env.fails(
        1,
        &[
            "verify",
            s(&leaf),
            "--bundle",
            s(&root),
            "--crl",
            s(&crl),
            "--at",
            &at,
        ],
    );
    assert!(err.contains("version 1 CRL"), "{err}");
    assert!(!err.contains("bad der"), "{err}");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn a_weak_or_unsupported_key_is_named_in_one_short_line_not_as_tampering() {
    for (id, rule) in [
        (
            "webpki::forbidden-weak-rsa-key-in-root",
            "trust anchor 'CN=x509-limbo-root' breaks the CA/Browser Forum baseline (6.1.5): its RSA key has 1024 bits",
        ),
        (
            "webpki::forbidden-dsa-root",
            "CA/Browser Forum baseline (6.1.5)",
        ),
        (
            "webpki::forbidden-p192-root",
            "CA/Browser Forum baseline (6.1.5)",
        ),
        ("webpki::explicit-curve", "explicit parameters"),
        ("pathological::nc-dos-1", "trailing data"),
    ] {
        let err = rejected(id, &[], rule);
        assert!(!err.contains("tampered"), "{id}: {err}");
        assert!(!err.contains("[6, "), "{id}: {err}");
        assert_eq!(err.lines().count(), 1, "{id}: {err}");
        assert!(err.len() < 300, "{id}: {} bytes: {err}", err.len());
    }
}

#[test]
fn messages_show_the_whole_second_the_chain_was_checked_at() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(&env, AT, &["issue", "dev", "--validity", "10d", "-q"]);
    let cert = env.cert_dir("dev").join("cert.pem");
    let root = env.root_pem();
    let args = ["verify", s(&cert), "--bundle", s(&root)];
    let err = env.fails(
        1,
        &[&args[..], &["--at", "2026-03-20T10:20:30.999Z"]].concat(),
    );
    assert!(err.contains("(checked at 2026-03-20T10:20:30Z)"), "{err}");
    let out = env.ok(&[&args[..], &["--at", "2026-03-02T10:20:30.999Z"]].concat());
    assert!(out.contains("at 2026-03-02T10:20:30Z"), "{out}");
}

#[test]
fn a_pinned_self_signed_end_entity_certificate_is_its_own_anchor() {
    let env = Env::new();
    std::fs::write(
        env.path("pin.cnf"),
        "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectKeyIdentifier=hash\nsubjectAltName=DNS:device.example.com\n",
    )
    .unwrap();
    let pin = env.path("pin.pem");
    let (ok, out) = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        s(&env.path("pin.key")),
        "-out",
        s(&pin),
        "-subj",
        "/CN=device.example.com",
        "-days",
        "365",
        "-set_serial",
        "0x77",
        "-config",
        s(&env.path("pin.cnf")),
        "-extensions",
        "v3",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = openssl_verify(&pin, None, &pin, "sslserver");
    assert!(
        ok,
        "openssl -x509_strict refuses the pinned certificate: {out}"
    );
    let at = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    env.ok(&[
        "verify",
        s(&pin),
        "--bundle",
        s(&pin),
        "--at",
        &at,
        "--purpose",
        "server",
        "--dns",
        "device.example.com",
    ]);
}

/// root → intermediate (with `int_ext`) → server leaf, made by OpenSSL;
/// `verify` of the leaf with the root as bundle and the intermediate as
/// `--chain`, and whether `openssl verify -x509_strict` accepts it.
fn verify_intermediate_with(int_ext: &str) -> (Run, bool, String) {
    let env = Env::new();
    let (root, _, at) = openssl_chain(&env, "", "");
    let p = |n: &str| env.path(n);
    std::fs::write(
        p("int.ext"),
        format!("subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n{int_ext}\n"),
    )
    .unwrap();
    std::fs::write(
        p("leaf2.ext"),
        "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:www.example.com\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let (ok, out) = openssl(args);
        assert!(ok, "openssl {args:?}: {out}");
    };
    for (name, cn) in [("int", "/CN=Issuing"), ("leaf2", "/CN=www.example.com")] {
        run(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            s(&p(&format!("{name}.key"))),
            "-out",
            s(&p(&format!("{name}.csr"))),
            "-subj",
            cn,
        ]);
    }
    run(&[
        "x509",
        "-req",
        "-in",
        s(&p("int.csr")),
        "-CA",
        s(&root),
        "-CAkey",
        s(&p("root.key")),
        "-set_serial",
        "0x5a03",
        "-days",
        "365",
        "-extfile",
        s(&p("int.ext")),
        "-out",
        s(&p("int.pem")),
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        s(&p("leaf2.csr")),
        "-CA",
        s(&p("int.pem")),
        "-CAkey",
        s(&p("int.key")),
        "-set_serial",
        "0x5a04",
        "-days",
        "365",
        "-extfile",
        s(&p("leaf2.ext")),
        "-out",
        s(&p("leaf2.pem")),
    ]);
    let (ossl, out) = openssl_verify(&root, Some(&p("int.pem")), &p("leaf2.pem"), "sslserver");
    let before = env.tree_hash();
    let r = env.run(&[
        "verify",
        s(&p("leaf2.pem")),
        "--bundle",
        s(&root),
        "--chain",
        s(&p("int.pem")),
        "--at",
        &at,
        "--purpose",
        "server",
    ]);
    assert_eq!(env.tree_hash(), before);
    (r, ossl, out)
}

#[test]
fn an_intermediate_must_be_a_ca_allowed_to_sign_certificates() {
    let (r, ossl, out) = verify_intermediate_with(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign",
    );
    assert!(ossl, "{out}");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let (r, ossl, _) = verify_intermediate_with(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,cRLSign",
    );
    assert!(!ossl, "openssl accepts an intermediate without keyCertSign");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("intermediate CA 'CN=Issuing' breaks RFC 5280 4.2.1.3"),
        "{}",
        r.stderr
    );
    let (r, ossl, _) = verify_intermediate_with("keyUsage=critical,keyCertSign,cRLSign");
    assert!(
        !ossl,
        "openssl accepts an intermediate without basicConstraints"
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "intermediate CA 'CN=Issuing' breaks RFC 5280 4.2.1.9: it has no basicConstraints extension"
        ),
        "{}",
        r.stderr
    );
    let (r, ossl, _) = verify_intermediate_with(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,keyCertSign,cRLSign",
    );
    assert!(!ossl, "openssl accepts an intermediate with CA:FALSE");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("'CN=Issuing' breaks RFC 5280 4.2.1.9: its basicConstraints says CA:FALSE"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unusable_crl_of_another_ca_leaves_the_chain_with_unknown_status() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(&env, AT, &["issue", "dev", "-q"]);
    let cert = env.cert_dir("dev").join("cert.pem");
    let bad = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/hostile/crl-bad-signature.pem"
    );
    let before = env.tree_hash();
    let err = env.fails(
        1,
        &[
            "verify",
            s(&cert),
            "--bundle",
            s(&env.root_pem()),
            "--crl",
            bad,
            "--at",
            AT,
        ],
    );
    assert!(
        err.contains("revocation status of 'CN=dev' is unknown: no CRL from its issuer 'CN=Root'"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
}

/// Runs certsmith with the clock at `now`; returns the outcome.
fn run_at(env: &Env, now: &str, args: &[&str]) -> Run {
    let out = env
        .command(args)
        .env("CERTSMITH_NOW", now)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn an_nginx_bundle_with_its_crl_passes_verify_and_a_revoked_device_fails_with_the_crl_given_either_way()
 {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    const LATER: &str = "2026-03-02T00:00:00Z";
    const CHECK: &str = "2026-03-03T00:00:00Z";
    let b = env.path("b");
    let b_s = s(&b).to_string();
    crate::trust::ok_at(
        &env,
        AT,
        &[
            "bootstrap",
            "--org",
            "Acme",
            "--no-passphrase",
            "--yes",
            "-q",
        ],
    );
    crate::trust::ok_at(&env, AT, &["crl", "-q"]);
    let bundle_args = [
        "bundle",
        "--target",
        "nginx",
        "--with-crl",
        "--out",
        &b_s,
        "-q",
    ];
    crate::trust::ok_at(&env, AT, &bundle_args);
    let cert = env.cert_dir("device-001").join("cert.pem");
    let ca_bundle = b.join("ca-bundle.pem");
    let crl = b.join("crl.pem");
    let joined = env.path("cb.pem");
    let join = || {
        std::fs::write(
            &joined,
            std::fs::read_to_string(&ca_bundle).unwrap() + &std::fs::read_to_string(&crl).unwrap(),
        )
        .unwrap()
    };
    join();
    let verify = |bundle: &std::path::Path, with_crl: bool| {
        let mut args = vec![
            "verify",
            s(&cert),
            "--bundle",
            s(bundle),
            "--target",
            "nginx",
            "--purpose",
            "client",
            "--at",
            CHECK,
        ];
        if with_crl {
            args.extend_from_slice(&["--crl", s(&crl)]);
        }
        run_at(&env, CHECK, &args)
    };
    for (bundle, with_crl) in [(&ca_bundle, true), (&joined, false)] {
        let r = verify(bundle, with_crl);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        assert!(!r.stdout.contains("no CRL checked"), "{}", r.stdout);
    }
    crate::trust::ok_at(&env, LATER, &["revoke", "device-001", "--yes", "-q"]);
    crate::trust::ok_at(&env, LATER, &["crl", "-q"]);
    crate::trust::ok_at(&env, LATER, &bundle_args);
    join();
    let before = env.tree_hash();
    for (bundle, with_crl) in [(&ca_bundle, true), (&joined, false)] {
        let r = verify(bundle, with_crl);
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("revoked"), "{}", r.stderr);
    }
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn the_target_rules_judge_crl_freshness_at_the_verify_time_not_the_clock() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(&env, AT, &["issue", "dev", "-q"]);
    crate::trust::ok_at(&env, AT, &["crl", "-q"]);
    let bundle = env.path("cb.pem");
    std::fs::write(
        &bundle,
        std::fs::read_to_string(env.root_pem()).unwrap()
            + &std::fs::read_to_string(env.pki.join("cas/root/crl.pem")).unwrap(),
    )
    .unwrap();
    let cert = env.cert_dir("dev").join("cert.pem");
    let args = |at: &'static str| {
        vec![
            "verify".to_string(),
            s(&cert).to_string(),
            "--bundle".into(),
            s(&bundle).to_string(),
            "--target".into(),
            "nginx".into(),
            "--at".into(),
            at.into(),
        ]
    };
    let a: Vec<String> = args("2026-03-02T00:00:00Z");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    // The real clock is past the CRL's nextUpdate; --at is not.
    let r = run_at(&env, "2027-03-01T00:00:00Z", &a);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // And --at past nextUpdate breaks crl-fresh though the clock is not.
    let a: Vec<String> = args("2027-02-01T00:00:00Z");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let before = env.tree_hash();
    let r = run_at(&env, AT, &a);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("crl-fresh"), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn a_self_signed_ca_webpki_cannot_read_beside_the_real_root_does_not_stop_verify_in_either_order() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    crate::trust::ok_at(&env, AT, &["issue", "dev", "-q"]);
    let root = std::fs::read_to_string(env.root_pem()).unwrap();
    let hostile = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/hostile/cert-duplicate-extension.pem"
    ))
    .unwrap();
    let cert = env.cert_dir("dev").join("cert.pem");
    let before = env.tree_hash();
    for (i, text) in [root.clone() + &hostile, hostile.clone() + &root]
        .iter()
        .enumerate()
    {
        let b = env.path(&format!("store{i}.pem"));
        std::fs::write(&b, text).unwrap();
        for extra in [&[][..], &["--target", "generic"][..]] {
            let mut args = vec!["verify", s(&cert), "--bundle", s(&b), "--at", AT];
            args.extend_from_slice(extra);
            let r = env.run(&args);
            assert_eq!(r.code, 0, "order {i} {extra:?}: {}{}", r.stdout, r.stderr);
        }
    }
    // Alone, it is skipped too: the chain's issuer is missing, as it is.
    let b = env.path("hostile.pem");
    std::fs::write(&b, &hostile).unwrap();
    let err = env.fails(1, &["verify", s(&cert), "--bundle", s(&b), "--at", AT]);
    assert!(
        err.contains("no trusted issuer found for 'CN=dev'"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn a_self_signed_root_whose_aki_names_only_issuer_and_serial_is_an_accepted_anchor() {
    let env = Env::new();
    let p = |n: &str| env.path(n);
    // What OpenSSL 3 writes for `keyid,issuer:always` on a self-signed
    // certificate: issuer and serial, no keyIdentifier.
    std::fs::write(
        p("root.cnf"),
        "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\n\
         keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=issuer:always\n",
    )
    .unwrap();
    std::fs::write(
        p("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid\nkeyUsage=critical,digitalSignature\n\
         subjectAltName=DNS:www.example.com\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let (ok, out) = openssl(args);
        assert!(ok, "openssl {args:?}: {out}");
    };
    let (rk, rp, rc, lk, lc) = (
        p("root.key"),
        p("root.pem"),
        p("root.cnf"),
        p("leaf.key"),
        p("leaf.csr"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509"];
    a.extend_from_slice(&ec);
    a.extend_from_slice(&[
        "-keyout",
        s(&rk),
        "-out",
        s(&rp),
        "-subj",
        "/CN=Issuer Serial Root",
        "-days",
        "3650",
        "-config",
        s(&rc),
        "-extensions",
        "v3_ca",
    ]);
    run(&a);
    let mut a = vec!["req", "-new"];
    a.extend_from_slice(&ec);
    a.extend_from_slice(&[
        "-keyout",
        s(&lk),
        "-out",
        s(&lc),
        "-subj",
        "/CN=www.example.com",
    ]);
    run(&a);
    run(&[
        "x509",
        "-req",
        "-in",
        s(&lc),
        "-CA",
        s(&rp),
        "-CAkey",
        s(&rk),
        "-days",
        "365",
        "-extfile",
        s(&p("leaf.ext")),
        "-out",
        s(&p("leaf.pem")),
    ]);
    let root_text = openssl(&["x509", "-in", s(&rp), "-noout", "-text"]).1;
    assert!(
        root_text.contains("DirName:/CN=Issuer Serial Root"),
        "{root_text}"
    );
    assert!(!root_text.contains("keyid:"), "{root_text}");
    let at = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = env.run(&[
        "verify",
        s(&p("leaf.pem")),
        "--bundle",
        s(&rp),
        "--purpose",
        "server",
        "--at",
        &at,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn a_server_common_name_restating_a_san_in_another_spelling_is_refused_at_issue() {
    let env = Env::new();
    const AT: &str = "2026-03-01T00:00:00Z";
    crate::trust::ok_at(&env, AT, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    let before = env.tree_hash();
    let r = run_at(
        &env,
        AT,
        &[
            "issue",
            "web",
            "--profile",
            "server",
            "--cn",
            "WEB01.Example.com",
            "--san",
            "dns:web01.example.com",
            "-q",
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "certsmith: common name 'WEB01.Example.com' is not spelled as in its subjectAltName"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("7.1.4.3"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before);
    // Spelled as the SAN, it is issued and verifies for server use.
    crate::trust::ok_at(
        &env,
        AT,
        &[
            "issue",
            "web",
            "--profile",
            "server",
            "--cn",
            "web01.example.com",
            "--san",
            "dns:web01.example.com",
            "-q",
        ],
    );
    let cert = env.cert_dir("web").join("cert.pem");
    env.ok(&["verify", s(&cert), "--purpose", "server", "--at", AT]);
}

#[test]
fn a_cross_signed_intermediate_with_one_expired_root_verifies_via_the_other_root_in_either_order() {
    let env = Env::new();
    let p = |n: &str| s(&env.path(n)).to_string();
    write_openssl_profiles(&env);
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for (r, days) in [("r1", "10"), ("r2", "3650")] {
        run(v(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p(&format!("{r}.key")),
            "-out",
            &p(&format!("{r}.pem")),
            "-subj",
            &format!("/CN={r}"),
            "-days",
            days,
            "-config",
            &p("root.cnf"),
            "-extensions",
            "v3_ca",
        ]));
    }
    for (who, subj) in [("ix", "/CN=IX"), ("leaf", "/CN=www.example.com")] {
        run(v(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p(&format!("{who}.key")),
            "-out",
            &p(&format!("{who}.csr")),
            "-subj",
            subj,
        ]));
    }
    for (out, ca) in [("ix1", "r1"), ("ix2", "r2")] {
        run(v(&[
            "x509",
            "-req",
            "-in",
            &p("ix.csr"),
            "-CA",
            &p(&format!("{ca}.pem")),
            "-CAkey",
            &p(&format!("{ca}.key")),
            "-days",
            "365",
            "-extfile",
            &p("ca.ext"),
            "-out",
            &p(&format!("{out}.pem")),
        ]));
    }
    run(v(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ix1.pem"),
        "-CAkey",
        &p("ix.key"),
        "-days",
        "300",
        "-extfile",
        &p("leaf.ext"),
        "-out",
        &p("leaf.pem"),
    ]));
    let at = (time::OffsetDateTime::now_utc() + time::Duration::days(40))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let read = |n: &str| std::fs::read_to_string(env.path(n)).unwrap();
    for (i, order) in [["ix1", "r1", "ix2", "r2"], ["ix2", "r2", "ix1", "r1"]]
        .iter()
        .enumerate()
    {
        let b = env.path(&format!("store{i}.pem"));
        std::fs::write(
            &b,
            order
                .iter()
                .map(|n| read(&format!("{n}.pem")))
                .collect::<String>(),
        )
        .unwrap();
        let r = env.run(&[
            "verify",
            &p("leaf.pem"),
            "--bundle",
            s(&b),
            "--purpose",
            "server",
            "--at",
            &at,
        ]);
        assert_eq!(r.code, 0, "{order:?}: {}{}", r.stdout, r.stderr);
        assert!(r.stdout.contains("CN=r2"), "{order:?}: {}", r.stdout);
    }
}

#[test]
fn an_intermediate_of_a_re_keyed_root_whose_new_certificate_is_absent_is_a_partial_chain_not_tampering()
 {
    let env = Env::new();
    let p = |n: &str| s(&env.path(n)).to_string();
    write_openssl_profiles(&env);
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for r in ["rk_old", "rk_new"] {
        run(v(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p(&format!("{r}.key")),
            "-out",
            &p(&format!("{r}.pem")),
            "-subj",
            "/CN=RK",
            "-days",
            "3650",
            "-config",
            &p("root.cnf"),
            "-extensions",
            "v3_ca",
        ]));
    }
    for (who, subj) in [("ik", "/CN=IK"), ("leaf", "/CN=www.example.com")] {
        run(v(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p(&format!("{who}.key")),
            "-out",
            &p(&format!("{who}.csr")),
            "-subj",
            subj,
        ]));
    }
    run(v(&[
        "x509",
        "-req",
        "-in",
        &p("ik.csr"),
        "-CA",
        &p("rk_new.pem"),
        "-CAkey",
        &p("rk_new.key"),
        "-days",
        "365",
        "-extfile",
        &p("ca.ext"),
        "-out",
        &p("ik.pem"),
    ]));
    run(v(&[
        "x509",
        "-req",
        "-in",
        &p("leaf.csr"),
        "-CA",
        &p("ik.pem"),
        "-CAkey",
        &p("ik.key"),
        "-days",
        "300",
        "-extfile",
        &p("leaf.ext"),
        "-out",
        &p("leaf.pem"),
    ]));
    let at = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let read = |n: &str| std::fs::read_to_string(env.path(n)).unwrap();
    let b = env.path("store.pem");
    std::fs::write(&b, read("ik.pem") + &read("rk_old.pem")).unwrap();
    let r = env.run(&["verify", &p("leaf.pem"), "--bundle", s(&b), "--at", &at]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("partial chain"), "{}", r.stdout);
    let r = env.run(&[
        "verify",
        &p("leaf.pem"),
        "--bundle",
        s(&b),
        "--at",
        &at,
        "--target",
        "generic",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("tampered"), "{}", r.stderr);
    assert!(r.stderr.contains("root-anchor"), "{}", r.stderr);
}

/// The OpenSSL extension files the hand-made chains below use: `ca.ext`
/// (an intermediate), `root.cnf` (a self-signed root, section `v3_ca`) and
/// `leaf.ext` (a server leaf for www.example.com).
fn write_openssl_profiles(env: &Env) {
    std::fs::write(
        env.path("ca.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .unwrap();
    std::fs::write(
        env.path("root.cnf"),
        "[req]\ndistinguished_name=dn\n[dn]\n[v3_ca]\nbasicConstraints=critical,CA:TRUE\n\
         keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    )
    .unwrap();
    std::fs::write(
        env.path("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
         keyUsage=critical,digitalSignature\nsubjectAltName=DNS:www.example.com\n",
    )
    .unwrap();
}

/// Runs openssl with `args`, failing the test when it fails.
fn run(args: Vec<String>) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = openssl(&a);
    assert!(ok, "openssl {a:?}: {out}");
}
