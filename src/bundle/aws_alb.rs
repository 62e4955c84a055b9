//! `aws-alb`: the CA bundle and CRLs of an Application Load Balancer trust
//! store (mutual TLS in verify mode). Rules: docs/trust-stores.md#aws-alb.

use super::checks::{KEY_FIX, Rules, SHA2_SIGNATURES, rsa_or_nist_ec};
use super::{Contents, Finding, Level, NextInput, Target};

pub struct AwsAlb;

/// Default quota of CA certificates per trust store (adjustable on request).
const CA_QUOTA: usize = 25;

impl Target for AwsAlb {
    fn name(&self) -> &'static str {
        "aws-alb"
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        Rules::new(self.name())
            .pem_only(c, Some(true), false)
            .v3(c)
            .ca_only(c)
            .keys(
                c,
                rsa_or_nist_ec,
                "RSA 2048 to 8192 bits or ECDSA P-256, P-384, P-521 (no Ed25519)",
                KEY_FIX,
            )
            .signatures(c, SHA2_SIGNATURES)
            .cert_size(c, 16 * 1024)
            .count(
                c,
                CA_QUOTA,
                Level::Warning,
                "the default quota of CA certificates per trust store",
            )
            .depth(c, 4)
            .positive_serials(c)
            .crl_issuers_in_bundle(c)
            .crls_fresh(c)
            .not_expired(c, Level::Warning)
            .done()
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        let mut v = vec![
            format!("aws s3 cp {d}/ca-bundle.pem s3://BUCKET/certsmith/ca-bundle.pem"),
            "aws elbv2 create-trust-store --name certsmith --ca-certificates-bundle-s3-bucket BUCKET --ca-certificates-bundle-s3-key certsmith/ca-bundle.pem".into(),
            "# or, to replace the bundle of an existing trust store:".into(),
            "aws elbv2 modify-trust-store --trust-store-arn TRUST_STORE_ARN --ca-certificates-bundle-s3-bucket BUCKET --ca-certificates-bundle-s3-key certsmith/ca-bundle.pem".into(),
        ];
        for f in n.crl_files {
            v.push(format!("aws s3 cp {d}/{f} s3://BUCKET/certsmith/{f}"));
            v.push(format!(
                "aws elbv2 add-trust-store-revocations --trust-store-arn TRUST_STORE_ARN --revocation-contents S3Bucket=BUCKET,S3Key=certsmith/{f},RevocationType=CRL"
            ));
        }
        v.push("aws elbv2 modify-listener --listener-arn LISTENER_ARN --mutual-authentication Mode=verify,TrustStoreArn=TRUST_STORE_ARN".into());
        v
    }
}
