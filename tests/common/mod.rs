//! Shared test harness: a temp PKI per test, the certsmith binary run with
//! no terminal, OpenSSL as an independent checker, and a tree hash to prove
//! that a refused command changed nothing.

#![allow(dead_code)]

pub mod nginx;
pub mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary directory with a PKI directory inside it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub pki: PathBuf,
    /// Variables every run gets: the ledger URL and its password when the
    /// ledger is a PostgreSQL database (see [`Env::on_ledger`]).
    pub ledger_env: Vec<(&'static str, String)>,
}

/// The result of one certsmith run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = dir.path().join("pki");
        let mut env = Env {
            dir,
            pki,
            ledger_env: Vec::new(),
        };
        // `CERTSMITH_TEST_LEDGER=postgres`: every test's ledger is a
        // database of its own in the test process's PostgreSQL cluster.
        if std::env::var("CERTSMITH_TEST_LEDGER").as_deref() == Ok("postgres") {
            let db = postgres::database().expect("CERTSMITH_TEST_LEDGER=postgres needs PostgreSQL");
            env.ledger_env = db.env().to_vec();
        }
        env
    }

    /// A PKI directory whose ledger is the PostgreSQL database `db` (a
    /// host of a team sharing one ledger).
    pub fn on_ledger(db: &postgres::Database) -> Env {
        let mut env = Env::new();
        env.ledger_env = db.env().to_vec();
        env
    }

    /// Path inside the temp dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The certsmith command with `--pki`, run in the temp dir with stdin closed.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = certsmith();
        c.arg("--pki").arg(&self.pki).args(args);
        c.current_dir(self.dir.path()).stdin(Stdio::null());
        c.envs(self.ledger_env.iter().map(|(k, v)| (k, v)));
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out: Output = self.command(args).output().expect("run certsmith");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, 0,
            "certsmith {args:?} failed:\n{}{}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs and asserts the exit code; returns stderr.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code, code,
            "certsmith {args:?}: expected exit {code}, got {}:\n{}{}",
            r.code, r.stdout, r.stderr
        );
        r.stderr
    }

    /// Runs with --json and parses stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// root (ecdsa-p384) → issuing (ecdsa-p256), both unencrypted.
    pub fn hierarchy(&self) {
        self.ok(&["init", "--cn", "Test Root CA", "--no-passphrase", "-q"]);
        self.ok(&[
            "intermediate",
            "issuing",
            "--cn",
            "Test Issuing CA",
            "--no-passphrase",
            "-q",
        ]);
    }

    pub fn root_pem(&self) -> PathBuf {
        self.pki.join("cas/root/ca.pem")
    }

    pub fn cert_dir(&self, name: &str) -> PathBuf {
        self.pki.join("certs").join(name)
    }

    /// A hash of every file below the PKI directory: path, mode and bytes
    /// (the ledger's `-wal` / `-shm` files included).
    pub fn tree_hash(&self) -> String {
        tree_hash(&self.pki)
    }
}

/// Hash of a directory tree (paths, modes, contents), for "nothing changed" checks.
pub fn tree_hash(root: &Path) -> String {
    use sha2::Digest;
    use std::os::unix::fs::PermissionsExt;
    let mut entries = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                let path = e.path();
                out.push(path.clone());
                if path.is_dir() {
                    walk(&path, out);
                }
            }
        }
    }
    walk(root, &mut entries);
    entries.sort();
    let mut h = sha2::Sha256::new();
    for e in entries {
        let name = e.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&e).unwrap();
        h.update(name.as_bytes());
        h.update(meta.permissions().mode().to_le_bytes());
        if meta.is_file() {
            h.update(std::fs::read(&e).unwrap());
        }
    }
    certsmith::serial::to_hex(&h.finalize())
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// `openssl verify -x509_strict -purpose P -CAfile root [-untrusted chain] cert`.
pub fn openssl_verify(
    root: &Path,
    chain: Option<&Path>,
    cert: &Path,
    purpose: &str,
) -> (bool, String) {
    let mut c = Command::new("openssl");
    c.args(["verify", "-x509_strict", "-purpose", purpose, "-CAfile"])
        .arg(root);
    if let Some(ch) = chain
        && std::fs::metadata(ch).map(|m| m.len() > 0).unwrap_or(false)
    {
        c.arg("-untrusted").arg(ch);
    }
    c.arg(cert);
    let out = c.output().expect("openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs openssl with args, returns (success, stdout+stderr).
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A path as &str, for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Runs a command that must be refused: exit 2, a `certsmith: ` line plus
/// at most a `hint: ` line, and the PKI directory byte-for-byte unchanged.
/// Returns stderr.
pub fn refused(env: &Env, args: &[&str]) -> String {
    let before = env.tree_hash();
    let err = env.fails(2, args);
    assert_eq!(
        env.tree_hash(),
        before,
        "certsmith {args:?} changed the PKI directory"
    );
    assert!(err.starts_with("certsmith: "), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() <= 2, "more than message + hint: {err}");
    if lines.len() == 2 {
        assert!(lines[1].starts_with("hint: "), "{err}");
    }
    err
}

/// Makes a P-256 key at `key` and a CSR at `csr` for subject `subj`
/// A self-signed P-256 certificate made by OpenSSL from the config `cnf`
/// (its `[req]` section names the subject and extensions), valid `days`;
/// writes `key` and `cert`.
pub fn openssl_self_signed(cnf: &Path, key: &Path, cert: &Path, days: u32) {
    let (ok, out) = openssl(&[
        "req",
        "-x509",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-days",
        &days.to_string(),
        "-config",
        cnf.to_str().unwrap(),
    ]);
    assert!(ok, "openssl req -x509 failed: {out}");
}

/// Whether `openssl pkey` opens the encrypted key `key` with the
/// passphrase in `pass_file` (and OpenSSL's output, for messages).
pub fn openssl_opens_key(key: &Path, pass_file: &Path) -> (bool, String) {
    openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        &format!("file:{}", pass_file.to_str().unwrap()),
        "-noout",
    ])
}

