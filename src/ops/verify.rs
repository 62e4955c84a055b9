//! Verifying a certificate (`certsmith verify`): its chain built from a
//! bundle or from this PKI, checked the way a trust store would, with the
//! CRLs given or the ones this PKI published.

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::certinfo::{CertInfo, read_certs_as_is};
use crate::crl::{self, CrlInfo};
use crate::error::{Error, Result, shown};
use crate::pki::Pki;
use crate::verify::{self, PeerName, Purpose, Request, Verified};
use crate::{bundle, clock};

/// What to verify, against what.
#[derive(Clone, Debug)]
pub struct VerifyRequest {
    /// The certificate (its file may carry intermediates after it).
    pub cert: PathBuf,
    /// `--alb-header`: the certificate and its chain from an ALB
    /// passthrough header's value in this file (`-`: standard input),
    /// read instead of `cert`.
    pub alb_header: Option<PathBuf>,
    /// `--chain`: more intermediates.
    pub chain: Option<PathBuf>,
    /// `--bundle`: the trust anchors (and intermediates); without it, this PKI.
    pub bundle: Option<PathBuf>,
    /// `--crl`; without any, the CRLs this PKI published.
    pub crls: Vec<PathBuf>,
    /// `--ca`: trust only the chain of this CA of the PKI.
    pub ca: Option<String>,
    /// `--target`: also judge the trust material by this target's rules.
    pub target: Option<String>,
    pub purpose: Purpose,
    /// `--at`; default now.
    pub at: Option<OffsetDateTime>,
    /// `--dns`, `--ip`, `--email`: names the certificate must be valid for.
    pub names: Vec<PeerName>,
}

/// What `verify` found. Reading the inputs can fail before (an `Err` of
/// [`verify`] itself); the verdict on the chain is `outcome`.
pub struct VerifyReport {
    pub subject: String,
    pub purpose: Purpose,
    pub at: OffsetDateTime,
    /// The target's warnings about the trust material.
    pub warnings: Vec<String>,
    pub outcome: std::result::Result<Verified, Error>,
}

/// `certsmith verify`: gathers the chain, anchors and CRLs and verifies.
pub fn verify(pki: &Pki, req: &VerifyRequest) -> Result<VerifyReport> {
    let purpose = req.purpose;
    let at = match req.at {
        Some(t) => t,
        None => clock::now()?,
    };
    // One clock, in whole seconds as X.509 times are: the run and every
    // message use the same second.
    let at = at.replace_nanosecond(0).unwrap_or(at);
    // The certificate and its chain are read as they are: one that breaks
    // RFC 5280's profile is not valid (exit 1), not unreadable.
    let mut certs = match &req.alb_header {
        Some(h) => crate::alb_header::read(h)?,
        None => read_certs_as_is(&req.cert)?,
    };
    let cert = certs.remove(0);
    let mut intermediates = certs;
    let mut anchors: Vec<CertInfo> = Vec::new();
    let mut partial_anchors: Vec<CertInfo> = Vec::new();
    let mut crls: Vec<CrlInfo> = Vec::new();
    for f in &req.crls {
        crls.extend(crl::read_file(f)?);
    }
    let allow_unknown_status;
    let mut warnings = Vec::new();
    if let Some(b) = &req.bundle {
        let text = crate::input::read_to_string(b, crate::input::Kind::Certificates)?;
        let what = b.display().to_string();
        // CRLs appended to the bundle count for revocation as for the rules:
        // one set of CRLs for both.
        for l in bundle::crls_of(&text, &what)? {
            if !crls.iter().any(|k| k.der == l.der) {
                crls.push(l);
            }
        }
        // The target's rules judge the file as it is, with the CRLs given.
        if let Some(t) = &req.target {
            let target = bundle::target(t)?;
            let findings = bundle::check_pem(target, &text, &what, &crls, at)?;
            bundle::fail_on_errors(target, &findings)?;
            warnings = findings.iter().map(|f| f.to_string()).collect();
        }
        // The self-signed certificates are the anchors, the others
        // candidate intermediates, anchors only of a partial chain.
        for c in bundle::certs_of(&text, &what)? {
            if c.self_signed {
                anchors.push(c);
            } else {
                partial_anchors.push(c);
            }
        }
        allow_unknown_status = false;
    } else {
        // Trust comes from this PKI: the root above --ca, or every CA.
        let ledger = pki.show_ledger().map_err(|e| {
            e.hint(
                "pass --bundle FILE with the trusted root, or --pki DIR of the PKI that issued it",
            )
        })?;
        let names: Vec<String> = match &req.ca {
            Some(ca) => pki
                .ca_chain(&ledger, ca)?
                .into_iter()
                .map(|(r, _)| r.cert.name)
                .collect(),
            None => ledger.cas()?.into_iter().map(|c| c.cert.name).collect(),
        };
        for n in &names {
            let (_, info) = pki.ca(&ledger, n)?;
            if info.self_signed {
                anchors.push(info);
            } else {
                intermediates.push(info);
            }
        }
        if req.crls.is_empty() {
            // Without --crl, use the CRLs this PKI has published; a CA that
            // never published one has revoked nothing anyone was told about.
            for n in &names {
                let p = pki.crl_path(n);
                if p.exists() {
                    crls.extend(crl::read_file(&p)?);
                }
            }
            allow_unknown_status = true;
        } else {
            allow_unknown_status = false;
        }
    }
    if let Some(ch) = &req.chain {
        intermediates.extend(read_certs_as_is(ch)?);
    }
    if let (Some(t), None) = (&req.target, &req.bundle) {
        // Without --bundle, judge the CAs the chain was built from.
        let target = bundle::target(t)?;
        let text: String = intermediates
            .iter()
            .chain(anchors.iter())
            .map(|c| c.pem())
            .collect();
        let findings = bundle::check_pem(target, &text, "the chain", &crls, at)?;
        bundle::fail_on_errors(target, &findings)?;
        warnings = findings.iter().map(|f| f.to_string()).collect();
    }
    let chain = Request {
        cert,
        intermediates,
        anchors,
        partial_anchors,
        crls,
        allow_unknown_status,
        purpose,
        at,
        names: req.names.clone(),
    };
    let mut outcome = verify::verify(&chain);
    if let Ok(v) = &outcome
        && v.partial_chain
    {
        let anchor = shown(v.chain.last().map_or("", String::as_str));
        match req.target.as_deref().map(bundle::target).transpose()? {
            Some(t) if t.needs_root() => {
                outcome = Err(Error::failed(format!(
                    "{} rule 'root-anchor' broken: the chain ends at '{anchor}', a trusted certificate that is not a root (partial chain); target '{}' builds chains up to a self-signed root only",
                    t.name(),
                    t.name()
                ))
                .hint("add the root CA to the bundle"));
            }
            _ => warnings.push(format!(
                "partial chain: anchored at a non-root certificate; OpenSSL-based servers need the root (chain ends at '{anchor}')"
            )),
        }
    }
    Ok(VerifyReport {
        outcome,
        subject: chain.cert.subject,
        purpose,
        at,
        warnings,
    })
}
