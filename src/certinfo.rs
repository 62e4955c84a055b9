//! The facts certsmith needs from a parsed X.509 certificate, extracted once
//! with x509-parser so every command reads them the same way.

use std::net::IpAddr;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::error::{Error, Result};
use crate::keys::{PublicKeyKind, public_key_kind};
use crate::names::NameConstraintSet;
use crate::serial;

/// Parsed facts of one certificate, owning its DER.
#[derive(Clone, Debug)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub version: u32,
    pub subject: String,
    pub subject_raw: Vec<u8>,
    pub issuer: String,
    pub issuer_raw: Vec<u8>,
    pub serial: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub is_ca: bool,
    pub basic_constraints_critical: bool,
    pub pathlen: Option<u32>,
    pub key_usage: Vec<&'static str>,
    pub ext_key_usage: Vec<String>,
    pub sans: Vec<String>,
    pub common_name: Option<String>,
    pub ski: Option<Vec<u8>>,
    pub aki: Option<Vec<u8>>,
    pub name_constraints: NameConstraintSet,
    pub key: PublicKeyKind,
    pub spki_der: Vec<u8>,
    pub signature_algorithm: String,
    pub fingerprint: String,
    pub self_signed: bool,
    /// The URIs of its CRL Distribution Points.
    pub crl_urls: Vec<String>,
    /// Its Authority Information Access URIs: OCSP, then caIssuers.
    pub ocsp_urls: Vec<String>,
    pub ca_issuers_urls: Vec<String>,
}

