//! The rules trust stores share, as small functions that targets compose:
//! text layout, certificate kind, key and signature algorithms, sizes,
//! counts, chain depth and completeness, CRL coverage and freshness.

use crate::certinfo::CertInfo;
use crate::keys::{Curve, PublicKeyKind};

use super::{Contents, Finding, Level};

/// Collects findings for one target.
pub struct Rules {
    pub target: &'static str,
    pub found: Vec<Finding>,
}

/// `subject (sha256 ab12…)`: how a finding names a certificate.
pub fn who(c: &CertInfo) -> String {
    format!("'{}' (sha256 {})", c.subject, c.fingerprint)
}

impl Rules {
    pub fn new(target: &'static str) -> Rules {
        Rules {
            target,
            found: Vec::new(),
        }
    }

    pub fn push(&mut self, level: Level, rule: &'static str, cert: Option<&CertInfo>, msg: String) {
        self.found.push(Finding {
            level,
            target: self.target,
            rule,
            cert: cert.map(who),
            message: msg,
        });
    }

    /// Only PEM blocks of certificates (and CRLs), nothing else: no text
    /// dumps, no private keys. `comments`: `#` lines allowed, and whether a
    /// `-` is forbidden in them. `blank_lines`: whether empty lines are allowed.
    pub fn pem_only(
        &mut self,
        c: &Contents,
        comments: Option<bool>,
        blank_lines: bool,
    ) -> &mut Self {
        let mut in_block: Option<String> = None;
        for (i, line) in c.text.lines().enumerate() {
            let n = i + 1;
            let t = line.trim_end_matches('\r');
            if let Some(label) = t
                .strip_prefix("-----BEGIN ")
                .and_then(|r| r.strip_suffix("-----"))
            {
                if label.contains("PRIVATE KEY") {
                    self.push(
                        Level::Error,
                        "no-private-keys",
                        None,
                        format!("line {n} starts a private key ('{label}'); a trust store holds certificates only, and the key is now exposed"),
                    );
                } else if label != "CERTIFICATE" && label != "X509 CRL" {
                    self.push(
                        Level::Error,
                        "pem-only",
                        None,
                        format!("line {n} starts a '{label}' block; only CERTIFICATE blocks belong in a CA bundle"),
                    );
                }
                in_block = Some(label.to_string());
                continue;
            }
            if t.starts_with("-----END ") {
                in_block = None;
                continue;
            }
            if t.trim().is_empty() {
                if !blank_lines {
                    self.push(
                        Level::Error,
                        "no-blank-lines",
                        None,
                        format!("line {n} is blank; blank lines are not allowed"),
                    );
                }
                continue;
            }
            if in_block.is_some() {
                continue;
            }
            match (t.starts_with('#'), comments) {
                (true, Some(no_dash)) => {
                    if no_dash && t.contains('-') {
                        self.push(
                            Level::Error,
                            "comment-without-dash",
                            None,
                            format!("line {n} is a comment containing '-', which is not allowed"),
                        );
                    }
                }
                _ => self.push(
                    Level::Error,
                    "pem-only",
                    None,
                    format!(
                        "line {n} is text outside a PEM block ('{}'): remove text dumps such as `openssl x509 -text` output",
                        t.chars().take(40).collect::<String>()
                    ),
                ),
            }
        }
        if c.certs.is_empty() {
            self.push(
                Level::Error,
                "pem-only",
                None,
                "the bundle holds no certificate".into(),
            );
        }
        self
    }

    /// Every certificate is X.509 v3.
    pub fn v3(&mut self, c: &Contents) -> &mut Self {
        for cert in &c.certs {
            if cert.version != 3 {
                self.push(
                    Level::Error,
                    "x509-v3",
                    Some(cert),
                    format!(
                        "is an X.509 v{} certificate; only v3 is accepted",
                        cert.version
                    ),
                );
            }
        }
        self
    }

    /// Only CA certificates: a leaf in a trust store trusts nothing and hides a mistake.
    pub fn ca_only(&mut self, c: &Contents) -> &mut Self {
        for cert in &c.certs {
            if !cert.is_ca {
                self.push(
                    Level::Error,
                    "ca-only",
                    Some(cert),
                    "is not a CA certificate (basicConstraints CA:FALSE); put only CA certificates in the bundle".into(),
                );
            }
        }
        self
    }

