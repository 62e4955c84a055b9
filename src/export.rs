//! A leaf certificate with its key and chain in the shapes devices and
//! clusters take: PKCS#12, a Kubernetes `kubernetes.io/tls` Secret, or one
//! PEM file with key and full chain.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use zeroize::Zeroizing;

use crate::certinfo::CertInfo;
use crate::error::{Error, Result};
use crate::keys;
use crate::ledger::{CertRecord, Kind, Ledger};
use crate::passphrase::Passphrase;
use crate::pki::Pki;

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    P12,
    K8sSecret,
    Pem,
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "p12" | "pkcs12" | "pfx" => Ok(Format::P12),
            "k8s-secret" => Ok(Format::K8sSecret),
            "pem" => Ok(Format::Pem),
            _ => {
                Err(Error::input(format!("unknown --format '{s}'"))
                    .hint("use p12, k8s-secret or pem"))
            }
        }
    }
}

impl Format {
    /// The default file name in the certificate's directory.
    /// Every format, for the files certsmith recognises as its exports.
    pub const ALL: [Format; 3] = [Format::P12, Format::K8sSecret, Format::Pem];

    /// The file names `export` writes for certificate `name` in its
    /// directory, one per format (`doctor` knows them as certsmith's own).
    pub fn default_files(name: &str) -> Vec<String> {
        Format::ALL.iter().map(|f| f.default_file(name)).collect()
    }

    pub fn default_file(self, name: &str) -> String {
        match self {
            Format::P12 => format!("{name}.p12"),
            Format::K8sSecret => "secret.yaml".into(),
            Format::Pem => "combined.pem".into(),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::P12 => "p12",
            Format::K8sSecret => "k8s-secret",
            Format::Pem => "pem",
        })
    }
}

/// A leaf, its issuing chain, its root, and its key (PKCS#8 v1 DER).
pub struct Source {
    pub record: CertRecord,
    pub cert: CertInfo,
    /// Intermediates from the issuer up, root excluded.
    pub chain: Vec<CertInfo>,
    /// The self-signed root at the top, if this PKI has it.
    pub root: Option<CertInfo>,
    pub key: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.record.name)
            .field("key", &"[secret key elided]")
            .finish()
    }
}

/// Loads leaf `name` for export. Its key must match its certificate.
pub fn load(pki: &Pki, ledger: &Ledger, name: &str) -> Result<Source> {
    let record = ledger
        .cert_by_name(name)?
        .ok_or_else(|| Error::NoSuchCert {
            name: name.to_string(),
            issuer: None,
        })?;
    if record.kind != Kind::Leaf {
        return Err(Error::input(format!(
            "'{name}' is a CA; export takes a device, client or server certificate"
        ))
        .hint(format!(
            "its certificate is {}; trust stores take it via `certsmith bundle`",
            pki.ca_cert_path(name).display()
        )));
    }
    if record.revoked_at.is_some() {
        return Err(Error::input(format!(
            "certificate '{name}' is revoked; exporting it would hand out a credential peers reject"
        ))
        .hint(format!("renew it first: certsmith renew {name}")));
    }
    let (dir, cert) = crate::layout::read_cert(pki, &record)?;
    let issuer = record.issuer.clone().unwrap_or_default();
    let mut chain: Vec<CertInfo> = pki
        .ca_chain(ledger, &issuer)?
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let root = match chain.last() {
        Some(c) if c.self_signed => chain.pop(),
        _ => None,
    };
    let key = if record.has_key {
        let kp = crate::layout::read_key(
            &dir,
            name,
            &cert,
            "certsmith writes leaf keys unencrypted and cannot export this one",
        )?;
        Some(keys::pkcs8_v1_der(&kp)?)
    } else {
        None
    };
    Ok(Source {
        record,
        cert,
        chain,
        root,
        key,
    })
}

impl Source {
    /// The key, or an error saying why there is none.
    pub fn require_key(&self, format: Format) -> Result<&[u8]> {
        self.key.as_deref().map(Vec::as_slice).ok_or_else(|| {
            Error::input(format!(
                "certificate '{}' was signed from a CSR, so certsmith has no private key to put into the {format} export",
                self.record.name
            ))
            .hint("the key stays on the device that made the CSR; --format pem exports the certificate chain alone")
        })
    }

    /// Leaf then intermediates (PEM), the usual `fullchain`.
    pub fn fullchain_pem(&self) -> String {
        std::iter::once(&self.cert)
            .chain(&self.chain)
            .map(CertInfo::pem)
            .collect()
    }

    /// The trust anchor peers should use: the root, else the top CA known.
    pub fn ca_pem(&self) -> String {
        match (&self.root, self.chain.last()) {
            (Some(r), _) => r.pem(),
            (None, Some(top)) => top.pem(),
            (None, None) => String::new(),
        }
    }
}

