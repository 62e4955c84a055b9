//! The certificate and CRL profile rules `verify` adds around rustls-webpki:
//! what RFC 5280 (and, for server and client certificates, the CA/Browser
//! Forum baseline) requires of each certificate of a path, which webpki
//! leaves out — above all for the trust anchor, which webpki only reads the
//! name, key and name constraints of. Each rule returns the message naming
//! the rule that was broken.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::shown;
use crate::keys::PublicKeyKind;
use crate::verify::Purpose;

/// Where a certificate sits in the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    EndEntity,
    Intermediate,
    Anchor,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::EndEntity => "end-entity certificate",
            Role::Intermediate => "intermediate CA",
            Role::Anchor => "trust anchor",
        }
    }
}

/// The first rule `der`, in `role`, breaks, as a message naming the rule.
pub fn check(der: &[u8], role: Role, purpose: Purpose) -> Option<String> {
    let Ok((_, c)) = X509Certificate::from_der(der) else {
        return Some("a certificate of the path is not valid DER".into());
    };
    let broken = |rule: &str, what: String| {
        Some(format!(
            "{} '{}' breaks {rule}: {what}",
            role.as_str(),
            shown(&c.subject().to_string())
        ))
    };
    if let Some(oid) = crate::certinfo::duplicate_extension(&c) {
        return broken(
            "RFC 5280 4.2",
            format!("extension {oid} appears more than once"),
        );
    }
    // A trust anchor is its name and key: its serial and its issuer's key
    // identifier say nothing (long-standing roots have serial 0).
    let serial = if role == Role::Anchor {
        &[1u8][..]
    } else {
        c.raw_serial()
    };
    if serial.iter().all(|b| *b == 0) {
        return broken("RFC 5280 4.1.2.2", "its serial number is zero".into());
    }
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        return broken("RFC 5280 4.1.2.2", "its serial number is negative".into());
    }
    if serial.len() > 20 {
        return broken(
            "RFC 5280 4.1.2.2",
            format!(
                "its serial number is {} octets long (at most 20)",
                serial.len()
            ),
        );
    }
    let self_signed = c.subject().as_raw() == c.issuer().as_raw();
    let is_ca = role != Role::EndEntity;
    let mut bc = None;
    let (mut aki, mut ski, mut eku, mut san) = (None, false, None, None);
    let mut key_cert_sign = None;
    for ext in c.extensions() {
        let oid = ext.oid.to_id_string();
        match ext.parsed_extension() {
            ParsedExtension::UnsupportedExtension { .. } if ext.critical => {
                return broken(
                    "RFC 5280 4.2",
                    format!("it has a critical extension {oid} that cannot be processed"),
                );
            }
            ParsedExtension::ParseError { .. } => {
                return broken("RFC 5280 4.2", format!("its extension {oid} is malformed"));
            }
            ParsedExtension::BasicConstraints(b) => bc = Some((b.ca, ext.critical)),
            ParsedExtension::KeyUsage(ku) => key_cert_sign = Some(ku.key_cert_sign()),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                if ext.critical {
                    return broken(
                        "RFC 5280 4.2.1.1",
                        "its authorityKeyIdentifier is critical".into(),
                    );
                }
                aki = Some(a);
            }
            ParsedExtension::SubjectKeyIdentifier(_) => {
                if ext.critical {
                    return broken(
                        "RFC 5280 4.2.1.2",
                        "its subjectKeyIdentifier is critical".into(),
                    );
                }
                ski = true;
            }
            ParsedExtension::ExtendedKeyUsage(e) => eku = Some((e, ext.critical)),
            ParsedExtension::SubjectAlternativeName(s) => san = Some((s, ext.critical)),
            ParsedExtension::NameConstraints(nc) => {
                if !is_ca {
                    return broken(
                        "RFC 5280 4.2.1.10",
                        "name constraints are allowed only in CA certificates".into(),
                    );
                }
                if !ext.critical {
                    return broken(
                        "RFC 5280 4.2.1.10",
                        "its nameConstraints extension is not critical".into(),
                    );
                }
                let subtrees = |s: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                    s.as_ref().map_or(0, Vec::len)
                };
                if subtrees(&nc.permitted_subtrees) + subtrees(&nc.excluded_subtrees) == 0 {
                    return broken(
                        "RFC 5280 4.2.1.10",
                        "its nameConstraints has neither permitted nor excluded subtrees".into(),
                    );
                }
                let all = nc
                    .permitted_subtrees
                    .iter()
                    .chain(nc.excluded_subtrees.iter());
                for t in all.flatten() {
                    if let Some(why) = malformed_subtree(&t.base) {
                        return broken("RFC 5280 4.2.1.10", why);
                    }
                }
            }
            ParsedExtension::PolicyConstraints(_) if !ext.critical => {
                return broken(
                    "RFC 5280 4.2.1.11",
                    "its policyConstraints extension is not critical".into(),
                );
            }
            ParsedExtension::AuthorityInfoAccess(aia) if aia.accessdescs.is_empty() => {
                return broken(
                    "RFC 5280 4.2.2.1",
                    "its authorityInfoAccess holds no access description".into(),
                );
            }
            _ => {}
        }
    }
    if is_ca {
        match bc {
            None => {
                return broken(
                    "RFC 5280 4.2.1.9",
                    "it has no basicConstraints extension, so it is not a CA".into(),
                );
            }
            Some((false, _)) => {
                return broken(
                    "RFC 5280 4.2.1.9",
                    "its basicConstraints says CA:FALSE".into(),
                );
            }
            Some((true, false)) => {
                return broken(
                    "RFC 5280 4.2.1.9",
                    "its basicConstraints extension is not critical".into(),
                );
            }
            Some((true, true)) => {}
        }
        if key_cert_sign == Some(false) {
            return broken(
                "RFC 5280 4.2.1.3",
                "it is a CA whose key usage does not allow keyCertSign".into(),
            );
        }
        if !ski {
            return broken(
                "RFC 5280 4.2.1.2",
                "a CA certificate must carry a subjectKeyIdentifier".into(),
            );
        }
        if c.subject().as_raw().len() <= 2 {
            return broken(
                "RFC 5280 4.1.2.6",
                "a CA certificate has an empty subject".into(),
            );
        }
    } else if key_cert_sign == Some(true) {
        return broken(
            "RFC 5280 4.2.1.3",
            "keyCertSign is asserted in a certificate that is not a CA".into(),
        );
    }
    match &aki {
        None if !self_signed && role != Role::Anchor => {
            return broken(
                "RFC 5280 4.2.1.1",
                "it has no authorityKeyIdentifier (required unless self-signed)".into(),
            );
        }
        // A self-signed anchor needs no keyIdentifier to find its issuer
        // (OpenSSL writes issuer and serial alone for `keyid,issuer:always`).
        Some(a) if a.key_identifier.is_none() && !(self_signed && role == Role::Anchor) => {
            return broken(
                "RFC 5280 4.2.1.1",
                "its authorityKeyIdentifier has no keyIdentifier".into(),
            );
        }
        Some(a) if self_signed => {
            let own = c
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
                    _ => None,
                });
            if let (Some(k), Some(own)) = (&a.key_identifier, own)
                && k.0 != own
            {
                return broken(
                    "RFC 5280 4.2.1.1",
                    "it is self-signed and its authorityKeyIdentifier differs from its subjectKeyIdentifier".into(),
                );
            }
        }
        _ => {}
    }
    let empty_subject = c.subject().as_raw().len() <= 2;
    if let Some((s, critical)) = &san {
        if empty_subject && !critical {
            return broken(
                "RFC 5280 4.2.1.6",
                "its subject is empty and its subjectAltName is not critical".into(),
            );
        }
        if !empty_subject && *critical && role == Role::EndEntity {
            return broken(
                "RFC 5280 4.2.1.6",
                "its subject is not empty and its subjectAltName is critical".into(),
            );
        }
        for n in &s.general_names {
            if let GeneralName::DNSName(d) = n
                && !valid_dns_name(d, true)
            {
                return broken(
                    "RFC 5280 4.2.1.6",
                    format!(
                        "its subjectAltName holds the invalid DNS name '{}'",
                        shown(d)
                    ),
                );
            }
        }
    } else if empty_subject {
        return broken(
            "RFC 5280 4.2.1.6",
            "its subject is empty and it has no subjectAltName".into(),
        );
    }
    if role == Role::EndEntity
        && purpose != Purpose::Any
        && let Some(why) =
            end_entity_baseline(&c, eku.as_ref().map(|(e, crit)| (*e, *crit)), purpose)
    {
        return broken("the CA/Browser Forum baseline (7.1)", why);
    }
    // A CA's extendedKeyUsage limits what it certifies (as OpenSSL reads
    // it): one that excludes the purpose cannot anchor a chain for it.
    if role != Role::EndEntity
        && let Some((e, _)) = &eku
        && let Some(wanted) = excluded_purpose(e, purpose)
    {
        return broken(
            "RFC 5280 4.2.1.12",
            format!("its extendedKeyUsage does not include {wanted}"),
        );
    }
    if let Some(why) = weak_key(&c) {
        return broken("the CA/Browser Forum baseline (6.1.5)", why);
    }
    None
}

