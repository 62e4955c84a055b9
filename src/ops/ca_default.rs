//! `certsmith ca default [<ca>]`: the CA that `issue`, `sign` and `batch`
//! use when no `--ca` is given, stored once per PKI.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::pki::Pki;

/// The default issuing CA after the command, and the one before it.
#[derive(Clone, Debug, Serialize)]
pub struct DefaultCaReport {
    pub default_ca: Option<String>,
    pub previous: Option<String>,
    /// Whether this run changed it.
    pub changed: bool,
    /// The target (`istio`) the default CA's key was exported for, when it
    /// was: certificates are not to be moved onto it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_exported_for: Option<String>,
}

/// Makes `ca` the default issuing CA, or (with `None`) only reports it.
/// Refuses an unknown CA and one that cannot issue (retired, revoked,
/// superseded, expired, or below such a CA), changing nothing then.
///
/// A CA whose key was exported for a mesh (`bundle --target istio`) is
/// refused unless `yes`: devices issued by it would chain to a CA whose key
/// sits outside the PKI and which client-auth bundles leave out.
pub fn set_default(pki: &Pki, ca: Option<&str>, yes: bool) -> Result<DefaultCaReport> {
    // Only showing it is read-only: it works on a 0755 PKI and writes nothing.
    let mut ledger = match ca {
        Some(_) => pki.open_ledger()?,
        None => pki.show_ledger()?,
    };
    let previous = crate::issuing::default_ca(&ledger)?;
    let Some(ca) = ca else {
        return Ok(DefaultCaReport {
            default_ca: previous.clone(),
            previous,
            changed: false,
            key_exported_for: None,
        });
    };
    let chain = pki.ca_chain(&ledger, ca)?;
    let records: Vec<_> = chain.into_iter().map(|(r, _)| r).collect();
    crate::ca::check_alive(&ledger, &records, crate::clock::now()?)?;
    if let Some(on) = crate::issuing::retired_at(&ledger, ca)? {
        return Err(Error::input(format!(
            "CA '{}' is retired (since {}); a retired CA cannot be the default issuing CA",
            crate::error::shown(ca),
            crate::clock::rfc3339(on)
        ))
        .hint("name a CA that issues, or make a new one with `certsmith intermediate`"));
    }
    let exported = crate::bundle::ca_set::mesh_cas(&ledger)?
        .into_iter()
        .find(|(name, _)| name == ca)
        .map(|(_, target)| target);
    if let (Some(target), false) = (&exported, yes) {
        let ca = crate::error::shown(ca);
        return Err(Error::input(format!(
            "the key of CA '{ca}' was exported for target '{}'; devices issued by it would chain to a key outside the PKI that client-auth bundles leave out",
            crate::error::shown(target)
        ))
        .hint(format!(
            "keep a CA whose key stays in the PKI as the default; pass --yes to make '{ca}' the default anyway"
        )));
    }
    let changed = previous.as_deref() != Some(ca);
    if changed {
        crate::issuing::set_default_ca(&mut ledger, ca)?;
    }
    Ok(DefaultCaReport {
        default_ca: Some(ca.to_string()),
        previous,
        changed,
        key_exported_for: exported,
    })
}