/// PKCS#12 with the key, the leaf, its intermediates and the root.
/// Default: PBES2 AES-256-CBC + HMAC-SHA256 MAC; `legacy`: 3DES + SHA-1 MAC
/// for old devices and Java 8.
pub fn p12(src: &Source, password: &Passphrase, legacy: bool) -> Result<Zeroizing<Vec<u8>>> {
    use p12_keystore::{
        Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
        PrivateKeyChain,
    };
    let fail = |e: p12_keystore::error::Error| {
        Error::failed(format!("cannot build the PKCS#12 file: {e}"))
    };
    let key = PrivateKey::from_der(src.require_key(Format::P12)?).map_err(fail)?;
    let certs = std::iter::once(&src.cert)
        .chain(&src.chain)
        .chain(&src.root)
        .map(|c| Certificate::from_der(&c.der))
        .collect::<p12_keystore::Result<Vec<_>>>()
        .map_err(fail)?;
    let local_key_id = keys::key_id(&spki_bits(&src.cert)?);
    let mut store = KeyStore::new();
    store.add_entry(
        &src.record.name,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(local_key_id, key, certs)),
    );
    let writer = store.writer(password.as_str());
    let writer = if legacy {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .encryption_iterations(2048)
            .mac_iterations(2048)
    } else {
        writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
            .mac_algorithm(MacAlgorithm::HmacSha256)
    };
    writer.write().map(Zeroizing::new).map_err(fail)
}

fn spki_bits(c: &CertInfo) -> Result<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&c.spki_der)
        .map_err(|_| Error::failed("cannot read the certificate's public key"))?;
    Ok(spki.subject_public_key.data.to_vec())
}

/// A Kubernetes object name from a certificate name: a DNS-1123
/// subdomain (labels of `[a-z0-9-]` separated by dots, each starting and
/// ending with a letter or digit, at most 253 characters in all). Other
/// characters become `-`, each label is trimmed of `-`, empty labels go,
/// and the name is cut to 253 and trimmed again.
pub fn k8s_name(name: &str) -> String {
    let mapped: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let labels = |s: &str| -> String {
        s.split('.')
            .map(|l| l.trim_matches('-'))
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(".")
    };
    let n = labels(&mapped);
    let n = labels(&n.chars().take(253).collect::<String>());
    if n.is_empty() {
        "certsmith-cert".into()
    } else {
        n
    }
}

/// The Secret name of certificate `name` ([`k8s_name`]), refused when
/// another certificate of the ledger maps to the same name: applying both
/// in one namespace would make one replace the other (another server's key).
pub fn k8s_name_of(ledger: &crate::ledger::Ledger, name: &str) -> Result<String> {
    let secret = k8s_name(name);
    let mut others: Vec<String> = ledger
        .names_and_dirs()?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n != name && k8s_name(n) == secret)
        .collect();
    others.sort();
    others.dedup();
    if let Some(other) = others.first() {
        return Err(Error::input(format!(
            "the Kubernetes Secret name '{secret}' of certificate '{}' is also that of certificate '{}'",
            crate::error::shown(name),
            crate::error::shown(other)
        ))
        .hint("applied in one namespace, one Secret would replace the other: give one of them another name (`certsmith issue NEW-NAME`), or export it with --format pem"));
    }
    Ok(secret)
}

/// A `kubernetes.io/tls` Secret: tls.crt (leaf + intermediates), tls.key,
/// ca.crt (the root).
pub fn k8s_secret(src: &Source, name: &str) -> Result<Zeroizing<String>> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let key_pem = Zeroizing::new(keys::pem_encode(
        "PRIVATE KEY",
        src.require_key(Format::K8sSecret)?,
    ));
    let key_b64 = Zeroizing::new(b64(key_pem.as_bytes()));
    Ok(Zeroizing::new(format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {}\n  labels:\n    app.kubernetes.io/managed-by: certsmith\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n  ca.crt: {}\n",
        name,
        b64(src.fullchain_pem().as_bytes()),
        key_b64.as_str(),
        b64(src.ca_pem().as_bytes()),
    )))
}

/// One PEM file: the key (when certsmith has it), then leaf and intermediates
/// (the layout HAProxy's `crt` and many appliances take).
pub fn combined_pem(src: &Source) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::new());
    if let Some(k) = &src.key {
        let key_pem = Zeroizing::new(keys::pem_encode("PRIVATE KEY", k));
        s.push_str(&key_pem);
    }
    s.push_str(&src.fullchain_pem());
    s
}

#[cfg(test)]
mod k8s_name_tests {
    use super::k8s_name;

    #[test]
    fn k8s_names_are_dns_1123_subdomains_even_after_truncation() {
        assert_eq!(k8s_name("Web_Server.X"), "web-server.x");
        assert_eq!(k8s_name("a..b"), "a.b");
        assert_eq!(k8s_name("x.-y"), "x.y");
        assert_eq!(k8s_name("__"), "certsmith-cert");
        // Cut at 253 right after a dot or a dash: trimmed again.
        let long = format!("{}.-b", "a".repeat(252));
        assert_eq!(k8s_name(&long), "a".repeat(252));
        let long = format!("{}-{}", "a".repeat(252), "b".repeat(10));
        assert_eq!(k8s_name(&long), "a".repeat(252));
        assert!(k8s_name(&"z".repeat(400)).len() == 253);
    }
}
