//! A hostile environment: ledger files that are not ledgers or are
//! symlinks, `--out` pointing at certsmith's own files, a full filesystem,
//! and another process holding the PKI directory lock. Each must end in
//! exit 1 or 2 with one `certsmith:` line and the PKI directory unchanged,
//! the ledger's bytes and its `-wal` / `-shm` files included.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Waits for `child` to exit, killing it and failing the test after `limit`.
fn wait_bounded(mut child: Child, limit: Duration, what: &str) -> std::process::Output {
    let start = Instant::now();
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An exclusive `flock` on the PKI directory, as `doctor --repair` takes it.
fn hold_dir_lock(env: &Env) -> std::fs::File {
    let f = std::fs::File::open(&env.pki).unwrap();
    f.lock().unwrap();
    f
}

fn one_error_line(err: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("note: ")).collect();
    assert!(
        !lines.is_empty() && lines[0].starts_with("certsmith: "),
        "{err}"
    );
    assert!(lines.len() <= 2, "more than message + hint: {err}");
    if lines.len() == 2 {
        assert!(lines[1].starts_with("hint: "), "{err}");
    }
}

// ---- 1. refused commands that still changed the PKI ----

#[test]
fn empty_ledger_file_is_refused_and_stays_empty() {
    let env = Env::new();
    std::fs::create_dir(&env.pki).unwrap();
    std::fs::set_permissions(
        &env.pki,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::write(env.pki.join("ledger.db"), b"").unwrap();
    for args in [&["list"][..], &["status"], &["issue", "dev"], &["crl"]] {
        let err = refused(&env, args);
        assert!(err.contains("is not a certsmith ledger"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(env.pki.join("ledger.db")).unwrap().len(), 0);
    assert_eq!(std::fs::read_dir(&env.pki).unwrap().count(), 1);
}

#[test]
fn non_ledger_file_is_refused_without_being_modified() {
    let env = Env::new();
    env.hierarchy();
    let junk: Vec<u8> = b"this is not a database\n".repeat(300);
    std::fs::write(env.pki.join("ledger.db"), &junk).unwrap();
    for args in [&["list"][..], &["issue", "dev"], &["revoke", "dev"]] {
        refused(&env, args);
    }
    assert_eq!(std::fs::read(env.pki.join("ledger.db")).unwrap(), junk);
}

#[test]
fn read_only_commands_leave_the_ledger_bytes_unchanged() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    // A ledger in rollback-journal mode (e.g. restored with the sqlite3
    // shell): opening it must not switch it to WAL.
    {
        let c = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
        let mode: String = c
            .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
    }
    let cert = env.cert_dir("dev").join("cert.pem");
    let before = env.tree_hash();
    env.ok(&["list"]);
    env.ok(&["status"]);
    env.ok(&["inspect", s(&cert)]);
    env.ok(&["verify", s(&cert)]);
    assert_eq!(
        env.tree_hash(),
        before,
        "a read-only command changed the PKI"
    );
}

// ---- 2. output directories created before validation ----

#[test]
fn bundle_refused_for_an_unknown_cert_creates_no_directory() {
    let env = Env::new();
    env.hierarchy();
    let err = refused(&env, &["bundle", "--target", "k8s", "--cert", "nope"]);
    assert!(err.contains("nope"), "{err}");
    assert!(!env.pki.join("bundles").exists());
    let out = env.path("k8s-out");
    refused(
        &env,
        &[
            "bundle",
            "--target",
            "k8s",
            "--cert",
            "nope",
            "--out",
            s(&out),
        ],
    );
    assert!(!out.exists(), "--out directory created by a refused bundle");
}

#[test]
fn bootstrap_failing_half_way_into_an_empty_directory_leaves_it_empty() {
    let env = Env::new();
    std::fs::create_dir(&env.pki).unwrap();
    std::fs::set_permissions(
        &env.pki,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    // ed25519 CAs break the aws-alb rules: the last step fails.
    let err = env.fails(
        1,
        &[
            "--yes",
            "bootstrap",
            "--no-passphrase",
            "--root-key",
            "ed25519",
            "--key",
            "ed25519",
            "--target",
            "aws-alb",
        ],
    );
    assert!(err.contains("aws-alb"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&env.pki).unwrap().collect();
    assert!(left.is_empty(), "bootstrap left {left:?}");
    let beside: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, vec![std::ffi::OsString::from("pki")], "{beside:?}");
    // Into a directory that does not exist yet: nothing appears at all.
    let fresh = env.path("new/pki");
    let r = certsmith()
        .arg("--pki")
        .arg(&fresh)
        .args([
            "--yes",
            "bootstrap",
            "--no-passphrase",
            "--root-key",
            "ed25519",
            "--key",
            "ed25519",
            "--target",
            "aws-alb",
        ])
        .current_dir(env.dir.path())
        .env_remove("CERTSMITH_PKI")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("aws-alb"), "{err}");
    assert!(!env.path("new").exists(), "bootstrap left its staging area");
    // The same directory then takes a complete bootstrap, output as before.
    let out = env.ok(&["--yes", "bootstrap", "--no-passphrase"]);
    assert!(out.contains(&format!("in {}.", env.pki.display())), "{out}");
    assert!(
        out.contains(&format!("{}/cas/root/ca.pem", env.pki.display())),
        "{out}"
    );
    env.ok(&["list"]);
}

// ---- 3. a full filesystem ----

#[test]
fn full_filesystem_says_no_space_and_leaves_nothing() {
    full_disk_refusals_change_nothing(Tmpfs::fill);
}

#[test]
fn nearly_full_filesystem_says_no_space_and_leaves_nothing() {
    // Room for a few pages, not for SQLite's 32 KiB `-shm`.
    full_disk_refusals_change_nothing(|fs| fs.fill_leaving(16 * 1024));
}

/// On a small tmpfs holding a PKI, filled by `fill`: `list`, `issue` and
/// `revoke` each fail with the one no-space message and change nothing.
fn full_disk_refusals_change_nothing(fill: impl Fn(&Tmpfs)) {
    let mut env = Env::new();
    let Some(fs) = Tmpfs::mount(&env.path("fs"), "4m") else {
        return;
    };
    env.pki = env.path("fs/pki");
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    fill(&fs);
    for args in [&["list"][..], &["issue", "dev2"], &["revoke", "dev"]] {
        let before = env.tree_hash();
        let r = env.run(args);
        assert_eq!(r.code, 1, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.starts_with("certsmith: no space left on device ("),
            "{args:?}: {}",
            r.stderr
        );
        one_error_line(&r.stderr);
        assert_eq!(env.tree_hash(), before, "{args:?} changed the PKI");
    }
    drop(fs);
}

// ---- 4. certsmith's own files are never a destination ----

#[test]
fn out_pointing_at_certsmiths_own_files_is_refused_for_every_command() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "a", "-q"]);
    env.ok(&["issue", "b", "-q"]);
    let p = |rel: &str| env.pki.join(rel).display().to_string();
    let key = env.path("c.key");
    let csr = env.path("c.csr");
    openssl_p256_csr(&key, &csr, "/CN=c");
    std::os::unix::fs::symlink(env.pki.join("cas"), env.path("cas-link")).unwrap();
    let link_key = env.path("cas-link/issuing/ca.key.pem");
    let cases: Vec<Vec<String>> = vec![
        vec![
            "export".into(),
            "a".into(),
            "--format".into(),
            "pem".into(),
            "--force".into(),
            "--out".into(),
            p("cas/issuing/ca.key.pem"),
        ],
        vec![
            "export".into(),
            "a".into(),
            "--format".into(),
            "pem".into(),
            "--force".into(),
            "--out".into(),
            p("ledger.db"),
        ],
        vec![
            "export".into(),
            "a".into(),
            "--format".into(),
            "pem".into(),
            "--force".into(),
            "--out".into(),
            p("ledger.db-wal"),
        ],
        vec![
            "export".into(),
            "a".into(),
            "--format".into(),
            "pem".into(),
            "--force".into(),
            "--out".into(),
            p("certs/b/cert.pem"),
        ],
        vec![
            "export".into(),
            "a".into(),
            "--format".into(),
            "pem".into(),
            "--force".into(),
            "--out".into(),
            p("certs/a/key.pem"),
        ],
        vec![
            "export".into(),
            "a".into(),
            "--format".into(),
            "pem".into(),
            "--force".into(),
            "--out".into(),
            s(&link_key).into(),
        ],
        vec![
            "issue".into(),
            "a".into(),
            "--force".into(),
            "--out".into(),
            p("certs/b"),
        ],
        vec!["issue".into(), "c".into(), "--out".into(), p("cas/root")],
        vec!["issue".into(), "c".into(), "--out".into(), p("certs/b/sub")],
        vec!["sign".into(), s(&csr).into(), "--out".into(), p("certs/a")],
        vec!["sign".into(), s(&csr).into(), "--out".into(), p("cas")],
        vec![
            "batch".into(),
            "--count".into(),
            "1".into(),
            "--out".into(),
            p("cas"),
        ],
        vec![
            "batch".into(),
            "--count".into(),
            "1".into(),
            "--out".into(),
            p("certs/a"),
        ],
        vec![
            "bundle".into(),
            "--with-crl".into(),
            "--out".into(),
            p("cas/root"),
        ],
        vec!["bundle".into(), "--out".into(), p("certs/a")],
    ];
    env.ok(&["crl", "-q"]);
    for args in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = refused(&env, &args);
        assert!(
            err.contains("certsmith's own files"),
            "certsmith {args:?}: {err}"
        );
    }
    // Its own directory stays a valid destination, and so does any other place.
    env.ok(&[
        "export",
        "a",
        "--format",
        "pem",
        "--out",
        &p("certs/a/a-export.pem"),
    ]);
    env.ok(&[
        "export",
        "a",
        "--format",
        "pem",
        "--out",
        s(&env.path("a.pem")),
    ]);
    env.ok(&["issue", "a", "--force", "-q"]);
    env.ok(&["bundle", "--out", s(&env.path("bundle")), "-q"]);
}

