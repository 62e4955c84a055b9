//! What the ledger records: certificates (CAs and leaves) and CAs, and how
//! a row of the shared SQL reads as one.

use super::db::Row;
use crate::error::{Error, Result};

/// Whether a record is a root CA, an intermediate CA or a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Root,
    Intermediate,
    Leaf,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Root => "root",
            Kind::Intermediate => "intermediate",
            Kind::Leaf => "leaf",
        }
    }
    pub(super) fn parse(s: &str) -> Kind {
        match s {
            "root" => Kind::Root,
            "intermediate" => Kind::Intermediate,
            _ => Kind::Leaf,
        }
    }
}

/// One certificate (CA or leaf) in the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRecord {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    /// Name of the issuing CA; `None` for a self-signed root or an
    /// imported CA whose issuer is outside this PKI.
    pub issuer: Option<String>,
    /// Serial, lowercase hex without leading zero octets.
    pub serial: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub profile: String,
    pub key_type: String,
    pub not_before: i64,
    pub not_after: i64,
    pub fingerprint: String,
    /// `pending` (files not yet durable), `active`, or `superseded`.
    pub state: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<String>,
    /// Directory of its files, relative to the PKI directory when inside it.
    pub dir: String,
    pub has_key: bool,
    pub created_at: i64,
    /// Who recorded it (host and OS user); `None` for a record made
    /// before the ledger kept it (schema version 3 and older).
    pub issued_by: Option<Actor>,
    /// Who revoked it, when it is revoked and the ledger knows.
    pub revoked_by: Option<Actor>,
    /// The certificate's DER as it is recorded; queries that return
    /// many records leave it out (see [`super::Ledger::cert_der`]).
    pub der: Option<Vec<u8>>,
}

/// A host and an OS user: who recorded or revoked a certificate. Never a
/// secret: the host's name and the login name only.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Actor {
    pub host: String,
    pub user: String,
}

impl Actor {
    /// This process: the kernel's host name and the OS user's login name.
    pub fn current() -> Actor {
        Actor {
            host: host_name(),
            user: user_name(),
        }
    }

    fn from_columns(host: Option<String>, user: Option<String>) -> Option<Actor> {
        match (host, user) {
            (None, None) => None,
            (host, user) => Some(Actor {
                host: host.unwrap_or_default(),
                user: user.unwrap_or_default(),
            }),
        }
    }
}

/// The kernel's host name (`uname -n`). Test builds (the `test-hooks`
/// feature) take `$CERTSMITH_TEST_HOST` instead, so one machine can play
/// two hosts of a team.
pub fn host_name() -> String {
    #[cfg(feature = "test-hooks")]
    if let Ok(h) = std::env::var("CERTSMITH_TEST_HOST")
        && !h.is_empty()
    {
        return h;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The OS user's login name, or `uid N` when the environment names none.
fn user_name() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(|u| format!("uid {u}")))
        })
        .unwrap_or_else(|| "unknown".into())
}

impl CertRecord {
    /// `valid`, `revoked`, `expired`, `superseded` or `pending` at unix time `now`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.state == "superseded" {
            "superseded"
        } else if self.state == "pending" {
            "pending"
        } else if self.not_after < now {
            "expired"
        } else {
            "valid"
        }
    }
}

/// A CA: its certificate record plus CA-only facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaRecord {
    pub cert: CertRecord,
    pub encrypted: bool,
    pub pathlen: Option<i64>,
    pub crl_number: i64,
    /// Where its private key lives (a file, or a token key).
    pub key_ref: crate::keystore::KeyRef,
    /// `certsmith key offline`: its key is away (a root in a safe).
    pub offline: bool,
}

/// Filters for [`Ledger::list`].
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub issuer: Option<String>,
    /// Only certificates (not revoked) whose notAfter is at or before this
    /// unix time: the one window edge of `list`, `needs-renewal` and bulk `renew`.
    pub expiring_before: Option<i64>,
    /// Only revoked certificates, superseded ones included (as on the CRL).
    pub revoked_only: bool,
    pub include_superseded: bool,
    pub include_cas: bool,
}

