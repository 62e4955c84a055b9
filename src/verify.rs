//! Chain validation the way a trust store does it: rustls-webpki builds and
//! checks the path (signatures, validity, basicConstraints, pathlen, name
//! constraints, EKU, CRLs), and this module turns its verdict into the most
//! specific message it can, naming the certificate and the dates.

use rustls_pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, KeyPurposeIdIter, KeyUsage,
    OwnedCertRevocationList, RevocationCheckDepth, RevocationOptionsBuilder, UnknownStatusPolicy,
};

use x509_parser::prelude::FromDer;

use crate::certinfo::CertInfo;
use crate::clock;
use crate::conformance::{self, Role};
use crate::crl::CrlInfo;
use crate::error::{Error, Result, shown};

/// What the certificate must be good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Client,
    Server,
    Any,
}

impl Purpose {
    pub fn parse(s: &str) -> Result<Purpose> {
        match s {
            "client" => Ok(Purpose::Client),
            "server" => Ok(Purpose::Server),
            "any" => Ok(Purpose::Any),
            _ => Err(Error::input(format!("unknown purpose '{s}'"))
                .hint("use --purpose client, server or any")),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Client => "client",
            Purpose::Server => "server",
            Purpose::Any => "any",
        }
    }
}

/// Everything a verification needs.
#[derive(Clone, Debug)]
pub struct Request {
    pub cert: CertInfo,
    pub intermediates: Vec<CertInfo>,
    /// Self-signed trusted certificates: the anchors of a full chain.
    pub anchors: Vec<CertInfo>,
    /// Trusted certificates that are not self-signed (an intermediate in
    /// the bundle). They are candidate intermediates of a full chain, and
    /// anchors only when no chain reaches a root (a partial chain).
    pub partial_anchors: Vec<CertInfo>,
    pub crls: Vec<CrlInfo>,
    /// Treat a certificate whose CA has no CRL here as not revoked (CRLs
    /// collected from the PKI directory) instead of failing (CRLs given with `--crl`).
    pub allow_unknown_status: bool,
    pub purpose: Purpose,
    pub at: OffsetDateTime,
    /// Names the certificate must be valid for (`--dns`, `--ip`, `--email`).
    pub names: Vec<PeerName>,
}

/// A name the peer must be valid for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerName {
    Dns(String),
    Ip(std::net::IpAddr),
    Email(String),
}

impl PeerName {
    /// `--dns`: a DNS name; an IP literal is refused (that is `--ip`).
    pub fn dns(v: &str) -> Result<PeerName> {
        if v.parse::<std::net::IpAddr>().is_ok() {
            return Err(
                Error::input(format!("--dns '{}' is an IP address", shown(v)))
                    .hint("check an IP address with --ip"),
            );
        }
        match ServerName::try_from(v) {
            Ok(ServerName::DnsName(_)) => Ok(PeerName::Dns(v.to_string())),
            _ => Err(Error::input(format!(
                "--dns '{}' is not a valid DNS name",
                shown(v)
            ))),
        }
    }
    /// `--ip`: an IPv4 or IPv6 address.
    pub fn ip(v: &str) -> Result<PeerName> {
        v.parse().map(PeerName::Ip).map_err(|_| {
            Error::input(format!("--ip '{}' is not an IP address", shown(v)))
                .hint("write it like 192.0.2.1 or 2001:db8::1")
        })
    }
    /// `--email`: an address local@domain.
    pub fn email(v: &str) -> Result<PeerName> {
        match v.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(PeerName::Email(v.to_string()))
            }
            _ => Err(
                Error::input(format!("--email '{}' is not an email address", shown(v)))
                    .hint("write it like alice@example.com"),
            ),
        }
    }
}

/// A valid chain: subjects from the certificate up to its trust anchor.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Verified {
    pub chain: Vec<String>,
    pub revocation_checked: bool,
    /// Anchored at a trusted certificate that is not a root: OpenSSL
    /// (without -partial_chain) and the servers built on it refuse this.
    pub partial_chain: bool,
}

/// Accepts any extended key usage (`--purpose any`).
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _iter: KeyPurposeIdIter<'_, '_>) -> std::result::Result<(), webpki::Error> {
        Ok(())
    }
}

