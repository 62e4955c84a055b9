//! The ledger core: a second host working from the ledger alone, leases on
//! pending reservations, and who issued or revoked each certificate.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{Env, mode, s};

const NOW: &str = "2026-12-02T14:00:00Z";

/// Runs certsmith for `env` at the fixed time, as user `user`, with `extra` first.
fn at(env: &Env, user: &str, args: &[&str]) -> crate::common::Run {
    let out = env
        .command(args)
        .env("CERTSMITH_NOW", NOW)
        .env("USER", user)
        .output()
        .unwrap();
    crate::common::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(env: &Env, user: &str, args: &[&str]) -> String {
    let r = at(env, user, args);
    assert_eq!(
        r.code, 0,
        "certsmith {args:?} failed:\n{}{}",
        r.stdout, r.stderr
    );
    r.stdout
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Host A: root → issuing, and a leaf `dev`.
fn host_a() -> Env {
    let a = Env::new();
    ok(
        &a,
        "alice",
        &["init", "--cn", "Test Root CA", "--no-passphrase", "-q"],
    );
    ok(
        &a,
        "alice",
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Test Issuing CA",
            "--no-passphrase",
            "-q",
        ],
    );
    ok(&a, "alice", &["issue", "dev", "-q"]);
    a
}

/// Host B: an empty PKI directory.
fn host_b() -> Env {
    let b = Env::new();
    std::fs::create_dir(&b.pki).unwrap();
    std::fs::set_permissions(&b.pki, std::fs::Permissions::from_mode(0o700)).unwrap();
    b
}

fn url(a: &Env) -> String {
    format!("sqlite:{}", a.pki.join("ledger.db").display())
}

#[test]
fn a_second_host_with_an_empty_pki_directory_works_from_the_ledger_and_issues_once_it_has_the_key()
{
    let a = host_a();
    let b = host_b();
    let url = url(&a);
    let l = ["--ledger", url.as_str()];
    let with =
        |args: &[&str]| -> Vec<String> { l.iter().chain(args).map(|x| x.to_string()).collect() };
    let run = |args: &[&str]| {
        let v = with(args);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        ok(&b, "bob", &v)
    };
    assert!(run(&["status"]).contains("issuing"));
    let list: serde_json::Value = serde_json::from_str(&run(&["--json", "list"])).unwrap();
    assert_eq!(list["certificates"][0]["name"], "dev");
    run(&["verify", s(&a.cert_dir("dev").join("cert.pem"))]);
    // Read-only commands read the CA certificates from the ledger and write nothing.
    assert!(
        !b.pki.join("cas").exists(),
        "a read-only command wrote into the PKI"
    );
    run(&["bundle", "--target", "generic"]);
    // A writer that succeeded writes them from the ledger, as host A has them.
    for ca in ["root", "issuing"] {
        let mine = b.pki.join(format!("cas/{ca}/ca.pem"));
        assert_eq!(
            std::fs::read(&mine).unwrap(),
            std::fs::read(a.pki.join(format!("cas/{ca}/ca.pem"))).unwrap(),
            "{ca}"
        );
        assert_eq!(mode(&mine), 0o644, "{ca}");
    }
    assert!(b.pki.join("bundles/generic/ca-bundle.pem").is_file());
    run(&["revoke", "dev", "--reason", "key-compromise"]);
    let on_a = a.json(&["list", "--all"]);
    assert_eq!(on_a["certificates"][0]["status"], "revoked");
    // Without the CA key, issuing is refused and nothing is recorded.
    let v = with(&["issue", "dev2", "-q"]);
    let v: Vec<&str> = v.iter().map(String::as_str).collect();
    assert_ne!(at(&b, "bob", &v).code, 0);
    let names = |env: &Env| -> Vec<String> {
        env.json(&["list", "--all"])["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&a), ["dev", "issuing", "root"]);
    // Its copy of the key file at the usual path is all it needs.
    let key = b.pki.join("cas/issuing/ca.key.pem");
    std::fs::copy(a.pki.join("cas/issuing/ca.key.pem"), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    run(&["issue", "dev2", "-q"]);
    let crl: serde_json::Value =
        serde_json::from_str(&run(&["--json", "crl", "--ca", "issuing"])).unwrap();
    assert_eq!(crl["crls"][0]["revoked"], 1);
    assert_eq!(names(&a), ["dev2", "dev", "issuing", "root"]);
}

#[test]
fn list_json_and_inspect_say_which_host_and_user_issued_and_revoked_a_certificate() {
    let a = host_a();
    ok(&a, "carol", &["revoke", "dev"]);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&a, "alice", &["--json", "list", "--all"])).unwrap();
    let dev = &list["certificates"][0];
    assert_eq!(
        dev["issued_by"],
        serde_json::json!({"host": host(), "user": "alice"})
    );
    assert_eq!(
        dev["revoked_by"],
        serde_json::json!({"host": host(), "user": "carol"})
    );
    let cert = a.cert_dir("dev").join("cert.pem");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&a, "dave", &["--json", "inspect", s(&cert)])).unwrap();
    assert_eq!(v["issued_by"]["user"], "alice");
    assert_eq!(v["revoked_by"]["user"], "carol");
    let text = ok(&a, "dave", &["inspect", s(&cert)]);
    assert!(
        text.contains(&format!("issued by alice@{}", host())),
        "{text}"
    );
    // A certificate never revoked says only who issued it.
    ok(&a, "erin", &["issue", "api", "-q"]);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&a, "alice", &["--json", "list"])).unwrap();
    assert_eq!(list["certificates"][0]["issued_by"]["user"], "erin");
    assert!(list["certificates"][0].get("revoked_by").is_none());
}

