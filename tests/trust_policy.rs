//! CA policy: a dead CA (revoked, superseded, expired) issues nothing, a
//! leaf never takes a CA's name, every CA can publish a CRL or says it
//! will not, and subjects from CSRs keep what certsmith knows.

use std::path::PathBuf;

use crate::common::*;

const T0: &str = "2026-03-01T00:00:00Z";
const T1: &str = "2026-04-01T00:00:00Z";

/// Runs certsmith with a fixed clock.
fn run_at(env: &Env, at: &str, args: &[&str]) -> Run {
    let out = env
        .command(args)
        .env("CERTSMITH_NOW", at)
        .output()
        .expect("run certsmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: without_clock_warning(at, &String::from_utf8_lossy(&out.stderr)),
    }
}

/// Stderr without the warning line a fixed clock prints first once the
/// command reads the clock (a refusal before that has none).
fn without_clock_warning(at: &str, stderr: &str) -> String {
    let warning = format!("certsmith: warning: the clock is fixed at {at} by $CERTSMITH_NOW\n");
    stderr.strip_prefix(&warning).unwrap_or(stderr).to_string()
}

fn ok_at(env: &Env, at: &str, args: &[&str]) -> String {
    let r = run_at(env, at, args);
    assert_eq!(r.code, 0, "certsmith {args:?}:\n{}{}", r.stdout, r.stderr);
    r.stdout
}

/// A refusal at a fixed clock: exit 2, one message (+ hint), PKI unchanged.
fn refused_at(env: &Env, at: &str, args: &[&str]) -> String {
    let before = env.tree_hash();
    let r = run_at(env, at, args);
    assert_eq!(r.code, 2, "certsmith {args:?}:\n{}{}", r.stdout, r.stderr);
    assert_eq!(
        env.tree_hash(),
        before,
        "certsmith {args:?} changed the PKI"
    );
    assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
    // batch lists each bad row before its summary line and hint.
    if args[0] != "batch" {
        assert!(r.stderr.lines().count() <= 2, "{}", r.stderr);
    }
    r.stderr
}

/// root → issuing at T0, with dev1 issued from issuing.
fn hierarchy_at_t0(env: &Env) {
    ok_at(
        env,
        T0,
        &["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
    );
    ok_at(
        env,
        T0,
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Test Issuing CA",
            "--no-passphrase",
            "-q",
        ],
    );
    ok_at(env, T0, &["issue", "dev1", "-q"]);
}

fn csr(env: &Env, name: &str, subj: &str) -> PathBuf {
    let csr = env.path(&format!("{name}.csr"));
    openssl_p256_csr(&env.path(&format!("{name}.key")), &csr, subj);
    csr
}

fn manifest(env: &Env, names: &[&str]) -> String {
    let mut text = String::from("name\n");
    for n in names {
        text.push_str(n);
        text.push('\n');
    }
    let p = env.path("manifest.csv");
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Every way of issuing from `ca` is refused with `why` in the message.
fn every_issuance_from_is_refused(env: &Env, at: &str, ca: &str, why: &str) {
    let csr = csr(env, "new", "/CN=new-from-csr");
    let m = manifest(env, &["batch-1", "batch-2"]);
    let cases: Vec<Vec<&str>> = vec![
        vec!["issue", "new", "--ca", ca],
        vec!["sign", s(&csr), "--ca", ca],
        vec!["batch", &m, "--ca", ca],
        vec![
            "intermediate",
            "sub",
            "--issuer",
            ca,
            "--cn",
            "Sub",
            "--no-passphrase",
        ],
    ];
    for args in cases {
        let err = refused_at(env, at, &args);
        assert!(err.contains(why), "{args:?}: {err}");
    }
}

#[test]
fn issuing_from_a_revoked_ca_is_refused_naming_the_revocation_date() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    ok_at(
        &env,
        T1,
        &["revoke", "issuing", "--reason", "ca-compromise", "--yes"],
    );
    let why = "CA 'issuing' was revoked on 2026-04-01T00:00:00Z (ca-compromise)";
    every_issuance_from_is_refused(&env, T1, "issuing", why);
    let err = refused_at(&env, T1, &["issue", "dev2", "--ca", "issuing"]);
    let dead = certsmith::Error::CaNotAlive {
        name: "issuing".into(),
        above: None,
        state: certsmith::error::DeadCa::Revoked {
            on: time::macros::datetime!(2026-04-01 0:00 UTC),
            reason: "ca-compromise".into(),
        },
    };
    assert_eq!(err, rendered(&dead));
    assert_eq!((dead.code(), dead.exit_code()), ("ca_not_alive", 2));
    let err = refused_at(&env, T1, &["renew", "dev1"]);
    assert!(err.contains(why), "{err}");
}

