//! `aws-alb`: the CA bundle and CRLs of an Application Load Balancer trust
//! store (mutual TLS in verify mode). Rules: docs/trust-stores.md#aws-alb.

use super::checks::{AlbRevocations, KEY_FIX, Rules, SHA2_OR_PSS_SIGNATURES, rsa_or_nist_ec};
use super::crl_uploads::{DEFAULT_TRUST_STORE, label};
use super::{Contents, Finding, Level, NextInput, Target, certsmith_cmd, quoted};

pub struct AwsAlb;

/// Default quota of CA certificates per trust store (adjustable on request).
const CA_QUOTA: usize = 25;
/// The quota "CA certificate subject size per trust store" (default 10,000;
/// the quota page gives no unit: certsmith counts the subjects' DER bytes,
/// which is what the trust store advertises to clients).
const SUBJECT_QUOTA: usize = 10_000;

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
            .signatures(c, SHA2_OR_PSS_SIGNATURES)
            .cert_size(c, 16 * 1024)
            .count(
                c,
                CA_QUOTA,
                Level::Warning,
                "the default quota of CA certificates per trust store",
            )
            .subject_size(
                c,
                SUBJECT_QUOTA,
                Level::Warning,
                "the default quota \"CA certificate subject size per trust store\"",
            )
            .depth(c, 4)
            .positive_serials(c)
            .crl_issuers_in_bundle(c)
            .crls_fresh(c, Level::Warning)
            .alb_revocation_quotas(&AlbRevocations::of(c))
            .not_expired(c, Level::Warning)
            .done()
    }

    fn tracks_crl_uploads(&self) -> bool {
        true
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display().to_string();
        let plan = n.crl_uploads;
        let store = plan.trust_store.as_str();
        let default = store == DEFAULT_TRUST_STORE;
        let prefix = if default {
            "certsmith".to_string()
        } else {
            format!("certsmith/{store}")
        };
        // The confirmation names the trust store and, if not the default, the bundle directory.
        let mut certsmith = certsmith_cmd(n.pki);
        certsmith.push_str(" bundle --target aws-alb");
        if !default {
            certsmith.push_str(&format!(" --trust-store {store}"));
        }
        if let Some(o) = &n.opts.out {
            certsmith.push_str(&format!(" --out {}", quoted(&o.display().to_string())));
        }
        let add = |file: &str| {
            format!(
                "aws elbv2 add-trust-store-revocations --trust-store-arn TRUST_STORE_ARN --revocation-contents S3Bucket=BUCKET,S3Key={prefix}/{file},RevocationType=CRL --query 'TrustStoreRevocations[].RevocationId' --output text"
            )
        };
        let remove = |id: Option<u64>| {
            format!(
                "aws elbv2 remove-trust-store-revocations --trust-store-arn TRUST_STORE_ARN --revocation-ids {}",
                id.map_or_else(|| "REVOCATION_ID".to_string(), |i| i.to_string())
            )
        };
        let listener = "aws elbv2 modify-listener --listener-arn LISTENER_ARN --mutual-authentication Mode=verify,TrustStoreArn=TRUST_STORE_ARN".to_string();
        let mut v = vec![format!(
            "aws s3 cp {} s3://BUCKET/{prefix}/ca-bundle.pem",
            quoted(&format!("{d}/ca-bundle.pem"))
        )];
        for u in &plan.uploads {
            v.push(format!(
                "aws s3 cp {} s3://BUCKET/{prefix}/{}",
                quoted(&format!("{d}/{}", u.file)),
                u.file
            ));
        }
        v.push(format!(
            "# EITHER a new trust store '{store}': run this block only"
        ));
        v.push(format!("aws elbv2 create-trust-store --name TRUST_STORE_NAME --ca-certificates-bundle-s3-bucket BUCKET --ca-certificates-bundle-s3-key {prefix}/ca-bundle.pem"));
        if !plan.uploads.is_empty() {
            v.push(format!("# a new trust store needs every CRL: add each, then confirm the RevocationId it prints ({certsmith} --uploaded CA#CRL_NUMBER=REVOCATION_ID):"));
            for u in &plan.uploads {
                v.push(add(&u.file));
                v.push(format!(
                    "{certsmith} --uploaded {}#{}=REVOCATION_ID",
                    u.ca,
                    label(&u.crl)
                ));
            }
        }
        v.push(listener.clone());
        v.push(format!(
            "# OR, the existing trust store '{store}': run this block only, replacing its bundle"
        ));
        v.push(format!("aws elbv2 modify-trust-store --trust-store-arn TRUST_STORE_ARN --ca-certificates-bundle-s3-bucket BUCKET --ca-certificates-bundle-s3-key {prefix}/ca-bundle.pem"));
        for l in &plan.leftovers {
            v.push(format!(
                "# CA '{}' is no longer in the bundle: remove its list, then clear its record",
                l.ca
            ));
            v.push(remove(l.crl.revocation_id));
            v.push(format!("{certsmith} --removed {}", l.ca));
        }
        let changed: Vec<_> = plan.uploads.iter().filter(|u| u.changed).collect();
        if !plan.uploads.is_empty() && changed.is_empty() {
            v.push(format!("# every CRL is the one confirmed for trust store '{store}': nothing to add (--force prints every add again)"));
        }
        if !changed.is_empty() && !plan.any_confirmed {
            v.push("# nothing was confirmed for this trust store yet: lists it already holds (aws elbv2 describe-trust-store-revocations --trust-store-arn TRUST_STORE_ARN) are removed by hand once the adds below are confirmed".into());
        }
        // Each CA in turn: add, confirm, then remove the list it replaces, so
        // revocation never lapses and one free list is enough.
        for u in changed {
            v.push(add(&u.file));
            v.push(format!(
                "{certsmith} --uploaded {}#{}=REVOCATION_ID",
                u.ca,
                label(&u.crl)
            ));
            if let Some(old) = &u.replaces {
                v.push(remove(old.revocation_id));
            }
        }
        v.push(listener);
        v
    }
}
