//! The `bootstrap` wizard driven in a real pseudo-terminal, the flag path
//! CI uses, completions, and every command with no terminal: it finishes
//! (never waits for input) with success or an error naming the flag.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rexpect::session::PtySession;

use crate::common::*;

const DOWN: &str = "\x1b[B";

/// `certsmith --pki … bootstrap` in a pty, through `sh`, which prints
/// "certsmith exited N" when it ends, so a test can read the exit status.
fn wizard(env: &Env) -> PtySession {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(r#""$0" "$@"; echo "certsmith exited $?""#)
        .arg(env!("CARGO_BIN_EXE_certsmith"))
        .arg("--pki")
        .arg(&env.pki)
        .arg("bootstrap");
    clean_env(&mut c);
    c.current_dir(env.dir.path()).env("TERM", "xterm");
    rexpect::session::spawn_command(c, Some(30_000)).expect("spawn in a pty")
}

/// Waits for `prompt`, then types `keys` (no newline added).
fn answer(p: &mut PtySession, prompt: &str, keys: &str) {
    p.exp_string(prompt)
        .unwrap_or_else(|e| panic!("waiting for '{prompt}': {e}"));
    p.send(keys).unwrap();
    p.flush().unwrap();
}

#[test]
fn wizard_typed_answers_make_encrypted_cas_a_device_and_its_p12() {
    let env = Env::new();
    let mut p = wizard(&env);
    answer(&mut p, "Organisation", "Acme AG\r");
    answer(&mut p, "What will the certificates identify?", "\r");
    answer(&mut p, "Name of the first device", "sensor-7\r");
    answer(&mut p, "Root key type", "\r");
    answer(&mut p, "Key type of the issuing CA", &format!("{DOWN}\r"));
    answer(&mut p, "Root validity", "\r");
    answer(&mut p, "Issuing CA validity", "2y\r");
    answer(&mut p, "First certificate validity", "90d\r");
    answer(&mut p, "Protect the CA keys with a passphrase?", "\r");
    answer(&mut p, "Passphrase for the CA keys", "wizard pass\r");
    answer(&mut p, "Repeat it", "wizard pass\r");
    answer(&mut p, "Trust store", &format!("{DOWN}\r"));
    answer(&mut p, "as a PKCS#12 (.p12) file?", "\r");
    answer(&mut p, "Password for the .p12 file", "p12 pass\r");
    answer(&mut p, "Repeat it", "p12 pass\r");
    p.exp_string("Summary").unwrap();
    p.exp_string("trust store: aws-alb").unwrap();
    assert!(
        !env.pki.exists(),
        "nothing may be written before the confirmation"
    );
    answer(&mut p, "Create all of this now?", "y\r");
    p.exp_string("Created root CA 'root', intermediate CA 'issuing' and certificate 'sensor-7'")
        .unwrap();
    p.exp_string("Wrote the aws-alb bundle (2 CA certificate(s))")
        .unwrap();
    p.exp_string("aws elbv2 create-trust-store").unwrap();
    p.exp_eof().unwrap();

    let bundle = std::fs::read_to_string(env.pki.join("bundles/aws-alb/ca-bundle.pem")).unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2);
    for ca in ["root", "issuing"] {
        let key = env.pki.join(format!("cas/{ca}/ca.key.pem"));
        let (ok, out) = openssl(&[
            "pkey",
            "-in",
            s(&key),
            "-passin",
            "pass:wizard pass",
            "-noout",
        ]);
        assert!(ok, "{ca}: {out}");
    }
    let (_, root) = openssl(&[
        "x509",
        "-in",
        s(&env.root_pem()),
        "-noout",
        "-subject",
        "-text",
    ]);
    assert!(
        root.contains("O = Acme AG") && root.contains("secp384r1"),
        "{root}"
    );
    let (_, inter) = openssl(&[
        "x509",
        "-in",
        s(&env.pki.join("cas/issuing/ca.pem")),
        "-noout",
        "-text",
    ]);
    assert!(
        inter.contains("secp384r1"),
        "issuing CA key type chosen in the wizard: {inter}"
    );
    let d = env.cert_dir("sensor-7");
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(&[
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        s(&d.join("sensor-7.p12")),
        "-passin",
        "pass:p12 pass",
    ]);
    assert!(ok, "{out}");
}

