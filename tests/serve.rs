//! `certsmith serve` with real clients: `openssl ocsp` (POST and GET),
//! `openssl verify -crl_download` following the URLs in the certificates,
//! nginx with `ssl_ocsp on`, many concurrent requests, a large CRL, and a
//! clean stop on SIGTERM. The server runs on the real clock: its clients
//! check thisUpdate/nextUpdate against theirs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::nginx::*;
use crate::common::*;

/// A running `certsmith serve`, killed when dropped; its stderr is kept.
struct Served {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Waits (at most 10 s) for serve to exit after a signal and asserts
    /// it exited 0.
    fn exits_0_within_10_s(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code();
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(code, Some(0), "{}", self.log());
    }

    fn start(env: &Env, port: u16, extra: &[&str]) -> Served {
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["serve", "--listen", listen.as_str()];
        args.extend_from_slice(extra);
        let mut child = env
            .command(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start certsmith serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut seen = Vec::new();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve ended before listening:\n{}", seen.join("\n"));
            };
            if let Some(a) = line.split("listening on http://").nth(1) {
                break a.trim().parse().expect("address");
            }
            seen.push(line);
        };
        let log = Arc::new(Mutex::new(seen));
        let sink = log.clone();
        // Drained all along, so request lines never fill the pipe.
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        Served { child, addr, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The log once it holds `needle` (its stderr is read by another
    /// thread, so a line may trail the response it describes); panics
    /// after 10 s.
    fn log_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).expect("read response");
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let status_line = String::from_utf8_lossy(&resp[..split]).to_string();
    let code = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (code, resp[split + 4..].to_vec())
}

/// root → issuing with URLs pointing at 127.0.0.1:`port`; devices ok and
/// stolen; a localhost server certificate; `chain.pem` = issuing + root.
fn pki_served_on(env: &Env, port: u16) -> PathBuf {
    let crl = format!("http://127.0.0.1:{port}/crl/{{ca}}.crl");
    let ocsp = format!("http://127.0.0.1:{port}/ocsp");
    let issuers = format!("http://127.0.0.1:{port}/ca/{{ca}}.crt");
    let urls = [
        "--crl-url",
        crl.as_str(),
        "--ocsp-url",
        ocsp.as_str(),
        "--ca-issuers-url",
        issuers.as_str(),
    ];
    let mut a = vec!["init", "--cn", "Test Root CA", "--no-passphrase", "-q"];
    a.extend(urls);
    env.ok(&a);
    let mut a = vec![
        "intermediate",
        "issuing",
        "--cn",
        "Test Issuing CA",
        "--no-passphrase",
        "-q",
    ];
    a.extend(urls);
    env.ok(&a);
    env.ok(&["issue", "device-ok", "-q"]);
    env.ok(&["issue", "device-stolen", "-q"]);
    let chain = env.path("chain.pem");
    let text = std::fs::read_to_string(env.pki.join("cas/issuing/ca.pem")).unwrap()
        + &std::fs::read_to_string(env.root_pem()).unwrap();
    std::fs::write(&chain, text).unwrap();
    chain
}

fn cert(env: &Env, name: &str) -> PathBuf {
    env.cert_dir(name).join("cert.pem")
}

fn issuing(env: &Env) -> PathBuf {
    env.pki.join("cas/issuing/ca.pem")
}

/// `openssl ocsp` against the server for `name` of our issuing CA: its output.
fn openssl_ocsp(served: &Served, env: &Env, chain: &Path, name: &str, extra: &[&str]) -> String {
    openssl_ocsp_cert(served, &issuing(env), &cert(env, name), chain, extra)
}

/// `openssl ocsp -issuer issuer -cert c` against the server (`extra`, such
/// as a digest, goes before -cert, as openssl wants): its output.
fn openssl_ocsp_cert(
    served: &Served,
    issuer: &Path,
    c: &Path,
    chain: &Path,
    extra: &[&str],
) -> String {
    let url = served.url("/ocsp");
    let mut args = vec!["ocsp", "-issuer", s(issuer)];
    args.extend_from_slice(extra);
    args.extend([
        "-cert",
        s(c),
        "-url",
        url.as_str(),
        "-CAfile",
        s(chain),
        "-timeout",
        "10",
    ]);
    let (ok, out) = openssl(&args);
    assert!(
        ok,
        "openssl ocsp failed:\n{out}\nserver log:\n{}",
        served.log()
    );
    out
}

#[test]
fn openssl_ocsp_sees_good_then_revoked_with_reason_without_a_restart() {
    let env = Env::new();
    let port = free_port();
    let chain = pki_served_on(&env, port);
    let served = Served::start(&env, port, &[]);
    let out = openssl_ocsp(&served, &env, &chain, "device-stolen", &[]);
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains(": good"), "{out}");
    // openssl sends a nonce and warns when the response does not echo it.
    assert!(!out.contains("WARNING"), "{out}");
    env.ok(&[
        "revoke",
        "device-stolen",
        "--reason",
        "key-compromise",
        "-q",
    ]);
    let out = openssl_ocsp(&served, &env, &chain, "device-stolen", &[]);
    assert!(out.contains(": revoked"), "{out}");
    assert!(out.contains("Reason: keyCompromise"), "{out}");
    assert!(out.contains("Revocation Time:"), "{out}");
    // Nonce-less, SHA-256 CertID: answered (from the cache the second time) alike.
    for _ in 0..2 {
        let out = openssl_ocsp(
            &served,
            &env,
            &chain,
            "device-stolen",
            &["-no_nonce", "-sha256"],
        );
        assert!(
            out.contains("Response verify OK") && out.contains(": revoked"),
            "{out}"
        );
        let out = openssl_ocsp(
            &served,
            &env,
            &chain,
            "device-ok",
            &["-no_nonce", "-sha256"],
        );
        assert!(out.contains(": good"), "{out}");
    }
    // Signed by the CA itself on request.
    drop(served);
    let served = Served::start(&env, free_port(), &["--ocsp-sign-with-ca"]);
    let out = openssl_ocsp(&served, &env, &chain, "device-stolen", &[]);
    assert!(
        out.contains("Response verify OK") && out.contains(": revoked"),
        "{out}"
    );
    // One log line per request.
    served.log_with("POST /ocsp 200");
}

