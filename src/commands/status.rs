//! `certsmith status`: the CA hierarchy as a tree, with counts.

use std::collections::HashMap;

use certsmith::clock;
use certsmith::error::Result;
use certsmith::ledger::{CaCounts, CaRecord};

use super::Ctx;
use super::list::time_text;

/// Certificates expiring within this many days count as "expiring".
const EXPIRING_DAYS: i64 = 30;

pub fn run(ctx: &Ctx) -> Result<()> {
    let ledger = ctx.pki.show_ledger()?;
    let now = clock::now()?.unix_timestamp();
    let counts = ledger.counts(now, now + EXPIRING_DAYS * 86_400)?;
    let cas = ledger.cas()?;
    let tops: Vec<&CaRecord> = cas
        .iter()
        .filter(|c| {
            c.cert
                .issuer
                .as_ref()
                .is_none_or(|i| !cas.iter().any(|o| &o.cert.name == i))
        })
        .collect();
    let json: Vec<serde_json::Value> = tops
        .iter()
        .map(|t| node_json(t, &cas, &counts, now))
        .collect();
    ctx.report(
        || {
            if cas.is_empty() {
                return vec!["No CAs yet. Next: certsmith init --cn \"Acme Root CA\"".to_string()]
                    .into();
            }
            let mut s = super::Lines::new();
            for t in &tops {
                tree_text(t, &cas, &counts, now, "", true, true, &mut s);
            }
            s
        },
        &serde_json::json!({ "cas": json }),
    );
    Ok(())
}

fn children<'a>(ca: &CaRecord, all: &'a [CaRecord]) -> Vec<&'a CaRecord> {
    all.iter()
        .filter(|c| {
            c.cert.issuer.as_deref() == Some(ca.cert.name.as_str()) && c.cert.name != ca.cert.name
        })
        .collect()
}

fn node_json(
    ca: &CaRecord,
    all: &[CaRecord],
    counts: &HashMap<String, CaCounts>,
    now: i64,
) -> serde_json::Value {
    let c = counts.get(&ca.cert.name).cloned().unwrap_or_default();
    serde_json::json!({
        "name": ca.cert.name,
        "kind": ca.cert.kind.as_str(),
        "status": ca.cert.status(now),
        "subject": ca.cert.subject,
        "key_type": ca.cert.key_type,
        "not_after": time_text(ca.cert.not_after),
        "encrypted": ca.encrypted,
        "key_store": ca.key_ref.store().as_str(),
        "key_ref": ca.key_ref.to_ledger(),
        "offline": ca.offline,
        "pathlen": ca.pathlen,
        "issued": c.issued,
        "revoked": c.revoked,
        "expiring_30d": c.expiring,
        "children": children(ca, all).iter().map(|k| node_json(k, all, counts, now)).collect::<Vec<_>>(),
    })
}

#[allow(clippy::too_many_arguments)]
fn tree_text(
    ca: &CaRecord,
    all: &[CaRecord],
    counts: &HashMap<String, CaCounts>,
    now: i64,
    prefix: &str,
    last: bool,
    top: bool,
    out: &mut super::Lines,
) {
    let c = counts.get(&ca.cert.name).cloned().unwrap_or_default();
    let branch = if top {
        ""
    } else if last {
        "└── "
    } else {
        "├── "
    };
    out.line(format!(
        "{prefix}{branch}{} [{}] {}  {}  until {}  {}{}  issued {}, revoked {}, expiring in 30d {}",
        ca.cert.name,
        ca.cert.kind.as_str(),
        ca.cert.subject,
        ca.cert.key_type,
        time_text(ca.cert.not_after),
        certsmith::keystore::key_summary(ca),
        match ca.cert.status(now) {
            "valid" => String::new(),
            s => format!("  {}", s.to_uppercase()),
        },
        c.issued,
        c.revoked,
        c.expiring
    ));
    let kids = children(ca, all);
    let next_prefix = format!(
        "{prefix}{}",
        if top {
            ""
        } else if last {
            "    "
        } else {
            "│   "
        }
    );
    for (i, k) in kids.iter().enumerate() {
        tree_text(
            k,
            all,
            counts,
            now,
            &next_prefix,
            i + 1 == kids.len(),
            false,
            out,
        );
    }
}
