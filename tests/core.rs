//! Core CA: init, intermediate, issue, sign, inspect, list, status.

use crate::common::*;

#[test]
fn device_cert_verifies_as_client_and_not_as_server() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev1"]);
    let d = env.cert_dir("dev1");
    let (ok, out) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslclient",
    );
    assert!(ok, "{out}");
    let (ok, _) = openssl_verify(
        &env.root_pem(),
        Some(&d.join("chain.pem")),
        &d.join("cert.pem"),
        "sslserver",
    );
    assert!(!ok);
}