// ---- 5. symlinks ----

#[test]
fn ledger_symlink_is_refused_and_not_written_through() {
    let env = Env::new();
    env.hierarchy();
    let real = env.path("real.db");
    std::fs::rename(env.pki.join("ledger.db"), &real).unwrap();
    std::os::unix::fs::symlink(&real, env.pki.join("ledger.db")).unwrap();
    let bytes = std::fs::read(&real).unwrap();
    for args in [&["issue", "dev"][..], &["list"], &["crl"]] {
        let err = refused(&env, args);
        assert!(err.contains("symlink"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(&real).unwrap(), bytes);
    assert!(!env.path("real.db-wal").exists());
}

#[test]
fn pki_given_as_a_symlink_to_a_good_pki_is_used() {
    let env = Env::new();
    env.hierarchy();
    let link = env.path("pki-link");
    std::os::unix::fs::symlink(&env.pki, &link).unwrap();
    let run = |args: &[&str]| {
        let out = certsmith()
            .arg("--pki")
            .arg(&link)
            .args(args)
            .current_dir(env.dir.path())
            .env_remove("CERTSMITH_PKI")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["issue", "dev", "-q"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(env.cert_dir("dev").join("cert.pem").exists());
    let (code, err) = run(&["list"]);
    assert_eq!(code, Some(0), "{err}");
}

// ---- 6. waiting and hanging ----

#[test]
fn list_does_not_wait_for_a_held_directory_lock() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let _lock = hold_dir_lock(&env);
    let child = env
        .command(&["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(30), "list");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("dev"));
}

#[test]
fn writer_says_what_it_waits_for_then_fails_naming_the_holder() {
    let env = Env::new();
    env.hierarchy();
    let lock = hold_dir_lock(&env);
    let before = env.tree_hash();
    let child = env
        .command(&["issue", "dev"])
        .env("CERTSMITH_LOCK_WAIT", "2")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(30), "issue");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("note: waiting"), "{err}");
    let pid = format!("pid {}", std::process::id());
    assert!(lines[0].contains(&pid), "{err}");
    assert!(
        lines[1].starts_with("certsmith: the PKI directory") && lines[1].contains(&pid),
        "{err}"
    );
    assert!(lines.len() <= 3, "{err}");
    assert_eq!(env.tree_hash(), before);
    drop(lock);
}

#[test]
fn writer_goes_on_once_the_lock_is_released() {
    let env = Env::new();
    env.hierarchy();
    let lock = hold_dir_lock(&env);
    let mut child = env
        .command(&["issue", "dev", "-q"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    drop(lock);
    let line = match first {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("issue said nothing about the lock it waits for");
        }
    };
    assert!(line.starts_with("note: waiting"), "{line}");
    let out = wait_bounded(child, Duration::from_secs(30), "issue");
    assert_eq!(out.status.code(), Some(0));
    assert!(env.cert_dir("dev").join("cert.pem").exists());
}

#[test]
fn lock_wait_that_is_not_a_number_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let before = env.tree_hash();
    let out = env
        .command(&["issue", "dev"])
        .env("CERTSMITH_LOCK_WAIT", "soon")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("certsmith: $CERTSMITH_LOCK_WAIT 'soon' is not a number of seconds"),
        "{err}"
    );
    one_error_line(&err);
    assert_eq!(env.tree_hash(), before);
}

// ---- 6. the --out rule, whatever the spelling (review of issue 9) ----

/// A hash of the PKI directory and of the directory `rel` beside it.
fn both_trees(env: &Env, rel: &str) -> (String, String) {
    (env.tree_hash(), tree_hash(&env.path(rel)))
}

#[test]
fn relative_out_of_another_certificate_is_refused_with_force() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "x", "--out", "o/y", "-q"]);
    let before = both_trees(&env, "o");
    let err = env.fails(2, &["issue", "z", "--out", "o/y", "--force"]);
    assert!(err.contains("certsmith's own files"), "{err}");
    let err = env.fails(2, &["issue", "z", "--out", "./o/../o/y/sub", "--force"]);
    assert!(err.contains("certificate 'x'"), "{err}");
    assert_eq!(both_trees(&env, "o"), before);
    // x's record points at an absolute directory, wherever the next command runs.
    let rec = &env.json(&["list"])["certificates"][0];
    assert_eq!(rec["name"], "x", "{rec}");
    let dir = rec["dir"].as_str().unwrap_or_default();
    assert!(
        Path::new(dir).is_absolute(),
        "stored --out is relative: {rec}"
    );
}

