//! Property tests (proptest) standing in for the cargo-fuzz targets inside
//! `cargo test`: the parsers that read untrusted input never panic, and
//! what they accept is consistent. Each property runs a bounded number of
//! cases so the whole file takes seconds.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use certsmith::names::{San, Subject};
use certsmith::profile::Profile;
use certsmith::validity::Validity;

use crate::common::*;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Any text, with a bias towards the characters parsers split on.
fn texty() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[a-zA-Z0-9=,./:@*\\\\ \\-_\\x00\\x1b\\n\\r\\t]{0,40}",
        "(dns|ip|uri|email|DNS|Ip):[a-z0-9.:/@*\\-\\x00]{0,30}",
        "(CN|O|OU|C|L|ST|DC|serialNumber|X)=[^,]{0,70}(,(CN|O|OU|C)=[a-zA-Z \\\\,]{0,10}){0,3}",
    ]
}

#[test]
fn name_san_subject_and_validity_parsers_never_panic_and_round_trip() {
    runner(2000)
        .run(&texty(), |s| {
            if let Ok(san) = San::parse(&s) {
                let shown = san.to_string();
                prop_assert!(!shown.chars().any(char::is_control), "{shown:?}");
                prop_assert_eq!(San::parse(&shown).ok(), Some(san));
            }
            if let Ok(subject) = Subject::parse(&s) {
                let shown = subject.to_string();
                prop_assert!(!shown.chars().any(char::is_control), "{shown:?}");
                let again = Subject::parse(&shown);
                prop_assert!(again.is_ok(), "{shown:?}: {again:?}");
                prop_assert_eq!(again.unwrap().to_string(), shown);
                let _ = subject.to_dn();
            }
            let _ = Validity::parse(&s);
            let _ = certsmith::names::IpNet::parse(&s);
            let _ = certsmith::pki::validate_name("certificate", &s);
            Ok(())
        })
        .unwrap();
}