/// (OpenSSL form, e.g. `/CN=device`) with `openssl req`.
pub fn openssl_p256_csr(key: &Path, csr: &Path, subj: &str) {
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        subj,
        "-keyout",
        s(key),
        "-out",
        s(csr),
    ]);
    assert!(ok, "openssl req: {out}");
}

/// Permission bits of a file or directory.
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The certsmith binary with no inherited `CERTSMITH_*` variable; every
/// test spawns certsmith through this (or `clean_env` for a shell that does).
pub fn certsmith() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certsmith"));
    clean_env(&mut c);
    c
}

/// Removes every `CERTSMITH_*` variable the test process inherited, so a
/// developer's `CERTSMITH_NOW`, `CERTSMITH_PKI` or a test hook cannot change
/// what a test sees; a test sets what it wants afterwards with `.env()`.
pub fn clean_env(c: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CERTSMITH_") {
            c.env_remove(key);
        }
    }
    c
}

/// A small tmpfs mounted for one test (full-disk tests), unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` at `at`; `None` (said loudly) when this
    /// process may not mount, which fails the test under `CI`.
    pub fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let root =
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0;
        let ok = root
            && std::process::Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size},mode=0700"),
                    "tmpfs",
                ])
                .arg(at)
                .status()
                .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "a full-disk test needs root to mount a tmpfs, and CI is set"
            );
            eprintln!(
                "\n*** SKIPPED: full-disk test needs root to mount a tmpfs (not root, or mount failed) ***\n"
            );
            return None;
        }
        Some(Tmpfs(at.to_path_buf()))
    }

    /// Writes a file until the filesystem is full.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
    }
}

impl Tmpfs {
    /// Fills the filesystem, then frees `free` bytes again: nearly full.
    pub fn fill_leaving(&self, free: u64) {
        self.fill();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(self.0.join("filler"))
            .unwrap();
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(free)).unwrap();
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// The stderr certsmith writes for error `e`: its `certsmith: ` line and
/// its `hint: ` line, if any.
pub fn rendered(e: &certsmith::Error) -> String {
    use certsmith::error::escape_controls;
    let mut out = format!("certsmith: {}\n", escape_controls(&e.to_string()));
    if let Some(h) = e.hint_text() {
        out.push_str(&format!("hint: {}\n", escape_controls(&h)));
    }
    out
}

/// Runs a command that must fail with exactly the error `expected` (its
/// variant and values): its exit code, its message and hint as the only
/// stderr, and the PKI directory byte-for-byte unchanged. Returns stderr.
pub fn fails_as(env: &Env, args: &[&str], expected: &certsmith::Error) -> String {
    let before = env.tree_hash();
    let err = env.fails(i32::from(expected.exit_code()), args);
    assert_eq!(
        env.tree_hash(),
        before,
        "certsmith {args:?} changed the PKI directory"
    );
    assert_eq!(
        err,
        rendered(expected),
        "certsmith {args:?}: not {}",
        expected.code()
    );
    err
}

/// Converts PEM `input` to DER at `out` with `openssl <kind>` (`req`, `crl`,
/// `x509`) and returns the DER bytes, for tests that then alter them.
pub fn openssl_der(kind: &str, input: &Path, out: &Path) -> Vec<u8> {
    let (ok, text) = openssl(&[
        kind,
        "-in",
        input.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "openssl {kind} -outform DER: {text}");
    std::fs::read(out).unwrap()
}

/// Runs the `#[ignore]`d test `name` of this test binary in a child process
/// with the variables `vars` (for what must not change this process's
/// environment, or needs a fresh one), in `dir`; asserts it passed and
/// returns its output.
pub fn run_child_test(name: &str, vars: &[(&str, &std::ffi::OsStr)], dir: &Path) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        name,
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .current_dir(dir);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name}: {text}");
    assert!(text.contains("1 passed"), "{name} did not run: {text}");
    text
}

/// `$PATH` with the directory of the test build's certsmith first, for a
/// shell that runs `certsmith` as a user would (the docs, completion scripts).
pub fn path_with_certsmith() -> std::ffi::OsString {
    let bin = Path::new(env!("CARGO_BIN_EXE_certsmith"));
    let dir = bin.parent().expect("bin dir").to_path_buf();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .expect("PATH")
}
