//! Secrets never leave: a whole workflow's stdout and stderr, text and
//! JSON, success and failure, hold neither a passphrase nor any private key
//! bytes; `Debug` of the types that hold them is elided.

use crate::common::*;

const PASS: &str = "Tr0ub4dor&3-Secret-Passphrase";
const P12_PASS: &str = "P12-Export-Password-9876";

/// Every form in which a key's private bytes could leak into output.
fn key_fingerprints(pem_path: &std::path::Path, pass: Option<&str>) -> Vec<String> {
    let mut args = vec!["pkey", "-in", pem_path.to_str().unwrap(), "-outform", "DER"];
    let passin = pass.map(|p| format!("pass:{p}"));
    if let Some(p) = &passin {
        args.extend(["-passin", p.as_str()]);
    }
    let out = std::process::Command::new("openssl")
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = out.stdout;
    let b64 = pem::encode(&pem::Pem::new("PRIVATE KEY", der.clone()));
    let mut forms: Vec<String> = b64
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .filter(|l| l.len() >= 16)
        .map(str::to_string)
        .collect();
    // The private scalar as `openssl pkey -text` would print it, colon hex and plain hex.
    let mut text_args = args.clone();
    text_args.retain(|a| *a != "-outform" && *a != "DER");
    text_args.extend(["-text", "-noout"]);
    let text = String::from_utf8(
        std::process::Command::new("openssl")
            .args(&text_args)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let priv_hex: String = text
        .split("pub:")
        .next()
        .unwrap_or("")
        .split("priv:")
        .nth(1)
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    assert!(priv_hex.len() >= 64, "{text}");
    forms.push(priv_hex[priv_hex.len() - 64..].to_string());
    forms.push(priv_hex[priv_hex.len() - 64..].to_uppercase());
    forms.push(certsmith::serial::to_hex(&der));
    forms
}

#[test]
fn full_workflow_output_never_contains_passphrase_or_key_bytes() {
    let env = Env::new();
    let pass = env.path("pass.txt");
    std::fs::write(&pass, format!("{PASS}\n")).unwrap();
    let wrong = env.path("wrong.txt");
    std::fs::write(&wrong, "not-the-passphrase\n").unwrap();
    let p12pass = env.path("p12.txt");
    std::fs::write(&p12pass, format!("{P12_PASS}\n")).unwrap();
    let empty = env.path("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let pf = pass.to_str().unwrap();
    let csr_key = env.path("dev.key");
    let csr = env.path("dev.csr");
    openssl_p256_csr(&csr_key, &csr, "/CN=csr-device");

    let mut output = String::new();
    let mut run = |args: &[&str]| {
        for json in [false, true] {
            let mut a: Vec<&str> = if json { vec!["--json"] } else { vec![] };
            a.extend_from_slice(args);
            let r = env.run(&a);
            output.push_str(&r.stdout);
            output.push_str(&r.stderr);
            if json && r.code != 0 {
                // A second attempt of a creating command fails on the name: fine, still scanned.
                continue;
            }
        }
    };
    run(&["init", "--cn", "Secret Root", "--passphrase-file", pf]);
    run(&[
        "intermediate",
        "issuing",
        "--cn",
        "Secret Issuing",
        "--passphrase-file",
        pf,
        "--issuer-passphrase-file",
        pf,
    ]);
    run(&["issue", "dev1", "--passphrase-file", pf]);
    run(&[
        "issue",
        "srv",
        "--profile",
        "server",
        "--san",
        "dns:srv.example",
        "--passphrase-file",
        pf,
    ]);
    run(&["sign", csr.to_str().unwrap(), "--passphrase-file", pf]);
    let keys = [
        env.pki.join("cas/root/ca.key.pem"),
        env.pki.join("cas/issuing/ca.key.pem"),
        env.cert_dir("dev1").join("key.pem"),
        env.cert_dir("srv").join("key.pem"),
    ];
    for k in &keys {
        run(&["inspect", k.to_str().unwrap()]);
    }
    run(&["inspect", csr_key.to_str().unwrap()]);
    run(&["list"]);
    run(&["status"]);
    run(&["doctor"]);
    // Error paths: wrong and empty passphrase files, the passphrase in the environment.
    run(&[
        "issue",
        "dev2",
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]);
    run(&[
        "issue",
        "dev3",
        "--passphrase-file",
        empty.to_str().unwrap(),
    ]);
    run(&["issue", "dev4"]);
    run(&[
        "intermediate",
        "second",
        "--cn",
        "X",
        "--passphrase-file",
        pf,
        "--issuer-passphrase-file",
        wrong.to_str().unwrap(),
    ]);
    run(&[
        "export",
        "dev1",
        "--format",
        "p12",
        "--p12-passphrase-file",
        p12pass.to_str().unwrap(),
        "--out",
        env.path("dev1.p12").to_str().unwrap(),
    ]);
    run(&[
        "export",
        "dev1",
        "--format",
        "pem",
        "--out",
        env.path("dev1-export.pem").to_str().unwrap(),
    ]);
    run(&["revoke", "dev1", "--reason", "key-compromise"]);
    run(&["crl", "--ca", "issuing", "--passphrase-file", pf]);
    let r = env
        .command(&["issue", "dev5"])
        .env("CERTSMITH_PASSPHRASE", PASS)
        .output()
        .unwrap();
    output.push_str(&String::from_utf8_lossy(&r.stdout));
    output.push_str(&String::from_utf8_lossy(&r.stderr));
    let r = env
        .command(&["issue", "dev6"])
        .env("CERTSMITH_PASSPHRASE", "wrong-env-pass")
        .output()
        .unwrap();
    output.push_str(&String::from_utf8_lossy(&r.stderr));

    assert!(
        output.contains("Issued 'dev1'") && output.contains("Issued 'dev5'"),
        "the workflow ran:\n{output}"
    );
    assert!(output.contains("certsmith: "), "error paths ran");
    for secret in [PASS, P12_PASS, "not-the-passphrase", "wrong-env-pass"] {
        assert!(!output.contains(secret), "passphrase {secret:?} leaked");
    }
    let mut forms = Vec::new();
    forms.extend(key_fingerprints(&keys[0], Some(PASS)));
    forms.extend(key_fingerprints(&keys[1], Some(PASS)));
    forms.extend(key_fingerprints(&keys[2], None));
    forms.extend(key_fingerprints(&keys[3], None));
    forms.extend(key_fingerprints(&csr_key, None));
    for f in forms {
        assert!(!output.contains(&f), "private key bytes leaked: {f}");
    }
}

#[test]
fn debug_of_passphrase_and_signer_is_elided() {
    use certsmith::passphrase::{PassOptions, Passphrase};
    let p = Passphrase::new(PASS.to_string()).unwrap();
    assert_eq!(format!("{p:?}"), "[passphrase elided]");
    let opts = PassOptions {
        given: Some(p),
        ..Default::default()
    };
    let shown = format!("{opts:?}");
    assert!(!shown.contains(PASS), "{shown}");

    let env = Env::new();
    env.hierarchy();
    let pki = certsmith::pki::Pki::at(&env.pki);
    let ledger = pki.open_ledger().unwrap();
    let signer =
        certsmith::ca::Signer::load(&pki, &ledger, "issuing", &PassOptions::default()).unwrap();
    let shown = format!("{signer:?}");
    assert!(shown.contains("[secret key elided]"), "{shown}");
    for f in key_fingerprints(&env.pki.join("cas/issuing/ca.key.pem"), None) {
        assert!(!shown.contains(&f), "{shown}");
    }
}

#[test]
fn passphrase_file_trailing_newline_is_stripped_and_empty_file_is_refused() {
    let env = Env::new();
    let with_nl = env.path("nl.txt");
    std::fs::write(&with_nl, "Line-Pass\n").unwrap();
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--passphrase-file",
        with_nl.to_str().unwrap(),
        "-q",
    ]);
    // The key was encrypted with "Line-Pass" (newline stripped): openssl agrees.
    let key = env.pki.join("cas/root/ca.key.pem");
    let (ok, out) = openssl(&[
        "pkey",
        "-in",
        key.to_str().unwrap(),
        "-passin",
        "pass:Line-Pass",
        "-noout",
    ]);
    assert!(ok, "{out}");
    // CRLF and no newline at all read the same passphrase.
    for (name, body) in [("crlf.txt", "Line-Pass\r\n"), ("bare.txt", "Line-Pass")] {
        let f = env.path(name);
        std::fs::write(&f, body).unwrap();
        env.ok(&[
            "issue",
            name,
            "--ca",
            "root",
            "--passphrase-file",
            f.to_str().unwrap(),
            "-q",
        ]);
    }
    // Only one newline is stripped: "Line-Pass\n\n" is a different passphrase.
    let two = env.path("two.txt");
    std::fs::write(&two, "Line-Pass\n\n").unwrap();
    let before = env.tree_hash();
    let err = env.fails(
        2,
        &[
            "issue",
            "x",
            "--ca",
            "root",
            "--passphrase-file",
            two.to_str().unwrap(),
        ],
    );
    assert!(err.starts_with("certsmith: "), "{err}");
    assert_eq!(env.tree_hash(), before);
    let empty = env.path("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let err = env.fails(
        2,
        &[
            "issue",
            "y",
            "--ca",
            "root",
            "--passphrase-file",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(
        err.lines().next().unwrap(),
        format!("certsmith: passphrase file '{}' is empty", empty.display())
    );
    assert_eq!(env.tree_hash(), before);
}
