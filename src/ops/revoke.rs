//! Revoking a certificate or an intermediate CA (`certsmith revoke`): find
//! it by name or serial, confirm what revoking a CA takes along, mark it
//! revoked in the ledger.

use time::OffsetDateTime;

use crate::error::Result;
use crate::ledger::{CertRecord, Kind};
use crate::pki::Pki;
use crate::{clock, revoke};

/// What to revoke, and why.
#[derive(Clone, Debug)]
pub struct RevokeRequest {
    /// A certificate name or serial.
    pub target: String,
    /// `--ca`: the issuer, when a serial is ambiguous.
    pub ca: Option<String>,
    /// The reason as given (`key-compromise`, …).
    pub reason: String,
}

/// What `revoke` did.
#[derive(Clone, Debug)]
pub struct Revoked {
    /// The record as revoked.
    pub record: CertRecord,
    /// The reason's [`revoke::REASONS`] name.
    pub reason: &'static str,
    pub revoked_at: OffsetDateTime,
    /// For an intermediate CA: how many active certificates it orphans.
    pub orphaned: Option<usize>,
}

/// `certsmith revoke`. Revoking an intermediate CA orphans every active
/// certificate below it: `confirm` is asked, with the CA's record and that
/// count, before anything changes, and its error refuses the revocation.
pub fn revoke(
    pki: &Pki,
    req: &RevokeRequest,
    confirm: &mut dyn FnMut(&CertRecord, usize) -> Result<()>,
) -> Result<Revoked> {
    let reason = revoke::parse_reason(&req.reason)?;
    let mut ledger = pki.open_ledger()?;
    let rec = revoke::find(&ledger, &req.target, req.ca.as_deref())?;
    let now = clock::now()?;
    // A root is refused by `revoke::revoke` itself; no question first.
    let orphaned = if rec.kind != Kind::Intermediate || rec.revoked_at.is_some() {
        None
    } else {
        let n = revoke::orphans(&ledger, &rec.name, now)?;
        confirm(&rec, n)?;
        Some(n)
    };
    let record = revoke::revoke(&mut ledger, &rec, reason, now)?;
    Ok(Revoked {
        record,
        reason,
        revoked_at: now,
        orphaned,
    })
}
