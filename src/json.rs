//! The `--json` vocabulary in one place: the `schema_version` every
//! document carries, the error object, and the shapes several commands
//! print (a ledger certificate). docs/json.md documents each command's
//! document; the integration test `json_contract` holds every command to it.
//!
//! The words: keys snake_case; `sha256_fingerprint` and `serial` lowercase
//! hex without colons; subjects as certsmith writes them (`CN=dev,O=Acme`);
//! times RFC 3339 UTC; revocation reasons as `revoke --reason` takes them;
//! numbers as JSON numbers; paths as they are printed, relative to the
//! current directory when the PKI directory was given relative.

use std::path::Path;

use serde_json::{Value, json};

use crate::error::Error;
use crate::ledger::CertRecord;

/// The version of the documents described in docs/json.md; raised when a
/// field changes meaning or goes away (new fields do not raise it).
pub const SCHEMA_VERSION: u64 = 1;

/// `doc` with its top-level `schema_version` (a document that is not an
/// object — none should be — becomes `{"schema_version": 1}` holding it
/// under `value`).
pub fn versioned(doc: Value) -> Value {
    let mut doc = match doc {
        Value::Object(m) => Value::Object(m),
        Value::Null => json!({}),
        other => json!({ "value": other }),
    };
    doc["schema_version"] = json!(SCHEMA_VERSION);
    doc
}

/// The error object of a failed command: `kind` ([`Error::code`], listed in
/// [`crate::error::KINDS`]), the `certsmith: ` line's `message`, the
/// `hint` line (or null) and the process `exit_code`.
pub fn error(e: &Error) -> Value {
    json!({
        "kind": e.code(),
        "message": e.to_string(),
        "hint": e.hint_text(),
        "exit_code": e.exit_code(),
    })
}

/// The report a command had made before it failed (`Null` for none), with
/// the `error` member added.
pub fn with_error(doc: Value, e: &Error) -> Value {
    let mut doc = match doc {
        Value::Object(m) => Value::Object(m),
        _ => json!({}),
    };
    doc["error"] = error(e);
    doc
}

/// A path as certsmith prints it: as given, without a leading `./`.
pub fn path(p: &Path) -> String {
    let p = p.strip_prefix(".").unwrap_or(p);
    p.display().to_string()
}

/// A unix time as RFC 3339 UTC (`2026-12-02T14:00:00Z`).
pub fn time(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .map(crate::clock::rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// A certificate of the ledger (`list`, `needs-renewal`): its `status` at
/// unix time `now`, its directory `dir` below the PKI directory `pki` as
/// the user names it.
pub fn cert_record(r: &CertRecord, pki: &Path, now: i64) -> Value {
    let mut v = json!({
        "name": r.name,
        "kind": r.kind.as_str(),
        "status": r.status(now),
        "issuer": r.issuer,
        "serial": r.serial,
        "subject": r.subject,
        "sans": r.sans,
        "profile": r.profile,
        "key_type": r.key_type,
        "not_before": time(r.not_before),
        "not_after": time(r.not_after),
        "sha256_fingerprint": r.fingerprint,
        "revoked_at": r.revoked_at.map(time),
        "revocation_reason": r.revocation_reason,
        "dir": path(&pki.join(&r.dir)),
    });
    crate::ledger::audit_json(r, &mut v);
    v
}
