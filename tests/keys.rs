//! Key protection: encrypted CA keys OpenSSL reads, keys OpenSSL wrote that
//! certsmith reads, wrong passphrases, `key change-passphrase`.

use std::path::Path;

use crate::common::*;

fn write(env: &Env, rel: &str, text: &str) -> std::path::PathBuf {
    let p = env.path(rel);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn openssl_pkey_opens_every_encrypted_key_type_with_scrypt_and_pbkdf2() {
    let env = Env::new();
    let pass = write(&env, "pass", "correct horse\n");
    for kdf in ["scrypt", "pbkdf2"] {
        for key in [
            "ecdsa-p256",
            "ecdsa-p384",
            "ed25519",
            "rsa-2048",
            "rsa-3072",
            "rsa-4096",
        ] {
            let name = format!("{key}-{kdf}");
            env.ok(&[
                "init",
                "--name",
                &name,
                "--cn",
                &name,
                "--key",
                key,
                "--kdf",
                kdf,
                "--passphrase-file",
                s(&pass),
                "-q",
            ]);
            let file = env.pki.join("cas").join(&name).join("ca.key.pem");
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
                "{name}"
            );
            let (ok, out) = openssl_opens_key(&file, &pass);
            assert!(ok, "{name}: {out}");
            let (ok, _) = openssl(&["pkey", "-in", s(&file), "-passin", "pass:wrong", "-noout"]);
            assert!(!ok, "{name} opened with a wrong passphrase");
            let (_, asn1) = openssl(&["asn1parse", "-in", s(&file)]);
            let want = if kdf == "scrypt" {
                ":scrypt"
            } else {
                ":PBKDF2"
            };
            assert!(
                asn1.contains(want) && asn1.contains("aes-256-cbc"),
                "{name}: {asn1}"
            );
        }
    }
}

/// Makes a CA certificate for `key` with openssl (subject `subj`).
fn openssl_ca(
    env: &Env,
    key: &Path,
    subj: &str,
    out: &str,
    passin: Option<&str>,
) -> std::path::PathBuf {
    let cert = env.path(out);
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-key",
        s(key),
        "-out",
        s(&cert),
        "-days",
        "3650",
        "-subj",
        subj,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    if let Some(p) = passin {
        args.extend(["-passin", p]);
    }
    let (ok, text) = openssl(&args);
    assert!(ok, "{text}");
    cert
}

