//! The docs run as written: every fenced block with info string `sh` in
//! README.md and docs/*.md is run through the test build's certsmith, and
//! every `sh no-run` block is syntax-checked with `bash -n`.
//!
//! Per file, the `sh` blocks run top to bottom in ONE bash process (so a
//! variable, a `cd` or a file one block makes is there for the next, as in a
//! reader's terminal) under `set -Eeuo pipefail`, in a fresh temp directory
//! that is also `$HOME`, with `CERTSMITH_NOW` fixed, no `CERTSMITH_*`
//! variable inherited, stdin closed and the test build's certsmith first on
//! PATH. A failing block is reported with its file, the doc line of the
//! command that failed and everything the block printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common;

/// The fixed clock every doc runs under.
const DOCS_NOW: &str = "2026-12-02T14:00:00Z";
/// Longest one file's blocks may run.
const FILE_TIMEOUT_SECS: u32 = 60;

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Run,
    NoRun,
}

#[derive(Debug, Clone)]
struct Block {
    kind: Kind,
    /// 1-based doc line of the block's first line of code.
    first_line: usize,
    lines: Vec<String>,
}

/// The `sh` and `sh no-run` blocks of a Markdown text, in order.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(Option<Kind>, String, Block)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some((kind, fence, block)) = open.take() {
            if trimmed.starts_with(fence.as_str()) && trimmed.trim_end() == fence {
                if let Some(k) = kind {
                    out.push(Block { kind: k, ..block });
                }
            } else {
                let mut block = block;
                block.lines.push(line.to_string());
                open = Some((kind, fence, block));
            }
            continue;
        }
        let fence_len = trimmed.chars().take_while(|&c| c == '`').count();
        if fence_len >= 3 {
            let info = trimmed[fence_len..].trim();
            let kind = match info {
                "sh" => Some(Kind::Run),
                "sh no-run" => Some(Kind::NoRun),
                _ => None,
            };
            let block = Block {
                kind: Kind::NoRun,
                first_line: i + 2,
                lines: Vec::new(),
            };
            open = Some((kind, "`".repeat(fence_len), block));
        }
    }
    out
}

/// README.md and every docs/*.md present now.
fn doc_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Runs one file's blocks; `Err` says what failed, where, and what it printed.
fn run_doc(name: &str, text: &str) -> Result<(), String> {
    let all = blocks(text);
    let mut errors = Vec::new();
    for b in all.iter().filter(|b| b.kind == Kind::NoRun) {
        if let Err(e) = syntax_check(&b.lines.join("\n")) {
            errors.push(format!(
                "{name}:{}: `sh no-run` block is not valid bash:\n{e}",
                b.first_line
            ));
        }
    }
    let runnable: Vec<&Block> = all.iter().filter(|b| b.kind == Kind::Run).collect();
    if !runnable.is_empty()
        && let Err(e) = run_blocks(name, &runnable)
    {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n\n"))
    }
}

