//! Name constraints (RFC 5280 4.2.1.10) of a CA and their matching rules,
//! for every name type certsmith issues: DNS, IP, email and URI SANs, and
//! directory names (the subject). OpenSSL's rules are the reference.

use std::fmt;
use std::net::IpAddr;

use x509_parser::der_parser::asn1_rs::Any;
use x509_parser::extensions::{GeneralName, NameConstraints};
use x509_parser::x509::X509Name;

use crate::error::{Error, Result};
use crate::names::{San, Subject};

/// An IP range of a name constraint: an address and a mask. Ranges typed
/// by users are CIDR (`10.0.0.0/8`); a certificate may carry any mask, and
/// verifiers apply it bit by bit, so certsmith does too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    /// Number of mask bits set (the prefix length when the mask is contiguous).
    pub prefix: u8,
    /// The mask, right-aligned (IPv4 in the low 32 bits).
    pub mask: u128,
}

fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn prefix_mask(width: u32, prefix: u32) -> u128 {
    let full = if width == 128 {
        !0u128
    } else {
        (1u128 << width) - 1
    };
    let host = width - prefix.min(width);
    if host >= 128 {
        0
    } else {
        full & !((1u128 << host) - 1)
    }
}

fn addr_of(v4: bool, n: u128) -> IpAddr {
    if v4 {
        IpAddr::from((n as u32).to_be_bytes())
    } else {
        IpAddr::from(n.to_be_bytes())
    }
}

impl IpNet {
    /// A CIDR network.
    pub fn cidr(addr: IpAddr, prefix: u8) -> IpNet {
        let w = if addr.is_ipv4() { 32 } else { 128 };
        IpNet {
            addr,
            prefix,
            mask: prefix_mask(w, u32::from(prefix)),
        }
    }

    /// Parses `ADDR/PREFIX`; host bits must be zero.
    pub fn parse(s: &str) -> Result<IpNet> {
        let bad = || {
            Error::input(format!(
                "'{}' is not a CIDR network",
                crate::error::shown(s)
            ))
            .hint("write it like 10.0.0.0/8 or fd00::/8")
        };
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        let net = IpNet::cidr(addr, prefix);
        if net.network() != addr {
            return Err(Error::input(format!("'{s}' has host bits set"))
                .hint(format!("did you mean {}/{prefix}?", net.network())));
        }
        Ok(net)
    }

    /// From the 8- or 32-byte address+mask form of a name constraint; the
    /// mask is kept as it is, contiguous or not.
    pub fn from_constraint_bytes(b: &[u8]) -> Option<IpNet> {
        let (addr, mask): (IpAddr, &[u8]) = match b.len() {
            8 => (IpAddr::from(<[u8; 4]>::try_from(&b[..4]).ok()?), &b[4..]),
            32 => (IpAddr::from(<[u8; 16]>::try_from(&b[..16]).ok()?), &b[16..]),
            _ => return None,
        };
        let mask = mask
            .iter()
            .fold(0u128, |m, byte| (m << 8) | u128::from(*byte));
        Some(IpNet {
            addr,
            prefix: mask.count_ones() as u8,
            mask,
        })
    }

    fn width(&self) -> u32 {
        if self.addr.is_ipv4() { 32 } else { 128 }
    }

    /// Whether the mask is a prefix (CIDR).
    pub fn is_cidr(&self) -> bool {
        self.mask == prefix_mask(self.width(), u32::from(self.prefix))
    }

    fn network(&self) -> IpAddr {
        addr_of(self.addr.is_ipv4(), bits(self.addr) & self.mask)
    }