    /// Key types accepted. `what` lists them in the message; `fix` names the way out.
    pub fn keys(
        &mut self,
        c: &Contents,
        ok: impl Fn(&PublicKeyKind) -> bool,
        what: &str,
        fix: &str,
    ) -> &mut Self {
        for cert in &c.certs {
            if !ok(&cert.key) {
                self.push(
                    Level::Error,
                    "key-algorithm",
                    Some(cert),
                    format!(
                        "has a {} key; the trust store accepts only {what}. {fix}",
                        cert.key
                    ),
                );
            }
        }
        self
    }

    /// Signature algorithms accepted (names as [`signature_label`] gives them).
    pub fn signatures(&mut self, c: &Contents, allowed: &[&str]) -> &mut Self {
        for cert in &c.certs {
            let label = signature_label(cert);
            if !allowed.contains(&label.as_str()) {
                self.push(
                    Level::Error,
                    "signature-algorithm",
                    Some(cert),
                    format!("is signed with {label}; accepted: {}", allowed.join(", ")),
                );
            }
        }
        self
    }

    /// Each certificate's PEM is at most `max` bytes.
    pub fn cert_size(&mut self, c: &Contents, max: usize) -> &mut Self {
        for cert in &c.certs {
            let len = cert.pem().len();
            if len > max {
                self.push(
                    Level::Error,
                    "certificate-size",
                    Some(cert),
                    format!("is {len} bytes as PEM; the limit is {max} bytes per certificate"),
                );
            }
        }
        self
    }

    /// The whole text is at most `max` bytes.
    pub fn total_size(&mut self, c: &Contents, max: usize) -> &mut Self {
        if c.text.len() > max {
            self.push(
                Level::Error,
                "bundle-size",
                None,
                format!(
                    "the bundle is {} bytes; the limit is {max} bytes",
                    c.text.len()
                ),
            );
        }
        self
    }

    /// At most `max` certificates.
    pub fn count(&mut self, c: &Contents, max: usize, level: Level, why: &str) -> &mut Self {
        if c.certs.len() > max {
            self.push(
                level,
                "certificate-count",
                None,
                format!(
                    "the bundle holds {} certificates; {why} is {max}",
                    c.certs.len()
                ),
            );
        }
        self
    }

    /// The CA subject names a trust store advertises to clients (in the
    /// TLS CertificateRequest, as DER) add up to at most `max` bytes; `why`
    /// names the quota.
    pub fn subject_size(&mut self, c: &Contents, max: usize, level: Level, why: &str) -> &mut Self {
        let total: usize = c.certs.iter().map(|x| x.subject_raw.len()).sum();
        if total > max {
            self.push(
                level,
                "ca-subject-size",
                None,
                format!(
                    "the CA subjects of the bundle add up to {total} bytes (DER); {why} is {max}"
                ),
            );
        }
        self
    }

    /// A client chain (device certificate plus the bundle's CAs) is at most `max` long.
    pub fn depth(&mut self, c: &Contents, max: usize) -> &mut Self {
        let depth = ca_depth(&c.certs) + 1;
        if depth > max {
            self.push(
                Level::Error,
                "chain-depth",
                None,
                format!("a client chain would be {depth} certificates long (device + {} CAs); the limit is {max}", depth - 1),
            );
        }
        self
    }

    /// The longest chain of CA certificates in the bundle is at most `max`
    /// (a limit that counts CAs, not the device).
    pub fn ca_chain_depth(&mut self, c: &Contents, max: usize) -> &mut Self {
        let depth = ca_depth(&c.certs);
        if depth > max {
            self.push(
                Level::Error,
                "chain-depth",
                None,
                format!("the bundle holds a chain of {depth} CA certificates; the limit is {max}"),
            );
        }
        self
    }

    /// No two different certificates share a subject (a warning: which one
    /// a store picks for a chain is then not said).
    pub fn distinct_subjects(&mut self, c: &Contents, why: &str) -> &mut Self {
        for (i, cert) in c.certs.iter().enumerate() {
            let twins = c.certs[..i]
                .iter()
                .filter(|o| o.subject_raw == cert.subject_raw && o.der != cert.der)
                .count();
            // Reported once, at the second certificate of a subject.
            if twins == 1 {
                let all = c
                    .certs
                    .iter()
                    .filter(|o| o.subject_raw == cert.subject_raw)
                    .count();
                self.push(
                    Level::Warning,
                    "duplicate-subject",
                    Some(cert),
                    format!(
                        "shares its subject with {} other CA certificate(s); {why}",
                        all - 1
                    ),
                );
            }
        }
        self
    }