#[test]
fn issuing_below_a_revoked_ca_is_refused_naming_the_ca_above() {
    let env = Env::new();
    ok_at(
        &env,
        T0,
        &[
            "init",
            "--cn",
            "Root",
            "--pathlen",
            "2",
            "--no-passphrase",
            "-q",
        ],
    );
    ok_at(
        &env,
        T0,
        &[
            "intermediate",
            "mid",
            "--cn",
            "Mid CA",
            "--pathlen",
            "1",
            "--no-passphrase",
            "-q",
        ],
    );
    ok_at(
        &env,
        T0,
        &[
            "intermediate",
            "low",
            "--issuer",
            "mid",
            "--cn",
            "Low CA",
            "--no-passphrase",
            "-q",
        ],
    );
    ok_at(&env, T1, &["revoke", "mid", "--yes", "-q"]);
    let err = refused_at(&env, T1, &["issue", "x", "--ca", "low"]);
    assert!(
        err.contains("CA 'mid' above 'low' was revoked on 2026-04-01T00:00:00Z"),
        "{err}"
    );
}

#[test]
fn issuing_from_an_expired_ca_is_refused_naming_its_not_after() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    ok_at(
        &env,
        T0,
        &[
            "intermediate",
            "short",
            "--cn",
            "Short CA",
            "--validity",
            "30d",
            "--no-passphrase",
            "-q",
        ],
    );
    let why = "CA 'short' expired on 2026-03-31T00:00:00Z";
    every_issuance_from_is_refused(&env, T1, "short", why);
}

#[test]
fn issuing_from_a_superseded_ca_is_refused() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    // A ledger from before leaves were kept off CA names: a leaf took over 'issuing'.
    let conn = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    conn.execute_batch(
        "UPDATE certificates SET state = 'superseded' WHERE name = 'issuing';
         UPDATE certificates SET name = 'issuing' WHERE name = 'dev1';",
    )
    .unwrap();
    drop(conn);
    let err = refused_at(&env, T1, &["issue", "new", "--ca", "issuing"]);
    assert!(
        err.contains(
            "CA 'issuing' is superseded: its name was taken by a leaf certificate on 2026-03-01T00:00:00Z"
        ),
        "{err}"
    );
}

#[test]
fn revoking_a_ca_without_a_terminal_needs_yes() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let err = refused_at(&env, T1, &["revoke", "issuing"]);
    assert!(err.contains("--yes"), "{err}");
    assert!(err.contains("1 active certificate"), "{err}");
    let out = ok_at(&env, T1, &["revoke", "issuing", "--yes"]);
    assert!(out.contains("orphans 1 active certificate"), "{out}");
    // Leaves are revoked without the question.
    ok_at(
        &env,
        T0,
        &[
            "intermediate",
            "other",
            "--cn",
            "Other",
            "--no-passphrase",
            "-q",
        ],
    );
    ok_at(&env, T0, &["issue", "dev2", "--ca", "other", "-q"]);
    ok_at(&env, T1, &["revoke", "dev2"]);
}