/// A valid CSR made with rcgen for `cn` and `sans`, asking for CA:TRUE when `ca`.
fn make_csr(cn: &str, sans: &[String], ca: bool) -> Option<Vec<u8>> {
    let key = rcgen::KeyPair::generate().ok()?;
    let mut p = rcgen::CertificateParams::new(sans.to_vec()).ok()?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    if ca {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    Some(p.serialize_request(&key).ok()?.der().to_vec())
}

/// Generated CSRs: mostly names a device would really ask for, some hostile.
fn csr_strategy() -> impl Strategy<Value = (String, Vec<String>, bool, bool)> {
    let cn = prop_oneof![
        3 => "[a-zA-Z0-9][a-zA-Z0-9._@+\\-]{0,40}",
        1 => "[a-zA-Z0-9][a-zA-Z0-9 ,=._@+\\-]{0,40}",
        1 => "[\\x00-\\x7f\\u{e9}\\u{4e2d}]{1,70}",
    ];
    let san = prop_oneof![
        3 => "[a-z][a-z0-9]{0,10}(\\.[a-z]{2,6}){1,2}",
        1 => "10\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
        1 => "[a-z0-9.*\\-]{1,20}",
    ];
    (
        cn,
        proptest::collection::vec(san, 0..4),
        any::<bool>(),
        // Whether the name comes from the CSR's CN (no --name).
        any::<bool>(),
    )
}

/// Runs `certsmith sign`'s own code (`ops::sign::sign_csr`) on generated and
/// mutated CSRs against a real PKI. Whatever it signs obeys the profile and
/// carries the CSR's key; whatever it refuses leaves the PKI unchanged; and
/// most generated cases really reach signing, so the properties are tested.
#[test]
fn sign_csr_obeys_the_profile_for_generated_csrs_and_refuses_mutated_ones_cleanly() {
    use certsmith::ops::sign::{SignRequest, sign_csr};
    let env = Env::new();
    env.hierarchy();
    let pki = certsmith::pki::Pki::at(&env.pki);
    let issuing = std::fs::read_to_string(env.pki.join("cas/issuing/ca.pem")).unwrap();
    let ca_not_after = certsmith::certinfo::parse_pem_certs(&issuing, "issuing")
        .unwrap()
        .remove(0)
        .not_after;
    let base = make_csr("seed-device", &["seed.example".into()], false).unwrap();

    const CASES: u32 = 120;
    let strategy = (
        csr_strategy(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        proptest::option::of(any::<usize>()),
    );
    let case = std::cell::Cell::new(0u32);
    let signed = std::cell::Cell::new(0u32);
    runner(CASES)
        .run(&strategy, |((cn, sans, ca, cn_names_it), flips, cut)| {
            let n = case.get();
            case.set(n + 1);
            let mut mutated = base.clone();
            for (i, x) in &flips {
                let len = mutated.len();
                mutated[i % len] ^= x.max(&1);
            }
            if let Some(c) = cut {
                mutated.truncate(c % (base.len() + 1));
            }
            let mut inputs = vec![(mutated, Some(format!("mutated-{n}")), false)];
            if let Some(der) = make_csr(&cn, &sans, ca) {
                let name = (!cn_names_it).then(|| format!("case-{n}"));
                inputs.push((der, name, true));
            }
            for (der, name, generated) in inputs {
                let mut req = SignRequest::new(der.clone(), "prop.csr");
                req.name = name;
                let before = env.tree_hash();
                let report = match sign_csr(&pki, req) {
                    Ok(r) => r,
                    Err(e) => {
                        prop_assert_eq!(
                            env.tree_hash(),
                            before,
                            "refused ({}) but changed the PKI",
                            e
                        );
                        continue;
                    }
                };
                if generated {
                    signed.set(signed.get() + 1);
                }
                let csr = certsmith::csr::parse(&der, "prop.csr").unwrap();
                let cert_pem = report
                    .issued
                    .files
                    .iter()
                    .find(|f| f.ends_with("cert.pem"))
                    .unwrap();
                let text = std::fs::read_to_string(cert_pem).unwrap();
                let cert = certsmith::certinfo::parse_pem_certs(&text, "signed")
                    .unwrap()
                    .remove(0);
                prop_assert!(!cert.is_ca, "a CSR obtained a CA certificate");
                prop_assert_eq!(&cert.ext_key_usage, &vec!["clientAuth".to_string()]);
                prop_assert!(
                    !cert.subject.chars().any(char::is_control),
                    "{}",
                    cert.subject
                );
                prop_assert_eq!(&cert.spki_der, &csr.spki_der);
                prop_assert!(cert.not_after <= ca_not_after);
                let row = pki
                    .open_ledger()
                    .unwrap()
                    .cert_by_name(&report.issued.name)
                    .unwrap()
                    .unwrap();
                prop_assert_eq!(row.state.as_str(), "active");
                prop_assert_eq!(&row.serial, &report.issued.serial);
                if generated && !cn_names_it {
                    // The CN certsmith takes from a CSR is the CN the device asked for, byte for byte.
                    prop_assert_eq!(
                        csr.subject.as_ref().and_then(|s| s.common_name()),
                        Some(cn.as_str())
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    // Without this floor the properties above could hold vacuously. About 60%
    // reach signing; a third leaves room for chance and none for a generator
    // (or a refusal) that stops most cases before signing.
    assert!(
        signed.get() >= CASES / 3,
        "only {} of {CASES} generated CSRs reached signing",
        signed.get()
    );
}

#[test]
fn pem_bundle_and_inspect_parsers_never_panic() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let bundle = std::fs::read_to_string(env.cert_dir("dev").join("fullchain.pem")).unwrap()
        + &std::fs::read_to_string(env.root_pem()).unwrap();
    let key = std::fs::read(env.cert_dir("dev").join("key.pem")).unwrap();
    let strategy = (
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        proptest::option::of(any::<usize>()),
        "\\PC{0,20}",
        0..3usize,
    );
    runner(400)
        .run(&strategy, |(flips, cut, junk, which)| {
            let mut bytes = match which {
                0 => bundle.clone().into_bytes(),
                1 => key.clone(),
                _ => format!("{junk}\n{bundle}{junk}").into_bytes(),
            };
            for (i, x) in &flips {
                let n = bytes.len();
                bytes[i % n] ^= x;
            }
            if let Some(c) = cut {
                bytes.truncate(c % (bytes.len() + 1));
            }
            let _ = certsmith::inspect::describe(&bytes, "fuzz.pem");
            if let Ok(text) = std::str::from_utf8(&bytes)
                && let Ok(certs) = certsmith::certinfo::parse_pem_certs(text, "fuzz.pem")
            {
                prop_assert!(certs.len() <= text.matches("-----BEGIN").count());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn profile_json_parser_never_panics_and_accepts_only_sane_profiles() {
    let base: serde_json::Value =
        serde_json::from_str(include_str!("../../templates/device.json")).unwrap();
    let fields: Vec<String> = base.as_object().unwrap().keys().cloned().collect();
    let value = prop_oneof![
        Just(serde_json::json!(null)),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        "\\PC{0,12}".prop_map(|s| serde_json::json!(s)),
        "-?[0-9]{1,14}[mhdwy]".prop_map(|s| serde_json::json!(s)),
        proptest::collection::vec("[a-zA-Z0-9\\-]{0,16}", 0..3).prop_map(|v| serde_json::json!(v)),
        Just(serde_json::json!(["keyCertSign"])),
        Just(serde_json::json!("rsa-1024")),
    ];
    let strategy = (
        proptest::collection::vec((0..fields.len() + 1, value), 0..4),
        any::<bool>(),
    );
    runner(1000)
        .run(&strategy, |(edits, raw_cut)| {
            let mut v = base.clone();
            for (i, val) in edits {
                let key = fields
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "unknown_field".into());
                v[key] = val;
            }
            let mut text = v.to_string();
            if raw_cut {
                let mut at = text.len() / 2;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.truncate(at);
            }
            if let Ok(p) = Profile::parse("fuzz", &text, "fuzz.json") {
                prop_assert!(p.max_validity > time::Duration::ZERO);
                prop_assert!(p.default_key.to_string() != "rsa-1024");
            }
            Ok(())
        })
        .unwrap();
}

/// Manifest text: CSV or JSON Lines shapes, with junk mixed in.
fn manifest_text() -> impl Strategy<Value = String> {
    let row = prop_oneof![
        "[a-z0-9\\-]{0,12},[a-zA-Z0-9 ]{0,8},(dns:[a-z.]{1,10}|ip:10\\.0\\.0\\.[0-9]|uri:spiffe://a/[a-z]{1,5}|;|\"[^\"]{0,6}\"){0,3}",
        "\\{\"name\": ?\"[a-z0-9\\-]{0,12}\"(, ?\"cn\": ?\"[a-z ]{0,8}\")?(, ?\"san\": ?\\[(\"dns:[a-z.]{1,8}\")?\\])?\\}",
        "\\PC{0,30}",
        "[\\x00-\\x7f]{0,20}",
    ];
    (
        prop_oneof![
            Just("name,cn,san"),
            Just("name"),
            Just(""),
            Just("san,name")
        ],
        proptest::collection::vec(row, 0..12),
        any::<bool>(),
    )
        .prop_map(|(header, rows, crlf)| {
            let nl = if crlf { "\r\n" } else { "\n" };
            let mut s = String::from(header);
            for r in rows {
                s.push_str(nl);
                s.push_str(&r);
            }
            s
        })
}

#[test]
fn manifest_parser_never_panics_and_every_accepted_row_is_issuable() {
    use certsmith::manifest::Manifest;
    let dir = tempfile::tempdir().unwrap();
    runner(400)
        .run(
            &(
                manifest_text(),
                prop_oneof![Just("m.csv"), Just("m.jsonl"), Just("m.txt")],
            ),
            |(text, file)| {
                let path = dir.path().join(file);
                std::fs::write(&path, &text).unwrap();
                let Ok(m) = Manifest::file(&path) else {
                    return Ok(());
                };
                let Ok(rows) = m.rows() else { return Ok(()) };
                let mut last = 0;
                for r in rows.take(100) {
                    let line = match r {
                        Ok(row) => {
                            prop_assert!(
                                certsmith::pki::validate_name("certificate", &row.name).is_ok(),
                                "{row:?}"
                            );
                            row.line
                        }
                        Err(e) => {
                            prop_assert!(!e.reason.is_empty());
                            prop_assert!(
                                !e.reason.chars().any(|c| c.is_control()),
                                "{:?}",
                                e.reason
                            );
                            e.line
                        }
                    };
                    prop_assert!(
                        line > last,
                        "line numbers must increase: {line} after {last}"
                    );
                    last = line;
                }
                Ok(())
            },
        )
        .unwrap();
}
