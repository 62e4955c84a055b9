//! Certificate profiles: what a kind of certificate may contain. Built-in
//! profiles are the JSON files in `templates/`, compiled in; a file of the
//! same name in `<pki>/templates/` overrides one.

use std::path::Path;

use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use serde::Deserialize;
use time::Duration;

use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::names::{San, Subject};
use crate::validity::Validity;

const BUILTIN: &[(&str, &str)] = &[
    ("device", include_str!("../templates/device.json")),
    ("client", include_str!("../templates/client.json")),
    ("server", include_str!("../templates/server.json")),
    ("peer", include_str!("../templates/peer.json")),
    ("root-ca", include_str!("../templates/root-ca.json")),
    (
        "intermediate-ca",
        include_str!("../templates/intermediate-ca.json"),
    ),
    (
        "ocsp-responder",
        include_str!("../templates/ocsp-responder.json"),
    ),
];

/// What a profile makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    Leaf,
    RootCa,
    IntermediateCa,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    description: String,
    kind: ProfileKind,
    extended_key_usage: Vec<String>,
    key_usage: Vec<String>,
    #[serde(default)]
    rsa_key_usage: Vec<String>,
    default_validity: String,
    max_validity: String,
    default_key: String,
    subject: String,
    san_allowed: Vec<String>,
    #[serde(default)]
    san_required_one_of: Vec<String>,
    #[serde(default)]
    default_pathlen: Option<u8>,
    /// Whether certificates of this profile carry the issuing CA's CRL and
    /// OCSP URLs (when it has some); on unless set to false.
    #[serde(default = "yes")]
    revocation_urls: bool,
}

fn yes() -> bool {
    true
}

/// A parsed, validated profile.
#[derive(Clone, Debug)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub kind: ProfileKind,
    pub ext_key_usage: Vec<ExtendedKeyUsagePurpose>,
    pub ext_key_usage_names: Vec<String>,
    pub key_usage: Vec<KeyUsagePurpose>,
    pub rsa_key_usage: Vec<KeyUsagePurpose>,
    pub default_validity: Validity,
    pub max_validity: Duration,
    pub default_key: KeyType,
    pub subject_template: String,
    pub san_allowed: Vec<String>,
    pub san_required_one_of: Vec<String>,
    pub default_pathlen: Option<u8>,
    /// Whether its certificates carry the issuing CA's revocation URLs.
    pub revocation_urls: bool,
    /// Where it came from: "built-in" or the override file's path.
    pub source: String,
}

