//! Every input file is read with a size cap fitting its kind, checked while
//! reading: an endless file (`/dev/zero`) or a huge sparse one is refused at
//! the cap, naming the file, its kind and the cap, instead of filling memory.

use super::{assert_refused, corpus, run_bounded};
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
        (vec!["batch", zero], zero, "manifest line"),
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
                if !(line.contains(file) && line.contains(kind) && line.contains("larger than")) {
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
