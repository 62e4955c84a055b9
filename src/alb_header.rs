//! The client chain an Application Load Balancer in mutual TLS passthrough
//! mode hands a backend: the `X-Amzn-Mtls-Clientcert` header, the client's
//! PEM chain (leaf first, then its intermediates) URL-encoded. `verify
//! --alb-header` reads that value as it is and checks the chain like any
//! other.

use std::io::Read;
use std::path::Path;

use crate::certinfo::CertInfo;
use crate::error::{Error, Result, shown};
use crate::input::Kind;

/// The header's name, as AWS documents it.
pub const HEADER: &str = "X-Amzn-Mtls-Clientcert";

/// The certificates of the header value in file `path` (`-`: standard
/// input), leaf first.
pub fn read(path: &Path) -> Result<Vec<CertInfo>> {
    let (bytes, what) = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::stdin()
            .lock()
            .take(Kind::Certificates.cap() + 1)
            .read_to_end(&mut b)
            .map_err(|e| Error::input(format!("cannot read standard input: {e}")))?;
        if b.len() as u64 > Kind::Certificates.cap() {
            return Err(bad(
                "standard input",
                "it is larger than a certificate chain can be",
            ));
        }
        (b, "standard input".to_string())
    } else {
        (
            crate::input::read(path, Kind::Certificates)?,
            format!("'{}'", shown(&path.display().to_string())),
        )
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| bad(&what, "it is not text"))?;
    certs(text, &what)
}

/// The certificates of header value `value` (an optional leading
/// `X-Amzn-Mtls-Clientcert:` is skipped); `what` names its source.
pub fn certs(value: &str, what: &str) -> Result<Vec<CertInfo>> {
    let mut v = value.trim();
    if v.len() > HEADER.len()
        && v[..HEADER.len()].eq_ignore_ascii_case(HEADER)
        && v[HEADER.len()..].starts_with(':')
    {
        v = v[HEADER.len() + 1..].trim_start();
    }
    let decoded = crate::percent::decode(v)
        .ok_or_else(|| bad(what, "a '%' is not followed by two hexadecimal digits"))?;
    let text =
        String::from_utf8(decoded).map_err(|_| bad(what, "it is not UTF-8 once URL-decoded"))?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(bad(what, "it holds no PEM certificate once URL-decoded"));
    }
    crate::certinfo::parse_pem_certs_as_is(&text, what)
}

fn bad(what: &str, why: &str) -> Error {
    Error::input(format!(
        "the {HEADER} value in {what} is not a URL-encoded PEM chain: {why}"
    ))
    .hint("pass the header's value as the load balancer sent it (leaf first, then its chain), in a file or on standard input with --alb-header -")
}
