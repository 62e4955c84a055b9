//! Where a CA's certificates point relying parties for revocation data:
//! its CRL Distribution Point, OCSP responder and caIssuers URLs, kept as
//! settings of the CA in the ledger and written into every certificate the
//! CA issues (unless the profile turns them off).

use der::Encode;
use der::asn1::{Ia5String, ObjectIdentifier};
use rcgen::{CertificateParams, CrlDistributionPoint, CustomExtension};
use serde::Serialize;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};

use crate::error::{Error, Result};
use crate::ledger::Ledger;

const CRL_KEY: &str = "crl_url";
const OCSP_KEY: &str = "ocsp_url";
const CA_ISSUERS_KEY: &str = "ca_issuers_url";

/// id-pe-authorityInfoAccess (RFC 5280 4.2.2.1).
const AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-ad-ocsp.
const AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// id-ad-caIssuers.
const AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// The longest URL accepted: far past any real one, short enough that a
/// certificate stays small.
const MAX_LEN: usize = 1024;

/// The revocation URLs of one CA; each may be unset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaUrls {
    pub crl: Option<String>,
    pub ocsp: Option<String>,
    pub ca_issuers: Option<String>,
}

/// A change to a CA's URLs: each `Some` replaces that URL; `clear` first
/// removes all three.
#[derive(Clone, Debug, Default)]
pub struct UrlChange {
    pub crl: Option<String>,
    pub ocsp: Option<String>,
    pub ca_issuers: Option<String>,
    pub clear: bool,
}

impl UrlChange {
    /// Checks every URL given (see [`check_url`]).
    pub fn check(&self) -> Result<()> {
        for (flag, url) in self.flags() {
            if let Some(u) = url {
                check_url(flag, u)?;
            }
        }
        Ok(())
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.clear && self.flags().iter().all(|(_, u)| u.is_none())
    }

    fn flags(&self) -> [(&'static str, Option<&str>); 3] {
        [
            ("--crl-url", self.crl.as_deref()),
            ("--ocsp-url", self.ocsp.as_deref()),
            ("--ca-issuers-url", self.ca_issuers.as_deref()),
        ]
    }

    /// This change for CA `ca`: `{ca}` in a URL stands for the CA's name,
    /// so one pattern serves every CA (as `bootstrap` needs), percent-encoded
    /// outside the RFC 3986 unreserved characters (a name `p+q@r` must not
    /// turn into userinfo); the scheme is written lowercase (`HTTP://` is
    /// the same scheme, RFC 3986 §3.1).
    pub fn for_ca(&self, ca: &str) -> UrlChange {
        let name = percent_encode(ca);
        let fill = |u: &Option<String>| {
            u.as_ref()
                .map(|u| lowercase_scheme(&u.replace("{ca}", &name)))
        };
        UrlChange {
            crl: fill(&self.crl),
            ocsp: fill(&self.ocsp),
            ca_issuers: fill(&self.ca_issuers),
            clear: self.clear,
        }
    }

    /// Records this change on CA `ca`'s URLs; returns them as they now are.
    pub fn save(&self, ledger: &mut Ledger, ca: &str) -> Result<CaUrls> {
        let change = self.for_ca(ca);
        change.check()?;
        let urls = change.applied_to(CaUrls::load(ledger, ca)?);
        urls.save(ledger, ca)?;
        Ok(urls)
    }

    /// `current` with this change applied.
    pub fn applied_to(&self, current: CaUrls) -> CaUrls {
        let base = if self.clear {
            CaUrls::default()
        } else {
            current
        };
        CaUrls {
            crl: self.crl.clone().or(base.crl),
            ocsp: self.ocsp.clone().or(base.ocsp),
            ca_issuers: self.ca_issuers.clone().or(base.ca_issuers),
        }
    }
}

impl CaUrls {
    fn scope(ca: &str) -> String {
        format!("ca:{ca}")
    }

    /// The URLs recorded for CA `ca` (none for a ledger without settings).
    pub fn load(ledger: &Ledger, ca: &str) -> Result<CaUrls> {
        let scope = Self::scope(ca);
        Ok(CaUrls {
            crl: ledger.setting(&scope, CRL_KEY)?,
            ocsp: ledger.setting(&scope, OCSP_KEY)?,
            ca_issuers: ledger.setting(&scope, CA_ISSUERS_KEY)?,
        })
    }

    /// Records these URLs as CA `ca`'s, replacing (or clearing) each.
    pub fn save(&self, ledger: &mut Ledger, ca: &str) -> Result<()> {
        let scope = Self::scope(ca);
        ledger.set_setting(&scope, CRL_KEY, self.crl.as_deref())?;
        ledger.set_setting(&scope, OCSP_KEY, self.ocsp.as_deref())?;
        ledger.set_setting(&scope, CA_ISSUERS_KEY, self.ca_issuers.as_deref())?;
        Ok(())
    }

