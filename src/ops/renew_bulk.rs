//! `certsmith renew --expiring-within 30d [--ca NEW] [--dry-run]`: renews
//! every current leaf that is still valid and expires within the window,
//! one by one, so one that cannot be renewed does not hold back the others.
//! `--dry-run` checks each one as the real run does
//! ([`renew::preview`]) and reports the same failures.

use serde::Serialize;
use time::Duration;

use crate::error::{Error, Result};
use crate::ledger::ListFilter;
use crate::pki::Pki;
use crate::renew::{self, RenewRequest};

/// What to renew and how; `base.name` is ignored.
#[derive(Clone, Debug, Default)]
pub struct BulkRenewRequest {
    /// Renew what expires before now + this.
    pub within: Duration,
    /// Only say what would be renewed.
    pub dry_run: bool,
    /// How each one is renewed (`--ca`, `--validity`, `--reuse-key`, …).
    pub base: RenewRequest,
}

/// One certificate of a bulk renewal.
#[derive(Clone, Debug, Serialize)]
pub struct BulkItem {
    pub name: String,
    pub old_serial: String,
    /// notAfter of the certificate being replaced (RFC 3339).
    pub old_not_after: String,
    /// Its issuer now, and the CA that signs (or would sign) the new one.
    pub issuer: String,
    pub new_issuer: String,
    /// The new certificate's serial and notAfter (not with `--dry-run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    pub stale_exports: Vec<std::path::PathBuf>,
}

/// A certificate that could not be renewed, and why.
#[derive(Clone, Debug, Serialize)]
pub struct BulkFailure {
    pub name: String,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What a bulk renewal did (or, with `--dry-run`, would do).
#[derive(Clone, Debug, Serialize)]
pub struct BulkRenewed {
    pub dry_run: bool,
    /// The end of the window (RFC 3339); none for `renew NAME --dry-run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiring_before: Option<String>,
    pub renewed: Vec<BulkItem>,
    pub failed: Vec<BulkFailure>,
}

impl BulkRenewed {
    /// The error of the whole run when some renewal failed.
    pub fn error(&self) -> Option<Error> {
        if self.failed.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.failed.iter().map(|f| f.name.as_str()).collect();
        Some(Error::failed(format!(
            "{} of {} renewals {} ({})",
            self.failed.len(),
            self.failed.len() + self.renewed.len(),
            if self.dry_run { "would fail" } else { "failed" },
            names.join(", ")
        )))
    }
}

/// Renews every current leaf valid now that expires within `req.within`,
/// oldest notAfter first. A leaf whose CA is retired goes to `--ca`, else
/// to the default issuing CA. `--ca` naming an unknown or retired CA is
/// refused before anything is renewed.
pub fn renew_expiring(pki: &Pki, req: &BulkRenewRequest) -> Result<BulkRenewed> {
    if req.within <= Duration::ZERO {
        return Err(Error::input("--expiring-within must be a positive length"));
    }
    let ledger = pki.open_ledger()?;
    if let Some(ca) = &req.base.ca {
        let chain = pki.ca_chain(&ledger, ca)?;
        let records: Vec<_> = chain.into_iter().map(|(r, _)| r).collect();
        crate::ca::check_alive(&ledger, &records, crate::clock::now()?)?;
        crate::issuing::check_not_retired(&ledger, ca)?;
    }
    let now = crate::clock::now()?;
    let before = crate::clock::shift(now, req.within, "--expiring-within")?;
    let due: Vec<_> = ledger
        .list(&ListFilter {
            expiring_before: Some(before.unix_timestamp()),
            ..ListFilter::default()
        })?
        .into_iter()
        .filter(|c| c.state == "active" && c.not_after >= now.unix_timestamp())
        .collect();
    let default_ca = crate::issuing::default_ca(&ledger)?;
    let mut targets = Vec::with_capacity(due.len());
    for c in due {
        let issuer = c.issuer.clone().unwrap_or_default();
        let to = match &req.base.ca {
            Some(ca) => ca.clone(),
            None if crate::issuing::retired_at(&ledger, &issuer)?.is_some() => {
                default_ca.clone().unwrap_or_else(|| issuer.clone())
            }
            None => issuer.clone(),
        };
        targets.push((c, issuer, to));
    }
    // Each encrypted CA's passphrase is asked once (on a terminal), not
    // once per certificate; without a terminal the first renewal says which
    // flag to pass.
    let mut given: std::collections::HashMap<String, crate::passphrase::Passphrase> =
        std::collections::HashMap::new();
    if !req.dry_run
        && !crate::passphrase::has_source(&req.base.pass)
        && crate::passphrase::can_prompt()
    {
        for (_, _, to) in &targets {
            if !given.contains_key(to) && ledger.ca(to)?.is_some_and(|c| c.encrypted) {
                let p = crate::passphrase::for_existing_key(&req.base.pass, &format!("CA '{to}'"))?;
                given.insert(to.clone(), p);
            }
        }
    }
    drop(ledger);
    let rfc = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map(crate::clock::rfc3339)
            .unwrap_or_default()
    };
    let mut out = BulkRenewed {
        dry_run: req.dry_run,
        expiring_before: Some(crate::clock::rfc3339(before)),
        renewed: Vec::new(),
        failed: Vec::new(),
    };
    for (c, issuer, to) in targets {
        let mut item = BulkItem {
            name: c.name.clone(),
            old_serial: c.serial.clone(),
            old_not_after: rfc(c.not_after),
            issuer,
            new_issuer: to.clone(),
            serial: None,
            not_after: None,
            stale_exports: Vec::new(),
        };
        let mut one = RenewRequest {
            name: c.name.clone(),
            ca: (to != item.issuer).then(|| to.clone()),
            ..req.base.clone()
        };
        if let Some(p) = given.get(&to) {
            one.pass.given = Some(p.clone());
        }
        let done = if req.dry_run {
            renew::preview(pki, &one).map(|p| item.stale_exports = p.stale_exports)
        } else {
            renew::renew(pki, &one).map(|r| {
                item.serial = Some(r.leaf.serial);
                item.not_after = Some(r.leaf.not_after);
                item.stale_exports = r.stale_exports;
            })
        };
        match done {
            Ok(()) => out.renewed.push(item),
            Err(e) => out.failed.push(BulkFailure {
                name: c.name,
                error: e.to_string(),
                hint: e.hint_text(),
            }),
        }
    }
    Ok(out)
}

/// `renew NAME --dry-run`: the one renewal [`renew::preview`] checked, as
/// the document of a bulk dry run (without `expiring_before`).
pub fn preview_one(pki: &Pki, req: &RenewRequest) -> Result<BulkRenewed> {
    let p = renew::preview(pki, req)?;
    Ok(BulkRenewed {
        dry_run: true,
        expiring_before: None,
        renewed: vec![BulkItem {
            name: p.name,
            old_serial: p.old_serial,
            old_not_after: p.old_not_after,
            issuer: p.issuer,
            new_issuer: p.new_issuer,
            serial: None,
            not_after: None,
            stale_exports: p.stale_exports,
        }],
        failed: Vec::new(),
    })
}
