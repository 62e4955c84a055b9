//! The bundle commands `crl` prints ("Publish it before …") repeat what
//! each target's last bundle was asked for (`--ca`, `--cert`, `--out`),
//! leave out targets that read no CRL, and each runs as printed.

use super::read;
use crate::common::*;

#[test]
fn every_bundle_command_crl_prints_repeats_the_last_bundle_and_succeeds() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["intermediate", "b", "--cn", "B", "--no-passphrase", "-q"]);
    env.ok(&["ca", "default", "issuing", "-q"]);
    env.ok(&[
        "issue",
        "Web_Server.X",
        "--profile",
        "server",
        "--san",
        "dns:web.example",
        "-q",
    ]);
    env.ok(&[
        "init",
        "--name",
        "mesh-root",
        "--cn",
        "Mesh Root",
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
    let elsewhere = env.path("generic out");
    let code = "a1b2".repeat(16);
    for args in [
        &["bundle", "--target", "istio", "--ca", "mesh-ca"][..],
        &["bundle", "--target", "aws-alb"],
        &[
            "bundle",
            "--target",
            "aws-iot",
            "--ca",
            "b",
            "--registration-code",
            &code,
        ],
        &["bundle", "--target", "aws-apigw"],
        &["bundle", "--target", "nginx", "--ca", "issuing"],
        &["bundle", "--target", "haproxy"],
        &["bundle", "--target", "k8s", "--cert", "Web_Server.X"],
        &["bundle", "--target", "generic", "--out", s(&elsewhere)],
    ] {
        env.ok(args);
    }
    env.ok(&["issue", "lost-device", "-q"]);
    env.ok(&["revoke", "lost-device", "--reason", "key-compromise", "-q"]);
    let out = env.ok(&["crl"]);
    let lines: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Publish it before "))
        .skip(1)
        .map(str::trim)
        .filter(|l| l.starts_with("certsmith "))
        .collect();
    let p = env.pki.display();
    let want = [
        format!(
            "certsmith --pki {p} bundle --target generic --out '{}' --with-crl",
            std::path::absolute(&elsewhere).unwrap().display()
        ),
        format!("certsmith --pki {p} bundle --target aws-alb --with-crl"),
        format!("certsmith --pki {p} bundle --target nginx --ca issuing --with-crl"),
        format!("certsmith --pki {p} bundle --target haproxy --with-crl"),
        format!("certsmith --pki {p} bundle --target k8s --cert Web_Server.X --with-crl"),
        format!("certsmith --pki {p} bundle --target istio --ca mesh-ca --with-crl"),
    ];
    assert_eq!(lines, want, "{out}");
    for line in &lines {
        let mut sh = std::process::Command::new("sh");
        clean_env(&mut sh);
        let r = sh
            .arg("-c")
            .arg(line)
            .env("PATH", path_with_certsmith())
            .current_dir(env.path(""))
            .output()
            .unwrap();
        assert!(
            r.status.success(),
            "{line}: {}{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
    }
    // The k8s bundle is still the leaf's TLS Secret, now with the CRL.
    let secret = read(env.pki.join("bundles/k8s/secret.yaml"));
    assert!(
        secret.contains("type: kubernetes.io/tls")
            && secret.contains("name: web-server.x")
            && secret.contains("ca.crl"),
        "{secret}"
    );
}
