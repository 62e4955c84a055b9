//! Publishing CRLs (`certsmith crl`): the CRL of one CA, or of every CA
//! that publishes one, each written on its own so one CA that cannot sign
//! does not keep the others' CRLs back.

use time::Duration;

use crate::ca::{self, Signer};
use crate::crl::{self, WrittenCrl};
use crate::error::{Error, Result};
use crate::passphrase::{PassOptions, PerCaFiles};
use crate::pki::Pki;

/// Which CRLs to write.
#[derive(Clone, Debug)]
pub struct CrlRequest {
    /// `--ca`; `None` means every CA of the PKI.
    pub ca: Option<String>,
    /// Time until nextUpdate for this run; `None`: each CA's own length
    /// (`ca set-crl`, else 180 days for a root, 7 days for an issuing CA).
    pub next_update: Option<Duration>,
    /// Also write `crl.der`.
    pub der: bool,
    pub pass: PassOptions,
    /// `--passphrase-file [CA=]FILE`: a passphrase file per CA.
    pub files: PerCaFiles,
}

/// What `crl` did, CA by CA.
#[derive(Debug, Default)]
pub struct CrlReport {
    pub written: Vec<WrittenCrl>,
    /// CAs made with `--no-crl` (only without `--ca`).
    pub skipped: Vec<String>,
    /// CAs whose key is away (`key offline`; only without `--ca`).
    pub offline: Vec<String>,
    /// CAs past their notAfter, with it (RFC 3339; only without `--ca`):
    /// no CRL can be signed for them, and peers reject their chains already.
    pub expired: Vec<(String, String)>,
    /// CAs whose CRL could not be written (only without `--ca`).
    pub failed: Vec<(String, Error)>,
}

impl CrlReport {
    /// The earliest nextUpdate among the CRLs written: when they must be
    /// published again at the latest.
    pub fn earliest_next_update(&self) -> Option<&str> {
        // RFC 3339 in UTC sorts as text.
        self.written.iter().map(|w| w.next_update.as_str()).min()
    }

    /// The error of the whole run when some CRL could not be written.
    pub fn error(&self) -> Option<Error> {
        if self.failed.is_empty() {
            return None;
        }
        let names: Vec<&str> = self.failed.iter().map(|(n, _)| n.as_str()).collect();
        Some(Error::failed(format!(
            "{} of {} CRLs could not be written ({})",
            self.failed.len(),
            self.written.len() + self.failed.len(),
            names.join(", ")
        )))
    }
}

/// `certsmith crl`: writes the CRL of `req.ca`, or of every CA. With
/// `--ca` its own error is the answer; without, failures are collected in
/// the report.
pub fn crl(pki: &Pki, req: &CrlRequest) -> Result<CrlReport> {
    let mut ledger = pki.open_ledger()?;
    let names: Vec<String> = match &req.ca {
        Some(ca) => vec![ca.clone()],
        None => ledger.cas()?.into_iter().map(|c| c.cert.name).collect(),
    };
    for (ca, _) in &req.files.per_ca {
        pki.ca(&ledger, ca).map_err(|e| {
            e.context(format!(
                "--passphrase-file {}=FILE",
                crate::error::shown(ca)
            ))
        })?;
    }
    let mut report = CrlReport::default();
    let now = crate::clock::now()?;
    for n in &names {
        // A CA whose key is away is skipped unless named with --ca (then
        // loading it says it is offline).
        if req.ca.is_none() && ledger.ca(n)?.is_some_and(|c| c.offline) {
            report.offline.push(n.clone());
            continue;
        }
        // An expired CA is skipped unless named with --ca (then signing refuses it).
        if req.ca.is_none()
            && let Ok((_, info)) = pki.ca(&ledger, n)
            && info.not_after <= now
        {
            let at = crate::clock::rfc3339(info.not_after);
            report.expired.push((n.clone(), at));
            continue;
        }
        let publishes = pki.ca(&ledger, n).and_then(|(_, info)| {
            if ca::publishes_crl(&info) {
                Ok(true)
            } else if req.ca.is_some() {
                Err(Error::input(format!(
                    "CA '{n}' publishes no CRL (made with --no-crl; keyUsage lacks cRLSign)"
                ))
                .hint(
                    "revocations under it reach peers only by removing it from their trust stores",
                ))
            } else {
                Ok(false)
            }
        });
        let result = match publishes {
            Ok(false) => {
                report.skipped.push(n.clone());
                continue;
            }
            Ok(true) => {
                let pass = req.files.for_ca(&req.pass, n);
                ensure_passphrase_source(&ledger, n, &pass, names.len() > 1)
                    .and_then(|()| Signer::load_for_crl(pki, &ledger, n, &pass))
                    .map_err(|e| per_ca_hint(e, n, names.len() > 1))
                    .and_then(|s| crl::write(pki, &mut ledger, &s, req.next_update, req.der))
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(w) => report.written.push(w),
            Err(e) if req.ca.is_some() => return Err(e),
            Err(e) => report.failed.push((n.clone(), e)),
        }
    }
    Ok(report)
}

/// A wrong passphrase for CA `ca` in a run over several CAs: the hint
/// names the per-CA flag for that CA.
fn per_ca_hint(e: Error, ca: &str, several: bool) -> Error {
    if !several || e.code() != "wrong_passphrase" {
        return e;
    }
    let hint = format!(
        "check the file given for it: --passphrase-file {}=FILE (one per CA whose passphrase differs), or ${}",
        crate::error::shown(ca),
        crate::passphrase::PASSPHRASE_ENV
    );
    e.hint(hint)
}

/// Refuses, naming CA `ca` and the flag that gives its passphrase, to open
/// its encrypted key when nothing gives the passphrase and there is no
/// terminal to ask (`several`: the run opens more than one CA).
fn ensure_passphrase_source(
    ledger: &crate::ledger::Ledger,
    ca: &str,
    pass: &PassOptions,
    several: bool,
) -> Result<()> {
    let encrypted = ledger.ca(ca)?.is_some_and(|r| r.encrypted);
    if !encrypted || crate::passphrase::has_source(pass) || crate::passphrase::can_prompt() {
        return Ok(());
    }
    let ca = crate::error::shown(ca);
    let flag = if several {
        format!("--passphrase-file {ca}=FILE (one per CA whose passphrase differs)")
    } else {
        "--passphrase-file FILE".to_string()
    };
    Err(Error::input(format!(
        "the key of CA '{ca}' is encrypted and there is no terminal to ask for its passphrase"
    ))
    .hint(format!(
        "pass {flag}, or set ${}",
        crate::passphrase::PASSPHRASE_ENV
    )))
}
