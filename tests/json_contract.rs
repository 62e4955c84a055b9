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
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{}", r.stdout))
}

/// root → issuing, both unencrypted, made at [`T0`].
fn hierarchy(env: &Env) {
    expect(
        env,
        T0,
        0,
        &["init", "--cn", "Root", "--no-passphrase", "-q"],
    );
    expect(
        env,
        T0,
        0,
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Issuing",
            "--no-passphrase",
            "-q",
        ],
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
        assert!(
            listed.contains(kind),
            "error kind '{kind}' is not listed in docs/json.md"
        );
    }
}

// ---- item 4: list --expiring-within / --expired / --fail-if-any ----

/// dev-short (10 days), dev-mid (20 days), dev-long (1 year), issued at T0.
fn three_leaves(env: &Env) {
    hierarchy(env);
    for (name, v) in [
        ("dev-short", "10d"),
        ("dev-mid", "20d"),
        ("dev-long", "365d"),
    ] {
        expect(
            env,
            T0,
            0,
            &["issue", name, "--cn", name, "--validity", v, "-q"],
        );
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
    let r = expect(
        &env,
        T15,
        0,
        &["--json", "list", "--expiring-within", "30d"],
    );
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
        &[
            "--json",
            "list",
            "--expiring-within",
            "30d",
            "--fail-if-any",
        ],
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
    let r = expect(
        &env,
        T15,
        2,
        &["list", "--expired", "--expiring-within", "30d"],
    );
    assert!(r.stderr.contains("cannot be used with"), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before);
}

// ---- item 5: needs-renewal ----

/// A 90-day leaf issued at T0 (expires 2026-04-01).
fn ninety_day_leaf(env: &Env) {
    hierarchy(env);
    expect(
        env,
        T0,
        0,
        &["issue", "dev", "--cn", "dev", "--validity", "90d", "-q"],
    );
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
        expect(
            &env,
            "2026-03-15T00:00:00Z",
            1,
            &["needs-renewal", target, "--within", "10d"],
        );
        expect(
            &env,
            "2026-03-15T00:00:00Z",
            0,
            &["needs-renewal", target, "--within", "20d"],
        );
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
        r.stdout
            .contains("certsmith bundle --target generic --with-crl"),
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
        r.stdout
            .contains("certsmith bundle --target haproxy --with-crl"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("generic"), "{}", r.stdout);
    let doc = parse(&expect(&env, T0, 0, &["--json", "crl"]));
    assert_eq!(
        doc["next"],
        json!(["certsmith bundle --target haproxy --with-crl"]),
        "{doc}"
    );
}

// ---- items 2 and 3: one vocabulary, validated against docs/json.md ----

fn docs_json() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))
        .expect("docs/json.md")
}

/// The schemas of docs/json.md: every ```json block, by its `title` (a
/// command such as `list` or `key offline`, or `$defs` for shared shapes).
struct Docs {
    schemas: std::collections::BTreeMap<String, Value>,
    defs: Value,
}

fn docs_schemas() -> Docs {
    let text = docs_json();
    let mut schemas = std::collections::BTreeMap::new();
    let mut defs = json!({});
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```json") => block = Some(String::new()),
            (Some(b), "```") => {
                let v: Value = serde_json::from_str(b).unwrap_or_else(|e| {
                    panic!("docs/json.md: a json block does not parse ({e}):\n{b}")
                });
                let title = v["title"]
                    .as_str()
                    .expect("every json block has a title")
                    .to_string();
                if title == "$defs" {
                    defs = v["$defs"].clone();
                } else {
                    assert!(
                        schemas.insert(title.clone(), v).is_none(),
                        "two schemas for '{title}'"
                    );
                }
                block = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    Docs { schemas, defs }
}

