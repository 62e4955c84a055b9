//! A bundle's CA set is chosen on purpose: each target remembers the CAs it
//! was last bundled with, a bundle without `--ca` refuses when the current
//! CAs differ, and a CA whose key was exported for a mesh stays out of
//! client-auth bundles unless named. Also the istio and k8s bundles' names
//! and hints, and (in `aws`) the AWS targets' rules and printed steps.

mod aws;
mod crl_hint;
mod gone;
mod k8s_names;
mod mesh;

use crate::common::*;

fn read(p: std::path::PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The PKI names of the CAs in a bundle's manifest.json.
fn manifest_cas(env: &Env, target: &str) -> Vec<String> {
    let m: serde_json::Value = serde_json::from_str(&read(
        env.pki.join("bundles").join(target).join("manifest.json"),
    ))
    .unwrap();
    let mut v: Vec<String> = m["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_bundle_without_ca_refuses_a_new_ca_until_it_is_named_or_the_change_accepted() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "-q"]);
    env.ok(&["bundle", "--target", "haproxy"]);
    // The same CAs: the routine after every revoke keeps working.
    env.ok(&["bundle", "--target", "haproxy"]);
    env.ok(&[
        "intermediate",
        "partner",
        "--cn",
        "Partner CA",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["crl", "-q"]);
    let before = env.tree_hash();
    let err = env.fails(2, &["bundle", "--target", "haproxy"]);
    assert!(
        err.contains(
            "certsmith: the CAs of target 'haproxy' would change from the last bundle: CA 'partner' added"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: ")
            && err.contains("--ca issuing")
            && err.contains("--accept-ca-change"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before, "a refused bundle changes nothing");
    assert_eq!(manifest_cas(&env, "haproxy"), ["issuing", "root"]);

    // Accepted on purpose: the new set is written and remembered.
    env.ok(&["bundle", "--target", "haproxy", "--accept-ca-change"]);
    assert_eq!(
        manifest_cas(&env, "haproxy"),
        ["issuing", "partner", "root"]
    );
    env.ok(&["bundle", "--target", "haproxy"]);

    // Named with --ca: that set is the remembered one, the printed
    // after-revoke routine names it again, and a later bundle without --ca
    // names what it would add.
    let out = env.ok(&["bundle", "--target", "haproxy", "--ca", "issuing"]);
    assert!(
        out.contains(&format!(
            "certsmith --pki {p} crl && certsmith --pki {p} bundle --target haproxy --ca issuing && sudo systemctl reload haproxy",
            p = env.pki.display()
        )),
        "{out}"
    );
    assert_eq!(manifest_cas(&env, "haproxy"), ["issuing", "root"]);
    let err = env.fails(2, &["bundle", "--target", "haproxy"]);
    assert!(err.contains("CA 'partner' added"), "{err}");

    // Each target remembers its own set: a first nginx bundle takes every CA.
    env.ok(&["bundle", "--target", "nginx"]);
    assert_eq!(manifest_cas(&env, "nginx"), ["issuing", "partner", "root"]);
}

/// Runs certsmith at the fixed time `now`; (exit code, stdout, stderr).
fn at(env: &Env, now: &str, args: &[&str]) -> (i32, String, String) {
    let out = env
        .command(args)
        .env("CERTSMITH_NOW", now)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bundle_without_ca_refuses_when_a_remembered_ca_leaves_for_the_mesh() {
    // A CA that left the set because it was revoked, expired or retired is
    // dropped with a note (bundle_manifest::gone); one left out because its
    // key went to a mesh still changes who a trust store admits on purpose.
    let env = Env::new();
    env.hierarchy();
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
        "mesh-ca",
        "--issuer",
        "mesh-root",
        "--cn",
        "Mesh CA",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["bundle", "--target", "generic"]);
    assert_eq!(
        manifest_cas(&env, "generic"),
        ["issuing", "mesh-ca", "mesh-root", "root"]
    );
    env.ok(&["bundle", "--target", "istio", "--ca", "mesh-ca"]);
    let err = refused(&env, &["bundle", "--target", "generic"]);
    assert!(
        err.contains("CA 'mesh-ca' removed, CA 'mesh-root' removed"),
        "{err}"
    );
    env.ok(&["bundle", "--target", "generic", "--accept-ca-change"]);
    assert_eq!(manifest_cas(&env, "generic"), ["issuing", "root"]);
}

#[test]
fn a_ca_exported_for_the_mesh_stays_out_of_client_auth_bundles_unless_named() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["crl", "-q"]);
    env.ok(&["bundle", "--target", "haproxy"]);
    // A mesh CA under a root of its own, as the istio hint says.
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
        "mesh-ca",
        "--issuer",
        "mesh-root",
        "--cn",
        "Mesh CA",
        "--no-passphrase",
        "-q",
    ]);
    env.ok(&["crl", "-q"]);
    env.ok(&["bundle", "--target", "istio", "--ca", "mesh-ca"]);
    // The routine after a revoke: the mesh CA is not added behind the operator's back.
    let out = env.ok(&["bundle", "--target", "haproxy"]);
    assert_eq!(manifest_cas(&env, "haproxy"), ["issuing", "root"]);
    assert!(
        out.contains("CA 'mesh-ca' is left out: its key was exported for istio"),
        "{out}"
    );
    // Nor by accepting a change, nor in a first bundle of another target.
    env.ok(&["bundle", "--target", "haproxy", "--accept-ca-change"]);
    assert_eq!(manifest_cas(&env, "haproxy"), ["issuing", "root"]);
    env.ok(&["bundle", "--target", "aws-alb"]);
    assert_eq!(manifest_cas(&env, "aws-alb"), ["issuing", "root"]);
    // Named, it is included, with a warning that the mesh's workloads pass.
    let out = env.ok(&[
        "bundle", "--target", "haproxy", "--ca", "issuing", "--ca", "mesh-ca",
    ]);
    assert_eq!(
        manifest_cas(&env, "haproxy"),
        ["issuing", "mesh-ca", "mesh-root", "root"]
    );
    assert!(out.contains("rule 'mesh-workloads-pass'"), "{out}");
}

#[test]
fn a_root_exported_for_the_mesh_refuses_every_bundle_it_anchors_unless_named() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["bundle", "--target", "istio", "--ca", "root"]);
    let err = refused(&env, &["bundle", "--target", "generic"]);
    assert!(
        err.contains("certsmith: CA 'root' is in the bundle though its key was exported for istio: the mesh's workloads pass"),
        "{err}"
    );
    let out = env.ok(&["bundle", "--target", "generic", "--ca", "issuing"]);
    assert_eq!(manifest_cas(&env, "generic"), ["issuing", "root"]);
    assert!(
        out.contains("warning: generic rule 'mesh-workloads-pass': CA 'root' is in the bundle though its key was exported for istio: certificates istio signs with CA 'root' pass this trust store"),
        "{out}"
    );
    assert!(!out.contains("mesh-ca-left-out"), "{out}");
}