impl CertInfo {
    /// Parses DER; `what` names the source in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<CertInfo> {
        let info = Self::from_der_as_is(der, what)?;
        let dup = X509Certificate::from_der(&info.der)
            .ok()
            .and_then(|(_, c)| duplicate_extension(&c));
        if let Some(oid) = dup {
            return Err(Error::input(format!(
                "'{what}' has extension {oid} more than once, which RFC 5280 forbids"
            )));
        }
        Ok(info)
    }

    /// Parses DER without judging it by RFC 5280's profile rules (a
    /// duplicate extension): `verify` reads such a certificate and rejects
    /// it as not valid, naming the rule.
    pub fn from_der_as_is(der: &[u8], what: &str) -> Result<CertInfo> {
        let (rest, c) = X509Certificate::from_der(der)
            .map_err(|e| Error::input(format!("'{what}' is not a valid X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(Error::input(format!(
                "'{what}' has trailing bytes after the certificate"
            )));
        }
        Self::from_parsed(&c, &der[..der.len() - rest.len()])
    }

    fn from_parsed(c: &X509Certificate<'_>, der: &[u8]) -> Result<CertInfo> {
        let mut info = CertInfo {
            der: der.to_vec(),
            version: c.version().0 + 1,
            subject: crate::names::dn_text(c.subject()),
            subject_raw: c.subject().as_raw().to_vec(),
            issuer: crate::names::dn_text(c.issuer()),
            issuer_raw: c.issuer().as_raw().to_vec(),
            serial: serial::normalize(c.raw_serial()).to_vec(),
            not_before: c.validity().not_before.to_datetime(),
            not_after: c.validity().not_after.to_datetime(),
            is_ca: false,
            basic_constraints_critical: false,
            pathlen: None,
            key_usage: Vec::new(),
            ext_key_usage: Vec::new(),
            sans: Vec::new(),
            common_name: c
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_string),
            ski: None,
            aki: None,
            name_constraints: NameConstraintSet::default(),
            key: public_key_kind(c.public_key()),
            spki_der: c.public_key().raw.to_vec(),
            signature_algorithm: signature_name(&c.signature_algorithm.algorithm.to_id_string()),
            fingerprint: fingerprint(der),
            self_signed: c.subject().as_raw() == c.issuer().as_raw(),
            crl_urls: Vec::new(),
            ocsp_urls: Vec::new(),
            ca_issuers_urls: Vec::new(),
        };
        for ext in c.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    info.is_ca = bc.ca;
                    info.pathlen = bc.path_len_constraint;
                    info.basic_constraints_critical = ext.critical;
                }
                ParsedExtension::KeyUsage(ku) => info.key_usage = key_usage_names(ku),
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    if eku.server_auth {
                        info.ext_key_usage.push("serverAuth".into());
                    }
                    if eku.client_auth {
                        info.ext_key_usage.push("clientAuth".into());
                    }
                    if eku.code_signing {
                        info.ext_key_usage.push("codeSigning".into());
                    }
                    if eku.email_protection {
                        info.ext_key_usage.push("emailProtection".into());
                    }
                    if eku.time_stamping {
                        info.ext_key_usage.push("timeStamping".into());
                    }
                    if eku.ocsp_signing {
                        info.ext_key_usage.push("OCSPSigning".into());
                    }
                    if eku.any {
                        info.ext_key_usage.push("anyExtendedKeyUsage".into());
                    }
                    for o in &eku.other {
                        info.ext_key_usage.push(o.to_id_string());
                    }
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    info.sans = san
                        .general_names
                        .iter()
                        .filter_map(general_name_text)
                        .collect();
                }
                ParsedExtension::SubjectKeyIdentifier(k) => info.ski = Some(k.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    info.aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                ParsedExtension::NameConstraints(nc) => {
                    info.name_constraints = NameConstraintSet::from_x509(nc)
                }
                ParsedExtension::CRLDistributionPoints(dps) => {
                    use x509_parser::extensions::DistributionPointName;
                    for dp in dps.iter() {
                        if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point
                        {
                            info.crl_urls.extend(names.iter().filter_map(uri_of));
                        }
                    }
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    for ad in aia.iter() {
                        let list = match ad.access_method.to_id_string().as_str() {
                            "1.3.6.1.5.5.7.48.1" => &mut info.ocsp_urls,
                            "1.3.6.1.5.5.7.48.2" => &mut info.ca_issuers_urls,
                            _ => continue,
                        };
                        list.extend(uri_of(&ad.access_location));
                    }
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// Whether `t` lies within notBefore..=notAfter.
    pub fn valid_at(&self, t: OffsetDateTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// Whether the certificate may sign certificates (CA:TRUE and keyCertSign when keyUsage is present).
    pub fn can_sign_certs(&self) -> bool {
        self.is_ca && (self.key_usage.is_empty() || self.key_usage.contains(&"keyCertSign"))
    }

    /// PEM of this certificate.
    pub fn pem(&self) -> String {
        crate::keys::pem_encode("CERTIFICATE", &self.der)
    }

    /// The DNS names in the SANs (without the `dns:` prefix).
    pub fn dns_names(&self) -> impl Iterator<Item = &str> {
        self.sans.iter().filter_map(|s| s.strip_prefix("dns:"))
    }

    /// The email addresses (rfc822Name) in the SANs.
    pub fn email_names(&self) -> impl Iterator<Item = &str> {
        self.sans.iter().filter_map(|s| s.strip_prefix("email:"))
    }

    /// The IP addresses in the SANs.
    pub fn ip_addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.sans
            .iter()
            .filter_map(|s| s.strip_prefix("ip:"))
            .filter_map(|s| s.parse().ok())
    }
}

/// SHA-256 fingerprint of DER, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    serial::to_hex(&sha2::Sha256::digest(der))
}

/// `dns:…`, `ip:…`, `uri:…`, `email:…` text of a general name.
pub fn general_name_text(g: &GeneralName<'_>) -> Option<String> {
    Some(match g {
        GeneralName::DNSName(d) => format!("dns:{d}"),
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("uri:{u}"),
        GeneralName::IPAddress(b) => match b.len() {
            4 => format!("ip:{}", IpAddr::from(<[u8; 4]>::try_from(*b).ok()?)),
            16 => format!("ip:{}", IpAddr::from(<[u8; 16]>::try_from(*b).ok()?)),
            _ => return None,
        },
        GeneralName::DirectoryName(n) => format!("dirname:{n}"),
        _ => return None,
    })
}

