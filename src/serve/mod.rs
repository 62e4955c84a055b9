//! `certsmith serve`: the revocation data of a PKI over HTTP — CRLs, CA
//! certificates and an OCSP responder (RFC 6960 / RFC 5019) that reads
//! statuses live from the ledger. Serves nothing else from the PKI
//! directory: every path it answers is looked up among the CA names.

pub mod authority;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use base64::Engine;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use time::Duration;
use x509_ocsp::OcspResponseStatus;

use crate::error::{Error, Result, shown};
use crate::ledger::Ledger;
use crate::ocsp::{self, Status};
use crate::pki::Pki;
use authority::{Authority, ServedCrl};

/// The largest request body read (an OCSP request is a few hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;
/// How long an OCSP response is valid (its nextUpdate after thisUpdate).
const OCSP_VALIDITY: Duration = Duration::hours(1);
/// A cached response is signed again once this much of its validity is left.
const OCSP_REFRESH_BEFORE: Duration = Duration::minutes(30);
/// The most responses cached: past it the cache starts afresh, so requests
/// for ever new serials cannot grow it without end.
const OCSP_CACHE_MAX: usize = 100_000;

/// The ledger as `serve` reads it: one read connection and the change
/// token it last saw.
struct LedgerView {
    ledger: Ledger,
    version: i64,
}

/// A signed response kept for nonce-less requests of one CertID.
struct Cached {
    der: Bytes,
    fresh_until: i64,
    /// The ledger change token its statuses were read at.
    version: i64,
}

/// Everything a request needs.
pub struct Server {
    pki: Pki,
    cas: Vec<Authority>,
    view: Mutex<LedgerView>,
    /// The connection that records the CRLs `serve` signs, opened once.
    writer: Mutex<Ledger>,
    cache: RwLock<HashMap<Vec<u8>, Cached>>,
    sign_with_ca: bool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// A server over `cas`, reading statuses through `ledger` (a read connection).
    pub fn new(
        pki: Pki,
        cas: Vec<Authority>,
        ledger: Ledger,
        writer: Ledger,
        sign_with_ca: bool,
    ) -> Server {
        Server {
            pki,
            cas,
            view: Mutex::new(LedgerView {
                ledger,
                version: -1,
            }),
            writer: Mutex::new(writer),
            cache: RwLock::new(HashMap::new()),
            sign_with_ca,
        }
    }

    fn authority(&self, name: &str) -> Option<&Authority> {
        self.cas.iter().find(|a| a.name == name)
    }

    /// Runs `f` on the read connection after the ledger's change token
    /// said whether any record changed since the last look: then the
    /// cached responses are dropped.
    fn with_ledger<T>(&self, f: impl FnOnce(&Ledger) -> Result<T>) -> Result<T> {
        self.with_ledger_at(|ledger, _| f(ledger))
    }

    /// [`Self::with_ledger`], telling `f` the change token it reads at.
    fn with_ledger_at<T>(&self, f: impl FnOnce(&Ledger, i64) -> Result<T>) -> Result<T> {
        let mut v = lock(&self.view);
        let version = v.ledger.change_token().map_err(unreadable)?;
        if version != v.version {
            self.cache
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            v.version = version;
        }
        f(&v.ledger, version)
    }

    /// Answers one DER OCSP request.
    pub fn ocsp(&self, body: &[u8]) -> Vec<u8> {
        let Some(req) = ocsp::parse_request(body) else {
            return ocsp::malformed();
        };
        match self.answer(&req) {
            Ok(der) => der,
            Err(e) => {
                crate::error::diagnostic("certsmith: serve: ", &e.to_string());
                ocsp::status_only(OcspResponseStatus::InternalError)
            }
        }
    }

