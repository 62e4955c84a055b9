//! Key types, key generation, and private keys as PKCS#8 PEM, plain or
//! encrypted (PBES2: scrypt or PBKDF2-SHA256 with AES-256-CBC).

use std::fmt;
use std::str::FromStr;

use pkcs8::der::{Decode, Encode};
use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm};
use rustls_pki_types::PrivatePkcs8KeyDer;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::passphrase::Passphrase;

/// The key types certsmith makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyType {
    pub const ALL: [KeyType; 6] = [
        KeyType::EcdsaP256,
        KeyType::EcdsaP384,
        KeyType::Ed25519,
        KeyType::Rsa2048,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
    ];

    /// The name used on the command line and in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::EcdsaP384 => "ecdsa-p384",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }

    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }

    /// The signature algorithm a key of this type signs with.
    pub fn signature_algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyType::Ed25519 => &rcgen::PKCS_ED25519,
            _ => &rcgen::PKCS_RSA_SHA256,
        }
    }

    /// Generates a new key pair of this type.
    pub fn generate(self) -> Result<KeyPair> {
        let size = match self {
            KeyType::Rsa2048 => rcgen::RsaKeySize::_2048,
            KeyType::Rsa3072 => rcgen::RsaKeySize::_3072,
            KeyType::Rsa4096 => rcgen::RsaKeySize::_4096,
            other => {
                return KeyPair::generate_for(other.signature_algorithm())
                    .map_err(|e| Error::failed(format!("cannot generate a {other} key: {e}")));
            }
        };
        KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
            .map_err(|e| Error::failed(format!("cannot generate a {self} key: {e}")))
    }

    /// The type of a public key, if it is one certsmith makes.
    pub fn of_public_key(kind: &PublicKeyKind) -> Option<KeyType> {
        match kind {
            PublicKeyKind::Ec(Curve::P256) => Some(KeyType::EcdsaP256),
            PublicKeyKind::Ec(Curve::P384) => Some(KeyType::EcdsaP384),
            PublicKeyKind::Ed25519 => Some(KeyType::Ed25519),
            PublicKeyKind::Rsa(2048) => Some(KeyType::Rsa2048),
            PublicKeyKind::Rsa(3072) => Some(KeyType::Rsa3072),
            PublicKeyKind::Rsa(4096) => Some(KeyType::Rsa4096),
            _ => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        KeyType::ALL
            .into_iter()
            .find(|k| k.as_str() == lower)
            .ok_or_else(|| {
                let msg = if lower.starts_with("rsa-") {
                    format!("key type '{s}' is too weak or not supported: RSA keys must be 2048, 3072 or 4096 bits")
                } else {
                    format!("unknown key type '{s}'")
                };
                Error::input(msg).hint(format!(
                    "use one of: {}",
                    KeyType::ALL.map(|k| k.as_str()).join(", ")
                ))
            })
    }
}

/// Elliptic curves certsmith can describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

/// What kind of public key a certificate, CSR or key file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKeyKind {
    Ec(Curve),
    Rsa(usize),
    Ed25519,
    Other(String),
}

impl fmt::Display for PublicKeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKeyKind::Ec(Curve::P256) => f.write_str("ecdsa-p256"),
            PublicKeyKind::Ec(Curve::P384) => f.write_str("ecdsa-p384"),
            PublicKeyKind::Ec(Curve::P521) => f.write_str("ecdsa-p521"),
            PublicKeyKind::Rsa(bits) => write!(f, "rsa-{bits}"),
            PublicKeyKind::Ed25519 => f.write_str("ed25519"),
            PublicKeyKind::Other(oid) => write!(f, "unsupported ({oid})"),
        }
    }
}

