//! `aws-apigw`: the truststore of an API Gateway custom domain name with
//! mutual TLS (REST and HTTP APIs). It has no CRL support: revocation is
//! checked in a Lambda authorizer (docs/aws-api-gateway.md).

use super::checks::{KEY_FIX, Rules, SHA2_SIGNATURES};
use super::{Contents, CrlSupport, Finding, NextInput, Target};
use crate::bundle::Level;
use crate::keys::{Curve, PublicKeyKind};

pub struct AwsApigw;

impl Target for AwsApigw {
    fn name(&self) -> &'static str {
        "aws-apigw"
    }

    fn crls(&self) -> CrlSupport {
        CrlSupport::Unsupported
    }

    fn revocation_instead(&self) -> &'static str {
        "check revocation in a Lambda authorizer (docs/aws-api-gateway.md)"
    }

    fn check(&self, c: &Contents) -> Vec<Finding> {
        Rules::new(self.name())
            .pem_only(c, None, true)
            .ca_only(c)
            .v3(c)
            .count(c, 1000, Level::Error, "the most a truststore may hold")
            .total_size(c, 1024 * 1024)
            .complete_chains(c)
            .ca_chain_depth(c, 4)
            .distinct_subjects(c, "API Gateway reports a truststore warning and clients chaining to the other one may be refused")
            .signatures(c, SHA2_SIGNATURES)
            .keys(
                c,
                |k| match k {
                    PublicKeyKind::Rsa(bits) => *bits >= 2048,
                    PublicKeyKind::Ec(Curve::P256 | Curve::P384 | Curve::P521) => true,
                    _ => false,
                },
                "RSA 2048 bits or more, or ECDSA with 256 bits or more",
                KEY_FIX,
            )
            .not_expired(c, Level::Warning)
            .done()
    }

    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String> {
        let d = n.dir.display();
        vec![
            "# S3 versioning on, so each upload has a version the domain name can pin:".into(),
            "aws s3api put-bucket-versioning --bucket BUCKET --versioning-configuration Status=Enabled".into(),
            format!("aws s3 cp {d}/ca-bundle.pem s3://BUCKET/truststore.pem"),
            "aws s3api head-object --bucket BUCKET --key truststore.pem --query VersionId --output text".into(),
            "# EITHER a REST API custom domain name (a new one; an existing one: the update below):".into(),
            "aws apigateway create-domain-name --domain-name api.example.com --regional-certificate-arn ACM_CERT_ARN --endpoint-configuration types=REGIONAL --security-policy TLS_1_2 --mutual-tls-authentication truststoreUri=s3://BUCKET/truststore.pem,truststoreVersion=VERSION_ID".into(),
            "# a server certificate from ACM Private CA (or imported) also needs a public ACM certificate for the same name: add --ownership-verification-certificate-arn ACM_PUBLIC_CERT_ARN".into(),
            "aws apigateway update-domain-name --domain-name api.example.com --patch-operations op=replace,path=/mutualTlsAuthentication/truststoreVersion,value=VERSION_ID".into(),
            "aws apigateway get-domain-name --domain-name api.example.com --query mutualTlsAuthentication.truststoreWarnings".into(),
            "# OR an HTTP API custom domain name:".into(),
            "aws apigatewayv2 create-domain-name --domain-name api.example.com --domain-name-configurations CertificateArn=ACM_CERT_ARN,EndpointType=REGIONAL,SecurityPolicy=TLS_1_2 --mutual-tls-authentication TruststoreUri=s3://BUCKET/truststore.pem,TruststoreVersion=VERSION_ID".into(),
            "# a private-CA server certificate: add OwnershipVerificationCertificateArn=ACM_PUBLIC_CERT_ARN to --domain-name-configurations (REST: --ownership-verification-certificate-arn)".into(),
            "aws apigatewayv2 update-domain-name --domain-name api.example.com --domain-name-configurations CertificateArn=ACM_CERT_ARN,EndpointType=REGIONAL,SecurityPolicy=TLS_1_2 --mutual-tls-authentication TruststoreUri=s3://BUCKET/truststore.pem,TruststoreVersion=VERSION_ID".into(),
            "aws apigatewayv2 get-domain-name --domain-name api.example.com --query MutualTlsAuthentication.TruststoreWarnings".into(),
            "# API Gateway cannot read CRLs: check revocation in a Lambda authorizer (docs/aws-api-gateway.md)".into(),
        ]
    }
}
