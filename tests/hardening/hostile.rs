//! Hostile inputs: every file in tests/data/hostile/ (indexed with its
//! command and expected outcome in its README.md) is refused with exit 2 and
//! a one-line error, leaves the PKI byte-for-byte unchanged, and neither
//! panics nor hangs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/hostile")
}

/// (file, command, expect, description) rows of the corpus index.
fn index() -> Vec<(String, String, String, String)> {
    let text = std::fs::read_to_string(corpus().join("README.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| file") && !l.starts_with("| ---"))
        .map(|l| {
            let c: Vec<String> = l
                .trim_matches('|')
                .split(" | ")
                .map(|s| s.trim().to_string())
                .collect();
            (c[0].clone(), c[1].clone(), c[2].clone(), c[3].clone())
        })
        .collect()
}

/// Runs certsmith under `timeout -s KILL`, so a hang fails the test instead of stalling it.
fn run_bounded(env: &Env, args: &[&str]) -> Run {
    let c = env.command(args);
    let out = clean_env(&mut Command::new("timeout"))
        .args(["-s", "KILL", "60"])
        .arg(c.get_program())
        .args(c.get_args())
        .current_dir(env.dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Exit 2, nothing on stdout, one `certsmith: ` line plus at most a `hint: ` line.
fn assert_clean_refusal(what: &str, r: &Run, max_lines: usize) -> Result<(), String> {
    let lines: Vec<&str> = r.stderr.lines().collect();
    let ok = r.code == 2
        && r.stdout.is_empty()
        && lines.first().is_some_and(|l| l.starts_with("certsmith: "))
        && lines.len() <= max_lines
        && lines
            .iter()
            .skip(1)
            .all(|l| l.starts_with("hint: ") || max_lines > 2)
        && !r.stderr.contains("panicked")
        && !r.stderr.contains('\0')
        && !r.stderr.contains('\u{1b}');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: exit {}\nstdout: {}\nstderr: {}",
            r.code,
            &r.stdout[..r.stdout.len().min(300)],
            &r.stderr[..r.stderr.len().min(600)]
        ))
    }
}

#[test]
fn corpus_has_at_least_forty_described_files() {
    let rows = index();
    assert!(rows.len() >= 40, "{} files", rows.len());
    for (file, cmd, expect, what) in &rows {
        assert!(
            corpus().join(file).is_file(),
            "{file} is indexed but missing"
        );
        assert!(!what.is_empty() && !cmd.is_empty(), "{file}");
        assert!(expect == "error" || expect == "ok", "{file}: {expect}");
    }
    let on_disk = std::fs::read_dir(corpus()).unwrap().count();
    assert_eq!(
        on_disk,
        rows.len() + 2,
        "every file but README.md and make.py is indexed"
    );
}