#[test]
fn keys_openssl_wrote_in_every_format_are_imported_and_issue_verifiable_certs() {
    let env = Env::new();
    let pass = write(&env, "pass", "import me");
    let passin = format!("file:{}", s(&pass));
    let gen_cases: Vec<(&str, Vec<String>)> = vec![
        (
            "genpkey-aes256-ec",
            vec![
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-aes256",
                "-pass",
                &passin,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        ),
        (
            "genpkey-aes256-rsa",
            vec![
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-aes256",
                "-pass",
                &passin,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
        ),
        (
            "sec1",
            vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout"]
                .into_iter()
                .map(String::from)
                .collect(),
        ),
        (
            "pkcs1",
            vec!["genrsa", "-traditional", "2048"]
                .into_iter()
                .map(String::from)
                .collect(),
        ),
        (
            "plain-pkcs8-ed25519",
            vec!["genpkey", "-algorithm", "ED25519"]
                .into_iter()
                .map(String::from)
                .collect(),
        ),
    ];
    let mut keys = Vec::new();
    for (name, mut args) in gen_cases {
        let out = env.path(&format!("{name}.key"));
        args.splice(1..1, ["-out".to_string(), s(&out).to_string()]);
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, text) = openssl(&a);
        assert!(ok, "{name}: {text}");
        keys.push((name.to_string(), out));
    }
    // PKCS#8 with scrypt, converted from the SEC1 key.
    let scrypt = env.path("pkcs8-scrypt.key");
    let (ok, text) = openssl(&[
        "pkcs8",
        "-topk8",
        "-scrypt",
        "-in",
        s(&keys[2].1),
        "-out",
        s(&scrypt),
        "-passout",
        &passin,
    ]);
    assert!(ok, "{text}");
    keys.push(("pkcs8-scrypt".into(), scrypt));
    assert!(
        std::fs::read_to_string(&keys[2].1)
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );
    assert!(
        std::fs::read_to_string(&keys[3].1)
            .unwrap()
            .contains("BEGIN RSA PRIVATE KEY")
    );
    for (name, key) in &keys {
        let encrypted = std::fs::read_to_string(key).unwrap().contains("ENCRYPTED");
        let cert = openssl_ca(
            &env,
            key,
            &format!("/O=Acme/CN={name}"),
            &format!("{name}.crt"),
            encrypted.then_some(passin.as_str()),
        );
        env.ok(&[
            "init",
            "--name",
            name,
            "--import-cert",
            s(&cert),
            "--import-key",
            s(key),
            "--passphrase-file",
            s(&pass),
            "-q",
        ]);
        let stored = env.pki.join("cas").join(name).join("ca.key.pem");
        assert!(
            std::fs::read_to_string(&stored)
                .unwrap()
                .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        );
        let leaf = format!("leaf-{name}");
        env.ok(&[
            "issue",
            &leaf,
            "--ca",
            name,
            "--passphrase-file",
            s(&pass),
            "-q",
        ]);
        let (ok, out) = openssl_verify(
            &cert,
            None,
            &env.cert_dir(&leaf).join("cert.pem"),
            "sslclient",
        );
        assert!(ok, "{name}: {out}");
    }
}

#[test]
fn legacy_encrypted_keys_are_refused_with_the_openssl_pkcs8_line_and_no_pki_is_left() {
    let env = Env::new();
    let pass = write(&env, "pass", "oldstyle");
    let passin = "pass:oldstyle".to_string();
    let proc_type = env.path("proc-type.key");
    let (ok, t) = openssl(&[
        "genrsa",
        "-traditional",
        "-aes256",
        "-passout",
        &passin,
        "-out",
        s(&proc_type),
        "2048",
    ]);
    assert!(ok, "{t}");
    let pbes1 = env.path("pbes1.key");
    let (ok, t) = openssl(&[
        "pkcs8",
        "-topk8",
        "-v1",
        "PBE-SHA1-3DES",
        "-in",
        s(&proc_type),
        "-passin",
        &passin,
        "-passout",
        &passin,
        "-out",
        s(&pbes1),
    ]);
    assert!(ok, "{t}");
    for key in [&proc_type, &pbes1] {
        let cert = openssl_ca(&env, key, "/CN=Old CA", "old.crt", Some(&passin));
        let err = env.fails(
            2,
            &[
                "init",
                "--import-cert",
                s(&cert),
                "--import-key",
                s(key),
                "--passphrase-file",
                s(&pass),
            ],
        );
        assert!(
            err.contains("hint: convert it with: openssl pkcs8 -topk8"),
            "{err}"
        );
        assert!(
            !env.pki.exists(),
            "a refused import left {}",
            env.pki.display()
        );
    }
}

fn encrypted_hierarchy(env: &Env) -> std::path::PathBuf {
    let pass = write(env, "pass", "right");
    env.ok(&["init", "--cn", "Root", "--passphrase-file", s(&pass), "-q"]);
    env.ok(&[
        "intermediate",
        "issuing",
        "--cn",
        "Issuing",
        "--passphrase-file",
        s(&pass),
        "-q",
    ]);
    pass
}

#[test]
fn wrong_passphrase_exits_2_and_leaves_the_pki_unchanged() {
    let env = Env::new();
    encrypted_hierarchy(&env);
    let wrong = write(&env, "wrong", "wrong");
    let before = env.tree_hash();
    let err = fails_as(
        &env,
        &["issue", "dev", "--passphrase-file", s(&wrong)],
        &certsmith::Error::WrongPassphrase {
            what: env.pki.join("cas/issuing/ca.key.pem").display().to_string(),
        },
    );
    assert!(
        err.starts_with("certsmith: wrong passphrase for '"),
        "{err}"
    );
    let err = env.fails(
        2,
        &[
            "key",
            "change-passphrase",
            "root",
            "--passphrase-file",
            s(&wrong),
            "--new-passphrase-file",
            s(&wrong),
        ],
    );
    assert!(err.contains("wrong passphrase"), "{err}");
    assert_eq!(before, env.tree_hash());
}

#[test]
fn change_passphrase_reencrypts_in_place_and_the_old_one_stops_working() {
    let env = Env::new();
    let pass = encrypted_hierarchy(&env);
    let new = write(&env, "new", "brand new");
    let key = env.pki.join("cas/root/ca.key.pem");
    let j = env.json(&[
        "key",
        "change-passphrase",
        "root",
        "--passphrase-file",
        s(&pass),
        "--new-passphrase-file",
        s(&new),
        "--kdf",
        "pbkdf2",
    ]);
    assert_eq!(j["encrypted"], true);
    let (ok, out) = openssl_opens_key(&key, &new);
    assert!(ok, "{out}");
    assert_eq!(mode(&key), 0o600);
    env.fails(
        2,
        &[
            "intermediate",
            "second",
            "--cn",
            "Second",
            "--passphrase-file",
            s(&pass),
        ],
    );
    env.ok(&[
        "intermediate",
        "second",
        "--cn",
        "Second",
        "--issuer-passphrase-file",
        s(&new),
        "--passphrase-file",
        s(&pass),
        "-q",
    ]);
}

#[test]
fn change_passphrase_encrypts_an_unencrypted_key_and_the_ledger_knows() {
    let env = Env::new();
    env.hierarchy();
    let new = write(&env, "new", "now protected");
    env.ok(&[
        "key",
        "change-passphrase",
        "issuing",
        "--new-passphrase-file",
        s(&new),
        "-q",
    ]);
    let text = std::fs::read_to_string(env.pki.join("cas/issuing/ca.key.pem")).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    let err = env.fails(2, &["issue", "dev"]);
    assert!(err.contains("--passphrase-file"), "{err}");
    env.ok(&["issue", "dev", "--passphrase-file", s(&new), "-q"]);
    let conn = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    let enc: i64 = conn
        .query_row(
            "SELECT encrypted FROM cas WHERE name = 'issuing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(enc, 1);
}

#[test]
fn change_passphrase_without_terminal_names_the_flag_and_changes_nothing() {
    let env = Env::new();
    let pass = encrypted_hierarchy(&env);
    let before = env.tree_hash();
    let err = env.fails(
        2,
        &[
            "key",
            "change-passphrase",
            "root",
            "--passphrase-file",
            s(&pass),
        ],
    );
    assert!(
        err.contains("hint: pass --new-passphrase-file FILE"),
        "{err}"
    );
    assert_eq!(before, env.tree_hash());
}
