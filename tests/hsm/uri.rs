//! The RFC 7512 URI parser: what it accepts, its canonical form, and the
//! one-line refusals of anything else.

use certsmith::error::ErrorKind;
use certsmith::keystore::Pkcs11Uri;

fn refused(uri: &str) -> String {
    let e = uri.parse::<Pkcs11Uri>().expect_err(uri);
    assert_eq!(e.kind(), ErrorKind::Input, "{uri}: {e}");
    let message = e.to_string();
    assert!(!message.contains('\n'), "{e}");
    message
}

#[test]
fn uri_with_token_object_id_and_module_path_is_read_and_written_back_canonically() {
    let u: Pkcs11Uri = "pkcs11:token=acme%20ca;object=root-2026;id=%01%aB?module-path=/usr/lib/softhsm/libsofthsm2.so"
        .parse()
        .unwrap();
    assert_eq!(u.token, "acme ca");
    assert_eq!(u.object.as_deref(), Some("root-2026"));
    assert_eq!(u.id.as_deref(), Some(&[0x01, 0xab][..]));
    assert_eq!(
        u.module_path.as_deref(),
        Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
    );
    let text = u.to_string();
    assert_eq!(
        text,
        "pkcs11:token=acme%20ca;object=root-2026;id=%01%AB?module-path=/usr/lib/softhsm/libsofthsm2.so"
    );
    assert_eq!(text.parse::<Pkcs11Uri>().unwrap(), u);
}

#[test]
fn uri_with_only_a_token_names_no_key() {
    let u: Pkcs11Uri = "pkcs11:token=acme-ca".parse().unwrap();
    assert_eq!((u.object, u.id, u.module_path), (None, None, None));
}

#[test]
fn unknown_repeated_empty_or_garbled_uri_attributes_are_refused_naming_them() {
    for (uri, names) in [
        ("pkcs11:token=a;colour=blue", "'colour'"),
        ("pkcs11:token=a;token=b", "names 'token' twice"),
        ("pkcs11:token=a;object=", "empty value"),
        ("pkcs11:token=a;id=%0", "broken percent-escape"),
        ("pkcs11:token=a;id=%zz", "broken percent-escape"),
        ("pkcs11:object=root", "names no token"),
        ("pkcs11:token=a;objectroot", "without '=VALUE'"),
        ("pkcs11:token=a?module-name=softhsm2", "'module-name'"),
        ("pkcs11:token=a;type=public", "type=private"),
        ("pkcs:token=a", "does not start with 'pkcs11:'"),
        ("pkcs11:token=%ff%fe", "not UTF-8"),
    ] {
        let msg = refused(uri);
        assert!(msg.contains(names), "{uri}: {msg}");
    }
}

#[test]
fn uri_carrying_a_pin_is_refused_without_echoing_it() {
    for uri in [
        "pkcs11:token=a;pin-value=s3cret-pin",
        "pkcs11:token=a?pin-value=s3cret-pin",
        "pkcs11:token=a?pin-source=file:/s3cret-pin",
    ] {
        let e = uri.parse::<Pkcs11Uri>().expect_err(uri);
        assert!(
            e.to_string().contains("never stores or accepts a PIN"),
            "{e}"
        );
        assert!(
            !format!("{e}{:?}{e:?}", e.hint_text()).contains("s3cret"),
            "{e}"
        );
    }
}

#[test]
fn raw_ecdsa_signatures_become_der_with_sign_padding_and_stripped_zeros() {
    let mut raw = vec![0u8; 64];
    raw[0] = 0x80; // r: high bit set, needs a leading zero
    raw[31] = 0x11;
    raw[63] = 0x01; // s: 31 leading zeros stripped
    let der = certsmith::keystore::pkcs11::ecdsa_der(&raw).unwrap();
    assert_eq!(der[..4], [0x30, 2 + 33 + 2 + 1, 0x02, 33]);
    assert_eq!(der[4..6], [0x00, 0x80]);
    assert_eq!(der[der.len() - 3..], [0x02, 0x01, 0x01]);
    assert!(certsmith::keystore::pkcs11::ecdsa_der(&raw[..63]).is_none());
}
