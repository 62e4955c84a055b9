//! What the review of token CA keys found: a token key paired with a public
//! key that is not its own, one wrong PIN tried once per CA, the PIN file's
//! extra lines, a moved module, and another CA's key reused.

use std::path::PathBuf;

use super::cli::token_flags;
use super::{Hsm, PIN};
use crate::common::{Env, openssl, openssl_verify, run_child_test, s};

/// OpenSC's PKCS#11 spy: logs every call, then passes it to `$PKCS11SPY`.
const SPY: &str = "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so";

/// `hsm`'s token seen through the spy module, logging to `log`.
struct Spied<'a> {
    hsm: &'a Hsm,
    log: PathBuf,
}

impl Spied<'_> {
    fn new<'a>(env: &Env, hsm: &'a Hsm) -> Option<Spied<'a>> {
        if !std::path::Path::new(SPY).is_file() {
            super::skip_unless_allowed(&format!("{SPY} is not installed (apt-get install opensc)"));
            return None;
        }
        Some(Spied {
            hsm,
            log: env.path("spy.log"),
        })
    }

    fn vars(&self) -> [(&str, &str); 2] {
        [
            ("PKCS11SPY", self.hsm.module()),
            ("PKCS11SPY_OUTPUT", s(&self.log)),
        ]
    }

    /// The flags that put a new CA's key in the token through the spy.
    fn flags<'b>(&'b self, uri: &'b str) -> Vec<&'b str> {
        let mut f = token_flags(self.hsm, uri);
        f[3] = SPY;
        f
    }

    /// Runs certsmith with a fresh log; (run, number of C_Login calls).
    fn run(&self, env: &Env, args: &[&str]) -> (crate::common::Run, usize) {
        let _ = std::fs::remove_file(&self.log);
        let r = self.hsm.run_with(env, args, &self.vars());
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        (r, log.lines().filter(|l| l.contains("C_Login")).count())
    }
}

/// Two EC key pairs with the same CKA_ID `0a0a`, made in order dupB, dupA.
fn twin_keys(hsm: &Hsm) {
    for label in ["dupB", "dupA"] {
        hsm.p256_key_pair(label, "0a0a");
    }
}

/// The DER SubjectPublicKeyInfo of the public object labelled `label`.
fn public_object(hsm: &Hsm, env: &Env, label: &str) -> Vec<u8> {
    let out = env.path(&format!("{label}.pub.der"));
    let (ok, text) = hsm.pkcs11_tool(&[
        "--read-object",
        "--type",
        "pubkey",
        "--label",
        label,
        "-o",
        s(&out),
    ]);
    assert!(ok, "{text}");
    std::fs::read(out).unwrap()
}

/// The DER SubjectPublicKeyInfo of the certificate at `pem`.
fn cert_spki(env: &Env, pem: &std::path::Path) -> Vec<u8> {
    let out = env.path("cert.pub.der");
    let (ok, text) = openssl(&[
        "x509",
        "-in",
        s(pem),
        "-noout",
        "-pubkey",
        "-out",
        s(&env.path("cert.pub.pem")),
    ]);
    assert!(ok, "{text}");
    let (ok, text) = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        s(&env.path("cert.pub.pem")),
        "-outform",
        "DER",
        "-out",
        s(&out),
    ]);
    assert!(ok, "{text}");
    std::fs::read(out).unwrap()
}

#[test]
fn token_key_sharing_its_id_with_another_key_pair_certifies_its_own_public_key() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "t2") else {
        return;
    };
    twin_keys(&hsm);
    let uri = hsm.uri(";object=dupA");
    hsm.init_root(&env, "Twin Root", &uri);
    assert_eq!(
        cert_spki(&env, &env.root_pem()),
        public_object(&hsm, &env, "dupA"),
        "the root certifies another key pair's public key"
    );
    hsm.issue_verified(&env, "dev-1", "root");
}