    /// Serial numbers are positive (and not zero): the certificates' and
    /// those each CRL lists.
    pub fn positive_serials(&mut self, c: &Contents) -> &mut Self {
        use x509_parser::prelude::FromDer;
        for l in &c.crls {
            let Ok((_, crl)) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(&l.der)
            else {
                continue;
            };
            for e in crl.iter_revoked_certificates() {
                let raw = e.raw_serial();
                if raw.first().is_some_and(|b| b & 0x80 != 0) || raw.iter().all(|b| *b == 0) {
                    self.push(
                        Level::Error,
                        "positive-serial",
                        None,
                        format!(
                            "the CRL of '{}' lists serial {}, a negative or zero serial number",
                            l.issuer,
                            signed_hex(raw)
                        ),
                    );
                }
            }
        }
        for cert in &c.certs {
            let raw = x509_parser::certificate::X509Certificate::from_der(&cert.der)
                .map(|(_, x)| x.raw_serial().to_vec())
                .unwrap_or_default();
            let negative = raw.first().is_some_and(|b| b & 0x80 != 0);
            let zero = raw.iter().all(|b| *b == 0);
            if negative || zero {
                self.push(
                    Level::Error,
                    "positive-serial",
                    Some(cert),
                    "has a negative or zero serial number".into(),
                );
            }
        }
        self
    }

    /// Every certificate chains, within the bundle, to a self-signed root.
    pub fn complete_chains(&mut self, c: &Contents) -> &mut Self {
        for cert in &c.certs {
            let mut cur = cert;
            let mut hops = 0;
            while !cur.self_signed && hops <= c.certs.len() {
                match c.certs.iter().find(|p| p.subject_raw == cur.issuer_raw) {
                    Some(p) => {
                        cur = p;
                        hops += 1;
                    }
                    None => {
                        self.push(
                            Level::Error,
                            "complete-chain",
                            Some(cert),
                            format!(
                                "its chain stops at '{}': the issuer '{}' is not in the bundle",
                                cur.subject, cur.issuer
                            ),
                        );
                        break;
                    }
                }
            }
        }
        self
    }

    /// CA certificates valid now (an expired CA trusts nobody).
    pub fn not_expired(&mut self, c: &Contents, level: Level) -> &mut Self {
        for cert in &c.certs {
            if cert.not_after < c.now {
                self.push(
                    level,
                    "not-expired",
                    Some(cert),
                    format!("expired on {}", crate::clock::rfc3339(cert.not_after)),
                );
            }
        }
        self
    }

    /// Each CRL was issued by a CA in the bundle.
    pub fn crl_issuers_in_bundle(&mut self, c: &Contents) -> &mut Self {
        for l in &c.crls {
            if !c.certs.iter().any(|ca| ca.subject_raw == l.issuer_raw) {
                self.push(
                    Level::Error,
                    "crl-issuer-in-bundle",
                    None,
                    format!(
                        "the CRL of '{}' was issued by a CA that is not in the bundle",
                        l.issuer
                    ),
                );
            }
        }
        self
    }

    /// Every CA of the bundle has a CRL (servers that check CRLs refuse a chain without one).
    pub fn crl_for_every_ca(&mut self, c: &Contents) -> &mut Self {
        for ca in &c.certs {
            if ca.is_ca && !c.crls.iter().any(|l| l.issuer_raw == ca.subject_raw) {
                self.push(
                    Level::Error,
                    "crl-for-every-ca",
                    Some(ca),
                    "has no CRL; the server rejects every client whose chain includes a CA without a CRL. Run `certsmith crl`".into(),
                );
            }
        }
        self
    }

    /// CRLs are not past their nextUpdate (OpenSSL-based servers then
    /// reject every client): `level` is an error where the target documents
    /// that, a warning elsewhere.
    pub fn crls_fresh(&mut self, c: &Contents, level: Level) -> &mut Self {
        for l in &c.crls {
            if let Some(next) = l.next_update
                && next < c.now
            {
                self.push(
                    level,
                    "crl-fresh",
                    None,
                    format!(
                        "the CRL of '{}' expired on {}; run `certsmith crl` and bundle again",
                        l.issuer,
                        crate::clock::rfc3339(next)
                    ),
                );
            }
        }
        self
    }

    pub fn done(&mut self) -> Vec<Finding> {
        std::mem::take(&mut self.found)
    }
}

/// Longest chain of CA certificates in `certs` (1 for a lone root).
pub fn ca_depth(certs: &[CertInfo]) -> usize {
    certs
        .iter()
        .map(|c| {
            let mut depth = 1;
            let mut cur = c;
            while !cur.self_signed && depth <= certs.len() {
                match certs.iter().find(|p| p.subject_raw == cur.issuer_raw) {
                    Some(p) => {
                        depth += 1;
                        cur = p;
                    }
                    None => break,
                }
            }
            depth
        })
        .max()
        .unwrap_or(0)
}