/// Verifies `req`. An invalid chain is an `Error::failed` whose message is
/// the most specific reason; unusable input is an `Error::input`.
///
/// The chain is built as OpenSSL and the servers on it build it: the
/// self-signed trusted certificates are the anchors, every other trusted
/// certificate a candidate intermediate, so a root above a trusted
/// intermediate is still checked (its validity, pathlen, name constraints
/// and the CRL that may revoke the intermediate). Only when that finds no
/// issuer is the chain anchored at any trusted certificate (a partial chain).
pub fn verify(req: &Request) -> Result<Verified> {
    if req.anchors.is_empty() && req.partial_anchors.is_empty() {
        return Err(
            Error::input("no trust anchor (trusted certificate) was given")
                .hint("pass --bundle FILE with the root CA, or --ca NAME of this PKI"),
        );
    }
    // One clock for the whole run: X.509 times have whole seconds, and so
    // has every comparison and every message.
    let at = req.at.replace_nanosecond(0).unwrap_or(req.at);
    let full = Request {
        at,
        intermediates: req
            .intermediates
            .iter()
            .chain(req.partial_anchors.iter())
            .cloned()
            .collect(),
        partial_anchors: Vec::new(),
        ..req.clone()
    };
    match verify_path(&full) {
        Err(Stop::NoIssuer(_)) if !req.partial_anchors.is_empty() => {
            let partial = Request {
                at,
                anchors: req
                    .anchors
                    .iter()
                    .chain(req.partial_anchors.iter())
                    .cloned()
                    .collect(),
                partial_anchors: Vec::new(),
                ..req.clone()
            };
            verify_path(&partial)
                .map(|v| Verified {
                    partial_chain: true,
                    ..v
                })
                .map_err(Stop::error)
        }
        r => r.map_err(Stop::error),
    }
}

/// Why one attempt at a path failed: no issuer found, or anything else.
enum Stop {
    NoIssuer(Error),
    Other(Error),
}

impl Stop {
    fn error(self) -> Error {
        match self {
            Stop::NoIssuer(e) | Stop::Other(e) => e,
        }
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Other(e)
    }
}