#[test]
fn token_key_whose_public_object_matches_twice_is_refused_with_the_pki_unmade() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "t2") else {
        return;
    };
    twin_keys(&hsm);
    // dupB's public key again, labelled dupA: two public objects match dupA.
    let b = env.path("b.pub.der");
    std::fs::write(&b, public_object(&hsm, &env, "dupB")).unwrap();
    let (ok, out) = hsm.pkcs11_tool(&[
        "--write-object",
        s(&b),
        "--type",
        "pubkey",
        "--label",
        "dupA",
        "--id",
        "0a0a",
    ]);
    assert!(ok, "{out}");
    let uri = hsm.uri(";object=dupA");
    let mut init = vec!["init", "--cn", "Twin Root", "-q"];
    init.extend(token_flags(&hsm, &uri));
    let r = hsm.run(&env, &init);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("holds 2 public keys beside"),
        "{}",
        r.stderr
    );
    assert!(!env.pki.exists(), "a refused init left a PKI directory");
}

/// A token P-256 root CA whose private key object was then replaced by
/// another key pair's, its old public object kept; `None` when skipped.
fn p256_root_with_its_private_key_swapped(env: &Env) -> Option<Hsm> {
    let hsm = Hsm::new(env, "acme-ca")?;
    let uri = hsm.uri("");
    let mut init = vec!["init", "--cn", "Token Root CA", "--key", "ecdsa-p256", "-q"];
    init.extend(token_flags(&hsm, &uri));
    hsm.ok(env, &init);
    swap_private_key(&hsm, env, "root", "726f6f74");
    Some(hsm)
}

/// Replaces the private key of token CA `label` (CKA_ID its bytes in hex
/// `id`) with a new one, keeping the old public object.
fn swap_private_key(hsm: &Hsm, env: &Env, label: &str, id: &str) {
    let old = env.path("old.pub.der");
    std::fs::write(&old, public_object(hsm, env, label)).unwrap();
    for t in ["privkey", "pubkey"] {
        let (ok, out) = hsm.pkcs11_tool(&["--delete-object", "--type", t, "--label", label]);
        assert!(ok, "{out}");
    }
    hsm.p256_key_pair(label, id);
    let (ok, out) = hsm.pkcs11_tool(&["--delete-object", "--type", "pubkey", "--label", label]);
    assert!(ok, "{out}");
    let (ok, out) = hsm.pkcs11_tool(&[
        "--write-object",
        s(&old),
        "--type",
        "pubkey",
        "--label",
        label,
        "--id",
        id,
    ]);
    assert!(ok, "{out}");
}