/// Per-CA counts for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaCounts {
    pub issued: i64,
    pub revoked: i64,
    pub expiring: i64,
}

/// A name held while a certificate's files are written.
#[derive(Debug)]
pub struct Reservation {
    pub id: i64,
    pub(super) replaced: Option<i64>,
}

/// The columns [`cert_from_row`] reads, in order.
pub(super) const CERT_COLS: &str = "id, name, kind, issuer, serial, subject, sans, profile, key_type, not_before, not_after, fingerprint, state, revoked_at, revocation_reason, dir, has_key, created_at, issued_host, issued_user, revoked_host, revoked_user";

/// [`CERT_COLS`] of the table aliased `c`.
pub(super) fn cert_cols_of(alias: &str) -> String {
    CERT_COLS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SANs column (a JSON array of strings). Anything else is an error
/// naming the record: reading it as "no SANs" would let `renew` drop them.
fn parse_sans(json: &str, r: &Row) -> Result<Vec<String>> {
    serde_json::from_str(json).map_err(|e| {
        let name: String = r.get(1).unwrap_or_default();
        let id: i64 = r.get(0).unwrap_or_default();
        Error::failed(format!(
            "the ledger record of '{}' (row {id}) has unreadable SANs: {e}",
            crate::error::shown(&name)
        ))
    })
}

/// The record in a row that starts with [`CERT_COLS`].
pub(super) fn cert_from_row(r: &Row) -> Result<CertRecord> {
    let sans: String = r.get(6)?;
    Ok(CertRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: Kind::parse(&r.get::<String>(2)?),
        issuer: r.get(3)?,
        serial: r.get(4)?,
        subject: r.get(5)?,
        sans: parse_sans(&sans, r)?,
        profile: r.get(7)?,
        key_type: r.get(8)?,
        not_before: r.get(9)?,
        not_after: r.get(10)?,
        fingerprint: r.get(11)?,
        state: r.get(12)?,
        revoked_at: r.get(13)?,
        revocation_reason: r.get(14)?,
        dir: r.get(15)?,
        has_key: r.get::<bool>(16)?,
        created_at: r.get(17)?,
        issued_by: Actor::from_columns(r.get(18)?, r.get(19)?),
        revoked_by: Actor::from_columns(r.get(20)?, r.get(21)?),
        der: None,
    })
}

/// The CA in a row of [`CERT_COLS`] followed by encrypted, pathlen,
/// crl_number, key_store, key_ref and offline.
pub(super) fn ca_from_row(r: &Row) -> Result<CaRecord> {
    Ok(CaRecord {
        cert: cert_from_row(r)?,
        encrypted: r.get::<bool>(22)?,
        pathlen: r.get(23)?,
        crl_number: r.get(24)?,
        key_ref: crate::keystore::KeyRef::from_ledger(
            r.get::<Option<String>>(25)?.as_deref(),
            r.get::<Option<String>>(26)?.as_deref(),
        )?,
        offline: r.get::<bool>(27)?,
    })
}

/// Adds `issued_by` (and `revoked_by` when revoked) to the JSON object of
/// record `r`, when the ledger knows who.
pub fn audit_json(r: &CertRecord, v: &mut serde_json::Value) {
    if let Some(by) = &r.issued_by {
        v["issued_by"] = serde_json::json!(by);
    }
    if r.revoked_at.is_some()
        && let Some(by) = &r.revoked_by
    {
        v["revoked_by"] = serde_json::json!(by);
    }
}

/// The text lines saying who issued and revoked record `r`.
pub fn audit_lines(r: &CertRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(by) = &r.issued_by {
        out.push(format!("  issued by {}@{}", by.user, by.host));
    }
    if r.revoked_at.is_some()
        && let Some(by) = &r.revoked_by
    {
        out.push(format!("  revoked by {}@{}", by.user, by.host));
    }
    out
}
