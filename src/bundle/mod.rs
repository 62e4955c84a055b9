//! Trust-store bundles: the CA certificates (and CRLs) a trust store wants,
//! checked against that store's documented rules before anyone uploads
//! them. A target is data plus checks, one file each; `checks.rs` holds the
//! rules they share.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::certinfo::CertInfo;
use crate::crl::CrlInfo;
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::passphrase::PassOptions;
use crate::pki::Pki;
use crate::store::{Existing, KEY_MODE, PUBLIC_MODE, Staged};
use crate::{clock, crl};

pub mod ca_set;
pub mod checks;
pub mod crl_uploads;
pub mod mesh;

mod aws_alb;
mod aws_apigw;
mod aws_iot;
mod envoy;
mod generic;
mod haproxy;
mod istio;
mod k8s;
mod nginx;

/// Every target, in the order `--help` lists them.
pub const TARGETS: &[&dyn Target] = &[
    &generic::Generic,
    &aws_alb::AwsAlb,
    &aws_apigw::AwsApigw,
    &aws_iot::AwsIot,
    &nginx::Nginx,
    &envoy::Envoy,
    &haproxy::Haproxy,
    &k8s::K8s,
    &istio::Istio,
];

/// The target called `name`.
pub fn target(name: &str) -> Result<&'static dyn Target> {
    TARGETS
        .iter()
        .copied()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            Error::input(format!("unknown trust-store target '{name}'")).hint(format!(
                "use one of: {}",
                TARGETS
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// How serious a broken rule is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The trust store would reject the bundle: nothing is written.
    Error,
    /// The trust store accepts it with a caveat: printed, and the bundle is written.
    Warning,
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub target: &'static str,
    pub rule: &'static str,
    /// `subject (sha256 fingerprint)` of the certificate at fault, if one is.
    pub cert: Option<String>,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rule '{}'", self.target, self.rule)?;
        if let Some(c) = &self.cert {
            write!(f, " broken by {c}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The part a certificate plays in the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Root,
    Intermediate,
    Leaf,
}

impl Role {
    pub fn of(c: &CertInfo) -> Role {
        if !c.is_ca {
            Role::Leaf
        } else if c.self_signed {
            Role::Root
        } else {
            Role::Intermediate
        }
    }
}

/// What a target's rules look at.
#[derive(Clone, Debug)]
pub struct Contents {
    /// The bundle text exactly as written or read.
    pub text: String,
    pub certs: Vec<CertInfo>,
    pub crls: Vec<CrlInfo>,
    pub now: time::OffsetDateTime,
    /// (new entries, old entries) of each list the printed steps add a
    /// replacement for before removing it, in the printed order (ALB
    /// revocation lists); empty when checking a file.
    pub replaced_entries: Vec<(usize, usize)>,
}

/// Whether and how a target takes CRLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrlSupport {
    /// The trust store cannot use CRLs (say so, write none).
    Unsupported,
    /// Written with `--with-crl`, one file per CA.
    PerCa,
    /// Always written, every CA's CRL in one file (the server refuses
    /// clients whose chain lacks a CRL).
    Combined,
    /// Written with `--with-crl`, every CA's CRL in one file.
    CombinedOptional,
}

/// What a target may add beyond `ca-bundle.pem`, CRLs and `manifest.json`.
pub struct ExtraInput<'a> {
    pub pki: &'a Pki,
    pub ledger: &'a Ledger,
    pub contents: &'a Contents,
    /// PKI names of the CAs in the bundle, in bundle order.
    pub ca_names: &'a [String],
    pub opts: &'a Options,
    pub dir: &'a Path,
    /// File name of the CRL file(s) written, if any.
    pub crl_files: &'a [String],
}

/// A file a target adds.
pub struct OutFile {
    pub name: String,
    pub bytes: Vec<u8>,
    /// 0600 for anything holding a private key.
    pub secret: bool,
}

/// Facts for a target's next commands.
pub struct NextInput<'a> {
    pub dir: &'a Path,
    pub files: &'a [String],
    pub crl_files: &'a [String],
    pub depth: usize,
    pub opts: &'a Options,
    /// Each CA's CRL file and whether it changed since the last bundle
    /// (targets whose [`Target::tracks_crl_uploads`]).
    pub crl_uploads: &'a crl_uploads::Plan,
    /// The PKI directory, for printed certsmith commands (`--pki`).
    pub pki: &'a Path,
    /// A current leaf certificate file of a bundled CA (the newest), so a
    /// printed check runs as shown; `None` when the CAs issued none yet.
    pub leaf_cert: Option<PathBuf>,
    /// PKI names of the CAs in the bundle, in bundle order, and their certificates.
    pub ca_names: &'a [String],
    pub certs: &'a [CertInfo],
}

