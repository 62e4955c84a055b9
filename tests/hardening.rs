//! Hardening: concurrent processes on one PKI, crashes mid-write, hostile
//! input files, secrets in output, permissions and symlinks, and `doctor`.

#[path = "hardening/concurrency.rs"]
mod concurrency;
#[path = "hardening/crash.rs"]
mod crash;
#[path = "hardening/doctor.rs"]
mod doctor;
#[path = "hardening/environment.rs"]
mod environment;
#[path = "hardening/hostile.rs"]
mod hostile;
#[path = "hardening/perms.rs"]
mod perms;
#[path = "hardening/props.rs"]
mod props;
#[path = "hardening/races.rs"]
mod races;
#[path = "hardening/secrets.rs"]
mod secrets;
#[path = "hardening/terminal.rs"]
mod terminal;

use crate::common::Env;

/// Ledger rows (CAs excluded) as `list --json` reports them.
pub fn listed(env: &Env) -> Vec<serde_json::Value> {
    env.json(&["list"])["certificates"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
