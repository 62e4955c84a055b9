//! x509-limbo (C2SP/x509-limbo, tests/data/limbo) through the shipped
//! `certsmith verify`: every case verify can express is run with the case's
//! time, peer name, purpose and CRLs; the verdicts are compared with the
//! recorded baseline (tests/data/limbo/baseline.txt) and with
//! `openssl verify -x509_strict` on the same inputs.
//!
//! The run fails on any regression (a case that agreed and no longer does),
//! on any exit 2 or panic for a readable input, when certsmith agrees on
//! fewer cases than OpenSSL, or on less than 90% of the non-pedantic cases.
//! After an improvement, record it: `LIMBO_BLESS=1 cargo test --test
//! integration -- verify_limbo::` rewrites the baseline (review the diff).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/limbo");
/// The time of the cases that give none: every such certificate is valid
/// from 1970 to far beyond it.
const DEFAULT_AT: &str = "2025-01-01T00:00:00Z";

/// One case as far as verify and openssl need it.
struct Case {
    id: String,
    pedantic: bool,
    expect_success: bool,
    trusted: Vec<String>,
    intermediates: Vec<String>,
    peer: String,
    crls: Vec<String>,
    at: String,
    purpose: &'static str,
    /// ("dns" | "ip" | "email", value)
    name: Option<(&'static str, String)>,
}

/// What certsmith and openssl said on one case.
struct Outcome {
    /// Index into the expressible cases.
    case: usize,
    /// certsmith's exit code and stderr.
    code: i32,
    err: String,
    /// Whether openssl accepted it (None: openssl not run).
    ossl: Option<bool>,
}

/// What one run found for one case.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// Agrees; on an expected failure, with the class of the reason
    /// given, so that a verifier refusing everything for one reason
    /// cannot pass as agreeing.
    Agree(Option<String>),
    Disagree,
    Skip(String),
}

impl Verdict {
    fn line(&self, id: &str) -> String {
        match self {
            Verdict::Agree(None) => format!("{id} agree"),
            Verdict::Agree(Some(class)) => format!("{id} agree, rejected: {class}"),
            Verdict::Disagree => format!("{id} disagree"),
            Verdict::Skip(why) => format!("{id} skip: {why}"),
        }
    }
}

/// The class of the reason certsmith gave for a rejection: the rule a
/// profile message names, or the kind of path failure.
fn reason_class(err: &str) -> String {
    const RULES: &[&str] = &[
        "RFC 5280 4.1.2.2",
        "RFC 5280 4.1.2.6",
        "RFC 5280 4.2.1.10",
        "RFC 5280 4.2.1.11",
        "RFC 5280 4.2.1.12",
        "RFC 5280 4.2.1.1",
        "RFC 5280 4.2.1.2",
        "RFC 5280 4.2.1.3",
        "RFC 5280 4.2.1.6",
        "RFC 5280 4.2.1.9",
        "RFC 5280 4.2.2.1",
        "RFC 5280 4.2",
        "RFC 5280 5.2.3",
        "RFC 5280 6.3.3",
        "baseline (6.1.5)",
        "baseline (7.1)",
    ];
    if let Some(rule) = RULES
        .iter()
        .find(|r| err.contains(&format!("breaks {r}:")) || err.contains(&format!("{r}:")))
    {
        return rule.to_string();
    }
    const KINDS: &[(&str, &str)] = &[
        ("violates the name constraints", "name-constraints"),
        ("path length constraint", "pathlen"),
        ("revoked", "revoked"),
        ("CRL", "crl"),
        ("revocation status", "crl"),
        ("expired", "validity"),
        ("not valid before", "validity"),
        ("is not valid for the name", "peer-name"),
        ("authentication (extended key usage", "eku"),
        ("bad signature", "signature"),
        ("a signature in the chain", "signature"),
        ("is a CA certificate, not an end-entity", "ca-as-end-entity"),
        (
            "basicConstraints CA:FALSE appears as an issuer",
            "end-entity-as-ca",
        ),
        ("no trusted issuer found", "unknown-issuer"),
        ("cannot be used as an end-entity certificate", "unparsable"),
    ];
    if let Some((_, kind)) = KINDS.iter().find(|(text, _)| err.contains(text)) {
        return kind.to_string();
    }
    // webpki's own reason, by name.
    err.split_once("is not valid: ")
        .map_or("other", |(_, why)| why.trim())
        .to_string()
}

