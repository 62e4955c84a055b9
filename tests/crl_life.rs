//! The CRL lifecycle: every online CA's CRL in one run, per-CA nextUpdate
//! defaults and settings, pruning of expired entries after a grace period,
//! doctor's warning before nextUpdate, and the ALB revocation routine that
//! uploads only the CRLs that changed. Every test runs on a fixed clock.

use crate::common::{Env, Run, s};

const T0: &str = "2030-01-01T00:00:00Z";

/// Runs certsmith with the clock fixed at `at`.
fn run_at(env: &Env, at: &str, args: &[&str]) -> Run {
    let out = env
        .command(args)
        .env("CERTSMITH_NOW", at)
        .output()
        .expect("run certsmith");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok_at(env: &Env, at: &str, args: &[&str]) -> Run {
    let r = run_at(env, at, args);
    assert_eq!(r.code, 0, "certsmith {args:?}:\n{}{}", r.stdout, r.stderr);
    r
}

fn json_at(env: &Env, at: &str, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let r = ok_at(env, at, &a);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stdout))
}

/// A refusal at a fixed clock: exit 2, one message (+ hint), PKI unchanged.
fn refused_at(env: &Env, at: &str, args: &[&str]) -> String {
    let before = env.tree_hash();
    let r = run_at(env, at, args);
    assert_eq!(r.code, 2, "certsmith {args:?}:\n{}{}", r.stdout, r.stderr);
    assert_eq!(
        env.tree_hash(),
        before,
        "certsmith {args:?} changed the PKI"
    );
    let err: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("certsmith: warning"))
        .collect();
    assert!(err[0].starts_with("certsmith: "), "{}", r.stderr);
    assert!(err.len() <= 2, "{}", r.stderr);
    err.join("\n")
}

/// root (ecdsa-p384, 10 years) → issuing (ecdsa-p256, 5 years), made at T0.
fn hierarchy(env: &Env) {
    ok_at(
        env,
        T0,
        &["init", "--cn", "Test Root CA", "--no-passphrase"],
    );
    ok_at(
        env,
        T0,
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Test Issuing CA",
            "--no-passphrase",
        ],
    );
}

/// The CRL `crl` wrote for `ca` in a `--json` report.
fn written<'a>(j: &'a serde_json::Value, ca: &str) -> &'a serde_json::Value {
    j["crls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ca"] == ca)
        .unwrap_or_else(|| panic!("no CRL of {ca} in {j}"))
}

/// nextUpdate of `cas/<ca>/crl.pem` as OpenSSL prints it.
fn openssl_next_update(env: &Env, ca: &str) -> String {
    let path = env.pki.join("cas").join(ca).join("crl.pem");
    let (ok, out) = crate::common::openssl(&["crl", "-noout", "-nextupdate", "-in", s(&path)]);
    assert!(ok, "{out}");
    out.trim().to_string()
}

/// Serials (uppercase hex, as OpenSSL prints them) listed by `cas/<ca>/crl.pem`.
fn openssl_listed(env: &Env, ca: &str) -> Vec<String> {
    let path = env.pki.join("cas").join(ca).join("crl.pem");
    let (ok, out) = crate::common::openssl(&["crl", "-noout", "-text", "-in", s(&path)]);
    assert!(ok, "{out}");
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(str::to_string)
        .collect()
}

fn serial_of(env: &Env, at: &str, name: &str) -> String {
    let j = json_at(
        env,
        at,
        &["inspect", s(&env.cert_dir(name).join("cert.pem"))],
    );
    j["certificate"]["serial"]
        .as_str()
        .unwrap()
        .replace(':', "")
        .to_uppercase()
}

// 1. `crl` without --ca

#[test]
fn crl_for_every_ca_reports_an_offline_ca_as_a_note_not_a_failure_and_exits_0() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["key", "offline", "root"]);
    let r = run_at(&env, T0, &["--json", "crl"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["offline"], serde_json::json!(["root"]), "{j}");
    assert_eq!(j["failed"], serde_json::json!([]), "{j}");
    // CRL #1 of the issuing CA was written when it was created.
    assert_eq!(written(&j, "issuing")["crl_number"], 2);
    assert!(r.stderr.contains("CA 'root' is offline"), "{}", r.stderr);
    assert!(!env.pki.join("cas/root/crl.pem").exists());
}

#[test]
fn crl_for_every_ca_says_to_publish_before_the_earliest_next_update() {
    let env = Env::new();
    hierarchy(&env);
    let r = ok_at(&env, T0, &["crl"]);
    assert!(
        r.stdout.contains("Publish it before 2030-01-08T00:00:00Z"),
        "{}",
        r.stdout
    );
}

// 2. per-CA nextUpdate

#[test]
fn crl_without_next_update_gives_roots_180_days_and_issuing_cas_7_days() {
    let env = Env::new();
    hierarchy(&env);
    let j = json_at(&env, T0, &["crl"]);
    assert_eq!(written(&j, "root")["next_update"], "2030-06-30T00:00:00Z");
    assert_eq!(
        written(&j, "issuing")["next_update"],
        "2030-01-08T00:00:00Z"
    );
    assert_eq!(
        openssl_next_update(&env, "root"),
        "nextUpdate=Jun 30 00:00:00 2030 GMT"
    );
}

