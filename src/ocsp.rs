//! OCSP (RFC 6960, RFC 5019) as DER: reading a request, matching its
//! CertIDs to a CA, and building a signed response. No I/O: `serve` looks
//! statuses up and hands them in.

use aws_lc_rs::digest;
use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use rcgen::SigningKey;
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::spki::{self, AlgorithmIdentifierOwned};
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseBytes, ResponseData, RevokedInfo, SingleResponse,
};

use crate::error::{Error, Result};

const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");

/// The DER of id-pkix-ocsp-nocheck's value (NULL): a responder certificate
/// carrying it is not itself checked for revocation (RFC 6960 4.2.2.2.1).
pub const NOCHECK_OID: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

/// The value of the id-pkix-ocsp-nocheck extension.
pub fn nocheck_value() -> Vec<u8> {
    Null.to_der().unwrap_or_else(|_| vec![0x05, 0x00])
}

/// How a CA is named in CertIDs: hashes of its subject and public key.
#[derive(Clone, Debug)]
pub struct IssuerIds {
    sha1: (Vec<u8>, Vec<u8>),
    sha256: (Vec<u8>, Vec<u8>),
}

impl IssuerIds {
    /// From the CA certificate's subject (DER) and SubjectPublicKeyInfo (DER).
    pub fn new(subject_der: &[u8], spki_der: &[u8]) -> Result<IssuerIds> {
        let key = public_key_bits(spki_der)?;
        let h =
            |alg: &'static digest::Algorithm, b: &[u8]| digest::digest(alg, b).as_ref().to_vec();
        Ok(IssuerIds {
            sha1: (
                h(&digest::SHA1_FOR_LEGACY_USE_ONLY, subject_der),
                h(&digest::SHA1_FOR_LEGACY_USE_ONLY, &key),
            ),
            sha256: (h(&digest::SHA256, subject_der), h(&digest::SHA256, &key)),
        })
    }

    /// Whether `id` names this CA (SHA-1 or SHA-256 CertID).
    pub fn matches(&self, id: &CertId) -> bool {
        let (name, key) = match id.hash_algorithm.oid {
            SHA1 => &self.sha1,
            SHA256 => &self.sha256,
            _ => return false,
        };
        id.issuer_name_hash.as_bytes() == name.as_slice()
            && id.issuer_key_hash.as_bytes() == key.as_slice()
    }
}

/// The bits of the subjectPublicKey BIT STRING of an SPKI (what a CertID's
/// issuerKeyHash and a ResponderID byKey hash).
pub fn public_key_bits(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(|e| Error::failed(format!("cannot read a public key: {e}")))?;
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

/// A request as read: its CertIDs (each with its DER, the cache key) and
/// the nonce extension to echo, if any.
#[derive(Debug)]
pub struct Request {
    pub ids: Vec<(CertId, Vec<u8>)>,
    pub nonce: Option<Extension>,
}

/// Reads a DER OCSPRequest; `None` for anything that is not one (answered
/// with malformedRequest).
pub fn parse_request(der: &[u8]) -> Option<Request> {
    let req = OcspRequest::from_der(der).ok()?;
    let tbs = req.tbs_request;
    if tbs.request_list.is_empty() {
        return None;
    }
    let mut ids = Vec::with_capacity(tbs.request_list.len());
    for r in tbs.request_list {
        // No single-request extension is known: a critical one is refused.
        if r.single_request_extensions
            .iter()
            .flatten()
            .any(|e| e.critical)
        {
            return None;
        }
        let d = r.req_cert.to_der().ok()?;
        ids.push((r.req_cert, d));
    }
    let exts = tbs.request_extensions.unwrap_or_default();
    // RFC 6960 §4.4: a critical extension not understood must not be ignored.
    if exts.iter().any(|e| e.critical && e.extn_id != NONCE) {
        return None;
    }
    let nonce = exts.into_iter().find(|e| e.extn_id == NONCE);
    if nonce
        .as_ref()
        .is_some_and(|n| !(1..=MAX_NONCE).contains(&nonce_len(n)))
    {
        return None;
    }
    Some(Request { ids, nonce })
}

/// The longest nonce echoed, in octets: RFC 8954 has responders refuse
/// longer ones; it expects 1 to 32, and 33 to 128 are echoed too (they cost
/// a signature as any nonce does, and clients sending them exist).
pub const MAX_NONCE: usize = 128;

/// The length of a nonce: the OCTET STRING inside extnValue (RFC 8954),
/// or extnValue itself from a client that sends the octets bare.
fn nonce_len(n: &Extension) -> usize {
    let raw = n.extn_value.as_bytes();
    der::asn1::OctetString::from_der(raw).map_or(raw.len(), |o| o.as_bytes().len())
}

/// The status of one certificate, as the ledger says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Good,
    /// Revoked at this time (Unix seconds) for this CRL reason code.
    Revoked {
        at: i64,
        reason: u8,
    },
    Unknown,
}

/// What signs responses: the key, its algorithm, the ResponderID and the
/// certificate to include (a delegated responder's; none for the CA itself).
pub struct ResponderKey<'a> {
    pub key: &'a dyn SigningKey,
    /// The responder's SubjectPublicKeyInfo (DER).
    pub spki_der: &'a [u8],
    pub cert_der: Option<&'a [u8]>,
}