    /// Whether no URL is set.
    pub fn is_empty(&self) -> bool {
        self.crl.is_none() && self.ocsp.is_none() && self.ca_issuers.is_none()
    }

    /// Adds the CRL Distribution Points and Authority Information Access
    /// extensions these URLs call for to `params`.
    pub fn apply(&self, params: &mut CertificateParams) -> Result<()> {
        if let Some(u) = &self.crl {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![u.clone()],
            }];
        }
        if let Some(der) = self.aia_der()? {
            params
                .custom_extensions
                .push(CustomExtension::from_oid_content(AIA, der));
        }
        Ok(())
    }

    /// The DER of the AuthorityInfoAccessSyntax, when an OCSP or caIssuers URL is set.
    fn aia_der(&self) -> Result<Option<Vec<u8>>> {
        let mut access = Vec::new();
        for (method, url) in [(AD_OCSP, &self.ocsp), (AD_CA_ISSUERS, &self.ca_issuers)] {
            let Some(url) = url else { continue };
            let uri = Ia5String::new(url).map_err(|_| not_ascii(url))?;
            access.push(AccessDescription {
                access_method: method,
                access_location: GeneralName::UniformResourceIdentifier(uri),
            });
        }
        if access.is_empty() {
            return Ok(None);
        }
        AuthorityInfoAccessSyntax(access)
            .to_der()
            .map(Some)
            .map_err(|e| Error::failed(format!("cannot encode the AIA extension: {e}")))
    }
}

/// `s` with every byte outside the RFC 3986 unreserved characters
/// (ALPHA DIGIT - . _ ~) written `%XX`.
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `url` with an `http://` scheme in any case written lowercase.
fn lowercase_scheme(url: &str) -> String {
    match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => format!("http://{}", &url[7..]),
        _ => url.to_string(),
    }
}

fn not_ascii(url: &str) -> Error {
    Error::input(format!(
        "URL '{}' has non-ASCII characters",
        crate::error::shown(url)
    ))
    .hint("percent-encode them (an IDN host in its xn-- form)")
}

/// Checks a URL for a certificate: `http://` only (RFC 5280 4.2.1.13 and
/// RFC 5019: relying parties fetch revocation data over plain HTTP, since
/// checking a TLS server's certificate would need revocation data first),
/// with a host, printable ASCII, no spaces and no fragment; the scheme in
/// any case. `{ca}` may stand for the CA name; messages quote `url` as given.
pub fn check_url(flag: &str, url: &str) -> Result<()> {
    let typed = url;
    let filled = lowercase_scheme(&url.replace("{ca}", "ca"));
    let url = filled.as_str();
    let bad = |why: &str| {
        Error::input(format!(
            "{flag} '{}' is not a usable URL: {why}",
            crate::error::shown(typed)
        ))
    };
    if !url.is_ascii() {
        return Err(not_ascii(typed));
    }
    if url.len() > MAX_LEN {
        return Err(bad(&format!("longer than {MAX_LEN} characters")));
    }
    if url
        .chars()
        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
    {
        return Err(bad("it contains a space or a control character"));
    }
    if url.contains('#') {
        return Err(bad("it has a fragment ('#')"));
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(bad("only http:// URLs are allowed")
            .hint("clients fetch CRLs and OCSP over plain HTTP (RFC 5280, RFC 5019): the data is signed, and fetching it over TLS would need revocation data first"));
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host_only = host.rsplit_once('@').map_or(host, |(_, h)| h);
    if host_only.is_empty() || host_only.starts_with(':') {
        return Err(bad("it has no host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_urls_with_a_host_are_accepted() {
        check_url("--crl-url", "http://pki.acme.test/crl/root.crl").unwrap();
        check_url("--ocsp-url", "http://127.0.0.1:8080/ocsp").unwrap();
        for bad in [
            "https://pki.acme.test/a.crl",
            "ldap://x/a",
            "http:///a.crl",
            "http://a b/c",
            "http://pki.acme.test/a.crl#frag",
            "http://pkí.test/a",
            "pki.acme.test/a.crl",
        ] {
            assert!(check_url("--crl-url", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aia_lists_ocsp_then_ca_issuers() {
        let urls = CaUrls {
            crl: None,
            ocsp: Some("http://o/".into()),
            ca_issuers: Some("http://c/ca.crt".into()),
        };
        let der = urls.aia_der().unwrap().unwrap();
        use der::Decode;
        let back = AuthorityInfoAccessSyntax::from_der(&der).unwrap();
        assert_eq!(back.0.len(), 2);
        assert_eq!(back.0[0].access_method, AD_OCSP);
        assert_eq!(back.0[1].access_method, AD_CA_ISSUERS);
        assert_eq!(CaUrls::default().aia_der().unwrap(), None);
    }
}
