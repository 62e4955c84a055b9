//! Name constraints of every type certsmith issues names of (DNS, IP,
//! email, URI, directory name), permitted and excluded: certsmith issues a
//! name exactly when `openssl verify -x509_strict` accepts it. The
//! constrained CAs are made with OpenSSL, which can write every type.

use std::path::{Path, PathBuf};

use crate::common::*;

/// One constrained CA and the names tried under it: (SAN or "", subject).
struct Row {
    constraint: &'static str,
    tries: &'static [(&'static str, &'static str)],
}

const DIR_SECTIONS: &str = "[acme]\nC=CH\nO=Acme\n[evil]\nC=CH\nO=Evil\n";

const MATRIX: &[Row] = &[
    Row {
        constraint: "permitted;DNS:acme.test",
        tries: &[("dns:a.acme.test", "CN=n"), ("dns:evil.test", "CN=n")],
    },
    Row {
        constraint: "excluded;DNS:bad.acme.test",
        tries: &[
            ("dns:x.bad.acme.test", "CN=n"),
            ("dns:ok.acme.test", "CN=n"),
        ],
    },
    Row {
        constraint: "permitted;IP:10.0.0.0/255.0.0.0",
        tries: &[("ip:10.1.2.3", "CN=n"), ("ip:11.0.0.1", "CN=n")],
    },
    Row {
        constraint: "excluded;IP:10.9.0.0/255.255.0.0",
        tries: &[("ip:10.9.1.1", "CN=n"), ("ip:10.8.1.1", "CN=n")],
    },
    Row {
        // A non-contiguous mask: applied bit by bit.
        constraint: "permitted;IP:10.0.0.0/255.0.255.0",
        tries: &[("ip:10.5.0.7", "CN=n"), ("ip:10.5.1.7", "CN=n")],
    },
    Row {
        constraint: "permitted;email:acme.test",
        tries: &[
            ("email:ops@acme.test", "CN=n"),
            ("email:ops@evil.test", "CN=n"),
            ("email:ops@eu.acme.test", "CN=n"),
        ],
    },
    Row {
        constraint: "permitted;email:.acme.test",
        tries: &[
            ("email:ops@eu.acme.test", "CN=n"),
            ("email:ops@acme.test", "CN=n"),
        ],
    },
    Row {
        constraint: "excluded;email:ceo@acme.test",
        tries: &[
            ("email:ceo@acme.test", "CN=n"),
            ("email:ops@acme.test", "CN=n"),
        ],
    },
    Row {
        constraint: "permitted;URI:.acme.test",
        tries: &[
            ("uri:https://api.acme.test/x", "CN=n"),
            ("uri:https://acme.test/", "CN=n"),
            ("uri:https://evil.test/", "CN=n"),
        ],
    },
    Row {
        constraint: "excluded;URI:evil.test",
        tries: &[
            ("uri:https://evil.test/x", "CN=n"),
            ("uri:https://ok.test/x", "CN=n"),
        ],
    },
    Row {
        constraint: "permitted;dirName:acme",
        tries: &[
            ("", "C=CH,O=Acme,CN=d1"),
            ("", "C=CH,O=Other,CN=d2"),
            ("dns:a.acme.test", "C=CH,O=Acme,CN=d3"),
            ("", "C=CH,O=ACME,CN=d4"),
        ],
    },
    Row {
        // BMPString values (openssl string_mask=MASK:0x800) compare as text.
        constraint: "excluded;dirName(BMP):C=CH,O=Evil",
        tries: &[("", "C=CH,O=Evil,CN=e1"), ("", "C=CH,O=Acme,CN=e2")],
    },
    Row {
        // OpenSSL folds ASCII letters only: Ä and ä differ.
        constraint: "permitted;dirName(UTF8):C=CH,O=Äcme Corp",
        tries: &[
            ("", "C=CH,O=Äcme Corp,CN=u1"),
            ("", "C=CH,O=äcme corp,CN=u2"),
            ("", "C=CH,O=Äcme corp,CN=u3"),
        ],
    },
    Row {
        constraint: "permitted;URI:acme.test",
        tries: &[
            ("uri:spiffe://acme.test/x", "CN=n"),
            ("uri:spiffe://u@acme.test/x", "CN=n"),
            ("uri:https://acme.test?x", "CN=n"),
            ("uri:https://acme.test#x", "CN=n"),
            ("uri:https://evil.test:x@acme.test/", "CN=n"),
            ("uri:https://acme.test:8443/x", "CN=n"),
        ],
    },
    Row {
        constraint: "permitted;email:@mail.test",
        tries: &[
            ("email:ops@mail.test", "CN=n"),
            ("email:ops@evil.test", "CN=n"),
        ],
    },
    Row {
        constraint: "excluded;dirName:evil",
        tries: &[("", "C=CH,O=Evil,CN=e1"), ("", "C=CH,O=Acme,CN=e2")],
    },
];

