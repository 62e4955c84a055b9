//! What scripts rely on: `--json` output (success and failure) matches
//! docs/json.md, expiry queries for cron jobs (`list --expiring-within`,
//! `--expired`, `--fail-if-any`, `needs-renewal`), and the `crl` hint.

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::*;

/// The fixed clock every test here starts from.
const T0: &str = "2026-01-01T00:00:00Z";

/// One certsmith run in `dir` with `--pki pki` (paths then print relative
/// to the current directory) and the clock fixed at `now`.
fn run_in(dir: &Path, now: &str, args: &[&str]) -> Run {
    let out = certsmith()
        .current_dir(dir)
        .env("CERTSMITH_NOW", now)
        .arg("--pki")
        .arg("pki")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run certsmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn at(env: &Env, now: &str, args: &[&str]) -> Run {
    run_in(env.dir.path(), now, args)
}

/// Runs and asserts the exit code; returns the run.
fn expect(env: &Env, now: &str, code: i32, args: &[&str]) -> Run {
    let r = at(env, now, args);
    assert_eq!(
        r.code, code,
        "certsmith {args:?}: expected exit {code}, got {}:\n{}{}",
        r.code, r.stdout, r.stderr
    );
    r
}

fn parse(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", r.stdout))
}

/// root → issuing, both unencrypted, made at [`T0`].
fn hierarchy(env: &Env) {
    expect(env, T0, 0, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    expect(
        env,
        T0,
        0,
        &["intermediate", "issuing", "--cn", "Issuing", "--no-passphrase", "-q"],
    );
}

/// The stderr text without the fixed-clock warning.
fn stderr_text(r: &Run) -> String {
    r.stderr
        .lines()
        .filter(|l| !l.contains("the clock is fixed at"))
        .map(|l| format!("{l}\n"))
        .collect()
}

// ---- item 1: errors as one JSON object ----

#[test]
fn a_failure_with_json_prints_one_error_object_on_stdout_and_the_text_on_stderr() {
    let env = Env::new();
    let r = expect(&env, T0, 2, &["--json", "issue", "dev", "--cn", "dev"]);
    let doc = parse(&r);
    let text = stderr_text(&r);
    let mut lines = text.lines();
    let message = lines.next().unwrap().strip_prefix("certsmith: ").unwrap();
    let hint = lines.next().unwrap().strip_prefix("hint: ").unwrap();
    assert_eq!(
        doc,
        json!({
            "schema_version": 1,
            "error": {
                "kind": "no_pki_dir",
                "message": message,
                "hint": hint,
                "exit_code": 2,
            }
        })
    );
}

#[test]
fn a_failed_outcome_with_json_says_exit_code_1_and_a_null_hint_when_there_is_none() {
    let env = Env::new();
    hierarchy(&env);
    expect(&env, T0, 0, &["issue", "dev", "--cn", "dev", "-q"]);
    expect(&env, T0, 0, &["revoke", "dev", "-q"]);
    expect(&env, T0, 0, &["crl", "-q"]);
    let r = expect(&env, T0, 1, &["--json", "verify", "pki/certs/dev/cert.pem"]);
    let doc = parse(&r);
    assert_eq!(doc["valid"], json!(false), "{doc}");
    assert_eq!(doc["error"]["kind"], json!("failed"), "{doc}");
    assert_eq!(doc["error"]["exit_code"], json!(1), "{doc}");
    assert_eq!(doc["error"]["hint"], Value::Null, "{doc}");
    let text = stderr_text(&r);
    assert_eq!(
        format!("certsmith: {}\n", doc["error"]["message"].as_str().unwrap()),
        text
    );
}

#[test]
fn a_usage_error_with_json_is_a_json_error_too_wherever_the_flag_is() {
    let env = Env::new();
    for args in [
        &["--json", "list", "--no-such-flag"][..],
        &["list", "--no-such-flag", "--json"],
        &["--json", "no-such-command"],
    ] {
        let r = expect(&env, T0, 2, args);
        let doc = parse(&r);
        assert_eq!(doc["schema_version"], json!(1), "{doc}");
        assert_eq!(doc["error"]["kind"], json!("usage"), "{args:?}: {doc}");
        assert_eq!(doc["error"]["exit_code"], json!(2), "{doc}");
        let first = r.stderr.lines().next().unwrap();
        assert_eq!(
            Some(doc["error"]["message"].as_str().unwrap()),
            first.strip_prefix("certsmith: "),
            "stderr keeps clap's text: {}",
            r.stderr
        );
    }
    // Without --json nothing goes to stdout.
    let r = expect(&env, T0, 2, &["list", "--no-such-flag"]);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("Usage:"), "{}", r.stderr);
}

#[test]
fn every_error_kind_is_listed_in_docs_json() {
    let doc = docs_json();
    let listed: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    for kind in certsmith::error::KINDS {
        assert!(listed.contains(kind), "error kind '{kind}' is not listed in docs/json.md");
    }
}

// ---- item 4: list --expiring-within / --expired / --fail-if-any ----

/// dev-short (10 days), dev-mid (20 days), dev-long (1 year), issued at T0.
fn three_leaves(env: &Env) {
    hierarchy(env);
    for (name, v) in [("dev-short", "10d"), ("dev-mid", "20d"), ("dev-long", "365d")] {
        expect(env, T0, 0, &["issue", name, "--cn", name, "--validity", v, "-q"]);
    }
}

fn names(doc: &Value) -> Vec<String> {
    let mut n: Vec<String> = doc["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

/// Fifteen days after T0: dev-short expired, dev-mid has 5 days left.
const T15: &str = "2026-01-16T00:00:00Z";

#[test]
fn expiring_within_lists_only_certificates_still_valid_that_expire_in_the_window() {
    let env = Env::new();
    three_leaves(&env);
    let r = expect(&env, T15, 0, &["--json", "list", "--expiring-within", "30d"]);
    assert_eq!(names(&parse(&r)), ["dev-mid"]);
}

#[test]
fn expired_lists_only_the_expired_certificates() {
    let env = Env::new();
    three_leaves(&env);
    let r = expect(&env, T15, 0, &["--json", "list", "--expired"]);
    assert_eq!(names(&parse(&r)), ["dev-short"]);
}

#[test]
fn fail_if_any_exits_1_when_the_list_is_not_empty_and_0_when_it_is() {
    let env = Env::new();
    three_leaves(&env);
    let before = env.tree_hash();
    let r = expect(
        &env,
        T15,
        1,
        &["--json", "list", "--expiring-within", "30d", "--fail-if-any"],
    );
    assert_eq!(names(&parse(&r)), ["dev-mid"], "the list is still printed");
    let r = expect(&env, T15, 1, &["list", "--expired", "--fail-if-any"]);
    assert!(r.stdout.contains("dev-short"), "{}", r.stdout);
    expect(
        &env,
        T15,
        0,
        &["list", "--expiring-within", "1d", "--fail-if-any"],
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn expiring_within_takes_the_lengths_validity_takes_and_refuses_others_alike() {
    let env = Env::new();
    three_leaves(&env);
    let r = expect(&env, T15, 0, &["--json", "list", "--expiring-within", "1w"]);
    assert_eq!(names(&parse(&r)), ["dev-mid"]);
    let before = env.tree_hash();
    let r = expect(&env, T15, 2, &["list", "--expiring-within", "30x"]);
    assert!(
        stderr_text(&r).starts_with("certsmith: --expiring-within '30x' is not understood\nhint: "),
        "{}",
        r.stderr
    );
    let r = expect(&env, T15, 2, &["list", "--expired", "--expiring-within", "30d"]);
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before);
}

// ---- item 5: needs-renewal ----

/// A 90-day leaf issued at T0 (expires 2026-04-01).
fn ninety_day_leaf(env: &Env) {
    hierarchy(env);
    expect(env, T0, 0, &["issue", "dev", "--cn", "dev", "--validity", "90d", "-q"]);
}

#[test]
fn needs_renewal_by_default_in_the_last_third_of_the_lifetime() {
    let env = Env::new();
    ninety_day_leaf(&env);
    // 59 days in: 31 days left of 90, not yet in the last third (30 days).
    expect(&env, "2026-03-01T00:00:00Z", 1, &["needs-renewal", "dev"]);
    // 61 days in: 29 days left.
    expect(&env, "2026-03-03T00:00:00Z", 0, &["needs-renewal", "dev"]);
    // Expired: renewal is needed.
    expect(&env, "2026-05-01T00:00:00Z", 0, &["needs-renewal", "dev"]);
}

#[test]
fn needs_renewal_within_a_window_and_on_a_certificate_file() {
    let env = Env::new();
    ninety_day_leaf(&env);
    let pem = "pki/certs/dev/cert.pem";
    for target in ["dev", pem] {
        // 2026-03-15: 17 days left.
        expect(&env, "2026-03-15T00:00:00Z", 1, &["needs-renewal", target, "--within", "10d"]);
        expect(&env, "2026-03-15T00:00:00Z", 0, &["needs-renewal", target, "--within", "20d"]);
    }
    let r = expect(
        &env,
        "2026-03-15T00:00:00Z",
        0,
        &["--json", "needs-renewal", "dev", "--within", "20d"],
    );
    let doc = parse(&r);
    assert_eq!(doc["needs_renewal"], json!(true), "{doc}");
    assert_eq!(doc["not_after"], json!("2026-04-01T00:00:00Z"), "{doc}");
    assert_eq!(doc["renew_after"], json!("2026-03-12T00:00:00Z"), "{doc}");
}

#[test]
fn needs_renewal_exits_2_on_bad_input_and_changes_nothing() {
    let env = Env::new();
    ninety_day_leaf(&env);
    let before = env.tree_hash();
    let r = expect(&env, T0, 2, &["needs-renewal", "nobody"]);
    assert!(stderr_text(&r).starts_with("certsmith: "), "{}", r.stderr);
    let r = expect(&env, T0, 2, &["needs-renewal", "dev", "--within", "soon"]);
    assert!(
        stderr_text(&r).starts_with("certsmith: --within 'soon' is not understood\n"),
        "{}",
        r.stderr
    );
    std::fs::write(env.path("junk.pem"), "not a certificate").unwrap();
    expect(&env, T0, 2, &["needs-renewal", "junk.pem"]);
    assert_eq!(env.tree_hash(), before);
}

// ---- item 6: the crl hint names the bundle target in use ----

#[test]
fn after_crl_the_hint_names_the_bundle_targets_the_pki_uses() {
    let env = Env::new();
    hierarchy(&env);
    let r = expect(&env, T0, 0, &["crl"]);
    assert!(
        r.stdout.contains("certsmith bundle --target generic --with-crl"),
        "without a remembered target, the generic one: {}",
        r.stdout
    );
    assert!(!r.stdout.contains("nginx"), "{}", r.stdout);
    {
        let mut ledger = certsmith::ledger::Ledger::open(&env.pki.join("ledger.db")).unwrap();
        ledger
            .set_setting("bundle:haproxy", "cas", Some("issuing"))
            .unwrap();
    }
    let r = expect(&env, T0, 0, &["crl"]);
    assert!(
        r.stdout.contains("certsmith bundle --target haproxy --with-crl"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("generic"), "{}", r.stdout);
}

// ---- items 2 and 3: one vocabulary, validated against docs/json.md ----

fn docs_json() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))
        .expect("docs/json.md")
}
