//! Running `certsmith serve`: opening every CA's key once, then serving
//! CRLs, CA certificates and OCSP until SIGTERM or SIGINT.

use std::net::SocketAddr;

use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::passphrase::PassOptions;
use crate::pki::Pki;
use crate::serve::authority::Authority;

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeRequest {
    pub listen: String,
    /// Sign OCSP responses with the CA key, not a delegated responder.
    pub sign_with_ca: bool,
    pub max_connections: usize,
    /// How the CA keys are opened (a passphrase file, the environment, a PIN file).
    pub pass: PassOptions,
}

/// Parses `--listen ADDR:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr> {
    s.parse().map_err(|_| {
        Error::input(format!(
            "--listen '{}' is not an address and port such as 127.0.0.1:8080",
            crate::error::shown(s)
        ))
    })
}

/// `certsmith serve`: opens each CA's key (a CA whose key is offline or
/// cannot be opened is served from its last CRL file, and its OCSP
/// requests are answered with internalError), then serves until a signal.
/// `ready` is told the bound address and what was opened.
pub fn serve(
    pki: &Pki,
    req: &ServeRequest,
    ready: impl FnOnce(SocketAddr, &[String]),
) -> Result<()> {
    let addr = parse_listen(&req.listen)?;
    let ledger = pki.read_ledger()?;
    let mut cas = Vec::new();
    let mut notes = Vec::new();
    for rec in ledger.cas()? {
        let name = rec.cert.name;
        let signer = match Signer::load_for_crl(pki, &ledger, &name, &req.pass) {
            Ok(s) => Some(s),
            Err(e) => {
                notes.push(format!(
                    "CA '{name}': key not opened ({e}); serving its last CRL file"
                ));
                None
            }
        };
        cas.push(Authority::new(pki, &ledger, &name, signer)?);
    }
    drop(ledger);
    // Opened once each and kept: one to read statuses, one to record the CRLs it signs.
    // The writer first: it upgrades an older ledger, which the reader then
    // reads as it is (a reader opened before would keep seeing the old layout).
    let writer = pki.ledger(crate::ledger::Access::KeptWriter)?;
    let view = pki.ledger(crate::ledger::Access::Read)?;
    let server = crate::serve::Server::new(pki.clone(), cas, view, writer, req.sign_with_ca);
    crate::serve::run(server, addr, req.max_connections, |a| ready(a, &notes))
}
