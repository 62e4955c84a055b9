//! Certificate serial numbers: 20 random bytes from the OS RNG, positive, never zero.

use crate::error::{Error, Result};

/// A new serial: 160 random bits with the top bit cleared so the DER
/// INTEGER stays positive in 20 octets (RFC 5280 4.1.2.2).
pub fn random() -> Result<[u8; 20]> {
    loop {
        let mut b = [0u8; 20];
        aws_lc_rs::rand::fill(&mut b)
            .map_err(|_| Error::failed("the OS random generator failed"))?;
        b[0] &= 0x7f;
        if b.iter().any(|&x| x != 0) {
            return Ok(b);
        }
    }
}

/// Lowercase hex without separators, the form the ledger and `--json` use.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Colon-separated uppercase hex, the form `openssl x509 -text` prints.
pub fn to_colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses hex typed by a user (with or without colons, any case).
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    let clean = clean.strip_prefix("0x").unwrap_or(&clean);
    if clean.is_empty()
        || !clean.len().is_multiple_of(2)
        || !clean.chars().all(|c| c.is_ascii_hexdigit())
    {
        return None;
    }
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).ok())
        .collect()
}

/// Strips leading zero octets so serials compare equal however they were encoded.
pub fn normalize(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_positive_nonzero_and_twenty_bytes() {
        for _ in 0..200 {
            let s = random().unwrap();
            assert_eq!(s.len(), 20);
            assert!(s[0] & 0x80 == 0);
            assert!(s.iter().any(|&b| b != 0));
        }
    }

    #[test]
    fn hex_round_trips_with_colons() {
        assert_eq!(from_hex("0A:ff").unwrap(), vec![0x0a, 0xff]);
        assert_eq!(to_hex(&[0x0a, 0xff]), "0aff");
        assert!(from_hex("xyz").is_none());
    }
}
