//! Names: subject DNs typed as `CN=…,O=…,C=…` and SANs typed as `dns:…`,
//! `ip:…`, `uri:…`, `email:…`. Name constraints live in `constraints`.

use std::fmt;
use std::net::IpAddr;

use rcgen::{DistinguishedName, DnType, DnValue, SanType};

use crate::error::{Error, Result};

pub use crate::constraints::{IpNet, NameConstraintSet, dns_constraint, dns_within};

/// How an attribute's value is encoded in a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Utf8,
    /// PrintableString (countryName per RFC 5280, serialNumber).
    Printable,
    /// IA5String (domainComponent).
    Ia5,
}

/// A subject attribute certsmith accepts: everything about it in one row.
struct Attr {
    /// As users write it (`CN`, `SERIALNUMBER`, …).
    name: &'static str,
    oid: &'static str,
    /// rcgen's type; `None` for those rcgen only knows by OID.
    dn: Option<DnType>,
    encoding: Encoding,
    /// RFC 5280's upper bound, in characters.
    max_len: usize,
}

/// Every subject attribute certsmith accepts, in the order given.
#[rustfmt::skip]
const ATTRS: &[Attr] = &[
    Attr { name: "CN", oid: "2.5.4.3", dn: Some(DnType::CommonName), encoding: Encoding::Utf8, max_len: 64 },
    Attr { name: "O", oid: "2.5.4.10", dn: Some(DnType::OrganizationName), encoding: Encoding::Utf8, max_len: 64 },
    Attr { name: "OU", oid: "2.5.4.11", dn: Some(DnType::OrganizationalUnitName), encoding: Encoding::Utf8, max_len: 64 },
    Attr { name: "C", oid: "2.5.4.6", dn: Some(DnType::CountryName), encoding: Encoding::Printable, max_len: 128 },
    Attr { name: "ST", oid: "2.5.4.8", dn: Some(DnType::StateOrProvinceName), encoding: Encoding::Utf8, max_len: 128 },
    Attr { name: "L", oid: "2.5.4.7", dn: Some(DnType::LocalityName), encoding: Encoding::Utf8, max_len: 128 },
    Attr { name: "SERIALNUMBER", oid: "2.5.4.5", dn: None, encoding: Encoding::Printable, max_len: 64 },
    Attr { name: "DC", oid: "0.9.2342.19200300.100.1.25", dn: None, encoding: Encoding::Ia5, max_len: 128 },
];

/// The row of attribute `name` (as users write it, upper case).
fn attr(name: &str) -> Option<&'static Attr> {
    ATTRS.iter().find(|a| a.name == name)
}

/// The attribute name certsmith uses for `oid` (e.g. `2.5.4.5` →
/// `SERIALNUMBER`), if it is one certsmith keeps in subjects.
pub fn attr_name(oid: &str) -> Option<&'static str> {
    ATTRS.iter().find(|a| a.oid == oid).map(|a| a.name)
}

/// The OID of attribute `name` (as [`attr_name`] gives it).
pub fn attr_oid(name: &str) -> Option<&'static str> {
    attr(name).map(|a| a.oid)
}

/// Whether an attribute value's ASN.1 type is a character string.
pub fn is_string_tag(tag: x509_parser::der_parser::asn1_rs::Tag) -> bool {
    use x509_parser::der_parser::asn1_rs::Tag;
    matches!(
        tag,
        Tag::Utf8String
            | Tag::PrintableString
            | Tag::Ia5String
            | Tag::VisibleString
            | Tag::NumericString
            | Tag::T61String
            | Tag::BmpString
            | Tag::UniversalString
    )
}

/// The text of a subject attribute value of any ASN.1 string type:
/// BMPString is UTF-16BE, UniversalString UTF-32BE, T61String read as
/// Latin-1 (as OpenSSL does). `None` when it is not a string or cannot be decoded.
pub fn attr_text(v: &x509_parser::der_parser::asn1_rs::Any<'_>) -> Option<String> {
    use x509_parser::der_parser::asn1_rs::Tag;
    let data = v.data;
    match v.header.tag() {
        Tag::T61String => Some(data.iter().map(|b| char::from(*b)).collect()),
        Tag::BmpString if data.len().is_multiple_of(2) => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString if data.len().is_multiple_of(4) => data
            .chunks(4)
            .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        Tag::BmpString | Tag::UniversalString => None,
        t if is_string_tag(t) => String::from_utf8(data.to_vec()).ok(),
        _ => None,
    }
}