#[test]
fn wizard_declined_at_the_summary_writes_nothing() {
    let env = Env::new();
    let mut p = wizard(&env);
    answer(&mut p, "Organisation", "\r");
    answer(
        &mut p,
        "What will the certificates identify?",
        &format!("{DOWN}\r"),
    );
    answer(&mut p, "DNS domain", "acme.internal\r");
    for prompt in [
        "Root key type",
        "Key type of the issuing CA",
        "Root validity",
        "Issuing CA validity",
        "First certificate validity",
    ] {
        answer(&mut p, prompt, "\r");
    }
    answer(&mut p, "Protect the CA keys with a passphrase?", "n\r");
    answer(&mut p, "Trust store", "\r");
    answer(&mut p, "as a PKCS#12 (.p12) file?", "n\r");
    p.exp_string("certificate 'api.acme.internal'").unwrap();
    p.exp_string("CA keys: UNENCRYPTED").unwrap();
    answer(&mut p, "Create all of this now?", "n\r");
    p.exp_string("bootstrap cancelled; nothing was written")
        .unwrap();
    p.exp_eof().unwrap();
    assert!(!env.pki.exists());
}

#[test]
fn bootstrap_without_terminal_takes_flags_in_two_ci_commands() {
    let env = Env::new();
    let pass = env.path("pass");
    std::fs::write(&pass, "ci\n").unwrap();
    let p12 = env.path("p12");
    std::fs::write(&p12, "ci p12\n").unwrap();
    let j = env.json(&[
        "bootstrap",
        "--org",
        "CI Test",
        "--passphrase-file",
        s(&pass),
        "--p12-passphrase-file",
        s(&p12),
        "--domain",
        "ci.internal",
    ]);
    assert_eq!(j["device"]["name"], "api.ci.internal", "{j}");
    assert!(j["p12"].as_str().unwrap().ends_with("api.ci.internal.p12"));
    env.ok(&[
        "issue",
        "web.ci.internal",
        "--profile",
        "server",
        "--san",
        "dns:web.ci.internal",
        "--passphrase-file",
        s(&pass),
        "-q",
    ]);
    let d = env.cert_dir("web.ci.internal");
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslserver",
    );
    assert!(ok, "{out}");
    // The intermediate is limited to the domain.
    let err = env.fails(
        2,
        &[
            "issue",
            "evil",
            "--profile",
            "server",
            "--san",
            "dns:evil.example",
            "--passphrase-file",
            s(&pass),
        ],
    );
    assert!(err.contains("outside the name constraints"), "{err}");
    // A second bootstrap into the same directory is refused, unchanged.
    let before = env.tree_hash();
    let err = env.fails(2, &["bootstrap", "--no-passphrase"]);
    assert!(err.contains("already holds a PKI"), "{err}");
    assert_eq!(before, env.tree_hash());
}

#[test]
fn bootstrap_with_yes_never_prompts_even_on_a_terminal() {
    let env = Env::new();
    let mut c = certsmith();
    c.arg("--pki").arg(&env.pki).args(["--yes", "bootstrap"]);
    c.current_dir(env.dir.path());
    let mut p = rexpect::session::spawn_command(c, Some(30_000)).unwrap();
    p.exp_string("hint: pass --passphrase-file FILE").unwrap();
    p.exp_eof().unwrap();
    assert!(!env.pki.exists());
}

#[test]
fn completion_scripts_are_produced_for_every_shell() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = env.ok(&["completions", shell]);
        assert!(
            out.contains("certsmith") && out.contains("change-passphrase"),
            "{shell}"
        );
    }
    if have("bash") {
        let script = env.path("c.bash");
        std::fs::write(&script, env.ok(&["completions", "bash"])).unwrap();
        let st = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap();
        assert!(st.success(), "bash rejects the completion script");
    }
    let err = env.fails(2, &["completions", "tcsh"]);
    assert!(err.contains("tcsh"), "{err}");
}