    /// Whether `ip` is inside this range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4()
            && (bits(ip) & self.mask) == (bits(self.addr) & self.mask)
    }

    /// Whether all of `other` is inside this range.
    pub fn contains_net(&self, other: &IpNet) -> bool {
        other.addr.is_ipv4() == self.addr.is_ipv4()
            && (other.mask & self.mask) == self.mask
            && self.contains(other.addr)
    }

    /// The rcgen value (CIDR ranges only: certsmith writes no other).
    pub fn to_rcgen(&self) -> rcgen::CidrSubnet {
        rcgen::CidrSubnet::from_addr_prefix(self.addr, self.prefix)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_cidr() {
            write!(f, "{}/{}", self.addr, self.prefix)
        } else {
            write!(
                f,
                "{}/{}",
                self.addr,
                addr_of(self.addr.is_ipv4(), self.mask)
            )
        }
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

/// Whether the DNS subtree `child` (a constraint of a subordinate CA) lies
/// entirely inside the DNS subtree `parent`: subtree compared to subtree,
/// so `.acme.test` is inside `.acme.test` and inside `acme.test`.
pub fn dns_subtree_within(child: &str, parent: &str) -> bool {
    let c = child.trim_end_matches('.').to_ascii_lowercase();
    let p = parent.trim_end_matches('.').to_ascii_lowercase();
    let (c_body, c_dot) = c
        .strip_prefix('.')
        .map_or((c.as_str(), false), |b| (b, true));
    match p.strip_prefix('.') {
        Some(p_body) => c_body.ends_with(&p) || (c_dot && c_body == p_body),
        None => p.is_empty() || c_body == p || c_body.ends_with(&format!(".{p}")),
    }
}

/// Email constraint matching (RFC 5280 4.2.1.10, as OpenSSL does it):
/// `ops@acme.test` is that mailbox, `acme.test` and `@acme.test` every
/// mailbox at that host, `.acme.test` every mailbox at a host below it.
pub fn email_within(email: &str, constraint: &str) -> bool {
    let Some((local, host)) = email.rsplit_once('@') else {
        return false;
    };
    match constraint.rsplit_once('@') {
        Some((cl, ch)) => (cl.is_empty() || local == cl) && host.eq_ignore_ascii_case(ch),
        None if constraint.starts_with('.') => host
            .to_ascii_lowercase()
            .ends_with(&constraint.to_ascii_lowercase()),
        None => host.eq_ignore_ascii_case(constraint),
    }
}

/// The host of a URI as OpenSSL reads it for URI constraints, lowercased:
/// the scheme must be followed by `://`, and the host is everything after it
/// up to the first `:`, or else the first `/`. `None` when it has none.
pub fn uri_host(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    let rest = rest.strip_prefix("//").filter(|_| !scheme.is_empty())?;
    let host = match rest.split_once(':') {
        Some((h, _)) => h,
        None => rest.split('/').next().unwrap_or_default(),
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The host of a URI as RFC 3986 reads it (userinfo, port, path, query and
/// fragment removed), lowercased.
fn uri_host_rfc3986(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let auth = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.split(':').next().unwrap_or_default(),
    };
    Some(host.to_ascii_lowercase())
}

/// URI constraint matching: `acme.test` is that host exactly, `.acme.test`
/// any host below it.
pub fn uri_host_within(host: &str, constraint: &str) -> bool {
    let c = constraint.to_ascii_lowercase();
    if c.starts_with('.') {
        host.ends_with(&c)
    } else {
        host == c
    }
}

/// One relative distinguished name: (attribute OID, normalized value) pairs.
type Rdn = Vec<(String, String)>;

/// Values compare as OpenSSL's canonical form does: leading and trailing
/// ASCII whitespace removed, inner runs of it made one space, ASCII letters
/// lowercased. Nothing outside ASCII is folded (OpenSSL does not).
fn normalize(v: &str) -> String {
    v.split(|c: char| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// The text of a directory-name attribute value, decoded from any ASN.1
/// string type (BMPString as UTF-16BE, UniversalString as UTF-32BE, T61 as
/// Latin-1) and normalized; a value of another type is kept as its tag and
/// bytes. `None` when a string cannot be decoded.
fn dir_value(v: &Any<'_>) -> Option<String> {
    if crate::names::is_string_tag(v.header.tag()) {
        return crate::names::attr_text(v).map(|s| normalize(&s));
    }
    Some(format!(
        "#{}:{}",
        v.header.tag().0,
        crate::serial::to_hex(v.data)
    ))
}

/// The RDNs of a name, each sorted; `None` when a value cannot be decoded.
fn rdns_of(n: &X509Name<'_>) -> Option<Vec<Rdn>> {
    n.iter()
        .map(|rdn| {
            let mut v = rdn
                .iter()
                .map(|a| Some((a.attr_type().to_id_string(), dir_value(a.attr_value())?)))
                .collect::<Option<Rdn>>()?;
            v.sort();
            Some(v)
        })
        .collect()
}

/// A directory name of a constraint: the subtree of names that start with its RDNs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirName {
    pub text: String,
    rdns: Vec<Rdn>,
}

impl DirName {
    /// `None` when a value of the name cannot be decoded.
    fn from_x509(n: &X509Name<'_>) -> Option<DirName> {
        Some(DirName {
            text: n.to_string(),
            rdns: rdns_of(n)?,
        })
    }

    fn covers(&self, name: &[Rdn]) -> bool {
        self.rdns.len() <= name.len() && self.rdns.iter().zip(name).all(|(a, b)| a == b)
    }
}

/// A CA's name constraints. `other` marks constraint types certsmith never
/// issues names of (otherName, x400Address, …), which therefore never apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameConstraintSet {
    pub permit_dns: Vec<String>,
    pub exclude_dns: Vec<String>,
    pub permit_ip: Vec<IpNet>,
    pub exclude_ip: Vec<IpNet>,
    pub permit_email: Vec<String>,
    pub exclude_email: Vec<String>,
    pub permit_uri: Vec<String>,
    pub exclude_uri: Vec<String>,
    pub permit_dir: Vec<DirName>,
    pub exclude_dir: Vec<DirName>,
    pub other: bool,
    /// SAN kinds (`ip`, …) with a constraint certsmith could not read: no
    /// name of that kind can be checked, so none is issued under this CA.
    pub unreadable: Vec<&'static str>,
}

/// The kind name of a directory-name constraint that cannot be read.
const DIR: &str = "directory name";

/// The verdict for one name against permitted and excluded subtrees of its type.
fn verdict<'a, T: 'a>(
    kind: &str,
    name: &str,
    permit: &'a [T],
    exclude: &'a [T],
    within: impl Fn(&T) -> bool,
    show: impl Fn(&T) -> String,
) -> Option<String> {
    let name = crate::error::shown(name);
    if let Some(c) = exclude.iter().find(|c| within(c)) {
        return Some(format!(
            "'{name}' is inside the excluded {kind} subtree '{}'",
            crate::error::shown(&show(c))
        ));
    }
    if !permit.is_empty() && !permit.iter().any(&within) {
        let list: Vec<String> = permit
            .iter()
            .map(|c| crate::error::shown(&show(c)))
            .collect();
        return Some(format!(
            "'{name}' is outside the permitted {kind} subtrees ({})",
            list.join(", ")
        ));
    }
    None
}

impl NameConstraintSet {
    /// Reads the name constraints extension of a certificate.
    pub fn from_x509(nc: &NameConstraints<'_>) -> NameConstraintSet {
        let mut set = NameConstraintSet::default();
        for (subtrees, permitted) in [
            (&nc.permitted_subtrees, true),
            (&nc.excluded_subtrees, false),
        ] {
            for st in subtrees.iter().flatten() {
                let pick = |p: bool| p == permitted;
                match &st.base {
                    GeneralName::DNSName(d) if pick(true) => set.permit_dns.push(d.to_string()),
                    GeneralName::DNSName(d) => set.exclude_dns.push(d.to_string()),
                    GeneralName::RFC822Name(e) if pick(true) => {
                        set.permit_email.push(e.to_string())
                    }
                    GeneralName::RFC822Name(e) => set.exclude_email.push(e.to_string()),
                    GeneralName::URI(u) if pick(true) => set.permit_uri.push(u.to_string()),
                    GeneralName::URI(u) => set.exclude_uri.push(u.to_string()),
                    GeneralName::DirectoryName(n) => match DirName::from_x509(n) {
                        Some(d) if permitted => set.permit_dir.push(d),
                        Some(d) => set.exclude_dir.push(d),
                        None => set.unreadable.push(DIR),
                    },
                    GeneralName::IPAddress(b) => match IpNet::from_constraint_bytes(b) {
                        Some(net) if permitted => set.permit_ip.push(net),
                        Some(net) => set.exclude_ip.push(net),
                        None => set.unreadable.push("ip"),
                    },
                    _ => set.other = true,
                }
            }
        }
        set
    }

    pub fn is_empty(&self) -> bool {
        self.permit_dns.is_empty()
            && self.exclude_dns.is_empty()
            && self.permit_ip.is_empty()
            && self.exclude_ip.is_empty()
            && self.permit_email.is_empty()
            && self.exclude_email.is_empty()
            && self.permit_uri.is_empty()
            && self.exclude_uri.is_empty()
            && self.permit_dir.is_empty()
            && self.exclude_dir.is_empty()
            && self.unreadable.is_empty()
    }

    /// Why `dns` is not allowed, if it is not.
    pub fn check_dns(&self, dns: &str) -> Option<String> {
        verdict(
            "DNS",
            dns,
            &self.permit_dns,
            &self.exclude_dns,
            |c| dns_within(dns, c),
            String::clone,
        )
    }

    /// Why `ip` is not allowed, if it is not. A permitted range of the
    /// other family does not permit it (as in OpenSSL).
    pub fn check_ip(&self, ip: IpAddr) -> Option<String> {
        verdict(
            "IP",
            &ip.to_string(),
            &self.permit_ip,
            &self.exclude_ip,
            |c| c.contains(ip),
            IpNet::to_string,
        )
        .map(|w| {
            w.replace("IP subtrees", "IP ranges")
                .replace("IP subtree", "IP range")
        })
    }

    /// Why `email` is not allowed, if it is not.
    pub fn check_email(&self, email: &str) -> Option<String> {
        verdict(
            "email",
            email,
            &self.permit_email,
            &self.exclude_email,
            |c| email_within(email, c),
            String::clone,
        )
    }

    /// Why `uri` is not allowed, if it is not; a URI without a host cannot
    /// be checked against URI constraints, so it is refused under them.
    pub fn check_uri(&self, uri: &str) -> Option<String> {
        if self.permit_uri.is_empty() && self.exclude_uri.is_empty() {
            return None;
        }
        let Some(host) = uri_host(uri) else {
            return Some(format!(
                "'{}' has no host, so the URI constraints cannot be checked",
                crate::error::shown(uri)
            ));
        };
        // OpenSSL and RFC 3986 read different hosts out of `u@host`,
        // `host?q`, `a:b@host`: verifiers would disagree on which subtree it is in.
        if uri_host_rfc3986(uri).as_deref() != Some(host.as_str()) {
            return Some(format!(
                "the host of '{}' is ambiguous (OpenSSL reads '{}'), so the URI constraints cannot be checked",
                crate::error::shown(uri),
                crate::error::shown(&host)
            ));
        }
        verdict(
            "URI",
            uri,
            &self.permit_uri,
            &self.exclude_uri,
            |c| uri_host_within(&host, c),
            String::clone,
        )
    }

    /// Why a SAN is not allowed, if it is not.
    pub fn check_san(&self, san: &San) -> Option<String> {
        if self.unreadable.contains(&san.kind()) {
            return Some(format!(
                "the CA has a {} name constraint certsmith cannot read, so no such name can be checked",
                san.kind()
            ));
        }
        match san {
            San::Dns(d) => self.check_dns(d),
            San::Ip(ip) => self.check_ip(*ip),
            San::Email(e) => self.check_email(e),
            San::Uri(u) => self.check_uri(u),
        }
    }

    /// Why a subject is outside the directory-name constraints, if it is.
    pub fn check_subject(&self, subject: &Subject) -> Option<String> {
        let rdns: Vec<Rdn> = subject
            .attrs
            .iter()
            .map(|(k, v)| {
                let oid = crate::names::attr_oid(k).unwrap_or_default().to_string();
                vec![(oid, normalize(v))]
            })
            .collect();
        self.check_rdns(&subject.to_string(), &rdns)
    }

    /// Why a subject given as RDNs is outside the directory-name constraints, if it is.
    fn check_rdns(&self, shown: &str, rdns: &[Rdn]) -> Option<String> {
        if self.unreadable.contains(&DIR) {
            return Some(
                "the CA has a directory name constraint certsmith cannot read, so no subject can be checked"
                    .into(),
            );
        }
        if (self.permit_dir.is_empty() && self.exclude_dir.is_empty()) || rdns.is_empty() {
            return None;
        }
        verdict(
            DIR,
            shown,
            &self.permit_dir,
            &self.exclude_dir,
            |c| c.covers(rdns),
            |c| c.text.clone(),
        )
    }

    /// Why a certificate's names (its subject, the email addresses in it
    /// and its SANs) are outside these constraints, if they are: the check
    /// OpenSSL makes for each certificate below a constrained CA.
    pub fn check_cert(
        &self,
        cert: &x509_parser::certificate::X509Certificate<'_>,
    ) -> Option<String> {
        let subject = cert.subject();
        let rdns = rdns_of(subject).unwrap_or_else(|| {
            // An undecodable value never matches a permitted subtree.
            vec![vec![(String::new(), "#undecodable".into())]]
        });
        if let Some(why) = self.check_rdns(&subject.to_string(), &rdns) {
            return Some(why);
        }
        for e in subject.iter_email() {
            if let Ok(mail) = e.as_str()
                && let Some(why) = self.check_email(mail)
            {
                return Some(why);
            }
        }
        let Ok(Some(san)) = cert.subject_alternative_name() else {
            return None;
        };
        for g in &san.value.general_names {
            let why = match g {
                GeneralName::DNSName(d) => self.check_san(&San::Dns(d.to_string())),
                GeneralName::RFC822Name(e) => self.check_san(&San::Email(e.to_string())),
                GeneralName::URI(u) => self.check_san(&San::Uri(u.to_string())),
                GeneralName::IPAddress(b) => match <[u8; 4]>::try_from(*b) {
                    Ok(v4) => self.check_san(&San::Ip(IpAddr::from(v4))),
                    Err(_) => match <[u8; 16]>::try_from(*b) {
                        Ok(v6) => self.check_san(&San::Ip(IpAddr::from(v6))),
                        Err(_) => Some("an IP address SAN is malformed".into()),
                    },
                },
                GeneralName::DirectoryName(n) => rdns_of(n).map_or_else(
                    || Some("a directory name SAN cannot be read".into()),
                    |r| self.check_rdns(&n.to_string(), &r),
                ),
                _ if self.other => Some(
                    "a SAN of a type certsmith cannot check is under a constraint of such a type"
                        .into(),
                ),
                _ => None,
            };
            if why.is_some() {
                return why;
            }
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
                if !self.permit_dns.iter().any(|p| dns_subtree_within(d, p)) {
                    return Some(format!(
                        "'{d}' is outside the permitted DNS subtrees ({})",
                        self.permit_dns.join(", ")
                    ));
                }
            }
        }
        for d in &child.permit_dns {
            if let Some(c) = self.exclude_dns.iter().find(|c| dns_subtree_within(d, c)) {
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
        for n in &child.permit_ip {
            if let Some(x) = self.exclude_ip.iter().find(|x| x.contains_net(n)) {
                return Some(format!("'{n}' is inside the excluded IP range '{x}'"));
            }
        }
        None
    }

    /// The rcgen value, or `None` when empty (certsmith writes DNS and IP constraints).
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

    #[test]
    fn a_non_contiguous_mask_is_applied_bit_by_bit() {
        let n = IpNet::from_constraint_bytes(&[10, 0, 0, 0, 255, 0, 255, 0]).unwrap();
        assert!(!n.is_cidr());
        assert!(n.contains("10.7.0.9".parse().unwrap()));
        assert!(!n.contains("10.7.1.9".parse().unwrap()));
        assert_eq!(n.to_string(), "10.0.0.0/255.0.255.0");
    }

    #[test]
    fn email_and_uri_constraints_follow_openssl() {
        assert!(email_within("ops@acme.test", "acme.test"));
        assert!(!email_within("ops@eu.acme.test", "acme.test"));
        assert!(email_within("ops@eu.acme.test", ".acme.test"));
        assert!(email_within("ceo@ACME.test", "ceo@acme.test"));
        assert!(!email_within("Ceo@acme.test", "ceo@acme.test"));
        assert!(email_within("ops@mail.test", "@mail.test"));
        assert!(!email_within("ops@eu.mail.test", "@mail.test"));
        assert_eq!(
            uri_host("https://Api.Acme.test:8443/x").as_deref(),
            Some("api.acme.test")
        );
        // OpenSSL's host: up to the first ':' after '://', else the first '/'.
        assert_eq!(
            uri_host("spiffe://u@acme.test/x").as_deref(),
            Some("u@acme.test")
        );
        assert_eq!(
            uri_host("https://evil.test:x@acme.test/").as_deref(),
            Some("evil.test")
        );
        assert_eq!(uri_host("file:///etc"), None);
        assert!(uri_host_within("api.acme.test", ".acme.test"));
        assert!(!uri_host_within("acme.test", ".acme.test"));
    }

    #[test]
    fn a_uri_whose_host_verifiers_read_differently_is_refused_under_uri_constraints() {
        let nc = NameConstraintSet {
            exclude_uri: vec!["evil.test".into()],
            ..Default::default()
        };
        // OpenSSL reads the host 'u@evil.test' and would let it through.
        assert!(nc.check_uri("https://u@evil.test/").is_some());
        assert!(nc.check_uri("https://evil.test:x@ok.test/").is_some());
        assert!(nc.check_uri("https://ok.test:8443/x").is_none());
    }

    #[test]
    fn dns_subtrees_compare_as_subtrees() {
        assert!(dns_subtree_within(".acme.test", ".acme.test"));
        assert!(dns_subtree_within(".acme.test", "acme.test"));
        assert!(dns_subtree_within("a.acme.test", ".acme.test"));
        assert!(dns_subtree_within(".a.acme.test", ".acme.test"));
        assert!(!dns_subtree_within("acme.test", ".acme.test"));
        assert!(!dns_subtree_within(".evilacme.test", "acme.test"));
    }

    #[test]
    fn directory_values_fold_ascii_only() {
        assert_eq!(normalize("  Acme   CORP "), "acme corp");
        assert_eq!(normalize("Äcme Corp"), "Äcme corp");
        assert_ne!(normalize("Äcme Corp"), normalize("äcme corp"));
    }

    /// A Name of one RDN `O=<value>` with the value's tag and bytes.
    fn name_der(tag: u8, value: &[u8]) -> Vec<u8> {
        let tlv = |t: u8, b: &[u8]| [vec![t, b.len() as u8], b.to_vec()].concat();
        let atv = tlv(
            0x30,
            &[tlv(0x06, &[0x55, 0x04, 0x0a]), tlv(tag, value)].concat(),
        );
        tlv(0x30, &tlv(0x31, &atv))
    }

    fn dir(der: &[u8]) -> Option<DirName> {
        use x509_parser::prelude::FromDer;
        let (_, n) = X509Name::from_der(der).unwrap();
        DirName::from_x509(&n)
    }

    #[test]
    fn directory_values_of_every_string_type_compare_as_text() {
        let bmp: Vec<u8> = "Evil".encode_utf16().flat_map(u16::to_be_bytes).collect();
        let utf32: Vec<u8> = "EVIL"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        let printable = dir(&name_der(0x13, b"evil")).unwrap();
        assert_eq!(dir(&name_der(0x1e, &bmp)).unwrap().rdns, printable.rdns);
        assert_eq!(dir(&name_der(0x1c, &utf32)).unwrap().rdns, printable.rdns);
        // An odd-length BMPString cannot be decoded: the constraint is unreadable.
        assert!(dir(&name_der(0x1e, b"Evi")).is_none());
        let subject = Subject::parse("O=Evil,CN=x").unwrap();
        let nc = NameConstraintSet {
            unreadable: vec![DIR],
            ..Default::default()
        };
        assert!(nc.check_subject(&subject).is_some());
    }

    #[test]
    fn a_san_kind_with_an_unreadable_constraint_is_refused() {
        let nc = NameConstraintSet {
            unreadable: vec!["ip"],
            ..Default::default()
        };
        assert!(
            nc.check_san(&San::Ip("10.0.0.1".parse().unwrap()))
                .is_some()
        );
        assert!(nc.check_san(&San::Dns("a.test".into())).is_none());
    }
}
