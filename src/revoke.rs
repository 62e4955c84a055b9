//! Revocation in the ledger: finding a certificate by name or serial and
//! marking it revoked with a reason, once. The CRL (`crl.rs`) publishes it.

use rcgen::RevocationReason;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::ledger::{CertRecord, Kind, Ledger, RevokeOutcome};
use crate::serial;

/// Every CRL reason code of RFC 5280 (5.3.1) with its certsmith name, in
/// code order. The first seven are the `--reason` values; the last three
/// are only ever read from CRLs.
const ALL_REASONS: [(&str, RevocationReason); 10] = [
    ("unspecified", RevocationReason::Unspecified),
    ("key-compromise", RevocationReason::KeyCompromise),
    ("ca-compromise", RevocationReason::CaCompromise),
    ("affiliation-changed", RevocationReason::AffiliationChanged),
    ("superseded", RevocationReason::Superseded),
    (
        "cessation-of-operation",
        RevocationReason::CessationOfOperation,
    ),
    ("certificate-hold", RevocationReason::CertificateHold),
    ("remove-from-crl", RevocationReason::RemoveFromCrl),
    ("privilege-withdrawn", RevocationReason::PrivilegeWithdrawn),
    ("aa-compromise", RevocationReason::AaCompromise),
];

/// The `--reason` values, in RFC 5280 order, with the CRL reason code each becomes.
pub const REASONS: &[(&str, RevocationReason)] = ALL_REASONS.split_at(7).0;

/// The certsmith name of a CRL reason code (an unknown code reads as unspecified).
pub fn reason_name(code: u8) -> &'static str {
    ALL_REASONS
        .iter()
        .find(|(_, r)| *r as u8 == code)
        .map_or("unspecified", |(n, _)| *n)
}

