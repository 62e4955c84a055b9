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
        ("key-scrypt-n2pow24.pem", ["16777216", "1048576"]),
        ("key-scrypt-p-huge.pem", ["65535", "p="]),
    ];
    for (file, named) in cases {
        std::fs::copy(corpus(file), &key).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let before = env.tree_hash();
        let r = run_bounded(
            &env,
            None,
            &[
                "issue",
                "dev",
                "--ca",
                "root",
                "--passphrase-file",
                s(&pass),
            ],
        );
        let line = assert_refused(&env, &before, None, &r, file);
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