/// Checks `v` against `schema` in docs/json.md's dialect (described at the
/// top of that page): `type`, `properties` (all required but those in
/// `optional`; objects closed unless `additionalProperties`), `items`,
/// `enum`, `const`, `anyOf`, `format`, `$ref` to `#/$defs/NAME`.
/// Returns the problems, each with its JSON path.
fn check(v: &Value, schema: &Value, defs: &Value, at: &str, cwd: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.strip_prefix("#/$defs/").expect("$ref to #/$defs/");
        let def = &defs[name];
        assert!(!def.is_null(), "docs/json.md: no $defs entry '{name}'");
        return check(v, def, defs, at, cwd);
    }
    if let Some(any) = schema["anyOf"].as_array() {
        let all: Vec<Vec<String>> = any.iter().map(|s| check(v, s, defs, at, cwd)).collect();
        if all.iter().any(|e| e.is_empty()) {
            return errs;
        }
        errs.push(format!("{at}: matches none of anyOf: {all:?}"));
        return errs;
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type in {schema}"),
        };
        let is = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types.contains(&is) || (is == "integer" && types.contains(&"number"));
        if !ok {
            errs.push(format!("{at}: {v} is {is}, the doc says {t}"));
            return errs;
        }
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errs.push(format!("{at}: {v} is not {c}"));
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        errs.push(format!("{at}: {v} is not one of {}", schema["enum"]));
    }
    if let (Some(f), Some(s)) = (schema["format"].as_str(), v.as_str()) {
        let hex = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        let ok = match f {
            "date-time" => {
                s.len() == 20
                    && s.ends_with('Z')
                    && time::OffsetDateTime::parse(
                        s,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .is_ok()
            }
            "sha256" => s.len() == 64 && hex(s),
            "hex" => hex(s),
            // No leading zero octet beyond what keeps it positive, no colons.
            "serial" => hex(s) && s.len() % 2 == 0,
            // As printed: relative to the current directory, no `./`; the file is there.
            "path" => !s.starts_with("./") && !Path::new(s).is_absolute() && cwd.join(s).exists(),
            // `ATTR=value` joined by `,` (escaped in a value) without a space after it.
            "dn" => {
                let mut prev = ' ';
                let mut ok = s.contains('=');
                for (i, c) in s.char_indices() {
                    if c == ',' && prev != '\\' && s[i + 1..].starts_with(' ') {
                        ok = false;
                    }
                    prev = c;
                }
                ok
            }
            other => panic!("docs/json.md: unknown format '{other}'"),
        };
        if !ok {
            errs.push(format!("{at}: '{s}' is not a {f}"));
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            errs.extend(check(x, items, defs, &format!("{at}[{i}]"), cwd));
        }
    }
    if let Some(o) = v.as_object()
        && (schema.get("properties").is_some() || schema.get("additionalProperties").is_some())
    {
        let empty = serde_json::Map::new();
        let props = schema["properties"].as_object().unwrap_or(&empty);
        let optional: Vec<&str> = schema["optional"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for (k, s) in props {
            match o.get(k) {
                Some(x) => errs.extend(check(x, s, defs, &format!("{at}.{k}"), cwd)),
                None if optional.contains(&k.as_str()) => {}
                None => errs.push(format!("{at}.{k}: missing (documented, not printed)")),
            }
        }
        for (k, x) in o {
            if props.contains_key(k) {
                continue;
            }
            match schema.get("additionalProperties") {
                Some(Value::Bool(true)) => {}
                Some(s @ Value::Object(_)) => {
                    errs.extend(check(x, s, defs, &format!("{at}.{k}"), cwd))
                }
                _ => errs.push(format!("{at}.{k}: printed but not documented")),
            }
        }
    }
    errs
}

/// Checks one `--json` run of `title`: exit 0 (or the command's "no"
/// answer, `answer_code`) and a document matching its schema, or a
/// failure whose document is `{error, schema_version}` plus, when the
/// command reported something before failing, fields of its schema.
fn conforms(docs: &Docs, title: &str, r: &Run, cwd: &Path, failure: bool) -> Vec<String> {
    let doc: Value = match serde_json::from_str(&r.stdout) {
        Ok(d) => d,
        Err(e) => {
            return vec![format!(
                "{title}: stdout is not one JSON document ({e}):\n{}{}",
                r.stdout, r.stderr
            )];
        }
    };
    let Some(schema) = docs.schemas.get(title) else {
        return vec![format!("{title}: no schema in docs/json.md")];
    };
    let mut errs = Vec::new();
    if doc["schema_version"] != json!(1) {
        errs.push(format!("{title}: no schema_version 1"));
    }
    let mut doc = doc;
    if let Some(m) = doc.as_object_mut() {
        m.remove("schema_version");
    }
    if failure {
        if r.code == 0 {
            errs.push(format!("{title}: expected a failure, got exit 0"));
        }
        errs.extend(check(
            &doc["error"],
            &json!({"$ref": "#/$defs/error"}),
            &docs.defs,
            &format!("{title}.error"),
            cwd,
        ));
        if doc["error"]["exit_code"] != json!(r.code) {
            errs.push(format!(
                "{title}: error.exit_code is not the exit code {}",
                r.code
            ));
        }
        let mut rest = doc.clone();
        let m = rest.as_object_mut().unwrap();
        m.remove("error");
        if !m.is_empty() {
            let mut s = schema.clone();
            s["optional"] = json!(
                s["properties"]
                    .as_object()
                    .map(|p| p.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            );
            errs.extend(check(&rest, &s, &docs.defs, title, cwd));
        }
    } else {
        if doc.get("error").is_some() {
            errs.push(format!("{title}: an error on success: {doc}"));
        }
        errs.extend(check(&doc, schema, &docs.defs, title, cwd));
    }
    errs
}

/// The commands of `certsmith --help` (and of its command groups) that
/// print no JSON document: docs/json.md says so for each.
const NO_DOCUMENT: &[&str] = &["completions", "help", "man", "serve"];

/// Every command and subcommand `--help` lists, e.g. `list`, `key offline`.
fn commands_in_help() -> Vec<String> {
    fn listed(args: &[&str]) -> Vec<String> {
        let out = certsmith()
            .args(args)
            .arg("--help")
            .output()
            .expect("run certsmith");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            // A wrapped description continues further indented.
            .filter(|l| !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help")
            .map(str::to_string)
            .collect()
    }
    let mut all = Vec::new();
    for c in listed(&[]) {
        let subs = listed(&[c.as_str()]);
        if subs.is_empty() {
            all.push(c);
        } else {
            all.extend(subs.into_iter().map(|s| format!("{c} {s}")));
        }
    }
    all
}

#[test]
fn every_command_prints_what_docs_json_documents_on_success_and_on_failure() {
    let started = std::time::Instant::now();
    let docs = docs_schemas();
    let env = Env::new();
    let dir = env.dir.path();
    openssl_p256_csr(&env.path("web.key"), &env.path("web.csr"), "/CN=web");
    std::fs::write(env.path("m.csv"), "name,cn\nb1,b1\nb2,b2\n").unwrap();
    std::fs::create_dir(env.path("empty")).unwrap();
    std::fs::create_dir(env.path("boot")).unwrap();
    let ok = |c: i32| (c, false);
    let fail = |c: i32| (c, true);
    // (title, args, expected exit code, whether it is a failure), in order.
    let runs: Vec<(&str, Vec<&str>, (i32, bool))> = vec![
        (
            "init",
            vec!["init", "--cn", "Root", "--no-passphrase"],
            ok(0),
        ),
        (
            "init",
            vec!["init", "--cn", "Root", "--no-passphrase"],
            fail(2),
        ),
        (
            "intermediate",
            vec![
                "intermediate",
                "issuing",
                "--cn",
                "Issuing",
                "--no-passphrase",
            ],
            ok(0),
        ),
        (
            "intermediate",
            vec![
                "intermediate",
                "issuing",
                "--cn",
                "Issuing",
                "--no-passphrase",
            ],
            fail(2),
        ),
        (
            "issue",
            vec![
                "issue",
                "dev",
                "--subject",
                "CN=dev,O=Acme\\, Inc,C=DE",
                "--validity",
                "20d",
            ],
            ok(0),
        ),
        ("issue", vec!["issue", "dev", "--cn", "dev"], fail(2)),
        (
            "sign",
            vec![
                "sign",
                "web.csr",
                "--name",
                "web",
                "--profile",
                "server",
                "--san",
                "dns:web.example",
            ],
            ok(0),
        ),
        ("sign", vec!["sign", "missing.csr", "--name", "x"], fail(2)),
        (
            "batch --dry-run",
            vec!["batch", "m.csv", "--dry-run"],
            ok(0),
        ),
        ("batch", vec!["batch", "m.csv"], ok(0)),
        ("batch", vec!["batch", "missing.csv"], fail(2)),
        (
            "revoke",
            vec!["revoke", "b1", "--reason", "key-compromise"],
            ok(0),
        ),
        ("revoke", vec!["revoke", "nobody"], fail(2)),
        ("crl", vec!["crl"], ok(0)),
        ("crl", vec!["crl", "--ca", "nobody"], fail(2)),
        (
            "bundle",
            vec!["bundle", "--target", "nginx", "--with-crl"],
            ok(0),
        ),
        (
            "bundle",
            vec!["bundle", "--target", "no-such-target"],
            fail(2),
        ),
        (
            "verify",
            vec!["verify", "pki/certs/dev/cert.pem", "--purpose", "client"],
            ok(0),
        ),
        ("verify", vec!["verify", "pki/certs/b1/cert.pem"], fail(1)),
        ("inspect", vec!["inspect", "pki/certs/dev/cert.pem"], ok(0)),
        ("inspect", vec!["inspect", "web.csr"], ok(0)),
        ("inspect", vec!["inspect", "web.key"], ok(0)),
        ("inspect", vec!["inspect", "pki/cas/issuing/crl.pem"], ok(0)),
        (
            "inspect",
            vec!["inspect", "pki/bundles/nginx/ca-bundle.pem"],
            ok(0),
        ),
        ("inspect", vec!["inspect", "missing.pem"], fail(2)),
        ("list", vec!["list", "--all"], ok(0)),
        (
            "list",
            vec!["list", "--expiring-within", "30d", "--fail-if-any"],
            ok(1),
        ),
        ("list", vec!["list", "--ca", "nobody"], fail(2)),
        ("needs-renewal", vec!["needs-renewal", "dev"], ok(1)),
        (
            "needs-renewal",
            vec!["needs-renewal", "pki/certs/dev/cert.pem", "--within", "30d"],
            ok(0),
        ),
        ("needs-renewal", vec!["needs-renewal", "nobody"], fail(2)),
        ("status", vec!["status"], ok(0)),
        ("doctor", vec!["doctor"], ok(0)),
        ("renew", vec!["renew", "dev"], ok(0)),
        ("renew", vec!["renew", "nobody"], fail(2)),
        (
            "export",
            vec!["export", "dev", "--format", "pem", "--out", "dev.pem"],
            ok(0),
        ),
        (
            "export",
            vec!["export", "nobody", "--format", "pem"],
            fail(2),
        ),
        ("key offline", vec!["key", "offline", "root"], ok(0)),
        ("key offline", vec!["key", "offline", "nobody"], fail(2)),
        ("key online", vec!["key", "online", "root"], ok(0)),
        ("key online", vec!["key", "online", "nobody"], fail(2)),
        (
            "key change-passphrase",
            vec!["key", "change-passphrase", "issuing", "--no-passphrase"],
            ok(0),
        ),
        (
            "key change-passphrase",
            vec!["key", "change-passphrase", "nobody", "--no-passphrase"],
            fail(2),
        ),
        (
            "ca set-urls",
            vec![
                "ca",
                "set-urls",
                "issuing",
                "--crl-url",
                "http://pki.example/issuing.crl",
            ],
            ok(0),
        ),
        (
            "ca set-urls",
            vec![
                "ca",
                "set-urls",
                "nobody",
                "--crl-url",
                "http://pki.example/x.crl",
            ],
            fail(2),
        ),
        (
            "ca set-crl",
            vec!["ca", "set-crl", "issuing", "--next-update", "3d"],
            ok(0),
        ),
        (
            "ca set-crl",
            vec!["ca", "set-crl", "nobody", "--next-update", "3d"],
            fail(2),
        ),
        // Rotation: a new default CA, the old one retired, the fleet moved.
        ("ca default", vec!["ca", "default", "issuing"], ok(0)),
        ("ca default", vec!["ca", "default"], ok(0)),
        ("ca default", vec!["ca", "default", "nobody"], fail(2)),
        (
            "intermediate",
            vec!["intermediate", "next", "--cn", "Next", "--no-passphrase"],
            ok(0),
        ),
        ("ca default", vec!["ca", "default", "next"], ok(0)),
        ("ca retire", vec!["ca", "retire", "issuing"], ok(0)),
        ("ca retire", vec!["ca", "retire", "next"], fail(2)),
        (
            "renew --expiring-within",
            vec!["renew", "--expiring-within", "400d", "--dry-run"],
            fail(1),
        ),
        (
            "renew --expiring-within",
            vec!["renew", "dev", "--dry-run", "--ca", "next"],
            ok(0),
        ),
        (
            "renew --expiring-within",
            vec!["renew", "--expiring-within", "400d"],
            fail(1),
        ),
        (
            "renew --expiring-within",
            vec!["renew", "--expiring-within", "nonsense"],
            fail(2),
        ),
        (
            "bundle",
            vec!["bundle", "--target", "nginx", "--with-crl"],
            fail(2),
        ),
        (
            "bundle",
            vec![
                "bundle",
                "--target",
                "nginx",
                "--with-crl",
                "--accept-ca-change",
            ],
            ok(0),
        ),
        (
            "ca renew",
            vec!["ca", "renew", "next", "--validity", "2y"],
            ok(0),
        ),
        ("ca renew", vec!["ca", "renew", "nobody"], fail(2)),
        (
            "init",
            vec![
                "init",
                "--name",
                "root2",
                "--cn",
                "Root 2",
                "--no-passphrase",
            ],
            ok(0),
        ),
        (
            "init",
            vec![
                "init",
                "--name",
                "root3",
                "--cn",
                "Root 3",
                "--pathlen",
                "2",
                "--no-passphrase",
            ],
            ok(0),
        ),
        (
            "ca cross-sign",
            vec!["ca", "cross-sign", "root2", "--by", "root3"],
            ok(0),
        ),
        (
            "ca cross-sign",
            vec!["ca", "cross-sign", "root2", "--by", "nobody"],
            fail(2),
        ),
        ("prune", vec!["prune", "--older-than", "1h"], ok(0)),
        ("prune", vec!["prune", "--older-than", "nonsense"], fail(2)),
        ("ledger info", vec!["ledger", "info"], ok(0)),
        (
            "ledger copy",
            vec!["ledger", "copy", "--to", "sqlite:copied-ledger.db"],
            ok(0),
        ),
        (
            "ledger copy",
            vec!["ledger", "copy", "--to", "sqlite:copied-ledger.db"],
            fail(2),
        ),
        (
            "bootstrap",
            vec!["bootstrap", "--no-passphrase", "--yes"],
            fail(2),
        ),
        ("list", vec!["list", "--no-such-flag"], fail(2)),
    ];
    let mut errs = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut run_checked =
        |title: &str, args: &[&str], in_dir: &Path, (code, failure): (i32, bool)| {
            let mut a = vec!["--json"];
            a.extend_from_slice(args);
            let r = run_in(in_dir, T0, &a);
            if r.code != code {
                errs.push(format!(
                    "{args:?}: exit {} (expected {code}):\n{}{}",
                    r.code, r.stdout, r.stderr
                ));
                return;
            }
            errs.extend(conforms(&docs, title, &r, in_dir, failure));
            seen.insert(title.split(" --").next().unwrap_or(title).to_string());
        };
    for (title, args, expect) in &runs {
        run_checked(title, args, dir, *expect);
    }
    // Doctor with a problem: its findings, and the error.
    std::fs::remove_file(env.path("pki/certs/web/chain.pem")).unwrap();
    run_checked("doctor", &["doctor"], dir, fail(1));
    // A PKI directory that is not there, and bootstrap in an empty directory.
    run_checked("status", &["status"], &env.path("empty"), fail(2));
    run_checked("doctor", &["doctor"], &env.path("empty"), fail(2));
    run_checked(
        "bootstrap",
        &["bootstrap", "--no-passphrase", "--yes"],
        &env.path("boot"),
        ok(0),
    );
    assert!(
        errs.is_empty(),
        "--json output differs from docs/json.md:\n{}",
        errs.join("\n")
    );

    // Every command --help lists is run above or documented as printing no JSON.
    for c in commands_in_help() {
        assert!(
            seen.contains(&c) || NO_DOCUMENT.contains(&c.as_str()),
            "'certsmith {c}' has no --json run here and no schema in docs/json.md"
        );
    }
    // And every schema in the doc is for a command that was run.
    for title in docs.schemas.keys() {
        let base = title.split(" --").next().unwrap_or(title);
        assert!(
            seen.contains(base),
            "docs/json.md documents '{title}', which no run checked"
        );
    }
    let took = started.elapsed();
    assert!(took.as_secs() < 60, "the contract run took {took:?}");
}