fn strs(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The case as verify can run it, or why it cannot.
fn express(t: &serde_json::Value) -> Result<Case, String> {
    let id = t["id"].as_str().expect("id").to_string();
    if !t["max_chain_depth"].is_null() {
        return Err("a maximum chain depth (verify has no depth limit)".into());
    }
    if !strs(&t["key_usage"]).is_empty() {
        return Err("a required key usage (verify has no key-usage option)".into());
    }
    if !strs(&t["signature_algorithms"]).is_empty() {
        return Err("a restricted set of signature algorithms".into());
    }
    let (purpose, eku_wanted) = match t["validation_kind"].as_str() {
        Some("SERVER") => ("server", "serverAuth"),
        Some("CLIENT") => ("client", "clientAuth"),
        other => return Err(format!("validation kind {other:?}")),
    };
    let ekus = strs(&t["extended_key_usage"]);
    if ekus.iter().any(|e| e != eku_wanted) {
        return Err(format!("required EKUs {ekus:?}"));
    }
    let mut names: Vec<&serde_json::Value> = Vec::new();
    if !t["expected_peer_name"].is_null() {
        names.push(&t["expected_peer_name"]);
    }
    if let Some(a) = t["expected_peer_names"].as_array() {
        names.extend(a.iter());
    }
    if names.len() > 1 {
        return Err("more than one expected peer name (verify checks one)".into());
    }
    let name = match names.first() {
        None => None,
        Some(n) => {
            let kind = match n["kind"].as_str() {
                Some("DNS") => "dns",
                Some("IP") => "ip",
                Some("RFC822") => "email",
                other => return Err(format!("peer name kind {other:?}")),
            };
            Some((kind, n["value"].as_str().expect("name").to_string()))
        }
    };
    let features = strs(&t["features"]);
    Ok(Case {
        id,
        pedantic: features.iter().any(|f| f.starts_with("pedantic")),
        expect_success: t["expected_result"] == "SUCCESS",
        trusted: strs(&t["trusted_certs"]),
        intermediates: strs(&t["untrusted_intermediates"]),
        peer: t["peer_certificate"].as_str().expect("peer").to_string(),
        crls: strs(&t["crls"]),
        at: t["validation_time"]
            .as_str()
            .unwrap_or(DEFAULT_AT)
            .to_string(),
        purpose,
        name,
    })
}

/// The case's files in `dir`: (peer, bundle, chain if any, CRLs).
fn write_case(c: &Case, dir: &Path) -> (PathBuf, PathBuf, Option<PathBuf>, Vec<PathBuf>) {
    std::fs::create_dir_all(dir).unwrap();
    let peer = dir.join("peer.pem");
    std::fs::write(&peer, &c.peer).unwrap();
    let bundle = dir.join("trusted.pem");
    std::fs::write(&bundle, c.trusted.concat()).unwrap();
    let chain = (!c.intermediates.is_empty()).then(|| {
        let p = dir.join("untrusted.pem");
        std::fs::write(&p, c.intermediates.concat()).unwrap();
        p
    });
    let crls = c
        .crls
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            let p = dir.join(format!("crl{i}.pem"));
            std::fs::write(&p, pem).unwrap();
            p
        })
        .collect();
    (peer, bundle, chain, crls)
}

