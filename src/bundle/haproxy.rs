//! `haproxy`: `ca-file` and `crl-file` for a `bind … ssl verify required`
//! line; HAProxy checks the CRL of every CA in the chain.

use super::checks::crl_checking_server;
use super::{Contents, CrlSupport, ExtraInput, Finding, NextInput, OutFile, Target};
use super::{abs, bundle_again, certsmith_cmd};
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
        let c = certsmith_cmd(n.pki);
        vec![
            "# server.pem is the server's key, certificate and chain in one file:".into(),
            format!("{c} export NAME --format pem --out /etc/haproxy/server.pem"),
            format!("# put the bind line of {d}/haproxy-mtls.cfg in your frontend, then:"),
            "haproxy -c -f /etc/haproxy/haproxy.cfg && sudo systemctl reload haproxy".into(),
            "# HAProxy reads crl.pem at start: after every `certsmith revoke`, publish and reload:".into(),
            format!(
                "{c} crl && {} && sudo systemctl reload haproxy",
                bundle_again(n, self.name())
            ),
            "# or, with no reload, through the runtime API (`stats socket /run/haproxy/admin.sock level admin`):".into(),
            format!(
                "printf 'set ssl crl-file {d}/crl.pem <<\\n%s\\n\\n' \"$(cat {d}/crl.pem)\" | socat stdio /run/haproxy/admin.sock"
            ),
            format!("echo 'commit ssl crl-file {d}/crl.pem' | socat stdio /run/haproxy/admin.sock"),
        ]
    }
}
