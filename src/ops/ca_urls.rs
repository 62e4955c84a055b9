//! Changing a CA's revocation URLs (`certsmith ca set-urls`): what the
//! certificates it issues from then on point to.

use crate::ca_urls::{CaUrls, UrlChange};
use crate::error::{Error, Result};
use crate::pki::Pki;

/// `certsmith ca set-urls`: applies `change` to CA `ca`'s URLs and returns
/// them as they now are. Refuses an unknown CA, a change that changes
/// nothing and any bad URL before the ledger is written.
pub fn set_urls(pki: &Pki, ca: &str, change: &UrlChange) -> Result<CaUrls> {
    if change.is_empty() {
        return Err(Error::input("nothing to change")
            .hint("pass --crl-url, --ocsp-url, --ca-issuers-url or --clear"));
    }
    change.check()?;
    let mut ledger = pki.open_ledger()?;
    if ledger.ca(ca)?.is_none() {
        return Err(Error::input(format!(
            "no CA named '{}' in this PKI",
            crate::error::shown(ca)
        ))
        .hint("run `certsmith list` to see the CAs"));
    }
    change.save(&mut ledger, ca)
}