#[test]
fn a_certificate_of_another_ca_is_unknown_and_a_foreign_issuer_unauthorized() {
    let env = Env::new();
    let port = free_port();
    let chain = pki_served_on(&env, port);
    let served = Served::start(&env, port, &[]);
    // Another PKI whose CAs bear the same names: its device's CertID (with
    // our issuing CA as -issuer) names our CA, but our CA never issued it.
    let foreign = Env::new();
    foreign.hierarchy();
    foreign.ok(&["issue", "alien", "-q"]);
    let out = openssl_ocsp_cert(
        &served,
        &issuing(&env),
        &cert(&foreign, "alien"),
        &chain,
        &[],
    );
    assert!(
        out.contains("Response verify OK") && out.contains(": unknown"),
        "{out}"
    );
    // A serial our CA never issued.
    let url = served.url("/ocsp");
    let (ok, out) = openssl(&[
        "ocsp",
        "-issuer",
        s(&issuing(&env)),
        "-serial",
        "0x7e57",
        "-url",
        &url,
        "-CAfile",
        s(&chain),
    ]);
    assert!(ok && out.contains("0x7e57: unknown"), "{out}");
    // A CA outside this PKI, with its own key: not ours to answer (RFC 5019 2.2.3).
    let (_, out) = openssl(&[
        "ocsp",
        "-issuer",
        s(&foreign.pki.join("cas/issuing/ca.pem")),
        "-cert",
        s(&cert(&foreign, "alien")),
        "-url",
        &url,
        "-CAfile",
        s(&foreign.root_pem()),
    ]);
    assert!(out.contains("unauthorized"), "{out}");
}

