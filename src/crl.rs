//! Certificate revocation lists: one per CA, signed with the CA's key, with
//! an increasing CRL number and an AKI equal to the CA's own SKI (or
//! OpenSSL cannot match the CRL to its issuer), written to `cas/<ca>/crl.pem`.

use std::path::PathBuf;

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use rusqlite::TransactionBehavior;
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::keys;
use crate::ledger::{Ledger, db_err};
use crate::pki::Pki;
use crate::store::{Existing, PUBLIC_MODE, Staged};
use crate::{clock, revoke, serial};

/// What `write` produced for one CA.
#[derive(Clone, Debug, Serialize)]
pub struct WrittenCrl {
    pub ca: String,
    pub crl_number: i64,
    pub revoked: usize,
    pub this_update: String,
    pub next_update: String,
    pub files: Vec<PathBuf>,
}

/// A signed CRL before it is written.
pub struct BuiltCrl {
    pub der: Vec<u8>,
    pub crl_number: i64,
    pub revoked: usize,
}

impl BuiltCrl {
    pub fn pem(&self) -> String {
        keys::pem_encode("X509 CRL", &self.der)
    }
}

/// Takes the next CRL number of `ca` and the revoked entries it covers in
/// one transaction, so two concurrent `crl` runs never share a number.
fn next_number_and_entries(ledger: &mut Ledger, ca: &str) -> Result<(i64, Vec<RevokedCertParams>)> {
    let tx = ledger
        .conn()
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    let number: i64 = tx
        .query_row(
            "UPDATE cas SET crl_number = crl_number + 1 WHERE name = ?1 RETURNING crl_number",
            [ca],
            |r| r.get(0),
        )
        .map_err(db_err)?;
    // One query over the partial index on revoked certificates keeps a CRL
    // of 100k entries fast.
    let mut entries = Vec::new();
    {
        let mut st = tx
            .prepare(
                "SELECT serial, revoked_at, revocation_reason FROM certificates
                 WHERE issuer = ?1 AND revoked_at IS NOT NULL ORDER BY revoked_at, id",
            )
            .map_err(db_err)?;
        let rows = st
            .query_map([ca], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(db_err)?;
        for row in rows {
            let (hex, at, why) = row.map_err(db_err)?;
            let bytes = serial::from_hex(&hex).ok_or_else(|| {
                Error::failed(format!("the ledger holds a malformed serial '{hex}'"))
                    .hint("run `certsmith doctor`")
            })?;
            entries.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: OffsetDateTime::from_unix_timestamp(at).map_err(|_| {
                    Error::failed(format!("bad revocation time {at} in the ledger"))
                })?,
                reason_code: Some(revoke::reason_code(why.as_deref())),
                invalidity_date: None,
            });
        }
    }
    tx.commit().map_err(db_err)?;
    Ok((number, entries))
}

/// Signs the next CRL of `signer`'s CA: thisUpdate `now`, nextUpdate `now + next_update`.
pub fn build(
    ledger: &mut Ledger,
    signer: &Signer,
    now: OffsetDateTime,
    next_update: Duration,
) -> Result<BuiltCrl> {
    // Checked before the CRL number is taken: a refused CRL must not use one up.
    let next = next_update_at(now, next_update)?;
    let (number, revoked_certs) = next_number_and_entries(ledger, &signer.name)?;
    let revoked = revoked_certs.len();
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: next,
        crl_number: SerialNumber::from_slice(serial::normalize(&number.to_be_bytes())),
        issuing_distribution_point: None,
        revoked_certs,
        // The AKI the CA's certificates carry, or OpenSSL cannot match the CRL to them.
        key_identifier_method: KeyIdMethod::PreSpecified(signer.key_id().to_vec()),
    };
    let crl = params
        .signed_by(signer.issuer())
        .map_err(|e| Error::failed(format!("cannot sign the CRL of CA '{}': {e}", signer.name)))?;
    Ok(BuiltCrl {
        der: crl.der().to_vec(),
        crl_number: number,
        revoked,
    })
}

/// Builds and writes `cas/<ca>/crl.pem` (and `crl.der` with `der`),
/// replacing the previous CRL atomically.
pub fn write(
    pki: &Pki,
    ledger: &mut Ledger,
    signer: &Signer,
    next_update: Duration,
    der: bool,
) -> Result<WrittenCrl> {
    let now = clock::now()?;
    let next = next_update_at(now, next_update)?;
    let built = build(ledger, signer, now, next_update)?;
    let mut staged = Staged::new(&pki.root);
    staged.add(
        &pki.crl_path(&signer.name),
        built.pem().as_bytes(),
        PUBLIC_MODE,
        Existing::Replace,
    )?;
    if der {
        staged.add(
            &pki.ca_dir(&signer.name).join("crl.der"),
            &built.der,
            PUBLIC_MODE,
            Existing::Replace,
        )?;
    }
    let files = staged.commit()?;
    Ok(WrittenCrl {
        ca: signer.name.clone(),
        crl_number: built.crl_number,
        revoked: built.revoked,
        this_update: clock::rfc3339(now),
        next_update: clock::rfc3339(next),
        files,
    })
}