/// Classifies a parsed SubjectPublicKeyInfo.
pub fn public_key_kind(spki: &x509_parser::x509::SubjectPublicKeyInfo<'_>) -> PublicKeyKind {
    use x509_parser::public_key::PublicKey;
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => PublicKeyKind::Ec(Curve::P256),
                Some("1.3.132.0.34") => PublicKeyKind::Ec(Curve::P384),
                Some("1.3.132.0.35") => PublicKeyKind::Ec(Curve::P521),
                other => PublicKeyKind::Other(format!("ec curve {}", other.unwrap_or("?"))),
            }
        }
        "1.2.840.113549.1.1.1" => match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => PublicKeyKind::Rsa(rsa.key_size()),
            _ => PublicKeyKind::Other(oid),
        },
        "1.3.101.112" => PublicKeyKind::Ed25519,
        _ => PublicKeyKind::Other(oid),
    }
}

/// The key type of a key pair certsmith loaded or made.
pub fn key_type_of(key: &impl PublicKeyData) -> Result<KeyType> {
    let spki = key.subject_public_key_info();
    let (_, parsed) = <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<
        x509_parser::error::X509Error,
    >>::from_der(&spki)
    .map_err(|_| Error::input("cannot read the key's public part"))?;
    let kind = public_key_kind(&parsed);
    KeyType::of_public_key(&kind)
        .ok_or_else(|| Error::input(format!("key type {kind} is not supported by certsmith")))
}

/// RFC 7093 method 1 key identifier: the leftmost 160 bits of the SHA-256
/// of the subjectPublicKey BIT STRING value.
pub fn key_id(subject_public_key: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(subject_public_key)[..20].to_vec()
}

/// The key identifier of a key pair.
pub fn key_id_of(key: &impl PublicKeyData) -> Vec<u8> {
    key_id(key.der_bytes())
}

/// How an encrypted key's password is stretched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kdf {
    /// scrypt N=2^14, r=8, p=1 (the largest OpenSSL 3 accepts by default).
    #[default]
    Scrypt,
    /// PBKDF2-HMAC-SHA256, 600,000 iterations (for FIPS-minded users).
    Pbkdf2,
}

impl FromStr for Kdf {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "scrypt" => Ok(Kdf::Scrypt),
            "pbkdf2" => Ok(Kdf::Pbkdf2),
            _ => Err(Error::input(format!("unknown --kdf '{s}'")).hint("use scrypt or pbkdf2")),
        }
    }
}

/// PBKDF2 iteration count (OWASP 2023 for PBKDF2-HMAC-SHA256).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// Most PBKDF2 iterations certsmith runs to open a key (16 times its own 600,000).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Most scrypt work N·r·p certsmith runs to open a key: 2^23, about as much
/// as OpenSSL allows (certsmith and OpenSSL write N=2^14, r=8, p=1: 2^17).
pub const MAX_SCRYPT_WORK: u64 = 1 << 23;
/// Most memory scrypt may take (128·r·N bytes): 256 MiB.
pub const MAX_SCRYPT_MEMORY: u64 = 256 << 20;

/// Refuses KDF parameters that are malformed (the KDF would panic, or fail
/// in a way reported as a wrong passphrase) or would cost seconds to hours,
/// or hundreds of MiB, on every command that loads the key: a key file is
/// untrusted input until it decrypts. Every value is named.
fn check_kdf_cost(kdf: &pkcs8::pkcs5::pbes2::Kdf, what: &str) -> Result<()> {
    let hint = "re-encrypt the key with ordinary parameters, e.g.: openssl pkcs8 -topk8 -scrypt -in OLD.pem -out NEW.pem";
    let what = crate::error::shown(what);
    let refuse = |why: String| Err(Error::input(format!("'{what}' {why}")).hint(hint));
    if let Some(p) = kdf.pbkdf2() {
        let i = p.iteration_count;
        if i == 0 {
            return refuse("asks for 0 PBKDF2 iterations; there must be at least 1".to_string());
        }
        if i > MAX_PBKDF2_ITERATIONS {
            return refuse(format!(
                "asks for {i} PBKDF2 iterations; certsmith runs at most {MAX_PBKDF2_ITERATIONS}"
            ));
        }
    }
    if let Some(s) = kdf.scrypt() {
        let (n, r, p) = (
            s.cost_parameter,
            u64::from(s.block_size),
            u64::from(s.parallelization),
        );
        let params = format!("scrypt N={n}, r={r}, p={p}");
        if n < 2 || !n.is_power_of_two() {
            return refuse(format!(
                "asks for {params}; N must be a power of two of at least 2"
            ));
        }
        if r == 0 || p == 0 {
            return refuse(format!(
                "asks for {params}; r and p must each be at least 1"
            ));
        }
        let work = n.saturating_mul(r).saturating_mul(p);
        let memory = n.saturating_mul(128).saturating_mul(r);
        if work > MAX_SCRYPT_WORK || memory > MAX_SCRYPT_MEMORY {
            return refuse(format!(
                "asks for {params} (N·r·p = {work}, {} MiB of memory); certsmith runs at most N·r·p = {MAX_SCRYPT_WORK} and {} MiB",
                memory >> 20,
                MAX_SCRYPT_MEMORY >> 20
            ));
        }
    }
    Ok(())
}

