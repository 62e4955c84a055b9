//! A readable view of a certificate, chain, CSR, CRL or key file, as text
//! or JSON. Only public facts are ever shown; private key bytes never are.

use serde_json::{Value, json};
use x509_parser::prelude::FromDer;

use crate::certinfo::{CertInfo, fingerprint};
use crate::clock;
use crate::error::{Error, Result};
use crate::serial;

/// What a file turned out to be, and its description.
pub struct Described {
    pub kind: &'static str,
    pub json: Value,
    /// The text view, a line at a time (no line feeds): the binary escapes
    /// each line whole, so a value from the file can never start a line.
    pub lines: Vec<String>,
}

/// Describes `bytes` (PEM or DER). `what` names the file in errors.
pub fn describe(bytes: &[u8], what: &str) -> Result<Described> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains("-----BEGIN"));
    let Some(text) = text else {
        return describe_der(bytes, what);
    };
    let blocks = ::pem::parse_many(text).map_err(|e| crate::error::bad_pem(what, &e))?;
    if blocks.is_empty() {
        return Err(Error::BadPem {
            what: what.to_string(),
            problem: crate::error::PemProblem::NoBlock,
        });
    }
    let first = blocks[0].tag().to_string();
    if blocks.iter().all(|b| b.tag() == "CERTIFICATE") {
        let certs = blocks
            .iter()
            .map(|b| CertInfo::from_der(b.contents(), what))
            .collect::<Result<Vec<_>>>()?;
        return Ok(certs_described(&certs));
    }
    if blocks.len() > 1 {
        let tags: Vec<&str> = blocks.iter().map(|b| b.tag()).collect();
        return Err(Error::input(format!(
            "'{what}' mixes PEM blocks ({}); inspect them one at a time",
            tags.join(", ")
        )));
    }
    let der = blocks[0].contents();
    match first.as_str() {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => csr_described(der, what),
        "X509 CRL" => crl_described(der, what),
        "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
            key_described(&first, der, text, what)
        }
        "PUBLIC KEY" => public_key_described(der, what),
        other => Err(Error::input(format!(
            "'{what}' holds a '{other}' PEM block, which certsmith does not inspect"
        ))),
    }
}

fn describe_der(der: &[u8], what: &str) -> Result<Described> {
    // Something shaped like a certificate gets the certificate's own, specific error.
    if x509_parser::certificate::X509Certificate::from_der(der).is_ok() {
        return CertInfo::from_der(der, what).map(|c| certs_described(&[c]));
    }
    if x509_parser::certification_request::X509CertificationRequest::from_der(der).is_ok() {
        return csr_described(der, what);
    }
    if x509_parser::revocation_list::CertificateRevocationList::from_der(der).is_ok() {
        return crl_described(der, what);
    }
    Err(Error::input(format!(
        "'{what}' is not a certificate, CSR, CRL or key in PEM or DER"
    )))
}

/// JSON of one certificate.
pub fn cert_json(c: &CertInfo) -> Value {
    json!({
        "subject": c.subject,
        "issuer": c.issuer,
        "serial": serial::to_hex(&c.serial),
        "version": c.version,
        "not_before": clock::rfc3339(c.not_before),
        "not_after": clock::rfc3339(c.not_after),
        "key_type": c.key.to_string(),
        "signature_algorithm": c.signature_algorithm,
        "is_ca": c.is_ca,
        "pathlen": c.pathlen,
        "key_usage": c.key_usage,
        "extended_key_usage": c.ext_key_usage,
        "sans": c.sans,
        "name_constraints": {
            "permit_dns": c.name_constraints.permit_dns,
            "exclude_dns": c.name_constraints.exclude_dns,
            "permit_ip": c.name_constraints.permit_ip.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "exclude_ip": c.name_constraints.exclude_ip.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        },
        "subject_key_id": c.ski.as_ref().map(|k| serial::to_hex(k)),
        "authority_key_id": c.aki.as_ref().map(|k| serial::to_hex(k)),
        "self_signed": c.self_signed,
        "crl_urls": c.crl_urls,
        "ocsp_urls": c.ocsp_urls,
        "ca_issuers_urls": c.ca_issuers_urls,
        "sha256_fingerprint": c.fingerprint,
    })
}

