//! Fuzz target: CSR parsing and the signing policy. Any bytes go to
//! `csr::parse`; what parses is signed under the `device` profile by a
//! throw-away CA, and the result must never be a CA certificate, must carry
//! the CSR's own key, and must not outlive its issuer.
#![no_main]

use std::cell::RefCell;

use certsmith::ca::{self, CaRequest, NewCa, Signer};
use certsmith::keys::{Kdf, KeyType};
use certsmith::ledger::{Kind, Ledger};
use certsmith::names::{San, Subject};
use certsmith::passphrase::PassOptions;
use certsmith::pki::Pki;
use certsmith::profile::Profile;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    _dir: tempfile::TempDir,
    signer: Signer,
    profile: Profile,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::at(dir.path().join("pki"));
    certsmith::store::create_private_dir(&pki.root, &pki.root).unwrap();
    let mut ledger = Ledger::create(&pki.ledger_path()).unwrap();
    let now = certsmith::clock::now().unwrap();
    let profile = Profile::load(None, "root-ca").unwrap();
    let key = KeyType::EcdsaP256.generate().unwrap();
    let req = CaRequest {
        subject: Subject::cn("Fuzz Root"),
        validity: None,
        pathlen: None,
        constraints: Default::default(),
        clamp: false,
        no_crl: false,
    };
    let signed = ca::make_root(&req, &key, &profile, now).unwrap();
    let new = NewCa {
        name: "root".into(),
        kind: Kind::Root,
        issuer: None,
        profile: profile.name.clone(),
        signed,
        subject: req.subject.to_string(),
        key,
        pathlen: Some(1),
    };
    ca::write_ca(&pki, &mut ledger, &new, None, Kdf::Scrypt, now).unwrap();
    let signer = Signer::load(&pki, &ledger, "root", &PassOptions::default()).unwrap();
    Fixture {
        _dir: dir,
        signer,
        profile: Profile::load(None, "device").unwrap(),
    }
}

thread_local! {
    static FIXTURE: RefCell<Option<Fixture>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    let Ok(csr) = certsmith::csr::parse(data, "fuzz.csr") else { return };
    FIXTURE.with(|f| {
        let mut f = f.borrow_mut();
        let f = f.get_or_insert_with(fixture);
        let sans: Vec<San> = csr
            .sans
            .iter()
            .filter(|s| f.profile.san_allowed.iter().any(|k| k == s.kind()))
            .cloned()
            .collect();
        let req = certsmith::leaf::LeafRequest {
            name: "fuzz".into(),
            profile: f.profile.clone(),
            subject: csr.subject.clone().unwrap_or_else(|| Subject::cn("fuzz")),
            sans,
            validity: None,
            clamp: false,
        };
        if req.check(&f.signer).is_err() {
            return;
        }
        let now = certsmith::clock::now().unwrap();
        let Ok(signed) = req.sign(&f.signer, &csr.public_key, csr.key_type, now) else { return };
        let cert = certsmith::certinfo::CertInfo::from_der(&signed.der, "signed").unwrap();
        assert!(!cert.is_ca, "a CSR obtained a CA certificate");
        assert_eq!(cert.spki_der, csr.spki_der);
        assert!(cert.not_after <= f.signer.info().not_after);
    });
});