/// A trust-store target: its name, CRL handling, rules, extra files and next commands.
pub trait Target: Sync {
    fn name(&self) -> &'static str;
    fn crls(&self) -> CrlSupport {
        CrlSupport::PerCa
    }
    /// The rules, applied to a bundle certsmith builds or to any PEM file (`verify --target`).
    fn check(&self, c: &Contents) -> Vec<Finding>;
    /// Files beyond the bundle, CRLs and manifest.
    fn extra_files(&self, _x: &ExtraInput<'_>) -> Result<Vec<OutFile>> {
        Ok(Vec::new())
    }
    /// The exact commands to run next.
    fn next_steps(&self, n: &NextInput<'_>) -> Vec<String>;
    /// Why a target whose [`Target::crls`] is `Unsupported` takes no CRL.
    fn no_crl_reason(&self) -> &'static str {
        "this trust store cannot use CRLs"
    }
    /// Where revocation is checked instead, for such a target.
    fn revocation_instead(&self) -> &'static str {
        "check revocation in the application that receives the connections"
    }
    /// Whether the trust store keeps every CRL it was given, so a bundle
    /// records what it printed for upload and prints only what changed.
    fn tracks_crl_uploads(&self) -> bool {
        false
    }
    /// Whether the store builds chains as OpenSSL does without
    /// -partial_chain: only a self-signed root ends a chain, so a bundle
    /// holding an intermediate without its root validates nothing.
    fn needs_root(&self) -> bool {
        false
    }
}

/// Options of `bundle` (and of `bootstrap`'s final bundle).
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// CAs to include (each with every CA above it); empty means every CA
    /// of the ledger that is neither revoked nor expired.
    pub cas: Vec<String>,
    pub with_crl: bool,
    pub out: Option<PathBuf>,
    pub registration_code: Option<String>,
    /// A leaf whose cert and key go into the k8s Secret.
    pub cert: Option<String>,
    pub pass: PassOptions,
    /// Print the upload of every CRL, changed or not (targets that track
    /// CRL uploads).
    pub force: bool,
    /// The trust store whose confirmed CRL uploads count (`--trust-store`;
    /// `None`: [`crl_uploads::DEFAULT_TRUST_STORE`]).
    pub trust_store: Option<String>,
    /// Bundle every current CA even when they differ from the target's
    /// last bundle (see [`ca_set`]).
    pub accept_ca_change: bool,
    /// aws-iot: print `--allow-auto-registration` (just-in-time registration).
    pub allow_auto_registration: bool,
}

/// One line of `manifest.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ManifestEntry {
    pub name: Option<String>,
    pub subject: String,
    pub role: Role,
    pub sha256_fingerprint: String,
    pub not_after: String,
}

/// What `build` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct BundleResult {
    pub target: &'static str,
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub certs: Vec<ManifestEntry>,
    pub warnings: Vec<Finding>,
    pub next: Vec<String>,
    /// Each CA's CRL file, whether it must be uploaded and what it replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crl_uploads: Option<crl_uploads::Plan>,
    /// Retired CAs left out because their last certificate expired.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Checks any PEM text against `target`'s rules (`verify --target`), with