#[test]
fn batch_row_directory_of_another_certificate_is_refused_before_anything_is_made() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "x", "--out", s(&env.path("o/y")), "-q"]);
    std::fs::write(env.path("m.csv"), "name,cn,san\ny,y,\n").unwrap();
    let before = both_trees(&env, "o");
    let err = env.fails(2, &["batch", "m.csv", "--out", "o", "--skip-existing"]);
    assert!(err.contains("certificate 'x'"), "{err}");
    assert_eq!(both_trees(&env, "o"), before);
}

#[test]
fn out_holding_other_certificate_directories_is_refused() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "a", "-q"]);
    env.ok(&["issue", "x", "--out", s(&env.path("o/y")), "-q"]);
    let before = both_trees(&env, "o");
    for out in [
        s(&env.pki).to_string(),
        "pki".into(),
        s(&env.pki.join("certs")).into(),
        "o".into(),
        s(&env.path("o")).into(),
    ] {
        let err = env.fails(2, &["issue", "d", "--out", &out]);
        assert!(err.contains("certsmith's own files"), "{out}: {err}");
        let err = env.fails(2, &["issue", "d", "--out", &out, "--force"]);
        assert!(err.contains("certsmith's own files"), "{out}: {err}");
    }
    assert_eq!(both_trees(&env, "o"), before);
    // A place of its own inside or beside them stays a valid destination.
    env.ok(&["issue", "d", "--out", "o/d", "-q"]);
}

