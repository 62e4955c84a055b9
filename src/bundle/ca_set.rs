//! A bundle's CA set is chosen on purpose. Each target remembers the CAs it
//! was last bundled with (ledger setting `cas` in scope `bundle:<target>`);
//! a bundle without `--ca` whose current CAs differ is refused, naming what
//! would be added or removed, until the CAs are named with `--ca` or the
//! change is accepted with `--accept-ca-change`. The guard keeps trust from
//! changing by accident; a retired CA leaving once its last certificate
//! expired was the operator's own decision (`ca retire`), so that departure
//! is not refused (the bundle notes it) and the new set is remembered.
//! Nor is a CA leaving because it (or a CA above it) was revoked or
//! expired: trust only narrows, so the bundle notes it, remembers the
//! smaller set, and no hint offers a set holding such a CA again.
//! A CA whose key was exported
//! for a mesh (`bundle --target istio`, setting `key_exported_for` in scope
//! `ca:<name>`) never joins a client-auth bundle unless named with `--ca`.

use crate::error::{Error, Result, shown};
use crate::ledger::Ledger;
use crate::pki::Pki;

/// The setting holding a target's CA set (a JSON array of CA names).
const CAS: &str = "cas";
/// The setting naming the target a CA's key was exported for.
const KEY_EXPORTED_FOR: &str = "key_exported_for";

fn scope(target: &str) -> String {
    format!("bundle:{target}")
}

fn ca_scope(ca: &str) -> String {
    format!("ca:{ca}")
}

/// The CAs of the last bundle of `target`, if it was bundled since certsmith remembers.
pub fn remembered(ledger: &Ledger, target: &str) -> Result<Option<Vec<String>>> {
    Ok(ledger
        .setting(&scope(target), CAS)?
        .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok()))
}

/// The CAs whose key was exported for a mesh, each with the target it went to.
pub fn mesh_cas(ledger: &Ledger) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for ca in ledger.cas()? {
        if let Some(t) = ledger.setting(&ca_scope(&ca.cert.name), KEY_EXPORTED_FOR)? {
            out.push((ca.cert.name, t));
        }
    }
    Ok(out)
}

/// How a CA set changed: the CAs added and removed, each sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The change from `before` to `now` that was not decided already; `None`
/// when there is none. The CAs in `retired` (retired, their last
/// certificate expired, left out on purpose) may leave without counting.
pub fn change(before: &[String], now: &[String], retired: &[String]) -> Option<Change> {
    let mut added: Vec<String> = now
        .iter()
        .filter(|n| !before.contains(n))
        .cloned()
        .collect();
    let mut removed: Vec<String> = before
        .iter()
        .filter(|b| !now.contains(b) && !retired.contains(b))
        .cloned()
        .collect();
    added.sort();
    removed.sort();
    (!added.is_empty() || !removed.is_empty()).then_some(Change { added, removed })
}

/// Why the CA `chain[0]` can no longer be bundled, as a note; `None` while
/// it and every CA above it are neither revoked nor expired (`now`: unix
/// time). `chain` is the CA's chain, itself first.
pub fn gone(chain: &[&crate::ledger::CertRecord], now: i64) -> Option<String> {
    let ca = chain.first()?;
    let at = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map(crate::clock::rfc3339)
            .unwrap_or_default()
    };
    let (by, why) = chain.iter().find_map(|c| {
        if let Some(t) = c.revoked_at {
            Some((
                c,
                format!(
                    "was revoked on {} ({})",
                    at(t),
                    c.revocation_reason.as_deref().unwrap_or("unspecified")
                ),
            ))
        } else if c.not_after < now {
            Some((c, format!("expired on {}", at(c.not_after))))
        } else {
            None
        }
    })?;
    let who = if by.name == ca.name {
        format!("CA '{}'", shown(&ca.name))
    } else {
        format!(
            "CA '{}' is below CA '{}', which",
            shown(&ca.name),
            shown(&by.name)
        )
    };
    Some(format!("{who} {why}: left out of the bundle"))
}

