//! `doctor`: checks a PKI directory against its ledger (integrity, files,
//! fingerprints, keys, permissions, CRL freshness, expiry, orphans and the
//! leftovers of an interrupted command) and, with `repair`, fixes what is
//! safe to fix without losing an issued certificate.

mod files;
mod pending;

use serde::Serialize;
use time::OffsetDateTime;

use crate::certinfo::CertInfo;
use crate::error::{Error, Result};
use crate::ledger::{CertRecord, Kind, Ledger, ListFilter};
use crate::pki::Pki;

/// How bad a finding is: problems make `doctor` exit 1, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Problem,
    Warning,
    Note,
}

/// What fixes a problem, set where the problem is found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Fixer {
    /// `doctor --repair`.
    #[default]
    Repair,
    /// A command or step for a person, as printed in the hint.
    Manual(String),
    /// The token's module, the token or its PIN.
    Token,
}

/// One thing `doctor` found.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Which check: ledger, files, keys, permissions, crl, expiry, orphans, pending, temp-files.
    pub check: &'static str,
    /// The file or directory concerned, when there is one.
    pub path: Option<String>,
    pub message: String,
    /// What `--repair` did about it.
    pub repaired: Option<String>,
    /// What fixes it (problems only).
    #[serde(skip)]
    pub fixer: Fixer,
}

/// Everything `doctor` found, with counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub pki: String,
    pub cas: usize,
    pub certificates: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    fn add(
        &mut self,
        severity: Severity,
        check: &'static str,
        path: Option<String>,
        message: String,
    ) {
        self.findings.push(Finding {
            severity,
            check,
            path,
            message,
            repaired: None,
            fixer: Fixer::Repair,
        });
    }
    /// A problem with a token key (unreachable token, wrong PIN, a key not
    /// its certificate's): `--repair` cannot fix it.
    fn token_problem(&mut self, check: &'static str, path: Option<String>, message: String) {
        self.problem_fixed_by(check, path, message, Fixer::Token);
    }
    /// A problem `--repair` does not fix: its hint is the step for a
    /// person that [`manual_fix`] names for the check.
    fn problem(&mut self, check: &'static str, path: impl Into<Option<String>>, message: String) {
        self.problem_fixed_by(
            check,
            path,
            message,
            Fixer::Manual(manual_fix(check).into()),
        );
    }
    /// A problem `--repair` fixes: only a finding whose check has a repair
    /// branch is made with this, so the hint never promises more.
    fn repairable(
        &mut self,
        check: &'static str,
        path: impl Into<Option<String>>,
        message: String,
    ) {
        self.problem_fixed_by(check, path, message, Fixer::Repair);
    }
    pub(crate) fn problem_fixed_by(
        &mut self,
        check: &'static str,
        path: impl Into<Option<String>>,
        message: String,
        fixer: Fixer,
    ) {
        self.add(Severity::Problem, check, path.into(), message);
        if let Some(f) = self.findings.last_mut() {
            f.fixer = fixer;
        }
    }
    /// The fixers of the problems `--repair` did not fix, in the order found.
    pub fn open_fixers(&self) -> Vec<&Fixer> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Problem && f.repaired.is_none())
            .map(|f| &f.fixer)
            .collect()
    }
    /// Marks the last finding repaired.
    fn repaired(&mut self, what: impl Into<String>) {
        if let Some(f) = self.findings.last_mut() {
            f.repaired = Some(what.into());
        }
    }
    /// Problems that `--repair` did not fix.
    pub fn open_problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Problem && f.repaired.is_none())
            .count()
    }
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }
    pub fn repaired_count(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.repaired.is_some())
            .count()
    }
}

/// The step for a person when `--repair` cannot fix a problem of `check`.
fn manual_fix(check: &str) -> &'static str {
    match check {
        "orphans" => {
            "move the files certsmith did not write out of the PKI directory (doctor never deletes them)"
        }
        "crl" => "run `certsmith crl` to write a new CRL",
        "files" | "keys" => "restore the file from a backup of the PKI directory",
        "ledger" => "restore ledger.db from a backup of the PKI directory",
        "permissions" => "replace the symlink with the file it points to",
        _ => "see the problem lines above",
    }
}

