//! Times are UTC wherever they are parsed: an end date written with an
//! offset lands on the right side of 2050 (UTCTime through 2049,
//! GeneralizedTime from 2050, RFC 5280 §4.1.2.5), lengths that would carry a
//! time past year 9999 or before year 0 are refused, and a fixed clock says so.

use super::{assert_refused, clock_warning, run_bounded};
use crate::common::*;

/// The ASN.1 time values of a PEM file, as `openssl asn1parse` prints them,
/// e.g. `UTCTIME :491231233000Z`.
fn asn1_times(pem: &std::path::Path) -> Vec<String> {
    let (ok, out) = openssl(&["asn1parse", "-in", s(pem)]);
    assert!(ok, "{out}");
    out.lines()
        .filter(|l| l.contains("UTCTIME") || l.contains("GENERALIZEDTIME"))
        .map(|l| {
            let kind = if l.contains("GENERALIZEDTIME") {
                "GENERALIZEDTIME"
            } else {
                "UTCTIME"
            };
            let value = l.rsplit(':').next().unwrap_or("").trim();
            format!("{kind} :{value}")
        })
        .collect()
}

const START: &str = "2031-01-01T00:00:00Z";

fn ok_at(env: &Env, now: &str, args: &[&str]) {
    let r = run_bounded(env, Some(now), args);
    assert_eq!(
        r.code, 0,
        "certsmith {args:?} at {now}:\n{}{}",
        r.stdout, r.stderr
    );
}

#[test]
fn end_dates_with_an_offset_take_the_asn1_time_type_of_their_utc_year() {
    let env = Env::new();
    // 23:30 at -01:00 is 00:30 UTC on 1 January 2050: GeneralizedTime (this panicked).
    ok_at(
        &env,
        START,
        &[
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "-q",
            "--validity",
            "2049-12-31T23:30:00-01:00",
        ],
    );
    let times = asn1_times(&env.root_pem());
    assert!(
        times.contains(&"GENERALIZEDTIME :20500101003000Z".to_string()),
        "{times:?}"
    );
    assert!(
        times.contains(&"UTCTIME :301231235900Z".to_string()),
        "{times:?}"
    );

    // 00:30 at +01:00 is 23:30 UTC on 31 December 2049: UTCTime (was GeneralizedTime).
    let env = Env::new();
    ok_at(
        &env,
        START,
        &[
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "-q",
            "--validity",
            "2060-01-01T00:00:00Z",
        ],
    );
    ok_at(
        &env,
        "2045-01-01T00:00:00Z",
        &[
            "issue",
            "dev",
            "--ca",
            "root",
            "-q",
            "--validity",
            "2050-01-01T00:30:00+01:00",
        ],
    );
    let times = asn1_times(&env.cert_dir("dev").join("cert.pem"));
    assert_eq!(
        times,
        vec!["UTCTIME :441231235900Z", "UTCTIME :491231233000Z"],
        "notBefore, notAfter"
    );
    ok_at(
        &env,
        "2045-01-01T00:00:00Z",
        &[
            "issue",
            "dev2",
            "--ca",
            "root",
            "-q",
            "--validity",
            "2049-12-31T23:30:00-01:00",
        ],
    );
    let times = asn1_times(&env.cert_dir("dev2").join("cert.pem"));
    assert_eq!(times[1], "GENERALIZEDTIME :20500101003000Z");
}

#[test]
fn crl_times_on_both_sides_of_2050_take_the_asn1_time_type_of_their_utc_year() {
    let env = Env::new();
    ok_at(
        &env,
        START,
        &[
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "-q",
            "--validity",
            "2060-01-01T00:00:00Z",
        ],
    );
    let crl = env.pki.join("cas/root/crl.pem");
    // A fixed clock with an offset: thisUpdate 2050-01-01T00:30:00Z.
    ok_at(
        &env,
        "2049-12-31T23:30:00-01:00",
        &["crl", "--ca", "root", "--next-update", "1d", "-q"],
    );
    assert_eq!(
        asn1_times(&crl),
        vec![
            "GENERALIZEDTIME :20500101003000Z",
            "GENERALIZEDTIME :20500102003000Z"
        ]
    );
    // thisUpdate 2049-12-31T23:30:00Z, nextUpdate one hour later in 2050 (another
    // PKI: a CRL is never signed before the last thisUpdate of its CA).
    let env = Env::new();
    ok_at(
        &env,
        START,
        &[
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "-q",
            "--validity",
            "2060-01-01T00:00:00Z",
        ],
    );
    let crl = env.pki.join("cas/root/crl.pem");
    ok_at(
        &env,
        "2050-01-01T00:30:00+01:00",
        &["crl", "--ca", "root", "--next-update", "1h", "-q"],
    );
    assert_eq!(
        asn1_times(&crl),
        vec!["UTCTIME :491231233000Z", "GENERALIZEDTIME :20500101003000Z"]
    );
}

#[test]
fn fixed_clock_is_announced_by_one_warning_line_and_nothing_else() {
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    let r = run_bounded(&env, Some("2030-01-01T01:00:00+01:00"), &["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!("{}\n", clock_warning("2030-01-01T00:00:00Z"))
    );
    let r = run_bounded(&env, None, &["list"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
}

#[test]
fn lengths_that_carry_a_time_past_year_9999_are_refused_naming_the_length() {
    let env = Env::new();
    ok_at(
        &env,
        "9990-01-01T00:00:00Z",
        &[
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "-q",
            "--validity",
            "9999-12-31T23:00:00Z",
        ],
    );
    let late = "9999-06-01T00:00:00Z";
    let warning = clock_warning(late);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["issue", "late", "--ca", "root", "--validity", "1y"],
            "'1y'",
        ),
        (vec!["crl", "--ca", "root", "--next-update", "1y"], "'1y'"),
        (vec!["list", "--expiring-within", "1y"], "'1y'"),
        (
            vec![
                "intermediate",
                "sub",
                "--cn",
                "Sub",
                "--no-passphrase",
                "--validity",
                "2y",
            ],
            "'2y'",
        ),
    ];
    for (args, named) in cases {
        let before = env.tree_hash();
        let r = run_bounded(&env, Some(late), &args);
        let line = assert_refused(&env, &before, Some(&warning), &r, &format!("{args:?}"));
        assert!(
            line.contains(named) && line.contains("9999"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn a_clock_at_year_0_refuses_to_backdate_instead_of_panicking() {
    let env = Env::new();
    let r = run_bounded(
        &env,
        Some("0000-01-01T00:00:30Z"),
        &[
            "init",
            "--cn",
            "Root",
            "--no-passphrase",
            "--validity",
            "1d",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(!env.pki.exists(), "a refused init left a PKI directory");
    // An offset that moves a time out of the calendar is refused where it is parsed.
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    let before = env.tree_hash();
    let r = run_bounded(
        &env,
        None,
        &["issue", "x", "--validity", "9999-12-31T23:30:00-01:00"],
    );
    let line = assert_refused(&env, &before, None, &r, "offset past 9999");
    assert!(line.contains("9999-12-31T23:30:00-01:00"), "{line}");
}