/// The purpose `eku` leaves out, by name, if it leaves it out.
fn excluded_purpose(
    eku: &x509_parser::extensions::ExtendedKeyUsage<'_>,
    purpose: Purpose,
) -> Option<&'static str> {
    let included = eku.any
        || match purpose {
            Purpose::Server => eku.server_auth,
            Purpose::Client => eku.client_auth,
            Purpose::Any => true,
        };
    (!included).then_some(match purpose {
        Purpose::Client => "clientAuth",
        _ => "serverAuth",
    })
}

/// The baseline's key rule for `der` in `role`, as a message, when its key
/// is one the baseline forbids (RSA under 2048 bits, P-192, DSA…).
pub fn weak_key_rule(der: &[u8], role: Role) -> Option<String> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    weak_key(&c).map(|why| {
        format!(
            "{} '{}' breaks the CA/Browser Forum baseline (6.1.5): {why}",
            role.as_str(),
            shown(&c.subject().to_string())
        )
    })
}

/// Server and client certificates: an explicit EKU for the purpose (not
/// anyExtendedKeyUsage, not critical), and a common name that is one of the
/// subjectAltName entries.
fn end_entity_baseline(
    c: &X509Certificate<'_>,
    eku: Option<(&x509_parser::extensions::ExtendedKeyUsage<'_>, bool)>,
    purpose: Purpose,
) -> Option<String> {
    // No extendedKeyUsage means any purpose (RFC 5280 4.2.1.12).
    if let Some((e, critical)) = eku {
        if critical {
            return Some("its extendedKeyUsage is critical".into());
        }
        if e.any {
            return Some(format!(
                "its extendedKeyUsage holds anyExtendedKeyUsage, not allowed in a {} certificate",
                purpose.as_str()
            ));
        }
    }
    let cn = c.subject().iter_common_name().next()?;
    let cn = cn.as_str().unwrap_or("");
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for n in c
        .subject_alternative_name()
        .ok()
        .flatten()
        .iter()
        .flat_map(|s| s.value.general_names.iter())
    {
        match n {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => ips.extend(ip_of(b)),
            _ => {}
        }
    }
    if purpose != Purpose::Server {
        return None;
    }
    cn_misspells_san(cn, &dns, &ips)
}

/// A server certificate's common name that restates a subjectAltName
/// entry restates it exactly (CA/B baseline 7.1.4.3): the same address in
/// its canonical text, the same DNS name in the same spelling, never a
/// U-label for an A-label. A common name that is no address or DNS name (a
/// person's name), or names none of the entries, is not judged. The one
/// rule of `verify` and of `issue` (which refuses what verify would).
pub fn cn_misspells_san(cn: &str, dns: &[String], ips: &[std::net::IpAddr]) -> Option<String> {
    let inconsistent = if let Some(ip) = lenient_ip(cn) {
        ips.contains(&ip) && cn != ip.to_string()
    } else {
        dns_a_label_form(cn)
            .is_some_and(|a| dns.iter().any(|d| d.eq_ignore_ascii_case(&a) && d != cn))
    };
    inconsistent.then(|| {
        format!(
            "its common name '{}' is not spelled as in its subjectAltName",
            shown(cn)
        )
    })
}

/// A DNS name as written in a common name, in its ASCII form (each label
/// lowercased, a Unicode label as its `xn--` A-label); None for text that
/// is no DNS name (spaces, punctuation, empty labels).
fn dns_a_label_form(cn: &str) -> Option<String> {
    let (wild, rest) = match cn.strip_prefix("*.") {
        Some(r) => ("*.", r),
        None => ("", cn),
    };
    let labels = rest
        .split('.')
        .map(|l| {
            let ok = !l.is_empty() && l.chars().all(|ch| ch.is_alphanumeric() || ch == '-');
            if !ok {
                None
            } else if l.is_ascii() {
                Some(l.to_ascii_lowercase())
            } else {
                punycode(&l.to_lowercase()).map(|p| format!("xn--{p}"))
            }
        })
        .collect::<Option<Vec<_>>>()?;
    Some(format!("{wild}{}", labels.join(".")))
}

/// RFC 3492 Punycode of one label.
fn punycode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    let (tmin, tmax, skew, damp) = (1u32, 26u32, 38u32, 700u32);
    let digit = |d: u32| {
        char::from(if d < 26 {
            b'a' + d as u8
        } else {
            b'0' + (d - 26) as u8
        })
    };
    let adapt = |mut delta: u32, points: u32, first: bool| {
        delta = if first { delta / damp } else { delta / 2 };
        delta += delta / points;
        let mut k = 0;
        while delta > ((BASE - tmin) * tmax) / 2 {
            delta /= BASE - tmin;
            k += BASE;
        }
        k + (BASE - tmin + 1) * delta / (delta + skew)
    };
    let chars: Vec<u32> = input.chars().map(u32::from).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    while (handled as usize) < chars.len() {
        let m = chars.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &chars {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        tmin
                    } else if k >= bias + tmax {
                        tmax
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(out)
}

/// An IP address as people write it in a common name: canonical text, IPv6
/// in any case or expansion, dotted IPv4 with leading zeros, or hex.
fn lenient_ip(s: &str) -> Option<std::net::IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16)
            .ok()
            .map(|n| std::net::Ipv4Addr::from(n).into());
    }
    let parts: Vec<u8> = s
        .split('.')
        .map(|p| p.parse::<u8>().ok())
        .collect::<Option<_>>()?;
    <[u8; 4]>::try_from(parts)
        .ok()
        .map(|o| std::net::Ipv4Addr::from(o).into())
}

