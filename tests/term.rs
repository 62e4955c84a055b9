//! At the terminal: help texts and examples, value lists, completions,
//! man pages, doctor on certsmith's own exports, read-only commands on a
//! loose PKI directory and finding the PKI from inside it.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use crate::common::*;

/// A root and an issuing CA, a device, with CRLs.
fn pki_with_device(env: &Env) {
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    env.ok(&["crl", "-q"]);
}

#[test]
fn read_only_commands_warn_on_a_0755_pki_directory_and_writers_refuse() {
    let env = Env::new();
    pki_with_device(&env);
    std::fs::set_permissions(&env.pki, std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = env.tree_hash();
    let cert = env.cert_dir("dev1").join("cert.pem");
    for args in [
        vec!["list"],
        vec!["status"],
        vec!["inspect", s(&cert)],
        vec!["verify", s(&cert), "--ca", "issuing"],
        vec!["needs-renewal", "dev1", "--within", "3650d"],
        vec!["ca", "default"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("certsmith: warning: PKI directory")
                && r.stderr.contains("mode 0755"),
            "{args:?} must warn: {}",
            r.stderr
        );
    }
    assert!(env.run(&["list"]).stdout.contains("dev1"));
    // Writers still refuse, changing nothing.
    for args in [vec!["issue", "dev2"], vec!["revoke", "dev1"], vec!["crl"]] {
        let err = env.fails(2, &args);
        assert!(err.contains("mode 0755"), "{args:?}: {err}");
    }
    assert_eq!(
        env.tree_hash(),
        before,
        "a read-only command changed the PKI"
    );
}

/// certsmith run with no `--pki` in `dir` (relative to the temp dir).
fn run_in(dir: &std::path::Path, args: &[&str]) -> Run {
    let out = certsmith()
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run certsmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn commands_run_inside_the_pki_directory_or_below_find_it() {
    let env = Env::new();
    pki_with_device(&env);
    let before = env.tree_hash();
    for dir in [env.pki.clone(), env.pki.join("certs"), env.cert_dir("dev1")] {
        let r = run_in(&dir, &["list"]);
        assert_eq!(r.code, 0, "in {}: {}{}", dir.display(), r.stdout, r.stderr);
        assert!(
            r.stdout.contains("dev1"),
            "in {}: {}",
            dir.display(),
            r.stdout
        );
        let r = run_in(&dir, &["status"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("issuing"), "{}", r.stdout);
    }
    assert_eq!(env.tree_hash(), before);
    // From inside, a writer works on the same PKI, and init refuses to nest one.
    let r = run_in(
        &env.pki.join("certs"),
        &["issue", "dev2", "--no-sync", "-q"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(env.cert_dir("dev2").join("cert.pem").is_file());
    let before = env.tree_hash();
    let r = run_in(&env.pki.join("certs"), &["init", "--no-passphrase"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.tree_hash(), before);
    assert!(!env.pki.join("certs/pki").exists());
    // ./pki wins over a ledger above; $CERTSMITH_PKI and --pki win over both.
    let other = Env::new();
    let r = run_in(other.dir.path(), &["list"]);
    assert_eq!(r.code, 2, "no PKI here: {}", r.stderr);
    assert!(
        r.stderr.contains("no PKI directory at 'pki'"),
        "{}",
        r.stderr
    );
}

#[test]
fn doctor_recognises_every_export_and_bundle_certsmith_writes() {
    let env = Env::new();
    pki_with_device(&env);
    let pass = env.path("p12.pass");
    std::fs::write(&pass, "export password\n").unwrap();
    env.ok(&["export", "dev1", "--p12-passphrase-file", s(&pass), "-q"]);
    env.ok(&["export", "dev1", "--format", "k8s-secret", "-q"]);
    env.ok(&["export", "dev1", "--format", "pem", "-q"]);
    for target in ["generic", "nginx", "haproxy", "envoy", "k8s"] {
        env.ok(&["bundle", "--target", target, "-q"]);
    }
    env.ok(&["bundle", "--target", "k8s", "--cert", "dev1", "-q"]);
    let d = env.cert_dir("dev1");
    for f in ["dev1.p12", "secret.yaml", "combined.pem"] {
        assert!(d.join(f).is_file(), "export wrote no {f}");
    }
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("No problems found."), "{}", r.stdout);
}

#[test]
fn doctor_suggests_repair_only_for_what_repair_fixes() {
    let env = Env::new();
    pki_with_device(&env);
    // A file certsmith did not write: doctor reports it and never removes it.
    let stray = env.cert_dir("dev1").join("notes.txt");
    std::fs::write(&stray, "mine").unwrap();
    let before = env.tree_hash();
    let err = env.fails(1, &["doctor"]);
    assert!(
        !err.contains("--repair"),
        "repair cannot fix a stray file: {err}"
    );
    assert!(
        err.contains("hint: move the files certsmith did not write"),
        "{err}"
    );
    let r = env.run(&["doctor", "--repair"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.tree_hash(), before, "--repair touched a stray file");
    // An empty directory no certificate owns: --repair removes it, and the
    // hint says so (alongside the step for the stray file).
    std::fs::create_dir(env.pki.join("certs/leftover")).unwrap();
    std::fs::set_permissions(
        env.pki.join("certs/leftover"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let err = env.fails(1, &["doctor"]);
    assert!(
        err.contains("move the files certsmith did not write")
            && err.contains("then `certsmith doctor --repair` fixes what is safe to fix"),
        "{err}"
    );
    std::fs::remove_file(&stray).unwrap();
    let err = env.fails(1, &["doctor"]);
    assert!(
        err.contains("hint: run `certsmith doctor --repair`"),
        "{err}"
    );
    env.ok(&["doctor", "--repair", "-q"]);
    assert!(!env.pki.join("certs/leftover").exists());
}

/// Every command path (`issue`, `key change-passphrase`, …) from the
/// "Commands:" lists of the help texts.
fn command_paths(env: &Env) -> Vec<Vec<String>> {
    fn commands_of(help: &str) -> Vec<String> {
        help.lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter(|l| !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|c| c != "help")
            .collect()
    }
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = commands_of(&env.ok(&["--help"]))
        .into_iter()
        .map(|c| vec![c])
        .collect();
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        for sub in commands_of(&env.ok(&args)) {
            let mut p = path.clone();
            p.push(sub);
            todo.push(p);
        }
        out.push(path);
    }
    out.sort();
    out
}

#[test]
fn every_command_help_ends_with_examples_and_shows_global_options_apart() {
    let env = Env::new();
    let paths = command_paths(&env);
    assert!(paths.len() >= 25, "{paths:?}");
    let mut all = vec![Vec::new()];
    all.extend(paths);
    for path in all {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = env.ok(&args);
        let lines: Vec<&str> = help.trim_end().lines().collect();
        let at = lines
            .iter()
            .rposition(|l| *l == "Examples:")
            .unwrap_or_else(|| panic!("{path:?}: no Examples: section\n{help}"));
        let examples = &lines[at + 1..];
        assert!(
            (2..=3).contains(&examples.len())
                && examples.iter().all(|l| l.starts_with("  certsmith ")),
            "{path:?}: the help must end with two or three examples:\n{help}"
        );
        let global = help
            .find("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{path:?}: no Global options heading\n{help}"));
        let pki = help.find("--pki <PKI>").expect("--pki");
        assert!(pki > global, "{path:?}: --pki is not under Global options");
    }
}

#[test]
fn help_shows_the_defaults() {
    let env = Env::new();
    let bootstrap = env.ok(&["bootstrap", "--help"]);
    for (flag, default) in [
        ("--root-key", "ecdsa-p384"),
        ("--key", "ecdsa-p256"),
        ("--root-validity", "10y"),
        ("--intermediate-validity", "5y"),
        ("--org", "certsmith"),
        ("--target", "generic"),
        ("--kdf", "scrypt"),
    ] {
        let at = bootstrap
            .find(&format!("      {flag} <"))
            .unwrap_or_else(|| panic!("{flag}"));
        let rest = &bootstrap[at..];
        let next = rest[1..].find("\n      -").map_or(rest.len(), |i| i + 1);
        assert!(
            flat(&rest[..next]).contains(&format!("[default: {default}]")),
            "{flag}: {}",
            &rest[..next]
        );
    }
    let init = flat(&env.ok(&["init", "--help"]));
    assert!(init.contains("[default: ecdsa-p384 for a root"), "{init}");
    assert!(init.contains("[default: 10y for a root"), "{init}");
}

/// `text` with every run of white space as one space (help wraps its lines).
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `[possible values: …]` list of `flag` in `help` (flattened).
fn possible_values(help: &str, flag: &str) -> Vec<String> {
    let at = help
        .find(&format!("{flag} <"))
        .unwrap_or_else(|| panic!("{flag} not in help"));
    let rest = &help[at..];
    let list = rest
        .split("[possible values: ")
        .nth(1)
        .and_then(|r| r.split(']').next())
        .unwrap_or_else(|| panic!("{flag}: no possible values"));
    list.split(',').map(|v| v.trim().to_string()).collect()
}

#[test]
fn fixed_value_flags_list_the_library_values_in_help_errors_and_completions() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1", "-q"]);
    let cert = env.cert_dir("dev1").join("cert.pem");
    let keys: Vec<&str> = certsmith::keys::KeyType::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    let targets: Vec<&str> = certsmith::bundle::TARGETS
        .iter()
        .map(|t| t.name())
        .collect();
    let reasons: Vec<&str> = certsmith::revoke::REASONS.iter().map(|r| r.0).collect();
    let before = env.tree_hash();
    // (command, flag, the library's values, a refused use of the flag)
    let cases: Vec<(&str, &str, Vec<&str>, Vec<&str>)> = vec![
        (
            "issue",
            "--key",
            keys.clone(),
            vec!["issue", "dev2", "--key", "dsa"],
        ),
        (
            "bootstrap",
            "--root-key",
            keys.clone(),
            vec!["bootstrap", "--root-key", "dsa"],
        ),
        (
            "intermediate",
            "--key",
            keys.clone(),
            vec!["intermediate", "x", "--cn", "X", "--key", "dsa"],
        ),
        (
            "init",
            "--kdf",
            vec!["scrypt", "pbkdf2"],
            vec!["init", "--cn", "R", "--kdf", "md5"],
        ),
        (
            "init",
            "--key-store",
            vec!["file", "pkcs11"],
            vec!["init", "--cn", "R", "--key-store", "usb"],
        ),
        (
            "bundle",
            "--target",
            targets.clone(),
            vec!["bundle", "--target", "apache"],
        ),
        (
            "verify",
            "--target",
            targets.clone(),
            vec!["verify", s(&cert), "--target", "apache"],
        ),
        (
            "bootstrap",
            "--target",
            targets.clone(),
            vec!["bootstrap", "--target", "apache"],
        ),
        (
            "export",
            "--format",
            vec!["p12", "k8s-secret", "pem"],
            vec!["export", "dev1", "--format", "jks"],
        ),
        (
            "verify",
            "--purpose",
            vec!["client", "server", "any"],
            vec!["verify", s(&cert), "--purpose", "email"],
        ),
        (
            "revoke",
            "--reason",
            reasons.clone(),
            vec!["revoke", "dev1", "--reason", "lost"],
        ),
    ];
    for (cmd, flag, values, refused) in &cases {
        let help = flat(&env.ok(&[cmd, "--help"]));
        assert_eq!(&possible_values(&help, flag), values, "{cmd} {flag}");
        // The refusal: one line, a hint, and every value named.
        let err = env.fails(2, refused);
        let lines: Vec<&str> = err
            .lines()
            .filter(|l| !l.contains("clock is fixed"))
            .collect();
        assert!(
            lines.len() == 2
                && lines[0].starts_with("certsmith: ")
                && lines[1].starts_with("hint: "),
            "{refused:?}: {err}"
        );
        let last = values.last().unwrap();
        assert!(
            values.iter().all(|v| err.contains(v)) || err.contains(&format!("or {last}")),
            "{refused:?}: {err}"
        );
    }
    assert_eq!(env.tree_hash(), before);
    let bash = env.ok(&["completions", "bash"]);
    for v in [
        "ecdsa-p384",
        "aws-apigw",
        "key-compromise",
        "k8s-secret",
        "pbkdf2",
    ] {
        assert!(bash.contains(v), "bash completion does not offer {v}");
    }
}

#[test]
fn man_pages_come_from_the_binary_alone() {
    let env = Env::new();
    let page = env.ok(&["man"]);
    assert!(page.contains(".TH certsmith 1"), "{page}");
    let dir = env.path("man1");
    env.ok(&["man", "--dir", s(&dir)]);
    for page in [
        "certsmith.1",
        "certsmith-issue.1",
        "certsmith-key-change-passphrase.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
    let issue = std::fs::read_to_string(dir.join("certsmith-issue.1")).unwrap();
    assert!(
        issue.contains("Examples:") && issue.contains("certsmith issue device\\-42"),
        "{issue}"
    );
    if have("man") {
        let out = std::process::Command::new("man")
            .args(["-l", s(&dir.join("certsmith-issue.1"))])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man");
        assert!(out.status.success(), "{out:?}");
    }
}

#[test]
fn completions_offer_the_ca_and_certificate_names_of_the_pki() {
    let env = Env::new();
    pki_with_device(&env);
    env.ok(&["issue", "dev2", "-q"]);
    env.ok(&["issue", "gone", "-q"]);
    env.ok(&["revoke", "gone", "-q"]);
    assert_eq!(env.ok(&["__complete-names", "cas"]), "root\nissuing\n");
    assert_eq!(env.ok(&["__complete-names", "certs"]), "dev2\ndev1\n");
    // No PKI: nothing, and no error in the middle of a command line.
    let none = Env::new();
    let r = none.run(&["__complete-names", "certs"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    assert!(!env.ok(&["--help"]).contains("__complete-names"), "hidden");

    assert!(have("bash"), "bash is needed to run the completion script");
    let script = env.path("certsmith.bash");
    std::fs::write(&script, env.ok(&["completions", "bash"])).unwrap();
    let complete = |words: &str| -> String {
        let mut c = std::process::Command::new("bash");
        clean_env(&mut c);
        let out = c
            .arg("-c")
            .arg(format!(
                "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _certsmith_with_names certsmith \"${{COMP_WORDS[COMP_CWORD]}}\" \
                 \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                s(&script)
            ))
            .env("PATH", path_with_certsmith())
            .env("PKI", &env.pki)
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        complete(r#"certsmith --pki "$PKI" revoke ''"#),
        "dev2\ndev1\n"
    );
    assert_eq!(
        complete(r#"certsmith --pki "$PKI" export d"#),
        "dev2\ndev1\n"
    );
    assert_eq!(
        complete(r#"certsmith --pki "$PKI" issue x --ca ''"#),
        "root\nissuing\n"
    );
    assert_eq!(
        complete(r#"certsmith --pki "$PKI" key offline r"#),
        "root\n"
    );
    // Found from ./pki without --pki, and clap's own completion elsewhere.
    assert_eq!(complete("certsmith renew ''"), "dev2\ndev1\n");
    assert!(complete("certsmith issue x --key ecdsa-p3").contains("ecdsa-p384"));
    assert!(complete("certsmith rev").contains("revoke"));
}

#[test]
fn read_only_commands_and_a_refused_writer_never_write_a_pki_whose_ca_files_are_missing() {
    let env = Env::new();
    pki_with_device(&env);
    for ca in ["root", "issuing"] {
        std::fs::remove_file(env.pki.join(format!("cas/{ca}/ca.pem"))).unwrap();
    }
    let before = env.tree_hash();
    let cert = env.cert_dir("dev1").join("cert.pem");
    for args in [
        vec!["list"],
        vec!["list", "--expired"],
        vec!["status"],
        vec!["inspect", s(&cert)],
        vec!["verify", s(&cert)],
        vec!["needs-renewal", "dev1"],
        vec!["ca", "default"],
        vec!["__complete-names", "cas"],
    ] {
        let r = env.run(&args);
        assert!(
            r.code == 0 || args[0] == "needs-renewal",
            "{args:?}: {}{}",
            r.stdout,
            r.stderr
        );
        assert_eq!(env.tree_hash(), before, "{args:?} wrote into the PKI");
    }
    assert!(env.ok(&["list"]).contains("dev1"));
    // A refused writer changes nothing either.
    env.fails(2, &["issue", "dev1"]);
    assert_eq!(
        env.tree_hash(),
        before,
        "a refused issue wrote into the PKI"
    );
    // A writer that succeeds puts the CA files back from the ledger.
    env.ok(&["issue", "dev2", "-q"]);
    assert!(env.pki.join("cas/issuing/ca.pem").is_file());
}

#[test]
fn a_certificate_named_pki_does_not_hijack_discovery_and_init_refuses_to_nest_a_pki() {
    let env = Env::new();
    pki_with_device(&env);
    env.ok(&["issue", "pki", "--no-sync", "-q"]);
    let certs = env.pki.join("certs");
    let r = run_in(&certs, &["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("dev1"), "{}", r.stdout);
    let before = env.tree_hash();
    let r = run_in(&certs, &["init", "--cn", "Nested", "--no-passphrase"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    // Named explicitly, a PKI inside another PKI's tree is refused too.
    for args in [
        vec!["--pki", "nested", "init", "--cn", "N", "--no-passphrase"],
        vec!["--pki", "nested", "bootstrap", "--no-passphrase", "--yes"],
    ] {
        let r = run_in(&certs, &args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        assert!(
            r.stderr.contains("inside the PKI directory"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn discovery_never_crosses_into_a_directory_open_to_others() {
    let env = Env::new();
    pki_with_device(&env);
    // A ledger planted in a world-writable (1777) directory above is not taken.
    let host = env.path("host");
    std::fs::create_dir_all(host.join("proj/sub")).unwrap();
    std::fs::copy(env.pki.join("ledger.db"), host.join("ledger.db")).unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let before = tree_hash(&host);
    let r = run_in(&host.join("proj/sub"), &["list"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("no PKI directory at 'pki'"),
        "{}",
        r.stderr
    );
    assert_eq!(tree_hash(&host), before);
}

#[test]
fn doctor_checks_and_repairs_only_certsmiths_own_layout() {
    let env = Env::new();
    pki_with_device(&env);
    let foreign = env.pki.join("notes/deep");
    std::fs::create_dir_all(&foreign).unwrap();
    for d in [env.pki.join("notes"), foreign.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(
        env.pki.join("certs"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let r = env.run(&["doctor", "--repair"]);
    assert!(
        r.stdout.contains("'certs' is open to group"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("notes"), "{}", r.stdout);
    assert_eq!(mode(&env.pki.join("certs")), 0o700);
    assert_eq!(mode(&env.pki.join("notes")), 0o755);
    assert_eq!(mode(&foreign), 0o755);
}

#[test]
fn doctor_checks_and_repairs_the_mode_of_every_export_that_holds_a_key() {
    let env = Env::new();
    pki_with_device(&env);
    let pass = env.path("p12.pass");
    std::fs::write(&pass, "export password\n").unwrap();
    env.ok(&["export", "dev1", "--p12-passphrase-file", s(&pass), "-q"]);
    env.ok(&["export", "dev1", "--format", "k8s-secret", "-q"]);
    env.ok(&["export", "dev1", "--format", "pem", "-q"]);
    let out = env.pki.join("bundles/dev1.pem");
    env.ok(&["export", "dev1", "--format", "pem", "--out", s(&out), "-q"]);
    let dir = env.cert_dir("dev1");
    let files = [
        dir.join("combined.pem"),
        dir.join("secret.yaml"),
        dir.join("dev1.p12"),
        out,
    ];
    for f in &files {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let r = env.run(&["doctor"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            r.stdout
                .contains(&format!("{name}' is open to group or others")),
            "{name}: {}",
            r.stdout
        );
    }
    env.run(&["doctor", "--repair"]);
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    // The certificate next to them stays public.
    assert_eq!(mode(&dir.join("cert.pem")) & 0o044, 0o044);
}

#[test]
fn a_revoked_certificate_does_not_need_renewal_and_renew_refuses_it_without_force() {
    let env = Env::new();
    pki_with_device(&env);
    env.ok(&["revoke", "dev1", "--reason", "key-compromise", "-q"]);
    let r = env.run(&["--json", "needs-renewal", "dev1", "--within", "3650d"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["revoked"], true, "{v}");
    assert_eq!(v["needs_renewal"], false, "{v}");
    let before = env.tree_hash();
    let err = env.fails(2, &["renew", "dev1"]);
    assert!(err.contains("is revoked"), "{err}");
    assert_eq!(env.tree_hash(), before);
    env.ok(&["renew", "dev1", "--force", "-q"]);
}

#[test]
fn needs_renewal_and_list_fail_if_any_exit_neither_0_nor_1_when_they_fail() {
    let env = Env::new();
    pki_with_device(&env);
    env.fails(2, &["needs-renewal", "nobody"]);
    let db = env.pki.join("ledger.db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(100).take(400) {
        *b = 0x5a;
    }
    std::fs::write(&db, bytes).unwrap();
    for args in [
        vec!["needs-renewal", "dev1"],
        vec!["list", "--expiring-within", "30d", "--fail-if-any"],
    ] {
        let r = env.run(&args);
        assert_eq!(r.code, 3, "{args:?}: {}{}", r.stdout, r.stderr);
        let r = env.run(&[&["--json"][..], &args].concat());
        assert_eq!(r.code, 3, "{args:?}: {}{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["error"]["exit_code"], 3, "{v}");
    }
}

#[test]
fn inspect_on_a_0755_pki_warns_and_still_shows_the_ledgers_facts() {
    let env = Env::new();
    pki_with_device(&env);
    env.ok(&["revoke", "dev1", "--reason", "key-compromise", "-q"]);
    std::fs::set_permissions(&env.pki, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cert = env.cert_dir("dev1").join("cert.pem");
    let r = env.run(&["--json", "inspect", s(&cert)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("mode 0755"), "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["revoked_by"].is_object(), "{v}");
    assert!(v["issued_by"].is_object(), "{v}");
}

#[test]
fn list_needs_renewal_and_bulk_renew_agree_at_exactly_now_plus_the_window() {
    let env = Env::new();
    pki_with_device(&env);
    env.ok(&["issue", "edge", "--validity", "10d", "-q"]);
    let v = env.json(&["needs-renewal", "edge", "--within", "10d"]);
    assert_eq!(v["needs_renewal"], true, "{v}");
    let na = v["not_after"].as_str().unwrap().to_string();
    let nb = v["not_before"].as_str().unwrap().to_string();
    assert!(
        na.starts_with("2026-12-12") && nb.starts_with("2026-12-02"),
        "{v}"
    );
    let r = env.run(&[
        "--json",
        "list",
        "--expiring-within",
        "10d",
        "--fail-if-any",
    ]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("\"edge\""), "{}", r.stdout);
    let r = env.run(&["--json", "renew", "--expiring-within", "10d", "--dry-run"]);
    assert!(r.stdout.contains("\"edge\""), "{}{}", r.stdout, r.stderr);
}

#[test]
fn every_fixed_value_flag_refuses_a_bad_value_in_one_line_of_kind_input() {
    let env = Env::new();
    for args in [
        vec!["batch", "--count", "1", "--format", "bogus"],
        vec!["batch", "--csr-dir", "x", "--name-from", "bogus"],
        vec!["completions", "bogus"],
    ] {
        let r = env.run(&[&["--json"][..], &args].concat());
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.stdout, r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["error"]["kind"], "input", "{args:?}: {v}");
        assert!(
            r.stderr.starts_with("certsmith: unknown "),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.lines().count() <= 2, "{args:?}: {}", r.stderr);
    }
}
