//! Bounds on input: times on both sides of 2050 and at the ends of the
//! calendar, the fixed-clock warning, size caps on every file read, KDF caps
//! on encrypted keys, ranges of numeric flags, and strict parsing.

#[path = "bounds/flags.rs"]
mod flags;
#[path = "bounds/kdf.rs"]
mod kdf;
#[path = "bounds/reads.rs"]
mod reads;
#[path = "bounds/strict.rs"]
mod strict;
#[path = "bounds/time.rs"]
mod time;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{Env, Run};

/// The warning certsmith prints whenever `$CERTSMITH_NOW` is in effect.
pub fn clock_warning(now_utc: &str) -> String {
    format!("certsmith: warning: the clock is fixed at {now_utc} by $CERTSMITH_NOW")
}

/// The hostile-input corpus.
pub fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hostile")
        .join(file)
}

/// Runs certsmith with `$CERTSMITH_NOW` set (when given), under a 20 s
/// timeout and a 2 GiB address-space limit, so a hang or a runaway
/// allocation fails the test instead of stalling or starving the machine.
pub fn run_bounded(env: &Env, now: Option<&str>, args: &[&str]) -> Run {
    run_within(env, now, 20, args)
}

/// [`run_bounded`] with a timeout of `secs` seconds; a run killed at the
/// timeout has code -1.
pub fn run_within(env: &Env, now: Option<&str>, secs: u32, args: &[&str]) -> Run {
    let c = env.command(args);
    let mut sh = Command::new("sh");
    crate::common::clean_env(&mut sh);
    sh.arg("-c")
        .arg(format!(
            r#"ulimit -v 2097152; exec timeout -s KILL {secs} "$@""#
        ))
        .arg("sh")
        .arg(c.get_program())
        .args(c.get_args())
        .current_dir(env.dir.path())
        .env_remove("CERTSMITH_PASSPHRASE")
        .env_remove("CERTSMITH_PKI")
        .env_remove("CERTSMITH_NOW")
        .stdin(Stdio::null());
    if let Some(n) = now {
        sh.env("CERTSMITH_NOW", n);
    }
    let out = sh.output().expect("run certsmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts a clean refusal: exit 2, nothing on stdout, and on stderr only
/// the clock warning (when `warning` is given), one `certsmith: ` line and at
/// most a `hint: ` line, with the PKI unchanged since `before`. Returns the
/// error line.
pub fn assert_refused(
    env: &Env,
    before: &str,
    warning: Option<&str>,
    r: &Run,
    label: &str,
) -> String {
    assert_eq!(
        r.code, 2,
        "{label}: expected exit 2, got {}:\n{}{}",
        r.code, r.stdout, r.stderr
    );
    assert_eq!(
        env.tree_hash(),
        before,
        "{label}: the PKI directory changed"
    );
    assert!(r.stdout.is_empty(), "{label}: stdout: {}", r.stdout);
    let mut lines: Vec<&str> = r.stderr.lines().collect();
    if let Some(w) = warning {
        assert_eq!(lines.first().copied(), Some(w), "{label}: {}", r.stderr);
        lines.remove(0);
    }
    assert!(
        !lines.is_empty() && lines[0].starts_with("certsmith: ") && !lines[0].contains("warning:"),
        "{label}: {}",
        r.stderr
    );
    assert!(
        lines.len() <= 2,
        "{label}: more than message + hint: {}",
        r.stderr
    );
    if lines.len() == 2 {
        assert!(lines[1].starts_with("hint: "), "{label}: {}", r.stderr);
    }
    lines[0].to_string()
}
