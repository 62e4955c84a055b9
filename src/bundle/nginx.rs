//! `nginx`: `ssl_client_certificate` bundle, `ssl_crl` with the CRL of
//! every CA (nginx refuses a chain with a CA that has none), and a config
//! snippet with `ssl_verify_depth` from the real chain depth.

use super::checks::crl_checking_server;
use super::{
    Contents, CrlSupport, ExtraInput, Finding, NextInput, OutFile, Target, abs, bundle_again,
    certsmith_cmd,
};
use crate::error::Result;

pub struct Nginx;

impl Target for Nginx {
    fn name(&self) -> &'static str {
        "nginx"
    }

    fn needs_root(&self) -> bool {
        true
    }

    fn crls(&self) -> CrlSupport {
        CrlSupport::Combined
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        crl_checking_server(self.name(), c)
    }

    fn extra_files(&self, x: &ExtraInput<'_>) -> Result<Vec<OutFile>> {
        let d = abs(x.dir);
        let depth = super::checks::ca_depth(&x.contents.certs);
        let text = format!(
            "# certsmith: client certificate checks for nginx; include this inside a\n\
             # server block that has `listen 443 ssl;`, ssl_certificate and ssl_certificate_key.\n\
             ssl_client_certificate {d}/ca-bundle.pem;\n\
             ssl_crl {d}/crl.pem;\n\
             ssl_verify_client on;\n\
             ssl_verify_depth {depth};\n"
        );
        Ok(vec![OutFile {
            name: "nginx-mtls.conf".into(),
            bytes: text.into_bytes(),
            secret: false,
        }])
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = abs(n.dir);
        vec![
            format!("# add `include {d}/nginx-mtls.conf;` to your server block, then:"),
            "sudo nginx -t && sudo nginx -s reload".into(),
            format!(
                "# after every `certsmith revoke`: {} crl && {} && sudo nginx -s reload",
                certsmith_cmd(n.pki),
                bundle_again(n, self.name())
            ),
        ]
    }
}
