//! `certsmith ca renew <ca>` and `certsmith ca cross-sign <ca> --by <old>`.

use certsmith::error::Result;
use certsmith::ops::ca_rotate::{self, CaCertMade, CaRenewRequest, CrossSignRequest};

use super::Ctx;
use crate::cli::{CaRenewArgs, CrossSignArgs};

pub fn renew(ctx: &Ctx, a: CaRenewArgs) -> Result<()> {
    let req = CaRenewRequest {
        ca: a.ca.clone(),
        validity: super::validity(a.validity.as_deref())?,
        clamp: a.clamp,
        pass: super::pass_options(&a.pass),
    };
    let r = ca_rotate::renew_ca(&ctx.pki, &req)?;
    let p = super::pki_flag(ctx);
    report(ctx, &r, |s| {
        s.line(format!(
            "Re-issued the certificate of CA '{}' for the same key (serial {}, valid until {}); the old one (serial {}) was kept as ca.pem.old-{}.",
            r.ca,
            r.serial,
            r.not_after,
            r.old_serial.as_deref().unwrap_or_default(),
            r.old_serial.as_deref().unwrap_or_default()
        ));
        s.line(format!(
            "What it signed keeps verifying. Next: certsmith{p} bundle --target TARGET (trust stores get the new certificate), and renew certificates whose chain.pem still holds the old one before {}",
            // Both RFC 3339 UTC: the earlier one is the smaller string.
            r.old_not_after
                .as_deref()
                .map_or(r.not_after.as_str(), |old| old.min(r.not_after.as_str()))
        ));
    });
    Ok(())
}

pub fn cross_sign(ctx: &Ctx, a: CrossSignArgs) -> Result<()> {
    let req = CrossSignRequest {
        ca: a.ca.clone(),
        by: a.by.clone(),
        validity: super::validity(a.validity.as_deref())?,
        clamp: a.clamp,
        pass: super::pass_options(&a.pass),
    };
    let r = ca_rotate::cross_sign(&ctx.pki, &req)?;
    report(ctx, &r, |s| {
        s.line(format!(
            "Cross-signed root '{}' by '{}' (serial {}, valid until {}), recorded as '{}'.",
            r.ca, r.issuer, r.serial, r.not_after, r.name
        ));
        s.line(format!(
            "Peers that trust only '{}' accept chains of '{}' when the cross-certificate is sent after the intermediate (append it to chain.pem / the server's chain).",
            r.issuer, r.ca
        ));
    });
    Ok(())
}

fn report(ctx: &Ctx, r: &CaCertMade, lines: impl FnOnce(&mut super::Lines)) {
    ctx.report(
        || {
            let mut s = super::Lines::new();
            lines(&mut s);
            s.append(super::file_lines(&r.files));
            s
        },
        &serde_json::to_value(r).unwrap_or_default(),
    );
}
