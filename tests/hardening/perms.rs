//! Permissions and symlinks: certsmith refuses a PKI directory or CA key
//! open to others, and never writes through a symlink inside the PKI.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

fn chmod(p: &std::path::Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn group_readable_ca_key_is_refused_with_the_fix_named() {
    let env = Env::new();
    env.hierarchy();
    let key = env.pki.join("cas/issuing/ca.key.pem");
    chmod(&key, 0o640);
    let before = env.tree_hash();
    let err = env.fails(2, &["issue", "dev"]);
    assert!(err.starts_with(&format!(
        "certsmith: private key '{}' is open to group or others (mode 0640, expected 0600)\nhint: run `chmod 600",
        key.display()
    )), "{err}");
    assert!(err.contains("--allow-insecure-perms"), "{err}");
    assert_eq!(env.tree_hash(), before);
    env.ok(&["issue", "dev", "--allow-insecure-perms", "-q"]);
}

#[test]
fn world_readable_pki_directory_is_refused_until_repaired() {
    let env = Env::new();
    env.hierarchy();
    chmod(&env.pki, 0o755);
    let err = env.fails(2, &["issue", "dev"]);
    assert!(
        err.contains("PKI directory") && err.contains("mode 0755"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
    env.ok(&["--allow-insecure-perms", "issue", "dev", "-q"]);
    let out = env.run(&["doctor", "--repair"]).stdout;
    assert!(out.contains("repaired: set mode 0700"), "{out}");
    env.ok(&["issue", "dev2", "-q"]);
}

#[test]
fn init_into_an_existing_world_readable_directory_is_refused() {
    let env = Env::new();
    std::fs::create_dir(&env.pki).unwrap();
    chmod(&env.pki, 0o755);
    let err = env.fails(2, &["init", "--cn", "Root", "--no-passphrase"]);
    assert!(err.contains("is open to group or others"), "{err}");
    assert_eq!(std::fs::read_dir(&env.pki).unwrap().count(), 0);
}

#[test]
fn symlinked_cert_directory_does_not_redirect_a_key_write() {
    let env = Env::new();
    env.hierarchy();
    let outside = env.path("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::create_dir_all(env.pki.join("certs")).unwrap();
    chmod(&env.pki.join("certs"), 0o700);
    std::os::unix::fs::symlink(&outside, env.cert_dir("dev")).unwrap();
    let before = env.tree_hash();
    let err = env.fails(2, &["issue", "dev"]);
    assert!(err.contains("is a symlink"), "{err}");
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    assert_eq!(env.tree_hash(), before);
    let r = env.run(&["doctor"]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("is a symlink"), "{}", r.stdout);
}

#[test]
fn symlinked_key_file_is_not_followed_on_force_reissue() {
    let env = Env::new();
    env.hierarchy();
    env.ok(&["issue", "dev", "-q"]);
    let target = env.path("victim.txt");
    std::fs::write(&target, b"precious").unwrap();
    let key = env.cert_dir("dev").join("key.pem");
    std::fs::remove_file(&key).unwrap();
    std::os::unix::fs::symlink(&target, &key).unwrap();
    let r = env.run(&["issue", "dev", "--force"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("symlink"), "{}", r.stderr);
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

#[test]
fn symlinked_certs_directory_is_refused_for_sign_too() {
    let env = Env::new();
    env.hierarchy();
    let outside = env.path("elsewhere");
    std::fs::create_dir(&outside).unwrap();
    std::fs::remove_dir_all(env.pki.join("certs")).ok();
    std::os::unix::fs::symlink(&outside, env.pki.join("certs")).unwrap();
    let key = env.path("d.key");
    let csr = env.path("d.csr");
    openssl_p256_csr(&key, &csr, "/CN=d");
    let err = env.fails(2, &["sign", csr.to_str().unwrap()]);
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn change_passphrase_refuses_a_world_readable_ca_key() {
    let env = Env::new();
    env.hierarchy();
    let key = env.pki.join("cas/root/ca.key.pem");
    chmod(&key, 0o604);
    let newpass = env.path("new.txt");
    std::fs::write(&newpass, "New-Pass-123\n").unwrap();
    let before = env.tree_hash();
    let err = env.fails(
        2,
        &[
            "key",
            "change-passphrase",
            "root",
            "--new-passphrase-file",
            newpass.to_str().unwrap(),
        ],
    );
    assert!(
        err.contains("is open to group or others (mode 0604"),
        "{err}"
    );
    assert_eq!(env.tree_hash(), before);
}
