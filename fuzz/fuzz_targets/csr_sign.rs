//! Fuzz target: `certsmith sign`'s own planning and signing code
//! (`ops::sign::plan` and `SignPlan::sign`, which `sign_csr` runs between
//! its ledger checks and the write). Half the inputs are raw bytes given as
//! the CSR; the other half describe a CSR (CN, SANs, CA:TRUE or not) that
//! the target builds and signs with a fixed key, so most of them reach
//! signing. Whatever is signed must never be a CA certificate, must carry
//! the CSR's own key and the profile's EKU, and must not outlive its issuer.
//!
//! Every power of two inputs it prints `csr_sign: N inputs, M reached
//! signing`; fuzz/run.sh fails the run when too few reached signing.
#![no_main]

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use certsmith::ca::{CaRequest, Signer};
use certsmith::keys::{Kdf, KeyType};
use certsmith::names::Subject;
use certsmith::ops::init::NewCaRequest;
use certsmith::ops::sign::{SignRequest, plan};
use certsmith::passphrase::PassOptions;
use certsmith::pki::Pki;
use certsmith::profile::Profile;
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

struct Fixture {
    _dir: tempfile::TempDir,
    signer: Signer,
    profile: Profile,
    now: OffsetDateTime,
    /// The key of every CSR the target builds (making one per input is slow).
    csr_key: rcgen::KeyPair,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::at(dir.path().join("pki"));
    // The root `certsmith init` makes, through the same use case.
    let root = NewCaRequest {
        name: "root".into(),
        ca: CaRequest {
            subject: Subject::cn("Fuzz Root"),
            validity: None,
            pathlen: None,
            constraints: Default::default(),
            clamp: false,
            no_crl: false,
        },
        key: Some(KeyType::EcdsaP256),
        pass: PassOptions {
            no_passphrase: true,
            ..Default::default()
        },
        kdf: Kdf::Scrypt,
        store: Default::default(),
        urls: Default::default(),
    };
    certsmith::ops::init::init(&pki, &root).unwrap();
    let ledger = pki.open_ledger().unwrap();
    let now = certsmith::clock::now().unwrap();
    let signer = Signer::load(&pki, &ledger, "root", &PassOptions::default()).unwrap();
    Fixture {
        _dir: dir,
        signer,
        profile: Profile::load(None, "device").unwrap(),
        now,
        csr_key: rcgen::KeyPair::generate().unwrap(),
    }
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

static INPUTS: AtomicU64 = AtomicU64::new(0);
static SIGNED: AtomicU64 = AtomicU64::new(0);

/// A CSR described by `text`: the first line is the CN, the others SANs.
fn built_csr(key: &rcgen::KeyPair, text: &str, ca: bool) -> Option<Vec<u8>> {
    let mut lines = text.split('\n');
    let cn = lines.next()?;
    let sans: Vec<String> = lines.map(str::to_string).collect();
    let mut p = rcgen::CertificateParams::new(sans).ok()?;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    if ca {
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    Some(p.serialize_request(key).ok()?.der().to_vec())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let n = INPUTS.fetch_add(1, Ordering::Relaxed) + 1;
    if n.is_power_of_two() {
        eprintln!(
            "csr_sign: {n} inputs, {} reached signing",
            SIGNED.load(Ordering::Relaxed)
        );
    }
    FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        let f = f.get_or_insert_with(fixture);
        let csr = if mode & 1 == 0 {
            rest.to_vec()
        } else {
            let Some(der) = built_csr(&f.csr_key, &String::from_utf8_lossy(rest), mode & 2 != 0)
            else {
                return;
            };
            der
        };
        let mut req = SignRequest::new(csr, "fuzz.csr");
        if mode & 4 != 0 {
            req.name = Some("fuzz".into());
        }
        let Ok(plan) = plan(&req, f.profile.clone()) else { return };
        let Ok(signed) = plan.sign(&f.signer, f.now) else { return };
        SIGNED.fetch_add(1, Ordering::Relaxed);
        let cert = certsmith::certinfo::CertInfo::from_der(&signed.der, "signed").unwrap();
        assert!(!cert.is_ca, "a CSR obtained a CA certificate");
        assert_eq!(cert.spki_der, plan.csr.spki_der);
        assert_eq!(cert.ext_key_usage, f.profile.ext_key_usage_names);
        assert!(cert.not_after <= f.signer.info().not_after);
    });
});
