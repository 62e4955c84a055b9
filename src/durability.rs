//! `--no-sync` (on `issue` and `batch`): an explicit opt-out of fsync for
//! throwaway PKIs, such as a CI test PKI on tmpfs. Refused for a PKI whose
//! CA keys are encrypted or held in a token (that is a real CA), and
//! recorded in the ledger (setting `no-sync` of scope `pki`, the time it
//! was first used) so `doctor` can say the PKI was made without durability.

use crate::error::{Error, Result};
use crate::keystore::KeyRef;
use crate::ledger::Ledger;

const SCOPE: &str = "pki";
const KEY: &str = "no-sync";

/// Turns fsync off for the rest of this process, after refusing it for a
/// PKI with an encrypted or token-held CA key, and records that the PKI was
/// written without durability (once; the first time is kept).
pub fn skip_syncs(ledger: &mut Ledger, now: time::OffsetDateTime) -> Result<()> {
    // Check and record in one write transaction: no CA reservation (an
    // encrypted or token-held key) can commit between the two.
    ledger.in_transaction(|l| {
        refuse_for_real_ca(l)?;
        if made_without_durability(l)?.is_none() {
            l.set_setting(SCOPE, KEY, Some(&crate::clock::rfc3339(now)))?;
        }
        Ok(())
    })?;
    crate::store::skip_syncs();
    apply(ledger)
}

/// Refuses `--no-sync` for a PKI with an encrypted or token-held CA key;
/// checked before anything is made.
pub fn refuse_for_real_ca(ledger: &Ledger) -> Result<()> {
    if let Some(ca) = ledger
        .cas()?
        .into_iter()
        .find(|ca| ca.encrypted || matches!(ca.key_ref, KeyRef::Pkcs11(_)))
    {
        let how = if ca.encrypted {
            "an encrypted key"
        } else {
            "a key in a token"
        };
        return Err(Error::input(format!(
            "--no-sync is for throwaway PKIs, but CA '{}' has {how}",
            crate::error::shown(&ca.cert.name)
        ))
        .hint("drop --no-sync: a PKI with a protected CA key is a real one and must be durable"));
    }
    Ok(())
}

/// Makes `ledger`'s commits skip fsync too when this process skips syncs
/// (each connection of a batch worker calls it).
pub fn apply(ledger: &Ledger) -> Result<()> {
    if crate::store::syncing() {
        return Ok(());
    }
    ledger.skip_commit_syncs()
}

/// When this PKI was first written with `--no-sync`, if ever.
pub fn made_without_durability(ledger: &Ledger) -> Result<Option<String>> {
    ledger.setting(SCOPE, KEY)
}

/// Refuses to give a PKI written with `--no-sync` a protected CA key (an
/// encrypted one, or one in a token): that would make it a real CA whose
/// history may not have survived a crash. Checked inside the transaction of every CA
/// reservation (init, intermediate, import) and by key encryption, so no
/// order of commands gets around the `--no-sync` refusal.
pub fn refuse_protected_ca(ledger: &Ledger, ca: &str, protection: &str) -> Result<()> {
    match made_without_durability(ledger)? {
        None => Ok(()),
        Some(since) => Err(Error::input(format!(
            "this PKI was written with --no-sync (first on {since}), so CA '{}' cannot have {protection}",
            crate::error::shown(ca)
        ))
        .hint("a CA with a protected key is a real one and needs a PKI that was always durable: make a new PKI directory for it (certsmith --pki NEW-DIR init)")),
    }
}
