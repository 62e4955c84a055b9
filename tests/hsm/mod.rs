//! CA keys in a PKCS#11 token: a real SoftHSM2 token per test (its own
//! `SOFTHSM2_CONF` and token directory in the test's temp dir), OpenSSL and
//! OpenSC's `pkcs11-tool` as the independent checks. No mocks.

mod cli;
pub mod ledger;
mod review;
mod uri;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Env, Run, openssl_verify};

/// The user PIN of every test token.
pub const PIN: &str = "246810";
const SO_PIN: &str = "13579135";

/// The SoftHSM2 module, if installed. Without it the token tests fail
/// under CI (`$CI` set) and are skipped loudly elsewhere.
pub fn softhsm_module() -> Option<PathBuf> {
    let found = [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file());
    if found.is_none() || !crate::common::have("softhsm2-util") {
        skip_unless_allowed(
            "SoftHSM2 (softhsm2-util, libsofthsm2.so) is not installed: apt-get install softhsm2 opensc",
        );
        return None;
    }
    found
}

/// A token test that cannot run here fails, unless
/// `CERTSMITH_ALLOW_SKIP=1` is set (never under CI): then it passes with
/// a loud SKIPPED line.
pub fn skip_unless_allowed(why: &str) {
    let allowed = std::env::var_os("CERTSMITH_ALLOW_SKIP").is_some_and(|v| v == "1");
    assert!(
        allowed && std::env::var_os("CI").is_none(),
        "{why} (set CERTSMITH_ALLOW_SKIP=1 to skip the token tests outside CI)"
    );
    eprintln!("\n*** SKIPPED: {why} ***\n");
}

/// One SoftHSM2 token, made for one test, in the test's temp dir (outside
/// the PKI directory).
pub struct Hsm {
    pub conf: PathBuf,
    pub module: PathBuf,
    pub label: String,
    pub pin_file: PathBuf,
}

impl Hsm {
    /// A fresh token labelled `label`; `None` (skipped loudly) without SoftHSM2.
    pub fn new(env: &Env, label: &str) -> Option<Hsm> {
        let module = softhsm_module()?;
        let base = env.path("softhsm");
        let tokens = base.join("tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = base.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let pin_file = env.path("token.pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        let hsm = Hsm {
            conf,
            module,
            label: label.to_string(),
            pin_file,
        };
        hsm.init_token(label);
        Some(hsm)
    }

    /// Initialises another token in the same SoftHSM2 configuration.
    pub fn init_token(&self, label: &str) {
        let out = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ])
            .output()
            .expect("softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pkcs11:token=LABEL` plus `extra` (e.g. `;object=root`).
    pub fn uri(&self, extra: &str) -> String {
        format!("pkcs11:token={}{extra}", self.label)
    }

    pub fn module(&self) -> &str {
        self.module.to_str().unwrap()
    }

    pub fn pin_file(&self) -> &str {
        self.pin_file.to_str().unwrap()
    }

    /// certsmith with this token's SoftHSM2 configuration.
    pub fn command(&self, env: &Env, args: &[&str]) -> Command {
        let mut c = env.command(args);
        c.env("SOFTHSM2_CONF", &self.conf);
        // The caller's own token settings never reach a test.
        c.env_remove("CERTSMITH_PKCS11_MODULE")
            .env_remove("CERTSMITH_PKCS11_PIN");
        c
    }

    pub fn run(&self, env: &Env, args: &[&str]) -> Run {
        self.run_with(env, args, &[])
    }

    pub fn run_with(&self, env: &Env, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut c = self.command(env, args);
        for (k, v) in vars {
            c.env(k, v);
        }
        let out = c.output().expect("run certsmith");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, env: &Env, args: &[&str]) -> String {
        let r = self.run(env, args);
        assert_eq!(
            r.code, 0,
            "certsmith {args:?} failed:\n{}{}",
            r.stdout, r.stderr
        );
        r.stdout
    }

    /// Runs a refusal: exit 2, one `certsmith:` line (plus a hint), the
    /// PKI directory unchanged. Returns stderr.
    pub fn refused(&self, env: &Env, args: &[&str], vars: &[(&str, &str)]) -> String {
        let before = env.tree_hash();
        let r = self.run_with(env, args, vars);
        assert_eq!(
            r.code, 2,
            "certsmith {args:?}: expected exit 2:\n{}{}",
            r.stdout, r.stderr
        );
        assert_eq!(
            env.tree_hash(),
            before,
            "certsmith {args:?} changed the PKI directory"
        );
        assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert!(lines.len() <= 2, "more than message + hint: {}", r.stderr);
        if lines.len() == 2 {
            assert!(lines[1].starts_with("hint: "), "{}", r.stderr);
        }
        assert!(!r.stderr.contains(PIN), "the PIN leaked: {}", r.stderr);
        r.stderr
    }

    /// `pkcs11-tool` on this token, logged in; (success, stdout+stderr).
    /// `init` of a root CA named `cn` whose key is made in (or taken from)
    /// the token `uri` names; it must succeed.
    pub fn init_root(&self, env: &Env, cn: &str, uri: &str) {
        self.init_root_with_module(env, cn, uri, &self.module);
    }

    /// [`Hsm::init_root`] through the module at `module` (a copy the test
    /// may move or remove later) instead of the installed one.
    pub fn init_root_with_module(&self, env: &Env, cn: &str, uri: &str, module: &Path) {
        let mut init = vec!["init", "--cn", cn, "-q"];
        init.extend(cli::token_flags(self, uri));
        let at = init.iter().position(|a| *a == "--pkcs11-module").unwrap() + 1;
        init[at] = module.to_str().unwrap();
        self.ok(env, &init);
    }

    /// Issues device `name` from CA `ca` through the token and checks that
    /// `openssl verify` accepts it as a TLS client certificate.
    pub fn issue_verified(&self, env: &Env, name: &str, ca: &str) {
        self.ok(
            env,
            &[
                "issue",
                name,
                "--ca",
                ca,
                "--pin-file",
                self.pin_file(),
                "-q",
            ],
        );
        let (ok, out) = openssl_verify(
            &env.root_pem(),
            None,
            &env.cert_dir(name).join("cert.pem"),
            "sslclient",
        );
        assert!(ok, "{name}: {out}");
    }

    /// Makes a P-256 key pair in the token with pkcs11-tool, labelled
    /// `label`, with CKA_ID `id` (hex).
    pub fn p256_key_pair(&self, label: &str, id: &str) {
        let (ok, out) = self.pkcs11_tool(&[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            label,
            "--id",
            id,
        ]);
        assert!(ok, "{out}");
    }

    pub fn pkcs11_tool(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &self.conf)
            .args([
                "--module",
                self.module(),
                "--token-label",
                &self.label,
                "--login",
                "--pin",
                PIN,
            ])
            .args(args)
            .output()
            .expect("pkcs11-tool");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// Every file under `dir` whose name looks like a private key.
pub fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(key_files(&p));
            } else if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("key"))
            {
                out.push(p);
            }
        }
    }
    out
}