/// PKCS#8 v1 DER of a key pair. Ed25519 keys come out of aws-lc as v2 (with
/// the public key inside), which OpenSSL 3.0 cannot read; v1 drops it.
pub fn pkcs8_v1_der(key: &KeyPair) -> Result<Zeroizing<Vec<u8>>> {
    let der = Zeroizing::new(key.serialize_der());
    let info = pkcs8::PrivateKeyInfoRef::from_der(&der)
        .map_err(|e| Error::failed(format!("cannot encode the private key: {e}")))?;
    let v1 = pkcs8::PrivateKeyInfoRef::new(info.algorithm, info.private_key);
    Ok(Zeroizing::new(v1.to_der().map_err(|e| {
        Error::failed(format!("cannot encode the private key: {e}"))
    })?))
}

/// Unencrypted PKCS#8 PEM.
pub fn to_pem(key: &KeyPair) -> Result<Zeroizing<String>> {
    let der = pkcs8_v1_der(key)?;
    Ok(Zeroizing::new(pem_encode("PRIVATE KEY", &der)))
}

/// Encrypted PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`).
pub fn to_encrypted_pem(key: &KeyPair, pass: &Passphrase, kdf: Kdf) -> Result<Zeroizing<String>> {
    let der = pkcs8_v1_der(key)?;
    let info = pkcs8::PrivateKeyInfoRef::from_der(&der)
        .map_err(|e| Error::failed(format!("cannot encode the private key: {e}")))?;
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt)
        .map_err(|_| Error::failed("the OS random generator failed"))?;
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| Error::failed("the OS random generator failed"))?;
    let params = match kdf {
        Kdf::Scrypt => {
            let p = pkcs8::pkcs5::scrypt::Params::new(14, 8, 1)
                .map_err(|_| Error::failed("invalid scrypt parameters"))?;
            pkcs8::pkcs5::pbes2::Parameters::generate_scrypt_aes256cbc(p, &salt, iv)
        }
        Kdf::Pbkdf2 => pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
            PBKDF2_ITERATIONS,
            &salt,
            iv,
        ),
    }
    .map_err(|e| Error::failed(format!("cannot set up key encryption: {e}")))?;
    let doc = info
        .encrypt_with_params(params, pass.as_bytes())
        .map_err(|e| Error::failed(format!("cannot encrypt the private key: {e}")))?;
    Ok(Zeroizing::new(pem_encode(
        "ENCRYPTED PRIVATE KEY",
        doc.as_bytes(),
    )))
}

/// PEM with LF line endings and 64-column lines.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    ::pem::encode_config(
        &::pem::Pem::new(label, der.to_vec()),
        ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF),
    )
}

