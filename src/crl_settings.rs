//! A CA's CRL settings in the ledger (scope `ca:<name>`): its nextUpdate
//! length and how long an expired certificate stays on its CRL, set once
//! with `ca set-crl`, plus when its last CRL was signed, which pruning
//! needs (RFC 5280 §3.3). The only place that spells these keys.

use time::{Duration, OffsetDateTime};

use crate::error::{Error, Result};
use crate::ledger::Ledger;

/// nextUpdate of a root CA's CRL unless set: long enough to sign it once
/// in the safe twice a year (docs/revocation.md, the offline-root routine).
pub const ROOT_NEXT_UPDATE: Duration = Duration::days(180);
/// nextUpdate of an issuing CA's CRL unless set: a weekly `crl`.
pub const ISSUING_NEXT_UPDATE: Duration = Duration::days(7);
/// How long after its notAfter a revoked certificate stays on the CRL
/// unless set.
pub const PRUNE_AFTER: Duration = Duration::days(30);

const NEXT_UPDATE: &str = "crl.next-update";
const PRUNE: &str = "crl.prune-after";
const LAST_SIGNED: &str = "crl.last-this-update";

/// What `ca set-crl` stored for one CA; `None` is the default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrlSettings {
    pub next_update: Option<Duration>,
    pub prune_after: Option<Duration>,
    /// thisUpdate of the last CRL `crl` wrote for this CA.
    pub last_this_update: Option<OffsetDateTime>,
}

fn scope(ca: &str) -> String {
    format!("ca:{ca}")
}

fn dropped_scope(ca: &str) -> String {
    format!("crl-dropped:{ca}")
}

fn length(ledger: &Ledger, ca: &str, key: &str) -> Result<Option<Duration>> {
    let Some(v) = ledger.setting(&scope(ca), key)? else {
        return Ok(None);
    };
    v.parse::<i64>()
        .ok()
        .filter(|s| *s > 0)
        .map(|s| Some(Duration::seconds(s)))
        .ok_or_else(|| {
            Error::failed(format!(
                "the ledger holds a malformed setting {key} '{}' for CA '{ca}'",
                crate::error::shown(&v)
            ))
            .hint(format!("set it again with `certsmith ca set-crl {ca}`"))
        })
}

impl CrlSettings {
    /// The settings of CA `ca` (all `None` when nothing was set).
    pub fn load(ledger: &Ledger, ca: &str) -> Result<CrlSettings> {
        let last = match ledger.setting(&scope(ca), LAST_SIGNED)? {
            None => None,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
        };
        Ok(CrlSettings {
            next_update: length(ledger, ca, NEXT_UPDATE)?,
            prune_after: length(ledger, ca, PRUNE)?,
            last_this_update: last,
        })
    }

    /// Stores the lengths that are set (`Some`); leaves the others as they are.
    pub fn save_lengths(
        ledger: &mut Ledger,
        ca: &str,
        next_update: Option<Duration>,
        prune_after: Option<Duration>,
    ) -> Result<()> {
        for (key, v) in [(NEXT_UPDATE, next_update), (PRUNE, prune_after)] {
            if let Some(d) = v {
                let secs = d.whole_seconds().to_string();
                ledger.set_setting(&scope(ca), key, Some(&secs))?;
            }
        }
        Ok(())
    }

    /// Serials (lowercase hex) of `ca`'s revoked certificates that a CRL
    /// left off (scope `crl-dropped:<ca>`, one key per serial).
    pub fn dropped(ledger: &Ledger, ca: &str) -> Result<std::collections::HashSet<String>> {
        Ok(ledger
            .settings(&dropped_scope(ca))?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }

    /// Records that a CRL of `ca` left `serials` off (inside the caller's transaction).
    pub fn record_dropped(ledger: &mut Ledger, ca: &str, serials: &[String]) -> Result<()> {
        for s in serials {
            ledger.set_setting(&dropped_scope(ca), s, Some("1"))?;
        }
        Ok(())
    }

    /// Records that a CRL of `ca` with thisUpdate `at` was written.
    pub fn record_signed(ledger: &mut Ledger, ca: &str, at: OffsetDateTime) -> Result<()> {
        let v = at.unix_timestamp().to_string();
        ledger.set_setting(&scope(ca), LAST_SIGNED, Some(&v))
    }

    /// The nextUpdate length of a CA: its setting, else the default of a
    /// root (`self_signed`) or an issuing CA.
    pub fn next_update_or_default(&self, self_signed: bool) -> Duration {
        self.next_update.unwrap_or(if self_signed {
            ROOT_NEXT_UPDATE
        } else {
            ISSUING_NEXT_UPDATE
        })
    }

    /// The grace period after notAfter: its setting, else [`PRUNE_AFTER`].
    pub fn prune_after_or_default(&self) -> Duration {
        self.prune_after.unwrap_or(PRUNE_AFTER)
    }
}
