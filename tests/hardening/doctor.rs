//! `doctor`: what it finds, what `--repair` fixes, and its exit codes.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

#[test]
fn fresh_hierarchy_is_clean_in_text_and_json() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let out = env.ok(&["doctor"]);
    assert!(
        out.contains("2 CAs, 1 certificate") && out.contains("No problems found"),
        "{out}"
    );
    let j = env.json(&["doctor"]);
    assert_eq!(j["clean"], true);
    assert_eq!(j["problems"], 0);
    assert_eq!(j["certificates"], 1);
}

#[test]
fn tampered_certificate_and_swapped_key_are_problems_that_repair_does_not_hide() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "a", "-q"]);
    env.ok(&["issue", "b", "-q"]);
    // b's cert in a's place, and b's key beside a's own cert.
    std::fs::copy(
        env.cert_dir("b").join("key.pem"),
        env.cert_dir("a").join("key.pem"),
    )
    .unwrap();
    std::fs::copy(
        env.cert_dir("a").join("cert.pem"),
        env.cert_dir("b").join("cert.pem"),
    )
    .unwrap();
    let r = env.run(&["--json", "doctor", "--repair"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let msgs: Vec<&str> = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("certificate 'a'") && m.contains("does not belong")),
        "{msgs:?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("certificate 'b'") && m.contains("fingerprint")),
        "{msgs:?}"
    );
    assert_eq!(j["clean"], false);
    assert_eq!(
        r.stderr.lines().next().unwrap(),
        format!(
            "certsmith: doctor found 3 problems in '{}'",
            env.pki.display()
        )
    );
}

#[test]
fn missing_file_ca_key_mismatch_and_orphans_are_reported() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    std::fs::remove_file(env.cert_dir("dev").join("chain.pem")).unwrap();
    std::fs::copy(
        env.pki.join("cas/root/ca.key.pem"),
        env.pki.join("cas/issuing/ca.key.pem"),
    )
    .unwrap();
    std::fs::create_dir_all(env.cert_dir("ghost")).unwrap();
    std::fs::write(env.cert_dir("ghost").join("cert.pem"), "x").unwrap();
    std::fs::write(env.cert_dir("dev").join("notes.txt"), "x").unwrap();
    let out = env.run(&["doctor"]).stdout;
    for want in [
        "certificate 'dev': 'certs/dev/chain.pem' is missing",
        "CA 'issuing': the key in 'cas/issuing/ca.key.pem' does not belong to its certificate",
        "'certs/ghost' belongs to no certificate in the ledger",
        "'certs/dev/notes.txt' is not a file certsmith wrote",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn encrypted_ca_key_is_checked_only_with_its_passphrase() {
    let env = Env::new();
    let pass = env.path("pass");
    std::fs::write(&pass, "Zebra-Quokka-77\n").unwrap();
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--passphrase-file",
        pass.to_str().unwrap(),
        "-q",
    ]);
    env.ok(&["doctor"]);
    let r = env
        .command(&["doctor"])
        .env("CERTSMITH_PASSPHRASE", "Zebra-Quokka-77")
        .output()
        .unwrap();
    assert!(r.status.success());
    let r = env
        .command(&["doctor"])
        .env("CERTSMITH_PASSPHRASE", "Wrong-Wombat-13")
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1), "a wrong passphrase is reported");
    assert!(
        !String::from_utf8_lossy(&r.stdout).contains("Wombat"),
        "the passphrase is never echoed"
    );
}

#[test]
fn crl_past_next_update_is_a_problem() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "--ca", "issuing", "--next-update", "1d", "-q"]);
    env.ok(&["doctor"]);
    // Past the CRL's nextUpdate, within the CA's validity (an expired CA's CRL is no problem).
    let at = certsmith::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(3));
    let later = env
        .command(&["doctor"])
        .env("CERTSMITH_NOW", &at)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&later.stdout);
    assert!(
        out.contains("CRL of CA 'issuing' is past its nextUpdate"),
        "{out}"
    );
}

#[test]
fn ca_expiring_within_30_days_is_a_warning_not_a_failure() {
    let env = Env::new();
    // One fixed clock for both commands: with the real one, `init` and
    // `doctor` straddling a second read 19 days instead of 20.
    let at = |args: &[&str]| {
        let out = env
            .command(args)
            .env("CERTSMITH_NOW", "2030-06-01T12:00:00Z")
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr
                .lines()
                .all(|l| l.starts_with("certsmith: warning: the clock is fixed")),
            "{args:?}: {stderr}"
        );
        stdout
    };
    at(&[
        "init",
        "--cn",
        "Root",
        "--no-passphrase",
        "--validity",
        "20d",
        "-q",
    ]);
    let out = at(&["doctor"]);
    assert!(
        out.contains("warning: CA 'root' expires in 20 days"),
        "{out}"
    );
}

#[test]
fn leftover_temp_file_and_loose_key_are_repaired() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let tmp = env.cert_dir("dev").join(".certsmith-AbC123");
    std::fs::write(&tmp, "half a key").unwrap();
    // A whole certificate directory staged by an interrupted batch.
    let staged = env.pki.join("certs/.certsmith-DirXyz");
    std::fs::create_dir(&staged).unwrap();
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(staged.join("key.pem"), "k").unwrap();
    std::fs::set_permissions(
        staged.join("key.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let key = env.cert_dir("dev").join("key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(env.run(&["doctor"]).code, 1);
    let out = env.ok(&["doctor", "--repair"]);
    assert!(
        out.contains("repaired: removed it") && out.contains("repaired: set mode 0600"),
        "{out}"
    );
    assert!(!tmp.exists());
    assert!(!staged.exists());
    assert_eq!(out.matches("temporary file").count(), 2, "{out}");
    assert!(!out.contains("belongs to no certificate"), "{out}");
    assert_eq!(mode(&key), 0o600);
    env.ok(&["doctor"]);
}

#[test]
fn corrupt_ledger_fails_the_integrity_check() {
    let env = Env::new();
    env.hierarchy();
    for i in 0..30 {
        env.ok(&["issue", &format!("d{i}"), "-q"]);
    }
    // Force a checkpoint so the rows live in ledger.db, then damage the
    // header of a page that holds certificate rows (the page where the
    // name "d15" is stored), wherever the schema puts it.
    env.ok(&["doctor", "--repair"]);
    let db = env.pki.join("ledger.db");
    let _ = std::fs::remove_file(env.pki.join("ledger.db-wal"));
    let mut bytes = std::fs::read(&db).unwrap();
    let page_size = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    let at = bytes
        .windows(4)
        .position(|w| w == b"/d15")
        .expect("a certificate row in ledger.db");
    let page = at / page_size * page_size;
    assert!(page > 0, "certificate rows on the schema page");
    for b in &mut bytes[page..page + 64] {
        *b = 0xa5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let r = env.run(&["doctor"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr
            .lines()
            .filter(|l| l.starts_with("certsmith: "))
            .count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn renew_refuses_a_record_whose_sans_are_unreadable() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "issue",
        "api",
        "--profile",
        "server",
        "--san",
        "dns:api.test.internal",
        "-q",
    ]);
    let ledger = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    ledger
        .execute_batch("UPDATE certificates SET sans = '[\"dns:api.test' WHERE name = 'api'")
        .unwrap();
    drop(ledger);
    let before = env.tree_hash();
    let err = env.fails(1, &["renew", "api"]);
    assert!(
        err.starts_with("certsmith: the ledger record of 'api' (row ")
            && err.contains("has unreadable SANs"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before, "renew changed the PKI");
}