/// certsmith's exit code and stderr for a case.
fn run_certsmith(c: &Case, dir: &Path) -> (i32, String) {
    let (peer, bundle, chain, crls) = write_case(c, dir);
    let mut cmd = certsmith();
    cmd.arg("--pki")
        .arg(dir.join("pki"))
        .arg("verify")
        .arg(&peer)
        .arg("--bundle")
        .arg(&bundle)
        .args(["--at", &c.at, "--purpose", c.purpose]);
    if let Some(ch) = &chain {
        cmd.arg("--chain").arg(ch);
    }
    for l in &crls {
        cmd.arg("--crl").arg(l);
    }
    if let Some((kind, value)) = &c.name {
        cmd.arg(format!("--{kind}")).arg(value);
    }
    let out = cmd
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run certsmith");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether `openssl verify -x509_strict` accepts the case.
fn run_openssl(c: &Case, dir: &Path) -> bool {
    let (peer, bundle, chain, crls) = write_case(c, dir);
    let at = time::OffsetDateTime::parse(&c.at, &time::format_description::well_known::Rfc3339)
        .expect("case time")
        .unix_timestamp()
        .to_string();
    let mut cmd = Command::new("openssl");
    // As SPEC says and OpenSSL-based servers run it: no -partial_chain, so
    // only a self-signed trusted certificate ends a chain.
    cmd.args(["verify", "-x509_strict", "-attime", &at])
        .args([
            "-purpose",
            if c.purpose == "server" {
                "sslserver"
            } else {
                "sslclient"
            },
        ])
        .arg("-CAfile")
        .arg(&bundle);
    if let Some(ch) = &chain {
        cmd.arg("-untrusted").arg(ch);
    }
    if !crls.is_empty() {
        cmd.arg("-crl_check");
        for l in &crls {
            cmd.arg("-CRLfile").arg(l);
        }
    }
    if let Some((kind, value)) = &c.name {
        let flag = match *kind {
            "dns" => "-verify_hostname",
            "ip" => "-verify_ip",
            _ => "-verify_email",
        };
        cmd.args([flag, value]);
    }
    cmd.arg(&peer)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl")
        .status
        .success()
}

fn openssl_available() -> bool {
    if have("openssl") {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("openssl is required in CI (apt-get install openssl)");
    }
    eprintln!(
        "\n**********************************************************************\n\
         SKIPPED: the OpenSSL half of the limbo comparison needs openssl.\n\
         **********************************************************************\n"
    );
    false
}

fn baseline_path() -> PathBuf {
    Path::new(DATA).join("baseline.txt")
}

/// The recorded verdicts: case id → line as written by `Verdict::line`.
fn read_baseline() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(baseline_path()).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let id = l.split(' ').next().unwrap_or_default().to_string();
            (id, l.to_string())
        })
        .collect()
}