#[test]
fn every_hostile_file_is_refused_cleanly_and_changes_nothing() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "victim", "-q"]);
    let victim = env.cert_dir("victim").join("cert.pem");
    let victim = victim.to_str().unwrap();
    let templates = env.pki.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::set_permissions(
        &templates,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let root_cert = env.root_pem();
    let root_cert = root_cert.to_str().unwrap();
    let pass = corpus().join("pass-trailing-newline.txt");
    let pass = pass.to_str().unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (file, cmd, expect, what) in index() {
        let path = corpus().join(&file);
        let p = path.to_str().unwrap();
        let label = format!("{file} ({what}) via {cmd}");
        let profile = templates.join("hostile.json");
        if cmd == "profile" {
            std::fs::copy(&path, &profile).unwrap();
        }
        let before = env.tree_hash();
        let (args, max_lines): (Vec<&str>, usize) = match cmd.as_str() {
            "sign" => (vec!["sign", p, "--ca", "issuing"], 2),
            "inspect" => (vec!["inspect", p], 2),
            "passfile" => (
                vec![
                    "init",
                    "--name",
                    "second-root",
                    "--cn",
                    "Second",
                    "--passphrase-file",
                    p,
                ],
                2,
            ),
            "profile" => (vec!["issue", "hostile-profile", "--profile", "hostile"], 2),
            "import-key" => (
                vec![
                    "init",
                    "--name",
                    "imported",
                    "--import-cert",
                    root_cert,
                    "--import-key",
                    p,
                    "--import-passphrase-file",
                    pass,
                    "--passphrase-file",
                    pass,
                ],
                2,
            ),
            "verify-crl" => (vec!["verify", victim, "--ca", "issuing", "--crl", p], 2),
            "batch" => (vec!["batch", p], usize::MAX),
            other => panic!("{file}: unknown command {other}"),
        };
        let r = run_bounded(&env, &args);
        checked += 1;
        if expect == "ok" {
            if r.code != 0 {
                failures.push(format!(
                    "{label}: expected success, got {}: {}",
                    r.code, r.stderr
                ));
            }
            continue;
        }
        // verify answers "not valid" with exit 1; a CRL it cannot use may be either.
        let r = if cmd == "verify-crl" && r.code == 1 {
            Run { code: 2, ..r }
        } else {
            r
        };
        if let Err(e) = assert_clean_refusal(&label, &r, max_lines) {
            failures.push(e);
        }
        if env.tree_hash() != before {
            failures.push(format!("{label}: the PKI directory changed"));
        }
        if cmd == "inspect" {
            // --json: the one JSON error document on stdout (stderr as without it).
            let mut j = run_bounded(&env, &["--json", "inspect", p]);
            match serde_json::from_str::<serde_json::Value>(&j.stdout) {
                Ok(doc) if doc["error"]["exit_code"] == j.code => j.stdout.clear(),
                _ => failures.push(format!("{label} --json: not a JSON error: {}", j.stdout)),
            }
            if let Err(e) = assert_clean_refusal(&format!("{label} --json"), &j, 2) {
                failures.push(e);
            }
        }
        if cmd == "profile" {
            std::fs::remove_file(&profile).unwrap();
        }
    }
    assert!(checked >= 40, "only {checked} files were fed to a command");
    assert!(
        failures.is_empty(),
        "{} hostile files were not refused cleanly:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn passphrase_from_the_trailing_newline_file_is_the_line_without_it() {
    let env = Env::new();
    let p = corpus().join("pass-trailing-newline.txt");
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--passphrase-file",
        p.to_str().unwrap(),
        "-q",
    ]);
    let key = env.pki.join("cas/root/ca.key.pem");
    let (ok, out) = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        "pass:Hostile-Pass-1",
        "-noout",
    ]);
    assert!(ok, "{out}");
}

#[test]
fn subjects_built_without_the_parser_are_checked_before_signing() {
    // Paths that build a subject directly (batch rows, profile templates) get the same limits.
    assert!(
        certsmith::names::Subject::cn(&"x".repeat(64))
            .to_dn()
            .is_ok()
    );
    let e = certsmith::names::Subject::cn(&"x".repeat(65))
        .to_dn()
        .unwrap_err();
    assert!(e.to_string().contains("the limit is 64"), "{e}");
    let e = certsmith::names::Subject::cn("a\0b").to_dn().unwrap_err();
    assert!(
        e.to_string().contains("control character") && !e.to_string().contains('\0'),
        "{e}"
    );
}

#[test]
fn hostile_flag_values_are_refused_cleanly() {
    let env = Env::new();
    env.hierarchy();
    let long = "x".repeat(5000);
    let cases: Vec<Vec<&str>> = vec![
        vec!["issue", "a", "--validity=-5d"],
        vec!["issue", "a", "--validity", "0d"],
        vec!["issue", "a", "--validity", "99999999999999y"],
        vec!["issue", "a", "--validity", "9999-99-99T99:99:99Z"],
        vec!["issue", "a", "--validity", "1970-01-01T00:00:00Z"],
        vec!["issue", "a", "--cn", &long],
        vec!["issue", "a", "--subject", "CN=a\u{1b}[2Jb"],
        vec!["issue", "a", "--san", "dns:a\u{1b}b.example"],
        vec!["issue", "a", "--san", "uri:spiffe://x/\u{7}"],
        vec!["issue", "../../etc/passwd"],
        vec!["issue", &long],
        vec!["issue", "a\u{1b}[31m"],
        vec!["sign", "/dev/null"],
        vec!["inspect", "/dev/null"],
        vec!["inspect", "/nonexistent/file.pem"],
    ];
    let before = env.tree_hash();
    let mut failures = Vec::new();
    for args in cases {
        let r = run_bounded(&env, &args);
        if env.tree_hash() != before {
            failures.push(format!(
                "{args:?} changed the PKI directory: {}{}",
                r.stdout, r.stderr
            ));
        }
        let label = format!(
            "{:?}",
            args.iter()
                .map(|a| &a[..a.len().min(40)])
                .collect::<Vec<_>>()
        );
        if let Err(e) = assert_clean_refusal(&label, &r, 2) {
            failures.push(e);
        }
        if r.stderr.len() > 600 {
            failures.push(format!("{label}: error is {} bytes long", r.stderr.len()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