#[test]
fn get_form_and_tampered_requests_are_answered_and_the_server_keeps_going() {
    let env = Env::new();
    let port = free_port();
    let chain = pki_served_on(&env, port);
    env.ok(&["revoke", "device-stolen", "-q"]);
    let served = Served::start(&env, port, &[]);
    let req = env.path("req.der");
    let (ok, out) = openssl(&[
        "ocsp",
        "-issuer",
        s(&issuing(&env)),
        "-cert",
        s(&cert(&env, "device-stolen")),
        "-no_nonce",
        "-reqout",
        s(&req),
    ]);
    assert!(ok, "{out}");
    let der = std::fs::read(&req).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let escaped = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (code, body) = http(served.addr, "GET", &format!("/ocsp/{escaped}"), b"");
    assert_eq!(code, 200);
    let resp = env.path("resp.der");
    std::fs::write(&resp, &body).unwrap();
    let (ok, out) = openssl(&[
        "ocsp",
        "-respin",
        s(&resp),
        "-issuer",
        s(&issuing(&env)),
        "-cert",
        s(&cert(&env, "device-stolen")),
        "-CAfile",
        s(&chain),
        "-no_nonce",
    ]);
    assert!(
        ok && out.contains("Response verify OK") && out.contains(": revoked"),
        "{out}"
    );
    // Tampered: cut short, garbage, bad base64. Each gets malformedRequest.
    let malformed = [0x30, 0x03, 0x0a, 0x01, 0x01];
    for body in [&der[..der.len() - 3], b"GET / HTTP/1.0".as_slice(), &[]] {
        let (code, answer) = http(served.addr, "POST", "/ocsp", body);
        assert_eq!((code, answer.as_slice()), (200, malformed.as_slice()));
    }
    let (code, answer) = http(served.addr, "GET", "/ocsp/%%%not-base64", b"");
    assert_eq!((code, answer.as_slice()), (200, malformed.as_slice()));
    // And still answers a good request.
    let out = openssl_ocsp(&served, &env, &chain, "device-ok", &[]);
    assert!(out.contains(": good"), "{out}");
}

#[test]
fn only_public_objects_are_served_and_bodies_are_bounded() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let served = Served::start(&env, port, &[]);
    assert_eq!(http(served.addr, "GET", "/healthz", b"").0, 200);
    let (code, der) = http(served.addr, "GET", "/ca/issuing.crt", b"");
    assert_eq!(code, 200);
    assert_eq!(
        der,
        openssl_der("x509", &issuing(&env), &env.path("issuing.der")),
        "the CA certificate, in DER"
    );
    for path in [
        "/",
        "/ledger.db",
        "/ca/../ledger.db",
        "/ca/issuing.key",
        "/ca/nosuch.crt",
        "/crl/nosuch.crl",
        "/crl/../cas/root/ca.key.pem",
        "/cas/root/ca.key.pem",
        "/crl/root.crl/../../ledger.db",
    ] {
        assert_eq!(http(served.addr, "GET", path, b"").0, 404, "{path}");
    }
    assert_eq!(http(served.addr, "DELETE", "/healthz", b"").0, 404);
    // A CA that publishes no CRL has none to serve.
    env.ok(&[
        "intermediate",
        "nocrl",
        "--cn",
        "No CRL CA",
        "--no-passphrase",
        "--no-crl",
        "-q",
    ]);
    drop(served);
    let served = Served::start(&env, free_port(), &[]);
    assert_eq!(http(served.addr, "GET", "/crl/nocrl.crl", b"").0, 404);
    assert_eq!(http(served.addr, "GET", "/ca/nocrl.crt", b"").0, 200);
    let big = vec![0u8; 64 * 1024 + 1];
    assert_eq!(http(served.addr, "POST", "/ocsp", &big).0, 413);
    assert_eq!(http(served.addr, "GET", "/healthz", b"").0, 200);
}

#[test]
fn openssl_verify_crl_download_follows_the_urls_in_the_certificates() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    // No `certsmith crl` was run: serve signs the CRLs itself.
    let served = Served::start(&env, port, &[]);
    let verify = |name: &str| {
        openssl(&[
            "verify",
            "-x509_strict",
            "-crl_download",
            "-crl_check_all",
            "-CAfile",
            s(&env.root_pem()),
            "-untrusted",
            s(&issuing(&env)),
            s(&cert(&env, name)),
        ])
    };
    let (ok, out) = verify("device-ok");
    assert!(ok, "{out}\n{}", served.log());
    let (ok, _) = verify("device-stolen");
    assert!(ok, "not revoked yet");
    env.ok(&["revoke", "device-stolen", "-q"]);
    // The ledger changed: the next CRL fetched lists it, without a restart.
    let (ok, out) = verify("device-stolen");
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = verify("device-ok");
    assert!(ok, "{out}");
    served.log_with("GET /crl/issuing.crl 200");
}

#[test]
fn crl_of_an_unopened_ca_key_is_the_last_crl_file_written() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    env.ok(&["crl", "--ca", "root", "-q"]);
    env.ok(&["key", "offline", "root", "-q"]);
    let served = Served::start(&env, port, &[]);
    let (code, der) = http(served.addr, "GET", "/crl/root.crl", b"");
    assert_eq!(code, 200);
    let on_disk = openssl_der(
        "crl",
        &env.pki.join("cas/root/crl.pem"),
        &env.path("root-crl.der"),
    );
    assert_eq!(der, on_disk);
    served.log_with("serving its last CRL file");
}