#[test]
fn certsmith_agrees_with_limbo_on_more_cases_than_openssl_and_never_regresses() {
    let started = std::time::Instant::now();
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(DATA).join("limbo.json")).expect("limbo.json"),
    )
    .expect("limbo.json is JSON");
    let tests = doc["testcases"].as_array().expect("testcases");
    let mut cases = Vec::new();
    let mut verdicts: BTreeMap<String, Verdict> = BTreeMap::new();
    for t in tests {
        match express(t) {
            Ok(c) => cases.push(c),
            Err(why) => {
                let id = t["id"].as_str().expect("id").to_string();
                verdicts.insert(id, Verdict::Skip(format!("the case needs {why}")));
            }
        }
    }
    let with_openssl = openssl_available();
    let tmp = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(c) = cases.get(i) else { break };
                    let dir = tmp.path().join(i.to_string());
                    let (code, err) = run_certsmith(c, &dir);
                    let ossl = with_openssl.then(|| run_openssl(c, &dir));
                    results.lock().unwrap().push(Outcome {
                        case: i,
                        code,
                        err,
                        ossl,
                    });
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.case);
    let mut broken = Vec::new();
    let (mut agree, mut ossl_agree) = (0, 0);
    let (mut plain, mut plain_agree) = (0, 0);
    for Outcome {
        case,
        code,
        err,
        ossl,
    } in &results
    {
        let c = &cases[*case];
        if !matches!(code, 0 | 1) || err.contains("panicked") {
            broken.push(format!("{}: exit {code}: {}", c.id, err.trim()));
        }
        let ok = (*code == 0) == c.expect_success && matches!(code, 0 | 1);
        agree += usize::from(ok);
        ossl_agree += usize::from(*ossl == Some(c.expect_success));
        if !c.pedantic {
            plain += 1;
            plain_agree += usize::from(ok);
        }
        if std::env::var_os("LIMBO_SHOW").is_some() && !ok {
            eprintln!(
                "DISAGREE {} expected {} openssl {:?}: exit {code} {}",
                c.id,
                if c.expect_success {
                    "SUCCESS"
                } else {
                    "FAILURE"
                },
                ossl,
                err.trim()
            );
        }
        let v = if ok {
            Verdict::Agree((!c.expect_success).then(|| reason_class(err)))
        } else {
            Verdict::Disagree
        };
        verdicts.insert(c.id.clone(), v);
    }
    let skipped = verdicts
        .values()
        .filter(|v| matches!(v, Verdict::Skip(_)))
        .count();
    eprintln!(
        "limbo: {} cases, {} expressible, {skipped} skipped; certsmith agrees on {agree} ({:.1}%), \
         openssl -x509_strict on {ossl_agree} ({:.1}%); non-pedantic: {plain_agree}/{plain} ({:.1}%); {:.1} s",
        tests.len(),
        cases.len(),
        100.0 * agree as f64 / cases.len() as f64,
        100.0 * ossl_agree as f64 / cases.len() as f64,
        100.0 * plain_agree as f64 / plain as f64,
        started.elapsed().as_secs_f64()
    );
    let lines: Vec<String> = verdicts.iter().map(|(id, v)| v.line(id)).collect();
    if std::env::var_os("LIMBO_BLESS").is_some() {
        let mut text = String::from(
            "# certsmith verify against x509-limbo: case id, then agree / disagree with the\n\
             # expected result (for an expected failure, with the class of certsmith's\n\
             # reason), or skip with the reason verify cannot express the case.\n\
             # Written by LIMBO_BLESS=1 (tests/verify_limbo.rs); review every change.\n",
        );
        for l in &lines {
            text.push_str(l);
            text.push('\n');
        }
        std::fs::write(baseline_path(), text).unwrap();
    }
    assert!(
        broken.is_empty(),
        "verify must exit 0 or 1 on every readable case:\n{}",
        broken.join("\n")
    );
    let baseline = read_baseline();
    let mut changed = Vec::new();
    for (id, v) in &verdicts {
        let now = v.line(id);
        match baseline.get(id) {
            Some(was) if *was == now => {}
            Some(was) if was.contains(" agree") || was.contains(" skip: ") => {
                changed.push(format!("was: {was}\n now: {now}"))
            }
            Some(was) if matches!(v, Verdict::Agree(_)) => {
                eprintln!("limbo: improved (record it with LIMBO_BLESS=1): {was} -> {now}")
            }
            Some(was) => changed.push(format!("was: {was}\n now: {now}")),
            None => changed.push(format!("not in the baseline: {now}")),
        }
    }
    for id in baseline.keys() {
        if !verdicts.contains_key(id) {
            changed.push(format!("in the baseline, not in limbo.json: {id}"));
        }
    }
    assert!(
        changed.is_empty(),
        "limbo verdicts regressed or changed:\n{}",
        changed.join("\n")
    );
    if with_openssl {
        assert!(
            agree > ossl_agree,
            "certsmith agrees on {agree} cases, openssl -x509_strict on {ossl_agree}"
        );
    }
    assert!(
        plain_agree * 10 >= plain * 9,
        "certsmith agrees on {plain_agree} of {plain} non-pedantic cases (< 90%)"
    );
}
