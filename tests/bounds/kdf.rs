//! Encrypted keys whose KDF parameters would cost hours or many GiB are
//! refused before anything is derived, with the parameters named.

use super::{assert_refused, corpus, run_bounded};
use crate::common::*;

#[test]
fn ca_keys_with_absurd_kdf_parameters_are_refused_before_deriving() {
    let env = Env::new();
    let pass = corpus("pass-trailing-newline.txt");
    env.ok(&["init", "--cn", "Root", "--passphrase-file", s(&pass), "-q"]);
    let key = env.pki.join("cas/root/ca.key.pem");
    let cases = [
        ("key-pbkdf2-2pow31.pem", ["2147483647", "10000000"]),
        ("key-scrypt-n2pow24.pem", ["16777216", "8388608"]),
        ("key-scrypt-p-huge.pem", ["65535", "p="]),
    ];
    refused_before_deriving(&env, &key, &pass, &cases);
}

#[test]
fn keys_with_malformed_or_costly_kdf_parameters_are_refused_naming_them() {
    // N=0 panicked the KDF; r=0, p=0, N=3 and 0 iterations were called a
    // wrong passphrase; 2^25 work (~20 s) and 1 GiB per load were accepted.
    let env = Env::new();
    let pass = corpus("pass-trailing-newline.txt");
    env.ok(&["init", "--cn", "Root", "--passphrase-file", s(&pass), "-q"]);
    let key = env.pki.join("cas/root/ca.key.pem");
    let cases = [
        ("key-scrypt-n0.pem", ["N=0", "power of two"]),
        ("key-scrypt-n3.pem", ["N=3", "power of two"]),
        ("key-scrypt-r0.pem", ["r=0", "at least 1"]),
        ("key-scrypt-p0.pem", ["p=0", "at least 1"]),
        ("key-pbkdf2-0.pem", ["0 PBKDF2 iterations", "at least 1"]),
        (
            "key-scrypt-work-2pow25.pem",
            ["N=1048576, r=1, p=32", "N·r·p"],
        ),
        ("key-scrypt-1gib.pem", ["N=1048576, r=8, p=4", "1024 MiB"]),
    ];
    refused_before_deriving(&env, &key, &pass, &cases);
}

fn refused_before_deriving(
    env: &Env,
    key: &std::path::Path,
    pass: &std::path::Path,
    cases: &[(&str, [&str; 2])],
) {
    for &(file, named) in cases {
        std::fs::copy(corpus(file), key).unwrap();
        std::fs::set_permissions(key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let before = env.tree_hash();
        let r = run_bounded(
            env,
            None,
            &["issue", "dev", "--ca", "root", "--passphrase-file", s(pass)],
        );
        let line = assert_refused(env, &before, None, &r, file);
        assert!(!line.contains("wrong passphrase"), "{file}: {line}");
        for n in named {
            assert!(line.contains(n), "{file}: {line}");
        }
    }
}

#[test]
fn keys_with_ordinary_kdf_parameters_still_load() {
    // OpenSSL's own defaults (PBKDF2 2048 iterations; scrypt N=2^14, r=8, p=1) pass the caps.
    let env = Env::new();
    let pass = corpus("pass-trailing-newline.txt");
    let (ok, out) = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=Imported Root",
        "-days",
        "365",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        s(&env.path("plain.pem")),
        "-out",
        s(&env.path("ca.pem")),
    ]);
    assert!(ok, "{out}");
    for (name, extra) in [
        (
            "pbkdf2",
            vec!["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256"],
        ),
        ("scrypt", vec!["-scrypt"]),
    ] {
        let enc = env.path(&format!("{name}.pem"));
        let plain = env.path("plain.pem");
        let mut args = vec![
            "pkcs8",
            "-topk8",
            "-in",
            s(&plain),
            "-out",
            s(&enc),
            "-passout",
            "pass:Hostile-Pass-1",
        ];
        args.extend(extra);
        let (ok, out) = openssl(&args);
        assert!(ok, "{out}");
        let fresh = Env::new();
        let r = fresh
            .command(&[
                "init",
                "--import-cert",
                s(&env.path("ca.pem")),
                "--import-key",
                s(&enc),
                "--import-passphrase-file",
                s(&pass),
                "--no-passphrase",
                "-q",
            ])
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
    }
}
