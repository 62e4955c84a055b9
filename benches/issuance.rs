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

/// `certsmith issue` end to end (one process per certificate) from an
/// issuing CA whose key is a file, and from one whose key is in a SoftHSM2
/// token (docs/hsm.md): what signing through PKCS#11 costs a command.
fn issue_cli_file_vs_softhsm(c: &mut Criterion) {
    const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join("softhsm2.conf");
    let pin = dir.path().join("pin");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).expect("tokens dir");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("conf");
    std::fs::write(&pin, "246810\n").expect("pin");
    let token = std::path::Path::new(MODULE).is_file()
        && Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "--init-token",
                "--free",
                "--label",
                "bench",
                "--pin",
                "246810",
                "--so-pin",
                "13579135",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
    let mut g = c.benchmark_group("issue_cli");
    g.sample_size(10);
    for store in ["file", "softhsm"] {
        if store == "softhsm" && !token {
            eprintln!(
                "issue_cli/softhsm skipped: SoftHSM2 is not installed (apt-get install softhsm2)"
            );
            continue;
        }
        let pki = dir.path().join(format!("pki-{store}"));
        let run = |args: &[&str]| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_certsmith"));
            cmd.arg("--pki").arg(&pki).args(args).arg("-q");
            cmd.env("SOFTHSM2_CONF", &conf)
                .env("CERTSMITH_PKCS11_PIN", "246810");
            assert!(
                cmd.status().expect("certsmith").success(),
                "certsmith {args:?}"
            );
        };
        let token_flags: &[&str] = if store == "softhsm" {
            &[
                "--key-store",
                "pkcs11",
                "--pkcs11-module",
                MODULE,
                "--pkcs11-uri",
                "pkcs11:token=bench",
            ]
        } else {
            &["--no-passphrase"]
        };
        run(&[&["init", "--cn", "Bench Root"][..], token_flags].concat());
        run(&[
            &["intermediate", "issuing", "--cn", "Bench Issuing"][..],
            token_flags,
        ]
        .concat());
        let mut n = 0u64;
        g.bench_function(BenchmarkId::from_parameter(store), |b| {
            b.iter(|| {
                n += 1;
                run(&["issue", &format!("dev-{n}")]);
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    issue_one_leaf,
    sign_csr,
    crl,
    verify_chain,
    issue_cli_file_vs_softhsm
);
criterion_main!(benches);