/// Whether a PEM private key file is encrypted.
pub fn is_encrypted_pem(text: &str) -> bool {
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

const CONVERT_HINT: &str = "convert it with: openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -in OLD.pem -out NEW.pem";

/// Reads a private key from PEM: PKCS#8 (plain or encrypted), SEC1
/// `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`. `pass` is asked for only
/// when the key is encrypted. `what` names the file in errors.
pub fn load_private_key(
    text: &str,
    what: &str,
    pass: &mut dyn FnMut() -> Result<Passphrase>,
) -> Result<KeyPair> {
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::input(format!(
            "'{what}' uses legacy OpenSSL PEM encryption (Proc-Type header), which certsmith does not read"
        ))
        .hint(CONVERT_HINT));
    }
    let block = ::pem::parse(text.trim_start_matches('\u{feff}')).map_err(|_| Error::BadPem {
        what: what.to_string(),
        problem: crate::error::PemProblem::NotA("private key"),
    })?;
    let der = Zeroizing::new(block.contents().to_vec());
    match block.tag() {
        "PRIVATE KEY" => key_from_pkcs8(&der, what),
        "ENCRYPTED PRIVATE KEY" => {
            let enc =
                pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice()).map_err(|_| {
                    // The pkcs8 crate cannot even parse PKCS#12-style schemes
                    // (pbeWithSHAAnd3-KeyTripleDES-CBC, RC2): the usual cause.
                    Error::input(format!(
                        "'{what}' is encrypted with a scheme certsmith does not read (PBES1, 3DES or RC2)"
                    ))
                    .hint(CONVERT_HINT)
                })?;
            let scheme = &enc.encryption_algorithm;
            let supported = scheme.pbes2().is_some_and(|p| {
                matches!(
                    p.encryption,
                    pkcs8::pkcs5::pbes2::EncryptionScheme::Aes128Cbc { .. }
                        | pkcs8::pkcs5::pbes2::EncryptionScheme::Aes256Cbc { .. }
                ) && (p.kdf.is_scrypt()
                    || p.kdf
                        .pbkdf2()
                        .is_some_and(|k| k.prf == pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256))
            });
            if !supported {
                return Err(Error::input(format!(
                    "'{what}' is encrypted with an old scheme (PBES1, 3DES or HMAC-SHA1) that certsmith does not read"
                ))
                .hint(CONVERT_HINT));
            }
            if let Some(p) = scheme.pbes2() {
                check_kdf_cost(&p.kdf, what)?;
            }
            let p = pass()?;
            let plain = enc
                .decrypt(p.as_bytes())
                .map_err(|_| Error::WrongPassphrase {
                    what: what.to_string(),
                })?;
            key_from_pkcs8(plain.as_bytes(), what)
        }
        // SEC1 and PKCS#1 are re-wrapped as PKCS#8 first: rcgen keeps a key's
        // input encoding, and everything downstream (re-encryption, .p12)
        // expects PKCS#8.
        "EC PRIVATE KEY" => {
            let alg = if std::ptr::eq(sec1_alg(&der, what)?, &rcgen::PKCS_ECDSA_P256_SHA256) {
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING
            } else {
                &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING
            };
            let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_der(alg, &der)
                .ok()
                .and_then(|k| k.to_pkcs8v1().ok())
                .ok_or_else(|| Error::input(format!("'{what}' is not a usable EC private key")))?;
            key_from_pkcs8(&Zeroizing::new(pkcs8.as_ref().to_vec()), what)
        }
        "RSA PRIVATE KEY" => {
            use aws_lc_rs::encoding::AsDer;
            let pkcs8 = aws_lc_rs::rsa::KeyPair::from_der(&der)
                .ok()
                .and_then(|k| k.as_der().ok())
                .ok_or_else(|| Error::input(format!("'{what}' is not a usable RSA private key")))?;
            key_from_pkcs8(&Zeroizing::new(pkcs8.as_ref().to_vec()), what)
        }
        other => Err(Error::input(format!(
            "'{what}' holds a '{other}' PEM block, not a private key"
        ))),
    }
}