/// One attempt: a path from the end entity to one of `req.anchors`.
fn verify_path(req: &Request) -> std::result::Result<Verified, Stop> {
    // One clock for the whole run: X.509 times have whole seconds, and so
    // has every comparison made here and in webpki.
    let at = req.at.replace_nanosecond(0).unwrap_or(req.at);
    let leaf_der = CertificateDer::from(req.cert.der.as_slice());
    let ee = EndEntityCert::try_from(&leaf_der).map_err(|e| {
        // The profile rule it breaks says more than webpki's parse error.
        if let Some(why) = conformance::check(&req.cert.der, Role::EndEntity, req.purpose) {
            return Error::failed(why);
        }
        Error::failed(format!(
            "'{}' cannot be used as an end-entity certificate: {}",
            shown(&req.cert.subject),
            describe_plain(&e)
        ))
    })?;
    let anchor_ders: Vec<CertificateDer<'_>> = req
        .anchors
        .iter()
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .collect();
    // An anchor webpki cannot read is left out: one bad self-signed
    // certificate in a multi-root store must not fail every chain. It is
    // named when it is the issuer the chain needed.
    let mut anchors = Vec::new();
    let mut unusable: Vec<(&CertInfo, webpki::Error)> = Vec::new();
    for (d, c) in anchor_ders.iter().zip(&req.anchors) {
        match webpki::anchor_from_trusted_cert(d) {
            Ok(a) => anchors.push(a),
            Err(e) => unusable.push((c, e)),
        }
    }
    let unusable_issuer = || {
        unusable.iter().find_map(|(c, e)| {
            std::iter::once(&req.cert)
                .chain(&req.intermediates)
                .any(|i| i.der != c.der && i.issuer_raw == c.subject_raw)
                .then(|| {
                    Error::failed(format!(
                        "the trust anchor '{}' cannot be used: {}",
                        shown(&c.subject),
                        describe_plain(e)
                    ))
                })
        })
    };
    if anchors.is_empty() {
        if let Some(e) = unusable_issuer() {
            return Err(e.into());
        }
        return Err(Stop::NoIssuer(Error::failed(explain(
            req,
            &webpki::Error::UnknownIssuer,
        ))));
    }
    let inter: Vec<CertificateDer<'_>> = req
        .intermediates
        .iter()
        .map(|c| CertificateDer::from(c.der.as_slice()))
        .collect();
    // A CRL webpki cannot read is left out here and named below when it
    // is the CRL of a CA on the path; another CA's CRL is none of our business.
    let owned_crls: Vec<CertRevocationList<'_>> = req
        .crls
        .iter()
        .filter_map(|c| {
            OwnedCertRevocationList::from_der(&c.der)
                .map(CertRevocationList::from)
                .ok()
        })
        .collect();
    let crl_refs: Vec<&CertRevocationList<'_>> = owned_crls.iter().collect();
    let revocation = RevocationOptionsBuilder::new(&crl_refs).ok().map(|b| {
        b.with_depth(RevocationCheckDepth::Chain)
            .with_status_policy(if req.allow_unknown_status {
                UnknownStatusPolicy::Allow
            } else {
                UnknownStatusPolicy::Deny
            })
            .with_expiration_policy(ExpirationPolicy::Enforce)
            .build()
    });
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        at.unix_timestamp().max(0) as u64,
    ));
    let algs = webpki::ALL_VERIFICATION_ALGS;
    // The anchor checks run inside webpki's path search: a refused anchor
    // makes it try another path (a cross-signed intermediate's other root);
    // the first refusal is the verdict when no path is left.
    let refused: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
    let run = |anchors: &[TrustAnchor<'_>], own_constraints: bool| {
        let check = |p: &webpki::VerifiedPath<'_>| {
            judge_anchor(req, at, &path_ders(p), own_constraints)
                .map(|_| ())
                .map_err(|why| {
                    refused.borrow_mut().get_or_insert(why);
                    webpki::Error::UnknownIssuer
                })
        };
        let check: &dyn Fn(&webpki::VerifiedPath<'_>) -> std::result::Result<(), webpki::Error> =
            &check;
        let r = match req.purpose {
            Purpose::Client => ee
                .verify_for_usage(
                    algs,
                    anchors,
                    &inter,
                    time,
                    KeyUsage::client_auth(),
                    revocation,
                    Some(check),
                )
                .map(|p| path_ders(&p)),
            Purpose::Server => ee
                .verify_for_usage(
                    algs,
                    anchors,
                    &inter,
                    time,
                    KeyUsage::server_auth(),
                    revocation,
                    Some(check),
                )
                .map(|p| path_ders(&p)),
            Purpose::Any => ee
                .verify_for_usage(
                    algs,
                    anchors,
                    &inter,
                    time,
                    AnyUsage,
                    revocation,
                    Some(check),
                )
                .map(|p| path_ders(&p)),
        };
        match (r, refused.borrow_mut().take()) {
            (Err(_), Some(why)) => Err(RunError::Anchor(why)),
            (r, _) => r.map_err(RunError::Webpki),
        }
    };
    // webpki rejects every email, URI and directory-name constraint and
    // every non-CIDR IP mask. When it stops on one, the name constraints are
    // decided with OpenSSL's rules (`constraints`) for the whole path, and
    // everything else stays webpki's verdict: the path is built again with
    // the anchors' constraints left to certsmith.
    let (path, own_constraints) = match run(&anchors, false) {
        Ok(p) => (p, false),
        Err(RunError::Anchor(why)) => return Err(Error::failed(why).into()),
        Err(RunError::Webpki(e)) if webpki_cannot_judge_constraints(&e) => {
            let bare: Vec<TrustAnchor<'_>> = anchors
                .iter()
                .map(|a| TrustAnchor {
                    name_constraints: None,
                    ..a.clone()
                })
                .collect();
            match run(&bare, true) {
                Ok(p) => (p, true),
                Err(RunError::Anchor(why)) => return Err(Error::failed(why).into()),
                // A constraint of an intermediate webpki cannot judge: a
                // path passed every other check, judge the only one there is.
                Err(RunError::Webpki(e2)) if webpki_cannot_judge_constraints(&e2) => {
                    let p = only_path(req).ok_or_else(|| Error::failed(explain(req, &e2)))?;
                    (p, true)
                }
                Err(RunError::Webpki(e2)) => return Err(Error::failed(explain(req, &e2)).into()),
            }
        }
        Err(RunError::Webpki(e @ webpki::Error::UnknownIssuer)) => {
            if let Some(e) = unusable_issuer() {
                return Err(e.into());
            }
            return Err(Stop::NoIssuer(Error::failed(explain(req, &e))));
        }
        Err(RunError::Webpki(webpki::Error::InvalidSignatureForPublicKey))
            if weak_issuer(req).is_none()
                && let Some(why) = issuer_with_another_key(req) =>
        {
            return Err(Stop::NoIssuer(Error::failed(why)));
        }
        Err(RunError::Webpki(e)) => return Err(Error::failed(explain(req, &e)).into()),
    };
    // CRLs were given but webpki can use none of them: the status of the
    // chain is as unknown as with no CRL at all, not "not revoked".
    if revocation.is_none() && !req.crls.is_empty() && !req.allow_unknown_status {
        return Err(Error::failed(explain(req, &webpki::Error::UnknownRevocationStatus)).into());
    }
    // The profile rules webpki leaves out, below the anchor (the anchor's
    // own are judged with the anchor chosen below).
    let below_path = std::iter::once((req.cert.der.as_slice(), Role::EndEntity)).chain(
        path.intermediates
            .iter()
            .map(|d| (d.as_slice(), Role::Intermediate)),
    );
    for (der, role) in below_path {
        if let Some(why) = conformance::check(der, role, req.purpose) {
            return Err(Error::failed(why).into());
        }
    }
    // The CRLs of the CAs on the path, and only those, must be usable.
    let on_path = |l: &&CrlInfo| {
        path.intermediates.iter().any(|d| {
            req.intermediates
                .iter()
                .any(|i| i.der == *d && i.subject_raw == l.issuer_raw)
        }) || der_contents(&l.issuer_raw) == path.anchor_subject.as_slice()
    };
    for l in req.crls.iter().filter(on_path) {
        if let Some(why) = unusable_crl(l) {
            return Err(Error::failed(why).into());
        }
        let issuer = all_certs(req).find(|c| c.subject_raw == l.issuer_raw);
        if let Some(why) = conformance::check_crl(&l.der, issuer.map(|c| c.der.as_slice())) {
            return Err(Error::failed(why).into());
        }
    }
    let mut chain = vec![req.cert.subject.clone()];
    for c in &path.intermediates {
        if let Some(i) = req.intermediates.iter().find(|i| i.der == *c) {
            chain.push(i.subject.clone());
        }
    }
    if own_constraints {
        let below: Vec<&[u8]> = std::iter::once(req.cert.der.as_slice())
            .chain(path.intermediates.iter().map(Vec::as_slice))
            .collect();
        if let Some(why) = constraints_of_intermediates(req, &below) {
            return Err(Error::failed(why).into());
        }
    }
    // webpki does not look at a trust anchor's validity or pathlen; OpenSSL
    // does, and so must we to agree with it. The anchor is one with this
    // subject *and* this key: a re-keyed root shares its subject with the
    // old one, and must not borrow the old one's dates or pathlen. A root
    // renewed with the same key is listed more than once: the chain is
    // valid when it is valid under any of them.
    let accepted = judge_anchor(req, at, &path, own_constraints).map_err(Error::failed)?;
    if let Some(a) = accepted {
        chain.push(a.subject.clone());
    }
    let cas = path
        .intermediates
        .iter()
        .filter_map(|d| req.intermediates.iter().find(|i| i.der == *d))
        .chain(accepted);
    for ca in cas {
        for ex in &ca.name_constraints.exclude_dns {
            if let Some(w) = req
                .cert
                .dns_names()
                .find(|n| conformance::wildcard_meets_exclusion(n, ex))
            {
                return Err(Error::failed(format!(
                    "'{}' violates the name constraints of CA '{}': its wildcard name '{}' covers the excluded name '{}'",
                    shown(&req.cert.subject),
                    shown(&ca.subject),
                    shown(w),
                    shown(ex)
                ))
                .into());
            }
        }
    }
    for name in &req.names {
        check_name(req, &ee, name)?;
    }
    Ok(Verified {
        chain,
        revocation_checked: !req.crls.is_empty(),
        partial_chain: false,
    })
}

