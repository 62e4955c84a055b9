//! Output a terminal would execute: escape sequences, carriage returns and
//! newlines inside a certificate's subject, a CSR's CN, a revoke reason, a
//! manifest row or a path reach neither stdout nor stderr raw, and a newline
//! inside a value never starts a line of its own (a forged `certsmith:` /
//! `hint:` line or a forged field).

use crate::common::*;

/// Clears the screen, retitles the window, rings the bell, returns the
/// cursor and then tries to start lines of its own.
const HOSTILE: &str =
    "evil\x1b[2J\x1b]0;owned\x07\u{9b}31m\r\ncertsmith: forged-line\nhint: forged-line";

/// Reorders the text a terminal shows (RLO, isolates) and breaks lines
/// without a control character (LINE and PARAGRAPH SEPARATOR).
const BIDI: &str = "ok\u{202e}evil\u{2066}x\u{2069}\u{2028}y\u{2029}\u{7f}\u{85}";

/// What a terminal would act on: control characters (C0, DEL, C1), bidi
/// overrides and isolates, line and paragraph separators.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// Nothing a terminal would act on but the line feeds between lines.
fn assert_terminal_safe(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| unsafe_char(*c) && *c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: raw control characters {bad:?} in:\n{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("certsmith: forged-line")
                || l.trim_start().starts_with("hint: forged-line")),
        "{what}: a value started a line of its own:\n{text}"
    );
}

/// A refusal: exit `code`, one `certsmith:` line and at most a `hint:` line,
/// nothing a terminal would execute.
fn assert_safe_error(what: &str, r: &Run, code: i32) {
    assert_eq!(r.code, code, "{what}: {}{}", r.stdout, r.stderr);
    assert_terminal_safe(&format!("{what} (stderr)"), &r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        !lines.is_empty() && lines.len() <= 2 && lines[0].starts_with("certsmith: "),
        "{what}: {}",
        r.stderr
    );
    if lines.len() == 2 {
        assert!(lines[1].starts_with("hint: "), "{what}: {}", r.stderr);
    }
}

/// A self-signed certificate whose CN is `cn`, as PEM.
fn cert_with_cn(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["dev.example".to_string()]).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(
        rcgen::DnType::CommonName,
        rcgen::DnValue::Utf8String(cn.to_string()),
    );
    p.self_signed(&key).unwrap().pem()
}

/// A CSR whose CN is `cn`, as PEM.
fn csr_with_cn(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["dev.example".to_string()]).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(
        rcgen::DnType::CommonName,
        rcgen::DnValue::Utf8String(cn.to_string()),
    );
    p.serialize_request(&key).unwrap().pem().unwrap()
}

#[test]
fn inspect_shows_a_hostile_certificate_subject_escaped_on_its_own_line() {
    let env = Env::new();
    env.hierarchy();
    std::fs::write(env.path("evil.pem"), cert_with_cn(HOSTILE)).unwrap();
    std::fs::write(env.path("plain.pem"), cert_with_cn("plain")).unwrap();
    let evil = env.ok(&["inspect", s(&env.path("evil.pem"))]);
    assert_terminal_safe("inspect", &evil);
    let plain = env.ok(&["inspect", s(&env.path("plain.pem"))]);
    assert_eq!(
        evil.lines().count(),
        plain.lines().count(),
        "the subject added lines:\n{evil}"
    );
    let subject = evil.lines().find(|l| l.contains("Subject:")).unwrap();
    assert!(subject.contains(r"evil\u{1b}[2J"), "{subject}");
    // --json keeps the value (serde escapes it).
    let j = env.json(&["inspect", s(&env.path("evil.pem"))]);
    assert!(j.to_string().contains(r"\u001b[2J"), "{j}");
    // verify names the certificate in its refusal: still one safe line.
    let r = env.run(&["verify", s(&env.path("evil.pem")), "--ca", "issuing"]);
    assert_safe_error("verify", &r, 1);
}

#[test]
fn a_csr_with_a_hostile_cn_is_refused_and_inspected_without_raw_escapes() {
    let env = Env::new();
    env.hierarchy();
    let csr = env.path("evil.csr");
    std::fs::write(&csr, csr_with_cn(HOSTILE)).unwrap();
    let before = env.tree_hash();
    assert_safe_error("sign", &env.run(&["sign", s(&csr)]), 2);
    assert_safe_error(
        "sign --name",
        &env.run(&["sign", s(&csr), "--name", "dev"]),
        2,
    );
    assert_eq!(env.tree_hash(), before);
    let out = env.ok(&["inspect", s(&csr)]);
    assert_terminal_safe("inspect csr", &out);
    let plain = env.path("plain.csr");
    std::fs::write(&plain, csr_with_cn("plain")).unwrap();
    assert_eq!(
        out.lines().count(),
        env.ok(&["inspect", s(&plain)]).lines().count(),
        "{out}"
    );
}