#[test]
fn nginx_with_ssl_ocsp_admits_a_device_and_rejects_a_revoked_one_through_serve() {
    if !nginx_available() {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let chain = pki_served_on(&env, port);
    env.ok(&[
        "issue",
        "localhost",
        "--profile",
        "server",
        "--san",
        "dns:localhost",
        "--san",
        "ip:127.0.0.1",
        "-q",
    ]);
    env.ok(&[
        "revoke",
        "device-stolen",
        "--reason",
        "key-compromise",
        "-q",
    ]);
    let served = Served::start(&env, port, &[]);
    // No ssl_ocsp_responder: nginx asks the responder named in the AIA.
    let mtls = format!(
        "ssl_client_certificate {}; ssl_verify_client on; ssl_verify_depth 2; ssl_ocsp on;",
        chain.display()
    );
    let tls_port = free_port();
    let _nginx = start_nginx_with(&env, tls_port, &mtls);
    let id = |n: &str| Some((cert(&env, n), env.cert_dir(n).join("key.pem")));
    assert_eq!(
        curl(&env, tls_port, id("device-ok")),
        "200",
        "{}",
        served.log()
    );
    let code = curl(&env, tls_port, id("device-stolen"));
    assert!(code == "400" || code == "000", "revoked device got {code}");
    served.log_with("/ocsp");
}

#[test]
fn two_hundred_concurrent_ocsp_requests_all_succeed() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let served = Served::start(&env, port, &[]);
    let mut reqs = Vec::new();
    for (i, name) in ["device-ok", "device-stolen"].iter().enumerate() {
        let req = env.path(&format!("req{i}.der"));
        let (iss, c) = (issuing(&env), cert(&env, name));
        let mut args = vec!["ocsp", "-issuer", s(&iss), "-cert"];
        args.extend([s(&c), "-reqout", s(&req)]);
        // One with a nonce (signed fresh each time), one without (cached).
        if i == 0 {
            args.push("-no_nonce");
        }
        let (ok, out) = openssl(&args);
        assert!(ok, "{out}");
        reqs.push(std::fs::read(&req).unwrap());
    }
    let reqs = Arc::new(reqs);
    let start = Instant::now();
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let (addr, reqs) = (served.addr, reqs.clone());
            std::thread::spawn(move || http(addr, "POST", "/ocsp", &reqs[i % 2]))
        })
        .collect();
    for t in threads {
        let (code, body) = t.join().expect("request thread");
        assert_eq!(code, 200);
        let resp =
            <x509_ocsp::OcspResponse as der::Decode>::from_der(&body).expect("an OCSP response");
        assert_eq!(
            resp.response_status,
            x509_ocsp::OcspResponseStatus::Successful
        );
    }
    eprintln!("200 concurrent OCSP requests in {:?}", start.elapsed());
}

/// Records `n` revoked leaves of CA `ca` through the ledger's bulk path
/// (the one `batch` uses: every record in one transaction, then made
/// active in one more). No certificate files: a CRL needs only the ledger.
fn revoked_leaves(pki: &Path, ca: &str, n: u32) {
    let mut ledger = certsmith::ledger::Ledger::open(&pki.join("ledger.db")).unwrap();
    let recs: Vec<_> = (0..n)
        .map(|i| certsmith::ledger::CertRecord {
            id: 0,
            name: format!("bulk-{i}"),
            kind: certsmith::ledger::Kind::Leaf,
            issuer: Some(ca.to_string()),
            serial: format!("7{i:039x}"),
            subject: format!("CN=bulk-{i}"),
            sans: Vec::new(),
            profile: "device".into(),
            key_type: "ecdsa-p256".into(),
            not_before: 1_700_000_000,
            not_after: 2_000_000_000,
            fingerprint: "0".into(),
            state: "active".into(),
            revoked_at: Some(1_700_000_000 + i64::from(i)),
            revocation_reason: Some("superseded".into()),
            dir: format!("certs/bulk-{i}"),
            has_key: false,
            created_at: 1_700_000_000,
            issued_by: None,
            revoked_by: None,
            der: None,
        })
        .collect();
    let ids = ledger
        .reserve_many(&recs, false, &certsmith::ledger::no_check)
        .unwrap();
    let ids: Vec<i64> = ids.into_iter().map(Option::unwrap).collect();
    ledger.activate(&ids).unwrap();
}