/// The attribute names certsmith keeps, as users write them.
pub const KNOWN_ATTRS: &str = "CN, O, OU, C, ST, L, serialNumber and DC";

/// A subject as typed: ordered (attribute, value) pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub attrs: Vec<(String, String)>,
}

impl Subject {
    /// A subject with only a common name.
    pub fn cn(cn: &str) -> Subject {
        Subject {
            attrs: vec![("CN".into(), cn.into())],
        }
    }

    /// Parses `CN=Acme Device 42,O=Acme,C=CH` (a comma inside a value is
    /// written `\,`). Repeated attributes are refused: the certificate
    /// library would silently keep only one of them.
    pub fn parse(s: &str) -> Result<Subject> {
        // OpenSSL's "/CN=x/O=y" form is accepted too; otherwise commas separate.
        let (body, sep) = match s.trim_start().strip_prefix('/') {
            Some(rest) => (rest, '/'),
            None => (s, ','),
        };
        let mut parts = Vec::new();
        let mut cur = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            } else if c == sep {
                parts.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        parts.push(cur);
        let parts: Vec<String> = parts.into_iter().filter(|p| !p.trim().is_empty()).collect();
        let mut pairs = Vec::new();
        for p in parts {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                Error::input(format!("subject part '{}' has no '='", p.trim()))
                    .hint("write the subject like \"CN=Acme Device 42,O=Acme,C=CH\"")
            })?;
            pairs.push((k.trim().to_string(), v.trim().to_string()));
        }
        Self::from_pairs(pairs, s)
    }

    /// A subject from (attribute, value) pairs in order, with the checks of
    /// [`Subject::parse`]; `whole` names the subject in messages.
    pub fn from_pairs(pairs: Vec<(String, String)>, whole: &str) -> Result<Subject> {
        let s = whole;
        let mut attrs: Vec<(String, String)> = Vec::new();
        for (k, val) in pairs {
            let key = k.to_ascii_uppercase();
            if attr(&key).is_none() {
                return Err(Error::input(format!(
                    "unknown subject attribute '{}'",
                    crate::error::shown(&k)
                ))
                .hint(format!("use {}", KNOWN_ATTRS.replace(" and ", " or "))));
            }
            if val.is_empty() {
                return Err(Error::input(format!("subject attribute '{key}' is empty")));
            }
            if attrs.iter().any(|(a, _)| *a == key) {
                return Err(Error::input(format!(
                    "subject attribute '{key}' appears more than once in '{}'",
                    crate::error::shown(s)
                ))
                .hint("give each attribute once; repeated attributes are not supported"));
            }
            check_attr(&key, &val)?;
            if key == "C" && (val.len() != 2 || !val.chars().all(|c| c.is_ascii_alphabetic())) {
                return Err(Error::input(format!(
                    "country 'C={val}' must be a two-letter ISO 3166 code"
                )));
            }
            attrs.push((key, val));
        }
        if attrs.is_empty() {
            return Err(Error::input(format!("subject '{s}' is empty")));
        }
        Ok(Subject { attrs })
    }

    /// The common name, if any.
    pub fn common_name(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v.as_str())
    }

    /// Replaces or adds the common name.
    pub fn set_cn(&mut self, cn: &str) {
        match self.attrs.iter_mut().find(|(k, _)| k == "CN") {
            Some(a) => a.1 = cn.to_string(),
            None => self.attrs.push(("CN".into(), cn.into())),
        }
    }

    /// The rcgen DN. countryName is a PrintableString (RFC 5280), DC an
    /// IA5String, everything else UTF8String.
    pub fn to_dn(&self) -> Result<DistinguishedName> {
        let mut dn = DistinguishedName::new();
        for (k, v) in &self.attrs {
            check_attr(k, v)?;
            // Subjects are built through `from_pairs`, which refuses unknown names.
            let a = attr(k).unwrap_or(&ATTRS[0]);
            let value = match a.encoding {
                Encoding::Printable => {
                    DnValue::PrintableString(v.as_str().try_into().map_err(|_| {
                        Error::input(format!(
                            "subject attribute '{k}={v}' must be printable ASCII"
                        ))
                    })?)
                }
                Encoding::Ia5 => DnValue::Ia5String(v.as_str().try_into().map_err(|_| {
                    Error::input(format!("subject attribute '{k}={v}' must be ASCII"))
                })?),
                Encoding::Utf8 => DnValue::Utf8String(v.clone()),
            };
            let dn_type = a.dn.clone().unwrap_or_else(|| {
                DnType::CustomDnType(a.oid.split('.').filter_map(|p| p.parse().ok()).collect())
            });
            dn.push(dn_type, value);
        }
        Ok(dn)
    }
}

