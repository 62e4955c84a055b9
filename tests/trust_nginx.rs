//! End to end: certsmith's nginx bundle and CRLs in a real nginx with
//! `ssl_verify_client on`, probed with curl; and the same matrix through a
//! rustls server that checks certsmith's CRLs. A device gets in; a revoked
//! device, a foreign device, no certificate and a server certificate used
//! as a client do not.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};

use crate::common::nginx::*;
use crate::common::*;

/// The PKI of the matrix: devices, a revoked device, a server cert, a foreign device.
struct Fixture {
    env: Env,
    foreign: Env,
}

fn fixture() -> Fixture {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "device-ok"]);
    env.ok(&["issue", "device-stolen"]);
    env.ok(&[
        "issue",
        "localhost",
        "--profile",
        "server",
        "--san",
        "dns:localhost",
        "--san",
        "ip:127.0.0.1",
    ]);
    env.ok(&["revoke", "device-stolen", "--reason", "key-compromise"]);
    // As docs/nginx.md says: publish the CRLs, then bundle.
    env.ok(&["crl"]);
    env.ok(&["bundle", "--target", "nginx"]);
    let foreign = Env::new();
    foreign.ok(&["init", "--cn", "Foreign Root", "--no-passphrase", "-q"]);
    foreign.ok(&[
        "intermediate",
        "issuing",
        "--cn",
        "Foreign Issuing",
        "--no-passphrase",
        "-q",
    ]);
    foreign.ok(&["issue", "device-alien"]);
    Fixture { env, foreign }
}

/// A client identity to present: (cert file, key file), or none.
fn identity(env: &Env, name: &str, full: bool) -> (PathBuf, PathBuf) {
    let d = env.cert_dir(name);
    (
        d.join(if full { "fullchain.pem" } else { "cert.pem" }),
        d.join("key.pem"),
    )
}

fn start_nginx(env: &Env, port: u16) -> Nginx {
    start_nginx_with(env, port, "")
}

#[test]
fn nginx_admits_a_device_and_rejects_revoked_foreign_anonymous_and_server_certs() {
    if !nginx_available() {
        return;
    }
    let f = fixture();
    let conf = std::fs::read_to_string(f.env.pki.join("bundles/nginx/nginx-mtls.conf")).unwrap();
    assert!(conf.contains("ssl_verify_depth 2;"), "{conf}");
    let port = free_port();
    let _nginx = start_nginx(&f.env, port);
    let env = &f.env;
    assert_eq!(
        curl(env, port, Some(identity(env, "device-ok", false))),
        "200",
        "device must get in"
    );
    let cases = [
        (
            "revoked device",
            Some(identity(env, "device-stolen", false)),
        ),
        (
            "foreign device",
            Some(identity(&f.foreign, "device-alien", true)),
        ),
        ("no client certificate", None),
        (
            "server certificate as client",
            Some(identity(env, "localhost", false)),
        ),
    ];
    for (what, id) in cases {
        let code = curl(env, port, id);
        assert_ne!(code, "200", "{what} must be rejected by nginx");
        assert!(
            code == "400" || code == "000",
            "{what}: unexpected HTTP status {code}"
        );
    }
}

#[test]
fn revoked_device_is_rejected_by_nginx_only_after_the_crl_is_published() {
    if !nginx_available() {
        return;
    }
    let f = fixture();
    let env = &f.env;
    env.ok(&["issue", "device-late"]);
    env.ok(&["revoke", "device-late"]);
    // The CRL nginx loaded predates the revocation: still admitted.
    let port = free_port();
    {
        let _nginx = start_nginx(env, port);
        assert_eq!(
            curl(env, port, Some(identity(env, "device-late", false))),
            "200"
        );
    }
    env.ok(&["crl"]);
    env.ok(&["bundle", "--target", "nginx"]);
    let port = free_port();
    let _nginx = start_nginx(env, port);
    assert_eq!(
        curl(env, port, Some(identity(env, "device-late", false))),
        "400"
    );
}