/// `crls` (the CRLs given beside the text) counted with those inside it and
/// `now` the clock of the run.
pub fn check_pem(
    target: &dyn Target,
    text: &str,
    what: &str,
    crls: &[CrlInfo],
    now: time::OffsetDateTime,
) -> Result<Vec<Finding>> {
    let mut certs = Vec::new();
    let mut all_crls = Vec::new();
    // Parse leniently here: the rules report what is wrong with the text,
    // and certificates as they are (a strict parse would refuse the whole
    // file for one certificate no chain uses).
    for (tag, der) in pem_blocks(text, what)? {
        match tag.as_str() {
            "CERTIFICATE" => certs.push(CertInfo::from_der_as_is(&der, what)?),
            "X509 CRL" => all_crls.push(CrlInfo::from_der(&der, what)?),
            _ => {}
        }
    }
    for l in crls {
        if !all_crls.iter().any(|k: &CrlInfo| k.der == l.der) {
            all_crls.push(l.clone());
        }
    }
    let contents = Contents {
        text: text.to_string(),
        certs,
        crls: all_crls,
        now,
        replaced_entries: Vec::new(),
    };
    Ok(target.check(&contents))
}

/// The PEM blocks of a text (tag, DER), `#` comment lines left out.
fn pem_blocks(text: &str, what: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let cleaned: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    Ok(::pem::parse_many(&cleaned)
        .map_err(|e| crate::error::bad_pem(what, &e))?
        .into_iter()
        .map(|b| (b.tag().to_string(), b.contents().to_vec()))
        .collect())
}

/// The CRLs of a PEM text (a bundle with its CRLs appended): verify checks
/// revocation with them, as the target's rules count them.
pub fn crls_of(text: &str, what: &str) -> Result<Vec<CrlInfo>> {
    pem_blocks(text, what)?
        .into_iter()
        .filter(|(tag, _)| tag == "X509 CRL")
        .map(|(_, der)| CrlInfo::from_der(&der, what))
        .collect()
}

/// Turns the errors among `findings` into one failure naming each.
pub fn fail_on_errors(target: &dyn Target, findings: &[Finding]) -> Result<()> {
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.level == Level::Error)
        .collect();
    if errors.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "the bundle breaks {} rule(s) of target '{}': {}",
        errors.len(),
        target.name(),
        errors[0]
    );
    for e in &errors[1..] {
        msg.push_str(&format!("; {e}"));
    }
    Err(Error::failed(msg).hint(format!(
        "each rule and its source are listed in {}",
        rules_doc(target)
    )))
}

/// Where `target`'s rules and their sources are documented: a section of
/// docs/trust-stores.md whose anchor is the target's name.
pub fn rules_doc(target: &dyn Target) -> String {
    format!("docs/trust-stores.md#{}", target.name())
}