#[test]
fn replaced_token_private_key_behind_the_old_public_object_signs_nothing_and_doctor_says_so() {
    let env = Env::new();
    let Some(hsm) = p256_root_with_its_private_key_swapped(&env) else {
        return;
    };
    let before = env.tree_hash();
    let r = hsm.run(
        &env,
        &[
            "issue",
            "dev-1",
            "--ca",
            "root",
            "--pin-file",
            hsm.pin_file(),
            "-q",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before, "a failed issue changed the PKI");
    let r = hsm.run(&env, &["crl", "--pin-file", hsm.pin_file(), "-q"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(env.tree_hash(), before, "a failed crl changed the PKI");
    let r = hsm.run(&env, &["doctor", "--pin-file", hsm.pin_file()]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        !r.stdout.contains("token key matches"),
        "doctor passed a token key that does not sign for its certificate:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("does not belong"), "{}", r.stdout);
    assert!(!r.stdout.contains("doctor --repair"), "{}", r.stdout);
}

/// A root and two intermediates, all three keys in `hsm`'s token through the spy.
fn three_spied_cas<'a>(env: &Env, spy: &Spied<'a>) {
    let uri = spy.hsm.uri("");
    let mut init = vec!["init", "--cn", "Token Root CA", "-q"];
    init.extend(spy.flags(&uri));
    assert_eq!(spy.run(env, &init).0.code, 0);
    for name in ["issuing", "devices"] {
        let mut inter = vec!["intermediate", name, "--cn", name, "-q"];
        inter.extend(spy.flags(&uri));
        let (r, _) = spy.run(env, &inter);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
}

#[test]
fn one_wrong_pin_is_tried_once_per_token_by_doctor_and_crl_whatever_the_number_of_its_cas() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let Some(spy) = Spied::new(&env, &hsm) else {
        return;
    };
    three_spied_cas(&env, &spy);
    let bad = env.path("bad.pin");
    std::fs::write(&bad, "000000\n").unwrap();
    let before = env.tree_hash();
    let (r, logins) = spy.run(&env, &["doctor", "--pin-file", s(&bad)]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("wrong user PIN"), "{}", r.stdout);
    assert_eq!(logins, 1, "doctor tried a wrong PIN {logins} times");
    let (r, logins) = spy.run(&env, &["crl", "--pin-file", s(&bad)]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(logins, 1, "crl tried a wrong PIN {logins} times");
    assert_eq!(env.tree_hash(), before);
    // The right PIN: one login for the three CAs.
    let (r, logins) = spy.run(&env, &["crl", "--pin-file", hsm.pin_file(), "-q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(logins, 1, "crl logged in {logins} times");
}

#[test]
fn pin_file_gives_its_first_line_and_a_second_non_empty_line_is_refused_before_any_login() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let Some(spy) = Spied::new(&env, &hsm) else {
        return;
    };
    let uri = hsm.uri("");
    let mut init = vec!["init", "--cn", "Token Root CA", "-q"];
    init.extend(spy.flags(&uri));
    assert_eq!(spy.run(&env, &init).0.code, 0);
    let pin = env.path("lines.pin");
    for (i, text) in [format!("{PIN}\n\n"), format!("{PIN}\r\n"), PIN.to_string()]
        .iter()
        .enumerate()
    {
        std::fs::write(&pin, text).unwrap();
        let name = format!("dev-{i}");
        let (r, _) = spy.run(&env, &["issue", &name, "--pin-file", s(&pin), "-q"]);
        assert_eq!(r.code, 0, "PIN file {text:?}: {}", r.stderr);
    }
    std::fs::write(&pin, format!("{PIN}\nsecond\n")).unwrap();
    let before = env.tree_hash();
    let (r, logins) = spy.run(&env, &["issue", "dev-9", "--pin-file", s(&pin)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("PIN file '") && r.stderr.contains("' has more than one line"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(PIN), "{}", r.stderr);
    assert_eq!(logins, 0, "a PIN file with two lines was tried");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn moved_module_is_found_again_through_the_environment_variable() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let module = env.path("softhsm-old.so");
    std::fs::copy(&hsm.module, &module).unwrap();
    let uri = hsm.uri("");
    hsm.init_root_with_module(&env, "Token Root CA", &uri, &module);
    let moved = env.path("softhsm-new.so");
    std::fs::rename(&module, &moved).unwrap();
    let err = hsm.refused(&env, &["issue", "dev-1", "--pin-file", hsm.pin_file()], &[]);
    assert!(err.contains("CERTSMITH_PKCS11_MODULE"), "{err}");
    let r = hsm.run_with(
        &env,
        &["issue", "dev-1", "--pin-file", hsm.pin_file(), "-q"],
        &[("CERTSMITH_PKCS11_MODULE", s(&moved))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        None,
        &env.cert_dir("dev-1").join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
}

#[test]
fn token_key_of_another_ca_is_refused_for_a_new_ca() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let uri = hsm.uri("");
    hsm.init_root(&env, "Token Root CA", &uri);
    // The name 'root' again: the hint never suggests the root's own key.
    let mut again = vec!["intermediate", "root2", "--cn", "Again", "-q"];
    let same = hsm.uri(";object=root");
    again.extend(token_flags(&hsm, &same));
    let err = hsm.refused(&env, &again, &[]);
    assert!(err.contains("already the key of CA 'root'"), "{err}");
    let env2 = Env::new();
    let mut init2 = vec!["init", "--cn", "Second Root", "-q"];
    init2.extend(token_flags(&hsm, &uri));
    let err = hsm.refused(&env2, &init2, &[]);
    assert!(err.contains("already holds an object"), "{err}");
    assert!(!err.contains("object=root"), "{err}");
}

#[test]
fn key_flag_of_another_type_than_the_existing_token_key_is_refused_naming_both() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    hsm.p256_key_pair("k1", "01");
    let uri = hsm.uri(";object=k1");
    let mut init = vec!["init", "--cn", "Root", "--key", "rsa-3072", "-q"];
    init.extend(token_flags(&hsm, &uri));
    let err = hsm.refused(&env, &init, &[]);
    assert!(
        err.contains("is an ecdsa-p256 key") && err.contains("rsa-3072"),
        "{err}"
    );
}

#[test]
fn discarding_a_generated_token_key_removes_its_two_objects_and_nothing_else() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    // The library itself, in a child process of this test binary that has
    // the token's SOFTHSM2_CONF (a module reads it once per process).
    let text = run_child_test(
        "hsm::review::child_generates_then_discards_a_key_beside_another_with_its_id",
        &[
            ("SOFTHSM2_CONF", hsm.conf.as_os_str()),
            ("HSM_CHILD_MODULE", hsm.module.as_os_str()),
            ("HSM_CHILD_PIN_FILE", hsm.pin_file.as_os_str()),
        ],
        env.dir.path(),
    );
    assert!(text.contains("discarded ca-x"), "{text}");
    let (ok, objects) = hsm.pkcs11_tool(&["--list-objects"]);
    assert!(ok, "{objects}");
    assert_eq!(
        objects.matches("label:      other").count(),
        2,
        "discarding CA key 'ca-x' removed another key pair with its CKA_ID:\n{objects}"
    );
    assert!(!objects.contains("label:      ca-x"), "{objects}");
}

/// The child half of the test above: generates CA key `ca-x` (CKA_ID
/// "ca-x"), lets `pkcs11-tool` add key pair `other` with the same CKA_ID,
/// then discards `ca-x` as a CA that failed to be made does.
#[test]
#[ignore = "run by discarding_a_generated_token_key_removes_its_two_objects_and_nothing_else in a child process"]
fn child_generates_then_discards_a_key_beside_another_with_its_id() {
    use certsmith::keystore::pkcs11::Token;
    use certsmith::keystore::{CaKey, PinOptions, Pkcs11Uri, TokenKey};
    let (Some(module), Some(pin_file)) = (
        std::env::var_os("HSM_CHILD_MODULE"),
        std::env::var_os("HSM_CHILD_PIN_FILE"),
    ) else {
        return;
    };
    let mut uri: Pkcs11Uri = "pkcs11:token=acme-ca".parse().unwrap();
    uri.module_path = Some(PathBuf::from(&module));
    let pins = PinOptions {
        file: Some(PathBuf::from(pin_file)),
    };
    let token = Token::open(&uri, &pins).unwrap();
    let key = TokenKey::generate(token, certsmith::keys::KeyType::EcdsaP256, "ca-x").unwrap();
    let out = std::process::Command::new("pkcs11-tool")
        .arg("--module")
        .arg(&module)
        .args([
            "--token-label",
            "acme-ca",
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "other",
            "--id",
            "63612d78",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    CaKey::Token(key).discard();
    println!("discarded ca-x");
}

/// An EC key pair `K` (CKA_ID `0d0d`) whose public object is labelled
/// "K pubkey", as OpenSC PIV and ykcs11 label the two halves.
fn key_with_differently_labelled_public_object(hsm: &Hsm, env: &Env) {
    hsm.p256_key_pair("K", "0d0d");
    let public = env.path("k.pub.der");
    let (ok, out) = hsm.pkcs11_tool(&[
        "--read-object",
        "--type",
        "pubkey",
        "--id",
        "0d0d",
        "-o",
        s(&public),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = hsm.pkcs11_tool(&["--delete-object", "--type", "pubkey", "--id", "0d0d"]);
    assert!(ok, "{out}");
    let (ok, out) = hsm.pkcs11_tool(&[
        "--write-object",
        s(&public),
        "--type",
        "pubkey",
        "--id",
        "0d0d",
        "--label",
        "K pubkey",
    ]);
    assert!(ok, "{out}");
}

#[test]
fn token_key_whose_public_object_has_another_label_makes_a_ca_that_issues_even_once_the_public_object_is_gone()
 {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "lt") else {
        return;
    };
    key_with_differently_labelled_public_object(&hsm, &env);
    let uri = hsm.uri(";object=K");
    hsm.init_root(&env, "Label Root", &uri);
    let issue = |name: &str| {
        hsm.ok(
            &env,
            &[
                "issue",
                name,
                "--ca",
                "root",
                "--pin-file",
                hsm.pin_file(),
                "-q",
            ],
        );
        let (ok, out) = openssl_verify(
            &env.root_pem(),
            None,
            &env.cert_dir(name).join("cert.pem"),
            "sslclient",
        );
        assert!(ok, "{out}");
    };
    issue("dev-1");
    // A CA in the ledger takes its public key from its certificate.
    let (ok, out) = hsm.pkcs11_tool(&["--delete-object", "--type", "pubkey", "--id", "0d0d"]);
    assert!(ok, "{out}");
    issue("dev-2");
}

#[test]
fn environment_module_is_used_only_when_the_recorded_module_is_missing_and_errors_name_both() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let module = env.path("softhsm.so");
    std::fs::copy(&hsm.module, &module).unwrap();
    let uri = hsm.uri("");
    hsm.init_root_with_module(&env, "Token Root CA", &uri, &module);
    // The recorded module is there: a variable naming another file is not used.
    let elsewhere = env.path("not-a-module.so");
    std::fs::write(&elsewhere, "not a shared library").unwrap();
    let r = hsm.run_with(
        &env,
        &["issue", "dev-1", "--pin-file", hsm.pin_file(), "-q"],
        &[("CERTSMITH_PKCS11_MODULE", s(&elsewhere))],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The recorded module is gone: the variable is used, and its failure says so.
    std::fs::remove_file(&module).unwrap();
    let before = env.tree_hash();
    let err = hsm.refused(
        &env,
        &["issue", "dev-2", "--pin-file", hsm.pin_file()],
        &[("CERTSMITH_PKCS11_MODULE", s(&elsewhere))],
    );
    assert!(
        err.contains("from $CERTSMITH_PKCS11_MODULE; the ledger records"),
        "{err}"
    );
    assert!(
        err.contains("not-a-module.so") && err.contains("softhsm.so"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
    // doctor's note says which module answered.
    let r = hsm.run_with(
        &env,
        &["doctor", "--pin-file", hsm.pin_file()],
        &[("CERTSMITH_PKCS11_MODULE", hsm.module())],
    );
    assert!(
        r.stdout.contains("token key matches its certificate")
            && r.stdout
                .contains("(from $CERTSMITH_PKCS11_MODULE; the ledger records"),
        "{}",
        r.stdout
    );
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn one_wrong_pin_is_tried_once_for_cas_recorded_under_two_spellings_of_one_module() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let Some(spy) = Spied::new(&env, &hsm) else {
        return;
    };
    let link = env.path("spy-link.so");
    std::os::unix::fs::symlink(SPY, &link).unwrap();
    let uri = hsm.uri("");
    let mut init = vec!["init", "--cn", "Token Root CA", "-q"];
    init.extend(spy.flags(&uri));
    assert_eq!(spy.run(&env, &init).0.code, 0);
    let mut inter = vec!["intermediate", "issuing", "--cn", "Issuing", "-q"];
    let mut flags = spy.flags(&uri);
    flags[3] = s(&link);
    inter.extend(flags);
    let (r, _) = spy.run(&env, &inter);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bad = env.path("bad.pin");
    std::fs::write(&bad, "000000\n").unwrap();
    let before = env.tree_hash();
    let (r, logins) = spy.run(&env, &["doctor", "--pin-file", s(&bad)]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(logins, 1, "doctor tried a wrong PIN {logins} times");
    let (r, logins) = spy.run(&env, &["crl", "--pin-file", s(&bad)]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert_eq!(logins, 1, "crl tried a wrong PIN {logins} times");
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn pin_with_whitespace_control_characters_or_a_byte_order_mark_is_refused_before_any_login() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let Some(spy) = Spied::new(&env, &hsm) else {
        return;
    };
    let uri = hsm.uri("");
    let mut init = vec!["init", "--cn", "Token Root CA", "-q"];
    init.extend(spy.flags(&uri));
    assert_eq!(spy.run(&env, &init).0.code, 0);
    let before = env.tree_hash();
    let pin = env.path("odd.pin");
    for (text, problem) in [
        (format!(" {PIN}\n"), "leading or trailing whitespace"),
        (format!("{PIN} \n"), "leading or trailing whitespace"),
        (format!("{PIN}\t\n"), "leading or trailing whitespace"),
        (format!("12\u{0}{}\n", &PIN[2..]), "a control character"),
        (format!("12\u{7}{}\n", &PIN[2..]), "a control character"),
        (format!("\u{feff}{PIN}\n"), "a UTF-8 byte order mark"),
        ("\n".to_string(), "the first line of PIN file '"),
    ] {
        std::fs::write(&pin, &text).unwrap();
        let (r, logins) = spy.run(&env, &["issue", "dev-1", "--pin-file", s(&pin)]);
        assert_eq!(r.code, 2, "PIN file {text:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(problem),
            "PIN file {text:?}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains(&PIN[2..]), "{}", r.stderr);
        assert_eq!(logins, 0, "PIN file {text:?} was tried");
    }
    let mut vars = spy.vars().to_vec();
    let spaced = format!("{PIN} ");
    vars.push(("CERTSMITH_PKCS11_PIN", &spaced));
    let _ = std::fs::remove_file(&spy.log);
    let r = hsm.run_with(&env, &["issue", "dev-1"], &vars);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("$CERTSMITH_PKCS11_PIN") && r.stderr.contains("whitespace"),
        "{}",
        r.stderr
    );
    let log = std::fs::read_to_string(&spy.log).unwrap_or_default();
    assert!(!log.contains("C_Login"), "a PIN with a space was tried");
    let dir = env.path("pin-dir");
    std::fs::create_dir(&dir).unwrap();
    let (r, _) = spy.run(&env, &["issue", "dev-1", "--pin-file", s(&dir)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("PIN file"), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before);
}

#[test]
fn crl_signed_by_a_replaced_token_private_key_names_the_mismatched_pair() {
    let env = Env::new();
    let Some(hsm) = p256_root_with_its_private_key_swapped(&env) else {
        return;
    };
    let before = env.tree_hash();
    let r = hsm.run(
        &env,
        &["crl", "--ca", "root", "--pin-file", hsm.pin_file(), "-q"],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
    assert!(r.stderr.contains("do not belong together"), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before, "a failed crl changed the PKI");
}

#[test]
fn new_ca_naming_an_existing_token_key_is_refused_when_another_ca_certificate_cannot_be_read() {
    let env = Env::new();
    let Some(hsm) = Hsm::new(&env, "acme-ca") else {
        return;
    };
    let uri = hsm.uri("");
    hsm.init_root(&env, "Token Root CA", &uri);
    let mut inter = vec!["intermediate", "issuing", "--cn", "Issuing", "-q"];
    inter.extend(token_flags(&hsm, &uri));
    hsm.ok(&env, &inter);
    hsm.p256_key_pair("spare", "0e0e");
    std::fs::write(env.pki.join("cas/issuing/ca.pem"), "not a certificate\n").unwrap();
    let spare = hsm.uri(";object=spare");
    let mut second = vec!["intermediate", "second", "--cn", "Second", "-q"];
    second.extend(token_flags(&hsm, &spare));
    let before = env.tree_hash();
    let r = hsm.run(&env, &second);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.starts_with("certsmith: "), "{}", r.stderr);
    assert!(r.stderr.contains("issuing"), "{}", r.stderr);
    assert_eq!(env.tree_hash(), before);
}
