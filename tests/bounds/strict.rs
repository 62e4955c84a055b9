//! Input that parses only by ignoring part of it is refused with the reason:
//! a second CSR in one file, a JSON key given twice, random bytes inside a
//! SEC1 or PKCS#1 key's armour.

use super::{assert_refused, corpus, run_bounded};
use crate::common::*;

#[test]
fn a_file_with_two_csrs_is_refused_instead_of_signing_the_first() {
    let env = Env::new();
    env.hierarchy();
    let before = env.tree_hash();
    let r = run_bounded(
        &env,
        None,
        &[
            "sign",
            s(&corpus("csr-two-concatenated.pem")),
            "--ca",
            "issuing",
        ],
    );
    let line = assert_refused(&env, &before, None, &r, "two CSRs");
    assert!(
        line.contains("2 PEM blocks") && line.contains("one CSR"),
        "{line}"
    );
}

#[test]
fn a_json_lines_row_with_a_key_given_twice_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let m = env.path("m.jsonl");
    std::fs::write(
        &m,
        "{\"name\":\"dev-1\"}\n{\"name\":\"dev-2\",\"cn\":\"A\",\"name\":\"dev-3\"}\n",
    )
    .unwrap();
    let before = env.tree_hash();
    let r = run_bounded(&env, None, &["batch", "--dry-run", s(&m)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.tree_hash(), before);
    assert!(
        r.stderr.contains("line 2") && r.stderr.contains("\"name\" more than once"),
        "{}",
        r.stderr
    );
}

#[test]
fn random_bytes_in_sec1_or_pkcs1_armour_are_not_a_private_key() {
    let env = Env::new();
    for (file, format) in [
        ("key-garbage-ec.pem", "SEC1 EC"),
        ("key-garbage-rsa.pem", "PKCS#1 RSA"),
    ] {
        let before = env.tree_hash();
        let r = run_bounded(&env, None, &["inspect", s(&corpus(file))]);
        let line = assert_refused(&env, &before, None, &r, file);
        assert!(
            line.contains(&format!("not a valid {format} private key")),
            "{file}: {line}"
        );
    }
    // A real SEC1 key is still described.
    let key = env.path("ec.pem");
    let (ok, out) = openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        s(&key),
    ]);
    assert!(ok, "{out}");
    let out = env.ok(&["inspect", s(&key)]);
    assert!(out.contains("SEC1") && out.contains("ecdsa-p256"), "{out}");
}

#[test]
fn keys_that_only_look_right_are_not_a_private_key() {
    // A PKCS#8 with the EC OID and random key bytes, a PKCS#1 of nine tiny
    // integers: the structure parses, the key does not (inspect said exit 0).
    let env = Env::new();
    for (file, says) in [
        ("key-pkcs8-ec-random.pem", "is not a usable private key"),
        ("key-rsa-tiny-ints.pem", "is not a usable RSA private key"),
    ] {
        let before = env.tree_hash();
        for json in [false, true] {
            let path = corpus(file);
            let mut args = vec!["inspect", s(&path)];
            if json {
                args.insert(0, "--json");
            }
            let mut r = run_bounded(&env, None, &args);
            if json {
                // With --json the refusal is also the one JSON error document on stdout.
                let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON error");
                let message = doc["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(says), "{file}: {doc}");
                r.stdout.clear();
            }
            let line = assert_refused(&env, &before, None, &r, file);
            assert!(line.contains(says), "{file}: {line}");
        }
    }
}
