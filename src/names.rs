//! Names: subject DNs typed as `CN=…,O=…,C=…`, SANs typed as `dns:…`,
//! `ip:…`, `uri:…`, `email:…`, and name constraints with their matching rules
//! (RFC 5280 4.2.1.10).

use std::fmt;
use std::net::IpAddr;

use rcgen::{DistinguishedName, DnType, DnValue, SanType};

use crate::error::{Error, Result};

/// One subject attribute certsmith accepts, in the order given.
const ATTRS: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("DC", "0.9.2342.19200300.100.1.25"),
];

/// The attribute name certsmith uses for `oid` (e.g. `2.5.4.5` →
/// `SERIALNUMBER`), if it is one certsmith keeps in subjects.
pub fn attr_name(oid: &str) -> Option<&'static str> {
    ATTRS.iter().find(|(_, o)| *o == oid).map(|(n, _)| *n)
}

/// The attribute names certsmith keeps, as users write them.
pub const KNOWN_ATTRS: &str = "CN, O, OU, C, ST, L, serialNumber and DC";

fn dn_type(oid: &str) -> DnType {
    match oid {
        "2.5.4.3" => DnType::CommonName,
        "2.5.4.10" => DnType::OrganizationName,
        "2.5.4.11" => DnType::OrganizationalUnitName,
        "2.5.4.6" => DnType::CountryName,
        "2.5.4.8" => DnType::StateOrProvinceName,
        "2.5.4.7" => DnType::LocalityName,
        other => DnType::CustomDnType(other.split('.').filter_map(|p| p.parse().ok()).collect()),
    }
}

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
            if !ATTRS.iter().any(|(n, _)| *n == key) {
                return Err(
                    Error::input(format!("unknown subject attribute '{}'", crate::error::shown(&k)))
                        .hint(format!("use {}", KNOWN_ATTRS.replace(" and ", " or "))),
                );
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
            let oid = ATTRS
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, o)| *o)
                .unwrap_or("2.5.4.3");
            let value = match k.as_str() {
                "C" | "SERIALNUMBER" => {
                    DnValue::PrintableString(v.as_str().try_into().map_err(|_| {
                        Error::input(format!(
                            "subject attribute '{k}={v}' must be printable ASCII"
                        ))
                    })?)
                }
                "DC" => DnValue::Ia5String(v.as_str().try_into().map_err(|_| {
                    Error::input(format!("subject attribute '{k}={v}' must be ASCII"))
                })?),
                _ => DnValue::Utf8String(v.clone()),
            };
            dn.push(dn_type(oid), value);
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
    let limit = if ["CN", "O", "OU", "SERIALNUMBER"].contains(&key) {
        64
    } else {
        128
    };
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
            .map(|(k, v)| format!("{k}={}", v.replace('\\', "\\\\").replace(',', "\\,")))
            .collect();
        f.write_str(&s.join(","))
    }
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

    fn validate(&self) -> Result<()> {
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
                let why = if !e.is_ascii() || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
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

/// An IP network (`10.0.0.0/8`), as used in IP name constraints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    /// Parses `ADDR/PREFIX`; host bits must be zero.
    pub fn parse(s: &str) -> Result<IpNet> {
        let bad = || {
            Error::input(format!("'{s}' is not a CIDR network"))
                .hint("write it like 10.0.0.0/8 or fd00::/8")
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        let net = IpNet { addr, prefix };
        if net.network() != addr {
            return Err(Error::input(format!("'{s}' has host bits set"))
                .hint(format!("did you mean {}/{prefix}?", net.network())));
        }
        Ok(net)
    }

    /// From the 8- or 32-byte address+mask form of a name constraint.
    pub fn from_constraint_bytes(b: &[u8]) -> Option<IpNet> {
        let (addr, mask): (IpAddr, &[u8]) = match b.len() {
            8 => (IpAddr::from(<[u8; 4]>::try_from(&b[..4]).ok()?), &b[4..]),
            32 => (IpAddr::from(<[u8; 16]>::try_from(&b[..16]).ok()?), &b[16..]),
            _ => return None,
        };
        let prefix = mask.iter().map(|m| m.count_ones()).sum::<u32>() as u8;
        Some(IpNet { addr, prefix })
    }

    fn bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(a) => u32::from(a) as u128,
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn width(&self) -> u32 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    fn mask(&self) -> u128 {
        let w = self.width();
        let full = if w == 128 { !0u128 } else { (1u128 << w) - 1 };
        let host = w - u32::from(self.prefix);
        if host >= 128 {
            0
        } else {
            full & !((1u128 << host) - 1)
        }
    }

    fn network(&self) -> IpAddr {
        let n = Self::bits(self.addr) & self.mask();
        match self.addr {
            IpAddr::V4(_) => IpAddr::from((n as u32).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from(n.to_be_bytes()),
        }
    }

    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && (Self::bits(ip) & self.mask()) == Self::bits(self.network())
    }

    /// Whether all of `other` is inside this network.
    pub fn contains_net(&self, other: &IpNet) -> bool {
        other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// The rcgen value.
    pub fn to_rcgen(&self) -> rcgen::CidrSubnet {
        rcgen::CidrSubnet::from_addr_prefix(self.addr, self.prefix)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Parses a DNS name constraint given with `flag` (`--permit-dns`,
/// `--exclude-dns`): a domain (itself and every name below it) or
/// `.domain` (only names below it). A wildcard is refused: RFC 5280 has no
/// wildcard constraints, and verifiers would match no real name against it.
pub fn dns_constraint(flag: &str, d: &str) -> Result<String> {
    let body = d.strip_prefix('.').unwrap_or(d);
    if body.contains('*') {
        let plain = body.trim_start_matches("*.").trim_start_matches('*');
        return Err(Error::input(format!(
            "name constraint '{}' is a wildcard; a constraint names a domain, and covers every name below it",
            crate::error::shown(d)
        ))
        .hint(format!(
            "write {flag} {plain} (the domain and its subdomains) or {flag} .{plain} (subdomains only)"
        )));
    }
    match San::Dns(body.to_string()).validate() {
        Ok(()) => Ok(d.to_ascii_lowercase()),
        Err(_) => Err(Error::input(format!(
            "name constraint '{}' is not a DNS domain",
            crate::error::shown(d)
        ))),
    }
}

/// DNS constraint matching (RFC 5280): `acme.internal` covers itself and
/// every subdomain; `.acme.internal` covers subdomains only.
pub fn dns_within(name: &str, constraint: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let c = constraint.trim_end_matches('.').to_ascii_lowercase();
    if c.is_empty() {
        return true;
    }
    if let Some(sub) = c.strip_prefix('.') {
        return name.ends_with(&format!(".{sub}"));
    }
    name == c || name.ends_with(&format!(".{c}"))
}

/// A CA's name constraints (DNS and IP; `other` marks kinds certsmith cannot check).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameConstraintSet {
    pub permit_dns: Vec<String>,
    pub exclude_dns: Vec<String>,
    pub permit_ip: Vec<IpNet>,
    pub exclude_ip: Vec<IpNet>,
    pub other: bool,
}

impl NameConstraintSet {
    pub fn is_empty(&self) -> bool {
        self.permit_dns.is_empty()
            && self.exclude_dns.is_empty()
            && self.permit_ip.is_empty()
            && self.exclude_ip.is_empty()
    }

    /// Why `dns` is not allowed, if it is not.
    pub fn check_dns(&self, dns: &str) -> Option<String> {
        if let Some(c) = self.exclude_dns.iter().find(|c| dns_within(dns, c)) {
            return Some(format!("'{dns}' is inside the excluded DNS subtree '{c}'"));
        }
        if !self.permit_dns.is_empty() && !self.permit_dns.iter().any(|c| dns_within(dns, c)) {
            return Some(format!(
                "'{dns}' is outside the permitted DNS subtrees ({})",
                self.permit_dns.join(", ")
            ));
        }
        None
    }

    /// Why `ip` is not allowed, if it is not.
    pub fn check_ip(&self, ip: IpAddr) -> Option<String> {
        if let Some(c) = self.exclude_ip.iter().find(|c| c.contains(ip)) {
            return Some(format!("'{ip}' is inside the excluded IP range '{c}'"));
        }
        let same_family: Vec<_> = self
            .permit_ip
            .iter()
            .filter(|n| n.addr.is_ipv4() == ip.is_ipv4())
            .collect();
        if !self.permit_ip.is_empty() && !same_family.iter().any(|c| c.contains(ip)) {
            let list: Vec<String> = self.permit_ip.iter().map(|n| n.to_string()).collect();
            return Some(format!(
                "'{ip}' is outside the permitted IP ranges ({})",
                list.join(", ")
            ));
        }
        None
    }

    /// Why a subordinate CA's constraints are not within these, if they are not.
    pub fn check_subordinate(&self, child: &NameConstraintSet) -> Option<String> {
        if !self.permit_dns.is_empty() {
            if child.permit_dns.is_empty() {
                return Some(format!(
                    "the issuer permits only DNS names under {}; give the new CA --permit-dns within them",
                    self.permit_dns.join(", ")
                ));
            }
            for d in &child.permit_dns {
                if let Some(why) = self.check_dns(d.trim_start_matches('.')) {
                    return Some(why);
                }
            }
        }
        for d in &child.permit_dns {
            if let Some(c) = self
                .exclude_dns
                .iter()
                .find(|c| dns_within(d.trim_start_matches('.'), c))
            {
                return Some(format!("'{d}' is inside the excluded DNS subtree '{c}'"));
            }
        }
        if !self.permit_ip.is_empty() {
            if child.permit_ip.is_empty() {
                return Some("the issuer permits only some IP ranges; give the new CA --permit-ip within them".into());
            }
            for n in &child.permit_ip {
                if !self.permit_ip.iter().any(|p| p.contains_net(n)) {
                    return Some(format!(
                        "'{n}' is outside the permitted IP ranges of the issuer"
                    ));
                }
            }
        }
        None
    }

    /// The rcgen value, or `None` when empty.
    pub fn to_rcgen(&self) -> Option<rcgen::NameConstraints> {
        if self.is_empty() {
            return None;
        }
        use rcgen::GeneralSubtree;
        let subtrees = |dns: &[String], ip: &[IpNet]| {
            dns.iter()
                .map(|d| GeneralSubtree::DnsName(d.clone()))
                .chain(ip.iter().map(|n| GeneralSubtree::IpAddress(n.to_rcgen())))
                .collect()
        };
        Some(rcgen::NameConstraints {
            permitted_subtrees: subtrees(&self.permit_dns, &self.permit_ip),
            excluded_subtrees: subtrees(&self.exclude_dns, &self.exclude_ip),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_keeps_order_and_refuses_repeats() {
        let s = Subject::parse("CN=Acme Device 42,O=Acme,C=CH").unwrap();
        assert_eq!(s.to_string(), "CN=Acme Device 42,O=Acme,C=CH");
        let e = Subject::parse("CN=x,OU=a,OU=b").unwrap_err();
        assert!(e.message.contains("'OU' appears more than once"), "{e}");
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

    #[test]
    fn dns_constraints_follow_rfc5280() {
        assert!(dns_within("a.acme.internal", "acme.internal"));
        assert!(dns_within("acme.internal", "acme.internal"));
        assert!(!dns_within("evilacme.internal", "acme.internal"));
        assert!(!dns_within("acme.internal", ".acme.internal"));
    }

    #[test]
    fn ip_networks_contain() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.1/8").is_err());
        let v6 = IpNet::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(n.contains_net(&IpNet::parse("10.2.0.0/16").unwrap()));
    }
}