/// The CAs to bundle: those asked for with every CA above them, or every
/// current CA; deepest first, roots last.
/// Without `--ca`, the CAs in `leave_out` (those whose key was exported
/// for a mesh, and the CAs above them) are not taken, unless a CA taken is
/// below one (then [`mesh::check`] refuses the bundle); nor are
/// retired CAs out of use, each named in `retired` with a note.
#[allow(clippy::too_many_arguments)]
fn select_cas(
    pki: &Pki,
    ledger: &Ledger,
    target: &str,
    opts: &Options,
    leave_out: &[String],
    notes: &mut Vec<String>,
    retired: &mut Vec<String>,
    gone: &mut Vec<(String, String)>,
) -> Result<Vec<(String, CertInfo)>> {
    let now = clock::now()?.unix_timestamp();
    let mut picked: Vec<(String, CertInfo, usize)> = Vec::new();
    let names: Vec<String> = if opts.cas.is_empty() {
        let mut names = Vec::new();
        for c in ledger.cas()? {
            if leave_out.contains(&c.cert.name) {
                continue;
            }
            // Revoked or expired, itself or a CA above it: left out, with
            // a note if the target's last bundle held it.
            let chain = pki.ca_chain(ledger, &c.cert.name)?;
            let records: Vec<&crate::ledger::CertRecord> =
                chain.iter().map(|(r, _)| &r.cert).collect();
            if let Some(note) = ca_set::gone(&records, now) {
                gone.push((c.cert.name, note));
                continue;
            }
            if c.cert.status(now) != "valid" {
                continue;
            }
            match crate::issuing::out_of_use(ledger, &c.cert.name, now)? {
                None => names.push(c.cert.name),
                Some(last) => {
                    notes.push(retired_note(&c.cert.name, last));
                    retired.push(c.cert.name);
                }
            }
        }
        names
    } else {
        opts.cas.clone()
    };
    if names.is_empty() {
        return Err(
            Error::input("this PKI has no CA that is neither revoked nor expired")
                .hint("run `certsmith init` first, or name CAs with --ca"),
        );
    }
    for n in &names {
        let chain = pki.ca_chain(ledger, n)?;
        // A revoked CA (or one below a revoked CA) named with --ca is refused:
        // peers would trust what its issuer withdrew.
        if let Some((rec, _)) = chain.iter().find(|(r, _)| r.cert.revoked_at.is_some()) {
            let c = &rec.cert;
            let when = c
                .revoked_at
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map(clock::rfc3339)
                .unwrap_or_default();
            let who = if c.name == *n {
                format!("CA '{}'", c.name)
            } else {
                format!("CA '{}' above '{n}'", c.name)
            };
            // The hint's set: the CAs named that are not below a revoked CA.
            let mut rest = String::new();
            for m in &opts.cas {
                let revoked = pki
                    .ca_chain(ledger, m)?
                    .iter()
                    .any(|(r, _)| r.cert.revoked_at.is_some());
                if !revoked {
                    rest.push_str(&format!(" --ca {m}"));
                }
            }
            let hint = if rest.is_empty() {
                "bundle the CAs still in use with --ca NAME, or leave --ca out for every current CA"
                    .to_string()
            } else {
                format!(
                    "bundle the CAs still in use: `certsmith bundle --target {target}{rest}`, or leave --ca out for every current CA"
                )
            };
            return Err(Error::input(format!(
                "{who} was revoked on {when} ({}); a bundle does not carry a revoked CA",
                c.revocation_reason.as_deref().unwrap_or("unspecified")
            ))
            .hint(hint));
        }
        let len = chain.len();
        for (i, (rec, info)) in chain.into_iter().enumerate() {
            if !picked.iter().any(|p| p.0 == rec.cert.name) {
                picked.push((rec.cert.name, info, len - i));
            }
        }
    }
    picked.sort_by_key(|p| std::cmp::Reverse(p.2));
    Ok(picked.into_iter().map(|(n, i, _)| (n, i)).collect())
}

/// The mesh CA `bootstrap --target istio` makes, under a root of its own.
pub const BOOTSTRAP_MESH_CA: &str = "istio-ca";

/// The `--ca` of `bootstrap`'s final bundle: none (every CA), except for
/// istio, which signs with the mesh CA bootstrap made under a root of its own.
pub fn bootstrap_cas(target: &str) -> Vec<String> {
    if target == "istio" {
        vec![BOOTSTRAP_MESH_CA.to_string()]
    } else {
        Vec::new()
    }
}

/// The note for a retired CA that bundles leave out (`last`: when its last
/// certificate expired, `None` when it issued none).
fn retired_note(ca: &str, last: Option<i64>) -> String {
    let when = match last.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()) {
        Some(t) => format!("its last certificate expired on {}", clock::rfc3339(t)),
        None => "no certificate it issued is in use".to_string(),
    };
    format!(
        "CA '{}' is retired and {when}: left out of the bundle (name it with --ca to keep it)",
        crate::error::shown(ca)
    )
}

/// `certsmith bundle`: reads the ledger and [`build`]s the bundle of
/// `target_name`. It writes temporary files, perhaps inside the PKI
/// directory: held against `doctor --repair`, which deletes the temporary
/// files of dead commands.
pub fn bundle(pki: &Pki, target_name: &str, opts: &Options) -> Result<BundleResult> {
    let ledger = pki.read_ledger()?;
    let _lock = crate::lock::shared(&pki.root)?;
    build(pki, &ledger, target_name, opts)
}

