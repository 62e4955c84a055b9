//! Criterion benchmarks of certsmith's hot paths, in-process: the crypto
//! floor that `batch` and `issue` are measured against (docs/performance.md).
//!
//! `cargo bench --bench issuance` (or `just bench`).

use std::hint::black_box;
use std::process::Command;

use certsmith::ca::Signer;
use certsmith::keys::{self, KeyType};
use certsmith::leaf::LeafRequest;
use certsmith::names::Subject;
use certsmith::passphrase::PassOptions;
use certsmith::pki::Pki;
use certsmith::profile::Profile;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rcgen::{
    CertificateParams, CertificateRevocationListParams, KeyIdMethod, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// A PKI made by the certsmith binary: root (P-384) → issuing (P-256), unencrypted.
struct Fixture {
    _dir: tempfile::TempDir,
    pki: Pki,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    let run = |args: &[&str]| {
        let st = Command::new(env!("CARGO_BIN_EXE_certsmith"))
            .arg("--pki")
            .arg(&pki)
            .args(args)
            .arg("-q")
            .status()
            .expect("certsmith");
        assert!(st.success(), "certsmith {args:?}");
    };
    run(&["init", "--cn", "Bench Root", "--no-passphrase"]);
    run(&[
        "intermediate",
        "issuing",
        "--cn",
        "Bench Issuing",
        "--no-passphrase",
    ]);
    Fixture {
        _dir: dir,
        pki: Pki::at(pki),
    }
}

fn signer(f: &Fixture) -> Signer {
    let ledger = f.pki.open_ledger().expect("ledger");
    Signer::load(&f.pki, &ledger, "issuing", &PassOptions::default()).expect("signer")
}

fn request(name: &str) -> LeafRequest {
    LeafRequest {
        name: name.into(),
        profile: Profile::load(None, "device").expect("profile"),
        subject: Subject::cn(name),
        sans: Vec::new(),
        validity: None,
        clamp: false,
    }
}

/// Key generation + signature + PEM of certificate and key: what `batch`
/// does per certificate before touching the disk.
fn issue_one_leaf(c: &mut Criterion) {
    let f = fixture();
    let signer = signer(&f);
    let req = request("bench-device");
    let now = OffsetDateTime::now_utc();
    let mut g = c.benchmark_group("issue_one_leaf");
    for kt in [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
    ] {
        if kt.is_rsa() {
            g.sample_size(10);
        }
        g.bench_function(BenchmarkId::from_parameter(kt.as_str()), |b| {
            b.iter(|| {
                let key = kt.generate().expect("keygen");
                let signed = req.sign(&signer, &key, kt, now).expect("sign");
                black_box((signed.pem(), keys::to_pem(&key).expect("pem")))
            })
        });
    }
    g.finish();
}

/// Parse + verify a CSR's self-signature, sign a certificate for its key.
fn sign_csr(c: &mut Criterion) {
    let f = fixture();
    let signer = signer(&f);
    let req = request("bench-csr");
    let now = OffsetDateTime::now_utc();
    let device_key = KeyType::EcdsaP256.generate().expect("keygen");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name = Subject::cn("bench-csr").to_dn().expect("dn");
    let csr_pem = p
        .serialize_request(&device_key)
        .expect("csr")
        .pem()
        .expect("pem");
    c.bench_function("sign_csr/ecdsa-p256", |b| {
        b.iter(|| {
            let csr = certsmith::csr::parse(csr_pem.as_bytes(), "bench.csr").expect("csr");
            let signed = req
                .sign(&signer, &csr.public_key, csr.key_type, now)
                .expect("sign");
            black_box(signed.pem())
        })
    });
}

/// A CRL of the issuing CA with n revoked entries, signed and PEM-encoded,
/// with the CA's own key identifier as AKI (as `certsmith crl` does).
fn crl(c: &mut Criterion) {
    let f = fixture();
    let signer = signer(&f);
    let ski = signer.info().ski.clone().expect("CA has an SKI");
    let now = OffsetDateTime::now_utc();
    let mut g = c.benchmark_group("crl");
    g.sample_size(10);
    for n in [10_000u32, 100_000] {
        // What the ledger holds: 20-byte serials and revocation times.
        let revoked: Vec<([u8; 20], i64)> = (0..n)
            .map(|_| {
                (
                    certsmith::serial::random().expect("rng"),
                    now.unix_timestamp() - 3600,
                )
            })
            .collect();
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let params = CertificateRevocationListParams {
                    this_update: now,
                    next_update: now + Duration::days(7),
                    crl_number: SerialNumber::from(1u64),
                    issuing_distribution_point: None,
                    revoked_certs: revoked
                        .iter()
                        .map(|(s, t)| RevokedCertParams {
                            serial_number: SerialNumber::from_slice(s),
                            revocation_time: OffsetDateTime::from_unix_timestamp(*t).expect("time"),
                            reason_code: Some(RevocationReason::KeyCompromise),
                            invalidity_date: None,
                        })
                        .collect(),
                    key_identifier_method: KeyIdMethod::PreSpecified(ski.clone()),
                };
                let crl = params.signed_by(signer.issuer()).expect("crl");
                black_box(crl.pem().expect("pem"))
            })
        });
    }
    g.finish();
}

/// Parse leaf, intermediate and root, and verify the path for clientAuth.
fn verify_chain(c: &mut Criterion) {
    let f = fixture();
    let signer = signer(&f);
    let req = request("bench-verify");
    let now = OffsetDateTime::now_utc();
    let key = KeyType::EcdsaP256.generate().expect("keygen");
    let leaf = req
        .sign(&signer, &key, KeyType::EcdsaP256, now)
        .expect("sign")
        .der;
    let inter = signer.chain[0].der.clone();
    let root = signer.chain[1].der.clone();
    let at = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        now.unix_timestamp() as u64,
    ));
    let algs = [
        webpki::aws_lc_rs::ECDSA_P256_SHA256,
        webpki::aws_lc_rs::ECDSA_P384_SHA384,
    ];
    c.bench_function("verify_chain/p256-leaf-p256-p384", |b| {
        b.iter(|| {
            let root_der = rustls_pki_types::CertificateDer::from(root.as_slice());
            let anchor = webpki::anchor_from_trusted_cert(&root_der).expect("anchor");
            let leaf_der = rustls_pki_types::CertificateDer::from(leaf.as_slice());
            let ee = webpki::EndEntityCert::try_from(&leaf_der).expect("leaf");
            let inters = [rustls_pki_types::CertificateDer::from(inter.as_slice())];
            let anchors = [anchor];
            let path = ee
                .verify_for_usage(
                    &algs,
                    &anchors,
                    &inters,
                    at,
                    webpki::KeyUsage::client_auth(),
                    None,
                    None,
                )
                .expect("valid chain");
            black_box(path.intermediate_certificates().count())
        })
    });
}

criterion_group!(benches, issue_one_leaf, sign_csr, crl, verify_chain);
criterion_main!(benches);
