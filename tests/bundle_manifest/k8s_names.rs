//! Kubernetes Secret names (`export --format k8s-secret`, `bundle --target
//! k8s --cert`): every certificate name maps to a valid DNS-1123 subdomain,
//! and two certificates that would share one Secret name are refused.

use super::read;
use crate::common::*;

/// Kubernetes' DNS-1123 subdomain rule for object names.
fn valid_subdomain(n: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    !n.is_empty() && n.len() <= 253 && n.split('.').all(label)
}

fn secret_name(yaml: &str) -> String {
    yaml.lines()
        .find_map(|l| l.strip_prefix("  name: "))
        .unwrap_or_else(|| panic!("{yaml}"))
        .to_string()
}

#[test]
fn k8s_secret_names_of_odd_certificate_names_are_valid_dns_1123_subdomains() {
    let env = Env::new();
    env.hierarchy();
    for (cert, want) in [("a..b", "a.b"), ("x.-y", "x.y"), ("Q_.-r-.", "q.r")] {
        env.ok(&["issue", cert, "-q"]);
        env.ok(&["export", cert, "--format", "k8s-secret", "-q"]);
        let name = secret_name(&read(env.cert_dir(cert).join("secret.yaml")));
        assert!(valid_subdomain(&name), "{cert} -> {name}");
        assert_eq!(name, want, "{cert}");
    }
    env.ok(&["bundle", "--target", "k8s", "--cert", "x.-y"]);
    let name = secret_name(&read(env.pki.join("bundles/k8s/secret.yaml")));
    assert_eq!(name, "x.y");
}

#[test]
fn two_certificates_sharing_one_secret_name_are_refused_naming_the_other() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "Web_Server.X", "-q"]);
    env.ok(&["issue", "web-server.x", "-q"]);
    for args in [
        &["export", "web-server.x", "--format", "k8s-secret"][..],
        &["bundle", "--target", "k8s", "--cert", "Web_Server.X"],
    ] {
        let err = refused(&env, args);
        assert!(
            err.contains("Kubernetes Secret name 'web-server.x'") && err.contains("certificate '"),
            "{err}"
        );
        let other = if args[0] == "export" {
            "Web_Server.X"
        } else {
            "web-server.x"
        };
        assert!(err.contains(&format!("certificate '{other}'")), "{err}");
    }
    // Other formats are not concerned.
    env.ok(&["export", "web-server.x", "--format", "pem", "-q"]);
}