/// Builds the bundle of `target_name` from this PKI, checks its rules and
/// writes it (nothing is written when a rule at error level is broken).
pub fn build(
    pki: &Pki,
    ledger: &Ledger,
    target_name: &str,
    opts: &Options,
) -> Result<BundleResult> {
    let target = target(target_name)?;
    for (given, flag, only) in [
        (opts.cert.is_some(), "--cert", "k8s"),
        (
            opts.registration_code.is_some(),
            "--registration-code",
            "aws-iot",
        ),
        (opts.force, "--force", "aws-alb"),
        (opts.trust_store.is_some(), "--trust-store", "aws-alb"),
        (
            opts.allow_auto_registration,
            "--allow-auto-registration",
            "aws-iot",
        ),
    ] {
        if given && target.name() != only {
            return Err(Error::input(format!(
                "{flag} is only used by --target {only}, not '{}'",
                target.name()
            )));
        }
    }
    if let Some(o) = &opts.out {
        pki.check_out(ledger, o, crate::pki::Out::Dir)?;
    }
    if target.name() == "istio" && opts.cas.is_empty() {
        return Err(Error::input(
            "--target istio needs --ca naming the CA istiod signs with (its key is written unencrypted)",
        )
        .hint("make a CA for the mesh under a root of its own and name it: certsmith init --name mesh-root --cn 'Mesh Root CA', then certsmith intermediate istio-ca --issuer mesh-root --cn 'Istio Mesh CA', then certsmith bundle --target istio --ca istio-ca"));
    }
    // CAs whose key was exported for a mesh, with the CAs above them.
    let mesh = if target.name() == "istio" {
        Vec::new()
    } else {
        mesh::exported(pki, ledger, clock::now()?.unix_timestamp())?
    };
    let mesh_names = mesh::leave_out(&mesh);
    let mut notes = Vec::new();
    let mut retired = Vec::new();
    let mut gone = Vec::new();
    let selected = select_cas(
        pki,
        ledger,
        target.name(),
        opts,
        &mesh_names,
        &mut notes,
        &mut retired,
        &mut gone,
    )?;
    let ca_names: Vec<String> = selected.iter().map(|s| s.0.clone()).collect();
    let mesh_findings = mesh::check(target.name(), &mesh, &ca_names, !opts.cas.is_empty())?;
    if opts.cas.is_empty() {
        let before = ca_set::remembered(ledger, target.name())?;
        // A CA gone since the last bundle (revoked, expired) leaves with a note.
        for (name, note) in &gone {
            if before.as_ref().is_some_and(|b| b.contains(name)) {
                notes.push(note.clone());
            }
        }
        retired.extend(gone.into_iter().map(|g| g.0));
        if !opts.accept_ca_change
            && let Some(before) = before
            && let Some(change) = ca_set::change(&before, &ca_names, &retired)
        {
            return Err(ca_set::refusal(target.name(), &before, &change, &retired));
        }
    }
    let text: String = selected.iter().map(|s| s.1.pem()).collect();
    let support = target.crls();
    let want_crls = match support {
        CrlSupport::Combined => true,
        CrlSupport::Unsupported => false,
        CrlSupport::PerCa | CrlSupport::CombinedOptional => opts.with_crl,
    };
    let mut crls: Vec<(String, CrlInfo, String)> = Vec::new();
    if want_crls {
        for (n, info) in &selected {
            if !crate::ca::publishes_crl(info) {
                return Err(Error::input(format!(
                    "CA '{n}' signs no CRLs (made with --no-crl), and target '{}' needs a CRL for every CA in the bundle",
                    target.name()
                ))
                .hint("name the CAs to bundle with --ca, leaving it out, or bundle without --with-crl"));
            }
            let p = pki.crl_path(n);
            if !p.exists() {
                return Err(Error::input(format!(
                    "CA '{n}' has no CRL yet, and target '{}' needs one for every CA in the bundle",
                    target.name()
                ))
                .hint(format!(
                    "run `certsmith crl --ca {n}` (or `certsmith crl` for every CA) first"
                )));
            }
            let pem_text = crate::input::read_to_string(&p, crate::input::Kind::Crl)?;
            for c in crl::read_file(&p)? {
                crls.push((n.clone(), c, pem_text.clone()));
            }
        }
    }
    let uploads = if target.tracks_crl_uploads() && want_crls {
        let store = opts
            .trust_store
            .as_deref()
            .unwrap_or(crl_uploads::DEFAULT_TRUST_STORE);
        crl_uploads::check_trust_store(store)?;
        let files: Vec<(String, String, &[u8], Vec<&CrlInfo>)> = ca_names
            .iter()
            .filter_map(|n| {
                let (_, _, pem) = crls.iter().find(|c| &c.0 == n)?;
                let of_ca = crls.iter().filter(|c| &c.0 == n).map(|c| &c.1).collect();
                Some((n.clone(), crl_uploads::file_name(n), pem.as_bytes(), of_ca))
            })
            .collect();
        Some(crl_uploads::plan(ledger, store, &files, opts.force)?)
    } else {
        None
    };
    let contents = Contents {
        text: text.clone(),
        certs: selected.iter().map(|s| s.1.clone()).collect(),
        crls: crls.iter().map(|c| c.1.clone()).collect(),
        now: clock::now()?,
        replaced_entries: uploads
            .iter()
            .flat_map(|p| &p.uploads)
            .filter(|u| u.changed)
            .filter_map(|u| u.replaces.as_ref().map(|r| (u.crl.entries, r.entries)))
            .collect(),
    };
    let mut findings = target.check(&contents);
    findings.extend(mesh_findings);
    if opts.with_crl && support == CrlSupport::Unsupported {
        findings.push(Finding {
            level: Level::Warning,
            target: target.name(),
            rule: "no-crl-support",
            cert: None,
            message: format!(
                "{}, so none were written; {}",
                target.no_crl_reason(),
                target.revocation_instead()
            ),
        });
    }
    fail_on_errors(target, &findings)?;
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| pki.root.join("bundles").join(target.name()));
    // Every file is made (and every input read) before anything is created,
    // so a refusal leaves no directory behind.
    let mut out: Vec<(String, Vec<u8>, bool)> = Vec::new();
    out.push(("ca-bundle.pem".into(), text.as_bytes().to_vec(), false));
    let mut crl_files = Vec::new();
    if want_crls {
        match support {
            CrlSupport::PerCa => {
                for n in &ca_names {
                    if let Some((_, _, pem)) = crls.iter().find(|c| &c.0 == n) {
                        let f = crl_uploads::file_name(n);
                        out.push((f.clone(), pem.as_bytes().to_vec(), false));
                        crl_files.push(f);
                    }
                }
            }
            _ => {
                let mut all = String::new();
                for n in &ca_names {
                    if let Some((_, _, pem)) = crls.iter().find(|c| &c.0 == n) {
                        all.push_str(pem);
                    }
                }
                out.push(("crl.pem".into(), all.into_bytes(), false));
                crl_files.push("crl.pem".to_string());
            }
        }
    }
    let manifest: Vec<ManifestEntry> = selected
        .iter()
        .map(|(n, c)| ManifestEntry {
            name: Some(n.clone()),
            subject: c.subject.clone(),
            role: Role::of(c),
            sha256_fingerprint: c.fingerprint.clone(),
            not_after: clock::rfc3339(c.not_after),
        })
        .collect();
    let manifest_json = serde_json::json!({
        "target": target.name(),
        "created_at": clock::rfc3339(contents.now),
        "certificates": manifest,
        "crls": crl_files,
    });
    out.push((
        "manifest.json".into(),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&manifest_json).unwrap_or_default()
        )
        .into_bytes(),
        false,
    ));
    let extra = target.extra_files(&ExtraInput {
        pki,
        ledger,
        contents: &contents,
        ca_names: &ca_names,
        opts,
        dir: &dir,
        crl_files: &crl_files,
    })?;
    for f in extra {
        out.push((f.name, f.bytes, f.secret));
    }
    let stage_root = if dir.starts_with(&pki.root) {
        pki.root.clone()
    } else {
        dir.clone()
    };
    let mut staged = Staged::new(&stage_root);
    let mut names: Vec<String> = Vec::new();
    for (name, bytes, secret) in &out {
        let mode = if *secret { KEY_MODE } else { PUBLIC_MODE };
        staged.add(&dir.join(name), bytes, mode, Existing::Replace)?;
        names.push(name.clone());
    }
    // No CRL upload is recorded: the operator confirms each (`--uploaded`).
    let files = staged.commit()?;
    // The CA set is remembered once the bundle is written, and so is a CA
    // key exported for a mesh.
    let exported = (target.name() == "istio")
        .then(|| opts.cas.first().map(String::as_str))
        .flatten();
    let last = ca_set::LastRun {
        named_cas: opts.cas.clone(),
        cert: opts.cert.clone(),
        out: opts
            .out
            .as_ref()
            .map(|o| std::path::absolute(o).unwrap_or_else(|_| o.clone()))
            .map(|o| o.display().to_string()),
        trust_store: opts.trust_store.clone(),
    };
    ca_set::remember(pki, target.name(), &ca_names, exported, &last)?;
    let no_plan = crl_uploads::Plan {
        trust_store: opts
            .trust_store
            .clone()
            .unwrap_or_else(|| crl_uploads::DEFAULT_TRUST_STORE.to_string()),
        ..Default::default()
    };
    let next = target.next_steps(&NextInput {
        dir: &dir,
        files: &names,
        crl_files: &crl_files,
        depth: checks::ca_depth(&contents.certs),
        opts,
        crl_uploads: uploads.as_ref().unwrap_or(&no_plan),
        pki: &pki.root,
        leaf_cert: newest_leaf_cert(pki, ledger, &ca_names),
        ca_names: &ca_names,
        certs: &contents.certs,
    });
    Ok(BundleResult {
        target: target.name(),
        dir,
        files,
        certs: manifest,
        warnings: findings,
        next,
        crl_uploads: uploads,
        notes,
    })
}

