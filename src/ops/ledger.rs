//! `certsmith ledger info` and `ledger copy`: what a ledger holds, and
//! moving every row of it to another backend (a laptop's SQLite ledger
//! onto the team's PostgreSQL, or a snapshot back to SQLite).

use serde::Serialize;

use crate::error::Result;
use crate::ledger::{Access, KindCount, LedgerUrl};
use crate::pki::Pki;

/// What `ledger info` reports.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct LedgerInfo {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The ledger URL without any password.
    pub url: String,
    /// The ledger's schema version (not the JSON document's `schema_version`).
    #[serde(rename = "ledger_schema_version")]
    pub schema_version: i64,
    pub cas: i64,
    pub certificates: Vec<KindCount>,
}

/// The backend, schema version and counts of the PKI's ledger. Reads
/// only: no lock, no byte changed.
pub fn info(pki: &Pki) -> Result<LedgerInfo> {
    let url = pki.ledger_url();
    let mut ledger = pki.ledger(Access::Read)?;
    let inv = ledger.inventory()?;
    Ok(LedgerInfo {
        backend: inv.backend.as_str(),
        url: url.redacted(),
        schema_version: inv.schema_version,
        cas: inv.cas,
        certificates: inv.certificates,
    })
}

/// `ledger copy --to URL`.
#[derive(Clone, Debug)]
pub struct CopyRequest {
    /// The target ledger URL, as given (it may hold a password: never shown).
    pub to: String,
}

/// What `ledger copy` wrote and checked.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct CopyReport {
    /// Source and target URLs, without any password.
    pub from: String,
    pub to: String,
    /// The ledger's schema version (not the JSON document's `schema_version`).
    #[serde(rename = "ledger_schema_version")]
    pub schema_version: i64,
    /// Rows per table, counted in the target.
    pub rows: std::collections::BTreeMap<String, u64>,
    /// Certificates whose DER matched their recorded SHA-256 fingerprint in the target.
    pub fingerprints_checked: u64,
}

/// Copies every row of the PKI's ledger into a new ledger at `req.to` (a
/// SQLite path that does not exist yet, or an empty PostgreSQL database),
/// in one target transaction, checked before it commits.
pub fn copy(pki: &Pki, req: &CopyRequest) -> Result<CopyReport> {
    let to = LedgerUrl::parse(&req.to)?;
    let from = pki.ledger_url();
    let ledger = pki.ledger(Access::Read)?;
    let copied = ledger.copy_to(&to)?;
    Ok(CopyReport {
        from: from.redacted(),
        to: to.redacted(),
        schema_version: copied.schema_version,
        rows: copied.rows.into_iter().collect(),
        fingerprints_checked: copied.fingerprints_checked,
    })
}