fn ip_of(b: &[u8]) -> Option<std::net::IpAddr> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).ok()?).into()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).ok()?).into()),
        _ => None,
    }
}

/// Keys the baseline forbids: RSA under 2048 bits or not a whole number of
/// octets, and anything but RSA, P-256/384/521 and Ed25519.
fn weak_key(c: &X509Certificate<'_>) -> Option<String> {
    use x509_parser::public_key::PublicKey;
    if let Ok(PublicKey::RSA(rsa)) = c.public_key().parsed() {
        let m = rsa.modulus;
        let skip = m.iter().take_while(|b| **b == 0).count();
        let bits = m
            .get(skip)
            .map_or(0, |top| (m.len() - skip) * 8 - top.leading_zeros() as usize);
        if bits % 8 != 0 {
            return Some(format!(
                "its RSA modulus has {bits} bits, not a multiple of 8"
            ));
        }
    }
    match crate::keys::public_key_kind(c.public_key()) {
        PublicKeyKind::Rsa(bits) if bits < 2048 => {
            Some(format!("its RSA key has {bits} bits (at least 2048)"))
        }
        // An explicit curve is its parameters in hex: say what it is instead.
        PublicKeyKind::Other(what)
            if what.starts_with("ec curve ") && what.contains(' ') && what.len() > 40 =>
        {
            Some(
                "its key is on an elliptic curve given by explicit parameters, not a named curve"
                    .into(),
            )
        }
        PublicKeyKind::Other(what) => {
            Some(format!("its key type ({}) is not allowed", shown(&what)))
        }
        _ => None,
    }
}