#[test]
fn refusal_with_stderr_a_closed_pipe_exits_2_not_a_panic() {
    let env = Env::new();
    env.hierarchy();
    let before = env.tree_hash();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = env
        .command(&["issue", "bad name"])
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2), "{status:?}");
    // A fixed clock warns on stderr first: that write must not panic either.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = env
        .command(&["revoke", "nope"])
        .env("CERTSMITH_NOW", "2030-01-01T00:00:00Z")
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2), "{status:?}");
    assert_eq!(env.tree_hash(), before);
}

/// A writer that commits into the ledger's WAL and dies without closing
/// it (no checkpoint): the `-wal` / `-shm` files stay. `false` (said
/// loudly) without python3, which fails the test under `CI`.
fn crash_after_wal_write(ledger: &Path) -> bool {
    let script = "import os, sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('PRAGMA user_version = 7')\nc.commit()\nos._exit(0)\n";
    let ok = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(ledger)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "needs python3, and CI is set"
        );
        eprintln!("\n*** SKIPPED: crashed-writer test needs python3 ***\n");
    }
    ok
}

#[test]
fn read_only_commands_leave_a_crashed_writers_wal_alone() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let ledger = env.pki.join("ledger.db");
    // In WAL mode with no -wal / -shm yet, a reader leaves none behind.
    let before = env.tree_hash();
    env.ok(&["list"]);
    assert_eq!(env.tree_hash(), before, "list changed a WAL-mode PKI");
    if !crash_after_wal_write(&ledger) {
        return;
    }
    let wal = env.pki.join("ledger.db-wal");
    let (db, wal_bytes) = (
        std::fs::read(&ledger).unwrap(),
        std::fs::read(&wal).unwrap(),
    );
    assert!(!wal_bytes.is_empty(), "the writer left no WAL");
    let cert = env.cert_dir("dev").join("cert.pem");
    for args in [&["list"][..], &["status"], &["verify", s(&cert)]] {
        env.ok(args);
        assert!(
            std::fs::read(&ledger).unwrap() == db,
            "{args:?} changed ledger.db"
        );
        assert!(
            std::fs::read(&wal).is_ok_and(|w| w == wal_bytes),
            "{args:?} changed or removed the -wal"
        );
        assert!(
            env.pki.join("ledger.db-shm").exists(),
            "{args:?} removed the -shm"
        );
    }
    // The data the writer committed is there for readers, and a writer
    // still works on top of it.
    env.ok(&["issue", "dev2", "-q"]);
    assert!(env.ok(&["list"]).contains("dev2"));
}

