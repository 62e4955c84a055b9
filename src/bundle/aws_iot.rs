//! `aws-iot`: registering the issuing CA with AWS IoT Core. With
//! `--registration-code` it also signs the verification certificate
//! (CN = the code) that proves certsmith holds the CA's key.

use rcgen::{CertificateParams, DnType, IsCa};

use super::checks::{KEY_FIX, Rules, SHA2_SIGNATURES, rsa_or_nist_ec};
use super::{Contents, ExtraInput, Finding, Level, NextInput, OutFile, Target};
use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::validity::Validity;

pub struct AwsIot;

impl AwsIot {
    /// The CA devices chain to: the first `--ca`, else the deepest CA of the bundle.
    fn ca_name(x: &ExtraInput<'_>) -> Result<String> {
        x.opts
            .cas
            .first()
            .or(x.ca_names.first())
            .cloned()
            .ok_or_else(|| Error::input("no CA to register").hint("pass --ca NAME"))
    }
}

/// GetRegistrationCode returns 64 hex digits, optionally after `0x`.
fn check_code(code: &str) -> Result<()> {
    let hex = code.strip_prefix("0x").unwrap_or(code);
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::input(format!(
            "registration code '{code}' is not 64 hexadecimal digits"
        ))
        .hint(
            "copy it from `aws iot get-registration-code --query registrationCode --output text`",
        ))
    }
}

impl Target for AwsIot {
    fn name(&self) -> &'static str {
        "aws-iot"
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        Rules::new(self.name())
            .pem_only(c, None, false)
            .v3(c)
            .ca_only(c)
            .keys(c, rsa_or_nist_ec, "RSA or ECDSA (NIST curves)", KEY_FIX)
            .signatures(c, SHA2_SIGNATURES)
            .not_expired(c, Level::Error)
            .done()
    }

    fn extra_files(&self, x: &ExtraInput<'_>) -> Result<Vec<OutFile>> {
        let name = Self::ca_name(x)?;
        let (_, info) = x.pki.ca(x.ledger, &name)?;
        let mut out = vec![OutFile {
            name: "ca-cert.pem".into(),
            bytes: info.pem().into_bytes(),
            secret: false,
        }];
        if let Some(code) = &x.opts.registration_code {
            check_code(code)?;
            let signer = Signer::load(x.pki, x.ledger, &name, &x.opts.pass)?;
            let mut p = CertificateParams::default();
            p.distinguished_name.push(DnType::CommonName, code.as_str());
            p.is_ca = IsCa::ExplicitNoCa;
            // The key only proves possession of the CA key once: it is never written.
            let key = KeyType::EcdsaP256.generate()?;
            let now = crate::clock::now()?;
            let window = signer.window(Validity::For(time::Duration::days(7)), now, None, true)?;
            let signed = signer.sign(p, &key, window)?;
            out.push(OutFile {
                name: "verification-cert.pem".into(),
                bytes: signed.pem().into_bytes(),
                secret: false,
            });
        }
        Ok(out)
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        if n.opts.registration_code.is_none() {
            return vec![
                "aws iot get-registration-code --query registrationCode --output text".into(),
                format!(
                    "certsmith bundle --target aws-iot --registration-code CODE{}",
                    n.opts
                        .cas
                        .iter()
                        .map(|c| format!(" --ca {c}"))
                        .collect::<String>()
                ),
            ];
        }
        vec![
            format!(
                "aws iot register-ca-certificate --ca-certificate file://{d}/ca-cert.pem --verification-cert file://{d}/verification-cert.pem --set-as-active --allow-auto-registration"
            ),
            "aws iot list-ca-certificates".into(),
        ]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registration_code_must_be_64_hex_digits() {
        assert!(super::check_code(&"ab".repeat(32)).is_ok());
        assert!(super::check_code(&format!("0x{}", "01".repeat(32))).is_ok());
        assert!(super::check_code("abc").is_err());
        assert!(super::check_code(&"zz".repeat(32)).is_err());
    }
}