/// Parses a `--reason` value.
pub fn parse_reason(s: &str) -> Result<&'static str> {
    let lower = s.to_ascii_lowercase().replace('_', "-");
    REASONS
        .iter()
        .find(|(n, _)| *n == lower)
        .map(|(n, _)| *n)
        .ok_or_else(|| {
            Error::input(format!("unknown revocation reason '{s}'")).hint(format!(
                "use one of: {}",
                REASONS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The CRL reason code of a stored reason (unknown text counts as unspecified).
pub fn reason_code(stored: Option<&str>) -> RevocationReason {
    REASONS
        .iter()
        .find(|(n, _)| Some(*n) == stored)
        .map(|(_, r)| *r)
        .unwrap_or(RevocationReason::Unspecified)
}

/// Finds the certificate `target` names: a current certificate or CA name
/// first, else a serial in hex (colons and `0x` allowed). `ca` narrows to
/// one issuer when the serial is ambiguous.
pub fn find(ledger: &Ledger, target: &str, ca: Option<&str>) -> Result<CertRecord> {
    if let Some(ca) = ca
        && ledger.ca(ca)?.is_none()
    {
        return Err(Error::input(format!("no CA named '{ca}' in this PKI")));
    }
    if let Some(rec) = ledger.cert_by_name(target)?
        && ca.is_none_or(|c| rec.issuer.as_deref() == Some(c))
    {
        return Ok(rec);
    }
    let not_found = || {
        Error::NoSuchCert {
            name: target.to_string(),
            issuer: ca.map(str::to_string),
        }
        .hint("give a certificate name or its serial in hex, as `certsmith list` shows them")
    };
    let Some(bytes) = serial::from_hex(target) else {
        return Err(not_found());
    };
    let hex = serial::to_hex(serial::normalize(&bytes));
    let mut found: Vec<CertRecord> = ledger
        .certs_by_serial(&hex)?
        .into_iter()
        .filter(|r| ca.is_none_or(|c| r.issuer.as_deref() == Some(c)))
        .collect();
    match found.len() {
        0 => Err(Error::input(format!(
            "no certificate named '{target}' or with serial {hex}{} in the ledger",
            ca.map(|c| format!(" issued by '{c}'")).unwrap_or_default()
        ))
        .hint("run `certsmith list --all` to see names and serials")),
        1 => Ok(found.remove(0)),
        _ => {
            let issuers: Vec<String> = found
                .iter()
                .map(|r| r.issuer.clone().unwrap_or_else(|| "-".into()))
                .collect();
            Err(Error::input(format!(
                "serial {hex} was issued by more than one CA ({})",
                issuers.join(", ")
            ))
            .hint("pass --ca NAME to say which"))
        }
    }
}

/// How many certificates still valid at `now` lose their chain when CA
/// `ca` is revoked: those it issued, and everything below its sub-CAs.
pub fn orphans(ledger: &Ledger, ca: &str, now: OffsetDateTime) -> Result<usize> {
    let mut count = 0;
    let mut below = vec![ca.to_string()];
    let mut seen = std::collections::HashSet::new();
    while let Some(issuer) = below.pop() {
        if !seen.insert(issuer.clone()) {
            continue;
        }
        let filter = crate::ledger::ListFilter {
            issuer: Some(issuer.clone()),
            include_cas: true,
            ..Default::default()
        };
        for c in ledger.list(&filter)? {
            if c.name == issuer || c.status(now.unix_timestamp()) != "valid" {
                continue;
            }
            count += 1;
            if c.kind != Kind::Leaf {
                below.push(c.name);
            }
        }
    }
    Ok(count)
}

/// "1 active certificate", "3 active certificates".
pub fn active_certificates(n: usize) -> String {
    format!("{n} active certificate{}", if n == 1 { "" } else { "s" })
}

/// Marks `rec` revoked at `now` with `reason` (a [`REASONS`] name). Fails
/// when it is already revoked (naming the date), still pending, or a root,
/// which no CRL can revoke.
pub fn revoke(
    ledger: &mut Ledger,
    rec: &CertRecord,
    reason: &str,
    now: OffsetDateTime,
) -> Result<CertRecord> {
    if rec.issuer.is_none() || rec.kind == Kind::Root {
        return Err(Error::input(format!(
            "'{}' is a root CA: no CRL can revoke it because nothing above it signs one",
            rec.name
        ))
        .hint("remove its certificate from every trust store (re-run `certsmith bundle` without it) instead"));
    }
    if rec.state == "pending" {
        return Err(Error::input(format!(
            "'{}' is still being issued by another certsmith process",
            rec.name
        ))
        .hint("wait for it to finish, or run `certsmith doctor --repair` if it was interrupted"));
    }
    let at = now.unix_timestamp();
    match ledger.revoke(rec.id, at, reason)? {
        RevokeOutcome::Vanished => {
            return Err(Error::failed(format!(
                "'{}' vanished from the ledger",
                rec.name
            )));
        }
        RevokeOutcome::Already { at, reason: why } => {
            return Err(Error::input(format!(
                "'{}' (serial {}) was already revoked on {} ({})",
                rec.name,
                rec.serial,
                crate::clock::rfc3339(
                    OffsetDateTime::from_unix_timestamp(at).unwrap_or(OffsetDateTime::UNIX_EPOCH)
                ),
                why.as_deref().unwrap_or("unspecified")
            ))
            .hint("a revocation cannot be changed; run `certsmith crl` to publish it"));
        }
        RevokeOutcome::Revoked => {}
    }
    let mut out = rec.clone();
    out.revoked_at = Some(at);
    out.revocation_reason = Some(reason.to_string());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_to_its_crl_code() {
        for &(name, code) in REASONS {
            assert_eq!(parse_reason(name).unwrap(), name);
            assert_eq!(reason_code(Some(name)), code);
            assert_eq!(reason_name(code as u8), name);
        }
        assert_eq!(parse_reason("Key_Compromise").unwrap(), "key-compromise");
        assert_eq!(reason_name(9), "privilege-withdrawn");
        assert_eq!(reason_name(7), "unspecified");
        assert!(
            parse_reason("privilege-withdrawn").is_err(),
            "read from CRLs only"
        );
        let e = parse_reason("stolen").unwrap_err();
        assert!(e.to_string().contains("'stolen'"), "{e}");
    }
}