fn must(args: &[&str]) {
    let (ok, out) = openssl(args);
    assert!(ok, "openssl {args:?}: {out}");
}

/// A DER TLV.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

/// `permitted;dirName(BMP):C=CH,O=Evil` → the nameConstraints extension as
/// `DER:…` for an OpenSSL config, with C printable and the other values
/// BMPString or UTF8String (which OpenSSL's config cannot write directly).
fn dir_constraint_der(spec: &str) -> String {
    let (side, rest) = spec.split_once(";dirName(").unwrap();
    let (enc, dn) = rest.split_once("):").unwrap();
    let mut rdns = Vec::new();
    for part in dn.split(',') {
        let (k, v) = part.split_once('=').unwrap();
        let oid: &[u8] = match k {
            "C" => &[0x55, 0x04, 0x06],
            "O" => &[0x55, 0x04, 0x0a],
            _ => &[0x55, 0x04, 0x03],
        };
        let value = match (k, enc) {
            ("C", _) => tlv(0x13, v.as_bytes()),
            (_, "BMP") => tlv(
                0x1e,
                &v.encode_utf16()
                    .flat_map(u16::to_be_bytes)
                    .collect::<Vec<u8>>(),
            ),
            _ => tlv(0x0c, v.as_bytes()),
        };
        let atv = tlv(0x30, &[tlv(0x06, oid), value].concat());
        rdns.extend(tlv(0x31, &atv));
    }
    let name = tlv(0x30, &rdns);
    let subtree = tlv(0x30, &tlv(0xa4, &name));
    let tag = if side == "permitted" { 0xa0 } else { 0xa1 };
    let nc = tlv(0x30, &tlv(tag, &subtree));
    let hex: Vec<String> = nc.iter().map(|b| format!("{b:02X}")).collect();
    format!("DER:{}", hex.join(":"))
}

/// An OpenSSL root CA carrying `constraint` (critical). Returns (cert, key).
fn constrained_root(dir: &Path, constraint: &str) -> (PathBuf, PathBuf) {
    let cnf = dir.join("root.cnf");
    let ext = if constraint.contains(";dirName(") {
        format!("critical,{}", dir_constraint_der(constraint))
    } else {
        format!("critical,{constraint}")
    };
    std::fs::write(
        &cnf,
        format!(
            "[req]\ndistinguished_name=dn\nx509_extensions=v3\nprompt=no\n[dn]\nCN=Constrained Root\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nnameConstraints={ext}\n{DIR_SECTIONS}"
        ),
    )
    .unwrap();
    let (cert, key) = (dir.join("root.crt"), dir.join("root.key"));
    openssl_self_signed(&cnf, &key, &cert, 365);
    (cert, key)
}

/// `CN=x,O=y` → `/CN=x/O=y`.
fn openssl_subject(subject: &str) -> String {
    subject.split(',').map(|p| format!("/{p}")).collect()
}

