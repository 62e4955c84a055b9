//! Certificate signing requests: parsed and signature-checked with
//! x509-parser, never through rcgen's CSR path (it takes the key's curve
//! from the CSR's signature algorithm, rcgen#448, and refuses unknown extensions).

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::certinfo::general_name_text;
use crate::error::{Error, Result};
use crate::keys::{KeyType, PublicKeyKind, public_key_kind};
use crate::names::{San, Subject};

/// The parts of a CSR certsmith may use.
#[derive(Clone, Debug)]
pub struct Csr {
    pub subject: Option<Subject>,
    /// Why the CSR's subject cannot be used as it is, if it cannot; only an
    /// error when no subject is given instead.
    pub subject_error: Option<Error>,
    pub subject_text: String,
    pub sans: Vec<San>,
    pub key_type: KeyType,
    pub public_key: rcgen::SubjectPublicKeyInfo,
    pub spki_der: Vec<u8>,
    /// Extensions the CSR asked for that the profile decides instead.
    pub ignored: Vec<String>,
    /// What certsmith left out of the CSR's subject, as notes for the report.
    pub notes: Vec<String>,
}

/// Largest CSR accepted (a real one is a few KB).
const MAX_CSR: usize = 64 * 1024;

/// Reads a CSR in PEM or DER, verifies its self-signature and extracts
/// subject, SANs and public key. `what` names the file in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<Csr> {
    if bytes.len() > MAX_CSR {
        return Err(Error::input(format!(
            "'{what}' is larger than {} KB; not a CSR",
            MAX_CSR / 1024
        )));
    }
    let der = match std::str::from_utf8(bytes) {
        Ok(t) if t.contains("-----BEGIN") => {
            let mut blocks = ::pem::parse_many(t).map_err(|e| crate::error::bad_pem(what, &e))?;
            if blocks.len() != 1 {
                return Err(Error::input(format!(
                    "'{what}' holds {} PEM blocks; sign takes one CSR a file",
                    blocks.len()
                ))
                .hint("split the file and sign each CSR on its own"));
            }
            let p = blocks.remove(0);
            if p.tag() != "CERTIFICATE REQUEST" && p.tag() != "NEW CERTIFICATE REQUEST" {
                return Err(Error::input(format!(
                    "'{what}' holds a '{}' PEM block, not a CERTIFICATE REQUEST",
                    p.tag()
                )));
            }
            p.into_contents()
        }
        _ => bytes.to_vec(),
    };
    let req = decode(&der, what)?;
    let info = &req.certification_request_info;
    let kind = public_key_kind(&info.subject_pki);
    let key_type = KeyType::of_public_key(&kind).ok_or_else(|| {
        let why = match kind {
            PublicKeyKind::Rsa(bits) if bits < 2048 => {
                format!("an RSA-{bits} key, which is too weak")
            }
            ref k => {
                let k = k.to_string();
                let a = if k.starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                };
                format!("{a} {k} key, which certsmith does not sign")
            }
        };
        Error::input(format!("CSR '{what}' holds {why}"))
            .hint("make the CSR with an ecdsa-p256, ecdsa-p384, ed25519 or RSA 2048/3072/4096 key")
    })?;
    req.verify_signature().map_err(|_| Error::CsrSignature {
        what: what.to_string(),
    })?;
    let spki_der = info.subject_pki.raw.to_vec();
    let public_key = rcgen::SubjectPublicKeyInfo::from_der(&spki_der)
        .map_err(|e| Error::input(format!("CSR '{what}' has an unusable public key: {e}")))?;
    let mut sans = Vec::new();
    let mut ignored = Vec::new();
    for asked in requested(&req) {
        match asked {
            Asked::Sans(names) => {
                for g in names {
                    let text = general_name_text(g);
                    if let Some(t) = text.as_deref().filter(|t| t.chars().any(char::is_control)) {
                        return Err(Error::input(format!(
                            "CSR '{what}' has a SAN with a control character: '{}'",
                            crate::error::shown(t)
                        )));
                    }
                    match text.map(|t| San::parse(&t)) {
                        Some(Ok(s)) => sans.push(s),
                        _ => ignored.push(format!("subjectAltName entry {g}")),
                    }
                }
            }
            other => ignored.push(
                other
                    .label()
                    .unwrap_or_else(|| "an extension the profile does not take".into()),
            ),
        }
    }
    let subject_text = info.subject.to_string();
    // Attributes certsmith knows (names::attr_name, its one table) are kept;
    // the rest are dropped and said in `notes`.
    let mut pairs = Vec::new();
    let mut notes = Vec::new();
    for rdn in info.subject.iter() {
        if rdn.iter().count() > 1 {
            let parts: Vec<String> = rdn
                .iter()
                .map(|a| {
                    let oid = a.attr_type().to_id_string();
                    let key = crate::names::attr_name(&oid).map_or(oid, str::to_string);
                    let v = crate::names::attr_text(a.attr_value()).unwrap_or_default();
                    format!("{key}={}", crate::error::shown(&v))
                })
                .collect();
            notes.push(format!(
                "the CSR's multi-valued RDN '{}' becomes one RDN per attribute",
                parts.join("+")
            ));
        }
        for a in rdn.iter() {
            let oid = a.attr_type().to_id_string();
            let value = crate::names::attr_text(a.attr_value());
            let value = value.as_deref();
            match (crate::names::attr_name(&oid), value) {
                (Some(key), Some(v)) => pairs.push((key.to_string(), v.to_string())),
                (known, _) => {
                    let short = known.map(str::to_string).unwrap_or_else(|| {
                        x509_parser::objects::oid2sn(
                            a.attr_type(),
                            x509_parser::objects::oid_registry(),
                        )
                        .map(str::to_string)
                        .unwrap_or_else(|_| oid.clone())
                    });
                    let shown = value
                        .map(|v| format!("{short}={}", crate::error::shown(v)))
                        .unwrap_or_else(|| format!("{short} (not a string)"));
                    notes.push(format!(
                        "dropped subject attribute '{shown}' ({oid}) from the CSR: certsmith keeps {}",
                        crate::names::KNOWN_ATTRS
                    ));
                }
            }
        }
    }
    // A subject certsmith cannot take as it is (a repeated attribute) is an
    // error only when no subject is given instead: kept for the caller.
    let (subject, subject_error) = if pairs.is_empty() {
        (None, None)
    } else {
        match Subject::from_pairs(pairs, &subject_text) {
            Ok(s) => (Some(s), None),
            Err(e) => (
                None,
                Some(Error::input(format!("CSR '{what}': {e}")).hint(
                    "make the CSR again with each subject attribute once, or give --subject",
                )),
            ),
        }
    };
    Ok(Csr {
        subject,
        subject_error,
        notes,
        subject_text,
        sans,
        key_type,
        public_key,
        spki_der,
        ignored,
    })
}

