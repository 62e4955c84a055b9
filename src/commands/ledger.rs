//! `certsmith ledger info` / `ledger copy --to URL`: what the ledger holds,
//! and moving it between SQLite and PostgreSQL (docs/team.md).

use certsmith::error::Result;
use certsmith::ops::ledger::{CopyRequest, copy, info};

use super::{Ctx, Lines};
use crate::cli::{LedgerCommand, LedgerCopyArgs};

pub fn run(ctx: &Ctx, cmd: LedgerCommand) -> Result<()> {
    match cmd {
        LedgerCommand::Info => run_info(ctx),
        LedgerCommand::Copy(a) => run_copy(ctx, a),
    }
}

fn run_info(ctx: &Ctx) -> Result<()> {
    let r = info(&ctx.pki)?;
    ctx.report(
        || {
            let mut s = Lines::new();
            s.line(format!("Ledger: {} ({})", r.url, r.backend));
            s.line(format!("Schema version: {}", r.schema_version));
            s.line(format!("CAs: {}", r.cas));
            for c in &r.certificates {
                s.line(format!(
                    "{} {}: {} ({} revoked)",
                    c.kind, c.state, c.count, c.revoked
                ));
            }
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}

fn run_copy(ctx: &Ctx, a: LedgerCopyArgs) -> Result<()> {
    let r = copy(&ctx.pki, &CopyRequest { to: a.to })?;
    ctx.report(
        || {
            let mut s = Lines::new();
            s.line(format!("Copied the ledger {} to {}:", r.from, r.to));
            for (table, n) in &r.rows {
                s.line(format!("  {table}: {n} rows"));
            }
            s.line(format!(
                "Checked: row counts, and {} certificate fingerprints against their DER.",
                r.fingerprints_checked
            ));
            s.line(format!(
                "Next: certsmith --ledger '{}' ledger info (or set $CERTSMITH_LEDGER on every host)",
                r.to
            ));
            s
        },
        &serde_json::to_value(&r).unwrap_or_default(),
    );
    Ok(())
}