/// A CRL number as JSON: a number, or (past 2^64, which certsmith never
/// writes) its decimal string.
fn crl_number_json(n: &str) -> Value {
    n.parse::<u64>().map_or_else(|_| json!(n), |v| json!(v))
}

/// One `  Key:  value` line of the text view.
fn field(k: &str, v: impl std::fmt::Display) -> String {
    format!("  {k:<22}{v}")
}

fn cert_text(c: &CertInfo, out: &mut Vec<String>) {
    let mut line = |k: &str, v: String| out.push(field(k, v));
    line("Subject:", c.subject.clone());
    line(
        "Issuer:",
        if c.self_signed {
            format!("{} (self-signed)", c.issuer)
        } else {
            c.issuer.clone()
        },
    );
    line("Serial:", serial::to_colon_hex(&c.serial));
    line("Not before:", clock::rfc3339(c.not_before));
    line("Not after:", clock::rfc3339(c.not_after));
    line("Key:", c.key.to_string());
    line("Signature:", c.signature_algorithm.clone());
    line(
        "CA:",
        if c.is_ca {
            format!(
                "yes{}",
                c.pathlen
                    .map(|p| format!(", pathlen {p}"))
                    .unwrap_or_default()
            )
        } else {
            "no".into()
        },
    );
    if !c.key_usage.is_empty() {
        line("Key usage:", c.key_usage.join(", "));
    }
    if !c.ext_key_usage.is_empty() {
        line("Extended key usage:", c.ext_key_usage.join(", "));
    }
    if !c.sans.is_empty() {
        line("SANs:", c.sans.join(", "));
    }
    let nc = &c.name_constraints;
    if !nc.is_empty() {
        let mut parts = Vec::new();
        parts.extend(nc.permit_dns.iter().map(|d| format!("permit dns:{d}")));
        parts.extend(nc.permit_ip.iter().map(|d| format!("permit ip:{d}")));
        parts.extend(nc.exclude_dns.iter().map(|d| format!("exclude dns:{d}")));
        parts.extend(nc.exclude_ip.iter().map(|d| format!("exclude ip:{d}")));
        line("Name constraints:", parts.join(", "));
    }
    if let Some(k) = &c.ski {
        line("Subject key id:", serial::to_colon_hex(k));
    }
    if let Some(k) = &c.aki {
        line("Authority key id:", serial::to_colon_hex(k));
    }
    for (what, urls) in [
        ("CRL URL:", &c.crl_urls),
        ("OCSP URL:", &c.ocsp_urls),
        ("CA issuers URL:", &c.ca_issuers_urls),
    ] {
        for u in urls {
            line(what, crate::error::escape_controls(u));
        }
    }
    line("SHA-256 fingerprint:", c.fingerprint.clone());
}

fn certs_described(certs: &[CertInfo]) -> Described {
    let mut lines = Vec::new();
    for (i, c) in certs.iter().enumerate() {
        if certs.len() > 1 {
            lines.push(format!("Certificate {} of {}", i + 1, certs.len()));
        } else {
            lines.push("Certificate".to_string());
        }
        cert_text(c, &mut lines);
    }
    if certs.len() == 1 {
        Described {
            kind: "certificate",
            json: json!({"type": "certificate", "certificate": cert_json(&certs[0])}),
            lines,
        }
    } else {
        Described {
            kind: "bundle",
            json: json!({"type": "bundle", "certificates": certs.iter().map(cert_json).collect::<Vec<_>>()}),
            lines,
        }
    }
}

