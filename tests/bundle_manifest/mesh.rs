//! A CA exported for a mesh: its workloads must never pass a client-auth
//! trust store. Leaving the mesh CA's certificate out is not enough when the
//! bundle's anchor is an ancestor of it, so such a bundle is refused unless
//! its CAs are named with `--ca`; a mesh CA with a root of its own keeps its
//! workloads out, proven with `openssl verify`.

use super::{manifest_cas, read};
use crate::common::*;

/// A mesh CA `istio-ca` made as the hint says: under a root of its own.
fn mesh_with_own_root(env: &Env) {
    env.ok(&[
        "init",
        "--name",
        "mesh-root",
        "--cn",
        "Mesh Root CA",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "istio-ca",
        "--issuer",
        "mesh-root",
        "--cn",
        "Istio Mesh CA",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["bundle", "--target", "istio", "--ca", "istio-ca"]);
}

#[test]
fn a_client_auth_bundle_anchored_above_a_mesh_ca_is_refused_unless_its_cas_are_named() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "intermediate",
        "mesh-ca",
        "--cn",
        "Mesh CA",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["bundle", "--target", "istio", "--ca", "mesh-ca"]);
    for target in ["aws-alb", "generic", "haproxy"] {
        let err = refused(&env, &["bundle", "--target", target, "--accept-ca-change"]);
        assert!(
            err.contains("CA 'root' is an ancestor of CA 'mesh-ca'")
                && err.contains("workloads pass"),
            "{err}"
        );
        assert!(
            err.contains("certsmith init --name mesh-root --cn ")
                && err.contains("certsmith intermediate istio-ca --issuer mesh-root --cn "),
            "{err}"
        );
        assert!(!env.pki.join("bundles").join(target).exists());
    }
    // Named with --ca: written, with a warning that the mesh's workloads pass.
    let out = env.ok(&["bundle", "--target", "aws-alb", "--ca", "issuing"]);
    assert_eq!(manifest_cas(&env, "aws-alb"), ["issuing", "root"]);
    assert!(
        out.contains("warning: aws-alb rule 'mesh-workloads-pass'")
            && out.contains("certificates istio signs with CA 'mesh-ca' pass this trust store"),
        "{out}"
    );
}

#[test]
fn a_mesh_workload_fails_openssl_verify_against_a_client_auth_bundle() {
    let env = Env::new();
    env.hierarchy();
    mesh_with_own_root(&env);
    env.ok(&["issue", "device-1", "--ca", "issuing", "-q"]);
    env.ok(&[
        "issue",
        "wl",
        "--ca",
        "istio-ca",
        "--profile",
        "peer",
        "--san",
        "dns:wl.ns.svc",
        "-q",
    ]);
    for target in ["aws-alb", "generic", "haproxy"] {
        if target == "haproxy" {
            env.ok(&["crl", "-q"]);
        }
        let out = env.ok(&["bundle", "--target", target]);
        assert_eq!(manifest_cas(&env, target), ["issuing", "root"], "{out}");
        let bundle = env.pki.join("bundles").join(target).join("ca-bundle.pem");
        // What istio sends: the workload certificate with the mesh CA's chain.
        let chain = env.pki.join("certs/wl/chain.pem");
        assert!(read(chain.clone()).contains("BEGIN CERTIFICATE"));
        let (ok, text) = openssl_verify(
            &bundle,
            Some(&chain),
            &env.pki.join("certs/wl/cert.pem"),
            "sslclient",
        );
        assert!(!ok, "a mesh workload passed the {target} bundle: {text}");
        let (ok, text) = openssl_verify(
            &bundle,
            Some(&env.pki.join("certs/device-1/chain.pem")),
            &env.pki.join("certs/device-1/cert.pem"),
            "sslclient",
        );
        assert!(ok, "a device must pass the {target} bundle: {text}");
    }
}

#[test]
fn bootstrap_for_istio_gives_the_mesh_a_root_of_its_own_and_issues_no_device_from_it() {
    let env = Env::new();
    env.ok(&[
        "bootstrap",
        "--org",
        "Acme",
        "--target",
        "istio",
        "--no-passphrase",
        "--yes",
        "-q",
    ]);
    let m: serde_json::Value =
        serde_json::from_str(&read(env.pki.join("bundles/istio/manifest.json"))).unwrap();
    let names: Vec<&str> = m["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["istio-ca", "mesh-root"]);
    assert_eq!(
        read(env.pki.join("bundles/istio/ca-cert.pem")),
        read(env.pki.join("cas/istio-ca/ca.pem"))
    );
    // The first device comes from the device CA, not from the mesh's.
    let list = env.json(&["list"])["certificates"].clone();
    let device = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "device-001")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(device["issuer"], "issuing", "{device}");
    // A client-auth bundle trusts the devices' root only.
    env.ok(&["bundle", "--target", "generic"]);
    assert_eq!(manifest_cas(&env, "generic"), ["issuing", "root"]);
}