#[test]
fn revoking_a_ca_at_a_terminal_asks_and_no_keeps_it() {
    if !have("script") {
        panic!("`script` (util-linux) is needed to give certsmith a terminal");
    }
    let env = Env::new();
    hierarchy_at_t0(&env);
    let at_terminal = |answer: &str| {
        let cmd = format!(
            "CERTSMITH_NOW={T1} {} --pki {} revoke issuing",
            env!("CARGO_BIN_EXE_certsmith"),
            env.pki.display()
        );
        let mut child = clean_env(&mut std::process::Command::new("script"))
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let before = env.tree_hash();
    let (code, out) = at_terminal("n\n");
    assert!(out.contains("orphans 1 active certificate"), "{out}");
    assert_eq!(code, 2, "{out}");
    assert_eq!(env.tree_hash(), before);
    let (code, out) = at_terminal("y\n");
    assert_eq!(code, 0, "{out}");
    let list = env.json(&["list", "--all", "--revoked"]);
    assert!(list.to_string().contains("\"issuing\""), "{list}");
}

#[test]
fn a_leaf_never_takes_the_name_of_a_ca() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let csr = csr(&env, "c", "/CN=issuing");
    let m = manifest(&env, &["ok-1", "issuing"]);
    let cases: Vec<Vec<&str>> = vec![
        vec!["issue", "issuing"],
        vec!["issue", "issuing", "--force"],
        vec!["issue", "root", "--force"],
        vec!["sign", s(&csr)],
        vec!["sign", s(&csr), "--name", "root", "--force"],
        vec!["batch", &m],
    ];
    for args in cases {
        let err = refused_at(&env, T1, &args);
        assert!(err.contains("is the name of a CA"), "{args:?}: {err}");
    }
    let err = refused_at(&env, T1, &["renew", "issuing"]);
    assert!(err.contains("'issuing' is a CA; renew re-issues"), "{err}");
    // 'revoke issuing' still means the CA.
    let v = env.json(&["revoke", "issuing", "--yes"]);
    assert_eq!(v["kind"], "intermediate", "{v}");
    // A ledger from before the rule: a leaf took the CA's name with --force.
    let db = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    db.execute_batch(
        "UPDATE certificates SET state = 'superseded' WHERE name = 'issuing';
         UPDATE certificates SET name = 'issuing' WHERE name = 'dev1';",
    )
    .unwrap();
    drop(db);
    let err = refused_at(&env, T1, &["renew", "issuing"]);
    assert!(err.contains("'issuing' is the name of a CA"), "{err}");
}