fn csr_described(der: &[u8], what: &str) -> Result<Described> {
    let req = crate::csr::decode(der, what)?;
    let info = &req.certification_request_info;
    let key = crate::keys::public_key_kind(&info.subject_pki);
    let sig_ok = req.verify_signature().is_ok();
    let mut sans = Vec::new();
    let mut requested = Vec::new();
    for asked in crate::csr::requested(&req) {
        match asked {
            crate::csr::Asked::Sans(names) => {
                sans.extend(names.iter().filter_map(crate::certinfo::general_name_text))
            }
            other => requested.push(other.label().unwrap_or_else(|| "other".into())),
        }
    }
    let subject = crate::names::dn_text(&info.subject);
    let sig = crate::certinfo::signature_name(&req.signature_algorithm.algorithm.to_id_string());
    let mut lines = vec![
        "Certificate signing request".to_string(),
        field("Subject:", &subject),
        field("Key:", &key),
        field("Signature:", &sig),
        field(
            "Signature valid:",
            if sig_ok {
                "yes"
            } else {
                "NO (altered or not signed by its key)"
            },
        ),
        field(
            "SANs:",
            if sans.is_empty() {
                "none".to_string()
            } else {
                sans.join(", ")
            },
        ),
    ];
    if !requested.is_empty() {
        lines.push(field(
            "Also requests:",
            format!(
                "{} (certsmith's profile decides these)",
                requested.join(", ")
            ),
        ));
    }
    Ok(Described {
        kind: "csr",
        json: json!({"type": "csr", "subject": subject, "key_type": key.to_string(), "signature_algorithm": sig, "signature_valid": sig_ok, "sans": sans, "requested_extensions": requested}),
        lines,
    })
}

fn crl_described(der: &[u8], what: &str) -> Result<Described> {
    let crl = crate::crl::CrlInfo::from_der(der, what)?;
    let issuer = crl.issuer;
    let this_update = clock::rfc3339(crl.this_update);
    let next_update = crl.next_update.map(clock::rfc3339);
    let number = crl.number;
    let revoked: Vec<Value> = crl
        .entries
        .iter()
        .map(|r| {
            json!({
                "serial": serial::to_hex(&r.serial),
                "revoked_at": clock::rfc3339(r.revoked_at),
                "revocation_reason": r.code.map_or("unspecified", crate::revoke::reason_name),
            })
        })
        .collect();
    let mut lines = vec![
        "Certificate revocation list".to_string(),
        field("Issuer:", &issuer),
        field(
            "CRL number:",
            number.clone().unwrap_or_else(|| "none".into()),
        ),
        field("This update:", &this_update),
        field(
            "Next update:",
            next_update.clone().unwrap_or_else(|| "none".into()),
        ),
        field("Revoked:", revoked.len()),
    ];
    for r in revoked.iter().take(50) {
        lines.push(format!(
            "    {}  {}  {}",
            r["serial"].as_str().unwrap_or(""),
            r["revoked_at"].as_str().unwrap_or(""),
            r["revocation_reason"].as_str().unwrap_or("")
        ));
    }
    if revoked.len() > 50 {
        lines.push(format!(
            "    … and {} more (use --json)",
            revoked.len() - 50
        ));
    }
    Ok(Described {
        kind: "crl",
        json: json!({"type": "crl", "issuer": issuer, "crl_number": number.as_deref().map(crl_number_json), "this_update": this_update, "next_update": next_update, "revoked": revoked, "sha256_fingerprint": fingerprint(der)}),
        lines,
    })
}

