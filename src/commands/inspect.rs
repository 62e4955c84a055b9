//! `certsmith inspect <file>`: a readable or `--json` view of a PKI file.

use certsmith::error::Result;
use certsmith::input::{self, Kind};
use certsmith::inspect;

use super::Ctx;
use crate::cli::InspectArgs;

pub fn run(ctx: &Ctx, a: InspectArgs) -> Result<()> {
    let bytes = input::read(&a.file, Kind::Inspected)?;
    let mut d = inspect::describe(&bytes, &a.file.display().to_string())?;
    // A CA certificate of this PKI: say where its key lives.
    let fp = d.json["certificate"]["sha256_fingerprint"]
        .as_str()
        .map(str::to_string);
    // A certificate this PKI recorded: say who issued (and revoked) it.
    if let Some(rec) = fp.as_deref().and_then(|f| ctx.pki.recorded(f)) {
        d.lines.extend(certsmith::ledger::audit_lines(&rec));
        certsmith::ledger::audit_json(&rec, &mut d.json);
    }
    if let Some((ca, key, offline)) =
        fp.and_then(|f| certsmith::keystore::ca_key_location(&ctx.pki, &f))
    {
        let off = if offline { " (offline)" } else { "" };
        d.lines
            .push(format!("  CA '{ca}' of this PKI; its key: {key}{off}"));
        d.json["ca_key"] = serde_json::json!({
            "ca": ca,
            "key_store": key.store().as_str(),
            "key_ref": key.to_ledger(),
            "offline": offline,
        });
    }
    ctx.report(|| d.lines.clone().into(), &d.json);
    Ok(())
}