/// Adds a pending leaf `name` held by `owner` until `lease_until`.
fn pending_row(ledger: &Path, name: &str, owner: &str, lease_until: i64) {
    let c = rusqlite::Connection::open(ledger).unwrap();
    c.execute(
        "INSERT INTO certificates (name, kind, issuer, serial, subject, profile, key_type, not_before, not_after,
             fingerprint, state, dir, has_key, created_at, owner, lease_until)
         VALUES (?1, 'leaf', 'issuing', ?2, 'CN=x', 'device', 'ecdsa-p256', 0, 2000000000, 'f', 'pending',
             'certs/' || ?1, 1, 0, ?3, ?4)",
        rusqlite::params![name, format!("7e{:x}", name.len() * 7919), owner, lease_until],
    )
    .unwrap();
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn doctor_repair_settles_reservations_of_dead_owners_and_expired_leases_only() {
    let a = host_a();
    let ledger = a.pki.join("ledger.db");
    let now = 1_796_220_000; // 2026-12-02T14:00:00Z
    // A process of this host that no longer runs (pid 0 is never one).
    pending_row(
        &ledger,
        "dead-here",
        &format!("{}:0:{}", host(), boot_id()),
        now + 600,
    );
    // Another host whose lease expired a minute ago.
    pending_row(&ledger, "expired-there", "build-7:4242:boot-b", now - 60);
    // Another host still within its lease.
    pending_row(&ledger, "live-there", "build-8:4243:boot-c", now + 300);
    let out = ok(&a, "alice", &["doctor", "--repair"]);
    assert!(
        out.contains("'live-there'") && out.contains("host 'build-8'"),
        "{out}"
    );
    let left: Vec<String> = {
        let c = rusqlite::Connection::open(&ledger).unwrap();
        let mut st = c
            .prepare("SELECT name FROM certificates WHERE state = 'pending' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(left, ["live-there"]);
}

#[test]
fn a_reservation_records_its_process_as_owner_with_a_ten_minute_lease_and_confirm_clears_it() {
    let a = host_a();
    let child = a
        .command(&["issue", "held", "-q"])
        .env("CERTSMITH_NOW", NOW)
        .env("CERTSMITH_TEST_CRASH_AT", "committed")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let c = rusqlite::Connection::open(a.pki.join("ledger.db")).unwrap();
    let row = |name: &str| -> (String, Option<String>, Option<i64>) {
        c.query_row(
            "SELECT state, owner, lease_until FROM certificates WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
    };
    assert_eq!(
        row("held"),
        (
            "pending".to_string(),
            Some(format!("{}:{pid}:{}", host(), boot_id())),
            Some(1_796_220_000 + 600)
        )
    );
    assert_eq!(row("dev"), ("active".to_string(), None, None));
    // Its process is gone: doctor --repair settles it at once.
    ok(&a, "alice", &["doctor", "--repair"]);
    assert_eq!(row("held").0, "active");
}

#[test]
fn a_postgres_ledger_asking_for_tls_without_its_ca_file_is_refused_with_exit_2_never_showing_the_password()
 {
    let a = host_a();
    let before = a.tree_hash();
    let url =
        "postgres://ca:hunter2@db.invalid:5432/pki?sslmode=require&sslrootcert=missing-root.pem";
    for r in [at(&a, "alice", &["--ledger", url, "status"]), {
        let out = a
            .command(&["list"])
            .env("CERTSMITH_LEDGER", url)
            .output()
            .unwrap();
        crate::common::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }] {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.starts_with(
                "certsmith: cannot read the PostgreSQL server's CA certificates 'missing-root.pem'"
            ),
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("hunter2") && !r.stdout.contains("hunter2"));
    }
    let r = at(
        &a,
        "alice",
        &["--ledger", "mysql://ca:hunter2@db/pki", "status"],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("certsmith: unsupported ledger URL 'mysql://ca@db/pki'"),
        "{}",
        r.stderr
    );
    assert_eq!(a.tree_hash(), before);
}