    fn answer(&self, req: &ocsp::Request) -> Result<Vec<u8>> {
        let now = crate::clock::now()?;
        let cache_key = (req.nonce.is_none() && req.ids.len() == 1).then(|| req.ids[0].1.clone());
        let mut seen = -1;
        let looked_up = self.with_ledger_at(|ledger, version| {
            seen = version;
            if let Some(k) = &cache_key
                && let Some(c) = self
                    .cache
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(k)
                    .filter(|c| now.unix_timestamp() < c.fresh_until && c.version == version)
            {
                return Ok(Err(c.der.to_vec()));
            }
            // The CA the first CertID names signs the response (through its responder).
            let Some(ca) = self.cas.iter().find(|a| a.ids.matches(&req.ids[0].0)) else {
                return Ok(Ok(None));
            };
            let mut answers = Vec::with_capacity(req.ids.len());
            // Each CertID answered by the CA of this PKI it names; other issuers: unknown.
            for (id, _) in &req.ids {
                let status = match self.cas.iter().find(|a| a.ids.matches(id)) {
                    Some(owner) => status_of(ledger, &owner.name, id.serial_number.as_bytes())?,
                    None => Status::Unknown,
                };
                answers.push((id.clone(), status));
            }
            Ok(Ok(Some((ca, answers))))
        })?;
        let (ca, answers) = match looked_up {
            Err(cached) => return Ok(cached),
            // No CA of this PKI issued it: not ours to answer (RFC 5019 2.2.3).
            Ok(None) => return Ok(ocsp::status_only(OcspResponseStatus::Unauthorized)),
            Ok(Some(found)) => found,
        };
        let next = now + OCSP_VALIDITY;
        let (der, renewed) = ca.with_responder(self.sign_with_ca, now, |key| {
            ocsp::respond(&answers, req.nonce.as_ref(), key, now, next)
        })?;
        // A response signed over statuses read before another connection
        // committed (a revoke) is never cached: the view lock is taken
        // first, as `with_ledger_at` takes it, so no clear runs in between.
        let view = lock(&self.view);
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if renewed {
            cache.clear();
        }
        if let Some(k) = cache_key.filter(|_| view.version == seen) {
            if cache.len() >= OCSP_CACHE_MAX {
                cache.clear();
            }
            cache.insert(
                k,
                Cached {
                    der: Bytes::from(der.clone()),
                    fresh_until: (next - OCSP_REFRESH_BEFORE).unix_timestamp(),
                    version: seen,
                },
            );
        }
        Ok(der)
    }

    /// The CRL of CA `name` (none for a CA made with `--no-crl`): what
    /// [`crate::crl::current`] says, the one rule `serve` shares with
    /// `crl` (signed again and written when due or when its revocations
    /// changed). Kept in memory until the CA's revocations change or it
    /// may be due; the last CRL file when the key is not open or signing
    /// fails, unless the ledger holds revocations newer than that file:
    /// then an error (503), never a CRL known to be missing revocations.
    pub fn crl(&self, name: &str) -> Option<Result<Arc<Vec<u8>>>> {
        let ca = self.authority(name).filter(|a| a.publishes_crl)?;
        Some(self.crl_of(ca))
    }

    fn crl_of(&self, ca: &Authority) -> Result<Arc<Vec<u8>>> {
        let now = crate::clock::now()?.unix_timestamp();
        let revocations: (i64, i64) =
            self.with_ledger(|ledger| ledger.revocation_summary(&ca.name).map_err(unreadable))?;
        let mut served = lock(&ca.crl);
        if let Some(c) = served
            .as_ref()
            .filter(|c| c.revocations == revocations && now < c.refresh_at)
        {
            return Ok(c.der.clone());
        }
        let fresh = match ca.signer() {
            Some(signer) => (|| {
                let _dir = crate::lock::shared(&self.pki.root)?;
                let mut writer = lock(&self.writer);
                crate::crl::current(&self.pki, &mut writer, &signer).map(|c| c.der)
            })(),
            None => Err(Error::failed(format!(
                "the key of CA '{}' is not open",
                shown(&ca.name)
            ))),
        };
        let (der, info) = match fresh {
            Ok(der) => {
                let info = crate::crl::CrlInfo::from_der(&der, "the CRL just written")?;
                (der, info)
            }
            Err(e) => {
                let on_disk = crate::crl::read_file(&self.pki.crl_path(&ca.name))?;
                let info = on_disk.into_iter().next().ok_or_else(|| {
                    Error::failed(format!("CA '{}' has no CRL file", shown(&ca.name)))
                })?;
                if self.misses_revocations(ca, &info)? {
                    return Err(Error::failed(format!(
                        "cannot sign a new CRL of CA '{}' ({e}) and its last CRL file misses revocations since; not serving it",
                        shown(&ca.name)
                    )));
                }
                crate::error::diagnostic(
                    "certsmith: serve: ",
                    &format!(
                        "cannot sign a new CRL of CA '{}' ({e}); serving its last CRL file",
                        shown(&ca.name)
                    ),
                );
                (info.der.clone(), info)
            }
        };
        // Looked at again when it may be due, and at least hourly (grace periods end).
        let refresh_at = match info.next_update {
            Some(next) => (next - crate::crl::due_window(info.this_update, next))
                .unix_timestamp()
                .min(now + 3600),
            None => now + 3600,
        }
        .max(now + 60);
        let der = Arc::new(der);
        *served = Some(ServedCrl {
            der: der.clone(),
            revocations,
            refresh_at,
        });
        Ok(der)
    }