#[test]
fn ledger_sidecars_count_as_in_use_while_another_process_has_the_ledger_open() {
    let env = Env::new();
    env.hierarchy();
    let ledger = env.pki.join("ledger.db");
    let shm = env.pki.join("ledger.db-shm");
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute('SELECT count(*) FROM certificates').fetchone()\nprint('open', flush=True)\nsys.stdin.read()\n";
    let Ok(mut reader) = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&ledger)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "needs python3, and CI is set"
        );
        eprintln!("\n*** SKIPPED: open-ledger test needs python3 ***\n");
        return;
    };
    let mut line = String::new();
    std::io::BufReader::new(reader.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "open");
    assert!(
        certsmith::lock::shm_unused(&shm).is_none(),
        "a ledger open in another process counts as unused: its -wal/-shm could be deleted"
    );
    drop(reader.stdin.take());
    reader.wait().unwrap();
    // Its last connection closed removed the -shm; one left behind is unused.
    assert!(!shm.exists() || certsmith::lock::shm_unused(&shm).is_some());
}

#[test]
fn export_and_bundle_wait_for_doctor_repair_before_writing() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let _lock = hold_dir_lock(&env);
    let before = env.tree_hash();
    for args in [&["export", "dev", "--format", "pem"][..], &["bundle"]] {
        let out = env
            .command(args)
            .env("CERTSMITH_LOCK_WAIT", "0")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("is locked by"), "{args:?}: {err}");
        one_error_line(&err);
        assert_eq!(
            env.tree_hash(),
            before,
            "{args:?} wrote under doctor's lock"
        );
    }
}

