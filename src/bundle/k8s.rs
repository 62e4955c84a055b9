//! `k8s`: a Secret with `ca.crt` (and `ca.crl` with `--with-crl`), plus
//! `tls.crt` / `tls.key` of a leaf named with `--cert`, as ingress-nginx's
//! `auth-tls-secret` and most mTLS-aware controllers read it.

use super::checks::Rules;
use super::{Contents, CrlSupport, ExtraInput, Finding, Level, NextInput, OutFile, Target};
use crate::error::{Error, Result};

pub struct K8s;

/// `key: |` followed by `text` indented as a YAML literal block.
pub fn yaml_block(key: &str, text: &str) -> String {
    let mut s = format!("  {key}: |\n");
    for line in text.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// The Secret's name: the leaf's (`--cert`), made a DNS-1123 name by the
/// rule `export --format k8s-secret` uses (refused when another certificate
/// has that Secret name), else `certsmith-ca`.
fn secret_name(ledger: &crate::ledger::Ledger, cert: Option<&str>) -> Result<String> {
    match cert {
        Some(c) => crate::export::k8s_name_of(ledger, c),
        None => Ok("certsmith-ca".to_string()),
    }
}

impl Target for K8s {
    fn name(&self) -> &'static str {
        "k8s"
    }

    fn crls(&self) -> CrlSupport {
        CrlSupport::CombinedOptional
    }

    /// ingress-nginx, which reads this Secret, builds chains with OpenSSL
    /// up to a self-signed root.
    fn needs_root(&self) -> bool {
        true
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        Rules::new(self.name())
            .pem_only(c, None, false)
            .ca_only(c)
            .crls_fresh(c, Level::Error)
            .not_expired(c, Level::Warning)
            .done()
    }

    fn extra_files(&self, x: &ExtraInput<'_>) -> Result<Vec<OutFile>> {
        let mut data = yaml_block("ca.crt", &x.contents.text);
        if !x.contents.crls.is_empty() {
            data.push_str(&yaml_block("ca.crl", &super::crl_pem(&x.contents.crls)));
        }
        let mut secret = false;
        let mut kind = "Opaque";
        let name = secret_name(x.ledger, x.opts.cert.as_deref())?;
        if let Some(leaf) = &x.opts.cert {
            let rec = x.ledger.cert_by_name(leaf)?.ok_or_else(|| {
                Error::NoSuchCert {
                    name: leaf.clone(),
                    issuer: None,
                }
                .hint("pass --cert with a name from `certsmith list`")
            })?;
            let dir = x.pki.resolve_dir(&rec.dir);
            let key_path = dir.join(crate::layout::KEY);
            if !key_path.exists() {
                return Err(Error::input(format!(
                    "certificate '{leaf}' has no key file in '{}' (it was signed from a CSR)",
                    dir.display()
                )));
            }
            let chain = crate::input::read_to_string(
                &dir.join(crate::layout::FULLCHAIN),
                crate::input::Kind::Certificates,
            )?;
            let key = zeroize::Zeroizing::new(crate::input::read_to_string(
                &key_path,
                crate::input::Kind::Key,
            )?);
            data.push_str(&yaml_block("tls.crt", &chain));
            data.push_str(&yaml_block("tls.key", &key));
            secret = true;
            kind = "kubernetes.io/tls";
        }
        let yaml = format!(
            "# certsmith: Secret for target k8s\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\ntype: {kind}\nstringData:\n{data}"
        );
        Ok(vec![OutFile {
            name: "secret.yaml".into(),
            bytes: yaml.into_bytes(),
            secret,
        }])
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        vec![
            format!("kubectl apply -n NAMESPACE -f {d}/secret.yaml"),
            format!(
                "# ingress-nginx: annotate the Ingress with nginx.ingress.kubernetes.io/auth-tls-secret: NAMESPACE/{}, nginx.ingress.kubernetes.io/auth-tls-verify-client: \"on\" and nginx.ingress.kubernetes.io/auth-tls-verify-depth: \"{}\" (the default 1 refuses chains with more than one intermediate)",
                n.opts
                    .cert
                    .as_deref()
                    .map_or_else(|| "certsmith-ca".to_string(), crate::export::k8s_name),
                n.depth.max(1)
            ),
        ]
    }
}