    /// Whether CRL `info` of `ca` leaves off a certificate revoked at or
    /// after its thisUpdate.
    fn misses_revocations(&self, ca: &Authority, info: &crate::crl::CrlInfo) -> Result<bool> {
        let since: Vec<String> = self.with_ledger(|ledger| {
            ledger
                .revoked_since(&ca.name, info.this_update.unix_timestamp())
                .map_err(unreadable)
        })?;
        Ok(since.iter().any(|serial| {
            !info
                .entries
                .iter()
                .any(|e| crate::serial::to_hex(&e.serial) == *serial)
        }))
    }

    /// Routes one request: method, path and body to status, content type and body.
    pub fn route(
        &self,
        method: &Method,
        path: &str,
        body: &[u8],
    ) -> (StatusCode, &'static str, Bytes) {
        let not_found = (
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"not found\n"),
        );
        match (method, path) {
            (&Method::GET, "/healthz") => {
                (StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n"))
            }
            (&Method::POST, "/ocsp") | (&Method::POST, "/ocsp/") => {
                (StatusCode::OK, OCSP_TYPE, Bytes::from(self.ocsp(body)))
            }
            (&Method::GET, p) if p.starts_with("/ocsp/") => {
                let der = percent_decode(&p["/ocsp/".len()..])
                    .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok());
                let answer = match der {
                    Some(d) => self.ocsp(&d),
                    None => ocsp::malformed(),
                };
                (StatusCode::OK, OCSP_TYPE, Bytes::from(answer))
            }
            (&Method::GET, p) => {
                // CA names are percent-encoded in the URLs (see `ca_urls::percent_encode`).
                let named = |prefix: &str, suffix: &str| {
                    p.strip_prefix(prefix)
                        .and_then(|n| n.strip_suffix(suffix))
                        .and_then(percent_decode)
                };
                if let Some(name) = named("/ca/", ".crt") {
                    return match self.authority(&name) {
                        Some(a) => (
                            StatusCode::OK,
                            "application/pkix-cert",
                            Bytes::from(a.cert_der.to_vec()),
                        ),
                        None => not_found,
                    };
                }
                if let Some(name) = named("/crl/", ".crl") {
                    return match self.crl(&name) {
                        Some(Ok(der)) => (
                            StatusCode::OK,
                            "application/pkix-crl",
                            Bytes::from(der.to_vec()),
                        ),
                        Some(Err(e)) => {
                            crate::error::diagnostic("certsmith: serve: ", &e.to_string());
                            (
                                StatusCode::SERVICE_UNAVAILABLE,
                                "text/plain",
                                Bytes::from_static(b"no CRL available\n"),
                            )
                        }
                        None => not_found,
                    };
                }
                not_found
            }
            _ => not_found,
        }
    }
}

const OCSP_TYPE: &str = "application/ocsp-response";

/// Decodes %XX escapes (RFC 5019 GET requests escape '+', '/' and '=').
fn percent_decode(s: &str) -> Option<String> {
    String::from_utf8(crate::percent::decode(s)?).ok()
}

/// A failed read of the ledger, as `serve` reports it.
fn unreadable(e: Error) -> Error {
    match e {
        Error::Ledger { detail } => Error::failed(format!("cannot read the ledger: {detail}")),
        other => other,
    }
}

/// The status of serial `serial` (DER INTEGER contents) issued by `ca`.
fn status_of(ledger: &Ledger, ca: &str, serial: &[u8]) -> Result<Status> {
    // DER INTEGER contents with the top bit set are a negative number: no
    // certificate's serial, though the same bytes after a zero may be one.
    if serial.first().is_none_or(|b| b & 0x80 != 0) {
        return Ok(Status::Unknown);
    }
    let hex = crate::serial::to_hex(crate::serial::normalize(serial));
    let row = ledger
        .serial_status(ca, &hex)
        .map_err(unreadable)?
        .map(|s| (s.state, s.revoked_at, s.reason));
    Ok(match row {
        None => Status::Unknown,
        Some((state, _, _)) if state == "pending" => Status::Unknown,
        Some((_, Some(at), why)) => Status::Revoked {
            at,
            reason: crate::revoke::reason_code(why.as_deref()) as u8,
        },
        Some(_) => Status::Good,
    })
}

