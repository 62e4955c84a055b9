//! `%XX` decoding, as URLs and ALB headers carry bytes: the one decoder
//! for the OCSP GET path (`serve`), ALB passthrough headers
//! (`verify --alb-header`) and PostgreSQL URL parameters.

/// `s` with every `%XX` decoded; any other byte (a `+` included) is kept
/// as it is. `None` for a `%` without two hex digits after it.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_are_decoded_and_a_plus_is_kept() {
        assert_eq!(
            super::decode("a%20b+c%0A%2b").unwrap(),
            b"a b+c\n+".to_vec()
        );
    }

    #[test]
    fn a_percent_without_two_hex_digits_is_refused() {
        for bad in ["%2", "%zz", "%+1", "%-1", "abc%"] {
            assert!(super::decode(bad).is_none(), "{bad}");
        }
    }
}
