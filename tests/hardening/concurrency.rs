//! Many certsmith processes on one PKI directory at once.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::listed;
use crate::common::*;

const WORKERS: usize = 8;
const PER_WORKER: usize = 50;

#[test]
fn eight_parallel_issuers_lose_no_record_and_duplicate_no_serial() {
    let env = Arc::new(Env::new());
    env.hierarchy();
    // revoke / crl run beside the issuers once those commands exist.
    env.ok(&["issue", "victim-0", "-q"]);
    env.ok(&["issue", "victim-1", "-q"]);
    env.ok(&["crl", "--ca", "issuing"]);
    let (with_revoke, with_crl) = (true, true);
    let done = Arc::new(AtomicBool::new(false));

    let mut side = Vec::new();
    if with_revoke || with_crl {
        let (env, done) = (env.clone(), done.clone());
        side.push(std::thread::spawn(move || {
            let mut errors = Vec::new();
            let mut round = 0;
            // Keep going until the issuers finish, then twice more.
            while !done.load(Ordering::SeqCst) || round < 2 {
                if with_revoke && round < 2 {
                    let r = env.run(&[
                        "revoke",
                        &format!("victim-{round}"),
                        "--reason",
                        "key-compromise",
                    ]);
                    if r.code != 0 || !r.stderr.is_empty() {
                        errors.push(format!("revoke: {}{}", r.stdout, r.stderr));
                    }
                }
                if with_crl {
                    let r = env.run(&["crl", "--ca", "issuing", "-q"]);
                    if r.code != 0 || !r.stderr.is_empty() {
                        errors.push(format!("crl: {}{}", r.stdout, r.stderr));
                    }
                }
                round += 1;
            }
            errors
        }));
    }

    let issuers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let env = env.clone();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                for i in 0..PER_WORKER {
                    let r = env.run(&["issue", &format!("w{w}-{i:03}"), "-q"]);
                    if r.code != 0 || !r.stderr.is_empty() || !r.stdout.is_empty() {
                        errors.push(format!(
                            "w{w}-{i:03}: exit {} {}{}",
                            r.code, r.stdout, r.stderr
                        ));
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors: Vec<String> = issuers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    done.store(true, Ordering::SeqCst);
    errors.extend(side.into_iter().flat_map(|h| h.join().unwrap()));
    assert!(
        errors.is_empty(),
        "errors from concurrent runs:\n{}",
        errors.join("\n")
    );

    let rows = listed(&env);
    let workers: Vec<_> = rows
        .iter()
        .filter(|r| r["name"].as_str().unwrap().starts_with('w'))
        .collect();
    assert_eq!(workers.len(), WORKERS * PER_WORKER, "ledger rows");
    let serials: HashSet<&str> = rows.iter().map(|r| r["serial"].as_str().unwrap()).collect();
    assert_eq!(serials.len(), rows.len(), "duplicate serials");
    assert!(
        rows.iter().all(|r| r["status"] != "pending"),
        "pending rows left"
    );
    if with_revoke {
        let revoked: Vec<_> = rows.iter().filter(|r| r["status"] == "revoked").collect();
        assert_eq!(revoked.len(), 2, "both victims revoked");
    }

    // Every certificate file is whole and verifies; one openssl run for all.
    let mut args: Vec<String> = ["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(env.root_pem().display().to_string());
    args.push("-untrusted".into());
    args.push(env.pki.join("cas/issuing/ca.pem").display().to_string());
    for w in &workers {
        let d = env.cert_dir(w["name"].as_str().unwrap());
        let fp = w["fingerprint"].as_str().unwrap();
        let pem = std::fs::read_to_string(d.join("cert.pem")).unwrap();
        let der = pem_body_der(&pem);
        assert_eq!(
            certsmith::certinfo::fingerprint(&der),
            fp,
            "{}",
            d.display()
        );
        args.push(d.join("cert.pem").display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = openssl(&refs);
    assert!(ok, "{out}");
    assert_eq!(out.matches(": OK").count(), WORKERS * PER_WORKER, "{out}");

    let r = env.run(&["doctor"]);
    assert_eq!(
        r.code, 0,
        "doctor after the storm:\n{}{}",
        r.stdout, r.stderr
    );
}

/// DER of the first PEM block.
pub fn pem_body_der(pem: &str) -> Vec<u8> {
    ::pem::parse(pem).expect("PEM").into_contents()
}

#[test]
fn parallel_inits_on_one_new_directory_leave_exactly_one_root() {
    let env = Arc::new(Env::new());
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || env.run(&["init", "--cn", "Root", "--no-passphrase", "-q"]))
        })
        .collect();
    let results: Vec<Run> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    let winners = results.iter().filter(|r| r.code == 0).count();
    assert_eq!(winners, 1, "exactly one init wins");
    for r in results.iter().filter(|r| r.code != 0) {
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("already"), "{}", r.stderr);
        assert_eq!(
            r.stderr
                .lines()
                .filter(|l| l.starts_with("certsmith: "))
                .count(),
            1,
            "{}",
            r.stderr
        );
        assert!(!r.stderr.contains("locked"), "{}", r.stderr);
    }
    assert!(
        env.root_pem().exists(),
        "the winner's root survived the losers"
    );
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn two_processes_issuing_one_name_yield_one_certificate() {
    let env = Arc::new(Env::new());
    env.hierarchy();
    for round in 0..5 {
        let name = format!("same-{round}");
        let runs: Vec<_> = (0..4)
            .map(|_| {
                let (env, name) = (env.clone(), name.clone());
                std::thread::spawn(move || env.run(&["issue", &name, "-q"]))
            })
            .collect();
        let results: Vec<Run> = runs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(results.iter().filter(|r| r.code == 0).count(), 1, "{name}");
        for r in results.iter().filter(|r| r.code != 0) {
            assert_eq!(r.code, 2, "{}", r.stderr);
            assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
            assert!(r.stderr.lines().count() <= 2, "{}", r.stderr);
        }
        let files: Vec<_> = std::fs::read_dir(env.cert_dir(&name))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(files.len(), 4, "{name}: {files:?}");
    }
    assert_eq!(env.run(&["doctor"]).code, 0);
}