fn key_usage_names(ku: &x509_parser::extensions::KeyUsage) -> Vec<&'static str> {
    let mut v = Vec::new();
    if ku.digital_signature() {
        v.push("digitalSignature");
    }
    if ku.non_repudiation() {
        v.push("nonRepudiation");
    }
    if ku.key_encipherment() {
        v.push("keyEncipherment");
    }
    if ku.data_encipherment() {
        v.push("dataEncipherment");
    }
    if ku.key_agreement() {
        v.push("keyAgreement");
    }
    if ku.key_cert_sign() {
        v.push("keyCertSign");
    }
    if ku.crl_sign() {
        v.push("cRLSign");
    }
    if ku.encipher_only() {
        v.push("encipherOnly");
    }
    if ku.decipher_only() {
        v.push("decipherOnly");
    }
    v
}

/// A readable name for a signature algorithm OID.
pub fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256".into(),
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384".into(),
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512".into(),
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption".into(),
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption".into(),
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption".into(),
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1".into(),
        "1.2.840.113549.1.1.10" => "rsassa-pss".into(),
        "1.3.101.112" => "ed25519".into(),
        other => other.into(),
    }
}

/// The OID of an extension that appears more than once, if any.
pub fn duplicate_extension(c: &X509Certificate<'_>) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    c.extensions()
        .iter()
        .map(|e| e.oid.to_id_string())
        .find(|oid| !seen.insert(oid.clone()))
}

/// Splits PEM text into its certificates' DER, refusing anything that is
/// not a CERTIFICATE block. `what` names the source in errors.
pub fn parse_pem_certs(text: &str, what: &str) -> Result<Vec<CertInfo>> {
    parse_pem_certs_with(text, what, CertInfo::from_der)
}

/// [`parse_pem_certs`] without the profile check: for trust material
/// that is judged by the rules of the role it takes (`verify --bundle`).
pub fn parse_pem_certs_as_is(text: &str, what: &str) -> Result<Vec<CertInfo>> {
    parse_pem_certs_with(text, what, CertInfo::from_der_as_is)
}

fn parse_pem_certs_with(
    text: &str,
    what: &str,
    parse: fn(&[u8], &str) -> Result<CertInfo>,
) -> Result<Vec<CertInfo>> {
    let blocks = ::pem::parse_many(text).map_err(|e| crate::error::bad_pem(what, &e))?;
    if blocks.is_empty() {
        return Err(Error::input(format!(
            "'{what}' contains no PEM certificate"
        )));
    }
    blocks
        .iter()
        .map(|b| {
            if b.tag() != "CERTIFICATE" {
                return Err(Error::input(format!(
                    "'{what}' holds a '{}' PEM block where a CERTIFICATE was expected",
                    b.tag()
                )));
            }
            parse(b.contents(), what)
        })
        .collect()
}

/// Reads one or more certificates from a file in PEM or DER.
pub fn read_certs(path: &std::path::Path) -> Result<Vec<CertInfo>> {
    read_certs_with(path, CertInfo::from_der)
}

/// [`read_certs`] without RFC 5280's profile rules (see [`CertInfo::from_der_as_is`]).
pub fn read_certs_as_is(path: &std::path::Path) -> Result<Vec<CertInfo>> {
    read_certs_with(path, CertInfo::from_der_as_is)
}

fn read_certs_with(
    path: &std::path::Path,
    parse: fn(&[u8], &str) -> Result<CertInfo>,
) -> Result<Vec<CertInfo>> {
    let bytes = crate::input::read(path, crate::input::Kind::Certificates)?;
    let what = path.display().to_string();
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => parse_pem_certs_with(text, &what, parse),
        _ => Ok(vec![parse(&bytes, &what)?]),
    }
}

/// The text of a URI general name.
fn uri_of(n: &x509_parser::extensions::GeneralName<'_>) -> Option<String> {
    match n {
        x509_parser::extensions::GeneralName::URI(u) => Some((*u).to_string()),
        _ => None,
    }
}