/// Whether the end entity is valid for `name`.
fn check_name(req: &Request, ee: &EndEntityCert<'_>, name: &PeerName) -> Result<()> {
    let leaf = shown(&req.cert.subject);
    let (kind, value, ok, prefix) = match name {
        PeerName::Dns(d) => {
            let ok = ServerName::try_from(d.as_str())
                .is_ok_and(|n| ee.verify_is_valid_for_subject_name(&n).is_ok());
            ("DNS names", d.clone(), ok, "dns:")
        }
        PeerName::Ip(ip) => {
            let n = ServerName::IpAddress((*ip).into());
            let ok = ee.verify_is_valid_for_subject_name(&n).is_ok();
            ("IP addresses", ip.to_string(), ok, "ip:")
        }
        PeerName::Email(m) => {
            let ok = req.cert.email_names().any(|e| same_email(e, m));
            ("email addresses", m.clone(), ok, "email:")
        }
    };
    if ok {
        return Ok(());
    }
    let names: Vec<&str> = req
        .cert
        .sans
        .iter()
        .filter_map(|n| n.strip_prefix(prefix))
        .collect();
    Err(Error::failed(format!(
        "'{leaf}' is not valid for the name '{}' (its {kind}: {})",
        shown(&value),
        if names.is_empty() {
            "none".to_string()
        } else {
            shown(&names.join(", "))
        }
    )))
}

/// RFC 5280 7.5: the local part compares exactly, the domain without case.
fn same_email(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && da.eq_ignore_ascii_case(db),
        _ => false,
    }
}

/// The certificates of a path webpki built, owned.
#[derive(PartialEq, Eq)]
struct PathDers {
    /// From the issuer of the end entity up to the one below the anchor.
    intermediates: Vec<Vec<u8>>,
    anchor_subject: Vec<u8>,
    anchor_spki: Vec<u8>,
}