#[test]
fn a_ca_never_takes_the_name_of_a_leaf_made_or_imported() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Test Root CA", "--no-passphrase", "-q"]);
    env.ok(&["issue", "dev1", "--ca", "root", "-q"]);
    let (cert, key) = openssl_root(
        &env,
        "other",
        "Other Root",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash",
    );
    for args in [
        vec!["intermediate", "dev1", "--cn", "Dev CA", "--no-passphrase"],
        vec![
            "init",
            "--name",
            "dev1",
            "--import-cert",
            s(&cert),
            "--import-key",
            s(&key),
            "--no-passphrase",
        ],
    ] {
        let err = refused(&env, &args);
        assert!(
            err.contains("name 'dev1' is already taken"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn email_san_with_two_at_signs_is_refused() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let err = refused_at(
        &env,
        T1,
        &[
            "issue",
            "u1",
            "--profile",
            "client",
            "--san",
            "email:a@b@c.example",
        ],
    );
    assert!(
        err.contains("'email:a@b@c.example' is not a valid email address")
            && err.contains("more than one '@'"),
        "{err}"
    );
}

#[test]
fn wildcard_dns_name_constraint_is_refused() {
    let env = Env::new();
    let before = tree_hash(&env.pki);
    let r = run_at(
        &env,
        T0,
        &[
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "--permit-dns",
            "*.example.com",
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(!env.pki.exists() || tree_hash(&env.pki) == before);
    assert!(
        r.stderr.contains("name constraint '*.example.com'") && r.stderr.contains("wildcard"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("hint: write --permit-dns example.com"),
        "{}",
        r.stderr
    );
}

#[test]
fn csr_subject_keeps_known_attributes_and_says_what_it_dropped() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let csr = csr(
        &env,
        "d",
        "/DC=example/CN=dev9/serialNumber=SN-42/title=Boss",
    );
    let out = ok_at(&env, T1, &["sign", s(&csr)]);
    assert!(
        out.contains("note: dropped subject attribute 'title=Boss' (2.5.4.12) from the CSR"),
        "{out}"
    );
    let (ok, text) = openssl(&[
        "x509",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
        "-in",
        s(&env.cert_dir("dev9").join("cert.pem")),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("serialNumber=SN-42")
            && text.contains("DC=example")
            && text.contains("CN=dev9"),
        "{text}"
    );
    assert!(!text.contains("Boss"), "{text}");
}

#[test]
fn csr_subject_with_a_repeated_attribute_is_refused() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let csr = csr(&env, "e", "/DC=example/DC=com/CN=dev8");
    let err = refused_at(&env, T1, &["sign", s(&csr)]);
    assert!(err.contains("'DC' appears more than once"), "{err}");
    assert!(
        err.contains("hint: make the CSR again with each subject attribute once"),
        "{err}"
    );
}

#[test]
fn verify_names_a_revoked_issuer_instead_of_an_unknown_status() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    ok_at(
        &env,
        T1,
        &[
            "revoke",
            "issuing",
            "--reason",
            "ca-compromise",
            "--yes",
            "-q",
        ],
    );
    ok_at(&env, T1, &["crl", "-q"]);
    let cert = env.cert_dir("dev1").join("cert.pem");
    let chain = env.cert_dir("dev1").join("chain.pem");
    let root_crl = env.pki.join("cas/root/crl.pem");
    let issuing_crl = env.pki.join("cas/issuing/crl.pem");
    let root = env.root_pem();
    let why = "issuer revoked: CA 'CN=Test Issuing CA' above 'CN=dev1' was revoked on 2026-04-01T00:00:00Z (reason ca-compromise) by 'CN=Test Root CA'";
    let with = |crls: &[&std::path::Path]| {
        let mut args = vec![
            "verify",
            s(&cert),
            "--bundle",
            s(&root),
            "--chain",
            s(&chain),
            "--at",
            T1,
        ];
        for c in crls {
            args.push("--crl");
            args.push(s(c));
        }
        let r = run_at(&env, T1, &args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        r.stderr
    };
    // Only the root's CRL: the leaf's own status is unknown, but its issuer is listed.
    let err = with(&[&root_crl]);
    assert!(err.contains(why), "{err}");
    let err = with(&[&root_crl, &issuing_crl]);
    assert!(err.contains(why), "{err}");
    let r = run_at(&env, T1, &["verify", s(&cert), "--ca", "issuing"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(why), "{}", r.stderr);
}

#[test]
fn verify_matches_a_trust_anchor_by_its_key_not_only_its_subject() {
    // Two roots named alike (a re-keyed root): the old one expired.
    let old = Env::new();
    ok_at(
        &old,
        T0,
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
    ok_at(
        &new,
        T0,
        &["init", "--cn", "Same Root", "--no-passphrase", "-q"],
    );
    ok_at(&new, T1, &["issue", "dev", "--ca", "root", "-q"]);
    let bundle = new.path("roots.pem");
    let text = format!(
        "{}{}",
        std::fs::read_to_string(old.root_pem()).unwrap(),
        std::fs::read_to_string(new.root_pem()).unwrap()
    );
    std::fs::write(&bundle, text).unwrap();
    let cert = new.cert_dir("dev").join("cert.pem");
    let out = ok_at(
        &new,
        T1,
        &["verify", s(&cert), "--bundle", s(&bundle), "--at", T1],
    );
    assert!(out.contains("OK: 'CN=dev'"), "{out}");
    // The old root still anchors its own leaf while it is valid.
    ok_at(
        &old,
        T0,
        &["issue", "olddev", "--ca", "root", "--validity", "9d", "-q"],
    );
    let r = run_at(
        &old,
        T0,
        &[
            "verify",
            s(&old.cert_dir("olddev").join("cert.pem")),
            "--bundle",
            s(&bundle),
            "--at",
            "2026-03-05T00:00:00Z",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

/// An OpenSSL root made with exactly `exts` (no SKI unless asked). Returns (cert, key).
fn openssl_root(env: &Env, name: &str, cn: &str, exts: &str) -> (PathBuf, PathBuf) {
    let cnf = env.path(&format!("{name}.cnf"));
    std::fs::write(
        &cnf,
        format!("[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN={cn}\n[v3]\n{exts}\n"),
    )
    .unwrap();
    let (cert, key) = (
        env.path(&format!("{name}.crt")),
        env.path(&format!("{name}.key")),
    );
    openssl_self_signed(&cnf, &key, &cert, 3650);
    (cert, key)
}

fn key_ids(args: &[&str]) -> Vec<String> {
    let (ok, text) = openssl(args);
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0].contains("Authority Key Identifier"))
        .map(|w| w[1].trim().trim_start_matches("keyid:").to_string())
        .collect()
}

#[test]
fn ski_less_imported_ca_gets_the_same_key_id_in_certificates_and_crls() {
    let env = Env::new();
    let (cert, key) = openssl_root(
        &env,
        "keyless",
        "Keyless Root",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=none\nauthorityKeyIdentifier=none",
    );
    env.ok(&[
        "init",
        "--import-cert",
        s(&cert),
        "--import-key",
        s(&key),
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["issue", "dev", "--ca", "root", "-q"]);
    env.ok(&["revoke", "dev", "-q"]);
    env.ok(&["crl", "-q"]);
    let leaf = env.cert_dir("dev").join("cert.pem");
    let crl = env.pki.join("cas/root/crl.pem");
    let in_cert = key_ids(&["x509", "-noout", "-text", "-in", s(&leaf)]);
    let in_crl = key_ids(&["crl", "-noout", "-text", "-in", s(&crl)]);
    assert_eq!(in_cert.len(), 1, "{in_cert:?}");
    assert_eq!(in_cert, in_crl, "certificate AKI differs from CRL AKI");
    // OpenSSL matches the CRL to its issuer: the revoked leaf is reported as revoked.
    let (ok, out) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        s(&cert),
        "-CRLfile",
        s(&crl),
        s(&leaf),
    ]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

fn crl_of(env: &Env, ca: &str) -> PathBuf {
    env.pki.join("cas").join(ca).join("crl.pem")
}

#[test]
fn ca_from_a_profile_without_crl_sign_needs_no_crl_and_crl_skips_it() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let profile = include_str!("../templates/intermediate-ca.json")
        .replace("\"keyCertSign\", \"cRLSign\",", "\"keyCertSign\",");
    std::fs::create_dir_all(env.pki.join("templates")).unwrap();
    std::fs::write(env.pki.join("templates/intermediate-ca.json"), profile).unwrap();
    let args = [
        "intermediate",
        "nocrl",
        "--cn",
        "No CRL CA",
        "--no-passphrase",
    ];
    let err = refused_at(&env, T0, &args);
    assert!(
        err.contains("keyUsage lacks cRLSign") && err.contains("hint: pass --no-crl"),
        "{err}"
    );
    let mut with = args.to_vec();
    with.push("--no-crl");
    ok_at(&env, T0, &with);
    let out = ok_at(&env, T1, &["crl"]);
    assert!(
        out.contains(
            "Skipped CA 'nocrl': it publishes no CRL (made with --no-crl; keyUsage lacks cRLSign)"
        ),
        "{out}"
    );
    assert!(crl_of(&env, "root").exists() && crl_of(&env, "issuing").exists());
    assert!(!crl_of(&env, "nocrl").exists());
    let err = refused_at(&env, T1, &["crl", "--ca", "nocrl"]);
    assert!(err.contains("CA 'nocrl' publishes no CRL"), "{err}");
    // A bundle with CRLs cannot hold it; the hint must not send the operator to that refused `crl`.
    let err = refused_at(
        &env,
        T1,
        &["bundle", "--target", "nginx", "--with-crl", "--out", "b"],
    );
    assert!(
        err.contains("CA 'nocrl' signs no CRLs") && !err.contains("certsmith crl --ca nocrl"),
        "{err}"
    );
}

#[test]
fn no_crl_drops_crl_sign_from_a_new_ca() {
    let env = Env::new();
    ok_at(
        &env,
        T0,
        &["init", "--cn", "Root", "--no-passphrase", "--no-crl", "-q"],
    );
    let (ok, text) = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "keyUsage",
        "-in",
        s(&env.root_pem()),
    ]);
    assert!(
        ok && text.contains("Certificate Sign") && !text.contains("CRL Sign"),
        "{text}"
    );
}

#[test]
fn imported_ca_without_crl_sign_is_refused_unless_no_crl() {
    let env = Env::new();
    let (cert, key) = openssl_root(
        &env,
        "signonly",
        "Sign Only Root",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash",
    );
    let args = [
        "init",
        "--import-cert",
        s(&cert),
        "--import-key",
        s(&key),
        "--no-passphrase",
    ];
    let r = env.run(&args);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(!env.pki.exists(), "a refused import left a PKI directory");
    assert!(
        r.stderr
            .contains("may not sign CRLs (keyUsage lacks cRLSign)")
            && r.stderr.contains("--no-crl"),
        "{}",
        r.stderr
    );
    let mut with = args.to_vec();
    with.push("--no-crl");
    env.ok(&with);
    let out = env.ok(&["crl"]);
    assert!(out.contains("Skipped CA 'root'"), "{out}");
}

#[test]
fn crl_for_every_ca_goes_on_after_a_failure_and_exits_1() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let pf = env.path("pass.txt");
    std::fs::write(&pf, "correct horse battery staple\n").unwrap();
    ok_at(
        &env,
        T0,
        &[
            "intermediate",
            "locked",
            "--cn",
            "Locked CA",
            "--passphrase-file",
            s(&pf),
            "-q",
        ],
    );
    // Its first CRL, written when it was created.
    let first = std::fs::read(crl_of(&env, "locked")).unwrap();
    // No passphrase and no terminal: 'locked' cannot sign; the others still publish.
    let r = run_at(&env, T1, &["crl"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("'locked'"), "{}", r.stderr);
    assert!(
        r.stderr.contains("1 of 3 CRLs could not be written"),
        "{}",
        r.stderr
    );
    assert!(crl_of(&env, "root").exists() && crl_of(&env, "issuing").exists());
    assert_eq!(std::fs::read(crl_of(&env, "locked")).unwrap(), first);
    assert!(
        r.stdout.contains("Wrote CRL #2 of CA 'issuing'"),
        "{}",
        r.stdout
    );
}

#[test]
fn crl_for_every_ca_goes_on_after_a_ca_it_cannot_load() {
    let env = Env::new();
    ok_at(
        &env,
        T0,
        &["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
    );
    let pf = env.path("pass.txt");
    std::fs::write(&pf, "secret\n").unwrap();
    let mut args: Vec<Vec<&str>> = vec![vec![
        "intermediate",
        "enc",
        "--cn",
        "Enc CA",
        "--passphrase-file",
        s(&pf),
        "-q",
    ]];
    for n in ["iss2", "iss3"] {
        args.push(vec!["intermediate", n, "--cn", n, "--no-passphrase", "-q"]);
    }
    for a in &args {
        ok_at(&env, T0, a);
    }
    std::fs::write(env.pki.join("cas/iss2/ca.pem"), "junk\n").unwrap();
    // Its first CRL, written when it was created.
    let first = std::fs::read(crl_of(&env, "iss2")).unwrap();
    let out = env
        .command(&["crl"])
        .env("CERTSMITH_NOW", T1)
        .env("CERTSMITH_PASSPHRASE", "secret")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("CA 'iss2'"), "{stderr}");
    assert!(
        stderr.contains("1 of 4 CRLs could not be written (iss2)"),
        "{stderr}"
    );
    for ok in ["root", "enc", "iss3"] {
        assert!(
            crl_of(&env, ok).exists(),
            "no CRL for {ok}: {stdout}{stderr}"
        );
    }
    assert_eq!(std::fs::read(crl_of(&env, "iss2")).unwrap(), first);
    assert!(stdout.contains("Wrote CRL #2 of CA 'iss3'"), "{stdout}");
}

#[test]
fn verify_accepts_a_chain_under_any_of_two_roots_with_one_key() {
    // A root renewed with the same key: the expired one listed first.
    let env = Env::new();
    let (key, short, long) = (
        env.path("root.key"),
        env.path("short.crt"),
        env.path("long.crt"),
    );
    let cnf = env.path("root.cnf");
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN=Same Key Root\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n",
    )
    .unwrap();
    let (ok, out) = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        s(&key),
    ]);
    assert!(ok, "{out}");
    for (cert, days) in [(&short, "10"), (&long, "3650")] {
        let (ok, out) = openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            s(&key),
            "-days",
            days,
            "-config",
            s(&cnf),
            "-out",
            s(cert),
        ]);
        assert!(ok, "{out}");
    }
    env.ok(&[
        "init",
        "--import-cert",
        s(&long),
        "--import-key",
        s(&key),
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["issue", "dev", "--ca", "root", "--validity", "60d", "-q"]);
    let bundle = env.path("roots.pem");
    let text = format!(
        "{}{}",
        std::fs::read_to_string(&short).unwrap(),
        std::fs::read_to_string(&long).unwrap()
    );
    std::fs::write(&bundle, text).unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::days(20);
    let at = later
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let cert = env.cert_dir("dev").join("cert.pem");
    let (ok, why) = openssl(&[
        "verify",
        "-x509_strict",
        "-attime",
        &later.unix_timestamp().to_string(),
        "-CAfile",
        s(&bundle),
        s(&cert),
    ]);
    assert!(ok, "openssl: {why}");
    let out = env.ok(&["verify", s(&cert), "--bundle", s(&bundle), "--at", &at]);
    assert!(out.contains("OK: 'CN=dev'"), "{out}");
    // Past both roots' notAfter dates, the error still names the root's expiry.
    let r = env.run(&["verify", s(&cert), "--bundle", s(&short), "--at", &at]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("certificate 'CN=Same Key Root' expired on"),
        "{}",
        r.stderr
    );
}

#[test]
fn bundle_refuses_a_revoked_ca_named_with_ca() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    ok_at(
        &env,
        T1,
        &[
            "revoke",
            "issuing",
            "--reason",
            "key-compromise",
            "--yes",
            "-q",
        ],
    );
    let code = "a1b2".repeat(16);
    for args in [
        vec!["bundle", "--target", "generic", "--ca", "issuing"],
        vec![
            "bundle",
            "--target",
            "aws-iot",
            "--ca",
            "issuing",
            "--registration-code",
            &code,
        ],
    ] {
        let err = refused_at(&env, T1, &args);
        assert!(
            err.contains("CA 'issuing' was revoked on 2026-04-01T00:00:00Z (key-compromise)"),
            "{args:?}: {err}"
        );
    }
    // The root alone is still bundled.
    ok_at(
        &env,
        T1,
        &["bundle", "--target", "generic", "--ca", "root", "-q"],
    );
}

