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
            .depth(c, 4)
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
            format!("aws s3 cp {d}/ca-bundle.pem s3://BUCKET/truststore.pem"),
            "# REST API:".into(),
            "aws apigateway create-domain-name --domain-name api.example.com --regional-certificate-arn ACM_CERT_ARN --endpoint-configuration types=REGIONAL --security-policy TLS_1_2 --mutual-tls-authentication truststoreUri=s3://BUCKET/truststore.pem".into(),
            "# HTTP API:".into(),
            "aws apigatewayv2 create-domain-name --domain-name api.example.com --domain-name-configurations CertificateArn=ACM_CERT_ARN,EndpointType=REGIONAL,SecurityPolicy=TLS_1_2 --mutual-tls-authentication TruststoreUri=s3://BUCKET/truststore.pem".into(),
            "aws apigateway get-domain-name --domain-name api.example.com --query mutualTlsAuthentication.truststoreWarnings".into(),
            "# API Gateway cannot read CRLs: check revocation in a Lambda authorizer (docs/aws-api-gateway.md)".into(),
        ]
    }
}
