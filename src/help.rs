//! What `--help` shows beyond the clap types in `cli.rs`: two or three
//! examples at the end of every command's help, in one table. The binary,
//! its man pages and its completions all use [`command`], so they agree.

use clap::CommandFactory;

/// The full command tree: the clap types plus every command's examples.
pub fn command() -> clap::Command {
    let cmd = crate::cli::Cli::command();
    let cmd = cmd.after_help(render(EXAMPLES_TOP));
    with_examples(cmd, "")
}

fn with_examples(mut cmd: clap::Command, prefix: &str) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    for name in names {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |sub| {
            let sub = with_examples(sub, &path);
            match examples(&path) {
                Some(e) => sub.after_help(render(e)),
                None => sub,
            }
        });
    }
    cmd
}

fn render(lines: &[&str]) -> String {
    let mut s = String::from("Examples:\n");
    for l in lines {
        s.push_str("  ");
        s.push_str(l);
        s.push('\n');
    }
    s.trim_end().to_string()
}

const EXAMPLES_TOP: &[&str] = &[
    "certsmith bootstrap                                  # wizard: root, issuing CA, first device",
    "certsmith issue device-42                            # a device (mTLS client) certificate",
    "certsmith --pki /srv/pki list --expiring-within 30d",
];

/// The examples of the command at `path` (`"issue"`, `"key change-passphrase"`).
pub fn examples(path: &str) -> Option<&'static [&'static str]> {
    Some(match path {
        "init" => &[
            "certsmith init --cn \"Acme Root CA\" --passphrase-file root.pass",
            "certsmith init --subject \"CN=Acme Root CA,O=Acme,C=CH\" --key rsa-4096 --validity 20y",
            "certsmith init --import-cert ca.crt --import-key ca.key   # adopt an OpenSSL CA",
        ],
        "intermediate" => &[
            "certsmith intermediate issuing --cn \"Acme Issuing CA\"",
            "certsmith intermediate web --cn \"Acme Web CA\" --permit-dns acme.internal --pathlen 0",
        ],
        "issue" => &[
            "certsmith issue device-42",
            "certsmith issue api --profile server --san dns:api.acme.internal --san ip:10.0.0.5",
            "certsmith issue alice --profile client --san email:alice@acme.example --validity 90d",
        ],
        "sign" => &[
            "certsmith sign device.csr                            # named by the CSR's CN",
            "certsmith sign web.csr --name web --profile server --san dns:web.acme.internal",
        ],
        "batch" => &[
            "certsmith batch devices.csv --ca issuing",
            "certsmith batch --count 1000 --name-pattern 'sensor-{:04}' --archive sensors.tar",
            "certsmith batch --csr-dir factory-csrs --out provisioning",
        ],
        "revoke" => &[
            "certsmith revoke device-42 --reason key-compromise",
            "certsmith revoke 3f9a0c12 --ca issuing               # by serial",
        ],
        "crl" => &[
            "certsmith crl                                        # every CA",
            "certsmith crl --ca issuing --next-update 2d --der",
        ],
        "bundle" => &[
            "certsmith bundle --target nginx --with-crl",
            "certsmith bundle --target aws-alb --ca issuing --out alb-bundle",
            "certsmith bundle --target k8s --cert api",
        ],
        "verify" => &[
            "certsmith verify pki/certs/device-42/cert.pem --ca issuing --purpose client",
            "certsmith verify server.pem --bundle ca-bundle.pem --dns api.acme.internal",
            "certsmith verify cert.pem --ca issuing --crl pki/cas/issuing/crl.pem --at 2027-01-01T00:00:00Z",
        ],
        "inspect" => &[
            "certsmith inspect pki/certs/device-42/cert.pem",
            "certsmith --json inspect pki/cas/issuing/crl.pem",
        ],
        "list" => &[
            "certsmith list --ca issuing",
            "certsmith list --expiring-within 30d",
            "certsmith --json list --revoked",
        ],
        "status" => &["certsmith status", "certsmith --json status"],
        "doctor" => &[
            "certsmith doctor",
            "certsmith doctor --repair",
            "certsmith doctor --pin-file token.pin                # also check keys in a token",
        ],
        "renew" => &[
            "certsmith renew device-42",
            "certsmith renew api --reuse-key --revoke-old --validity 90d",
            "certsmith renew --expiring-within 30d --ca issuing-2027 --dry-run",
        ],
        "export" => &[
            "certsmith export device-42 --p12-passphrase-file p12.pass",
            "certsmith export api --format k8s-secret",
            "certsmith export device-42 --format pem --out device-42.pem",
        ],
        "key" => &[
            "certsmith key change-passphrase root",
            "certsmith key offline root",
        ],
        "key change-passphrase" => &[
            "certsmith key change-passphrase root                 # asks for both on a terminal",
            "certsmith key change-passphrase issuing --passphrase-file old.pass --new-passphrase-file new.pass",
        ],
        "key offline" => &[
            "certsmith key offline root                           # the root goes to the safe",
            "certsmith crl                                        # skips root with a note",
        ],
        "key online" => &["certsmith key online root", "certsmith crl --ca root"],
        "ca" => &[
            "certsmith ca set-urls issuing --crl-url 'http://pki.acme.internal/crl/{ca}.crl'",
            "certsmith ca set-crl issuing --next-update 2d",
        ],
        "ca set-urls" => &[
            "certsmith ca set-urls issuing --crl-url 'http://pki.acme.internal/crl/{ca}.crl'",
            "certsmith ca set-urls issuing --ocsp-url http://pki.acme.internal/ocsp --clear",
        ],
        "ca set-crl" => &[
            "certsmith ca set-crl issuing --next-update 2d",
            "certsmith ca set-crl root --next-update 365d --prune-after 90d",
        ],
        "ca default" => &[
            "certsmith ca default issuing-2027                    # issue, sign and batch use it",
            "certsmith ca default                                 # show the default CA",
        ],
        "ca retire" => &[
            "certsmith ca retire issuing                          # issues nothing more",
            "certsmith renew --expiring-within 30d                # moves its certificates as they come due",
        ],
        "ca renew" => &[
            "certsmith ca renew issuing --validity 5y",
            "certsmith ca renew root --validity 20y --passphrase-file root.pass",
        ],
        "ca cross-sign" => &[
            "certsmith ca cross-sign root-2036 --by root",
            "certsmith ca cross-sign root-2036 --by root --validity 2y --clamp",
        ],
        "prune" => &[
            "certsmith prune --older-than 30d",
            "certsmith --json prune --older-than 90d",
        ],
        "ledger" => &[
            "certsmith ledger info",
            "certsmith ledger copy --to postgres://certsmith@db.internal:5432/pki",
        ],
        "ledger info" => &[
            "certsmith ledger info",
            "certsmith --ledger postgres://certsmith@db.internal:5432/pki --json ledger info",
        ],
        "ledger copy" => &[
            "certsmith ledger copy --to postgres://certsmith@db.internal:5432/pki",
            "certsmith --ledger postgres://certsmith@db.internal/pki ledger copy --to sqlite:snapshot.db",
        ],
        "serve" => &[
            "certsmith serve                                      # 127.0.0.1:8080",
            "certsmith serve --listen 127.0.0.1:9080 --max-connections 64",
        ],
        "bootstrap" => &[
            "certsmith bootstrap                                  # asks, on a terminal",
            "certsmith --pki ci-pki bootstrap --no-passphrase --json > pki.json",
            "certsmith bootstrap --org Acme --domain acme.internal --target nginx --passphrase-file ca.pass",
        ],
        "completions" => &[
            "certsmith completions bash > /etc/bash_completion.d/certsmith",
            "certsmith completions zsh > \"${fpath[1]}/_certsmith\"",
            "certsmith completions fish > ~/.config/fish/completions/certsmith.fish",
        ],
        "man" => &[
            "certsmith man | man -l -",
            "certsmith man --dir /usr/local/share/man/man1",
        ],
        _ => return None,
    })
}