/// A client certificate OpenSSL signs under the root, with `san` (certsmith form).
fn openssl_leaf(
    dir: &Path,
    root: &(PathBuf, PathBuf),
    i: usize,
    san: &str,
    subject: &str,
) -> PathBuf {
    let (key, csr, cert, ext) = (
        dir.join(format!("l{i}.key")),
        dir.join(format!("l{i}.csr")),
        dir.join(format!("l{i}.crt")),
        dir.join(format!("l{i}.ext")),
    );
    let (ok, out) = openssl(&[
        "req",
        "-new",
        "-utf8",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        &openssl_subject(subject),
        "-keyout",
        s(&key),
        "-out",
        s(&csr),
    ]);
    assert!(ok, "openssl req: {out}");
    let mut exts = String::from(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    );
    if let Some((kind, value)) = san.split_once(':') {
        let kind = match kind {
            "dns" => "DNS",
            "ip" => "IP",
            "email" => "email",
            _ => "URI",
        };
        // `#` starts a comment in an OpenSSL config unless escaped.
        let value = value.replace('#', "\\#");
        exts.push_str(&format!("subjectAltName={kind}:{value}\n"));
    }
    std::fs::write(&ext, exts).unwrap();
    must(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&root.0),
        "-CAkey",
        s(&root.1),
        "-set_serial",
        &format!("{}", 1000 + i),
        "-days",
        "30",
        "-extfile",
        s(&ext),
        "-out",
        s(&cert),
    ]);
    cert
}