/// What to check and whether to repair.
#[derive(Clone, Debug)]
pub struct Options {
    pub repair: bool,
    /// With `repair`: the archive of an interrupted `batch --archive` is
    /// gone for good, so its pending certificates are revoked.
    pub archive_lost: bool,
    pub now: OffsetDateTime,
    /// Warn about CAs and certificates expiring within this window.
    pub expiry_window: time::Duration,
    /// Passphrase for checking encrypted CA keys; without it they are only
    /// checked to be well-formed encrypted PKCS#8, not matched to their certificate.
    pub passphrase: Option<crate::passphrase::Passphrase>,
    /// `--allow-insecure-perms`: loose permissions are warnings, not problems.
    pub allow_insecure_perms: bool,
    /// Where the PIN of a token holding a CA key comes from.
    pub pins: crate::keystore::PinOptions,
}

/// Checks (and with `opts.repair` repairs) the PKI directory.
pub fn run(pki: &Pki, opts: &Options) -> Result<Report> {
    if !pki.root.is_dir() {
        return Err(
            Error::input(format!("no PKI directory at '{}'", pki.root.display()))
                .hint("point --pki / $CERTSMITH_PKI at your PKI directory"),
        );
    }
    let mut report = Report {
        pki: pki.root.display().to_string(),
        ..Default::default()
    };
    // Permissions first: the ledger may be one of the files to fix.
    files::permissions(pki, opts, &mut report);
    // Without --repair nothing is written, not even a v1 ledger's upgrade.
    let mut ledger = if opts.repair {
        pki.ledger(crate::ledger::Access::Write)?
    } else {
        pki.ledger(crate::ledger::Access::ReadLocked)?
    };
    integrity(&mut ledger, &mut report)?;
    if let Some(since) = crate::durability::made_without_durability(&ledger)? {
        report.add(
            Severity::Warning,
            "ledger",
            None,
            format!("this PKI was made without durability: written with --no-sync (first on {since}); a crash may have lost files or ledger rows"),
        );
    }
    // Alone on the PKI, pending rows and temp files are leftovers of a
    // process that died; with another certsmith running they may be its work.
    let alone = ledger.try_lock_exclusive();
    pending::reconcile(pki, &mut ledger, opts, alone, &mut report)?;
    files::temp_files(pki, opts, alone, &mut report);

    let all = ledger.list(&ListFilter {
        include_cas: true,
        ..Default::default()
    })?;
    report.cas = all.iter().filter(|r| r.kind != Kind::Leaf).count();
    report.certificates = all.len() - report.cas;
    let here = crate::ledger::host_name();
    let mut elsewhere: std::collections::BTreeMap<String, usize> = Default::default();
    for rec in all.iter().filter(|r| r.state == "active") {
        // A certificate another host issued has its files on that host.
        match rec.issued_by.as_ref().map(|by| &by.host) {
            Some(host)
                if ledger.shared()
                    && rec.kind == Kind::Leaf
                    && !host.is_empty()
                    && *host != here =>
            {
                *elsewhere.entry(host.clone()).or_default() += 1;
                if rec.revoked_at.is_none() {
                    let what = format!("certificate '{}'", rec.name);
                    expiry(rec, &what, opts, &mut report);
                }
            }
            _ => check_record(pki, &ledger, rec, opts, &mut report),
        }
    }
    for (host, n) in elsewhere {
        report.add(
            Severity::Note,
            "files",
            None,
            format!(
                "{n} certificate(s) issued on host '{}': their files are on that host, not checked here (run `certsmith doctor` there)",
                crate::error::shown(&host)
            ),
        );
    }
    files::orphans(pki, &all, opts, alone, &mut report);
    Ok(report)
}

fn integrity(ledger: &mut Ledger, report: &mut Report) -> Result<()> {
    let lines = ledger.integrity_check()?;
    if lines != ["ok"] {
        report.problem(
            "ledger",
            Some("ledger.db".to_string()),
            format!("ledger integrity check failed: {}", lines.join("; ")),
        );
    }
    Ok(())
}

/// The files a record must have, and the certificate file among them. A
/// CA whose key lives in a token has no key file, nor has an offline CA
/// (its key file may be in the safe).
fn expected_files(
    pki: &Pki,
    ledger: &Ledger,
    rec: &CertRecord,
) -> (std::path::PathBuf, Vec<std::path::PathBuf>) {
    let dir = pki.resolve_dir(&rec.dir);
    if rec.kind == Kind::Leaf {
        let mut v = vec![
            dir.join(crate::layout::CERT),
            dir.join(crate::layout::CHAIN),
            dir.join(crate::layout::FULLCHAIN),
        ];
        if rec.has_key {
            v.push(dir.join(crate::layout::KEY));
        }
        (dir.join(crate::layout::CERT), v)
    } else if let (Ok(None), Some(by)) = (ledger.ca(&rec.name), &rec.issuer) {
        // A cross-certificate (`ca cross-sign`): a CA certificate with no
        // CA row of its own, in the directory of the root it certifies.
        let f = dir.join(crate::layout::cross_signed_file(by));
        (f.clone(), vec![f])
    } else {
        let in_file = ledger
            .ca(&rec.name)
            .ok()
            .flatten()
            .is_none_or(|c| c.key_ref == crate::keystore::KeyRef::File && !c.offline);
        let mut v = vec![dir.join("ca.pem")];
        if in_file {
            v.push(dir.join("ca.key.pem"));
        }
        (dir.join("ca.pem"), v)
    }
}

