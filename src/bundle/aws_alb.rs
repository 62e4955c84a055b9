//! `aws-alb`: the CA bundle and CRLs of an Application Load Balancer trust
//! store (mutual TLS in verify mode). Rules: docs/trust-stores.md#aws-alb.

use super::checks::{AlbRevocations, KEY_FIX, Rules, SHA2_SIGNATURES, rsa_or_nist_ec};
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
            .alb_revocation_quotas(&AlbRevocations::of(c))
            .not_expired(c, Level::Warning)
            .done()
    }

    fn tracks_crl_uploads(&self) -> bool {
        true
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        let mut v = vec![
            format!("aws s3 cp {d}/ca-bundle.pem s3://BUCKET/certsmith/ca-bundle.pem"),
            "aws elbv2 create-trust-store --name certsmith --ca-certificates-bundle-s3-bucket BUCKET --ca-certificates-bundle-s3-key certsmith/ca-bundle.pem".into(),
            "# or, to replace the bundle of an existing trust store:".into(),
            "aws elbv2 modify-trust-store --trust-store-arn TRUST_STORE_ARN --ca-certificates-bundle-s3-bucket BUCKET --ca-certificates-bundle-s3-key certsmith/ca-bundle.pem".into(),
        ];
        let changed: Vec<_> = n.crl_uploads.iter().filter(|u| u.changed).collect();
        if !n.crl_uploads.is_empty() && changed.is_empty() {
            v.push("# every CRL is the one the last bundle printed: nothing to add (--force prints them again)".into());
        }
        // Added before the CRL it replaces is removed: revocation never lapses.
        for u in &changed {
            let f = &u.file;
            v.push(format!("aws s3 cp {d}/{f} s3://BUCKET/certsmith/{f}"));
            v.push(format!(
                "aws elbv2 add-trust-store-revocations --trust-store-arn TRUST_STORE_ARN --revocation-contents S3Bucket=BUCKET,S3Key=certsmith/{f},RevocationType=CRL"
            ));
        }
        let replaced: Vec<_> = changed
            .iter()
            .filter_map(|u| Some((u, u.replaces.as_ref()?)))
            .collect();
        if !replaced.is_empty() {
            v.push(
                "aws elbv2 describe-trust-store-revocations --trust-store-arn TRUST_STORE_ARN"
                    .into(),
            );
        }
        for (u, old) in replaced {
            v.push(format!(
                "# in that list, find the RevocationId of {} of CA '{}' (NumberOfRevokedEntries {}), which {} replaces, and remove it:",
                number(&old.crl_number),
                u.ca,
                old.entries,
                number(&u.crl.crl_number)
            ));
            v.push("aws elbv2 remove-trust-store-revocations --trust-store-arn TRUST_STORE_ARN --revocation-ids REVOCATION_ID".into());
        }
        v.push("aws elbv2 modify-listener --listener-arn LISTENER_ARN --mutual-authentication Mode=verify,TrustStoreArn=TRUST_STORE_ARN".into());
        v
    }
}

/// `CRL #3`, or `the CRL` when it has no number.
fn number(n: &Option<String>) -> String {
    n.as_ref()
        .map_or_else(|| "the CRL".to_string(), |n| format!("CRL #{n}"))
}