#[test]
fn clamp_to_a_ca_that_ends_now_is_refused_like_a_validity_that_ends_now() {
    let env = Env::new();
    ok_at(
        &env,
        T0,
        &[
            "init",
            "--cn",
            "Short Root",
            "--validity",
            "10d",
            "--no-passphrase",
            "-q",
        ],
    );
    let end = "2026-03-11T00:00:00Z";
    let err = refused_at(
        &env,
        end,
        &["issue", "dev", "--ca", "root", "--validity", end],
    );
    assert!(err.contains("is not in the future"), "{err}");
    let err = refused_at(
        &env,
        end,
        &[
            "issue",
            "dev",
            "--ca",
            "root",
            "--validity",
            "30d",
            "--clamp",
        ],
    );
    assert!(err.contains("is not in the future"), "{err}");
}

#[test]
fn csr_subject_with_a_repeated_attribute_is_signed_when_the_subject_is_given() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let csr = csr(&env, "dc", "/DC=com/DC=example/CN=x");
    ok_at(&env, T1, &["sign", s(&csr), "--subject", "CN=x", "-q"]);
    ok_at(
        &env,
        T1,
        &["sign", s(&csr), "--cn", "y", "--name", "y", "-q"],
    );
    // Without an override the CSR's own subject is still refused.
    let err = refused_at(&env, T1, &["sign", s(&csr), "--name", "z"]);
    assert!(err.contains("'DC' appears more than once"), "{err}");
}

