//! `certsmith ca retire <ca>`: a CA issues nothing more, while the
//! certificates it issued keep working: bundles carry it until the last of
//! them expires, then leave it out with a note.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::pki::Pki;

/// A retired CA and how long bundles still carry it.
#[derive(Clone, Debug, Serialize)]
pub struct RetiredReport {
    pub ca: String,
    /// When it was retired (RFC 3339; the first `ca retire` of it).
    pub retired_at: String,
    /// Whether this run retired it (`false`: it already was).
    pub changed: bool,
    /// notAfter of the last certificate it issued that is not revoked
    /// (RFC 3339): bundles carry it until then. `None`: it issued none.
    pub last_expiry: Option<String>,
    pub default_ca: Option<String>,
    /// The CAs it signed that are in use (not revoked, superseded or
    /// expired): they keep issuing, but a retired CA re-issues none of
    /// their certificates (`ca renew`).
    pub live_cas: Vec<String>,
    /// How many leaf certificates it issued are in use: `renew` moves them.
    pub live_leaves: usize,
}

/// Retires CA `ca`. Refuses an unknown CA and the default issuing CA (make
/// another the default first), changing nothing then.
pub fn retire(pki: &Pki, ca: &str) -> Result<RetiredReport> {
    let mut ledger = pki.open_ledger()?;
    pki.ca(&ledger, ca)?;
    let default_ca = crate::issuing::default_ca(&ledger)?;
    if default_ca.as_deref() == Some(ca) {
        return Err(Error::input(format!(
            "CA '{}' is the default issuing CA; retiring it would leave `issue` without one",
            crate::error::shown(ca)
        ))
        .hint("make another CA the default first: `certsmith ca default NAME`"));
    }
    let now = crate::clock::now()?;
    let (at, changed) = match crate::issuing::retired_at(&ledger, ca)? {
        Some(at) => (at, false),
        None => {
            crate::issuing::set_retired(&mut ledger, ca, now)?;
            (now, true)
        }
    };
    let last = crate::issuing::last_expiry(&ledger, ca)?
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(crate::clock::rfc3339);
    let in_use = crate::issuing::live_signed(&ledger, ca, now)?;
    let live_leaves = in_use
        .iter()
        .filter(|c| c.kind == crate::ledger::Kind::Leaf)
        .count();
    let mut live_cas: Vec<String> = in_use
        .into_iter()
        .filter(|c| c.kind != crate::ledger::Kind::Leaf)
        .map(|c| c.name)
        .collect();
    live_cas.sort();
    Ok(RetiredReport {
        live_cas,
        live_leaves,
        ca: ca.to_string(),
        retired_at: crate::clock::rfc3339(at),
        changed,
        last_expiry: last,
        default_ca,
    })
}
