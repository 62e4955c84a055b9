//! What a ledger holds, in numbers (`certsmith ledger info`): its backend,
//! schema version, and how many certificates of each kind are in each
//! state, revoked ones counted apart.

use super::Ledger;
use super::db::Backend;
use crate::error::Result;

/// The certificates of one kind in one state.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KindCount {
    /// `root`, `intermediate` or `leaf`.
    pub kind: String,
    /// `pending`, `active` or `superseded`.
    pub state: String,
    pub count: i64,
    /// Of those, how many are revoked.
    pub revoked: i64,
}

/// A ledger's inventory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inventory {
    pub backend: Backend,
    pub schema_version: i64,
    pub cas: i64,
    pub certificates: Vec<KindCount>,
}

impl Ledger {
    /// Counts what this ledger holds, in one read snapshot.
    pub fn inventory(&mut self) -> Result<Inventory> {
        let backend = self.backend();
        self.read(|l| {
            let schema_version: i64 =
                match l.db.query_opt("SELECT version FROM schema_version", &[])? {
                    Some(r) => r.get(0)?,
                    None => 0,
                };
            let cas: i64 = match l.db.query_opt("SELECT COUNT(*) FROM cas", &[])? {
                Some(r) => r.get(0)?,
                None => 0,
            };
            let certificates =
                l.db.query(
                    "SELECT kind, state, COUNT(*), COUNT(revoked_at) FROM certificates \
                     GROUP BY kind, state ORDER BY kind, state",
                    &[],
                )?
                .iter()
                .map(|r| {
                    Ok(KindCount {
                        kind: r.get(0)?,
                        state: r.get(1)?,
                        count: r.get(2)?,
                        revoked: r.get(3)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Inventory {
                backend,
                schema_version,
                cas,
                certificates,
            })
        })
    }
}