#[test]
fn istio_refuses_without_ca_and_names_the_command_that_makes_a_mesh_ca() {
    let env = Env::new();
    env.hierarchy();
    let before = env.tree_hash();
    let err = env.fails(2, &["bundle", "--target", "istio"]);
    assert!(
        err.contains("certsmith: --target istio needs --ca naming the CA istiod signs with"),
        "{err}"
    );
    assert!(
        err.contains("hint: ")
            && err.contains("certsmith init --name mesh-root --cn ")
            && err.contains("certsmith intermediate istio-ca --issuer mesh-root --cn "),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
    assert!(!env.pki.join("bundles/istio").exists());
}

#[test]
fn k8s_secret_of_a_cert_is_named_as_export_names_it_and_the_hint_uses_that_name() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&[
        "issue",
        "Web_Server.X",
        "--profile",
        "server",
        "--san",
        "dns:web.example.com",
        "-q",
    ]);
    let out = env.ok(&["bundle", "--target", "k8s", "--cert", "Web_Server.X"]);
    let yaml = read(env.pki.join("bundles/k8s/secret.yaml"));
    assert!(yaml.contains("\n  name: web-server.x\n"), "{yaml}");
    let exported = env.path("export.yaml");
    env.ok(&[
        "export",
        "Web_Server.X",
        "--format",
        "k8s-secret",
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(read(exported).contains("\n  name: web-server.x\n"));
    assert!(
        out.contains("auth-tls-secret: NAMESPACE/web-server.x"),
        "{out}"
    );
    assert!(out.contains("auth-tls-verify-depth: \"2\""), "{out}");
    // Without --cert, the CA Secret's own name.
    let out = env.ok(&["bundle", "--target", "k8s"]);
    assert!(
        out.contains("auth-tls-secret: NAMESPACE/certsmith-ca"),
        "{out}"
    );
}

#[test]
fn a_retired_ca_leaving_after_its_last_certificate_is_not_refused_while_an_added_ca_still_is() {
    let env = Env::new();
    let t0 = "2026-12-02T14:00:00Z";
    for args in [
        &["init", "--cn", "Test Root CA", "--no-passphrase", "-q"][..],
        &[
            "intermediate",
            "issuing",
            "--cn",
            "Old CA",
            "--no-passphrase",
            "-q",
        ],
        &[
            "intermediate",
            "next",
            "--cn",
            "New CA",
            "--no-passphrase",
            "-q",
        ],
        &[
            "issue",
            "dev-1",
            "--ca",
            "issuing",
            "--validity",
            "30d",
            "-q",
        ],
        &["bundle", "--target", "generic"],
        &["ca", "default", "next", "-q"],
        &["ca", "retire", "issuing", "-q"],
    ] {
        let (code, out, err) = at(&env, t0, args);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
    }
    assert_eq!(manifest_cas(&env, "generic"), ["issuing", "next", "root"]);
    // dev-1 expired on 2027-01-01: the retired CA leaves, as `ca retire`
    // asked, with a note and without --accept-ca-change.
    let later = "2027-01-05T00:00:00Z";
    let (code, _, err) = at(&env, later, &["bundle", "--target", "generic"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("CA 'issuing' is retired") && err.contains("left out"),
        "{err}"
    );
    assert_eq!(manifest_cas(&env, "generic"), ["next", "root"]);
    // The remembered set was updated: an unrelated new CA is still refused,
    // and the refusal names only it.
    let (code, out, err) = at(
        &env,
        later,
        &[
            "intermediate",
            "partner",
            "--cn",
            "Partner CA",
            "--no-passphrase",
            "-q",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let before = env.tree_hash();
    let (code, _, err) = at(&env, later, &["bundle", "--target", "generic"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "certsmith: the CAs of target 'generic' would change from the last bundle: CA 'partner' added"
        ),
        "{err}"
    );
    assert!(!err.contains("removed"), "{err}");
    assert_eq!(env.tree_hash(), before, "a refused bundle changes nothing");
    assert_eq!(manifest_cas(&env, "generic"), ["next", "root"]);
}