/// Listens on `addr` and serves until SIGTERM or SIGINT; `ready` is called
/// with the bound address once it accepts connections.
pub fn run(
    server: Server,
    addr: SocketAddr,
    max_connections: usize,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::failed(format!("cannot start the server: {e}")))?;
    rt.block_on(listen(Arc::new(server), addr, max_connections, ready))
}

async fn listen(
    server: Arc<Server>,
    addr: SocketAddr,
    max_connections: usize,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::input(format!("cannot listen on '{addr}': {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::failed(format!("cannot listen on '{addr}': {e}")))?;
    let sig = |k| signal(k).map_err(|e| Error::failed(format!("cannot handle signals: {e}")));
    let (mut term, mut int) = (sig(SignalKind::terminate())?, sig(SignalKind::interrupt())?);
    let max = max_connections.clamp(1, tokio::sync::Semaphore::MAX_PERMITS) as u32;
    let slots = Arc::new(tokio::sync::Semaphore::new(max as usize));
    // Told when serve stops: each connection finishes its request, then closes.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    ready(bound);
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    crate::error::diagnostic("certsmith: serve: ", &format!("accept failed: {e}"));
                    continue;
                }
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        // At the limit a connection is still accepted, answered 503 and closed:
        // clients learn it at once instead of waiting in the backlog.
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tokio::spawn(busy(stream, peer));
            continue;
        };
        let server = server.clone();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(server.clone(), peer, req));
            // The header timer also runs while a kept-alive connection is idle.
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(REQUEST_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stopping.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    // In-flight requests finish (each within the request timeout), then it exits.
    let _ = stop.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(max)).await;
    crate::error::diagnostic("certsmith: serve: ", "stopped");
    Ok(())
}

/// How long serve waits for requests in flight once told to stop.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(8);

/// How long a request may take to arrive, its head and its body each; also
/// how long a kept-alive connection may stay idle.
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers 503 to the request of a connection accepted past the limit and
/// closes it; the request head must arrive within a second.
async fn busy(stream: tokio::net::TcpStream, peer: SocketAddr) {
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
        crate::error::diagnostic(
            "",
            &format!(
                "{peer} {} {} 503 (connection limit)",
                req.method(),
                shown_path(req.uri().path())
            ),
        );
        let mut resp = Response::new(Full::new(Bytes::from_static(b"too many connections\n")));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        resp.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
        Ok::<_, std::convert::Infallible>(resp)
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(std::time::Duration::from_secs(1))
        .keep_alive(false)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
        .await;
}

/// A request path as logged: its first 96 characters.
fn shown_path(path: &str) -> String {
    path.chars().take(96).collect()
}

async fn handle(
    server: Arc<Server>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let start = Instant::now();
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let collected = tokio::time::timeout(REQUEST_TIMEOUT, Limited::new(body, MAX_BODY).collect());
    let (status, ctype, bytes) = match collected.await {
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            "text/plain",
            Bytes::from_static(b"request body too slow\n"),
        ),
        Ok(Ok(b)) => {
            let body = b.to_bytes();
            let s = server.clone();
            let method = parts.method.clone();
            let p = path.clone();
            if p.starts_with("/crl/") {
                // Signing a CRL of many entries takes a while: let the other tasks move on.
                tokio::task::block_in_place(move || s.route(&method, &p, &body))
            } else {
                s.route(&method, &p, &body)
            }
        }
        Ok(Err(_)) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "text/plain",
            Bytes::from_static(b"request body too large\n"),
        ),
    };
    let shown = shown_path(&path);
    // OCSP errors are HTTP 200: the OCSP status is logged too, so they can be counted.
    let ocsp = match ctype {
        OCSP_TYPE => format!(" ocsp={}", ocsp::status_word(&bytes)),
        _ => String::new(),
    };
    crate::error::diagnostic(
        "",
        &format!(
            "{peer} {} {shown} {} {} {}us{ocsp}",
            parts.method,
            status.as_u16(),
            bytes.len(),
            start.elapsed().as_micros()
        ),
    );
    let mut resp = Response::new(Full::new(bytes));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    Ok(resp)
}