#[test]
fn issuance_and_verify_under_name_constraints_agree_with_openssl_on_the_matrix() {
    let mut disagreements = Vec::new();
    for (r, row) in MATRIX.iter().enumerate() {
        let env = Env::new();
        let root = constrained_root(env.dir.path(), row.constraint);
        env.ok(&[
            "init",
            "--import-cert",
            s(&root.0),
            "--import-key",
            s(&root.1),
            "--no-passphrase",
            "-q",
        ]);
        for (i, (san, subject)) in row.tries.iter().enumerate() {
            let leaf = openssl_leaf(env.dir.path(), &root, i, san, subject);
            let (openssl_ok, why) = openssl_verify(&root.0, None, &leaf, "sslclient");
            let name = format!("r{r}-{i}");
            let mut args = vec![
                "issue",
                name.as_str(),
                "--profile",
                "client",
                "--subject",
                subject,
                "--validity",
                "30d",
            ];
            if !san.is_empty() {
                args.extend(["--san", san]);
            }
            let before = env.tree_hash();
            let run = env.run(&args);
            let certsmith_ok = run.code == 0;
            if certsmith_ok {
                let dir = env.cert_dir(&name);
                let (ok, out) = openssl_verify(&root.0, None, &dir.join("cert.pem"), "sslclient");
                if !ok {
                    disagreements.push(format!(
                        "{}: certsmith issued {san} {subject}, openssl rejects it: {}",
                        row.constraint,
                        out.trim()
                    ));
                }
            } else {
                assert_eq!(run.code, 2, "{}", run.stderr);
                assert_eq!(env.tree_hash(), before, "a refused issue changed the PKI");
                assert!(
                    run.stderr.contains("outside the name constraints"),
                    "{}",
                    run.stderr
                );
            }
            // `verify` judges the certificate OpenSSL signed as OpenSSL does.
            let checked = env.run(&["verify", s(&leaf), "--ca", "root", "--purpose", "client"]);
            if checked.code != 0 {
                assert_eq!(checked.code, 1, "{}", checked.stderr);
            }
            if (checked.code == 0) != openssl_ok {
                disagreements.push(format!(
                    "{} / {san} {subject}: openssl {} ({}), certsmith verify {} ({})",
                    row.constraint,
                    if openssl_ok { "accepts" } else { "rejects" },
                    why.trim(),
                    if checked.code == 0 {
                        "accepts"
                    } else {
                        "rejects"
                    },
                    checked.stderr.trim()
                ));
            }
            if certsmith_ok != openssl_ok {
                disagreements.push(format!(
                    "{} / {san} {subject}: openssl {} ({}), certsmith {} ({})",
                    row.constraint,
                    if openssl_ok { "accepts" } else { "rejects" },
                    why.trim(),
                    if certsmith_ok { "issues" } else { "refuses" },
                    run.stderr.trim()
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn sub_ca_inside_an_excluded_ip_range_is_refused() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--no-passphrase",
        "--exclude-ip",
        "10.9.0.0/16",
        "-q",
    ]);
    let err = refused(
        &env,
        &[
            "intermediate",
            "sub",
            "--cn",
            "Sub",
            "--permit-ip",
            "10.9.1.0/24",
            "--no-passphrase",
        ],
    );
    assert!(
        err.contains("'10.9.1.0/24' is inside the excluded IP range '10.9.0.0/16'"),
        "{err}"
    );
    env.ok(&[
        "intermediate",
        "sub",
        "--cn",
        "Sub",
        "--permit-ip",
        "10.8.0.0/16",
        "--no-passphrase",
        "-q",
    ]);
}

#[test]
fn sub_ca_with_the_issuers_own_leading_dot_constraint_is_made() {
    let env = Env::new();
    env.ok(&[
        "init",
        "--cn",
        "Root",
        "--no-passphrase",
        "--permit-dns",
        ".acme.test",
        "-q",
    ]);
    env.ok(&[
        "intermediate",
        "a",
        "--cn",
        "A",
        "--permit-dns",
        ".acme.test",
        "--no-passphrase",
        "-q",
    ]);
    // acme.test itself is outside .acme.test.
    let err = refused(
        &env,
        &[
            "intermediate",
            "b",
            "--cn",
            "B",
            "--permit-dns",
            "acme.test",
            "--no-passphrase",
        ],
    );
    assert!(
        err.contains("'acme.test' is outside the permitted DNS subtrees"),
        "{err}"
    );
}

/// An OpenSSL CA signed by `issuer`, carrying `constraint`. Returns (cert, key).
fn openssl_intermediate(
    dir: &Path,
    issuer: &(PathBuf, PathBuf),
    constraint: &str,
) -> (PathBuf, PathBuf) {
    let (key, csr, cert, ext) = (
        dir.join("inter.key"),
        dir.join("inter.csr"),
        dir.join("inter.crt"),
        dir.join("inter.ext"),
    );
    openssl_p256_csr(&key, &csr, "/CN=Constrained Intermediate");
    std::fs::write(
        &ext,
        format!("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nnameConstraints=critical,{constraint}\n"),
    )
    .unwrap();
    must(&[
        "x509",
        "-req",
        "-in",
        s(&csr),
        "-CA",
        s(&issuer.0),
        "-CAkey",
        s(&issuer.1),
        "-set_serial",
        "77",
        "-days",
        "60",
        "-extfile",
        s(&ext),
        "-out",
        s(&cert),
    ]);
    (cert, key)
}

#[test]
fn verify_judges_an_intermediates_email_and_uri_constraints_as_openssl_does() {
    for (constraint, tries) in [
        (
            "permitted;email:acme.test",
            ["email:ops@acme.test", "email:ops@evil.test"],
        ),
        (
            "excluded;URI:evil.test",
            ["uri:https://ok.test/x", "uri:https://evil.test/x"],
        ),
    ] {
        let env = Env::new();
        let dir = env.dir.path();
        // The root has a DNS constraint webpki judges itself.
        let root = constrained_root(dir, "excluded;DNS:never.invalid");
        let inter = openssl_intermediate(dir, &root, constraint);
        for (i, san) in tries.iter().enumerate() {
            let leaf = openssl_leaf(dir, &inter, i, san, "CN=n");
            let (openssl_ok, why) = openssl_verify(&root.0, Some(&inter.0), &leaf, "sslclient");
            assert_eq!(openssl_ok, i == 0, "{constraint} {san}: {why}");
            let r = env.run(&[
                "verify",
                s(&leaf),
                "--bundle",
                s(&root.0),
                "--chain",
                s(&inter.0),
                "--purpose",
                "client",
            ]);
            if openssl_ok {
                assert_eq!(r.code, 0, "{constraint} {san}: {}", r.stderr);
            } else {
                assert_eq!(r.code, 1, "{constraint} {san}: {}", r.stderr);
                assert!(
                    r.stderr.contains(
                        "violates the name constraints of CA 'CN=Constrained Intermediate'"
                    ),
                    "{}",
                    r.stderr
                );
            }
        }
    }
}