/// Refuses an attribute value no certificate should carry: control
/// characters (NUL, terminal escapes) and values beyond RFC 5280's upper
/// bounds (64 characters for CN, O, OU and serialNumber, 128 for the rest).
/// Checked when a subject is parsed and again when it becomes a DN, so
/// subjects built without the parser (`Subject::cn`) get it too.
fn check_attr(key: &str, val: &str) -> Result<()> {
    if val.chars().any(char::is_control) {
        return Err(Error::input(format!(
            "subject attribute '{key}={}' holds a control character",
            crate::error::shown(val)
        )));
    }
    // A bidi override or isolate makes a name read differently from what it is.
    if val.chars().any(crate::error::reorders_text) {
        return Err(Error::input(format!(
            "subject attribute '{key}={}' holds a bidi control or line separator character",
            crate::error::shown(val)
        ))
        .hint("write the name without directional formatting characters (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C, U+2028/U+2029)"));
    }
    let limit = attr(key).map_or(128, |a| a.max_len);
    if val.chars().count() > limit {
        return Err(Error::input(format!(
            "subject attribute '{key}={}' is {} characters long; the limit is {limit} (RFC 5280)",
            crate::error::shown(val),
            val.chars().count()
        )));
    }
    Ok(())
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self
            .attrs
            .iter()
            .map(|(k, v)| format!("{k}={}", escape_value(v)))
            .collect();
        f.write_str(&s.join(","))
    }
}

/// An attribute value as a subject string holds it: `\` and `,` escaped.
fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace(',', "\\,")
}