/// Live processes whose parent is `pid`, and `pid`'s process group.
fn children_and_group(pid: u32) -> (Vec<String>, Option<String>) {
    let fields = |stat: &str| -> Vec<String> {
        // pid (comm) state ppid pgrp …; comm may hold spaces, so split after ')'.
        stat.rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    };
    let mut kids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let f = fields(&stat);
        if f.len() > 2 && f[0] != "Z" && f[1] == pid.to_string() {
            kids.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    let group = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| fields(&s).get(2).cloned());
    (kids, group)
}

#[test]
fn nginx_started_by_a_test_ends_on_a_graceful_stop_and_shares_the_terminals_group() {
    if !nginx_available() {
        return;
    }
    let f = fixture();
    let port = free_port();
    let mut nginx = start_nginx(&f.env, port);
    let pid = nginx.child.id();
    let (kids, group) = children_and_group(pid);
    // One process: nothing a stop could leave behind.
    assert!(kids.is_empty(), "nginx started other processes: {kids:?}");
    // In the test's own process group, so Ctrl-C at the terminal reaches it.
    let (_, ours) = children_and_group(std::process::id());
    assert_eq!(group, ours, "nginx left the terminal's process group");
    // The graceful stop alone ends it (no kill fallback).
    assert!(nginx.stop(), "nginx did not end on `nginx -s quit`");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "nginx {pid} is still there"
    );
}

/// Drives a client and a server connection in memory until both finish the
/// handshake or one fails; returns the server's verdict.
fn handshake(
    client: &mut rustls::ClientConnection,
    server: &mut rustls::ServerConnection,
) -> Result<(), rustls::Error> {
    for _ in 0..32 {
        let mut buf = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            server.read_tls(&mut buf.as_slice()).unwrap();
            server.process_new_packets()?;
        }
        let mut buf = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut buf).unwrap();
        }
        if !buf.is_empty() {
            client.read_tls(&mut buf.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        if !client.is_handshaking() && !server.is_handshaking() && !client.wants_write() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn rustls_server_with_certsmith_crls_admits_only_the_valid_device() {
    let f = fixture();
    let env = &f.env;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(&env.root_pem()) {
        roots.add(c).unwrap();
    }
    let crls: Vec<CertificateRevocationListDer<'static>> = ["root", "issuing"]
        .iter()
        .map(|ca| {
            CertificateRevocationListDer::from_pem_file(
                env.pki.join("cas").join(ca).join("crl.pem"),
            )
            .unwrap()
        })
        .collect();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots.clone()),
        provider.clone(),
    )
    .with_crls(crls)
    .build()
    .unwrap();
    let server_dir = env.cert_dir("localhost");
    let server_config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                certs(&server_dir.join("fullchain.pem")),
                PrivateKeyDer::from_pem_file(server_dir.join("key.pem")).unwrap(),
            )
            .unwrap(),
    );
    let try_client = |id: Option<(PathBuf, PathBuf)>| -> Result<(), rustls::Error> {
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots.clone());
        let config = match id {
            Some((cert, key)) => builder
                .with_client_auth_cert(certs(&cert), PrivateKeyDer::from_pem_file(key).unwrap())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        let mut client = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut server = rustls::ServerConnection::new(server_config.clone()).unwrap();
        handshake(&mut client, &mut server)
    };
    try_client(Some(identity(env, "device-ok", true))).expect("the device must get in");
    let e = try_client(Some(identity(env, "device-stolen", true))).unwrap_err();
    assert!(
        format!("{e:?}").contains("Revoked"),
        "revoked device: {e:?}"
    );
    let e = try_client(Some(identity(&f.foreign, "device-alien", true))).unwrap_err();
    assert!(
        format!("{e:?}").contains("UnknownIssuer"),
        "foreign device: {e:?}"
    );
    let e = try_client(None).unwrap_err();
    assert!(
        format!("{e:?}").contains("NoCertificatesPresented"),
        "no certificate: {e:?}"
    );
    let e = try_client(Some(identity(env, "localhost", true))).unwrap_err();
    assert!(
        format!("{e:?}").contains("InvalidPurpose"),
        "server cert as client: {e:?}"
    );
}