/// RSA 2048–8192 or ECDSA P-256/P-384/P-521.
pub fn rsa_or_nist_ec(k: &PublicKeyKind) -> bool {
    match k {
        PublicKeyKind::Rsa(bits) => (2048..=8192).contains(bits),
        PublicKeyKind::Ec(Curve::P256 | Curve::P384 | Curve::P521) => true,
        _ => false,
    }
}

/// SHA-256/384/512 with RSA PKCS#1 v1.5 or ECDSA.
pub const SHA2_SIGNATURES: &[&str] = &[
    "sha256WithRSAEncryption",
    "sha384WithRSAEncryption",
    "sha512WithRSAEncryption",
    "ecdsa-with-SHA256",
    "ecdsa-with-SHA384",
    "ecdsa-with-SHA512",
];

/// SHA-256/384/512 with RSA PKCS#1 v1.5, ECDSA or RSASSA-PSS (MGF1 with
/// the same hash): what the ALB and IoT Core document.
pub const SHA2_OR_PSS_SIGNATURES: &[&str] = &[
    "sha256WithRSAEncryption",
    "sha384WithRSAEncryption",
    "sha512WithRSAEncryption",
    "ecdsa-with-SHA256",
    "ecdsa-with-SHA384",
    "ecdsa-with-SHA512",
    "rsassa-pss with SHA-256",
    "rsassa-pss with SHA-384",
    "rsassa-pss with SHA-512",
];

/// A certificate's signature algorithm as the rules name it: its
/// `signature_algorithm`, and for RSASSA-PSS the hash, plus the MGF1 hash
/// when that differs (`rsassa-pss with SHA-256`).
pub fn signature_label(cert: &CertInfo) -> String {
    use x509_parser::prelude::FromDer;
    use x509_parser::signature_algorithm::SignatureAlgorithm;
    if cert.signature_algorithm != "rsassa-pss" {
        return cert.signature_algorithm.clone();
    }
    let Ok((_, x)) = x509_parser::certificate::X509Certificate::from_der(&cert.der) else {
        return cert.signature_algorithm.clone();
    };
    let Ok(SignatureAlgorithm::RSASSA_PSS(p)) =
        SignatureAlgorithm::try_from(&x.signature_algorithm)
    else {
        return "rsassa-pss with unreadable parameters".into();
    };
    let hash = hash_name(&p.hash_algorithm_oid().to_id_string());
    match p.mask_gen_algorithm() {
        Ok(m) if hash_name(&m.hash.to_id_string()) == hash => format!("rsassa-pss with {hash}"),
        Ok(m) => format!(
            "rsassa-pss with {hash}, MGF1 {}",
            hash_name(&m.hash.to_id_string())
        ),
        Err(_) => format!("rsassa-pss with {hash}, unreadable MGF"),
    }
}

fn hash_name(oid: &str) -> String {
    match oid {
        "1.3.14.3.2.26" => "SHA-1".into(),
        "2.16.840.1.101.3.4.2.1" => "SHA-256".into(),
        "2.16.840.1.101.3.4.2.2" => "SHA-384".into(),
        "2.16.840.1.101.3.4.2.3" => "SHA-512".into(),
        other => other.into(),
    }
}

/// A DER INTEGER's content as signed hex: `-05`, `7f`, `0`.
fn signed_hex(raw: &[u8]) -> String {
    if raw.iter().all(|b| *b == 0) {
        return "0".into();
    }
    if raw.first().is_some_and(|b| b & 0x80 != 0) {
        // Two's complement: invert and add one for the magnitude.
        let mut m: Vec<u8> = raw.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
        return format!("-{}", trim_hex(&hex));
    }
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    trim_hex(&hex).to_string()
}

/// Hex without leading zero octets (at least one octet kept).
fn trim_hex(hex: &str) -> &str {
    let mut h = hex;
    while h.len() > 2 && h.starts_with("00") {
        h = &h[2..];
    }
    h
}

/// What to do about an Ed25519 (or other unaccepted) CA key.
pub const KEY_FIX: &str = "Re-create the CA with --key ecdsa-p256, ecdsa-p384 or rsa-3072 (certsmith intermediate NAME --key ecdsa-p256), issue devices from it, and bundle again";

/// The rules of a server that checks the CRL of every CA in the chain
/// (nginx, HAProxy, Envoy): PEM only, CA certificates only, a fresh CRL for
/// every CA, and a warning for an expired CA.
pub fn crl_checking_server(target: &'static str, c: &Contents) -> Vec<Finding> {
    Rules::new(target)
        .pem_only(c, Some(false), true)
        .ca_only(c)
        .crl_for_every_ca(c)
        .crls_fresh(c, Level::Error)
        .not_expired(c, Level::Warning)
        .done()
}