/// A distinguished name from a certificate, CSR or CRL written the way
/// `--subject` takes it and [`Subject`] prints it: attributes in the
/// certificate's order, `,` between them without spaces (`+` inside a
/// multi-valued RDN), `\` and `,` in values escaped; an attribute whose
/// value is not a string as `NAME=#<hex DER value>`.
pub fn dn_text(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|a| {
                    let oid = a.attr_type().to_id_string();
                    let key = attr_name(&oid).map(str::to_string).unwrap_or_else(|| {
                        x509_parser::objects::oid2abbrev(
                            a.attr_type(),
                            x509_parser::objects::oid_registry(),
                        )
                        .map(str::to_string)
                        .unwrap_or(oid)
                    });
                    match attr_text(a.attr_value()) {
                        Some(v) => format!("{key}={}", escape_value(&v)),
                        None => format!("{key}=#{}", crate::serial::to_hex(a.attr_value().data)),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.join(",")
}

/// A subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
    Uri(String),
    Email(String),
}

impl San {
    /// Parses `dns:x`, `ip:x`, `uri:x`, `email:x`, or a bare value guessed as
    /// IP, then URI (has `://`), then email (has `@`), else DNS.
    pub fn parse(s: &str) -> Result<San> {
        let s = s.trim();
        let lower = s.to_ascii_lowercase();
        let san = if let Some(v) = lower.strip_prefix("dns:").map(|_| &s[4..]) {
            San::Dns(v.to_string())
        } else if let Some(v) = lower.strip_prefix("ip:").map(|_| &s[3..]) {
            San::Ip(v.parse().map_err(|_| {
                Error::input(format!(
                    "SAN '{}' is not a valid IP address",
                    crate::error::shown(s)
                ))
            })?)
        } else if let Some(v) = lower.strip_prefix("uri:").map(|_| &s[4..]) {
            San::Uri(v.to_string())
        } else if let Some(v) = lower.strip_prefix("email:").map(|_| &s[6..]) {
            San::Email(v.to_string())
        } else if let Ok(ip) = s.parse::<IpAddr>() {
            San::Ip(ip)
        } else if s.contains("://") {
            San::Uri(s.to_string())
        } else if s.contains('@') {
            San::Email(s.to_string())
        } else {
            San::Dns(s.to_string())
        };
        san.validate()?;
        Ok(san)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            San::Dns(d) => {
                let body = d.strip_prefix("*.").unwrap_or(d);
                let ok = !body.is_empty()
                    && body.len() <= 253
                    && body.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                            && !l.starts_with('-')
                            && !l.ends_with('-')
                    });
                if !ok {
                    return Err(Error::input(format!(
                        "SAN 'dns:{}' is not a valid DNS name",
                        crate::error::shown(d)
                    )));
                }
            }
            San::Uri(u) => {
                let ok = u.split_once("://").is_some_and(|(scheme, rest)| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                        && !rest.is_empty()
                }) && u.is_ascii()
                    && !u.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return Err(Error::input(format!(
                        "SAN 'uri:{}' is not a valid URI",
                        crate::error::shown(u)
                    )));
                }
            }
            San::Email(e) => {
                let why = if !e.is_ascii() || e.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    Some("it holds spaces, control or non-ASCII characters")
                } else if e.matches('@').count() > 1 {
                    Some("it has more than one '@'")
                } else {
                    match e.split_once('@') {
                        Some((l, d)) if !l.is_empty() => (d.contains('*')
                            || San::Dns(d.to_string()).validate().is_err())
                        .then_some("the part after '@' is not a DNS domain"),
                        _ => Some("it needs a local part, '@' and a domain"),
                    }
                };
                if let Some(why) = why {
                    return Err(Error::input(format!(
                        "SAN 'email:{}' is not a valid email address: {why}",
                        crate::error::shown(e)
                    )));
                }
            }
            San::Ip(_) => {}
        }
        Ok(())
    }

    /// The kind as written in profiles: `dns`, `ip`, `uri`, `email`.
    pub fn kind(&self) -> &'static str {
        match self {
            San::Dns(_) => "dns",
            San::Ip(_) => "ip",
            San::Uri(_) => "uri",
            San::Email(_) => "email",
        }
    }

    /// The rcgen value.
    pub fn to_rcgen(&self) -> Result<SanType> {
        let ia5 = |v: &str| {
            v.try_into()
                .map_err(|_| Error::input(format!("SAN '{self}' must be ASCII")))
        };
        Ok(match self {
            San::Dns(d) => SanType::DnsName(ia5(d)?),
            San::Ip(i) => SanType::IpAddress(*i),
            San::Uri(u) => SanType::URI(ia5(u)?),
            San::Email(e) => SanType::Rfc822Name(ia5(e)?),
        })
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(v) => write!(f, "dns:{v}"),
            San::Ip(v) => write!(f, "ip:{v}"),
            San::Uri(v) => write!(f, "uri:{v}"),
            San::Email(v) => write!(f, "email:{v}"),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn known_attrs_text_names_every_attribute_of_the_table() {
        let text = KNOWN_ATTRS.to_ascii_uppercase();
        for a in ATTRS {
            assert!(
                text.split([',', ' ']).any(|w| w == a.name),
                "{} missing from KNOWN_ATTRS",
                a.name
            );
        }
        assert_eq!(text.matches(',').count() + 2, ATTRS.len());
    }

    use super::*;

    #[test]
    fn subject_keeps_order_and_refuses_repeats() {
        let s = Subject::parse("CN=Acme Device 42,O=Acme,C=CH").unwrap();
        assert_eq!(s.to_string(), "CN=Acme Device 42,O=Acme,C=CH");
        let e = Subject::parse("CN=x,OU=a,OU=b").unwrap_err();
        assert!(e.to_string().contains("'OU' appears more than once"), "{e}");
        assert!(Subject::parse("CN=x,C=Switzerland").is_err());
        assert_eq!(
            Subject::parse(r"CN=a\, b").unwrap().common_name(),
            Some("a, b")
        );
    }

    #[test]
    fn bare_sans_are_guessed() {
        assert_eq!(
            San::parse("10.0.0.7").unwrap(),
            San::Ip("10.0.0.7".parse().unwrap())
        );
        assert_eq!(San::parse("spiffe://acme/device/42").unwrap().kind(), "uri");
        assert_eq!(San::parse("ops@acme.example").unwrap().kind(), "email");
        assert_eq!(San::parse("api.acme.internal").unwrap().kind(), "dns");
        assert!(San::parse("dns:bad name").is_err());
    }
}
