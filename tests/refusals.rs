//! Refused requests: exit 2, a one-line message naming the value, and the
//! PKI directory byte-for-byte unchanged.

use certsmith::Error;
use certsmith::error::PathLenCase;

use crate::common::*;

#[test]
fn intermediate_under_a_pathlen_zero_ca_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let err = fails_as(
        &env,
        &[
            "intermediate",
            "sub",
            "--issuer",
            "issuing",
            "--cn",
            "Sub",
            "--no-passphrase",
        ],
        &Error::PathLen {
            ca: "issuing".into(),
            pathlen: 0,
            levels: 1,
            case: PathLenCase::Intermediate,
        },
    );
    assert!(err.starts_with("certsmith: issuer 'issuing' has pathlen 0 and cannot have another CA directly below it\n"), "{err}");
}

#[test]
fn intermediate_two_levels_below_a_pathlen_one_root_is_refused() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    env.ok(&[
        "intermediate",
        "mid",
        "--cn",
        "Mid",
        "--pathlen",
        "0",
        "--no-passphrase",
        "-q",
    ]);
    let err = refused(
        &env,
        &[
            "intermediate",
            "low",
            "--issuer",
            "mid",
            "--cn",
            "Low",
            "--no-passphrase",
        ],
    );
    assert!(err.contains("pathlen 0"), "{err}");
}

#[test]
fn validity_past_the_issuer_is_refused_naming_its_not_after() {
    let env = Env::new();
    env.hierarchy();
    let not_after = env.json(&["status"])["cas"][0]["children"][0]["not_after"]
        .as_str()
        .unwrap()
        .to_string();
    let err = refused(&env, &["issue", "dev", "--validity", "6y"]);
    assert!(
        err.contains(&format!(
            "is past the notAfter of issuer 'issuing' ({not_after})"
        )),
        "{err}"
    );
    assert!(
        err.contains("hint: ask for a shorter --validity, or pass --clamp"),
        "{err}"
    );
    // A day past the issuer's notAfter, well within the profile's maximum.
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    let issuer_not_after = time::OffsetDateTime::parse(&not_after, rfc3339).unwrap();
    let requested = issuer_not_after + time::Duration::days(1);
    fails_as(
        &env,
        &[
            "issue",
            "dev",
            "--validity",
            &requested.format(rfc3339).unwrap(),
        ],
        &Error::ValidityPastIssuer {
            issuer: "issuing".into(),
            requested,
            issuer_not_after,
        },
    );
}

#[test]
fn clamp_shortens_validity_to_the_issuer_and_says_so() {
    let env = Env::new();
    env.hierarchy();
    let issuer_na = env.json(&["status"])["cas"][0]["children"][0]["not_after"]
        .as_str()
        .unwrap()
        .to_string();
    let out = env.json(&["issue", "dev", "--validity", "6y", "--clamp"]);
    assert_eq!(out["clamped"], true);
    assert_eq!(out["not_after"].as_str().unwrap(), issuer_na);
}

#[test]
fn san_outside_a_name_constraint_is_refused() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    env.ok(&[
        "intermediate",
        "edge",
        "--cn",
        "Edge",
        "--permit-dns",
        "acme.internal",
        "--permit-ip",
        "10.0.0.0/8",
        "--no-passphrase",
        "-q",
    ]);
    let err = refused(
        &env,
        &[
            "issue",
            "web",
            "--ca",
            "edge",
            "--profile",
            "server",
            "--san",
            "dns:evil.example",
        ],
    );
    assert!(
        err.contains("SAN 'dns:evil.example' is outside the name constraints of CA 'CN=Edge'"),
        "{err}"
    );
    let err = refused(
        &env,
        &[
            "issue",
            "web",
            "--ca",
            "edge",
            "--profile",
            "server",
            "--san",
            "ip:192.168.1.1",
        ],
    );
    assert!(
        err.contains("'192.168.1.1' is outside the permitted IP ranges (10.0.0.0/8)"),
        "{err}"
    );
    env.ok(&[
        "issue",
        "web",
        "--ca",
        "edge",
        "--profile",
        "server",
        "--san",
        "dns:api.acme.internal",
        "--san",
        "ip:10.1.2.3",
        "-q",
    ]);
    let d = env.cert_dir("web");
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslserver",
    );
    assert!(ok, "{out}");
}

#[test]
fn intermediate_outside_its_issuers_name_constraints_is_refused() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--permit-dns",
        "acme.internal",
        "--pathlen",
        "2",
        "--no-passphrase",
        "-q",
    ]);
    let err = refused(
        &env,
        &[
            "intermediate",
            "x",
            "--cn",
            "X",
            "--permit-dns",
            "other.example",
            "--no-passphrase",
        ],
    );
    assert!(err.contains("outside the name constraints"), "{err}");
    env.ok(&[
        "intermediate",
        "ok",
        "--cn",
        "Ok",
        "--permit-dns",
        "dev.acme.internal",
        "--no-passphrase",
        "-q",
    ]);
}

