//! Fuzz target: the parsers of flag and manifest values — SANs, subjects,
//! validities, IP ranges, certificate names. No panic; an accepted SAN or
//! subject prints without control characters and parses back to itself.
#![no_main]

use certsmith::names::{San, Subject};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(san) = San::parse(s) {
        let shown = san.to_string();
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(San::parse(&shown).ok(), Some(san));
    }
    if let Ok(subject) = Subject::parse(s) {
        let shown = subject.to_string();
        assert!(!shown.chars().any(char::is_control));
        assert_eq!(Subject::parse(&shown).map(|x| x.to_string()).ok(), Some(shown));
        let _ = subject.to_dn();
    }
    let _ = certsmith::validity::Validity::parse(s);
    let _ = certsmith::names::IpNet::parse(s);
    let _ = certsmith::pki::validate_name("certificate", s);
});