#[test]
fn a_hostile_revoke_reason_subject_or_name_flag_is_refused_in_one_safe_line() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "victim", "-q"]);
    let before = env.tree_hash();
    let cases: Vec<Vec<&str>> = vec![
        vec!["revoke", "victim", "--reason", HOSTILE],
        vec!["revoke", HOSTILE],
        vec!["issue", HOSTILE],
        vec!["issue", "dev", "--cn", HOSTILE],
        // A bidi override would make `status` and `list` show a name that reads differently.
        vec!["issue", "dev", "--cn", BIDI],
        vec!["issue", "dev", "--cn", "R\u{202e}oot"],
        vec![
            "init",
            "--name",
            "r2",
            "--cn",
            "R\u{2066}oot",
            "--no-passphrase",
        ],
        vec!["issue", "dev", "--san", HOSTILE],
        vec!["issue", "dev", "--validity", HOSTILE],
        vec!["issue", "dev", "--profile", HOSTILE],
    ];
    for args in cases {
        let r = env.run(&args);
        assert_safe_error(&format!("{args:?}"), &r, 2);
        assert_eq!(env.tree_hash(), before, "{args:?} changed the PKI");
    }
}

#[test]
fn a_hostile_unknown_flag_is_named_escaped_in_the_usage_error() {
    let env = Env::new();
    let flag = format!("--{HOSTILE}");
    let r = env.run(&["list", &flag]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // clap's usage error has several lines of its own; the value stays in the first.
    assert_terminal_safe("usage error", &r.stderr);
    let first = r.stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("certsmith: ") && first.contains(r"--evil\u{1b}[2J"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_hostile_path_never_reaches_the_terminal_raw() {
    let env = Env::new();
    env.hierarchy();
    let dir = env.path(HOSTILE);
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let missing = dir.join("missing.pem");
    let before = env.tree_hash();
    for file in [&junk, &missing] {
        assert_safe_error("inspect", &env.run(&["inspect", s(file)]), 2);
        assert_safe_error("sign", &env.run(&["sign", s(file)]), 2);
    }
    assert_eq!(env.tree_hash(), before);
    // Files written there are listed on stdout: still one line each.
    let out_dir = dir.join("dev");
    let r = env.run(&["issue", "dev", "--out", s(&out_dir)]);
    if r.code == 0 {
        assert_terminal_safe("issue --out (stdout)", &r.stdout);
        assert_terminal_safe("issue --out (stderr)", &r.stderr);
    } else {
        assert_safe_error("issue --out", &r, 2);
    }
}

#[test]
fn hostile_manifest_rows_are_reported_in_safe_lines() {
    let env = Env::new();
    env.hierarchy();
    let manifest = env.path("m.csv");
    std::fs::write(
        &manifest,
        format!("name,cn,san\nok-1,,\n\"{HOSTILE}\",,\nok-2,\"{HOSTILE}\",\n"),
    )
    .unwrap();
    let before = env.tree_hash();
    let r = env.run(&["batch", s(&manifest)]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_terminal_safe("batch (stderr)", &r.stderr);
    assert!(
        r.stderr
            .lines()
            .all(|l| l.starts_with("certsmith: ") || l.starts_with("hint: ")),
        "{}",
        r.stderr
    );
    assert_eq!(env.tree_hash(), before);
}

/// A CA certificate (CN `ca_cn`) and a client/server leaf under it (CN
/// `leaf_cn`), both PEM, valid 2026–2027.
fn ca_and_leaf(ca_cn: &str, leaf_cn: &str) -> (String, String) {
    let dn = |cn: &str| {
        let mut d = rcgen::DistinguishedName::new();
        d.push(
            rcgen::DnType::CommonName,
            rcgen::DnValue::Utf8String(cn.to_string()),
        );
        d
    };
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name = dn(ca_cn);
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    ca.not_before = rcgen::date_time_ymd(2026, 1, 1);
    ca.not_after = rcgen::date_time_ymd(2027, 12, 31);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["dev.example".to_string()]).unwrap();
    leaf.distinguished_name = dn(leaf_cn);
    leaf.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    leaf.not_before = rcgen::date_time_ymd(2026, 1, 1);
    leaf.not_after = rcgen::date_time_ymd(2027, 6, 30);
    (ca_cert.pem(), leaf.signed_by(&key, &issuer).unwrap().pem())
}

#[test]
fn verify_success_prints_hostile_subjects_escaped_without_forged_lines() {
    // "OK: 'evil…" used to be followed by a raw "hint: forged-line" line.
    let env = Env::new();
    for cn in [HOSTILE, BIDI] {
        let (ca, leaf) = ca_and_leaf(cn, cn);
        std::fs::write(env.path("eca.pem"), ca).unwrap();
        std::fs::write(env.path("eleaf.pem"), leaf).unwrap();
        let (eleaf, eca) = (env.path("eleaf.pem"), env.path("eca.pem"));
        let args = [
            "verify",
            s(&eleaf),
            "--bundle",
            s(&eca),
            "--at",
            "2026-06-01T00:00:00Z",
        ];
        let out = env.ok(&args);
        assert_terminal_safe("verify (success)", &out);
        assert!(out.starts_with("OK: "), "{out}");
        let (plain_ca, plain_leaf) = ca_and_leaf("plain", "plain");
        std::fs::write(env.path("pca.pem"), plain_ca).unwrap();
        std::fs::write(env.path("pleaf.pem"), plain_leaf).unwrap();
        let plain = env.ok(&[
            "verify",
            s(&env.path("pleaf.pem")),
            "--bundle",
            s(&env.path("pca.pem")),
            "--at",
            "2026-06-01T00:00:00Z",
        ]);
        assert_eq!(out.lines().count(), plain.lines().count(), "{out}");
    }
}

#[test]
fn a_ca_certificate_with_control_characters_in_its_subject_is_not_imported() {
    for cn in [HOSTILE, BIDI] {
        let env = Env::new();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.distinguished_name = rcgen::DistinguishedName::new();
        ca.distinguished_name.push(
            rcgen::DnType::CommonName,
            rcgen::DnValue::Utf8String(cn.to_string()),
        );
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = ca.self_signed(&key).unwrap();
        std::fs::write(env.path("ca.pem"), cert.pem()).unwrap();
        std::fs::write(env.path("ca.key"), key.serialize_pem()).unwrap();
        let before = env.tree_hash();
        let r = env.run(&[
            "init",
            "--import-cert",
            s(&env.path("ca.pem")),
            "--import-key",
            s(&env.path("ca.key")),
            "--no-passphrase",
        ]);
        assert_safe_error("init --import-cert", &r, 2);
        assert!(
            r.stderr.contains("control or bidi character"),
            "{}",
            r.stderr
        );
        assert_eq!(env.tree_hash(), before);
    }
}

#[test]
fn doctor_names_a_hostile_file_under_certs_on_one_safe_line() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    std::fs::write(env.cert_dir("dev").join(HOSTILE), "junk").unwrap();
    std::fs::write(env.cert_dir("dev").join(BIDI), "junk").unwrap();
    let r = env.run(&["doctor"]);
    assert_terminal_safe("doctor (stdout)", &r.stdout);
    assert_terminal_safe("doctor (stderr)", &r.stderr);
    assert!(
        r.stdout
            .lines()
            .all(|l| !l.starts_with("hint: ") && !l.starts_with("certsmith: ")),
        "{}",
        r.stdout
    );
}

#[test]
fn json_escapes_del_c1_and_bidi_characters_and_keeps_the_value() {
    let env = Env::new();
    let cn = "a\u{7f}b\u{9b}31m\u{85}c\u{202e}d\u{2028}e";
    std::fs::write(env.path("evil.pem"), cert_with_cn(cn)).unwrap();
    let r = env.run(&["--json", "inspect", s(&env.path("evil.pem"))]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_terminal_safe("inspect --json", &r.stdout);
    assert!(r.stdout.contains("\\u009b"), "{}", r.stdout);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(j.to_string().contains(cn), "the value changed: {j}");
    let text = env.ok(&["inspect", s(&env.path("evil.pem"))]);
    assert_terminal_safe("inspect", &text);
}

/// `certsmith --pki <pki> bootstrap <args>` in a pseudo-terminal.
fn wizard_at(pki: &std::path::Path, args: &[&str]) -> rexpect::session::PtySession {
    let mut c = certsmith();
    c.arg("--pki").arg(pki).arg("bootstrap").args(args);
    c.env("TERM", "xterm");
    rexpect::session::spawn_command(c, Some(30_000)).expect("spawn in a pty")
}

#[test]
fn the_wizard_shows_a_hostile_pki_path_escaped() {
    // The intro printed the PKI path raw.
    let env = Env::new();
    let pki = env.path(HOSTILE);
    let mut p = wizard_at(&pki, &[]);
    let before = p.exp_string("Organisation").unwrap();
    p.send_control('c').unwrap();
    assert!(
        !before.contains("\x1b[2J")
            && !before.contains("\x1b]0;owned")
            && !before.contains('\u{9b}'),
        "raw escapes on the terminal: {before:?}"
    );
    assert!(before.contains(r"evil\u{1b}[2J"), "{before:?}");
}