fn key_from_pkcs8(der: &[u8], what: &str) -> Result<KeyPair> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|_| Error::input(format!("'{what}' is not a valid PKCS#8 private key")))?;
    let oid = info.algorithm.oid.to_string();
    let alg: &'static SignatureAlgorithm = match oid.as_str() {
        "1.2.840.10045.2.1" => {
            let curve = info
                .algorithm
                .parameters_oid()
                .map(|o| o.to_string())
                .unwrap_or_default();
            match curve.as_str() {
                "1.2.840.10045.3.1.7" => &rcgen::PKCS_ECDSA_P256_SHA256,
                "1.3.132.0.34" => &rcgen::PKCS_ECDSA_P384_SHA384,
                _ => {
                    return Err(Error::input(format!(
                        "'{what}' is an EC key on curve {curve}, which certsmith does not sign with"
                    ))
                    .hint("use ecdsa-p256 or ecdsa-p384"));
                }
            }
        }
        "1.2.840.113549.1.1.1" => &rcgen::PKCS_RSA_SHA256,
        "1.3.101.112" => &rcgen::PKCS_ED25519,
        _ => {
            return Err(Error::input(format!(
                "'{what}' holds a key of algorithm {oid}, which certsmith does not support"
            )));
        }
    };
    let key = KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(der), alg)
        .map_err(|_| Error::input(format!("'{what}' is not a usable private key")))?;
    if alg == &rcgen::PKCS_RSA_SHA256 {
        let bits = key.der_bytes().len() * 8;
        // RSAPublicKey DER is a few bytes longer than the modulus; anything under ~2 kbit is weak.
        if bits < 2048 {
            return Err(Error::input(format!(
                "'{what}' is an RSA key shorter than 2048 bits, which certsmith refuses"
            )));
        }
    }
    Ok(key)
}

fn sec1_alg(der: &[u8], what: &str) -> Result<&'static SignatureAlgorithm> {
    // ECPrivateKey carries its curve as [0] parameters; find the curve OID bytes.
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let has = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    if has(P256) {
        Ok(&rcgen::PKCS_ECDSA_P256_SHA256)
    } else if has(P384) {
        Ok(&rcgen::PKCS_ECDSA_P384_SHA384)
    } else {
        Err(Error::input(format!(
            "'{what}' is an EC key on a curve certsmith does not sign with"
        ))
        .hint("use ecdsa-p256 or ecdsa-p384"))
    }
}

/// Whether a private key and a certificate's SubjectPublicKeyInfo belong together.
pub fn key_matches_spki(key: &impl PublicKeyData, spki_der: &[u8]) -> bool {
    key.subject_public_key_info() == spki_der
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pass(s: &str) -> Result<Passphrase> {
        Passphrase::new(s.to_string())
    }

    #[test]
    fn a_wrong_passphrase_on_an_encrypted_key_is_wrong_passphrase_naming_the_file() {
        let key = KeyType::EcdsaP256.generate().unwrap();
        let pem = to_encrypted_pem(&key, &pass("correct horse").unwrap(), Kdf::Scrypt).unwrap();
        let err = load_private_key(&pem, "cas/root/ca.key.pem", &mut || pass("wrong battery"))
            .unwrap_err();
        assert_eq!(
            err,
            Error::WrongPassphrase {
                what: "cas/root/ca.key.pem".into()
            }
        );
        assert_eq!((err.code(), err.exit_code()), ("wrong_passphrase", 2));
        assert!(
            !format!("{err:?}{err}").contains("battery"),
            "an error shows no passphrase: {err:?}"
        );
        let back = load_private_key(&pem, "k", &mut || pass("correct horse")).unwrap();
        assert_eq!(back.public_key_raw(), key.public_key_raw());
    }

    #[test]
    fn a_key_file_that_is_not_pem_is_bad_pem_naming_the_file() {
        let err = load_private_key("no key here", "k.pem", &mut || pass("x")).unwrap_err();
        assert!(
            matches!(&err, Error::BadPem { what, .. } if what == "k.pem"),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