#[test]
fn csr_subject_with_a_multi_valued_rdn_says_it_is_split() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let csr = env.path("mv.csr");
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-multivalue-rdn",
        "-subj",
        "/CN=dev+OU=ops/O=Acme",
        "-keyout",
        s(&env.path("mv.key")),
        "-out",
        s(&csr),
    ]);
    assert!(ok, "{out}");
    let out = ok_at(&env, T1, &["sign", s(&csr)]);
    assert!(
        out.contains(
            "note: the CSR's multi-valued RDN 'CN=dev+OU=ops' becomes one RDN per attribute"
        ),
        "{out}"
    );
}

#[test]
fn csr_subject_in_bmpstrings_keeps_its_values() {
    let env = Env::new();
    hierarchy_at_t0(&env);
    let (cnf, csr) = (env.path("bmp.cnf"), env.path("bmp.csr"));
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name=dn\nstring_mask=MASK:0x800\nprompt=no\n[dn]\nO=Acme\nCN=bmp1\n",
    )
    .unwrap();
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-config",
        s(&cnf),
        "-keyout",
        s(&env.path("bmp.key")),
        "-out",
        s(&csr),
    ]);
    assert!(ok, "{out}");
    let (_, parsed) = openssl(&["asn1parse", "-in", s(&csr)]);
    assert!(parsed.contains("BMPSTRING"), "{parsed}");
    let out = ok_at(&env, T1, &["sign", s(&csr)]);
    assert!(!out.contains("dropped"), "{out}");
    let (ok, text) = openssl(&[
        "x509",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253",
        "-in",
        s(&env.cert_dir("bmp1").join("cert.pem")),
    ]);
    assert!(ok && text.contains("CN=bmp1,O=Acme"), "{text}");
}