/// Decodes one DER CSR (nothing after it); the one CSR parser of `sign`
/// and `inspect`. `what` names the file in errors.
pub fn decode<'a>(der: &'a [u8], what: &str) -> Result<X509CertificationRequest<'a>> {
    let (rest, req) = X509CertificationRequest::from_der(der).map_err(|_| {
        Error::input(format!(
            "'{what}' is not a valid certificate signing request"
        ))
    })?;
    if !rest.is_empty() {
        return Err(Error::input(format!(
            "'{what}' has trailing bytes after the CSR"
        )));
    }
    Ok(req)
}

/// An extension a CSR asks for.
pub enum Asked<'a> {
    Sans(&'a [GeneralName<'a>]),
    BasicConstraints { ca: bool },
    KeyUsage,
    ExtendedKeyUsage,
    Other,
}

impl Asked<'_> {
    /// How reports name it; `None` for an extension certsmith does not know.
    pub fn label(&self) -> Option<String> {
        match self {
            Asked::Sans(_) => Some("subjectAltName".into()),
            Asked::BasicConstraints { ca } => Some(format!(
                "basicConstraints CA:{}",
                if *ca { "TRUE" } else { "FALSE" }
            )),
            Asked::KeyUsage => Some("keyUsage".into()),
            Asked::ExtendedKeyUsage => Some("extendedKeyUsage".into()),
            Asked::Other => None,
        }
    }
}

/// The extensions `req` asks for, in order.
pub fn requested<'a>(req: &'a X509CertificationRequest<'_>) -> Vec<Asked<'a>> {
    let Some(exts) = req.requested_extensions() else {
        return Vec::new();
    };
    exts.map(|e| match e {
        ParsedExtension::SubjectAlternativeName(san) => Asked::Sans(&san.general_names),
        ParsedExtension::BasicConstraints(bc) => Asked::BasicConstraints { ca: bc.ca },
        ParsedExtension::KeyUsage(_) => Asked::KeyUsage,
        ParsedExtension::ExtendedKeyUsage(_) => Asked::ExtendedKeyUsage,
        _ => Asked::Other,
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csr_der() -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        rcgen::CertificateParams::new(vec!["dev.acme.internal".to_string()])
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn a_csr_altered_after_signing_is_csr_signature() {
        let good = csr_der();
        assert!(parse(&good, "dev.csr").is_ok());
        let mut bad = good;
        let last = bad.len() - 1;
        bad[last] ^= 1; // the last byte of the Ed25519 signature
        let err = parse(&bad, "dev.csr").unwrap_err();
        assert_eq!(
            err,
            Error::CsrSignature {
                what: "dev.csr".into()
            }
        );
        assert_eq!((err.code(), err.exit_code()), ("csr_signature", 2));
    }

    #[test]
    fn malformed_pem_is_bad_pem_naming_the_file() {
        let text = "-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n";
        let err = parse(text.as_bytes(), "dev.csr").unwrap_err();
        assert!(
            matches!(&err, Error::BadPem { what, .. } if what == "dev.csr"),
            "{err:?}"
        );
        assert_eq!((err.code(), err.exit_code()), ("bad_pem", 2));
        assert!(
            err.to_string().starts_with("'dev.csr' is not valid PEM: "),
            "{err}"
        );
    }
}
