//! A CA that left the current set because it was revoked or expired is no
//! trust widening: a bundle without `--ca` drops it with a note, remembers
//! the smaller set, and no hint offers a set holding such a CA. The
//! routines printed after `revoke` and by the CRL cron keep working.

use super::{at, manifest_cas};
use crate::common::*;

const T0: &str = "2026-12-02T14:00:00Z";

fn ok_at(env: &Env, now: &str, args: &[&str]) -> String {
    let (code, out, err) = at(env, now, args);
    assert_eq!(code, 0, "{args:?}: {out}{err}");
    format!("{out}{err}")
}

#[test]
fn an_expired_ca_leaves_the_bundle_with_a_note_and_the_cron_routine_keeps_working() {
    let env = Env::new();
    ok_at(&env, T0, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    for (name, extra) in [("main", None), ("short", Some("60d"))] {
        let mut args = vec!["intermediate", name, "--cn", name, "--no-passphrase", "-q"];
        if let Some(v) = extra {
            args.extend(["--validity", v]);
        }
        ok_at(&env, T0, &args);
    }
    ok_at(&env, T0, &["ca", "default", "main", "-q"]);
    ok_at(&env, T0, &["issue", "d1", "-q"]);
    ok_at(&env, T0, &["crl", "-q"]);
    ok_at(&env, T0, &["bundle", "--target", "haproxy"]);
    assert_eq!(manifest_cas(&env, "haproxy"), ["main", "root", "short"]);
    // 75 days later 'short' has expired; the documented cron routine runs.
    let later = "2027-02-15T00:00:00Z";
    ok_at(&env, later, &["crl", "-q"]);
    let out = ok_at(&env, later, &["bundle", "--target", "haproxy"]);
    assert!(
        out.contains("note: CA 'short' expired on 2027-01-31T14:00:00Z: left out of the bundle"),
        "{out}"
    );
    assert_eq!(manifest_cas(&env, "haproxy"), ["main", "root"]);
    // The smaller set is remembered: the next run says nothing about it.
    let out = ok_at(&env, later, &["bundle", "--target", "haproxy"]);
    assert!(!out.contains("'short'"), "{out}");
}

#[test]
fn a_revoked_ca_leaves_the_bundle_with_a_note_and_no_hint_offers_it_again() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["intermediate", "c", "--cn", "C", "--no-passphrase", "-q"]);
    env.ok(&["crl", "-q"]);
    env.ok(&["bundle", "--target", "haproxy"]);
    assert_eq!(manifest_cas(&env, "haproxy"), ["c", "issuing", "root"]);
    env.ok(&["revoke", "c", "--reason", "key-compromise", "--yes", "-q"]);
    // The routine printed after a revoke: crl, then bundle.
    env.ok(&["crl", "-q"]);
    let out = ok_at(&env, T0, &["bundle", "--target", "haproxy"]);
    assert!(
        out.contains("note: CA 'c' was revoked on ")
            && out.contains(" (key-compromise): left out of the bundle"),
        "{out}"
    );
    assert_eq!(manifest_cas(&env, "haproxy"), ["issuing", "root"]);
    // The bundle carries the root's CRL that lists 'c'.
    let crl = std::fs::read_to_string(env.pki.join("bundles/haproxy/crl.pem")).unwrap();
    let root_crl = std::fs::read_to_string(env.pki.join("cas/root/crl.pem")).unwrap();
    assert!(crl.contains(root_crl.trim()), "{crl}");

    // Another target last bundled with 'c', now also given a new CA: the
    // refusal names only the addition, and its hint's set leaves 'c' out.
    let env = Env::new();
    env.hierarchy();
    env.ok(&["intermediate", "c", "--cn", "C", "--no-passphrase", "-q"]);
    env.ok(&["bundle", "--target", "generic"]);
    env.ok(&["revoke", "c", "--reason", "key-compromise", "--yes", "-q"]);
    env.ok(&[
        "intermediate",
        "partner",
        "--cn",
        "Partner",
        "--no-passphrase",
        "-q",
    ]);
    let err = refused(&env, &["bundle", "--target", "generic"]);
    assert!(
        err.contains("CA 'partner' added") && !err.contains("CA 'c' removed"),
        "{err}"
    );
    assert!(
        err.contains("`certsmith bundle --target generic --ca issuing --ca root`"),
        "{err}"
    );
    assert!(!err.contains("--ca c "), "{err}");
    // Named with --ca, a revoked CA is refused, and the hint names the rest.
    let err = refused(
        &env,
        &[
            "bundle", "--target", "generic", "--ca", "issuing", "--ca", "c",
        ],
    );
    assert!(
        err.contains("`certsmith bundle --target generic --ca issuing`"),
        "{err}"
    );
}