/// Runs certsmith with stdin closed and no terminal; fails the test if it
/// has not finished within a minute. Its output is read while it runs, so a
/// long output (a completion script over a pipe's 64 KiB) cannot block it.
fn run_bounded(env: &Env, args: &[&str]) -> Run {
    use std::io::Read;
    let mut child = env
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("certsmith {args:?} did not finish without a terminal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

#[test]
fn every_command_without_a_terminal_finishes_and_names_the_missing_flag() {
    let env = Env::new();
    let pass = env.path("pass");
    std::fs::write(&pass, "pw").unwrap();
    let pf = s(&pass);
    env.ok(&["init", "--cn", "Root", "--passphrase-file", pf, "-q"]);
    env.ok(&[
        "intermediate",
        "issuing",
        "--cn",
        "Issuing",
        "--passphrase-file",
        pf,
        "-q",
    ]);
    env.ok(&["issue", "dev", "--passphrase-file", pf, "-q"]);
    let cert = env.cert_dir("dev").join("cert.pem");
    let csr = env.path("x.csr");
    openssl_p256_csr(&env.path("x.key"), &csr, "/CN=x");
    let dev_pem = env.path("dev.pem");
    // (arguments, the flag an error must name; None: any outcome but a hang)
    let cases: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["init", "--name", "r2"], Some("--cn")),
        (
            vec!["init", "--name", "r2", "--cn", "R2"],
            Some("--passphrase-file"),
        ),
        (
            vec!["intermediate", "i2", "--cn", "I2"],
            Some("--passphrase-file"),
        ),
        (vec!["issue", "d2"], Some("--passphrase-file")),
        (vec!["sign", s(&csr)], Some("--passphrase-file")),
        (vec!["renew", "dev"], Some("--passphrase-file")),
        (vec!["export", "dev"], Some("--p12-passphrase-file")),
        (
            vec!["key", "change-passphrase", "root"],
            Some("--passphrase-file"),
        ),
        (
            vec!["key", "change-passphrase", "root", "--passphrase-file", pf],
            Some("--new-passphrase-file"),
        ),
        (
            vec!["export", "dev", "--format", "pem", "--out", s(&dev_pem)],
            None,
        ),
        (vec!["inspect", s(&cert)], None),
        (vec!["list"], None),
        (vec!["status"], None),
        (vec!["completions", "zsh"], None),
        (vec!["batch", "--count", "2"], None),
        (vec!["revoke", "dev"], None),
        (vec!["crl"], None),
        (vec!["bundle"], None),
        (vec!["verify", s(&cert), "--ca", "issuing"], None),
        (vec!["doctor"], None),
    ];
    let fresh_env = Env::new();
    let r = run_bounded(&fresh_env, &["bootstrap"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--passphrase-file") && !fresh_env.pki.exists(),
        "{}",
        r.stderr
    );
    for (args, flag) in cases {
        let r = run_bounded(&env, &args);
        if r.code != 0 {
            assert!(
                r.stderr.starts_with("certsmith: "),
                "{args:?}: {}",
                r.stderr
            );
        }
        if let Some(f) = flag {
            assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
            assert!(
                r.stderr.contains(f),
                "{args:?} should name {f}: {}",
                r.stderr
            );
        }
    }
}

#[test]
fn on_a_terminal_the_p12_password_and_a_new_ca_passphrase_are_asked_twice() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    let spawn = |args: &[&str]| {
        let mut c = certsmith();
        c.arg("--pki").arg(&env.pki).args(args);
        c.current_dir(env.dir.path());
        rexpect::session::spawn_command(c, Some(30_000)).unwrap()
    };
    let mut p = spawn(&["export", "dev1"]);
    answer(
        &mut p,
        "Password for the PKCS#12 file of 'dev1'",
        "typed pw\r",
    );
    answer(&mut p, "Repeat it", "typed pw\r");
    p.exp_string("Exported 'dev1'").unwrap();
    p.exp_eof().unwrap();
    let file = env.cert_dir("dev1").join("dev1.p12");
    let (ok, out) = openssl(&[
        "pkcs12",
        "-info",
        "-noout",
        "-in",
        s(&file),
        "-passin",
        "pass:typed pw",
    ]);
    assert!(ok, "{out}");

    let mut p = spawn(&["key", "change-passphrase", "issuing"]);
    answer(
        &mut p,
        "New passphrase for the key of CA 'issuing'",
        "one passphrase\r",
    );
    answer(&mut p, "Repeat it", "two passphrase\r");
    p.exp_string("the two entries do not match").unwrap();
    answer(&mut p, "New passphrase", "fresh\r");
    p.exp_string("too short (5 characters); a CA key needs at least 8")
        .unwrap();
    answer(&mut p, "New passphrase", "fresh passphrase\r");
    answer(&mut p, "Repeat it", "fresh passphrase\r");
    p.exp_string("is now encrypted").unwrap();
    p.exp_eof().unwrap();
    let key = env.pki.join("cas/issuing/ca.key.pem");
    let (ok, out) = openssl(&[
        "pkey",
        "-in",
        s(&key),
        "-passin",
        "pass:fresh passphrase",
        "-noout",
    ]);
    assert!(ok, "{out}");
}

