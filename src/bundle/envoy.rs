//! `envoy`: a DownstreamTlsContext that requires client certificates,
//! trusts the bundle and checks the CRL of every CA (Envoy rejects a chain
//! with a CA that has no CRL once any CRL is configured).

use super::checks::crl_checking_server;
use super::{Contents, CrlSupport, ExtraInput, Finding, NextInput, OutFile, Target};
use super::{abs, bundle_again, certsmith_cmd};
use crate::error::Result;

pub struct Envoy;

impl Target for Envoy {
    fn name(&self) -> &'static str {
        "envoy"
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
            "# certsmith: transport_socket for a listener filter chain that requires client certificates\n\
             transport_socket:\n\
             \x20 name: envoy.transport_sockets.tls\n\
             \x20 typed_config:\n\
             \x20   \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n\
             \x20   require_client_certificate: true\n\
             \x20   common_tls_context:\n\
             \x20     tls_certificates:\n\
             \x20     - certificate_chain: {{ filename: /etc/envoy/server-fullchain.pem }}\n\
             \x20       private_key: {{ filename: /etc/envoy/server-key.pem }}\n\
             \x20     validation_context:\n\
             \x20       trusted_ca: {{ filename: {d}/ca-bundle.pem }}\n\
             \x20       crl: {{ filename: {d}/crl.pem }}\n\
             \x20       max_verify_depth: {depth}\n"
        );
        Ok(vec![OutFile {
            name: "envoy-mtls.yaml".into(),
            bytes: text.into_bytes(),
            secret: false,
        }])
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = abs(n.dir);
        let c = certsmith_cmd(n.pki);
        let certs = abs(&n.pki.join("certs"));
        vec![
            "# the server certificate chain and its key, as envoy-mtls.yaml names them (NAME: the server certificate):".into(),
            format!("install -m 644 {certs}/NAME/fullchain.pem /etc/envoy/server-fullchain.pem"),
            format!("install -m 600 {certs}/NAME/key.pem /etc/envoy/server-key.pem"),
            format!("# merge {d}/envoy-mtls.yaml into your listener's filter chain, then:"),
            "envoy --mode validate -c /etc/envoy/envoy.yaml".into(),
            "# Envoy reads crl.pem when the listener is loaded: after every `certsmith revoke`, publish, then restart Envoy (or hot-restart it) so it reads the new CRL:".into(),
            format!("{c} crl && {}", bundle_again(n, self.name())),
        ]
    }
}