/// The refusal of a bundle without `--ca` whose CAs differ from `before`;
/// the set it offers to keep leaves out the CAs in `gone` (revoked,
/// expired or retired out of use).
pub fn refusal(target: &str, before: &[String], c: &Change, gone: &[String]) -> Error {
    let mut parts: Vec<String> = c
        .added
        .iter()
        .map(|n| format!("CA '{}' added", shown(n)))
        .collect();
    parts.extend(
        c.removed
            .iter()
            .map(|n| format!("CA '{}' removed", shown(n))),
    );
    let keep: Vec<String> = before
        .iter()
        .filter(|n| !gone.contains(n))
        .map(|n| format!(" --ca {n}"))
        .collect();
    let keep = if keep.is_empty() {
        String::new()
    } else {
        format!(
            "keep the last set with `certsmith bundle --target {target}{}`, ",
            keep.concat()
        )
    };
    Error::input(format!(
        "the CAs of target '{target}' would change from the last bundle: {}",
        parts.join(", ")
    ))
    .hint(format!(
        "a trust store's CAs change only on purpose: {keep}name the CAs to trust with --ca, or pass --accept-ca-change to bundle every current CA"
    ))
}

/// What a target's last bundle was asked for, beyond its CA set, so that a
/// later hint (`crl`'s "Publish it before …") repeats the same run: the
/// CAs named with `--ca` (empty: none were), `--cert`, `--out` (absolute)
/// and `--trust-store`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastRun {
    pub named_cas: Vec<String>,
    pub cert: Option<String>,
    pub out: Option<String>,
    pub trust_store: Option<String>,
}

const NAMED_CAS: &str = "named_cas";
const CERT: &str = "cert";
const OUT: &str = "out";
const TRUST_STORE: &str = "trust_store";

/// The [`LastRun`] of `target` (all empty when nothing was remembered).
pub fn last_run(ledger: &Ledger, target: &str) -> Result<LastRun> {
    let sc = scope(target);
    Ok(LastRun {
        named_cas: ledger
            .setting(&sc, NAMED_CAS)?
            .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
            .unwrap_or_default(),
        cert: ledger.setting(&sc, CERT)?,
        out: ledger.setting(&sc, OUT)?,
        trust_store: ledger.setting(&sc, TRUST_STORE)?,
    })
}

/// Remembers `cas` as `target`'s CA set, what the run was asked for
/// (`last`) and, when `key_exported` names a CA, that its key went to
/// `target`; one ledger transaction.
pub fn remember(
    pki: &Pki,
    target: &str,
    cas: &[String],
    key_exported: Option<&str>,
    last: &LastRun,
) -> Result<()> {
    let mut ledger = pki.open_ledger()?;
    let value = serde_json::to_string(cas).unwrap_or_else(|_| "[]".into());
    let named = (!last.named_cas.is_empty())
        .then(|| serde_json::to_string(&last.named_cas).unwrap_or_else(|_| "[]".into()));
    ledger.in_transaction(|l| {
        let sc = scope(target);
        l.set_setting(&sc, CAS, Some(&value))?;
        l.set_setting(&sc, NAMED_CAS, named.as_deref())?;
        l.set_setting(&sc, CERT, last.cert.as_deref())?;
        l.set_setting(&sc, OUT, last.out.as_deref())?;
        l.set_setting(&sc, TRUST_STORE, last.trust_store.as_deref())?;
        if let Some(ca) = key_exported {
            l.set_setting(&ca_scope(ca), KEY_EXPORTED_FOR, Some(target))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_change_names_what_is_added_and_removed_and_order_does_not_count() {
        assert_eq!(
            change(&v(&["issuing", "root"]), &v(&["root", "issuing"]), &[]),
            None
        );
        assert_eq!(
            change(
                &v(&["issuing", "old", "root"]),
                &v(&["new", "issuing", "root"]),
                &[]
            ),
            Some(Change {
                added: v(&["new"]),
                removed: v(&["old"]),
            })
        );
        let e = refusal(
            "haproxy",
            &v(&["issuing", "root"]),
            &change(
                &v(&["issuing", "root"]),
                &v(&["issuing", "mesh", "root"]),
                &[],
            )
            .unwrap(),
            &[],
        );
        assert_eq!(
            e.to_string(),
            "the CAs of target 'haproxy' would change from the last bundle: CA 'mesh' added"
        );
        assert!(e.hint_text().unwrap().contains("--ca issuing --ca root"));
    }

    #[test]
    fn a_retired_ca_may_leave_but_nothing_else_changes_unseen() {
        let before = v(&["issuing", "next", "root"]);
        assert_eq!(
            change(&before, &v(&["next", "root"]), &v(&["issuing"])),
            None
        );
        assert_eq!(
            change(&before, &v(&["next", "partner", "root"]), &v(&["issuing"])),
            Some(Change {
                added: v(&["partner"]),
                removed: vec![],
            })
        );
        assert_eq!(
            change(&before, &v(&["root"]), &v(&["issuing"])),
            Some(Change {
                added: vec![],
                removed: v(&["next"]),
            })
        );
    }
}
