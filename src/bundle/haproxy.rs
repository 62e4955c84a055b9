//! `haproxy`: `ca-file` and `crl-file` for a `bind … ssl verify required`
//! line; HAProxy checks the CRL of every CA in the chain.

use super::abs;
use super::checks::crl_checking_server;
use super::{Contents, CrlSupport, ExtraInput, Finding, NextInput, OutFile, Target};
use crate::error::Result;

pub struct Haproxy;

impl Target for Haproxy {
    fn name(&self) -> &'static str {
        "haproxy"
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
        let text = format!(
            "# certsmith: client certificate checks for HAProxy; the frontend's bind line.\n\
             # server.pem holds the server certificate chain followed by its key.\n\
             bind :443 ssl crt /etc/haproxy/server.pem ca-file {d}/ca-bundle.pem crl-file {d}/crl.pem verify required\n"
        );
        Ok(vec![OutFile {
            name: "haproxy-mtls.cfg".into(),
            bytes: text.into_bytes(),
            secret: false,
        }])
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = abs(n.dir);
        vec![
            format!("# put the bind line of {d}/haproxy-mtls.cfg in your frontend, then:"),
            "haproxy -c -f /etc/haproxy/haproxy.cfg && sudo systemctl reload haproxy".into(),
        ]
    }
}
