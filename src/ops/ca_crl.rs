//! `certsmith ca set-crl <ca>`: stores a CA's CRL lengths once — its
//! nextUpdate and the grace period after which an expired certificate
//! leaves its CRL — so every later `crl` (and `serve`) uses them.

use serde::Serialize;
use time::Duration;

use crate::crl_settings::CrlSettings;
use crate::error::{Error, Result};
use crate::pki::Pki;
use crate::validity::{length_text, length_words};

/// What to store; `None` leaves that setting as it is.
#[derive(Clone, Debug)]
pub struct SetCrlRequest {
    pub ca: String,
    pub next_update: Option<Duration>,
    pub prune_after: Option<Duration>,
}

/// The CA's CRL lengths after the change, as `crl` will use them.
#[derive(Clone, Debug, Serialize)]
pub struct SetCrlReport {
    pub ca: String,
    /// nextUpdate length, e.g. `30d`.
    pub next_update: String,
    /// The same in words, e.g. `30 days`.
    #[serde(skip)]
    pub next_update_words: String,
    /// Whether it is the default of a root or an issuing CA.
    pub next_update_is_default: bool,
    pub prune_after: String,
    #[serde(skip)]
    pub prune_after_words: String,
    pub prune_after_is_default: bool,
}

/// Stores the CRL lengths of `req.ca`; refuses an unknown CA, a CA that
/// signs no CRL, a request with neither length, and lengths that are not
/// positive, changing nothing then.
pub fn set_crl(pki: &Pki, req: &SetCrlRequest) -> Result<SetCrlReport> {
    if req.next_update.is_none() && req.prune_after.is_none() {
        return Err(Error::input(format!(
            "nothing to set for CA '{}'",
            crate::error::shown(&req.ca)
        ))
        .hint("pass --next-update LENGTH (e.g. 30d) and/or --prune-after LENGTH"));
    }
    for (flag, d) in [
        ("--next-update", req.next_update),
        ("--prune-after", req.prune_after),
    ] {
        if let Some(d) = d
            && d <= Duration::ZERO
        {
            return Err(Error::input(format!(
                "{flag} '{}' must be a positive length",
                length_text(d)
            )));
        }
    }
    if let Some(d) = req.next_update {
        crate::crl::check_next_update(d)?;
    }
    let mut ledger = pki.open_ledger()?;
    let (_, info) = pki.ca(&ledger, &req.ca)?;
    if !crate::ca::publishes_crl(&info) {
        return Err(Error::input(format!(
            "CA '{}' publishes no CRL (made with --no-crl; keyUsage lacks cRLSign)",
            req.ca
        )));
    }
    CrlSettings::save_lengths(&mut ledger, &req.ca, req.next_update, req.prune_after)?;
    let now = CrlSettings::load(&ledger, &req.ca)?;
    Ok(SetCrlReport {
        ca: req.ca.clone(),
        next_update: length_text(now.next_update_or_default(info.self_signed)),
        next_update_words: length_words(now.next_update_or_default(info.self_signed)),
        next_update_is_default: now.next_update.is_none(),
        prune_after: length_text(now.prune_after_or_default()),
        prune_after_words: length_words(now.prune_after_or_default()),
        prune_after_is_default: now.prune_after.is_none(),
    })
}