/// Why webpki's path search failed: its own error, or certsmith's check
/// of the anchor refused every path that reached one.
enum RunError {
    Webpki(webpki::Error),
    Anchor(String),
}

/// The checks webpki leaves out on a trust anchor (validity, pathlen, name
/// constraints certsmith judges, the CA profile), for the anchor `path`
/// ends at: the anchor accepted (None: no certificate of the bundle has
/// its name and key), or why none is. Run inside webpki's path search, so
/// that a refused anchor makes it try another path.
fn judge_anchor<'a>(
    req: &'a Request,
    at: OffsetDateTime,
    path: &PathDers,
    own_constraints: bool,
) -> std::result::Result<Option<&'a CertInfo>, String> {
    let below_anchor = path.intermediates.len();
    let candidates: Vec<&CertInfo> = req
        .anchors
        .iter()
        .filter(|a| {
            der_contents(&a.subject_raw) == path.anchor_subject.as_slice()
                && der_contents(&a.spki_der) == path.anchor_spki.as_slice()
        })
        .collect();
    let mut best: Option<(u8, String)> = None;
    let mut accepted = None;
    for a in &candidates {
        let why = if !a.valid_at(at) {
            Some((0, window_message(a, at)))
        } else if let Some(limit) = a.pathlen
            && (limit as usize) < below_anchor
        {
            Some((
                1,
                format!(
                    "path length constraint violated: trust anchor '{}' allows {limit} intermediate CA(s) below it, the chain has {below_anchor}",
                    shown(&a.subject)
                ),
            ))
        } else if own_constraints {
            let below: Vec<&[u8]> = std::iter::once(req.cert.der.as_slice())
                .chain(path.intermediates.iter().map(Vec::as_slice))
                .collect();
            constraints_verdict(a, &below).map(|w| (2, w))
        } else {
            None
        }
        .or_else(|| {
            // A pinned certificate trusted as itself (a self-signed end
            // entity in the bundle) was judged as the end entity; as
            // OpenSSL does, it needs no CA profile to anchor only itself.
            if a.der == req.cert.der {
                return None;
            }
            conformance::check(&a.der, Role::Anchor, req.purpose).map(|w| (3, w))
        });
        match why {
            None => {
                accepted = Some(*a);
                break;
            }
            Some((rank, w)) if best.as_ref().is_none_or(|(r, _)| rank > *r) => {
                best = Some((rank, w));
            }
            Some(_) => {}
        }
    }
    match (accepted, best) {
        (Some(a), _) => Ok(Some(a)),
        (None, Some((_, why))) => Err(why),
        (None, None) => Ok(None),
    }
}

fn path_ders(p: &webpki::VerifiedPath<'_>) -> PathDers {
    PathDers {
        intermediates: p
            .intermediate_certificates()
            .map(|c| c.der().as_ref().to_vec())
            .collect(),
        anchor_subject: p.anchor().subject.as_ref().to_vec(),
        anchor_spki: p.anchor().subject_public_key_info.as_ref().to_vec(),
    }
}

/// Errors webpki gives for name constraints it does not implement.
fn webpki_cannot_judge_constraints(e: &webpki::Error) -> bool {
    matches!(
        e,
        webpki::Error::NameConstraintViolation | webpki::Error::InvalidNetworkMaskConstraint
    )
}