#[test]
fn bootstrap_rerun_removes_the_staging_left_by_a_killed_bootstrap() {
    let env = Env::new();
    std::fs::create_dir(&env.pki).unwrap();
    std::fs::set_permissions(
        &env.pki,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    // What `kill -9` half-way leaves: a staging area holding a plaintext CA key.
    let left = env.pki.join(".certsmith-bootstrap-AbC123");
    std::fs::create_dir_all(left.join("cas/root")).unwrap();
    std::fs::write(left.join("cas/root/ca.key.pem"), "plaintext key").unwrap();
    env.ok(&["--yes", "bootstrap", "--no-passphrase", "-q"]);
    assert!(
        !left.exists(),
        "the killed bootstrap's CA key is still there"
    );
    let names: Vec<_> = std::fs::read_dir(&env.pki)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".certsmith-"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    env.ok(&["doctor"]);
    // One killed after an earlier bootstrap: doctor names it and --repair removes it.
    let dead = env.pki.join(".certsmith-bootstrap-Dead12");
    std::fs::create_dir_all(dead.join("cas/root")).unwrap();
    std::fs::write(dead.join("cas/root/ca.key.pem"), "plaintext key").unwrap();
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("staging area of an interrupted bootstrap"),
        "{}",
        r.stdout
    );
    env.ok(&["doctor", "--repair"]);
    assert!(!dead.exists());
}

#[test]
fn bootstrap_killed_half_way_leaves_its_staging_only_inside_the_new_pki_directory() {
    let env = Env::new();
    let fresh = env.path("fresh/pki");
    // An RSA-4096 root takes long enough to be caught half-way.
    let mut child = certsmith()
        .arg("--pki")
        .arg(&fresh)
        .args([
            "--yes",
            "bootstrap",
            "--no-passphrase",
            "--root-key",
            "rsa-4096",
            "-q",
        ])
        .current_dir(env.dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staging = |d: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name().is_some_and(|n| {
                            n.to_string_lossy().starts_with(".certsmith-bootstrap-")
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let start = Instant::now();
    let mut seen = false;
    while start.elapsed() < Duration::from_secs(60) && child.try_wait().unwrap().is_none() {
        if !staging(&fresh).is_empty() || !staging(&env.path("fresh")).is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen, "bootstrap finished before its staging area was seen");
    assert!(
        staging(&env.path("fresh")).is_empty(),
        "staging beside --pki: {:?}",
        staging(&env.path("fresh"))
    );
    assert_eq!(mode(&fresh), 0o700);
    // A rerun takes the directory, cleaning what the killed one left.
    let r = certsmith()
        .arg("--pki")
        .arg(&fresh)
        .args(["--yes", "bootstrap", "--no-passphrase", "-q"])
        .current_dir(env.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(staging(&fresh).is_empty(), "{:?}", staging(&fresh));
}

#[test]
fn directory_of_a_pending_certificate_is_refused_as_out() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "x", "--out", "o/y", "-q"]);
    // x as a running (or killed) `issue` leaves it: reserved, not confirmed.
    rusqlite::Connection::open(env.pki.join("ledger.db"))
        .unwrap()
        .execute(
            "UPDATE certificates SET state = 'pending' WHERE name = 'x'",
            [],
        )
        .unwrap();
    let before = both_trees(&env, "o");
    let err = env.fails(2, &["issue", "z", "--out", "o/y", "--force"]);
    assert!(err.contains("certificate 'x'"), "{err}");
    std::fs::write(env.path("m.csv"), "name,cn,san\ny,y,\n").unwrap();
    let err = env.fails(2, &["batch", "m.csv", "--out", "o"]);
    assert!(err.contains("certificate 'x'"), "{err}");
    assert_eq!(both_trees(&env, "o"), before);
}