#[test]
fn ca_set_crl_next_update_is_used_by_later_crls_and_the_flag_overrides_one_run() {
    let env = Env::new();
    hierarchy(&env);
    let before = env.tree_hash();
    let r = ok_at(
        &env,
        T0,
        &["ca", "set-crl", "issuing", "--next-update", "30d"],
    );
    assert!(r.stdout.contains("nextUpdate 30 days"), "{}", r.stdout);
    assert_ne!(env.tree_hash(), before, "the setting is in the ledger");
    let j = json_at(&env, T0, &["crl"]);
    assert_eq!(
        written(&j, "issuing")["next_update"],
        "2030-01-31T00:00:00Z"
    );
    assert_eq!(written(&j, "root")["next_update"], "2030-06-30T00:00:00Z");
    let j = json_at(&env, T0, &["crl", "--ca", "issuing", "--next-update", "2d"]);
    assert_eq!(
        written(&j, "issuing")["next_update"],
        "2030-01-03T00:00:00Z"
    );
    // The override was for one run only.
    let j = json_at(&env, T0, &["crl", "--ca", "issuing"]);
    assert_eq!(
        written(&j, "issuing")["next_update"],
        "2030-01-31T00:00:00Z"
    );
}

#[test]
fn ca_set_crl_refuses_an_unknown_ca_a_bad_length_and_no_flag_leaving_the_pki_unchanged() {
    let env = Env::new();
    hierarchy(&env);
    let err = refused_at(&env, T0, &["ca", "set-crl", "nope", "--next-update", "30d"]);
    assert!(err.contains("'nope'"), "{err}");
    let err = refused_at(
        &env,
        T0,
        &["ca", "set-crl", "issuing", "--next-update", "30q"],
    );
    assert!(err.contains("--next-update '30q'"), "{err}");
    let err = refused_at(
        &env,
        T0,
        &["ca", "set-crl", "issuing", "--prune-after", "0d"],
    );
    assert!(err.contains("--prune-after"), "{err}");
    let err = refused_at(&env, T0, &["ca", "set-crl", "issuing"]);
    assert!(
        err.contains("--next-update") && err.contains("--prune-after"),
        "{err}"
    );
}

#[test]
fn ca_set_crl_refuses_a_next_update_under_an_hour_and_gives_each_flag_its_own_hint() {
    let env = Env::new();
    hierarchy(&env);
    for args in [
        &["ca", "set-crl", "issuing", "--next-update", "1m"][..],
        &["ca", "set-crl", "issuing", "--next-update", "59m"][..],
        &["crl", "--ca", "issuing", "--next-update", "30m"][..],
    ] {
        let err = refused_at(&env, T0, args);
        assert!(err.contains("at least 1 hour"), "{args:?}: {err}");
    }
    let err = refused_at(
        &env,
        T0,
        &[
            "ca",
            "set-crl",
            "issuing",
            "--prune-after",
            "2031-01-01T00:00:00Z",
        ],
    );
    assert!(err.contains("--prune-after"), "{err}");
    assert!(!err.contains("end time"), "{err}");
    let err = refused_at(
        &env,
        T0,
        &["ca", "set-crl", "issuing", "--next-update", "soon"],
    );
    assert!(err.contains("hint:") && !err.contains("end time"), "{err}");
    let r = ok_at(
        &env,
        T0,
        &["ca", "set-crl", "issuing", "--next-update", "1h"],
    );
    assert!(r.stdout.contains("nextUpdate 1 hour"), "{}", r.stdout);
    assert!(r.stdout.contains("30 days (default)"), "{}", r.stdout);
}

#[test]
fn crl_next_update_is_clamped_to_the_ca_not_after_and_says_so() {
    let env = Env::new();
    ok_at(
        &env,
        T0,
        &[
            "init",
            "--cn",
            "Short Root",
            "--no-passphrase",
            "--validity",
            "30d",
        ],
    );
    let r = ok_at(&env, T0, &["crl"]);
    assert!(
        r.stdout.contains("next update 2030-01-31T00:00:00Z")
            && r.stdout.contains("shortened to the CA's notAfter"),
        "{}",
        r.stdout
    );
    let j = json_at(&env, T0, &["crl", "--next-update", "60d"]);
    assert_eq!(written(&j, "root")["next_update"], "2030-01-31T00:00:00Z");
    assert_eq!(written(&j, "root")["clamped"], true);
    assert_eq!(
        openssl_next_update(&env, "root"),
        "nextUpdate=Jan 31 00:00:00 2030 GMT"
    );
}

#[test]
fn crl_of_an_expired_ca_is_refused_leaving_the_pki_unchanged() {
    let env = Env::new();
    ok_at(
        &env,
        T0,
        &[
            "init",
            "--cn",
            "Short Root",
            "--no-passphrase",
            "--validity",
            "30d",
        ],
    );
    let err = refused_at(&env, "2030-03-01T00:00:00Z", &["crl", "--ca", "root"]);
    assert!(
        err.contains("CA 'root' expired on 2030-01-31T00:00:00Z"),
        "{err}"
    );
}

/// root (10 years) and issuing CA 'old' that expires on 2030-03-01.
fn hierarchy_with_expiring_ca(env: &Env) {
    ok_at(env, T0, &["init", "--cn", "Root", "--no-passphrase"]);
    ok_at(
        env,
        T0,
        &[
            "intermediate",
            "old",
            "--cn",
            "Old",
            "--no-passphrase",
            "--validity",
            "2030-03-01T00:00:00Z",
        ],
    );
}

