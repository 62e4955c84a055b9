//! RFC 7512 PKCS#11 URIs, the subset certsmith uses to name a token key:
//! `pkcs11:token=LABEL[;object=LABEL][;id=%01%02…][;type=private]
//! [?module-path=PATH]`. Anything else (an unknown attribute, a repeated
//! one, a broken `%XX`, a PIN) is refused with the offending part named.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{Error, Result, shown};

/// A token key as an RFC 7512 URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=`: the token label (required).
    pub token: String,
    /// `object=`: the key's CKA_LABEL.
    pub object: Option<String>,
    /// `id=`: the key's CKA_ID.
    pub id: Option<Vec<u8>>,
    /// `?module-path=`: the PKCS#11 module (shared library).
    pub module_path: Option<PathBuf>,
}

fn bad(uri: &str, why: impl fmt::Display) -> Error {
    Error::input(format!("PKCS#11 URI '{}' {why}", shown(uri))).hint(
        "write it as pkcs11:token=LABEL, optionally followed by ;object=LABEL and ;id=%01%02 (RFC 7512)",
    )
}

/// A PIN in a URI is refused without echoing the URI (it holds the PIN).
fn pin_in_uri() -> Error {
    Error::input("the PKCS#11 URI carries a PIN; certsmith never stores or accepts a PIN in a URI")
        .hint("pass the PIN with --pin-file FILE or $CERTSMITH_PKCS11_PIN")
}

/// Decodes RFC 3986 percent-encoding.
fn decode(uri: &str, v: &str) -> Result<Vec<u8>> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    bad(
                        uri,
                        format!("has a broken percent-escape in '{}'", shown(v)),
                    )
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn decode_text(uri: &str, v: &str) -> Result<String> {
    String::from_utf8(decode(uri, v)?).map_err(|_| {
        bad(
            uri,
            format!("has a value that is not UTF-8: '{}'", shown(v)),
        )
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `path` is set, for module paths).
fn encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &c in bytes {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) || (keep_slash && c == b'/') {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

impl FromStr for Pkcs11Uri {
    type Err = Error;
    fn from_str(uri: &str) -> Result<Self> {
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad(uri, "does not start with 'pkcs11:'"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut out = Pkcs11Uri {
            token: String::new(),
            object: None,
            id: None,
            module_path: None,
        };
        let mut seen: Vec<&str> = Vec::new();
        let mut token = None;
        for attr in path.split(';').filter(|a| !a.is_empty()) {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| bad(uri, format!("has '{}' without '=VALUE'", shown(attr))))?;
            if seen.contains(&k) {
                return Err(bad(uri, format!("names '{}' twice", shown(k))));
            }
            seen.push(k);
            if v.is_empty() {
                return Err(bad(uri, format!("gives '{}' an empty value", shown(k))));
            }
            match k {
                "token" => token = Some(decode_text(uri, v)?),
                "object" => out.object = Some(decode_text(uri, v)?),
                "id" => out.id = Some(decode(uri, v)?),
                "type" if v == "private" => {}
                "type" => {
                    return Err(bad(
                        uri,
                        format!(
                            "names type '{}': certsmith needs the private key (type=private)",
                            shown(v)
                        ),
                    ));
                }
                "pin-value" | "pin-source" => return Err(pin_in_uri()),
                _ => {
                    return Err(bad(
                        uri,
                        format!(
                            "has attribute '{}', which certsmith does not support",
                            shown(k)
                        ),
                    ));
                }
            }
        }
        for attr in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|a| !a.is_empty())
        {
            let (k, v) = attr
                .split_once('=')
                .ok_or_else(|| bad(uri, format!("has '{}' without '=VALUE'", shown(attr))))?;
            match k {
                "module-path" if out.module_path.is_some() => {
                    return Err(bad(uri, "names 'module-path' twice"));
                }
                "module-path" if !v.is_empty() => {
                    out.module_path = Some(PathBuf::from(decode_text(uri, v)?));
                }
                "pin-value" | "pin-source" => return Err(pin_in_uri()),
                _ => {
                    return Err(bad(
                        uri,
                        format!(
                            "has query attribute '{}', which certsmith does not support",
                            shown(k)
                        ),
                    ));
                }
            }
        }
        out.token = token.ok_or_else(|| bad(uri, "names no token (token=LABEL)"))?;
        Ok(out)
    }
}

impl fmt::Display for Pkcs11Uri {
    /// The canonical form: `pkcs11:token=…;object=…;id=…?module-path=…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pkcs11:token={}", encode(self.token.as_bytes(), false))?;
        if let Some(o) = &self.object {
            write!(f, ";object={}", encode(o.as_bytes(), false))?;
        }
        if let Some(id) = &self.id {
            f.write_str(";id=")?;
            for b in id {
                write!(f, "%{b:02X}")?;
            }
        }
        if let Some(m) = &self.module_path {
            use std::os::unix::ffi::OsStrExt;
            write!(f, "?module-path={}", encode(m.as_os_str().as_bytes(), true))?;
        }
        Ok(())
    }
}