#[test]
fn duplicate_name_without_force_is_refused() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let err = refused(&env, &["issue", "dev"]);
    assert!(
        err.starts_with("certsmith: name 'dev' is already taken in the ledger\nhint: "),
        "{err}"
    );
    let err = refused(
        &env,
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Again",
            "--no-passphrase",
        ],
    );
    assert!(err.contains("name 'issuing' is already taken"), "{err}");
}

#[test]
fn repeated_subject_attribute_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let err = refused(&env, &["issue", "dev", "--subject", "CN=dev,OU=a,OU=b"]);
    assert!(
        err.starts_with(
            "certsmith: subject attribute 'OU' appears more than once in 'CN=dev,OU=a,OU=b'\n"
        ),
        "{err}"
    );
}

#[test]
fn unknown_profile_is_refused_listing_the_profiles() {
    let env = Env::new();
    env.hierarchy();
    let err = refused(&env, &["issue", "dev", "--profile", "gadget"]);
    assert!(
        err.starts_with(
            "certsmith: unknown profile 'gadget'\nhint: use one of: device, client, server, peer"
        ),
        "{err}"
    );
}

#[test]
fn rsa_1024_key_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let err = refused(&env, &["issue", "dev", "--key", "rsa-1024"]);
    assert!(
        err.starts_with("certsmith: key type 'rsa-1024' is too weak or not supported"),
        "{err}"
    );
}

#[test]
fn server_profile_without_dns_or_ip_san_is_refused() {
    let env = Env::new();
    env.hierarchy();
    let err = refused(&env, &["issue", "web", "--profile", "server"]);
    assert!(
        err.starts_with("certsmith: profile 'server' needs at least one dns or ip SAN"),
        "{err}"
    );
}

#[test]
fn malformed_profile_override_names_the_file_and_field() {
    let env = Env::new();
    env.hierarchy();
    std::fs::create_dir_all(env.pki.join("templates")).unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/device.json"
    ))
    .unwrap()
    .replace("\"1y\"", "\"one year\"");
    std::fs::write(env.pki.join("templates/device.json"), text).unwrap();
    let err = refused(&env, &["issue", "dev"]);
    assert!(err.contains("templates/device.json' is invalid: field 'default_validity': validity 'one year' is not understood"), "{err}");
}

#[test]
fn profile_override_changes_what_is_issued() {
    let env = Env::new();
    env.hierarchy();
    std::fs::create_dir_all(env.pki.join("templates")).unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/device.json"
    ))
    .unwrap()
    .replace("\"CN={name}\"", "\"CN={name},O=Acme Fleet\"");
    std::fs::write(env.pki.join("templates/device.json"), text).unwrap();
    let out = env.json(&["issue", "dev"]);
    assert_eq!(out["subject"], "CN=dev,O=Acme Fleet");
}

#[test]
fn non_ca_issuer_is_refused() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let err = fails_as(
        &env,
        &["issue", "other", "--ca", "dev"],
        &Error::NotACa { name: "dev".into() },
    );
    assert!(
        err.starts_with("certsmith: 'dev' is not a CA (basicConstraints CA:FALSE)"),
        "{err}"
    );
}

#[test]
fn pki_directory_without_a_ledger_is_no_ledger_naming_its_path() {
    use std::os::unix::fs::DirBuilderExt;
    let env = Env::new();
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&env.pki)
        .unwrap();
    let err = fails_as(
        &env,
        &["issue", "dev"],
        &Error::NoLedger {
            path: env.pki.join("ledger.db"),
        },
    );
    assert!(err.contains("hint: run `certsmith init` first"), "{err}");
}

#[test]
fn missing_pki_directory_says_to_run_init() {
    let env = Env::new();
    let err = env.fails(2, &["issue", "dev"]);
    assert!(
        err.contains("no PKI directory at") && err.contains("hint: run `certsmith init` first"),
        "{err}"
    );
}

#[test]
fn failed_file_write_rolls_back_the_ledger_reservation() {
    let env = Env::new();
    env.hierarchy();
    // A write that fails after the name is reserved and the files are in
    // place (the test hook fails the step that would mark the row active).
    let out = env
        .command(&["issue", "dev"])
        .env("CERTSMITH_TEST_FAIL_AT", "committed")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("certsmith: no space left on device"),
        "{err}"
    );
    assert!(
        !env.cert_dir("dev").exists(),
        "files of a failed issue were left behind"
    );
    let all = env.json(&["list", "--all"]);
    assert!(
        !all["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "dev"),
        "{all}"
    );
    // The name is free again.
    env.ok(&["issue", "dev", "-q"]);
}

#[test]
fn leftover_ca_files_are_refused_without_suggesting_force() {
    let env = Env::new();
    env.hierarchy();
    std::fs::create_dir_all(env.pki.join("cas/sub")).unwrap();
    std::fs::write(env.pki.join("cas/sub/ca.key.pem"), "leftover").unwrap();
    std::fs::set_permissions(
        env.pki.join("cas/sub"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    std::fs::set_permissions(
        env.pki.join("cas/sub/ca.key.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let err = refused(
        &env,
        &["intermediate", "sub", "--cn", "Sub", "--no-passphrase"],
    );
    assert!(
        err.contains(
            "ca.key.pem' already exists\nhint: choose another name, or run `certsmith doctor`"
        ),
        "{err}"
    );
}