/// The `cert.pem` of the newest current, unrevoked leaf that one of `cas`
/// issued and whose file is on disk, for next commands that run as shown.
fn newest_leaf_cert(pki: &Pki, ledger: &Ledger, cas: &[String]) -> Option<PathBuf> {
    let mut best: Option<(i64, PathBuf)> = None;
    for ca in cas {
        let Ok(Some((id, dir))) = ledger.newest_leaf_of(ca) else {
            continue;
        };
        let p = pki.root.join(dir).join("cert.pem");
        if p.is_file() && best.as_ref().is_none_or(|b| id > b.0) {
            best = Some((id, p));
        }
    }
    best.map(|b| b.1)
}

/// `bundle --target aws-alb --uploaded CA=ID / --removed CA`: records
/// what the operator confirmed for the trust store of `opts` (see
/// [`crl_uploads`]), reading the CRL files of the bundle directory
/// (`opts.out` or the default one). Writes no bundle.
pub fn confirm_uploads(
    pki: &Pki,
    target_name: &str,
    opts: &Options,
    uploaded: &[String],
    removed: &[String],
) -> Result<Vec<crl_uploads::Confirmed>> {
    let target = target(target_name)?;
    if !target.tracks_crl_uploads() {
        return Err(Error::input(format!(
            "--uploaded and --removed are only used by --target aws-alb, not '{}'",
            target.name()
        )));
    }
    let pairs = uploaded
        .iter()
        .map(|u| crl_uploads::parse_uploaded(u))
        .collect::<Result<Vec<_>>>()?;
    let dir = opts
        .out
        .clone()
        .unwrap_or_else(|| pki.root.join("bundles").join(target.name()));
    let _lock = crate::lock::shared(&pki.root)?;
    crl_uploads::confirm(
        pki,
        opts.trust_store
            .as_deref()
            .unwrap_or(crl_uploads::DEFAULT_TRUST_STORE),
        &dir,
        &pairs,
        removed,
    )
}

