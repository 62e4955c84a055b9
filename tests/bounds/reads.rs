//! Every input file is read with a size cap fitting its kind, checked while
//! reading: an endless file (`/dev/zero`) or a huge sparse one is refused at
//! the cap, naming the file, its kind and the cap, instead of filling memory.

use super::{assert_refused, corpus, run_bounded, run_within};
use crate::common::*;

/// A sparse file of `len` bytes (zeros), which costs no disk space.
fn sparse(path: &std::path::Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

#[test]
fn endless_and_huge_input_files_are_refused_at_the_cap_of_their_kind() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "victim", "-q"]);
    let victim = env.cert_dir("victim").join("cert.pem");
    let victim = s(&victim);
    let huge = env.path("huge.bin");
    sparse(&huge, 4 << 30);
    let huge = s(&huge);
    let templates = env.pki.join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::set_permissions(
        &templates,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    // Small enough to hash quickly with the PKI tree, far above the cap.
    sparse(&templates.join("huge.json"), 8 << 20);
    let plain_key = corpus("key-garbage.pem");
    let zero = "/dev/zero";
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["inspect", zero], zero, "MiB"),
        (vec!["inspect", huge], huge, "MiB"),
        (vec!["sign", zero, "--ca", "issuing"], zero, "CSR"),
        (vec!["sign", huge, "--ca", "issuing"], huge, "CSR"),
        (vec!["verify", zero, "--ca", "issuing"], zero, "certificate"),
        (
            vec!["verify", victim, "--bundle", zero],
            zero,
            "certificate",
        ),
        (
            vec!["verify", victim, "--ca", "issuing", "--chain", huge],
            huge,
            "certificate",
        ),
        (
            vec!["verify", victim, "--ca", "issuing", "--crl", zero],
            zero,
            "CRL",
        ),
        (vec!["batch", zero], zero, "manifest"),
        (vec!["batch", "--dry-run", huge], huge, "manifest line"),
        (
            vec![
                "init",
                "--name",
                "two",
                "--cn",
                "Two",
                "--passphrase-file",
                zero,
            ],
            zero,
            "passphrase",
        ),
        (
            vec![
                "init",
                "--name",
                "imp",
                "--import-cert",
                zero,
                "--import-key",
                s(&plain_key),
                "--no-passphrase",
            ],
            zero,
            "certificate",
        ),
        (
            vec!["issue", "p", "--profile", "huge"],
            "huge.json",
            "profile",
        ),
    ];
    let mut failures = Vec::new();
    for (args, file, kind) in cases {
        let before = env.tree_hash();
        let r = run_bounded(&env, None, &args);
        let label = format!("{args:?}");
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert_refused(&env, &before, None, &r, &label)
        })) {
            Ok(line) => {
                // `/dev/zero` is a stream: refused outright where only a
                // regular file is read, at the cap where a stream is.
                let why = line.contains("larger than")
                    || (file == zero && line.contains("is not a regular file"));
                if !(line.contains(file) && line.contains(kind) && why) {
                    failures.push(format!("{label}: {line}"));
                }
            }
            Err(_) => failures.push(format!("{label}: exit {}: {}", r.code, r.stderr)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn files_just_under_their_cap_are_still_read() {
    // A passphrase of 4,096 bytes is the largest accepted; the cap is on bytes, not lines.
    let env = Env::new();
    let pass = env.path("pass.txt");
    std::fs::write(&pass, format!("{}\n", "p".repeat(4095))).unwrap();
    env.ok(&["init", "--cn", "Root", "--passphrase-file", s(&pass), "-q"]);
    let r = run_bounded(
        &env,
        None,
        &[
            "init",
            "--name",
            "two",
            "--cn",
            "Two",
            "--passphrase-file",
            s(&corpus("pass-5kb.txt")),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("passphrase") && r.stderr.contains("4 KiB"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_endless_fifo_is_refused_at_the_cap() {
    let env = Env::new();
    let fifo = env.path("endless.pem");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    // The writer feeds the FIFO until certsmith closes its end (EPIPE).
    let writer_path = fifo.clone();
    std::thread::spawn(move || {
        use std::io::Write;
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .open(writer_path)
            .unwrap();
        let block = vec![b'A'; 64 * 1024];
        while w.write_all(&block).is_ok() {}
    });
    let r = run_bounded(&env, None, &["inspect", s(&fifo)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("endless.pem") && r.stderr.contains("larger than 64 MiB"),
        "{}",
        r.stderr
    );
}

/// Replaces `path` with a FIFO that nobody writes to.
fn fifo_in_place_of(path: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
    let (ok, out) = (
        std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success(),
        s(path).to_string(),
    );
    assert!(ok, "mkfifo {out}");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
}

#[test]
fn a_fifo_in_the_pki_directory_is_refused_instead_of_hanging_every_command() {
    // Each file in turn: a FIFO with no writer used to block `open` forever.
    for file in [
        "cas/root/crl.pem",
        "cas/root/ca.key.pem",
        "certs/d1/cert.pem",
    ] {
        let env = Env::new();
        env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
        env.ok(&["issue", "d1", "-q"]);
        env.ok(&["crl", "-q"]);
        let target = env.pki.join(file);
        fifo_in_place_of(&target);
        let d1 = env.cert_dir("d1").join("cert.pem");
        let out = env.path("bundle");
        let exported = env.path("d1-export.pem");
        let commands: Vec<Vec<&str>> = vec![
            vec!["doctor"],
            vec!["issue", "d2"],
            vec!["crl"],
            vec!["verify", s(&d1), "--ca", "root"],
            vec!["bundle", "--with-crl", "--out", s(&out)],
            vec!["export", "d1", "--format", "pem", "--out", s(&exported)],
            vec!["renew", "d1"],
        ];
        for args in commands {
            let label = format!("{file} as a FIFO, certsmith {args:?}");
            let before = env.tree_hash();
            let r = run_within(&env, None, 5, &args);
            assert_ne!(r.code, -1, "{label}: hung until killed");
            assert_ne!(r.code, 101, "{label}: panicked: {}", r.stderr);
            let all = format!("{}{}", r.stdout, r.stderr);
            // A command that does not need the FIFO may succeed; one that
            // reads it says why it cannot.
            if r.code != 0 && args[0] != "doctor" {
                assert!(
                    all.contains("not a regular file"),
                    "{label}: exit {}: {all}",
                    r.code
                );
            }
            if r.code == 2 {
                assert_eq!(
                    env.tree_hash(),
                    before,
                    "{label}: the PKI directory changed"
                );
            }
            if args[0] == "doctor" {
                assert_eq!(r.code, 1, "{label}: doctor must report it: {all}");
                assert!(
                    all.contains("problem: ") && all.contains(file),
                    "{label}: {all}"
                );
            }
        }
    }
}

#[test]
fn a_manifest_from_a_pipe_is_refused_rather_than_silently_dropping_rows() {
    // The manifest used to be opened twice (format, then rows): from a pipe
    // the first open ate the rows and batch exited 0 having issued nothing.
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    let before = env.tree_hash();
    let mut c = env.command(&["batch", "/dev/stdin"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        // The reader may refuse before reading: a broken pipe is fine.
        let _ = stdin.write_all(b"name\ndev-1\ndev-2\ndev-3\n");
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert!(stderr.starts_with("certsmith: '/dev/stdin'"), "{stderr}");
    assert_eq!(env.tree_hash(), before);
}
