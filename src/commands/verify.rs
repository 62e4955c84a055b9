//! `certsmith verify <cert>`: validate a chain the way a trust store would.
//! Exit 0 when valid, 1 with the most specific reason when not.

use certsmith::clock;
use certsmith::error::Result;
use certsmith::ops::verify::VerifyRequest;
use certsmith::verify::{PeerName, Purpose};

use super::Ctx;
use crate::cli::VerifyArgs;

pub fn run(ctx: &Ctx, a: VerifyArgs) -> Result<()> {
    let req = VerifyRequest {
        purpose: Purpose::parse(&a.purpose)?,
        at: a
            .at
            .as_deref()
            .map(|t| clock::parse_rfc3339("--at", t))
            .transpose()?,
        cert: a.cert.clone().unwrap_or_default(),
        alb_header: a.alb_header.clone(),
        chain: a.chain.clone(),
        bundle: a.bundle.clone(),
        crls: a.crl.clone(),
        ca: a.ca.clone(),
        target: a.target.clone(),
        names: [
            a.dns.as_deref().map(PeerName::dns),
            a.ip.as_deref().map(PeerName::ip),
            a.email.as_deref().map(PeerName::email),
        ]
        .into_iter()
        .flatten()
        .collect::<Result<_>>()?,
    };
    let r = certsmith::ops::verify::verify(&ctx.pki, &req)?;
    let (purpose, at, warnings) = (r.purpose, r.at, &r.warnings);
    match r.outcome {
        Ok(v) => {
            let json = serde_json::json!({
                "valid": true,
                "subject": r.subject,
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
                        r.subject,
                        purpose.as_str(),
                        clock::rfc3339(at),
                        if v.revocation_checked {
                            ", not revoked"
                        } else {
                            " (no CRL checked)"
                        }
                    ));
                    s.line(format!("  chain: {}", v.chain.join(" <- ")));
                    for w in warnings {
                        s.line(format!("warning: {w}"));
                    }
                    s
                },
                &json,
            );
            Ok(())
        }
        Err(e) => {
            // The error itself is added by `report_error` (`error.message`).
            let json = serde_json::json!({
                "valid": false,
                "subject": r.subject,
                "purpose": purpose.as_str(),
                "at": clock::rfc3339(at),
            });
            ctx.report(super::Lines::new, &json);
            Err(e)
        }
    }
}