/// The PEM text of every CRL in `crls`, concatenated.
pub fn crl_pem(crls: &[CrlInfo]) -> String {
    crls.iter()
        .map(|c| crate::keys::pem_encode("X509 CRL", &c.der))
        .collect()
}

/// The certificates of a PEM text, skipping CRLs and comments (the rules
/// have judged the rest already).
pub fn certs_of(text: &str, what: &str) -> Result<Vec<CertInfo>> {
    let blocks = ::pem::parse_many(text).map_err(|e| crate::error::bad_pem(what, &e))?;
    let certs: Vec<String> = blocks
        .iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| crate::keys::pem_encode("CERTIFICATE", b.contents()))
        .collect();
    crate::certinfo::parse_pem_certs_as_is(&certs.concat(), what)
}

/// `certsmith`, with `--pki DIR` unless the PKI is the default `pki`: how
/// printed commands name certsmith so they run as shown.
pub fn certsmith_cmd(pki: &Path) -> String {
    if pki == Path::new("pki") {
        "certsmith".to_string()
    } else {
        format!("certsmith --pki {}", quoted(&pki.display().to_string()))
    }
}

/// The `certsmith bundle` command that makes this bundle again, with its
/// `--pki`, `--out` and `--ca` (so the CA set stays the one chosen).
pub fn bundle_again(n: &NextInput<'_>, target: &str) -> String {
    let mut c = format!("{} bundle --target {target}", certsmith_cmd(n.pki));
    if let Some(o) = &n.opts.out {
        c.push_str(&format!(" --out {}", quoted(&o.display().to_string())));
    }
    for ca in &n.opts.cas {
        c.push_str(&format!(" --ca {}", quoted(ca)));
    }
    c
}

