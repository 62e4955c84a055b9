//! Checks that must hold at the moment a name is reserved in the ledger,
//! not only when the command started: another process may have changed
//! the PKI while this one was signing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Stdio};

use super::listed;
use crate::common::*;

/// A certsmith process stopped at a test pause point until released.
struct Paused {
    child: Child,
    err: BufReader<ChildStderr>,
    fifo: PathBuf,
}

impl Paused {
    fn start(env: &Env, point: &str, args: &[&str]) -> Paused {
        let fifo = env.path(&format!("release-{point}"));
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let mut child = env
            .command(args)
            .env(
                "CERTSMITH_TEST_PAUSE_AT",
                format!("{point}:{}", fifo.display()),
            )
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = BufReader::new(child.stderr.take().unwrap());
        let mut p = Paused { child, err, fifo };
        p.wait_for(point);
        p
    }

    fn wait_for(&mut self, point: &str) {
        let mut line = String::new();
        self.err.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), format!("test hook: paused at {point}"));
    }

    fn release(&self) {
        drop(
            std::fs::OpenOptions::new()
                .write(true)
                .open(&self.fifo)
                .unwrap(),
        );
    }

    /// Releases the process (again at every later pause) and returns its
    /// exit code and the rest of its stderr.
    fn finish(mut self) -> (i32, String) {
        self.release();
        let mut rest = String::new();
        let mut line = String::new();
        while self.err.read_line(&mut line).unwrap() > 0 {
            if line.starts_with("test hook: paused at") {
                self.release();
            } else {
                rest.push_str(&line);
            }
            line.clear();
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), rest)
    }
}

fn cert_dirs(env: &Env) -> Vec<String> {
    let certs = env.pki.join("certs");
    let mut names: Vec<String> = std::fs::read_dir(&certs)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Path, mode and bytes of files.
type Files = Vec<(PathBuf, u32, Vec<u8>)>;

/// What a refused command must leave unchanged: every file of the PKI
/// directory but the ledger's, and every row of the ledger. (The ledger's
/// bytes may change when the last connection closes and checkpoints the
/// revocation another process committed meanwhile.)
fn pki_state(env: &Env) -> (Files, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    fn walk(p: &Path, out: &mut Files) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if e.file_name().to_string_lossy().starts_with("ledger.db") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let bytes = if meta.is_file() {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            out.push((path.clone(), meta.permissions().mode(), bytes));
            if meta.is_dir() {
                walk(&path, out);
            }
        }
    }
    let mut files = Vec::new();
    walk(&env.pki, &mut files);
    files.sort();
    let db = rusqlite::Connection::open_with_flags(
        env.pki.join("ledger.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut rows = Vec::new();
    for table in ["certificates", "cas"] {
        let mut st = db.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let n = st.column_count();
        let mut q = st.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let cols: Vec<String> = (0..n)
                .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                .collect();
            rows.push(format!("{table}: {}", cols.join(", ")));
        }
    }
    (files, rows)
}

fn revoke_issuing(env: &Env) {
    env.ok(&[
        "revoke",
        "issuing",
        "--reason",
        "ca-compromise",
        "--yes",
        "-q",
    ]);
}

#[test]
fn issue_signed_before_its_ca_was_revoked_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.hierarchy();
    let paused = Paused::start(&env, "leaf-signed", &["issue", "dev", "-q"]);
    revoke_issuing(&env);
    let before = pki_state(&env);
    let (code, err) = paused.finish();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("certsmith: CA 'issuing' was revoked on"),
        "{err}"
    );
    assert!(err.contains("it issues nothing more"), "{err}");
    assert!(
        pki_state(&env) == before,
        "the refused issue changed the PKI"
    );
    assert!(listed(&env).is_empty());
    assert!(!env.cert_dir("dev").exists());
}

#[test]
fn intermediate_signed_before_its_issuer_was_revoked_is_refused_and_changes_nothing() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--cn",
        "Test Root CA",
        "--pathlen",
        "2",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "issuing",
        "--cn",
        "Test Issuing CA",
        "--pathlen",
        "1",
        "--no-passphrase",
        "-q",
    ]);
    let paused = Paused::start(
        &env,
        "ca-signed",
        &[
            "intermediate",
            "sub",
            "--issuer",
            "issuing",
            "--cn",
            "Sub CA",
            // Well inside the issuing CA's validity, whichever second each
            // command starts in (the same default length would end a
            // second past the issuer when the clock ticks in between).
            "--validity",
            "1y",
            "--no-passphrase",
            "-q",
        ],
    );
    revoke_issuing(&env);
    let before = pki_state(&env);
    let (code, err) = paused.finish();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("certsmith: CA 'issuing' was revoked on"),
        "{err}"
    );
    assert!(
        pki_state(&env) == before,
        "the refused intermediate changed the PKI"
    );
    assert!(!env.pki.join("cas/sub").exists());
}

#[test]
fn batch_stops_at_the_revocation_of_its_ca_and_records_nothing_signed_after_it() {
    let env = Env::new();
    env.hierarchy();
    // The first chunk of names goes through; the second was signed before
    // the revocation and must be neither recorded nor written.
    let mut paused = Paused::start(
        &env,
        "batch-signed",
        &[
            "batch",
            "--count",
            "300",
            "--name-pattern",
            "d-{:04}",
            "--jobs",
            "1",
            "-q",
        ],
    );
    paused.release();
    paused.wait_for("batch-signed");
    revoke_issuing(&env);
    let written = cert_dirs(&env);
    assert!(!written.is_empty() && written.len() < 300, "{written:?}");
    let (code, err) = paused.finish();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("certsmith: CA 'issuing' was revoked on"),
        "{err}"
    );
    let n = written.len();
    assert!(
        err.contains(&format!("hint: {n} certificates were issued and recorded")),
        "{err}"
    );
    assert_eq!(
        cert_dirs(&env),
        written,
        "files written after the revocation"
    );
    let rows = listed(&env);
    assert_eq!(rows.len(), n, "certificates recorded after the revocation");
    assert!(rows.iter().all(|r| r["state"] != "pending"), "{rows:?}");
    assert_eq!(env.run(&["doctor"]).code, 0);
}

#[test]
fn two_issues_racing_for_one_out_directory_keep_the_files_of_the_first_recorded() {
    let env = Env::new();
    env.hierarchy();
    let out = env.path("shared-out");
    let out_s = out.display().to_string();
    // `a` has checked its --out and signed; it stops before it reserves its name.
    let paused = Paused::start(
        &env,
        "leaf-signed",
        &["issue", "a", "--out", &out_s, "--force", "-q"],
    );
    let b = env.json(&["issue", "b", "--out", &out_s, "--force"]);
    let files = |dir: &std::path::Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let out_before = files(&out);
    let before = pki_state(&env);
    let (code, err) = paused.finish();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!(
            "certsmith: --out '{out_s}' is inside the directory of certificate 'b'"
        )),
        "{err}"
    );
    assert!(files(&out) == out_before, "the files of 'b' were replaced");
    assert!(
        pki_state(&env) == before,
        "the refused issue changed the PKI"
    );
    let rows = listed(&env);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["sha256_fingerprint"], b["sha256_fingerprint"]);
}