impl Profile {
    /// Loads profile `name`: `<pki>/templates/<name>.json` if present, else built-in.
    pub fn load(pki: Option<&Path>, name: &str) -> Result<Profile> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::input(format!("profile name '{name}' is not valid"))
                .hint("profile names use letters, digits, '-' and '_'"));
        }
        if let Some(dir) = pki {
            let path = dir.join("templates").join(format!("{name}.json"));
            if path.exists() {
                let text = crate::input::read_to_string(&path, crate::input::Kind::Profile)?;
                return Profile::parse(name, &text, &path.display().to_string());
            }
        }
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => Profile::parse(name, text, "built-in"),
            None => Err(
                Error::input(format!("unknown profile '{name}'")).hint(format!(
                    "use one of: {}, or add {}/templates/{name}.json",
                    Self::builtin_names().join(", "),
                    pki.map(|p| p.display().to_string())
                        .unwrap_or_else(|| "pki".into())
                )),
            ),
        }
    }

    /// Names of the built-in profiles.
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// Parses profile JSON; `source` names the file in errors.
    pub fn parse(name: &str, text: &str, source: &str) -> Result<Profile> {
        let f: ProfileFile = serde_json::from_str(text)
            .map_err(|e| Error::input(format!("profile '{source}' is invalid: {e}")))?;
        let field_err = |field: &str, why: String| {
            Error::input(format!(
                "profile '{source}' is invalid: field '{field}': {why}"
            ))
        };
        let ext_key_usage = f
            .extended_key_usage
            .iter()
            .map(|e| {
                eku(e)
                    .ok_or_else(|| field_err("extended_key_usage", format!("unknown value '{e}'")))
            })
            .collect::<Result<Vec<_>>>()?;
        let parse_ku = |field: &str, v: &[String]| {
            v.iter()
                .map(|k| {
                    key_usage(k).ok_or_else(|| field_err(field, format!("unknown value '{k}'")))
                })
                .collect::<Result<Vec<_>>>()
        };
        let key_usage = parse_ku("key_usage", &f.key_usage)?;
        let rsa_key_usage = parse_ku("rsa_key_usage", &f.rsa_key_usage)?;
        let default_validity = Validity::parse_flag("validity", &f.default_validity)
            .map_err(|e| field_err("default_validity", e.to_string()))?;
        let max_validity = match Validity::parse_flag("validity", &f.max_validity)
            .map_err(|e| field_err("max_validity", e.to_string()))?
        {
            Validity::For(d) => d,
            Validity::Until(_) => {
                return Err(field_err(
                    "max_validity",
                    "must be a length such as 825d".into(),
                ));
            }
        };
        if let Validity::For(d) = default_validity
            && d > max_validity
        {
            return Err(field_err(
                "default_validity",
                "is longer than max_validity".into(),
            ));
        }
        let default_key: KeyType = f
            .default_key
            .parse()
            .map_err(|e: Error| field_err("default_key", e.to_string()))?;
        for (field, list) in [
            ("san_allowed", &f.san_allowed),
            ("san_required_one_of", &f.san_required_one_of),
        ] {
            if let Some(bad) = list
                .iter()
                .find(|k| !["dns", "ip", "uri", "email"].contains(&k.as_str()))
            {
                return Err(field_err(
                    field,
                    format!("unknown SAN type '{bad}' (use dns, ip, uri, email)"),
                ));
            }
        }
        if !f.subject.contains('=') {
            return Err(field_err("subject", "must look like \"CN={name}\"".into()));
        }
        let is_ca = f.kind != ProfileKind::Leaf;
        if is_ca && !f.key_usage.iter().any(|k| k == "keyCertSign") {
            return Err(field_err(
                "key_usage",
                "a CA profile needs keyCertSign".into(),
            ));
        }
        if !is_ca
            && f.key_usage
                .iter()
                .any(|k| k == "keyCertSign" || k == "cRLSign")
        {
            return Err(field_err(
                "key_usage",
                "a leaf profile cannot have keyCertSign or cRLSign".into(),
            ));
        }
        Ok(Profile {
            name: name.to_string(),
            description: f.description,
            kind: f.kind,
            ext_key_usage,
            ext_key_usage_names: f.extended_key_usage,
            key_usage,
            rsa_key_usage,
            default_validity,
            max_validity,
            default_key,
            subject_template: f.subject,
            san_allowed: f.san_allowed,
            san_required_one_of: f.san_required_one_of,
            default_pathlen: f.default_pathlen,
            revocation_urls: f.revocation_urls,
            source: source.to_string(),
        })
    }

    /// The subject for a certificate named `name`, from the template.
    pub fn subject_for(&self, name: &str) -> Result<Subject> {
        Subject::parse(
            &self
                .subject_template
                .replace("{name}", &name.replace(',', "\\,")),
        )
    }

    /// keyUsage for a key of type `key`.
    pub fn key_usage_for(&self, key: KeyType) -> Vec<KeyUsagePurpose> {
        let mut v = self.key_usage.clone();
        if key.is_rsa() {
            for k in &self.rsa_key_usage {
                if !v.contains(k) {
                    v.push(*k);
                }
            }
        }
        v
    }

    /// Checks SANs against the profile: only allowed kinds, and at least one
    /// of the required kinds when the profile names some.
    pub fn check_sans(&self, sans: &[San]) -> Result<()> {
        if let Some(bad) = sans
            .iter()
            .find(|s| !self.san_allowed.iter().any(|k| k == s.kind()))
        {
            return Err(Error::input(format!(
                "profile '{}' does not allow the SAN '{bad}'",
                self.name
            ))
            .hint(if self.san_allowed.is_empty() {
                "this profile takes no SANs".to_string()
            } else {
                format!("allowed SAN types: {}", self.san_allowed.join(", "))
            }));
        }
        if !self.san_required_one_of.is_empty()
            && !sans
                .iter()
                .any(|s| self.san_required_one_of.iter().any(|k| k == s.kind()))
        {
            return Err(Error::input(format!(
                "profile '{}' needs at least one {} SAN",
                self.name,
                self.san_required_one_of.join(" or ")
            ))
            .hint("add one with --san, e.g. --san dns:api.acme.internal"));
        }
        Ok(())
    }
}

fn eku(s: &str) -> Option<ExtendedKeyUsagePurpose> {
    Some(match s {
        "serverAuth" => ExtendedKeyUsagePurpose::ServerAuth,
        "clientAuth" => ExtendedKeyUsagePurpose::ClientAuth,
        "codeSigning" => ExtendedKeyUsagePurpose::CodeSigning,
        "emailProtection" => ExtendedKeyUsagePurpose::EmailProtection,
        "timeStamping" => ExtendedKeyUsagePurpose::TimeStamping,
        "OCSPSigning" => ExtendedKeyUsagePurpose::OcspSigning,
        _ => return None,
    })
}

fn key_usage(s: &str) -> Option<KeyUsagePurpose> {
    Some(match s {
        "digitalSignature" => KeyUsagePurpose::DigitalSignature,
        "nonRepudiation" | "contentCommitment" => KeyUsagePurpose::ContentCommitment,
        "keyEncipherment" => KeyUsagePurpose::KeyEncipherment,
        "dataEncipherment" => KeyUsagePurpose::DataEncipherment,
        "keyAgreement" => KeyUsagePurpose::KeyAgreement,
        "keyCertSign" => KeyUsagePurpose::KeyCertSign,
        "cRLSign" => KeyUsagePurpose::CrlSign,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses() {
        for n in Profile::builtin_names() {
            Profile::load(None, n).unwrap();
        }
    }

    #[test]
    fn malformed_profile_names_file_and_field() {
        let text =
            include_str!("../templates/device.json").replace("\"clientAuth\"", "\"clientauth\"");
        let e = Profile::parse("device", &text, "pki/templates/device.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "profile 'pki/templates/device.json' is invalid: field 'extended_key_usage': unknown value 'clientauth'"
        );
        let e = Profile::parse("x", "{\"kind\": 3}", "x.json").unwrap_err();
        assert!(
            e.to_string().starts_with("profile 'x.json' is invalid: "),
            "{e}"
        );
    }

    #[test]
    fn server_profile_requires_a_dns_or_ip_san() {
        let p = Profile::load(None, "server").unwrap();
        assert!(p.check_sans(&[]).is_err());
        assert!(
            p.check_sans(&[San::parse("dns:a.example").unwrap()])
                .is_ok()
        );
        assert!(
            p.check_sans(&[San::parse("uri:spiffe://a/b").unwrap()])
                .is_err()
        );
    }
}
