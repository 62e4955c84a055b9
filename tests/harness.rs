//! The test harness itself: what reaches a certsmith process is only what
//! the test asked for.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::process::Command;

use crate::common::*;

/// The variables `c` would start with: this process's, overlaid with `c`'s edits.
fn effective_env(c: &Command) -> BTreeMap<OsString, OsString> {
    let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => vars.insert(k.to_owned(), v.to_owned()),
            None => vars.remove(k),
        };
    }
    vars
}

fn certsmith_vars(c: &Command) -> Vec<(String, String)> {
    effective_env(c)
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .filter(|(k, _)| k.starts_with("CERTSMITH_"))
        .collect()
}

/// Set by `inherited_certsmith_variables_never_reach_certsmith` for its probe.
const PROBE: &str = "CERTSMITH_HARNESS_PROBE";

#[test]
fn inherited_certsmith_variables_never_reach_certsmith() {
    // Env changes inside this multi-threaded process are unsound: run the
    // probe below in a child of this test binary that inherits the variables.
    let os = |v: &'static str| std::ffi::OsStr::new(v);
    run_child_test(
        "harness::probe_spawned_certsmith_environment",
        &[
            (PROBE, os("1")),
            ("CERTSMITH_NOW", os("2001-02-03T04:05:06Z")),
            ("CERTSMITH_TEST_CRASH_AT", os("leaf-staged")),
            ("CERTSMITH_PASSPHRASE", os("inherited")),
            ("CERTSMITH_PKI", os("/nonexistent")),
            ("CERTSMITH_SOME_FUTURE_KNOB", os("x")),
        ],
        &std::env::current_dir().unwrap(),
    );
}

#[test]
#[ignore = "run by inherited_certsmith_variables_never_reach_certsmith with variables set"]
fn probe_spawned_certsmith_environment() {
    if std::env::var_os(PROBE).is_none() {
        eprintln!("probe: nothing inherited to check outside its driver test");
        return;
    }
    assert!(
        std::env::var_os("CERTSMITH_NOW").is_some(),
        "the driver set no variables"
    );
    let env = Env::new();
    assert_eq!(certsmith_vars(&env.command(&["status"])), vec![]);
    assert_eq!(certsmith_vars(&certsmith()), vec![]);
    assert_eq!(certsmith_vars(clean_env(&mut Command::new("sh"))), vec![]);
    // What a test sets on top still gets through.
    let mut c = env.command(&["status"]);
    c.env("CERTSMITH_NOW", "2030-01-01T00:00:00Z");
    assert_eq!(
        certsmith_vars(&c),
        vec![("CERTSMITH_NOW".into(), "2030-01-01T00:00:00Z".into())]
    );
    // And certsmith itself runs as if nothing were inherited: CERTSMITH_PKI
    // would point it elsewhere, CERTSMITH_NOW would date the root 2001.
    env.ok(&["init", "--cn", "Probe Root", "--no-passphrase", "-q"]);
    let (_, text) = openssl(&["x509", "-noout", "-startdate", "-in", s(&env.root_pem())]);
    assert!(!text.contains("2001"), "{text}");
}

/// Every `.rs` file below `dir` (relative to the crate), with its text.
fn rust_sources(dir: &str) -> Vec<(String, String)> {
    fn walk(p: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join(dir), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(&f).unwrap())
        })
        .collect()
}

/// Code lines (comments dropped) of a source file, numbered from 1.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("")))
}

#[test]
fn every_stderr_line_of_certsmith_goes_through_the_one_diagnostic_function() {
    // error::diagnostic escapes each line whole; any other eprintln! prints
    // values raw (the lock's "note: waiting", crl's per-CA failures, …).
    let mut raw = Vec::new();
    for (file, text) in rust_sources("src") {
        for (n, line) in code_lines(&text) {
            if (line.contains("eprintln!") || line.contains("eprint!"))
                && !(file == "src/error.rs" && line.contains("escape_controls"))
            {
                raw.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        raw.is_empty(),
        "stderr written outside error::diagnostic:\n{}",
        raw.join("\n")
    );
}

#[test]
fn every_test_spawn_of_certsmith_or_a_shell_clears_inherited_variables() {
    // A spawn that bypasses clean_env hands a developer's CERTSMITH_NOW or
    // CERTSMITH_PKI to certsmith (through sh / script / timeout as well).
    let spawns = [
        "CARGO_BIN_EXE_certsmith",
        "Command::new(\"sh\")",
        "Command::new(\"script\")",
        "Command::new(\"timeout\")",
    ];
    let mut bypass = Vec::new();
    for (file, text) in rust_sources("tests") {
        if file.starts_with("tests/common/") {
            continue;
        }
        let lines: Vec<(usize, &str)> = code_lines(&text).collect();
        for (i, (n, line)) in lines.iter().enumerate() {
            // (The list above is not a spawn.)
            if !spawns.iter().any(|s| line.contains(s)) || line.trim_start().starts_with('"') {
                continue;
            }
            // clean_env must be applied within the statement (next 8 lines).
            let near = lines[i..(i + 8).min(lines.len())]
                .iter()
                .any(|(_, l)| l.contains("clean_env("));
            if !near {
                bypass.push(format!("{file}:{n}: {}", line.trim()));
            }
        }
    }
    assert!(
        bypass.is_empty(),
        "spawns without clean_env:\n{}",
        bypass.join("\n")
    );
}