#[test]
fn crl_for_every_ca_skips_an_expired_ca_with_a_note_and_exits_0() {
    let env = Env::new();
    hierarchy_with_expiring_ca(&env);
    let r = run_at(&env, "2030-06-01T00:00:00Z", &["--json", "crl"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["expired"], serde_json::json!(["old"]), "{j}");
    assert_eq!(j["failed"], serde_json::json!([]), "{j}");
    assert_eq!(written(&j, "root")["crl_number"], 1);
    assert!(
        r.stderr
            .contains("note: CA 'old' expired on 2030-03-01T00:00:00Z"),
        "{}",
        r.stderr
    );
    // Only the CRL written when it was created: the run signed none for it.
    let (_, text) = crate::common::openssl(&[
        "crl",
        "-in",
        s(&env.pki.join("cas/old/crl.pem")),
        "-noout",
        "-crlnumber",
    ]);
    assert!(text.contains("crlNumber=0x01"), "{text}");
    // Named with --ca, it is still refused.
    let err = refused_at(&env, "2030-06-01T00:00:00Z", &["crl", "--ca", "old"]);
    assert!(err.contains("CA 'old' expired on"), "{err}");
}

#[test]
fn doctor_says_retire_an_expired_ca_and_rotate_a_ca_whose_crl_is_clamped() {
    let env = Env::new();
    hierarchy_with_expiring_ca(&env);
    ok_at(&env, "2030-01-01T00:00:00Z", &["crl", "--ca", "root"]);
    // Two days before notAfter: the CRL is shortened to it.
    let j = json_at(&env, "2030-02-27T00:00:00Z", &["crl", "--ca", "old"]);
    assert_eq!(written(&j, "old")["clamped"], true);
    let r = ok_at(&env, "2030-02-28T18:00:00Z", &["doctor"]);
    assert!(
        r.stdout.contains("CRL of CA 'old' reaches its nextUpdate")
            && r.stdout.contains("rotate the CA"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("run `certsmith crl --ca old`"),
        "{}",
        r.stdout
    );
    // Once the CA expired, its CRL is not stale: the CA is to be retired.
    let r = run_at(&env, "2030-04-01T00:00:00Z", &["doctor"]);
    assert!(
        !r.stdout.contains("CRL of CA 'old' is past its nextUpdate"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("retire it"), "{}", r.stdout);
    assert!(
        !r.stdout.contains("crl --ca old"),
        "{}{}",
        r.stdout,
        r.stderr
    );
    assert!(
        !r.stderr.contains("crl --ca old"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

// 3. pruning of expired entries

/// issuing CA with device `d` (valid 30 days from T0, revoked at T0).
fn revoked_short_device(env: &Env) -> String {
    hierarchy(env);
    ok_at(
        env,
        T0,
        &["issue", "d", "--ca", "issuing", "--validity", "30d"],
    );
    ok_at(env, T0, &["revoke", "d", "--reason", "key-compromise"]);
    serial_of(env, T0, "d")
}

fn revoked_count(env: &Env, at: &str) -> u64 {
    let j = json_at(env, at, &["crl", "--ca", "issuing"]);
    written(&j, "issuing")["revoked"].as_u64().unwrap()
}

#[test]
fn expired_entry_stays_through_the_grace_period_and_is_gone_after_it() {
    let env = Env::new();
    let serial = revoked_short_device(&env);
    // notAfter 2030-01-31; default grace 30 days, so until 2030-03-02.
    assert_eq!(revoked_count(&env, T0), 1);
    assert_eq!(revoked_count(&env, "2030-02-20T00:00:00Z"), 1);
    assert_eq!(openssl_listed(&env, "issuing"), vec![serial.clone()]);
    assert_eq!(revoked_count(&env, "2030-03-03T00:00:00Z"), 0);
    assert!(openssl_listed(&env, "issuing").is_empty());
}

#[test]
fn expired_entry_is_kept_until_one_crl_issued_after_its_expiry_listed_it() {
    let env = Env::new();
    revoked_short_device(&env);
    assert_eq!(revoked_count(&env, T0), 1);
    // Past the grace period, but no CRL was issued after notAfter yet (RFC 5280 §3.3).
    assert_eq!(revoked_count(&env, "2030-04-01T00:00:00Z"), 1);
    assert_eq!(revoked_count(&env, "2030-04-02T00:00:00Z"), 0);
}

#[test]
fn ca_set_crl_prune_after_shortens_the_grace_period() {
    let env = Env::new();
    revoked_short_device(&env);
    ok_at(
        &env,
        T0,
        &["ca", "set-crl", "issuing", "--prune-after", "1d"],
    );
    assert_eq!(revoked_count(&env, "2030-01-31T12:00:00Z"), 1);
    assert_eq!(revoked_count(&env, "2030-02-01T12:00:00Z"), 0);
}

#[test]
fn revocation_recorded_after_a_crl_with_an_earlier_clock_is_listed_then_pruned_once() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(
        &env,
        T0,
        &["issue", "d", "--ca", "issuing", "--validity", "30d"],
    );
    let serial = serial_of(&env, T0, "d");
    // The host that signs CRLs runs 10 minutes ahead of the one that revokes.
    assert_eq!(revoked_count(&env, "2030-03-10T00:10:00Z"), 0);
    ok_at(
        &env,
        "2030-03-10T00:02:00Z",
        &["revoke", "d", "--reason", "key-compromise"],
    );
    assert_eq!(revoked_count(&env, "2030-03-10T00:12:00Z"), 1);
    assert_eq!(openssl_listed(&env, "issuing"), vec![serial]);
    // A CRL after its notAfter listed it: the next leaves it off, and so do later ones.
    assert_eq!(revoked_count(&env, "2030-03-11T00:00:00Z"), 0);
    assert_eq!(revoked_count(&env, "2030-03-12T00:00:00Z"), 0);
}

// 4. doctor

#[test]
fn doctor_warns_before_a_crl_next_update_naming_the_ca_and_the_crl_command() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    let r = ok_at(&env, "2030-01-02T00:00:00Z", &["doctor"]);
    assert!(!r.stdout.contains("nextUpdate"), "{}", r.stdout);
    // A quarter of the 7-day interval is left: 42 hours.
    let r = ok_at(&env, "2030-01-06T12:00:00Z", &["doctor"]);
    assert!(
        r.stdout.contains(
            "warning: CRL of CA 'issuing' reaches its nextUpdate in 36 hours (2030-01-08T00:00:00Z); run `certsmith crl --ca issuing`"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn doctor_past_next_update_names_the_crl_command_and_does_not_suggest_repair() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    let r = run_at(&env, "2030-01-09T00:00:00Z", &["doctor"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("CRL of CA 'issuing' is past its nextUpdate")
            && r.stdout.contains("run `certsmith crl --ca issuing`"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("--repair"), "{}", r.stdout);
    assert!(!r.stderr.contains("--repair"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: run `certsmith crl --ca issuing`"),
        "{}",
        r.stderr
    );
}

#[test]
fn doctor_is_clean_for_an_offline_root_whose_key_file_is_in_the_safe() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    ok_at(&env, T0, &["key", "offline", "root"]);
    let key = env.pki.join("cas/root/ca.key.pem");
    let safe = env.path("safe-root.key.pem");
    std::fs::rename(&key, &safe).unwrap();
    let r = ok_at(&env, "2030-01-02T00:00:00Z", &["doctor"]);
    assert!(r.stdout.contains("No problems found."), "{}", r.stdout);
    // The offline-root routine: key back, CRL, key away again.
    std::fs::rename(&safe, &key).unwrap();
    ok_at(&env, "2030-06-10T00:00:00Z", &["key", "online", "root"]);
    let j = json_at(&env, "2030-06-10T00:00:00Z", &["crl", "--ca", "root"]);
    assert_eq!(written(&j, "root")["next_update"], "2030-12-07T00:00:00Z");
    ok_at(&env, "2030-06-10T00:00:00Z", &["key", "offline", "root"]);
    std::fs::rename(&key, &safe).unwrap();
    let j = json_at(&env, "2030-06-10T00:00:00Z", &["crl"]);
    assert_eq!(j["offline"], serde_json::json!(["root"]), "{j}");
}

#[test]
fn doctor_for_a_missing_online_ca_key_says_to_put_it_back_not_to_repair() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    std::fs::rename(
        env.pki.join("cas/issuing/ca.key.pem"),
        env.path("issuing.key.pem"),
    )
    .unwrap();
    let r = run_at(&env, "2030-01-09T00:00:00Z", &["doctor"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let hint = r
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint: {}", r.stderr));
    assert!(!hint.contains("--repair"), "{}", r.stderr);
    assert!(
        hint.contains("put the key file back")
            && hint.contains("cas/issuing/ca.key.pem")
            && hint.contains("key offline issuing"),
        "{}",
        r.stderr
    );
    // The key comes first: the CRL cannot be signed without it.
    let key_at = hint.find("put the key file back").unwrap();
    let crl_at = hint.find("certsmith crl --ca issuing").unwrap();
    assert!(key_at < crl_at, "{hint}");
}

// 5. ALB revocation routine

fn alb(env: &Env, at: &str, extra: &[&str]) -> Run {
    let mut a = vec!["bundle", "--target", "aws-alb", "--with-crl"];
    a.extend_from_slice(extra);
    ok_at(env, at, &a)
}

fn lines_with<'a>(out: &'a str, what: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.contains(what)).collect()
}

/// The steps for the existing trust store: what follows the line that starts them.
fn existing_store_steps(out: &str) -> &str {
    let at = out
        .find("# OR, the existing trust store")
        .unwrap_or_else(|| panic!("no steps for the existing trust store:\n{out}"));
    &out[at..]
}

/// Confirms the add of `ca`'s CRL as revocation `id` of trust store `store`.
fn confirm(env: &Env, store: &str, ca_id: &str) -> Run {
    ok_at(
        env,
        T0,
        &[
            "bundle",
            "--target",
            "aws-alb",
            "--trust-store",
            store,
            "--uploaded",
            ca_id,
        ],
    )
}

#[test]
fn alb_quiet_bundle_records_nothing_so_the_next_bundle_still_prints_every_add() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    let quiet = alb(&env, T0, &["-q"]);
    assert_eq!(quiet.stdout, "", "{}", quiet.stdout);
    let again = alb(&env, T0, &[]).stdout;
    let steps = existing_store_steps(&again);
    assert_eq!(
        lines_with(steps, "add-trust-store-revocations").len(),
        2,
        "{again}"
    );
    assert!(
        lines_with(steps, "remove-trust-store-revocations").is_empty(),
        "{again}"
    );
    assert!(!again.contains("nothing to add"), "{again}");
    assert!(
        lines_with(steps, "add-trust-store-revocations")
            .iter()
            .all(|l| l.contains("--query 'TrustStoreRevocations[].RevocationId' --output text")),
        "{again}"
    );
}

#[test]
fn alb_bundle_after_a_confirmed_upload_prints_nothing_to_add_until_the_crl_changes() {
    let env = confirmed_alb_uploads();
    let second = alb(&env, T0, &[]).stdout;
    let steps = existing_store_steps(&second);
    assert!(
        lines_with(steps, "add-trust-store-revocations").is_empty(),
        "{second}"
    );
    assert!(
        lines_with(steps, "remove-trust-store-revocations").is_empty(),
        "{second}"
    );
    // Next to create-trust-store, a new trust store still gets every CRL.
    assert_eq!(
        lines_with(&second, "add-trust-store-revocations").len(),
        2,
        "{second}"
    );
}

#[test]
fn alb_remove_carries_the_confirmed_revocation_id_of_the_replaced_crl() {
    let env = confirmed_alb_uploads();
    ok_at(&env, T0, &["issue", "d", "--ca", "issuing"]);
    ok_at(&env, T0, &["revoke", "d"]);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    let out = alb(&env, T0, &[]).stdout;
    let steps = existing_store_steps(&out);
    let adds = lines_with(steps, "add-trust-store-revocations");
    assert_eq!(adds.len(), 1, "{out}");
    assert!(adds[0].contains("crl-issuing.pem"), "{out}");
    let removes = lines_with(steps, "remove-trust-store-revocations");
    assert_eq!(removes.len(), 1, "{out}");
    assert!(removes[0].ends_with("--revocation-ids 12"), "{out}");
    // The add comes first, then its confirmation, then the remove.
    let add_at = steps.find("add-trust-store-revocations").unwrap();
    let confirm_at = steps.find("--uploaded issuing#3=REVOCATION_ID").unwrap();
    let remove_at = steps.find("remove-trust-store-revocations").unwrap();
    assert!(add_at < confirm_at && confirm_at < remove_at, "{out}");
}

#[test]
fn alb_force_prints_every_add_and_no_remove() {
    let env = confirmed_alb_uploads();
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    let out = alb(&env, T0, &["--force"]).stdout;
    let steps = existing_store_steps(&out);
    assert_eq!(
        lines_with(steps, "add-trust-store-revocations").len(),
        2,
        "{out}"
    );
    assert!(
        lines_with(&out, "remove-trust-store-revocations").is_empty(),
        "{out}"
    );
    let err = refused_at(&env, T0, &["bundle", "--target", "nginx", "--force"]);
    assert!(
        err.contains("--force is only used by --target aws-alb"),
        "{err}"
    );
}

#[test]
fn alb_uploads_of_two_trust_stores_are_tracked_separately() {
    let env = confirmed_alb_uploads();
    let other = alb(&env, T0, &["--trust-store", "eu"]).stdout;
    let steps = existing_store_steps(&other);
    assert_eq!(
        lines_with(steps, "add-trust-store-revocations").len(),
        2,
        "{other}"
    );
    assert!(
        other.contains("--trust-store eu --uploaded root#1=REVOCATION_ID"),
        "{other}"
    );
    let default = existing_store_steps(&alb(&env, T0, &[]).stdout).to_string();
    assert!(
        lines_with(&default, "add-trust-store-revocations").is_empty(),
        "{default}"
    );
}

#[test]
fn alb_uploaded_refuses_an_unknown_ca_a_bad_id_and_a_ca_without_a_bundled_crl() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    let err = refused_at(
        &env,
        T0,
        &["bundle", "--target", "aws-alb", "--uploaded", "root#1=11"],
    );
    assert!(err.contains("crl-root.pem"), "{err}");
    alb(&env, T0, &[]);
    for (arg, says) in [
        ("nope#1=11", "'nope'"),
        ("root=REVOCATION_ID", "'root=REVOCATION_ID'"),
        ("root", "'root'"),
    ] {
        let err = refused_at(
            &env,
            T0,
            &["bundle", "--target", "aws-alb", "--uploaded", arg],
        );
        assert!(err.contains(says), "{arg}: {err}");
    }
    // A CRL signed after the bundle is not the one the bundle printed.
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    let err = refused_at(
        &env,
        T0,
        &[
            "bundle",
            "--target",
            "aws-alb",
            "--uploaded",
            "issuing#2=12",
        ],
    );
    assert!(err.contains("'issuing'"), "{err}");
}

#[test]
fn alb_bundle_with_31_crls_breaks_the_revocation_list_quota_and_writes_nothing() {
    let env = Env::new();
    ok_at(&env, T0, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    for i in 0..30 {
        let n = format!("ca{i:02}");
        ok_at(
            &env,
            T0,
            &["intermediate", &n, "--cn", &n, "--no-passphrase", "-q"],
        );
    }
    ok_at(&env, T0, &["crl", "-q"]);
    let before = env.tree_hash();
    let r = run_at(&env, T0, &["bundle", "--target", "aws-alb", "--with-crl"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("aws-alb rule 'revocation-list-count'")
            && r.stderr.contains("31 CRLs")
            && r.stderr.contains("30"),
        "{}",
        r.stderr
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn alb_revocation_quotas_hold_at_the_limits_and_break_one_past_them() {
    use certsmith::bundle::checks::{AlbRevocations, Rules};
    // 50 MB as AWS states it: 50,000,000 bytes.
    let ok = AlbRevocations {
        lists: 30,
        entries: 500_000,
        largest: Some(("Root".into(), 50_000_000)),
        replaced: Vec::new(),
    };
    // At the peak of the printed steps: one list more, and the replaced list's entries.
    let ok_peak = AlbRevocations {
        lists: 29,
        entries: 400_000,
        replaced: vec![(50_000, 100_000)],
        ..ok.clone()
    };
    for fine in [&ok, &ok_peak] {
        assert!(
            Rules::new("aws-alb")
                .alb_revocation_quotas(fine)
                .done()
                .is_empty(),
            "{fine:?}"
        );
    }
    for (bad, rule) in [
        (
            AlbRevocations {
                lists: 31,
                ..ok.clone()
            },
            "revocation-list-count",
        ),
        (
            AlbRevocations {
                entries: 500_001,
                ..ok.clone()
            },
            "revocation-entry-count",
        ),
        (
            AlbRevocations {
                largest: Some(("Root".into(), 50_000_001)),
                ..ok.clone()
            },
            "crl-file-size",
        ),
        (
            AlbRevocations {
                lists: 30,
                ..ok_peak.clone()
            },
            "revocation-list-count",
        ),
        (
            AlbRevocations {
                replaced: vec![(50_000, 100_001)],
                ..ok_peak.clone()
            },
            "revocation-entry-count",
        ),
    ] {
        let found = Rules::new("aws-alb").alb_revocation_quotas(&bad).done();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, rule);
        assert_eq!(found[0].level, certsmith::bundle::Level::Error);
        assert!(
            found[0].message.contains("load-balancer-limits"),
            "{found:?}"
        );
    }
}

#[test]
fn alb_bundle_names_a_confirmed_ca_no_longer_bundled_with_its_remove_until_cleared() {
    let env = confirmed_alb_uploads();
    let out = alb(&env, T0, &["--ca", "root"]).stdout;
    let removes = lines_with(&out, "remove-trust-store-revocations");
    assert_eq!(removes.len(), 1, "{out}");
    assert!(removes[0].ends_with("--revocation-ids 12"), "{out}");
    assert!(out.contains("--removed issuing"), "{out}");
    ok_at(
        &env,
        T0,
        &["bundle", "--target", "aws-alb", "--removed", "issuing"],
    );
    let out = alb(&env, T0, &["--ca", "root"]).stdout;
    assert!(
        lines_with(&out, "remove-trust-store-revocations").is_empty(),
        "{out}"
    );
}

// 6. the current CRL for `certsmith serve`

/// Runs `crl::current` for CA 'issuing' in a child process at `at` and
/// says whether it signed a new CRL, with the CRL number it returned.
fn current_at(env: &Env, at: &str) -> (bool, String) {
    let out = crate::common::run_child_test(
        "crl_life::crl_current_child",
        &[
            ("CERTSMITH_NOW", std::ffi::OsStr::new(at)),
            ("CRL_LIFE_PKI", env.pki.as_os_str()),
        ],
        &env.pki,
    );
    let line = out
        .lines()
        .find_map(|l| l.split_once("current: ").map(|(_, r)| r.trim()))
        .unwrap_or_else(|| panic!("{out}"));
    let (written, number) = line.split_once(' ').unwrap();
    (written == "written", number.to_string())
}

#[test]
#[ignore = "run by crl_current_signs_only_when_due_or_when_the_ledger_changed"]
fn crl_current_child() {
    use certsmith::passphrase::PassOptions;
    let pki = certsmith::pki::Pki::at(std::env::var_os("CRL_LIFE_PKI").unwrap());
    let mut ledger = pki.open_ledger().unwrap();
    let signer =
        certsmith::ca::Signer::load_for_crl(&pki, &ledger, "issuing", &PassOptions::default())
            .unwrap();
    let c = certsmith::crl::current(&pki, &mut ledger, &signer).unwrap();
    let info = certsmith::crl::CrlInfo::from_der(&c.der, "current").unwrap();
    println!(
        "current: {} {}",
        if c.written.is_some() {
            "written"
        } else {
            "same"
        },
        info.number.unwrap()
    );
}

#[test]
fn crl_current_signs_only_when_due_or_when_the_ledger_changed() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    // CRL #1 was written when the CA was created, #2 by `crl`.
    assert_eq!(
        current_at(&env, "2030-01-02T00:00:00Z"),
        (false, "2".into())
    );
    ok_at(
        &env,
        "2030-01-02T00:00:00Z",
        &["issue", "d", "--ca", "issuing"],
    );
    ok_at(&env, "2030-01-02T00:00:00Z", &["revoke", "d"]);
    assert_eq!(current_at(&env, "2030-01-02T00:00:00Z"), (true, "3".into()));
    assert_eq!(openssl_listed(&env, "issuing").len(), 1);
    // A 7-day CRL from 2030-01-02 is due 42 hours before 2030-01-09.
    assert_eq!(
        current_at(&env, "2030-01-07T00:00:00Z"),
        (false, "3".into())
    );
    assert_eq!(current_at(&env, "2030-01-08T00:00:00Z"), (true, "4".into()));
    // Recorded like `crl`: the next number follows.
    let j = json_at(&env, "2030-01-08T00:00:00Z", &["crl", "--ca", "issuing"]);
    assert_eq!(written(&j, "issuing")["crl_number"], 5);
}

#[test]
fn alb_bundle_quotes_paths_with_spaces_in_printed_commands() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    let dir = env.path("my bundles/alb");
    let out = alb(&env, T0, &["--out", s(&dir)]).stdout;
    let want = format!("aws s3 cp '{}/crl-issuing.pem' s3://", dir.display());
    assert!(out.contains(&want), "{out}");
    assert!(
        out.contains(&format!(
            "--out '{}' --uploaded issuing#2=REVOCATION_ID",
            dir.display()
        )),
        "{out}"
    );
    // The printed confirmation works as printed.
    ok_at(
        &env,
        T0,
        &[
            "bundle",
            "--target",
            "aws-alb",
            "--out",
            s(&dir),
            "--uploaded",
            "issuing#2=5",
        ],
    );
    let again = alb(&env, T0, &["--out", s(&dir)]).stdout;
    let steps = existing_store_steps(&again);
    let adds = lines_with(steps, "add-trust-store-revocations");
    assert_eq!(adds.len(), 1, "{again}");
    assert!(adds[0].contains("crl-root.pem"), "{again}");
}

#[test]
fn alb_bundle_replacing_a_crl_in_a_store_of_30_lists_breaks_the_quota_at_the_peak() {
    let env = Env::new();
    ok_at(&env, T0, &["init", "--cn", "Root", "--no-passphrase", "-q"]);
    for i in 0..29 {
        let n = format!("ca{i:02}");
        ok_at(
            &env,
            T0,
            &["intermediate", &n, "--cn", &n, "--no-passphrase", "-q"],
        );
    }
    ok_at(&env, T0, &["crl", "-q"]);
    // 30 CRLs: a new trust store takes them all.
    alb(&env, T0, &["-q"]);
    let mut confirm_all = vec!["bundle", "--target", "aws-alb"];
    let ids: Vec<String> = std::iter::once("root".to_string())
        .chain((0..29).map(|i| format!("ca{i:02}")))
        .enumerate()
        // CRL #1 of each intermediate was written when it was created.
        .map(|(i, n)| format!("{n}#{}={}", if n == "root" { 1 } else { 2 }, i + 1))
        .collect();
    for id in &ids {
        confirm_all.extend(["--uploaded", id.as_str()]);
    }
    ok_at(&env, T0, &confirm_all);
    // One changed CRL: its add needs a 31st list before the remove.
    ok_at(&env, T0, &["crl", "--ca", "ca00", "-q"]);
    let before = env.tree_hash();
    let r = run_at(&env, T0, &["bundle", "--target", "aws-alb", "--with-crl"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("aws-alb rule 'revocation-list-count'")
            && r.stderr
                .contains("31 CRLs while a CRL is added before the one it replaces is removed"),
        "{}",
        r.stderr
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn alb_uploaded_naming_a_crl_the_bundle_no_longer_holds_is_refused_naming_the_one_it_holds() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    alb(&env, T0, &[]);
    confirm(&env, "default", "issuing#2=101");
    ok_at(&env, T0, &["issue", "d", "--ca", "issuing"]);
    ok_at(&env, T0, &["revoke", "d"]);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    let out = alb(&env, T0, &[]).stdout;
    assert!(
        existing_store_steps(&out).contains("--uploaded issuing#3=REVOCATION_ID"),
        "{out}"
    );
    // The operator uploads CRL #3 as 103; meanwhile someone signs CRL #4 and bundles it.
    ok_at(&env, T0, &["issue", "d2", "--ca", "issuing"]);
    ok_at(&env, T0, &["revoke", "d2"]);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    alb(&env, T0, &["-q"]);
    let err = refused_at(
        &env,
        T0,
        &[
            "bundle",
            "--target",
            "aws-alb",
            "--uploaded",
            "issuing#3=103",
        ],
    );
    assert!(err.contains("CRL #3") && err.contains("CRL #4"), "{err}");
    assert!(err.contains("add-trust-store-revocations"), "{err}");
    // Nothing was recorded: the next bundle still adds issuing's CRL and removes 101.
    let steps = existing_store_steps(&alb(&env, T0, &[]).stdout).to_string();
    assert_eq!(
        lines_with(&steps, "S3Key=certsmith/crl-issuing.pem").len(),
        1,
        "{steps}"
    );
    assert!(
        steps.contains("--uploaded issuing#4=REVOCATION_ID"),
        "{steps}"
    );
    assert!(steps.contains("--revocation-ids 101"), "{steps}");
    // The same confirmation without the CRL it names is refused too.
    let err = refused_at(
        &env,
        T0,
        &["bundle", "--target", "aws-alb", "--uploaded", "issuing=103"],
    );
    assert!(err.contains("'issuing=103'"), "{err}");
}

#[test]
fn alb_uploaded_refuses_an_id_recorded_for_another_ca_and_the_same_ca_twice() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    alb(&env, T0, &[]);
    let err = refused_at(
        &env,
        T0,
        &[
            "bundle",
            "--target",
            "aws-alb",
            "--uploaded",
            "issuing#2=7",
            "--uploaded",
            "root#1=7",
        ],
    );
    assert!(err.contains("7"), "{err}");
    let err = refused_at(
        &env,
        T0,
        &[
            "bundle",
            "--target",
            "aws-alb",
            "--uploaded",
            "issuing#2=7",
            "--uploaded",
            "issuing#2=8",
        ],
    );
    assert!(err.contains("'issuing'") && err.contains("twice"), "{err}");
    confirm(&env, "default", "issuing#2=7");
    let err = refused_at(
        &env,
        T0,
        &["bundle", "--target", "aws-alb", "--uploaded", "root#1=7"],
    );
    assert!(
        err.contains("RevocationId 7") && err.contains("'issuing'"),
        "{err}"
    );
    // Another trust store has its own ids.
    alb(&env, T0, &["--trust-store", "eu"]);
    confirm(&env, "eu", "root#1=7");
}

#[test]
fn alb_steps_print_a_new_and_an_existing_trust_store_as_two_blocks_whose_confirms_carry_pki() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    let out = alb(&env, T0, &[]).stdout;
    let new_at = out
        .find("# EITHER a new trust store")
        .unwrap_or_else(|| panic!("{out}"));
    let old_at = out
        .find("# OR, the existing trust store")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(new_at < old_at, "{out}");
    let (new, old) = (&out[new_at..old_at], &out[old_at..]);
    for block in [new, old] {
        assert_eq!(
            lines_with(block, "add-trust-store-revocations").len(),
            2,
            "{out}"
        );
        assert_eq!(lines_with(block, "modify-listener").len(), 1, "{out}");
    }
    assert!(lines_with(old, "create-trust-store").is_empty(), "{out}");
    assert!(lines_with(new, "modify-trust-store").is_empty(), "{out}");
    let confirms = lines_with(&out, "--uploaded");
    assert!(confirms.len() >= 4, "{out}");
    let pki = format!("--pki {}", env.pki.display());
    assert!(confirms.iter().all(|l| l.contains(&pki)), "{out}");
}

#[test]
fn alb_revocation_entry_peak_counts_every_old_list_still_held_in_the_printed_order() {
    use certsmith::bundle::checks::{AlbRevocations, Rules};
    // Add A, remove A, add B, remove B with A 250,000 -> 10,000 and B 245,000 -> 10,000:
    // right after the add of A the store holds old A, old B and new A: 505,000.
    let shrinking = AlbRevocations {
        lists: 2,
        entries: 20_000,
        largest: Some(("A".into(), 1_000)),
        replaced: vec![(10_000, 250_000), (10_000, 245_000)],
    };
    let found = Rules::new("aws-alb")
        .alb_revocation_quotas(&shrinking)
        .done();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "revocation-entry-count");
    assert!(found[0].message.contains("505000"), "{found:?}");
    // The same lists 5,000 smaller stay within the quota.
    let fits = AlbRevocations {
        replaced: vec![(10_000, 245_000), (10_000, 245_000)],
        ..shrinking
    };
    let found = Rules::new("aws-alb").alb_revocation_quotas(&fits).done();
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn doctor_reports_a_signed_crl_whose_published_file_was_deleted_naming_the_crl_command() {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl", "--ca", "issuing"]);
    std::fs::remove_file(env.pki.join("cas/issuing/crl.pem")).unwrap();
    let r = run_at(&env, T0, &["doctor"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("CRL of CA 'issuing'")
            && r.stdout.contains("CRL #2")
            && r.stdout.contains("run `certsmith crl --ca issuing`"),
        "{}",
        r.stdout
    );
    // root never had a CRL: nothing to say about it.
    assert!(!r.stdout.contains("CRL of CA 'root'"), "{}", r.stdout);
}

/// dev1 (valid until 2028-01-01) revoked on 2027-01-02, on the CRL of a clock
/// that then ran two years ahead (2029-01-02 and 2029-01-03 CRLs drop it).
fn revoked_then_clock_ahead(env: &Env) {
    let t = "2027-01-01T00:00:00Z";
    ok_at(env, t, &["init", "--cn", "Test Root CA", "--no-passphrase"]);
    ok_at(
        env,
        t,
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Test Issuing CA",
            "--no-passphrase",
        ],
    );
    ok_at(
        env,
        t,
        &["issue", "dev1", "--ca", "issuing", "--validity", "365d"],
    );
    ok_at(env, "2027-01-02T00:00:00Z", &["revoke", "dev1"]);
    assert_eq!(revoked_count(env, "2027-01-02T00:00:00Z"), 1);
    assert_eq!(revoked_count(env, "2029-01-02T00:00:00Z"), 1);
    assert_eq!(revoked_count(env, "2029-01-03T00:00:00Z"), 0);
}

#[test]
fn crl_before_the_last_this_update_of_its_ca_is_refused_naming_both_times() {
    let env = Env::new();
    revoked_then_clock_ahead(&env);
    let err = refused_at(&env, "2027-01-05T00:00:00Z", &["crl", "--ca", "issuing"]);
    assert!(
        err.contains("2027-01-05T00:00:00Z") && err.contains("2029-01-03T00:00:00Z"),
        "{err}"
    );
    assert!(err.contains("clock"), "{err}");
}

#[test]
fn dropped_entry_is_listed_again_when_the_grace_period_no_longer_covers_it() {
    let env = Env::new();
    revoked_then_clock_ahead(&env);
    // A longer grace period: dev1's notAfter (2028-01-01) is no longer 2 years before now.
    ok_at(
        &env,
        "2029-01-04T00:00:00Z",
        &["ca", "set-crl", "issuing", "--prune-after", "800d"],
    );
    assert_eq!(revoked_count(&env, "2029-01-04T00:00:00Z"), 1);
    // Once the longer grace period has passed (2030-03-11), it leaves again.
    assert_eq!(revoked_count(&env, "2030-03-10T00:00:00Z"), 1);
    assert_eq!(revoked_count(&env, "2030-03-12T00:00:00Z"), 0);
}

/// A root and an issuing CA whose first CRLs were bundled for aws-alb and
/// confirmed uploaded to the `default` trust store as ids 11 and 12.
fn confirmed_alb_uploads() -> Env {
    let env = Env::new();
    hierarchy(&env);
    ok_at(&env, T0, &["crl"]);
    alb(&env, T0, &[]);
    confirm(&env, "default", "root#1=11");
    confirm(&env, "default", "issuing#2=12");
    env
}