/// `text` quoted for a POSIX shell when it holds anything but plain path characters.
pub fn quoted(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@=".contains(&b));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A path made absolute, as text, for paths written into server configs.
pub fn abs(p: &std::path::Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The anchors of a Markdown page: GitHub's slug of each heading, and
    /// each `id="…"` of an HTML anchor.
    fn anchors(md: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut fenced = false;
        for line in md.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                continue;
            }
            if let Some(h) = line.strip_prefix('#') {
                let title = h.trim_start_matches('#').trim();
                let slug: String = title
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                out.push(slug);
            }
            let mut rest = line;
            while let Some(i) = rest.find("id=\"") {
                let tail = &rest[i + 4..];
                if let Some(j) = tail.find('"') {
                    out.push(tail[..j].to_string());
                }
                rest = &tail[tail.find('"').map_or(tail.len(), |j| j + 1)..];
            }
        }
        out
    }

    #[test]
    fn every_rule_hint_points_at_an_anchor_of_trust_stores_md() {
        let page = include_str!("../../docs/trust-stores.md");
        let have = anchors(page);
        for t in TARGETS {
            let finding = Finding {
                level: Level::Error,
                target: t.name(),
                rule: "pem-only",
                cert: None,
                message: "x".into(),
            };
            let hint = fail_on_errors(*t, &[finding])
                .unwrap_err()
                .hint_text()
                .unwrap_or_default();
            let anchor = hint
                .split("docs/trust-stores.md#")
                .nth(1)
                .map(|a| a.split_whitespace().next().unwrap_or(""))
                .unwrap_or_else(|| panic!("{}: no anchor in hint {hint:?}", t.name()));
            assert!(
                have.iter().any(|a| a == anchor),
                "{}: docs/trust-stores.md has no anchor '{anchor}' (anchors: {have:?})",
                t.name()
            );
        }
    }

    #[test]
    fn anchors_are_github_slugs_and_html_ids() {
        let a = anchors(
            "# Nginx, HAProxy — Envoy\n<a id=\"haproxy\"></a>\n```\n# not a heading\n```\n",
        );
        assert_eq!(a, ["nginx-haproxy--envoy", "haproxy"]);
    }
}
