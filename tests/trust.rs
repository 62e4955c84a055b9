//! Revocation and CRLs: `revoke` in the ledger, `crl` output that OpenSSL
//! matches to its issuer and uses to reject a revoked certificate.

use std::process::Command;

use crate::common::*;

/// Runs certsmith with a pinned clock; asserts success; returns stdout.
pub fn ok_at(env: &Env, now: &str, args: &[&str]) -> String {
    let out = env
        .command(args)
        .env("CERTSMITH_NOW", now)
        .output()
        .expect("run certsmith");
    assert!(
        out.status.success(),
        "certsmith {args:?} at {now} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn crl_text(path: &std::path::Path) -> String {
    let (ok, text) = openssl(&["crl", "-noout", "-text", "-in", path.to_str().unwrap()]);
    assert!(ok, "{text}");
    text
}

fn openssl_crl_check(
    env: &Env,
    cert: &std::path::Path,
    crls: &[&str],
    all: bool,
) -> (bool, String) {
    let crlfile = env.path("crls-for-check.pem");
    let text: String = crls
        .iter()
        .map(|c| std::fs::read_to_string(env.pki.join("cas").join(c).join("crl.pem")).unwrap())
        .collect();
    std::fs::write(&crlfile, text).unwrap();
    let out = Command::new("openssl")
        .args([
            "verify",
            "-x509_strict",
            if all { "-crl_check_all" } else { "-crl_check" },
        ])
        .arg("-CRLfile")
        .arg(&crlfile)
        .arg("-CAfile")
        .arg(env.root_pem())
        .arg("-untrusted")
        .arg(env.pki.join("cas/issuing/ca.pem"))
        .arg(cert)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn revoked_device_is_listed_in_the_crl_and_rejected_by_openssl() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    env.ok(&["issue", "dev2"]);
    let out = env.ok(&["revoke", "dev1", "--reason", "key-compromise"]);
    assert!(out.contains("crl --ca issuing"), "{out}");
    env.ok(&["crl"]);
    let text = crl_text(&env.pki.join("cas/issuing/crl.pem"));
    assert!(text.contains("Key Compromise"), "{text}");
    let (ok, out) = openssl_crl_check(
        &env,
        &env.cert_dir("dev1").join("cert.pem"),
        &["issuing"],
        false,
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = openssl_crl_check(
        &env,
        &env.cert_dir("dev2").join("cert.pem"),
        &["issuing", "root"],
        true,
    );
    assert!(ok, "{out}");
    let list = env.json(&["list", "--revoked"]);
    let certs = list["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["name"], "dev1");
    assert_eq!(certs[0]["revocation_reason"], "key-compromise");
}

#[test]
fn empty_crl_verifies_against_its_ca_and_its_aki_is_the_ca_ski() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "--ca", "issuing", "--der"]);
    let crl = env.pki.join("cas/issuing/crl.pem");
    assert!(env.pki.join("cas/issuing/crl.der").exists());
    let (ok, out) = openssl(&[
        "crl",
        "-noout",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        env.pki.join("cas/issuing/ca.pem").to_str().unwrap(),
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    let text = crl_text(&crl);
    assert!(
        !text.contains("Serial Number"),
        "an empty CRL lists nothing: {text}"
    );
    let (_, ski) = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectKeyIdentifier",
        "-in",
        env.pki.join("cas/issuing/ca.pem").to_str().unwrap(),
    ]);
    let ski = ski.lines().nth(1).unwrap().trim().to_string();
    assert!(
        text.contains(&ski),
        "AKI of the CRL must be the CA's SKI {ski}:\n{text}"
    );
}

#[test]
fn crl_number_increases_with_every_crl() {
    let env = Env::new();
    env.hierarchy();
    let first = env.json(&["crl", "--ca", "issuing"]);
    let second = env.json(&["crl", "--ca", "issuing"]);
    assert_eq!(first["crls"][0]["crl_number"], 1);
    assert_eq!(second["crls"][0]["crl_number"], 2);
    let text = crl_text(&env.pki.join("cas/issuing/crl.pem"));
    let number = text
        .lines()
        .skip_while(|l| !l.contains("CRL Number"))
        .nth(1)
        .map(str::trim);
    assert_eq!(number, Some("2"), "{text}");
}

