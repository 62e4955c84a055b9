//! `certsmith verify <cert>`: validate a chain the way a trust store would.
//! Exit 0 when valid, 1 with the most specific reason when not.

use certsmith::certinfo::{CertInfo, read_certs};
use certsmith::crl::{self, CrlInfo};
use certsmith::error::Result;
use certsmith::verify::{self, Purpose, Request};
use certsmith::{bundle, clock};

use super::Ctx;
use crate::cli::VerifyArgs;

pub fn run(ctx: &Ctx, a: VerifyArgs) -> Result<()> {
    let purpose = Purpose::parse(&a.purpose)?;
    let at = match &a.at {
        Some(t) => clock::parse_rfc3339("--at", t)?,
        None => clock::now()?,
    };
    let mut certs = read_certs(&a.cert)?;
    let cert = certs.remove(0);
    let mut intermediates = certs;
    let mut anchors: Vec<CertInfo> = Vec::new();
    let mut crls: Vec<CrlInfo> = Vec::new();
    for f in &a.crl {
        crls.extend(crl::read_file(f)?);
    }
    let allow_unknown_status;
    let mut warnings = Vec::new();
    if let Some(b) = &a.bundle {
        let text = certsmith::input::read_to_string(b, certsmith::input::Kind::Certificates)?;
        let what = b.display().to_string();
        // The target's rules judge the file as it is, before anything else reads it.
        if let Some(t) = &a.target {
            let target = bundle::target(t)?;
            let findings = bundle::check_pem(target, &text, &what)?;
            bundle::fail_on_errors(target, &findings)?;
            warnings = findings.iter().map(|f| f.to_string()).collect();
        }
        let (anc, rest) = verify::split_anchors(bundle::certs_of(&text, &what)?);
        anchors = anc;
        intermediates.extend(rest);
        allow_unknown_status = false;
    } else {
        // Trust comes from this PKI: the root above --ca, or every CA.
        let ledger = ctx.pki.read_ledger().map_err(|e| {
            e.hint(
                "pass --bundle FILE with the trusted root, or --pki DIR of the PKI that issued it",
            )
        })?;
        let names: Vec<String> = match &a.ca {
            Some(ca) => ctx
                .pki
                .ca_chain(&ledger, ca)?
                .into_iter()
                .map(|(r, _)| r.cert.name)
                .collect(),
            None => ledger.cas()?.into_iter().map(|c| c.cert.name).collect(),
        };
        for n in &names {
            let (_, info) = ctx.pki.ca(&ledger, n)?;
            if info.self_signed {
                anchors.push(info);
            } else {
                intermediates.push(info);
            }
        }
        if a.crl.is_empty() {
            // Without --crl, use the CRLs this PKI has published; a CA that
            // never published one has revoked nothing anyone was told about.
            for n in &names {
                let p = ctx.pki.crl_path(n);
                if p.exists() {
                    crls.extend(crl::read_file(&p)?);
                }
            }
            allow_unknown_status = true;
        } else {
            allow_unknown_status = false;
        }
    }
    if let Some(ch) = &a.chain {
        intermediates.extend(read_certs(ch)?);
    }
    if let (Some(t), None) = (&a.target, &a.bundle) {
        // Without --bundle, judge the CAs the chain was built from.
        let target = bundle::target(t)?;
        let text: String = intermediates
            .iter()
            .chain(anchors.iter())
            .map(|c| c.pem())
            .collect();
        let findings = bundle::check_pem(target, &text, "the chain")?;
        bundle::fail_on_errors(target, &findings)?;
        warnings = findings.iter().map(|f| f.to_string()).collect();
    }
    let req = Request {
        cert,
        intermediates,
        anchors,
        crls,
        allow_unknown_status,
        purpose,
        at,
        dns: a.dns.clone(),
    };
    match verify::verify(&req) {
        Ok(v) => {
            let json = serde_json::json!({
                "valid": true,
                "subject": req.cert.subject,
                "purpose": purpose.as_str(),
                "at": clock::rfc3339(at),
                "chain": v.chain,
                "revocation_checked": v.revocation_checked,
                "warnings": warnings,
            });
            ctx.report(
                || {
                    let mut s = super::Lines::new();
                    s.line(format!(
                        "OK: '{}' is valid for {} use at {}{}.",
                        req.cert.subject,
                        purpose.as_str(),
                        clock::rfc3339(at),
                        if v.revocation_checked {
                            ", not revoked"
                        } else {
                            " (no CRL checked)"
                        }
                    ));
                    s.line(format!("  chain: {}", v.chain.join(" <- ")));
                    for w in &warnings {
                        s.line(format!("warning: {w}"));
                    }
                    s
                },
                &json,
            );
            Ok(())
        }
        Err(e) => {
            if ctx.json {
                let json = serde_json::json!({
                    "valid": false,
                    "subject": req.cert.subject,
                    "purpose": purpose.as_str(),
                    "at": clock::rfc3339(at),
                    "reason": e.to_string(),
                });
                super::write_stdout(&super::json_text(&json));
            }
            Err(e)
        }
    }
}
