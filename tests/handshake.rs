//! Real mTLS handshakes over loopback TCP between a rustls server that
//! requires client certificates and a rustls client, all certificates from
//! certsmith.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::common::*;

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    let text = std::fs::read_to_string(path).unwrap();
    pem::parse_many(text)
        .unwrap()
        .into_iter()
        .map(|p| CertificateDer::from(p.into_contents()))
        .collect()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    let p = pem::parse(std::fs::read_to_string(path).unwrap()).unwrap();
    PrivateKeyDer::try_from(p.into_contents()).unwrap()
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(root: &Path) -> Arc<rustls::RootCertStore> {
    let mut r = rustls::RootCertStore::empty();
    for c in certs(root) {
        r.add(c).unwrap();
    }
    Arc::new(r)
}

/// Runs one mTLS exchange: the server trusts `server_root` for clients and
/// presents `server_dir`; the client trusts `client_root` and presents `client_dir`.
/// Returns the server's outcome.
pub(crate) fn handshake(
    server_root: &Path,
    server_dir: &Path,
    client_root: &Path,
    client_dir: Option<&Path>,
) -> Result<(), String> {
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots(server_root), provider())
            .build()
            .unwrap();
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            certs(&server_dir.join("fullchain.pem")),
            key(&server_dir.join("key.pem")),
        )
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(client_root));
    let client_cfg = match client_dir {
        Some(d) => builder
            .with_client_auth_cert(certs(&d.join("fullchain.pem")), key(&d.join("key.pem")))
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || -> Result<(), String> {
        let (sock, _) = listener.accept().map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let conn =
            rustls::ServerConnection::new(Arc::new(server_cfg)).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).map_err(|e| e.to_string())?;
        tls.write_all(b"world").map_err(|e| e.to_string())?;
        tls.flush().map_err(|e| e.to_string())?;
        Ok(())
    });
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let conn = rustls::ClientConnection::new(
        Arc::new(client_cfg),
        ServerName::try_from("api.test.internal").unwrap(),
    )
    .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let client = tls.write_all(b"hello").and_then(|_| {
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).map(|_| buf)
    });
    let server_result = server.join().unwrap();
    if server_result.is_ok() {
        assert_eq!(&client.expect("client saw the reply"), b"world");
    }
    server_result
}

fn pki_with_server_and_devices() -> Env {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "issue",
        "api",
        "--profile",
        "server",
        "--san",
        "dns:api.test.internal",
        "-q",
    ]);
    for key in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"] {
        env.ok(&["issue", &format!("dev-{key}"), "--key", key, "-q"]);
    }
    env
}

#[test]
fn device_certificates_of_every_key_type_complete_an_mtls_handshake() {
    let env = pki_with_server_and_devices();
    for key in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"] {
        let r = handshake(
            &env.root_pem(),
            &env.cert_dir("api"),
            &env.root_pem(),
            Some(&env.cert_dir(&format!("dev-{key}"))),
        );
        assert!(r.is_ok(), "{key}: {r:?}");
    }
}

#[test]
fn device_certificate_from_another_pki_is_refused_by_the_server() {
    let env = pki_with_server_and_devices();
    // A foreign PKI with its own names: no issuer to chain to.
    let other = Env::new();
    other.ok(&["init", "--cn", "Other Root", "--no-passphrase", "-q"]);
    other.ok(&[
        "intermediate",
        "issuing",
        "--cn",
        "Other Issuing",
        "--no-passphrase",
        "-q",
    ]);
    other.ok(&["issue", "intruder", "-q"]);
    let r = handshake(
        &env.root_pem(),
        &env.cert_dir("api"),
        &env.root_pem(),
        Some(&other.cert_dir("intruder")),
    );
    let err = r.expect_err("a foreign device must be refused");
    assert!(err.contains("UnknownIssuer"), "{err}");
    // A foreign PKI that copies our CA names: the signature gives it away.
    let copy = Env::new();
    copy.hierarchy();
    copy.ok(&["issue", "impostor", "-q"]);
    let r = handshake(
        &env.root_pem(),
        &env.cert_dir("api"),
        &env.root_pem(),
        Some(&copy.cert_dir("impostor")),
    );
    let err = r.expect_err("a device from a PKI with copied names must be refused");
    assert!(err.contains("BadSignature"), "{err}");
}

#[test]
fn client_without_a_certificate_is_refused_by_the_server() {
    let env = pki_with_server_and_devices();
    let r = handshake(&env.root_pem(), &env.cert_dir("api"), &env.root_pem(), None);
    let err = r.expect_err("no client certificate must be refused");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn server_profile_certificate_is_refused_as_a_client_certificate() {
    let env = pki_with_server_and_devices();
    env.ok(&[
        "issue",
        "other-server",
        "--profile",
        "server",
        "--san",
        "dns:other.test.internal",
        "-q",
    ]);
    let r = handshake(
        &env.root_pem(),
        &env.cert_dir("api"),
        &env.root_pem(),
        Some(&env.cert_dir("other-server")),
    );
    let err = r.expect_err("a serverAuth-only certificate must not authenticate a client");
    assert!(
        err.contains("does not allow extended key usage for client authentication"),
        "{err}"
    );
}