#[test]
fn crl_without_ca_writes_every_ca_with_next_update() {
    let env = Env::new();
    env.hierarchy();
    let out = ok_at(
        &env,
        "2026-03-01T00:00:00Z",
        &["--json", "crl", "--next-update", "30d"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let crls = v["crls"].as_array().unwrap();
    assert_eq!(crls.len(), 2);
    assert_eq!(crls[0]["this_update"], "2026-03-01T00:00:00Z");
    assert_eq!(crls[0]["next_update"], "2026-03-31T00:00:00Z");
    assert!(env.pki.join("cas/root/crl.pem").exists());
    assert!(env.pki.join("cas/issuing/crl.pem").exists());
}

#[test]
fn revoke_by_serial_with_colons_finds_the_certificate() {
    let env = Env::new();
    env.hierarchy();
    let v = env.json(&["issue", "dev1"]);
    let serial = v["serial"].as_str().unwrap().to_uppercase();
    let colons: Vec<String> = serial
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let out = env.json(&["revoke", &colons.join(":"), "--reason", "superseded"]);
    assert_eq!(out["name"], "dev1");
    assert_eq!(out["reason"], "superseded");
}

#[test]
fn revoking_twice_is_an_error_naming_the_date() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    ok_at(&env, "2026-02-03T04:05:06Z", &["revoke", "dev1"]);
    let before = env.tree_hash();
    let err = env.fails(2, &["revoke", "dev1", "--reason", "key-compromise"]);
    assert!(
        err.contains("already revoked on 2026-02-03T04:05:06Z (unspecified)"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn unknown_reason_is_refused_and_the_pki_is_unchanged() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    let before = env.tree_hash();
    let err = env.fails(2, &["revoke", "dev1", "--reason", "stolen"]);
    assert!(
        err.starts_with("certsmith: unknown revocation reason 'stolen'"),
        "{err}"
    );
    assert!(
        err.contains("hint: use one of: unspecified, key-compromise"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn unknown_name_or_serial_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let err = fails_as(
        &env,
        &["revoke", "nobody"],
        &certsmith::Error::NoSuchCert {
            name: "nobody".into(),
            issuer: None,
        }
        .hint("give a certificate name or its serial in hex, as `certsmith list` shows them"),
    );
    assert!(err.contains("no certificate named 'nobody'"), "{err}");
    let err = env.fails(2, &["revoke", "abcdef"]);
    assert!(err.contains("serial abcdef"), "{err}");
}

#[test]
fn a_root_cannot_be_revoked() {
    let env = Env::new();
    env.hierarchy();
    let err = env.fails(2, &["revoke", "root"]);
    assert!(err.contains("'root' is a root CA"), "{err}");
}

#[test]
fn revoked_intermediate_lands_in_the_root_crl_and_fails_the_whole_chain() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    env.ok(&["revoke", "issuing", "--reason", "ca-compromise", "--yes"]);
    env.ok(&["crl"]);
    let text = crl_text(&env.pki.join("cas/root/crl.pem"));
    assert!(text.contains("CA Compromise"), "{text}");
    let (ok, out) = openssl_crl_check(
        &env,
        &env.cert_dir("dev1").join("cert.pem"),
        &["issuing", "root"],
        true,
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

#[test]
fn ambiguous_serial_needs_ca() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "intermediate",
        "second",
        "--cn",
        "Second CA",
        "--no-passphrase",
        "-q",
    ]);
    let v = env.json(&["issue", "dev1", "--ca", "issuing"]);
    let serial = v["serial"].as_str().unwrap().to_string();
    // Another CA may legitimately have used the same serial.
    let mut ledger = certsmith::ledger::Ledger::open(&env.pki.join("ledger.db")).unwrap();
    let mut rec = ledger.cert_by_name("dev1").unwrap().unwrap();
    rec.name = "twin".into();
    rec.issuer = Some("second".into());
    let ids = ledger
        .reserve_many(&[rec], false, &certsmith::ledger::no_check)
        .unwrap();
    ledger.activate(&[ids[0].unwrap()]).unwrap();
    let err = env.fails(2, &["revoke", &serial]);
    assert!(err.contains("was issued by more than one CA"), "{err}");
    assert!(err.contains("hint: pass --ca NAME"), "{err}");
    let out = env.json(&["revoke", &serial, "--ca", "second"]);
    assert_eq!(out["name"], "twin");
}

#[test]
fn crl_of_100k_revoked_certificates_is_built_quickly() {
    let env = Env::new();
    env.hierarchy();
    let mut ledger = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    {
        let tx = ledger.transaction().unwrap();
        {
            let mut st = tx
                .prepare(
                    "INSERT INTO certificates (name, kind, issuer, serial, subject, profile, key_type, not_before, not_after, fingerprint, state, revoked_at, revocation_reason, dir, has_key, created_at)
                     VALUES (?1, 'leaf', 'issuing', ?2, 'CN=x', 'device', 'ecdsa-p256', 0, 2000000000, 'f', 'active', 1700000000, 'superseded', 'certs/x', 0, 0)",
                )
                .unwrap();
            for i in 0..100_000u32 {
                let serial = format!("{:040x}", u128::from(i) + 0x1000);
                st.execute(rusqlite::params![format!("bulk-{i}"), serial])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    drop(ledger);
    let start = std::time::Instant::now();
    let v = env.json(&["crl", "--ca", "issuing"]);
    let took = start.elapsed();
    assert_eq!(v["crls"][0]["revoked"], 100_000);
    assert!(took.as_secs() < 20, "CRL of 100k entries took {took:?}");
    let (ok, out) = openssl(&[
        "crl",
        "-noout",
        "-in",
        env.pki.join("cas/issuing/crl.pem").to_str().unwrap(),
        "-CAfile",
        env.pki.join("cas/issuing/ca.pem").to_str().unwrap(),
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
}