/// nextUpdate of a CRL signed at `now`: a positive length that keeps it within year 9999.
pub fn next_update_at(now: OffsetDateTime, next_update: Duration) -> Result<OffsetDateTime> {
    if next_update <= Duration::ZERO {
        return Err(Error::input("--next-update must be a positive length"));
    }
    let what = format!(
        "--next-update '{}'",
        crate::validity::length_text(next_update)
    );
    clock::shift(now, next_update, &what)
}

/// Parses a `--next-update` length such as `7d` or `12h`.
pub fn parse_next_update(s: &str) -> Result<Duration> {
    match crate::validity::Validity::parse(s)? {
        crate::validity::Validity::For(d) => Ok(d),
        crate::validity::Validity::Until(_) => Err(Error::input(format!(
            "--next-update '{s}' must be a length such as 7d or 12h"
        ))),
    }
}

/// A CRL read from a file: its DER and the facts verify and bundle need.
#[derive(Clone, Debug)]
pub struct CrlInfo {
    pub der: Vec<u8>,
    pub issuer: String,
    pub issuer_raw: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    /// (normalized serial, revocation time, reason name) of each entry.
    pub entries: Vec<(Vec<u8>, OffsetDateTime, String)>,
}

impl CrlInfo {
    /// Parses one DER CRL; `what` names its source in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<CrlInfo> {
        use x509_parser::prelude::FromDer;
        use x509_parser::revocation_list::CertificateRevocationList;
        let (_, crl) = CertificateRevocationList::from_der(der)
            .map_err(|e| Error::input(format!("'{what}' is not a valid X.509 CRL: {e}")))?;
        let entries = crl
            .iter_revoked_certificates()
            .map(|r| {
                let reason = r
                    .reason_code()
                    .map(|(_, c)| reason_name(c.0))
                    .unwrap_or("unspecified");
                (
                    serial::normalize(r.raw_serial()).to_vec(),
                    r.revocation_date.to_datetime(),
                    reason.to_string(),
                )
            })
            .collect();
        Ok(CrlInfo {
            der: der.to_vec(),
            issuer: crl.issuer().to_string(),
            issuer_raw: crl.issuer().as_raw().to_vec(),
            this_update: crl.last_update().to_datetime(),
            next_update: crl.next_update().map(|t| t.to_datetime()),
            entries,
        })
    }

    /// The entry for `serial` (normalized), if this CRL lists it.
    pub fn find(&self, serial: &[u8]) -> Option<&(Vec<u8>, OffsetDateTime, String)> {
        self.entries.iter().find(|e| e.0 == serial)
    }
}

/// The certsmith name of a CRL reason code.
pub fn reason_name(code: u8) -> &'static str {
    match code {
        1 => "key-compromise",
        2 => "ca-compromise",
        3 => "affiliation-changed",
        4 => "superseded",
        5 => "cessation-of-operation",
        6 => "certificate-hold",
        8 => "remove-from-crl",
        9 => "privilege-withdrawn",
        10 => "aa-compromise",
        _ => "unspecified",
    }
}

/// Reads the CRLs in a file: PEM (`X509 CRL` blocks, several allowed) or one DER CRL.
pub fn read_file(path: &std::path::Path) -> Result<Vec<CrlInfo>> {
    let bytes = crate::input::read(path, crate::input::Kind::Crl)?;
    let what = path.display().to_string();
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            let blocks = ::pem::parse_many(text)
                .map_err(|e| Error::input(format!("'{what}' is not valid PEM: {e}")))?;
            let crls: Vec<CrlInfo> = blocks
                .iter()
                .filter(|b| b.tag() == "X509 CRL")
                .map(|b| CrlInfo::from_der(b.contents(), &what))
                .collect::<Result<_>>()?;
            if crls.is_empty() {
                return Err(Error::input(format!(
                    "'{what}' contains no PEM CRL (X509 CRL block)"
                )));
            }
            Ok(crls)
        }
        _ => Ok(vec![CrlInfo::from_der(&bytes, &what)?]),
    }
}
