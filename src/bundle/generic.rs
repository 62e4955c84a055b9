//! `generic`: a clean PEM bundle of CA certificates for any OpenSSL-style
//! trust store (`-CAfile`, `SSL_CERT_FILE`, curl `--cacert`).

use super::checks::Rules;
use super::{Contents, Finding, Level, NextInput, Target};

pub struct Generic;

impl Target for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn needs_root(&self) -> bool {
        true
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        Rules::new(self.name())
            .pem_only(c, None, false)
            .ca_only(c)
            .v3(c)
            .not_expired(c, Level::Warning)
            .crls_fresh(c, Level::Error)
            .done()
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        // A real leaf when the bundled CAs issued one; else the place one goes.
        let leaf = n
            .leaf_cert
            .clone()
            .unwrap_or_else(|| n.pki.join("certs/NAME/cert.pem"));
        let leaf = leaf.display();
        let mut v = vec![format!(
            "openssl verify -x509_strict -CAfile {d}/ca-bundle.pem {leaf}"
        )];
        if !n.crl_files.is_empty() {
            v.push(format!(
                "cat {d}/crl-*.pem > crls.pem && openssl verify -crl_check_all -CRLfile crls.pem -CAfile {d}/ca-bundle.pem {leaf}"
            ));
        }
        v
    }
}
