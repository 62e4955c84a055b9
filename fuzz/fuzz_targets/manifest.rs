//! Fuzz target: batch manifests (CSV and JSON Lines). No panic; every row
//! accepted has an issuable name, every refused row says why in one safe
//! line, and line numbers only grow.
#![no_main]

use certsmith::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("tempdir");
    let ext = match data.first() {
        Some(b) if b % 3 == 0 => "csv",
        Some(b) if b % 3 == 1 => "jsonl",
        _ => "txt",
    };
    let path = dir.path().join(format!("m.{ext}"));
    std::fs::write(&path, data.get(1..).unwrap_or_default()).expect("write");
    let Ok(m) = Manifest::file(&path) else { return };
    let Ok(rows) = m.rows() else { return };
    let mut last = 0;
    for r in rows.take(1000) {
        let line = match r {
            Ok(row) => {
                assert!(certsmith::pki::validate_name("certificate", &row.name).is_ok());
                row.line
            }
            Err(e) => {
                assert!(!e.reason.is_empty() && !e.reason.chars().any(char::is_control));
                e.line
            }
        };
        assert!(line > last);
        last = line;
    }
});
