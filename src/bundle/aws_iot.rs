//! `aws-iot`: registering the issuing CA with AWS IoT Core. With
//! `--registration-code` it also signs the verification certificate
//! (CN = the code) that proves certsmith holds the CA's key.

use rcgen::{CertificateParams, DnType, IsCa};

use super::checks::{KEY_FIX, Rules, SHA2_OR_PSS_SIGNATURES, rsa_or_nist_ec};
use super::{
    Contents, CrlSupport, ExtraInput, Finding, Level, NextInput, Options, OutFile, Target,
    certsmith_cmd, quoted,
};
use crate::ca::Signer;
use crate::certinfo::CertInfo;
use crate::error::{Error, Result, shown};
use crate::keys::KeyType;
use crate::validity::Validity;

pub struct AwsIot;

/// The CAs to register: those named with `--ca`, else the bundle's one
/// issuing CA (a CA that signs no other CA of the bundle); several issuing
/// CAs and no `--ca` is refused, since each registration proves one CA.
/// `ca_names` and `certs` are the bundle's CAs, in the same order.
fn cas_to_register(opts: &Options, ca_names: &[String], certs: &[CertInfo]) -> Result<Vec<String>> {
    if !opts.cas.is_empty() {
        return Ok(opts.cas.clone());
    }
    let mut issuing: Vec<String> = ca_names
        .iter()
        .zip(certs)
        .filter(|(_, c)| {
            !certs
                .iter()
                .any(|o| !o.self_signed && o.issuer_raw == c.subject_raw && o.der != c.der)
        })
        .map(|(n, _)| n.clone())
        .collect();
    issuing.sort();
    if issuing.len() > 1 {
        let names: Vec<String> = issuing.iter().map(|n| format!("'{}'", shown(n))).collect();
        let each: String = issuing.iter().map(|n| format!(" --ca {n}")).collect();
        return Err(Error::input(format!(
            "target aws-iot registers one CA per verification certificate, and this PKI has several issuing CAs: {}",
            names.join(", ")
        ))
        .hint(format!(
            "name the CA your devices chain to, e.g. --ca {}, or name each to register ({each}): one verification certificate is signed per CA",
            issuing[0]
        )));
    }
    Ok(issuing)
}

/// The CA certificate and verification certificate files of `ca`: plain
/// names for one CA, suffixed with the CA's name for several.
fn files_of(cas: &[String], ca: &str) -> (String, String) {
    if cas.len() > 1 {
        (
            format!("ca-cert-{ca}.pem"),
            format!("verification-cert-{ca}.pem"),
        )
    } else {
        ("ca-cert.pem".into(), "verification-cert.pem".into())
    }
}

/// GetRegistrationCode's code without the optional `0x`: 64 hex digits,
/// the CN the verification certificate must carry.
fn check_code(code: &str) -> Result<&str> {
    let hex = code.strip_prefix("0x").unwrap_or(code);
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(Error::input(format!(
            "registration code '{}' is not 64 hexadecimal digits",
            shown(code)
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

    fn crls(&self) -> CrlSupport {
        CrlSupport::Unsupported
    }

    fn no_crl_reason(&self) -> &'static str {
        "AWS IoT reads no CRL"
    }

    fn revocation_instead(&self) -> &'static str {
        "revoke a device's certificate in IoT itself (aws iot update-certificate --certificate-id CERT_ID --new-status REVOKED), see docs/aws-iot.md"
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        Rules::new(self.name())
            .pem_only(c, None, false)
            .v3(c)
            .ca_only(c)
            .keys(c, rsa_or_nist_ec, "RSA or ECDSA (NIST curves)", KEY_FIX)
            .signatures(c, SHA2_OR_PSS_SIGNATURES)
            .not_expired(c, Level::Error)
            .done()
    }

    fn extra_files(&self, x: &ExtraInput<'_>) -> Result<Vec<OutFile>> {
        let cas = cas_to_register(x.opts, x.ca_names, &x.contents.certs)?;
        let code = x
            .opts
            .registration_code
            .as_deref()
            .map(check_code)
            .transpose()?;
        let mut out = Vec::new();
        for name in &cas {
            let (ca_file, vc_file) = files_of(&cas, name);
            let (_, info) = x.pki.ca(x.ledger, name)?;
            out.push(OutFile {
                name: ca_file,
                bytes: info.pem().into_bytes(),
                secret: false,
            });
            let Some(code) = code else { continue };
            let signer = Signer::load(x.pki, x.ledger, name, &x.opts.pass)?;
            let mut p = CertificateParams::default();
            p.distinguished_name.push(DnType::CommonName, code);
            p.is_ca = IsCa::ExplicitNoCa;
            // The key only proves possession of the CA key once: it is never written.
            let key = KeyType::EcdsaP256.generate()?;
            let now = crate::clock::now()?;
            let window = signer.window(Validity::For(time::Duration::days(7)), now, None, true)?;
            let signed = signer.sign(p, &key, window)?;
            out.push(OutFile {
                name: vc_file,
                bytes: signed.pem().into_bytes(),
                secret: false,
            });
        }
        Ok(out)
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        let Ok(cas) = cas_to_register(n.opts, n.ca_names, n.certs) else {
            return Vec::new();
        };
        let auto = n.opts.allow_auto_registration;
        let mut v = Vec::new();
        if n.opts.registration_code.is_none() {
            let mut again = format!("{} bundle --target aws-iot", certsmith_cmd(n.pki));
            if let Some(o) = &n.opts.out {
                again.push_str(&format!(" --out {}", quoted(&o.display().to_string())));
            }
            for c in &cas {
                again.push_str(&format!(" --ca {c}"));
            }
            again.push_str(" --registration-code CODE");
            if auto {
                again.push_str(" --allow-auto-registration");
            }
            v.push("# DEFAULT mode: sign a verification certificate with this account's registration code".into());
            v.push("aws iot get-registration-code --query registrationCode --output text".into());
            v.push(again);
        }
        for c in &cas {
            let (ca_file, vc_file) = files_of(&cas, c);
            if n.opts.registration_code.is_some() {
                v.push(format!("# DEFAULT mode: CA '{c}' registered in this account only, proven by the verification certificate"));
                v.push(format!(
                    "aws iot register-ca-certificate --ca-certificate file://{d}/{ca_file} --verification-certificate file://{d}/{vc_file} --set-as-active{}",
                    if auto { " --allow-auto-registration" } else { "" }
                ));
                if auto {
                    v.push("# just-in-time registration: a device's first connection registers its certificate as PENDING_ACTIVATION; a rule on $aws/events/certificates/registered/CA_CERTIFICATE_ID (or a Lambda) must activate it: aws iot update-certificate --certificate-id CERT_ID --new-status ACTIVE".into());
                }
            }
            v.push(format!("# OR SNI_ONLY mode: CA '{c}' with no registration code; several accounts may register it, devices must send SNI"));
            v.push(format!(
                "aws iot register-ca-certificate --ca-certificate file://{d}/{ca_file} --certificate-mode SNI_ONLY --set-as-active"
            ));
        }
        v.push("aws iot list-ca-certificates".into());
        v
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn registration_code_must_be_64_hex_digits() {
        assert!(super::check_code(&"ab".repeat(32)).is_ok());
        assert_eq!(
            super::check_code(&format!("0x{}", "01".repeat(32))).unwrap(),
            "01".repeat(32)
        );
        assert!(super::check_code("abc").is_err());
        assert!(super::check_code(&"zz".repeat(32)).is_err());
    }
}