#[test]
fn a_crl_of_100000_revocations_is_served_end_to_end() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let start = Instant::now();
    revoked_leaves(&env.pki, "issuing", 100_000);
    let built = start.elapsed();
    let served = Served::start(&env, port, &[]);
    let (code, der) = http(served.addr, "GET", "/crl/issuing.crl", b"");
    assert_eq!(code, 200, "{}", served.log());
    let fetched = start.elapsed() - built;
    let crl = certsmith::crl::CrlInfo::from_der(&der, "served CRL").unwrap();
    assert_eq!(crl.entries.len(), 100_000);
    let path = env.path("big.crl");
    std::fs::write(&path, &der).unwrap();
    let (ok, out) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        s(&path),
        "-noout",
        "-CAfile",
        s(&issuing(&env)),
    ]);
    assert!(ok && out.contains("verify OK"), "{out}");
    // Served again unchanged from memory: the revocations did not change.
    let (_, again) = http(served.addr, "GET", "/crl/issuing.crl", b"");
    assert_eq!(again, der);
    eprintln!("100k CRL: fixture {built:?}, signed and served in {fetched:?}");
}

#[test]
fn serve_stops_cleanly_on_sigterm() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let mut served = Served::start(&env, port, &[]);
    assert_eq!(http(served.addr, "GET", "/healthz", b"").0, 200);
    let pid = served.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    served.exits_0_within_10_s();
}

#[test]
fn the_delegated_responder_is_renewed_half_way_through_its_two_days() {
    let env = Env::new();
    env.hierarchy();
    let pki = certsmith::pki::Pki::at(&env.pki);
    let ledger = pki.read_ledger().unwrap();
    let pass = certsmith::passphrase::PassOptions::default();
    let signer = certsmith::ca::Signer::load_for_crl(&pki, &ledger, "issuing", &pass).unwrap();
    let ca = certsmith::serve::authority::Authority::new(&pki, &ledger, "issuing", Some(signer))
        .unwrap();
    let t0 = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let cert_at = |t| {
        ca.with_responder(false, t, |k| Ok(k.cert_der.unwrap().to_vec()))
            .unwrap()
    };
    let (first, issued) = cert_at(t0);
    assert!(issued, "the first request issues the responder");
    let info = certsmith::certinfo::CertInfo::from_der(&first, "responder").unwrap();
    assert_eq!(info.ext_key_usage, ["OCSPSigning"]);
    // Two days from now (notBefore is set back a little for clock skew).
    assert_eq!(info.not_after - t0, time::Duration::days(2));
    let (second, renewed) = cert_at(t0 + time::Duration::hours(23));
    assert!(!renewed && second == first, "kept before half way");
    let (third, renewed) = cert_at(t0 + time::Duration::hours(25));
    assert!(renewed && third != first, "renewed past half way");
    // With --ocsp-sign-with-ca the CA's own key signs: no certificate to send.
    let (none, _) = ca
        .with_responder(true, t0, |k| Ok(k.cert_der.is_none()))
        .unwrap();
    assert!(none);
}

#[test]
fn serve_refuses_an_unusable_listen_address() {
    let env = Env::new();
    env.hierarchy();
    let err = env.fails(2, &["serve", "--listen", "localhost"]);
    assert!(
        err.contains("--listen 'localhost' is not an address and port"),
        "{err}"
    );
}

#[test]
fn ocsp_sees_every_revoke_after_serve_signed_a_crl() {
    let env = Env::new();
    let port = free_port();
    let chain = pki_served_on(&env, port);
    let served = Served::start(&env, port, &[]);
    let out = openssl_ocsp(&served, &env, &chain, "device-ok", &[]);
    assert!(out.contains(": good"), "{out}");
    // Serving a CRL signs one: the server writes the ledger as `crl` does.
    let (code, _) = http(served.addr, "GET", "/crl/issuing.crl", b"");
    assert_eq!(code, 200, "{}", served.log());
    for name in ["device-ok", "device-stolen"] {
        env.ok(&["revoke", name, "-q"]);
        let out = openssl_ocsp(&served, &env, &chain, name, &[]);
        assert!(
            out.contains(": revoked"),
            "{name}: {out}\nserver log:\n{}",
            served.log()
        );
    }
    // The CRL served afterwards lists both.
    let (code, der) = http(served.addr, "GET", "/crl/issuing.crl", b"");
    assert_eq!(code, 200, "{}", served.log());
    let crl = env.path("served.crl");
    std::fs::write(&crl, der).unwrap();
    let (ok, text) = openssl(&["crl", "-inform", "DER", "-in", s(&crl), "-noout", "-text"]);
    assert!(ok, "{text}");
    assert_eq!(text.matches("Serial Number:").count(), 2, "{text}");
}