fn key_described(tag: &str, der: &[u8], pem_text: &str, what: &str) -> Result<Described> {
    // Legacy-encrypted SEC1/PKCS#1 bodies are ciphertext: nothing to check.
    let legacy = pem_text.contains("Proc-Type: 4,ENCRYPTED");
    let encrypted = tag == "ENCRYPTED PRIVATE KEY" || legacy;
    if tag == "ENCRYPTED PRIVATE KEY" && pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).is_err() {
        return Err(Error::input(format!(
            "'{what}' is not a valid encrypted PKCS#8 private key"
        )));
    }
    // The structure first, for a specific error; then an unencrypted key is
    // loaded as every command loads one (aws-lc checks
    // the key itself, not only its structure): a key that only looks right
    // is refused here too.
    let structure = match tag {
        "EC PRIVATE KEY" if !legacy => Some((is_sec1(der), "SEC1 EC")),
        "RSA PRIVATE KEY" if !legacy => Some((is_pkcs1(der), "PKCS#1 RSA")),
        "PRIVATE KEY" => Some((pkcs8::PrivateKeyInfoRef::try_from(der).is_ok(), "PKCS#8")),
        _ => None,
    };
    if let Some((false, format_name)) = structure {
        return Err(Error::input(format!(
            "'{what}' is not a valid {format_name} private key"
        )));
    }
    let key = if encrypted {
        None
    } else {
        Some(crate::keys::load_private_key(pem_text, what, &mut || {
            Err(Error::input("encrypted"))
        })?)
    };
    let format = match tag {
        "EC PRIVATE KEY" => "SEC1",
        "RSA PRIVATE KEY" => "PKCS#1",
        _ => "PKCS#8",
    };
    let mut facts = json!({"type": "private_key", "format": format, "encrypted": encrypted});
    let mut lines = vec![
        "Private key (contents not shown)".to_string(),
        field("Format:", format),
        field("Encrypted:", if encrypted { "yes" } else { "NO" }),
    ];
    if tag == "ENCRYPTED PRIVATE KEY"
        && let Ok(enc) = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der)
    {
        let scheme = match enc.encryption_algorithm.pbes2() {
            Some(p) if p.kdf.is_scrypt() => "PBES2 scrypt".to_string(),
            Some(p) if p.kdf.is_pbkdf2() => "PBES2 PBKDF2".to_string(),
            Some(_) => "PBES2".to_string(),
            None => "PBES1 (legacy)".to_string(),
        };
        lines.push(field("Scheme:", &scheme));
        facts["scheme"] = json!(scheme);
    }
    if let Some(k) = key {
        use rcgen::PublicKeyData;
        let spki = k.subject_public_key_info();
        let kind = crate::keys::key_type_of(&k)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| "unknown".into());
        let fp = fingerprint(&spki);
        lines.push(field("Key:", &kind));
        lines.push(field("Public key SHA-256:", &fp));
        facts["key_type"] = json!(kind);
        facts["public_key_sha256"] = json!(fp);
    }
    Ok(Described {
        kind: "private_key",
        json: facts,
        lines,
    })
}

/// The elements of a DER SEQUENCE filling all of `der`, if it is one.
fn der_sequence(der: &[u8]) -> Option<Vec<x509_parser::der_parser::ber::BerObject<'_>>> {
    match x509_parser::der_parser::parse_der(der) {
        Ok(([], obj)) => obj.as_sequence().ok().cloned(),
        _ => None,
    }
}

/// SEC1 ECPrivateKey: SEQUENCE { version 1, privateKey OCTET STRING, [0] [1] OPTIONAL }.
fn is_sec1(der: &[u8]) -> bool {
    use x509_parser::der_parser::ber::Tag;
    der_sequence(der).is_some_and(|items| {
        items.len() >= 2
            && items[0].as_u32() == Ok(1)
            && items[1].header.tag() == Tag::OctetString
            && items[1].as_slice().is_ok_and(|k| !k.is_empty())
            && items[2..].iter().all(|o| o.header.is_contextspecific())
    })
}

/// PKCS#1 RSAPrivateKey: SEQUENCE { version, n, e, d, p, q, dP, dQ, qInv, … }, all INTEGERs.
fn is_pkcs1(der: &[u8]) -> bool {
    use x509_parser::der_parser::ber::Tag;
    der_sequence(der).is_some_and(|items| {
        items.len() >= 9
            && matches!(items[0].as_u32(), Ok(0 | 1))
            && items[..9].iter().all(|o| o.header.tag() == Tag::Integer)
    })
}

fn public_key_described(der: &[u8], what: &str) -> Result<Described> {
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
        .map_err(|_| Error::input(format!("'{what}' is not a valid public key")))?;
    let kind = crate::keys::public_key_kind(&spki);
    let fp = fingerprint(der);
    Ok(Described {
        kind: "public_key",
        json: json!({"type": "public_key", "key_type": kind.to_string(), "public_key_sha256": fp}),
        lines: vec![
            "Public key".to_string(),
            field("Key:", kind),
            field("SHA-256:", &fp),
        ],
    })
}
