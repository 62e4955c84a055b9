//! `istio`: the `cacerts` plug-in CA layout (ca-cert.pem, ca-key.pem,
//! root-cert.pem, cert-chain.pem) so istiod signs workload certificates
//! with a certsmith intermediate under the certsmith root.

use super::checks::Rules;
use super::k8s::yaml_block;
use super::{Contents, CrlSupport, ExtraInput, Finding, Level, NextInput, OutFile, Target};
use crate::ca::Signer;
use crate::error::{Error, Result};

pub struct Istio;

impl Target for Istio {
    fn name(&self) -> &'static str {
        "istio"
    }

    fn crls(&self) -> CrlSupport {
        CrlSupport::CombinedOptional
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        let mut r = Rules::new(self.name());
        r.pem_only(c, None, false)
            .ca_only(c)
            .crls_fresh(c, Level::Warning)
            .not_expired(c, Level::Error);
        if c.certs.iter().all(|x| x.self_signed) {
            r.push(
                Level::Warning,
                "intermediate-signs",
                None,
                "istiod would sign with the root key; create an intermediate for the mesh under a root of its own (certsmith init --name mesh-root --cn 'Mesh Root CA', then certsmith intermediate istio-ca --issuer mesh-root --cn 'Istio Mesh CA') and pass --ca istio-ca to keep the root offline".into(),
            );
        }
        r.done()
    }

    fn extra_files(&self, x: &ExtraInput<'_>) -> Result<Vec<OutFile>> {
        // `build` refuses istio without --ca: the CA named first signs.
        let name = x
            .opts
            .cas
            .first()
            .cloned()
            .ok_or_else(|| Error::input("no CA for istiod").hint("pass --ca NAME"))?;
        let chain = x.pki.ca_chain(x.ledger, &name)?;
        let ca_cert = chain[0].1.pem();
        let root = chain
            .last()
            .map(|(_, i)| i.pem())
            .unwrap_or_else(|| ca_cert.clone());
        let cert_chain: String = chain.iter().map(|(_, i)| i.pem()).collect();
        chain[0].0.key_ref.refuse_export(&name)?;
        let signer = Signer::load(x.pki, x.ledger, &name, &x.opts.pass)?;
        // istiod reads the key unencrypted: it lands 0600, and only here.
        let key = crate::keys::to_pem(signer.key().exportable(&name)?)?;
        let mut yaml = String::from(
            "# certsmith: Istio plug-in CA (holds a CA private key: keep it secret)\napiVersion: v1\nkind: Secret\nmetadata:\n  name: cacerts\n  namespace: istio-system\ntype: Opaque\nstringData:\n",
        );
        yaml.push_str(&yaml_block("ca-cert.pem", &ca_cert));
        yaml.push_str(&yaml_block("ca-key.pem", &key));
        yaml.push_str(&yaml_block("root-cert.pem", &root));
        yaml.push_str(&yaml_block("cert-chain.pem", &cert_chain));
        let public = |n: &str, t: &str| OutFile {
            name: n.into(),
            bytes: t.as_bytes().to_vec(),
            secret: false,
        };
        Ok(vec![
            public("ca-cert.pem", &ca_cert),
            OutFile {
                name: "ca-key.pem".into(),
                bytes: key.as_bytes().to_vec(),
                secret: true,
            },
            public("root-cert.pem", &root),
            public("cert-chain.pem", &cert_chain),
            OutFile {
                name: "cacerts.yaml".into(),
                bytes: yaml.into_bytes(),
                secret: true,
            },
        ])
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        vec![
            "kubectl create namespace istio-system --dry-run=client -o yaml | kubectl apply -f -"
                .into(),
            format!(
                "kubectl create secret generic cacerts -n istio-system --from-file={d}/ca-cert.pem --from-file={d}/ca-key.pem --from-file={d}/root-cert.pem --from-file={d}/cert-chain.pem"
            ),
            "kubectl rollout restart deployment istiod -n istio-system".into(),
        ]
    }
}