/// Why a name-constraint subtree base is malformed.
fn malformed_subtree(base: &GeneralName<'_>) -> Option<String> {
    match base {
        GeneralName::DNSName(d) if !d.is_empty() && !valid_dns_name(d, false) => Some(format!(
            "its name constraint holds the invalid DNS name '{}'",
            shown(d)
        )),
        GeneralName::RFC822Name(m) if m.matches('@').count() > 1 => Some(format!(
            "its name constraint holds the invalid email address '{}'",
            shown(m)
        )),
        _ => None,
    }
}

/// A preferred-syntax DNS name (RFC 1034 3.5, letters, digits and hyphens),
/// with a leading `*.` label when `wildcard` allows it.
fn valid_dns_name(d: &str, wildcard: bool) -> bool {
    let d = match d.strip_prefix("*.") {
        Some(rest) if wildcard => rest,
        _ => d,
    };
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The rules of RFC 5280 5.2 and 6.3.3 a CRL must meet to be used: a
/// non-critical cRLNumber, and an issuer whose key usage allows cRLSign.
pub fn check_crl(crl_der: &[u8], issuer_der: Option<&[u8]>) -> Option<String> {
    let Ok((_, crl)) = CertificateRevocationList::from_der(crl_der) else {
        return Some("a CRL is not valid DER".into());
    };
    let who = shown(&crl.issuer().to_string());
    let number = crl
        .extensions()
        .iter()
        .find(|e| matches!(e.parsed_extension(), ParsedExtension::CRLNumber(_)));
    match number {
        None => {
            return Some(format!(
                "the CRL of '{who}' breaks RFC 5280 5.2.3: it has no cRLNumber"
            ));
        }
        Some(e) if e.critical => {
            return Some(format!(
                "the CRL of '{who}' breaks RFC 5280 5.2.3: its cRLNumber is critical"
            ));
        }
        Some(_) => {}
    }
    let (_, issuer) = X509Certificate::from_der(issuer_der?).ok()?;
    if let Ok(Some(ku)) = issuer.key_usage()
        && !ku.value.crl_sign()
    {
        return Some(format!(
            "the CRL of '{who}' breaks RFC 5280 6.3.3: its issuer's key usage does not allow cRLSign"
        ));
    }
    None
}

/// Whether a wildcard DNS name of the end entity could stand for a name an
/// excluded dNSName subtree forbids (`*.example.com` against an excluded
/// `bar.example.com`): such a certificate is rejected, since the name it is
/// presented for may be the excluded one.
pub fn wildcard_meets_exclusion(san: &str, excluded: &str) -> bool {
    let Some(base) = san.strip_prefix("*.") else {
        return false;
    };
    let (base, ex) = (base.to_ascii_lowercase(), excluded.to_ascii_lowercase());
    let ex = ex.trim_start_matches('.');
    ex.strip_suffix(&base)
        .is_some_and(|head| head.ends_with('.') && !head[..head.len() - 1].contains('.'))
        || ex == base
        || base.ends_with(&format!(".{ex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_covers_an_excluded_name_one_label_below_its_base() {
        assert!(wildcard_meets_exclusion("*.example.com", "bar.example.com"));
        assert!(wildcard_meets_exclusion(
            "*.Example.com",
            ".BAR.example.com"
        ));
        assert!(wildcard_meets_exclusion("*.a.example.com", "example.com"));
        assert!(!wildcard_meets_exclusion(
            "*.example.com",
            "a.bar.example.com"
        ));
        assert!(!wildcard_meets_exclusion(
            "*.example.com",
            "bar.example.org"
        ));
        assert!(!wildcard_meets_exclusion(
            "www.example.com",
            "www.example.com"
        ));
    }

    #[test]
    fn a_common_name_is_read_as_an_ip_address_in_every_spelling() {
        let v4: std::net::IpAddr = "192.168.1.1".parse().unwrap();
        assert_eq!(lenient_ip("0xC0A80101"), Some(v4));
        assert_eq!(lenient_ip("192.168.001.001"), Some(v4));
        assert_eq!(
            lenient_ip("2001:DB8::1"),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(lenient_ip("example.com"), None);
        assert_eq!(lenient_ip("1.2.3"), None);
    }

    #[test]
    fn a_unicode_dns_name_has_the_a_label_of_idna() {
        assert_eq!(
            dns_a_label_form("test-測試.com").as_deref(),
            Some("xn--test--gs1lv54n.com")
        );
        assert_eq!(
            dns_a_label_form("München.Example").as_deref(),
            Some("xn--mnchen-3ya.example")
        );
        assert_eq!(dns_a_label_form("Jürgen Müller"), None);
        assert_eq!(dns_a_label_form("a..b"), None);
    }

    #[test]
    fn dns_names_follow_the_preferred_syntax() {
        assert!(valid_dns_name("a-b.example.com", false));
        assert!(valid_dns_name("*.example.com", true));
        assert!(!valid_dns_name("*.example.com", false));
        assert!(!valid_dns_name("_sip.example.com", true));
        assert!(!valid_dns_name(".example.com", false));
        assert!(!valid_dns_name("-a.example.com", false));
    }
}