/// The first certificate of a PEM file, if it parses.
fn first_cert(path: &std::path::Path) -> Option<CertInfo> {
    crate::certinfo::read_certs(path).ok()?.into_iter().next()
}

fn rel(pki: &Pki, p: &std::path::Path) -> String {
    p.strip_prefix(&pki.root).unwrap_or(p).display().to_string()
}

fn check_record(pki: &Pki, ledger: &Ledger, rec: &CertRecord, opts: &Options, report: &mut Report) {
    let what = if rec.kind == Kind::Leaf {
        format!("certificate '{}'", rec.name)
    } else {
        format!("CA '{}'", rec.name)
    };
    if crate::archive::is_archived(&rec.dir) {
        // Issued into a tar archive (`batch --archive`): no files here.
        return;
    }
    let (cert_path, wanted) = expected_files(pki, ledger, rec);
    let mut missing = false;
    for f in &wanted {
        if std::fs::symlink_metadata(f).is_err() {
            missing = true;
            let shown = rel(pki, f);
            // A CA key file is nothing `--repair` can make.
            let fixer = if rec.kind != Kind::Leaf && f.ends_with("ca.key.pem") {
                Fixer::Manual(format!(
                    "put the key file back at '{shown}' (or run `certsmith key offline {}` if it is kept in a safe)",
                    rec.name
                ))
            } else {
                Fixer::Repair
            };
            report.problem_fixed_by(
                "files",
                shown.clone(),
                format!("{what}: '{shown}' is missing"),
                fixer,
            );
        }
    }
    if missing && !cert_path.exists() {
        return;
    }
    let Some(cert) = first_cert(&cert_path) else {
        report.problem(
            "files",
            rel(pki, &cert_path),
            format!(
                "{what}: '{}' is not a readable certificate",
                rel(pki, &cert_path)
            ),
        );
        return;
    };
    if cert.fingerprint != rec.fingerprint {
        report.problem(
            "files",
            rel(pki, &cert_path),
            format!(
                "{what}: '{}' has fingerprint {} but the ledger records {}",
                rel(pki, &cert_path),
                cert.fingerprint,
                rec.fingerprint
            ),
        );
    }
    if rec.kind == Kind::Leaf {
        let dir = pki.resolve_dir(&rec.dir);
        let full = dir.join(crate::layout::FULLCHAIN);
        if full.exists()
            && first_cert(&full).map(|c| c.fingerprint) != Some(rec.fingerprint.clone())
        {
            report.problem(
                "files",
                rel(pki, &full),
                format!(
                    "{what}: '{}' does not start with its certificate",
                    rel(pki, &full)
                ),
            );
        }
        if rec.has_key {
            check_key(
                pki,
                &dir.join(crate::layout::KEY),
                &cert,
                &what,
                None,
                report,
            );
        }
    } else {
        let ca = ledger.ca(&rec.name).ok().flatten();
        let encrypted = ca.as_ref().is_some_and(|c| c.encrypted);
        let pass = if encrypted {
            opts.passphrase.as_ref()
        } else {
            None
        };
        match ca {
            Some(ca) if ca.offline => report.add(
                Severity::Note,
                "keys",
                None,
                format!(
                    "{what} is offline (its key is away: {}); its key is not checked",
                    ca.key_ref
                ),
            ),
            Some(crate::ledger::CaRecord {
                key_ref: crate::keystore::KeyRef::Pkcs11(uri),
                ..
            }) => check_token_key(&uri, &cert, &what, opts, report),
            _ => check_key(pki, &pki.ca_key_path(&rec.name), &cert, &what, pass, report),
        }
        let ca = ledger.ca(&rec.name).ok().flatten();
        let state = (
            ca.as_ref().is_some_and(|c| c.offline),
            ca.as_ref().map_or(0, |c| c.crl_number),
        );
        files::crl(pki, &rec.name, &cert, state, opts, report);
    }
    if rec.revoked_at.is_none() {
        expiry(rec, &what, opts, report);
    }
}