#[test]
fn a_cached_ocsp_answer_is_dropped_on_revoke_when_serve_upgraded_an_older_ledger_at_start() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    crate::hsm::ledger::make_v3(&env);
    let served = Served::start(&env, port, &[]);
    let req = ocsp_request(&env, "device-stolen");
    // Asked twice without a nonce: the second answer is the cached one.
    for _ in 0..2 {
        assert_eq!(ask(&served, &req).1, ["good"]);
    }
    env.ok(&["revoke", "device-stolen", "-q"]);
    assert_eq!(ask(&served, &req).1, ["revoked"], "{}", served.log());
}

#[test]
fn a_ledger_connection_stays_live_when_another_opens_and_closes_in_the_same_process() {
    use certsmith::ledger::Ledger;
    let env = Env::new();
    env.ok(&["init", "--cn", "Root", "--no-passphrase", "-q"]);
    env.ok(&["issue", "a", "-q"]);
    env.ok(&["issue", "b", "-q"]);
    let path = env.pki.join("ledger.db");
    // A long-lived connection, as `serve` keeps one.
    let kept = Ledger::open_read(&path).unwrap();
    assert_eq!(kept.cert_by_name("a").unwrap().unwrap().revoked_at, None);
    for name in ["a", "b"] {
        // Another ledger opened and closed in this process meanwhile...
        drop(Ledger::open_read(&path).unwrap());
        drop(Ledger::open(&path).unwrap());
        // ...while another process writes, then closes (and would checkpoint
        // and remove -wal / -shm if it thought itself alone).
        env.ok(&["revoke", name, "-q"]);
        assert!(
            kept.cert_by_name(name)
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some(),
            "the kept connection does not see {name} revoked"
        );
    }
    assert!(env.pki.join("ledger.db-wal").exists());
}

#[test]
fn a_crl_file_missing_a_newer_revocation_is_not_served_when_no_new_one_can_be_signed() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    env.ok(&["crl", "--ca", "root", "-q"]);
    env.ok(&["key", "offline", "root", "-q"]);
    env.ok(&[
        "revoke",
        "issuing",
        "--reason",
        "ca-compromise",
        "--yes",
        "-q",
    ]);
    let served = Served::start(&env, port, &[]);
    let (code, _) = http(served.addr, "GET", "/crl/root.crl", b"");
    assert_eq!(code, 503, "{}", served.log());
    served.log_with("misses revocations since; not serving it");
}

