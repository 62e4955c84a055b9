//! Fuzz target: profile JSON (`<pki>/templates/*.json` overrides). Any text
//! is parsed; an accepted profile must be usable: positive maximum
//! validity, a key type certsmith can make, and a subject template that
//! yields a subject for a plain name.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(p) = certsmith::profile::Profile::parse("fuzz", text, "fuzz.json") {
        assert!(p.max_validity > time::Duration::ZERO);
        let _ = p.subject_for("device-1");
    }
});