fn syntax_check(script: &str) -> Result<(), String> {
    let out = Command::new("bash")
        .args(["-n", "-c", script])
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Marker printed before each block, so the output splits per block.
const MARK: &str = "@@docs-run-block";
/// Marker printed by the ERR trap: the script line of the failing command.
const FAIL: &str = "@@docs-run-failed";

fn run_blocks(name: &str, blocks: &[&Block]) -> Result<(), String> {
    let dir = tempfile::tempdir().expect("tempdir");
    // The script, and for each of its lines the doc line it came from.
    let mut script = String::new();
    let mut doc_line: Vec<usize> = Vec::new();
    let mut push = |s: &str, from: usize| {
        script.push_str(s);
        script.push('\n');
        doc_line.push(from);
    };
    push("set -Eeuo pipefail", 0);
    push(&format!("trap 'echo \"{FAIL} $LINENO\"' ERR"), 0);
    for (i, b) in blocks.iter().enumerate() {
        push(&format!("echo '{MARK} {i}'"), b.first_line);
        for (j, l) in b.lines.iter().enumerate() {
            push(l, b.first_line + j);
        }
    }
    let script_path = dir.path().join(".docs-run.sh");
    std::fs::write(&script_path, &script).expect("write script");
    let log_path = dir.path().join(".docs-run.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let path = common::path_with_certsmith();
    let mut c = Command::new("timeout");
    common::clean_env(&mut c);
    let status = c
        .arg(FILE_TIMEOUT_SECS.to_string())
        .arg("bash")
        .arg(&script_path)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("CERTSMITH_NOW", DOCS_NOW)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .status()
        .expect("run bash");
    if status.success() {
        return Ok(());
    }
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    // The failing block is the last one whose marker was printed.
    let mut index = None;
    let mut block_output = String::new();
    let mut failed_at = None;
    for line in output.lines() {
        if let Some(n) = line.strip_prefix(MARK) {
            index = n.trim().parse::<usize>().ok();
            block_output.clear();
        } else if let Some(n) = line.strip_prefix(FAIL) {
            failed_at = n.trim().parse::<usize>().ok();
        } else {
            block_output.push_str(line);
            block_output.push('\n');
        }
    }
    let at = failed_at
        .and_then(|n| doc_line.get(n.wrapping_sub(1)).copied())
        .filter(|&l| l > 0)
        .or_else(|| index.map(|i| blocks[i].first_line))
        .unwrap_or(0);
    let why = match status.code() {
        Some(124) => format!("timed out after {FILE_TIMEOUT_SECS} s"),
        Some(c) => format!("exit {c}"),
        None => "killed by a signal".to_string(),
    };
    Err(format!(
        "{name}:{at}: `sh` block failed ({why}); its output:\n{block_output}"
    ))
}

/// Every doc's `sh` blocks run and its `sh no-run` blocks parse.
#[test]
fn every_doc_sh_block_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = doc_files();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| {
                s.spawn(move || {
                    let name = f.strip_prefix(root).unwrap_or(f).display().to_string();
                    let text = std::fs::read_to_string(f).expect("read doc");
                    run_doc(&name, &text)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("doc thread"))
            .collect()
    });
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} doc(s) do not work as written:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The runner itself: a failing command is reported with its file, its doc
/// line and the block's output; earlier blocks' state carries over.
#[test]
fn docs_runner_reports_failing_block_with_file_line_and_output() {
    let doc = "# t\n\n```sh\nX=hello\necho first\n```\n\ntext\n\n```sh\necho \"$X from two\"\ncertsmith --version\nfalse\necho never\n```\n";
    let err = run_doc("t.md", doc).expect_err("`false` must fail the doc");
    assert!(
        err.starts_with("t.md:13: `sh` block failed (exit 1)"),
        "{err}"
    );
    assert!(err.contains("hello from two"), "{err}");
    assert!(err.contains("certsmith "), "{err}");
    assert!(
        !err.contains("first"),
        "only the failing block's output: {err}"
    );
    assert!(!err.contains("never"), "{err}");
}

/// Unset variables and failures inside a pipeline fail the block; `sh
/// no-run` blocks are only parsed; other info strings are ignored.
#[test]
fn docs_runner_is_strict_and_only_parses_no_run_blocks() {
    let unset = "```sh\necho \"$NOT_SET\"\n```\n";
    assert!(run_doc("u.md", unset).is_err(), "set -u");
    let pipe = "```sh\nfalse | cat\n```\n";
    assert!(run_doc("p.md", pipe).is_err(), "pipefail");
    let no_run = "```sh no-run\naws iam list-users\nkubectl apply -f x.yaml\n```\n```text\nnot a command (\n```\n";
    assert_eq!(run_doc("n.md", no_run), Ok(()));
    let bad = "```sh no-run\nif then fi (\n```\n";
    let err = run_doc("b.md", bad).expect_err("syntax error");
    assert!(err.starts_with("b.md:2:"), "{err}");
    let clock =
        "```sh\ntest \"$CERTSMITH_NOW\" = 2026-12-02T14:00:00Z\ntest \"$HOME\" = \"$PWD\"\n```\n";
    assert_eq!(run_doc("c.md", clock), Ok(()));
}

/// Runs `line` with bash in `dir` (certsmith of this build on PATH), as a
/// user would paste it.
fn run_printed(dir: &Path, line: &str) -> (bool, String) {
    let path = common::path_with_certsmith();
    let mut c = Command::new("bash");
    common::clean_env(&mut c);
    let out = c
        .args(["-euo", "pipefail", "-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .env("CERTSMITH_NOW", DOCS_NOW)
        .stdin(Stdio::null())
        .output()
        .expect("bash");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `bootstrap --pki my-pki`: the first "Next:" command (human and `--json`)
/// names the real PKI directory and the certificate just made, and runs.
#[test]
fn bootstrap_first_next_command_runs_as_printed() {
    for json in [false, true] {
        let env = common::Env::new();
        let mut c = common::certsmith();
        c.current_dir(env.dir.path())
            .env("CERTSMITH_NOW", DOCS_NOW)
            .stdin(Stdio::null())
            .args(["--pki", "my-pki", "bootstrap", "--no-passphrase", "--yes"]);
        if json {
            c.arg("--json");
        }
        let out = c.output().expect("bootstrap");
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let first = if json {
            let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
            v["bundle"]["next"][0]
                .as_str()
                .expect("bundle.next[0]")
                .to_string()
        } else {
            let mut lines = stdout.lines().skip_while(|l| *l != "Next:");
            lines.next().expect("a Next: line");
            lines
                .next()
                .expect("a command after Next:")
                .trim()
                .to_string()
        };
        assert!(
            first.contains("my-pki/certs/device-001/cert.pem") && !first.contains("NAME"),
            "json={json}: {first}"
        );
        let (ok, output) = run_printed(env.dir.path(), &first);
        assert!(ok, "json={json}: `{first}` failed:\n{output}");
        assert!(output.contains(": OK"), "{output}");
    }
}

/// One rule for every passphrase file: the whole file, less one trailing
/// newline (LF or CRLF). A second line belongs to the passphrase.
#[test]
fn passphrase_file_is_the_whole_file_less_one_trailing_newline() {
    let env = common::Env::new();
    let write = |name: &str, bytes: &str| {
        let p = env.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let lf = write("lf.pass", "correct horse\n");
    let bare = write("bare.pass", "correct horse");
    let crlf = write("crlf.pass", "correct horse\r\n");
    let two = write("two.pass", "correct horse\nsecond line\n");
    let twice = write("twice.pass", "correct horse\n\n");
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--passphrase-file",
        common::s(&lf),
        "-q",
    ]);
    for (i, same) in [&lf, &bare, &crlf].into_iter().enumerate() {
        let name = format!("dev-{i}");
        env.ok(&["issue", &name, "--passphrase-file", common::s(same), "-q"]);
    }
    let before = env.tree_hash();
    for other in [&two, &twice] {
        let err = env.fails(
            2,
            &["issue", "dev-x", "--passphrase-file", common::s(other)],
        );
        assert!(err.contains("wrong passphrase"), "{err}");
    }
    assert_eq!(
        env.tree_hash(),
        before,
        "a refused passphrase changed the PKI"
    );
    // The key opens with exactly that passphrase.
    let key = env.pki.join("cas/root/ca.key.pem");
    let (ok, out) = common::openssl(&[
        "pkey",
        "-in",
        common::s(&key),
        "-passin",
        "pass:correct horse",
        "-noout",
    ]);
    assert!(ok, "{out}");
}