/// The one chain from the end entity to an anchor by names and signatures,
/// when there is exactly one.
fn only_path(req: &Request) -> Option<PathDers> {
    let signed_by = |c: &CertInfo, issuer: &CertInfo| crate::import::signed_by(c, Some(issuer));
    let mut paths = Vec::new();
    let mut stack: Vec<(Vec<&CertInfo>, &CertInfo)> = vec![(Vec::new(), &req.cert)];
    while let Some((above, head)) = stack.pop() {
        if paths.len() > 1 || above.len() > 8 {
            return None;
        }
        for a in req.anchors.iter().filter(|a| signed_by(head, a)) {
            // Anchors with one subject and key (a renewed root) are one path.
            let p = PathDers {
                intermediates: above.iter().map(|c| c.der.clone()).collect(),
                anchor_subject: der_contents(&a.subject_raw).to_vec(),
                anchor_spki: der_contents(&a.spki_der).to_vec(),
            };
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        for i in req.intermediates.iter().filter(|i| signed_by(head, i)) {
            if !above.iter().any(|c| c.der == i.der) && i.der != req.cert.der {
                let mut next = above.clone();
                next.push(i);
                stack.push((next, i));
            }
        }
    }
    (paths.len() == 1).then(|| paths.remove(0))
}

/// Why a certificate of `below` (the end entity first) violates the name
/// constraints of the CA `ca` above them all, by OpenSSL's rules: every
/// certificate is checked except self-issued CAs other than the end entity.
fn constraints_verdict(ca: &CertInfo, below: &[&[u8]]) -> Option<String> {
    let nc = &ca.name_constraints;
    if nc.is_empty() && !nc.other {
        return None;
    }
    below.iter().enumerate().find_map(|(k, der)| {
        let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
        if k > 0 && c.subject().as_raw() == c.issuer().as_raw() {
            return None;
        }
        nc.check_cert(&c).map(|why| {
            format!(
                "'{}' violates the name constraints of CA '{}': {why}",
                crate::error::shown(&c.subject().to_string()),
                crate::error::shown(&ca.subject)
            )
        })
    })
}

/// Name constraints of the intermediates of a path over the certificates below each.
fn constraints_of_intermediates(req: &Request, below: &[&[u8]]) -> Option<String> {
    (1..below.len()).find_map(|j| {
        let ca = req.intermediates.iter().find(|i| i.der == below[j])?;
        constraints_verdict(ca, &below[..j])
    })
}

/// The contents of a DER TLV (webpki keeps a trust anchor's subject without its tag).
fn der_contents(tlv: &[u8]) -> &[u8] {
    let Some(&len0) = tlv.get(1) else {
        return tlv;
    };
    let header = if len0 & 0x80 == 0 {
        2
    } else {
        2 + usize::from(len0 & 0x7f)
    };
    tlv.get(header..).unwrap_or(tlv)
}

fn window_message(c: &CertInfo, at: OffsetDateTime) -> String {
    if at > c.not_after {
        format!(
            "certificate '{}' expired on {} (checked at {})",
            shown(&c.subject),
            clock::rfc3339(c.not_after),
            clock::rfc3339(at)
        )
    } else {
        format!(
            "certificate '{}' is not valid before {} (checked at {})",
            shown(&c.subject),
            clock::rfc3339(c.not_before),
            clock::rfc3339(at)
        )
    }
}

/// Every certificate the request names, the end entity first.
fn all_certs(req: &Request) -> impl Iterator<Item = &CertInfo> {
    std::iter::once(&req.cert)
        .chain(req.intermediates.iter())
        .chain(req.anchors.iter())
}

/// The most specific message for a webpki error.
fn explain(req: &Request, e: &webpki::Error) -> String {
    use webpki::Error as E;
    let leaf = shown(&req.cert.subject);
    // A CA of the chain listed in a given CRL is the reason, whatever
    // webpki stumbled on first (the leaf's unknown status, say).
    if matches!(
        e,
        E::CertRevoked | E::UnknownRevocationStatus | E::UnknownIssuer
    ) && let Some(why) = revoked_issuer(req)
    {
        return why;
    }
    // A signature webpki cannot check: an issuer's key the baseline
    // forbids is the reason, not tampering.
    #[allow(deprecated)]
    let signature_error = matches!(
        e,
        E::InvalidSignatureForPublicKey
            | E::UnsupportedSignatureAlgorithm
            | E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKey
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
    );
    if signature_error && let Some(why) = weak_issuer(req) {
        return why;
    }
    match e {
        E::CertExpired { not_after, .. } => all_certs(req)
            .find(|c| c.not_after.unix_timestamp() as u64 == not_after.as_secs())
            .map(|c| window_message(c, req.at))
            .unwrap_or_else(|| format!("a certificate of the chain of '{leaf}' has expired")),
        E::CertNotValidYet { not_before, .. } => all_certs(req)
            .find(|c| c.not_before.unix_timestamp() as u64 == not_before.as_secs())
            .map(|c| window_message(c, req.at))
            .unwrap_or_else(|| format!("a certificate of the chain of '{leaf}' is not valid yet")),
        E::CertRevoked => revoked_message(req),
        E::UnknownRevocationStatus => {
            let unusable = std::iter::once(&req.cert)
                .chain(req.intermediates.iter())
                .flat_map(|c| req.crls.iter().filter(|l| l.issuer_raw == c.issuer_raw))
                .find_map(unusable_crl);
            if let Some(why) = unusable {
                return why;
            }
            let missing = std::iter::once(&req.cert)
                .chain(req.intermediates.iter())
                .find(|c| !req.crls.iter().any(|l| l.issuer_raw == c.issuer_raw));
            match missing {
                Some(c) => format!(
                    "revocation status of '{}' is unknown: no CRL from its issuer '{}' was given",
                    shown(&c.subject), shown(&c.issuer)
                ),
                None => format!("revocation status of the chain of '{leaf}' is unknown"),
            }
        }
        E::CrlExpired { next_update, .. } => {
            let who = req
                .crls
                .iter()
                .find(|l| {
                    l.next_update
                        .is_some_and(|n| n.unix_timestamp() as u64 == next_update.as_secs())
                })
                .map(|l| shown(&l.issuer))
                .unwrap_or_default();
            let when = OffsetDateTime::from_unix_timestamp(next_update.as_secs() as i64)
                .map(clock::rfc3339)
                .unwrap_or_default();
            format!(
                "the CRL of '{who}' is out of date: its nextUpdate was {when} (checked at {})",
                clock::rfc3339(req.at)
            )
        }
        E::UnknownIssuer => format!(
            "no trusted issuer found for '{}': its issuer '{}' is neither a trust anchor nor a given intermediate",
            // The leaf is the usual culprit; name the highest certificate we could not place.
            leaf,
            unplaced_issuer(req)
        ),
        E::RequiredEkuNotFoundContext(_) => format!(
            "'{leaf}' is not valid for {} authentication (extended key usage: {})",
            req.purpose.as_str(),
            if req.cert.ext_key_usage.is_empty() {
                "none".to_string()
            } else {
                req.cert.ext_key_usage.join(", ")
            }
        ),
        E::PathLenConstraintViolated => format!(
            "path length constraint violated in the chain of '{leaf}': a CA has more CAs below it than its pathlen allows"
        ),
        E::NameConstraintViolation => format!(
            "'{leaf}' violates the name constraints of a CA in its chain (names: {})",
            shown(&req.cert.sans.join(", "))
        ),
        // webpki reports the last error of the paths it tried: name the
        // certificate whose signature really fails, or, when every
        // signature holds, the rule the remaining path broke.
        E::InvalidSignatureForPublicKey => bad_signature(req).unwrap_or_else(|| {
            if req.intermediates.iter().any(|c| c.subject_raw == c.issuer_raw) {
                format!(
                    "path length constraint violated in the chain of '{leaf}': every signature verifies, but the only path runs through self-issued CA certificates, which count toward pathLenConstraint here (RFC 5280 6.1.4 does not count them)"
                )
            } else {
                format!(
                    "no path from '{leaf}' to a trust anchor passes every check: every signature verifies, but each path breaks a constraint of a CA on it"
                )
            }
        }),
        E::CaUsedAsEndEntity => {
            format!(
                "'{leaf}' is a CA certificate, not an end-entity (device, client or server) certificate"
            )
        }
        // Name the issuer that is no CA and the rule it breaks.
        E::EndEntityUsedAsCa => std::iter::once(&req.cert)
            .chain(req.intermediates.iter())
            .flat_map(|c| {
                req.intermediates
                    .iter()
                    .filter(move |i| i.subject_raw == c.issuer_raw && i.der != c.der)
            })
            .find_map(|i| conformance::check(&i.der, Role::Intermediate, req.purpose))
            .unwrap_or_else(|| {
                format!(
                    "a certificate that is not a CA (no basicConstraints, or CA:FALSE) appears as an issuer in the chain of '{leaf}'"
                )
            }),
        #[allow(deprecated)]
        E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => format!(
            "a signature in the chain of '{leaf}' uses an algorithm or key that is not accepted (accepted: RSA of 2048 bits or more with SHA-256/384/512 or PSS, ECDSA P-256/P-384/P-521 with SHA-256/384/512, Ed25519; not SHA-1, DSA, P-192 or explicit curve parameters)"
        ),
        other => format!("'{leaf}' is not valid: {}", describe_plain(other)),
    }
}

/// The key rule an issuer by name of a certificate of the request breaks.
fn weak_issuer(req: &Request) -> Option<String> {
    let issuers = |c: &CertInfo| {
        let raw = c.issuer_raw.clone();
        req.intermediates
            .iter()
            .map(|i| (i, Role::Intermediate))
            .chain(req.anchors.iter().map(|a| (a, Role::Anchor)))
            .filter(move |(i, _)| i.subject_raw == raw)
            .collect::<Vec<_>>()
    };
    std::iter::once(&req.cert)
        .chain(req.intermediates.iter())
        .flat_map(issuers)
        .find_map(|(i, role)| conformance::weak_key_rule(&i.der, role))
}

/// "bad signature: …" naming a certificate none of whose issuers by name
/// signed it.
fn bad_signature(req: &Request) -> Option<String> {
    std::iter::once(&req.cert)
        .chain(req.intermediates.iter())
        .find_map(|c| {
            let issuers: Vec<&CertInfo> = req
                .intermediates
                .iter()
                .chain(req.anchors.iter())
                .filter(|i| i.subject_raw == c.issuer_raw && i.der != c.der)
                .collect();
            let forged = !issuers.is_empty()
                && !issuers
                    .iter()
                    .any(|i| crate::import::signed_by(c, Some(i)));
            forged.then(|| {
                format!(
                    "bad signature: '{}' was not signed by the key of its issuer '{}' (tampered or mismatched)",
                    shown(&c.subject),
                    shown(&c.issuer)
                )
            })
        })
}

/// A certificate whose issuer is present only under its name with another
/// key: its authorityKeyIdentifier names a key no certificate of that name
/// has (a re-keyed or mismatched root), so it has no issuer here, rather
/// than a tampered signature.
fn issuer_with_another_key(req: &Request) -> Option<String> {
    std::iter::once(&req.cert)
        .chain(req.intermediates.iter())
        .find_map(|c| {
            let aki = c.aki.as_ref()?;
            let issuers: Vec<&CertInfo> = req
                .intermediates
                .iter()
                .chain(req.anchors.iter())
                .filter(|i| i.subject_raw == c.issuer_raw && i.der != c.der)
                .collect();
            let other_key = !issuers.is_empty()
                && issuers.iter().all(|i| i.ski.as_ref() != Some(aki))
                && !issuers
                    .iter()
                    .any(|i| crate::import::signed_by(c, Some(i)));
            other_key.then(|| {
                format!(
                    "no trusted issuer found for '{}': the certificate named '{}' given has another key than the one that signed it (a re-keyed or mismatched root or CA)",
                    shown(&c.subject),
                    shown(&c.issuer)
                )
            })
        })
}

/// The issuer name of the first certificate whose issuer is nowhere in the request.
fn unplaced_issuer(req: &Request) -> String {
    let known: Vec<&[u8]> = req
        .intermediates
        .iter()
        .chain(req.anchors.iter())
        .map(|c| c.subject_raw.as_slice())
        .collect();
    std::iter::once(&req.cert)
        .chain(req.intermediates.iter())
        .find(|c| !known.contains(&c.issuer_raw.as_slice()))
        .map(|c| shown(&c.issuer))
        .unwrap_or_else(|| shown(&req.cert.issuer))
}

/// "issuer revoked: …" when a CA above the leaf is listed in a given CRL.
fn revoked_issuer(req: &Request) -> Option<String> {
    req.intermediates.iter().find_map(|c| {
        let e = req
            .crls
            .iter()
            .filter(|l| l.issuer_raw == c.issuer_raw)
            .find_map(|l| l.find(&c.serial))?;
        let (when, why) = (&e.revoked_at, e.reason);
        Some(format!(
            "issuer revoked: CA '{}' above '{}' was revoked on {} (reason {why}) by '{}'",
            shown(&c.subject),
            shown(&req.cert.subject),
            clock::rfc3339(*when),
            shown(&c.issuer)
        ))
    })
}

fn revoked_message(req: &Request) -> String {
    for c in std::iter::once(&req.cert).chain(req.intermediates.iter()) {
        for l in &req.crls {
            if l.issuer_raw == c.issuer_raw
                && let Some(e) = l.find(&c.serial)
            {
                let (when, why) = (&e.revoked_at, e.reason);
                return format!(
                    "certificate '{}' (serial {}) was revoked on {} (reason {why}) by '{}'",
                    shown(&c.subject),
                    crate::serial::to_hex(&c.serial),
                    clock::rfc3339(*when),
                    shown(&c.issuer)
                );
            }
        }
    }
    format!(
        "a certificate in the chain of '{}' is revoked",
        shown(&req.cert.subject)
    )
}

/// Why webpki cannot use the CRL `l`, if it cannot.
fn unusable_crl(l: &CrlInfo) -> Option<String> {
    let e = OwnedCertRevocationList::from_der(&l.der).err()?;
    let v1 = x509_parser::revocation_list::CertificateRevocationList::from_der(&l.der)
        .is_ok_and(|(_, c)| c.version().is_none());
    Some(if v1 {
        format!(
            "the CRL of '{}' cannot be used: it is a version 1 CRL (no version field and no extensions, as `openssl ca -gencrl` writes without a crlnumber file), and only version 2 CRLs are supported",
            shown(&l.issuer)
        )
    } else {
        format!(
            "the CRL of '{}' cannot be used: {}",
            shown(&l.issuer),
            describe_plain(&e)
        )
    })
}

/// webpki's own wording for errors we do not map: the error's name alone,
/// lowercased, never its internal fields (OID bytes, algorithm lists).
fn describe_plain(e: &webpki::Error) -> String {
    let s = format!("{e:?}");
    let name = s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .trim_end_matches("Context");
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push(' ');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}