/// What an ALB trust store's revocation quotas count at the peak of the
/// printed steps: the CRLs, their entries together, and the largest CRL
/// file (issuer, bytes). Each replaced list is removed right after its
/// replacement is added, one CA after the other in the printed order, so
/// the peak holds one list more, and right after the add of replacement i
/// the store holds the new lists before i, the old lists from i on and new
/// list i.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlbRevocations {
    pub lists: usize,
    pub entries: usize,
    pub largest: Option<(String, usize)>,
    /// (new entries, old entries) of each list replaced (its replacement
    /// added, then it removed), in the printed order; `entries` counts the
    /// new ones.
    pub replaced: Vec<(usize, usize)>,
}

impl AlbRevocations {
    /// The most entries the store holds during the printed steps:
    /// max over i of (entries not replaced + Σ new before i + Σ old from i
    /// on + new i); `entries` when nothing is replaced.
    pub fn peak_entries(&self) -> usize {
        let new_total: usize = self.replaced.iter().map(|r| r.0).sum();
        let base = self.entries.saturating_sub(new_total);
        let mut old_from: usize = self.replaced.iter().map(|r| r.1).sum();
        let mut new_before = 0usize;
        let mut peak = self.entries;
        for (new, old) in &self.replaced {
            peak = peak.max(base + new_before + old_from + new);
            new_before += new;
            old_from -= old;
        }
        peak
    }
}

impl AlbRevocations {
    /// The counts of the CRLs in `c`, each as the PEM file certsmith writes.
    pub fn of(c: &Contents) -> AlbRevocations {
        AlbRevocations {
            lists: c.crls.len(),
            entries: c.crls.iter().map(|l| l.entries.len()).sum(),
            largest: c
                .crls
                .iter()
                .map(|l| {
                    (
                        l.issuer.clone(),
                        super::crl_pem(std::slice::from_ref(l)).len(),
                    )
                })
                .max_by_key(|(_, n)| *n),
            replaced: c.replaced_entries.clone(),
        }
    }
}

/// Source of the ALB revocation quotas, named in each finding.
const ALB_QUOTAS: &str = "AWS, Quotas for your Application Load Balancers, https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html";

impl Rules {
    /// The ALB trust store's revocation quotas at the peak of the printed
    /// steps: at most 30 revocation lists, 500,000 revocation entries in
    /// all, 50 MB per CRL file (AWS states "50 MB": 50,000,000 bytes).
    pub fn alb_revocation_quotas(&mut self, r: &AlbRevocations) -> &mut Self {
        const LISTS: usize = 30;
        const ENTRIES: usize = 500_000;
        const FILE: usize = 50_000_000;
        let (lists, entries, during) = if r.replaced.is_empty() {
            (r.lists, r.entries, "")
        } else {
            (
                r.lists + 1,
                r.peak_entries(),
                " while a CRL is added before the one it replaces is removed",
            )
        };
        if lists > LISTS {
            self.push(
                Level::Error,
                "revocation-list-count",
                None,
                format!(
                    "the trust store would hold {lists} CRLs{during}; a trust store takes at most {LISTS} revocation lists ({ALB_QUOTAS}); bundle fewer CAs with --ca"
                ),
            );
        }
        if entries > ENTRIES {
            self.push(
                Level::Error,
                "revocation-entry-count",
                None,
                format!(
                    "the CRLs would list {entries} revoked certificates{during}; a trust store takes at most {ENTRIES} revocation entries ({ALB_QUOTAS}); expired entries leave a CRL after `certsmith ca set-crl CA --prune-after LENGTH`"
                ),
            );
        }
        if let Some((issuer, bytes)) = &r.largest
            && *bytes > FILE
        {
            self.push(
                Level::Error,
                "crl-file-size",
                None,
                format!(
                    "the CRL of '{issuer}' is {bytes} bytes; a revocation file may be at most {FILE} bytes (50 MB, {ALB_QUOTAS})"
                ),
            );
        }
        self
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signed_hex_shows_negative_serials_with_a_sign() {
        assert_eq!(super::signed_hex(&[0xfb]), "-05");
        assert_eq!(super::signed_hex(&[0xff, 0x00]), "-0100");
        assert_eq!(super::signed_hex(&[0x00, 0x80]), "80");
        assert_eq!(super::signed_hex(&[0x00]), "0");
    }
}