/// The responseStatus of a response made here, as logged: `successful`,
/// or the error status of a [`status_only`] response (its five bytes).
pub fn status_word(der: &[u8]) -> &'static str {
    match der {
        [0x30, 0x03, 0x0a, 0x01, 1] => "malformedRequest",
        [0x30, 0x03, 0x0a, 0x01, 2] => "internalError",
        [0x30, 0x03, 0x0a, 0x01, 3] => "tryLater",
        [0x30, 0x03, 0x0a, 0x01, 5] => "sigRequired",
        [0x30, 0x03, 0x0a, 0x01, 6] => "unauthorized",
        _ => "successful",
    }
}

/// A response with only a status: malformedRequest, internalError,
/// unauthorized and the like.
pub fn status_only(status: OcspResponseStatus) -> Vec<u8> {
    OcspResponse {
        response_status: status,
        response_bytes: None,
    }
    .to_der()
    // Three fixed bytes; the encoder cannot fail on them.
    .unwrap_or_else(|_| vec![0x30, 0x03, 0x0a, 0x01, status as u8])
}

/// The DER of malformedRequest.
pub fn malformed() -> Vec<u8> {
    status_only(OcspResponseStatus::MalformedRequest)
}

fn gtime(t: OffsetDateTime) -> Result<OcspGeneralizedTime> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| Error::failed("a time before 1970 in an OCSP response"))?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(|e| Error::failed(format!("cannot encode a time in an OCSP response: {e}")))
}

/// The signature AlgorithmIdentifier of `key`.
fn algorithm_of(key: &dyn SigningKey) -> Result<AlgorithmIdentifierOwned> {
    let alg = key.algorithm();
    let (oid, null) = if alg == &rcgen::PKCS_ECDSA_P256_SHA256 {
        ("1.2.840.10045.4.3.2", false)
    } else if alg == &rcgen::PKCS_ECDSA_P384_SHA384 {
        ("1.2.840.10045.4.3.3", false)
    } else if alg == &rcgen::PKCS_ED25519 {
        ("1.3.101.112", false)
    } else if alg == &rcgen::PKCS_RSA_SHA256 {
        ("1.2.840.113549.1.1.11", true)
    } else if alg == &rcgen::PKCS_RSA_SHA384 {
        ("1.2.840.113549.1.1.12", true)
    } else if alg == &rcgen::PKCS_RSA_SHA512 {
        ("1.2.840.113549.1.1.13", true)
    } else {
        return Err(Error::failed(
            "the OCSP signing key uses an algorithm certsmith cannot name",
        ));
    };
    let parameters = match null {
        true => Some(der::Any::from(Null)),
        false => None,
    };
    Ok(AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap(oid),
        parameters,
    })
}

/// Builds and signs a successful response for `answers` (each CertID with
/// its status), valid from `now` until `next_update`, echoing `nonce`.
pub fn respond(
    answers: &[(CertId, Status)],
    nonce: Option<&Extension>,
    signer: &ResponderKey<'_>,
    now: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>> {
    let this = gtime(now)?;
    let next = gtime(next_update)?;
    let mut responses = Vec::with_capacity(answers.len());
    for (id, status) in answers {
        let cert_status = match *status {
            Status::Good => CertStatus::good(),
            Status::Unknown => CertStatus::unknown(),
            Status::Revoked { at, reason } => CertStatus::revoked(RevokedInfo {
                revocation_time: gtime(
                    OffsetDateTime::from_unix_timestamp(at)
                        .map_err(|_| Error::failed("a bad revocation time in the ledger"))?,
                )?,
                revocation_reason: crl_reason(reason),
            }),
        };
        responses.push(SingleResponse {
            cert_id: id.clone(),
            cert_status,
            this_update: this,
            next_update: Some(next),
            single_extensions: None,
        });
    }
    let key_hash = digest::digest(
        &digest::SHA1_FOR_LEGACY_USE_ONLY,
        &public_key_bits(signer.spki_der)?,
    );
    let der_err = |e: der::Error| Error::failed(format!("cannot encode an OCSP response: {e}"));
    let tbs = ResponseData {
        version: Default::default(),
        responder_id: ResponderId::ByKey(OctetString::new(key_hash.as_ref()).map_err(der_err)?),
        produced_at: this,
        responses,
        response_extensions: nonce.map(|n| vec![n.clone()]),
    };
    let tbs_der = tbs.to_der().map_err(der_err)?;
    let signature = signer
        .key
        .sign(&tbs_der)
        .map_err(|e| Error::failed(format!("cannot sign an OCSP response: {e}")))?;
    let certs = match signer.cert_der {
        Some(d) => Some(vec![x509_cert::Certificate::from_der(d).map_err(der_err)?]),
        None => None,
    };
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: algorithm_of(signer.key)?,
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
        certs,
    };
    OcspResponse {
        response_status: OcspResponseStatus::Successful,
        response_bytes: Some(ResponseBytes {
            response_type: BASIC,
            response: OctetString::new(basic.to_der().map_err(der_err)?).map_err(der_err)?,
        }),
    }
    .to_der()
    .map_err(der_err)
}

fn crl_reason(code: u8) -> Option<CrlReason> {
    Some(match code {
        0 => CrlReason::Unspecified,
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        8 => CrlReason::RemoveFromCRL,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_a_request() {
        assert!(parse_request(b"not der").is_none());
        assert!(parse_request(&[0x30, 0x00]).is_none());
        assert_eq!(malformed(), vec![0x30, 0x03, 0x0a, 0x01, 0x01]);
    }
}