#[test]
fn slow_bodies_and_idle_connections_do_not_keep_healthz_from_answering() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let served = Served::start(&env, port, &["--max-connections", "8"]);
    let start = Instant::now();
    // Every slot taken: eight bodies sent a byte a second, and idle keep-alive connections.
    let slow: Vec<_> = (0..8)
        .map(|i| {
            let addr = served.addr;
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                if i % 2 == 0 {
                    let head = format!(
                        "POST /ocsp HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 60000\r\n\r\n"
                    );
                    s.write_all(head.as_bytes()).unwrap();
                    for _ in 0..20 {
                        if s.write_all(b"0").is_err() {
                            break;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                } else {
                    let mut b = [0u8; 1];
                    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                    let _ = s.read(&mut b);
                }
            })
        })
        .collect();
    // Gives the server time to take the eight connections first (without
    // it /healthz may get a slot: still a pass, only a weaker one).
    std::thread::sleep(Duration::from_millis(300));
    // At the limit a new connection is still answered at once (503), never left waiting.
    let t = Instant::now();
    let (code, _) = http(served.addr, "GET", "/healthz", b"");
    assert!(code == 200 || code == 503, "{code}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // And within the request timeout the slow ones are cut off: /healthz is 200 again.
    let ok_at = loop {
        let (code, _) = http(served.addr, "GET", "/healthz", b"");
        if code == 200 {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(ok_at < Duration::from_secs(8), "{ok_at:?}");
    for t in slow {
        t.join().unwrap();
    }
}

/// A nonce-less OCSP request for certificate `name` of the issuing CA, as
/// x509-ocsp reads it (to be altered by the test).
fn ocsp_request(env: &Env, name: &str) -> x509_ocsp::OcspRequest {
    use der::Decode;
    let req = env.path(&format!("{name}-req.der"));
    let (ok, out) = openssl(&[
        "ocsp",
        "-issuer",
        s(&issuing(env)),
        "-cert",
        s(&cert(env, name)),
        "-no_nonce",
        "-reqout",
        s(&req),
    ]);
    assert!(ok, "{out}");
    x509_ocsp::OcspRequest::from_der(&std::fs::read(&req).unwrap()).unwrap()
}

/// POSTs `req`: the response status, the status word of each CertID
/// answered and the response extensions' OIDs and values.
fn ask(
    served: &Served,
    req: &x509_ocsp::OcspRequest,
) -> (
    x509_ocsp::OcspResponseStatus,
    Vec<&'static str>,
    Vec<Vec<u8>>,
) {
    use der::{Decode, Encode};
    let (code, body) = http(served.addr, "POST", "/ocsp", &req.to_der().unwrap());
    assert_eq!(code, 200, "{}", served.log());
    let resp = x509_ocsp::OcspResponse::from_der(&body).unwrap();
    let Some(bytes) = resp.response_bytes else {
        return (resp.response_status, Vec::new(), Vec::new());
    };
    let basic = x509_ocsp::BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
    let words = basic
        .tbs_response_data
        .responses
        .iter()
        .map(|r| match r.cert_status {
            x509_ocsp::CertStatus::Good(_) => "good",
            x509_ocsp::CertStatus::Revoked(_) => "revoked",
            x509_ocsp::CertStatus::Unknown(_) => "unknown",
        })
        .collect();
    let exts = basic
        .tbs_response_data
        .response_extensions
        .unwrap_or_default()
        .iter()
        .map(|e| e.extn_value.as_bytes().to_vec())
        .collect();
    (resp.response_status, words, exts)
}

#[test]
fn a_negative_serial_in_a_certid_is_unknown_never_the_certificate_it_aliases() {
    use der::Decode;
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    // A certificate whose serial has its top bit set (DER: a leading zero
    // byte), as one in 512 random 20-byte serials does: set in the ledger.
    let serial = "9a0102030405060708090a0b0c0d0e0f101112";
    let db = rusqlite::Connection::open(env.pki.join("ledger.db")).unwrap();
    db.execute(
        "UPDATE certificates SET serial = ?1 WHERE name = 'device-ok'",
        [serial],
    )
    .unwrap();
    drop(db);
    let served = Served::start(&env, port, &[]);
    let with_serial = |contents: &[u8]| {
        let mut req = ocsp_request(&env, "device-ok");
        let mut tlv = vec![0x02, contents.len() as u8];
        tlv.extend_from_slice(contents);
        req.tbs_request.request_list[0].req_cert.serial_number =
            x509_cert::serial_number::SerialNumber::from_der(&tlv).unwrap();
        req
    };
    let bytes: Vec<u8> = (0..serial.len() / 2)
        .map(|i| u8::from_str_radix(&serial[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let positive = [&[0u8][..], &bytes].concat();
    assert_eq!(ask(&served, &with_serial(&positive)).1, vec!["good"]);
    // The same bytes without the zero: a negative number, no certificate's serial.
    assert_eq!(ask(&served, &with_serial(&bytes)).1, vec!["unknown"]);
}

/// A request extension `oid` with `value` as its extnValue.
fn extension(oid: &str, critical: bool, value: &[u8]) -> x509_cert::ext::Extension {
    x509_cert::ext::Extension {
        extn_id: oid.parse().unwrap(),
        critical,
        extn_value: der::asn1::OctetString::new(value).unwrap(),
    }
}

/// A nonce extension (RFC 8954: an OCTET STRING of `n` octets).
fn nonce(n: usize) -> x509_cert::ext::Extension {
    use der::Encode;
    let inner = der::asn1::OctetString::new(vec![7u8; n]).unwrap();
    extension("1.3.6.1.5.5.7.48.1.2", false, &inner.to_der().unwrap())
}

#[test]
fn nonces_of_1_to_128_octets_are_echoed_others_and_unknown_critical_extensions_are_malformed() {
    use x509_ocsp::OcspResponseStatus::{MalformedRequest, Successful};
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let served = Served::start(&env, port, &[]);
    let with = |exts: Vec<x509_cert::ext::Extension>| {
        let mut req = ocsp_request(&env, "device-ok");
        req.tbs_request.request_extensions = Some(exts);
        req
    };
    for n in [1, 16, 32, 33, 128] {
        let (status, words, echoed) = ask(&served, &with(vec![nonce(n)]));
        assert_eq!((status, words), (Successful, vec!["good"]), "{n}");
        assert_eq!(echoed, vec![nonce(n).extn_value.as_bytes().to_vec()], "{n}");
    }
    for n in [0, 129, 40_000] {
        assert_eq!(
            ask(&served, &with(vec![nonce(n)])).0,
            MalformedRequest,
            "{n}"
        );
    }
    // A critical extension the responder does not know must not be ignored (RFC 6960 §4.4).
    let unknown = extension("1.2.3.4.5", true, &[0x05, 0x00]);
    assert_eq!(ask(&served, &with(vec![unknown])).0, MalformedRequest);
    let mut single = ocsp_request(&env, "device-ok");
    single.tbs_request.request_list[0].single_request_extensions =
        Some(vec![extension("1.2.3.4.5", true, &[0x05, 0x00])]);
    assert_eq!(ask(&served, &single).0, MalformedRequest);
    // Known or not critical: answered.
    let known = extension("1.2.3.4.5", false, &[0x05, 0x00]);
    assert_eq!(ask(&served, &with(vec![known])).1, vec!["good"]);
}

#[test]
fn certids_of_several_cas_of_the_pki_in_one_request_are_each_answered() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    env.ok(&["revoke", "device-stolen", "-q"]);
    let served = Served::start(&env, port, &[]);
    // The issuing CA's own CertID, issued by the root.
    let of_issuing = env.path("issuing-req.der");
    let (ok, out) = openssl(&[
        "ocsp",
        "-issuer",
        s(&env.root_pem()),
        "-cert",
        s(&issuing(&env)),
        "-no_nonce",
        "-reqout",
        s(&of_issuing),
    ]);
    assert!(ok, "{out}");
    let of_issuing = {
        use der::Decode;
        x509_ocsp::OcspRequest::from_der(&std::fs::read(&of_issuing).unwrap()).unwrap()
    };
    let mut req = ocsp_request(&env, "device-stolen");
    req.tbs_request
        .request_list
        .push(of_issuing.tbs_request.request_list[0].clone());
    req.tbs_request
        .request_list
        .push(ocsp_request(&env, "device-ok").tbs_request.request_list[0].clone());
    assert_eq!(ask(&served, &req).1, vec!["revoked", "good", "good"]);
}

#[test]
fn a_ca_named_with_reserved_characters_is_served_at_its_percent_encoded_urls() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let crl = format!("http://127.0.0.1:{port}/crl/{{ca}}.crl");
    let issuers = format!("http://127.0.0.1:{port}/ca/{{ca}}.crt");
    env.ok(&[
        "intermediate",
        "p+q@r",
        "--cn",
        "PQR",
        "--no-passphrase",
        "-q",
        "--crl-url",
        &crl,
        "--ca-issuers-url",
        &issuers,
    ]);
    let served = Served::start(&env, port, &[]);
    let (code, _) = http(served.addr, "GET", "/crl/p%2Bq%40r.crl", b"");
    assert_eq!(code, 200, "{}", served.log());
    let (code, der) = http(served.addr, "GET", "/ca/p%2Bq%40r.crt", b"");
    assert_eq!(code, 200, "{}", served.log());
    let on_disk = openssl_der(
        "x509",
        &env.pki.join("cas/p+q@r/ca.pem"),
        &env.path("pqr.der"),
    );
    assert_eq!(der, on_disk);
}

#[test]
fn each_ocsp_request_is_logged_with_its_ocsp_response_status() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let served = Served::start(&env, port, &[]);
    let (code, _) = http(served.addr, "POST", "/ocsp", b"garbage");
    assert_eq!(code, 200);
    served.log_with("POST /ocsp 200 5");
    served.log_with("ocsp=malformedRequest");
    let req = ocsp_request(&env, "device-ok");
    assert_eq!(ask(&served, &req).1, vec!["good"]);
    served.log_with("ocsp=successful");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let env = Env::new();
    let port = free_port();
    pki_served_on(&env, port);
    let mut served = Served::start(&env, port, &[]);
    let body = b"garbage, answered malformedRequest";
    let mut s = TcpStream::connect(served.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body[..5]).unwrap();
    // Gives the server time to read the head: the request is in flight.
    std::thread::sleep(Duration::from_millis(200));
    let pid = served.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&body[5..])
        .expect("the server still reads the body");
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{text:?}\n{}",
        served.log()
    );
    served.exits_0_within_10_s();
}
