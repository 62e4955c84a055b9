//! Which CRL files a trust store that keeps what it was given (the ALB
//! trust store's revocation lists) needs again: each bundle records, per
//! CA, the sha256 and CRL number of the CRL file it told the operator to
//! upload (ledger settings, scope `bundle:<target>`), so the next bundle
//! prints an upload only for a CRL whose content changed, and names the
//! one it replaces. The only place that spells these keys.

use serde::{Deserialize, Serialize};

use crate::crl::CrlInfo;
use crate::error::Result;
use crate::ledger::Ledger;

/// What a bundle printed an upload for: one CA's CRL file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The CRL number (decimal), if the CRL has one.
    pub crl_number: Option<String>,
    /// sha256 of the CRL file, lowercase hex.
    pub sha256: String,
    /// Revoked certificates it lists.
    pub entries: usize,
}

/// One CA's CRL file in this bundle and whether it must be uploaded.
#[derive(Clone, Debug, Serialize)]
pub struct CrlUpload {
    pub ca: String,
    /// The file name in the bundle directory.
    pub file: String,
    #[serde(flatten)]
    pub crl: Uploaded,
    /// Its content differs from what the last bundle printed (or `--force`).
    pub changed: bool,
    /// What the last bundle printed for this CA, which this upload replaces.
    pub replaces: Option<Uploaded>,
}

fn scope(target: &str) -> String {
    format!("bundle:{target}")
}

fn key(ca: &str) -> String {
    format!("uploaded-crl:{ca}")
}

/// Compares each `(ca, file name, file bytes, CRLs in it)` with what the
/// last bundle of `target` recorded; `force` marks every one changed.
pub fn plan(
    ledger: &Ledger,
    target: &str,
    files: &[(String, String, &[u8], Vec<&CrlInfo>)],
    force: bool,
) -> Result<Vec<CrlUpload>> {
    let mut out = Vec::new();
    for (ca, file, bytes, crls) in files {
        let crl = Uploaded {
            crl_number: crls.first().and_then(|c| c.number.clone()),
            sha256: crate::certinfo::fingerprint(bytes),
            entries: crls.iter().map(|c| c.entries.len()).sum(),
        };
        // A record certsmith cannot read is treated as none: the upload is printed again.
        let last: Option<Uploaded> = ledger
            .setting(&scope(target), &key(ca))?
            .and_then(|v| serde_json::from_str(&v).ok());
        let changed = force || last.as_ref().is_none_or(|l| l.sha256 != crl.sha256);
        out.push(CrlUpload {
            ca: ca.clone(),
            file: file.clone(),
            replaces: if changed { last } else { None },
            crl,
            changed,
        });
    }
    Ok(out)
}

/// Records the changed uploads of `target` as uploaded, in one transaction.
pub fn record(ledger: &mut Ledger, target: &str, uploads: &[CrlUpload]) -> Result<()> {
    ledger.in_transaction(|l| {
        for u in uploads.iter().filter(|u| u.changed) {
            let v = serde_json::to_string(&u.crl).unwrap_or_default();
            l.set_setting(&scope(target), &key(&u.ca), Some(&v))?;
        }
        Ok(())
    })
}