/// Whether the token holding a CA key is reachable and its key belongs to
/// `cert`. Without a PIN source (and no terminal) the check is skipped
/// with a warning rather than reported as a problem.
fn check_token_key(
    uri: &crate::keystore::Pkcs11Uri,
    cert: &CertInfo,
    what: &str,
    opts: &Options,
    report: &mut Report,
) {
    let pins = &opts.pins;
    if !pins.available() {
        report.add(
            Severity::Warning,
            "keys",
            None,
            format!("{what}: the token key {uri} was not checked: no PIN (pass --pin-file FILE or set ${})", crate::keystore::pkcs11::PIN_ENV),
        );
        return;
    }
    // The token signs a nonce that the certificate's public key must
    // verify: a public key object beside the private key proves nothing.
    let signs = crate::keystore::pkcs11::open_recorded(uri, pins, &cert.spki_der).and_then(|k| {
        let origin = k.origin().map(|o| format!(", {o}")).unwrap_or_default();
        k.signs_for(&cert.spki_der).map(|ok| (ok, origin))
    });
    match signs {
        Ok((true, origin)) => report.add(
            Severity::Note,
            "keys",
            None,
            format!("{what}: token key matches its certificate ({uri}{origin})"),
        ),
        Ok((false, origin)) => report.token_problem(
            "keys",
            None,
            format!("{what}: the token key {uri}{origin} does not belong to its certificate: its signature does not verify with the certificate's public key"),
        ),
        Err(e) => report.token_problem("keys", None, format!("{what}: {}", e)),
    }
}

/// Whether the key file belongs to `cert`. An encrypted key without a
/// passphrase can only be checked to be a well-formed encrypted key.
fn check_key(
    pki: &Pki,
    path: &std::path::Path,
    cert: &CertInfo,
    what: &str,
    pass: Option<&crate::passphrase::Passphrase>,
    report: &mut Report,
) {
    let text = match crate::input::read_to_string(path, crate::input::Kind::Key) {
        Ok(text) => zeroize::Zeroizing::new(text),
        // A FIFO, device or directory in place of the key.
        Err(e) if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) => {
            report.problem("keys", rel(pki, path), format!("{what}: {e}"));
            return;
        }
        Err(_) => return, // reported as missing, or unreadable: permissions finding
    };
    if crate::keys::is_encrypted_pem(&text) && pass.is_none() {
        let der = ::pem::parse(text.as_str()).ok();
        let well_formed = der.is_some_and(|p| {
            p.tag() == "ENCRYPTED PRIVATE KEY"
                && pkcs8::EncryptedPrivateKeyInfoRef::try_from(p.contents()).is_ok()
        });
        if !well_formed {
            report.problem(
                "keys",
                rel(pki, path),
                format!("{what}: '{}' is not a valid encrypted key", rel(pki, path)),
            );
        }
        return;
    }
    let mut ask = || pass.cloned().ok_or_else(|| Error::input("no passphrase"));
    match crate::keys::load_private_key(&text, &rel(pki, path), &mut ask) {
        Ok(k) if crate::keys::key_matches_spki(&k, &cert.spki_der) => {}
        Ok(_) => report.problem(
            "keys",
            rel(pki, path),
            format!(
                "{what}: the key in '{}' does not belong to its certificate",
                rel(pki, path)
            ),
        ),
        Err(e) => report.problem("keys", rel(pki, path), format!("{what}: {e}")),
    }
}

fn expiry(rec: &CertRecord, what: &str, opts: &Options, report: &mut Report) {
    let now = opts.now.unix_timestamp();
    // Near year 9999 the window runs past the calendar: everything is "soon".
    let soon = opts
        .now
        .checked_add(opts.expiry_window)
        .map_or(i64::MAX, |t| t.unix_timestamp());
    let when = OffsetDateTime::from_unix_timestamp(rec.not_after)
        .map(crate::clock::rfc3339)
        .unwrap_or_default();
    if rec.not_after < now {
        // An expired leaf is history; an expired CA can no longer issue.
        if rec.kind != Kind::Leaf {
            report.add(
                Severity::Warning,
                "expiry",
                None,
                format!("{what} expired on {when}"),
            );
        }
    } else if rec.not_after < soon {
        let days = (rec.not_after - now) / 86_400;
        report.add(
            Severity::Warning,
            "expiry",
            None,
            format!("{what} expires in {days} days ({when})"),
        );
    }
}