/// Answers every question before the summary with its default, the CA keys
/// unencrypted and no .p12, and waits for the final question.
fn wizard_up_to_the_final_question(env: &Env) -> PtySession {
    let mut p = wizard(env);
    for prompt in [
        "Organisation",
        "What will the certificates identify?",
        "Name of the first device",
        "Root key type",
        "Key type of the issuing CA",
        "Root validity",
        "Issuing CA validity",
        "First certificate validity",
    ] {
        answer(&mut p, prompt, "\r");
    }
    answer(&mut p, "Protect the CA keys with a passphrase?", "n\r");
    answer(&mut p, "Trust store", "\r");
    answer(&mut p, "as a PKCS#12 (.p12) file?", "n\r");
    p.exp_string("Create all of this now?").unwrap();
    p
}

#[test]
fn wizard_stray_keypress_never_answers_the_final_question() {
    let env = Env::new();
    let mut p = wizard_up_to_the_final_question(&env);
    // "y" without Enter answers nothing; "n" then Enter is the answer.
    p.send("y").unwrap();
    p.send("n").unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("bootstrap cancelled; nothing was written")
        .unwrap();
    p.exp_string("certsmith exited 1").unwrap();
    p.exp_eof().unwrap();
    assert!(!env.pki.exists(), "a stray 'y' created the PKI");
}

#[test]
fn wizard_final_question_defaults_to_no() {
    let env = Env::new();
    let mut p = wizard_up_to_the_final_question(&env);
    p.exp_string("[y/N]").unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("bootstrap cancelled; nothing was written")
        .unwrap();
    p.exp_string("certsmith exited 1").unwrap();
    p.exp_eof().unwrap();
    assert!(!env.pki.exists(), "Enter alone created the PKI");
}

#[test]
fn wizard_refuses_an_empty_or_short_ca_passphrase_with_the_reason() {
    let env = Env::new();
    let mut p = wizard(&env);
    for prompt in [
        "Organisation",
        "What will the certificates identify?",
        "Name of the first device",
        "Root key type",
        "Key type of the issuing CA",
        "Root validity",
        "Issuing CA validity",
        "First certificate validity",
        "Protect the CA keys with a passphrase?",
    ] {
        answer(&mut p, prompt, "\r");
    }
    answer(&mut p, "Passphrase for the CA keys", "\r");
    p.exp_string("the passphrase is empty; type at least 8 character(s)")
        .unwrap();
    answer(&mut p, "Passphrase for the CA keys", "abc1234\r");
    p.exp_string("too short (7 characters); a CA key needs at least 8")
        .unwrap();
    answer(&mut p, "Passphrase for the CA keys", "abcd1234\r");
    answer(&mut p, "Repeat it", "abcd1234\r");
    answer(&mut p, "Trust store", "\r");
    answer(&mut p, "as a PKCS#12 (.p12) file?", "n\r");
    answer(&mut p, "Create all of this now?", "y\r");
    p.exp_string("Created root CA 'root'").unwrap();
    p.exp_string("certsmith exited 0").unwrap();
    p.exp_eof().unwrap();
    let key = env.pki.join("cas/root/ca.key.pem");
    let (ok, out) = openssl(&["pkey", "-in", s(&key), "-passin", "pass:abcd1234", "-noout"]);
    assert!(ok, "{out}");
    let (_, root) = openssl(&["x509", "-in", s(&env.root_pem()), "-noout", "-subject"]);
    assert!(
        root.contains("O = certsmith"),
        "the wizard's default organisation is the flags' default: {root}"
    );
}
