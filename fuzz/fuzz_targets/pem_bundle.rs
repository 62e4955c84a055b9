//! Fuzz target: PEM bundle parsing (`certinfo::parse_pem_certs`) and
//! `inspect::describe`, the readers of every certificate, chain, CSR, CRL
//! and key file a user hands to certsmith. Neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = certsmith::inspect::describe(data, "fuzz.pem");
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(certs) = certsmith::certinfo::parse_pem_certs(text, "fuzz.pem")
    {
        assert!(certs.len() <= text.matches("-----BEGIN").count());
    }
});
