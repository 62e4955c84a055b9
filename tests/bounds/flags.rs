//! Numeric flags are bounded by their parsers: a value out of range is
//! refused at once, naming the allowed range, before any work starts.

use super::run_bounded;
use crate::common::*;

#[test]
fn numeric_flags_out_of_range_are_refused_with_the_allowed_range() {
    let env = Env::new();
    env.hierarchy();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "batch",
                "--count",
                "1",
                "--dry-run",
                "--jobs",
                "18446744073709551615",
            ],
            "1..=256",
        ),
        (
            vec!["batch", "--count", "1", "--dry-run", "--jobs", "200000"],
            "1..=256",
        ),
        (
            vec!["batch", "--count", "1", "--dry-run", "--jobs", "0"],
            "1..=256",
        ),
        (
            vec!["batch", "--count", "18446744073709551615", "--dry-run"],
            "1..=1000000",
        ),
        (
            vec!["batch", "--count", "1000001", "--dry-run"],
            "1..=1000000",
        ),
        (vec!["batch", "--count", "0", "--dry-run"], "1..=1000000"),
        (
            vec![
                "intermediate",
                "sub",
                "--cn",
                "Sub",
                "--no-passphrase",
                "--pathlen",
                "300",
            ],
            "0..=255",
        ),
    ];
    for (args, range) in cases {
        let before = env.tree_hash();
        let r = run_bounded(&env, None, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(env.tree_hash(), before, "{args:?} changed the PKI");
        assert!(
            r.stderr.starts_with("certsmith: "),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stderr.contains(range), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
    // The edges of each range are accepted.
    env.ok(&["batch", "--count", "1", "--dry-run", "--jobs", "256"]);
    env.ok(&["batch", "--count", "3", "--dry-run", "--jobs", "1"]);
}

#[test]
fn a_bad_length_is_refused_naming_the_flag_it_came_from() {
    // `list --expiring-within x` used to say "--validity 'x' is not an RFC 3339 time".
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    for (args, flag) in [
        (
            vec!["list", "--expiring-within", "2027-x:"],
            "--expiring-within",
        ),
        (
            vec!["list", "--expiring-within", "100000000y"],
            "--expiring-within",
        ),
        (vec!["list", "--expiring-within", "5q"], "--expiring-within"),
        (vec!["crl", "--next-update", "2027-x:"], "--next-update"),
        (vec!["crl", "--next-update", "5q"], "--next-update"),
        (vec!["issue", "d", "--validity", "2027-x:"], "--validity"),
        (vec!["issue", "d", "--validity", "100000000y"], "--validity"),
    ] {
        let err = refused(&env, &args);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!("certsmith: {flag} '")),
            "{args:?}: {err}"
        );
        if flag != "--validity" {
            assert!(!err.contains("validity"), "{args:?}: {err}");
        }
    }
}
