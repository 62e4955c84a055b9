//! Issuing many certificates (`certsmith batch`): every row of a manifest
//! (or of `--count`) checked before the first key is made, then issued in
//! parallel by [`crate::batch`].

use std::path::{Path, PathBuf};

use crate::archive;
use crate::batch::{Checked, DeviceFormat, Plan, Summary};
use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::keys::KeyType;
use crate::ledger::Ledger;
use crate::manifest::Manifest;
use crate::passphrase::{PassOptions, Passphrase};
use crate::pki::{Out, Pki};
use crate::profile::Profile;
use crate::validity::Validity;

/// What every certificate of the batch shares.
#[derive(Clone, Debug)]
pub struct BatchRequest {
    /// `--profile`.
    pub profile: String,
    /// `--key`; default the profile's.
    pub key: Option<KeyType>,
    /// `--ca`; default the only intermediate, else the only root.
    pub ca: Option<String>,
    pub pass: PassOptions,
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// `--out DIR`: per-certificate directories go to `DIR/<name>/`.
    pub out: Option<PathBuf>,
    /// Skip names already in the ledger instead of refusing the batch.
    pub skip_existing: bool,
    /// `--archive FILE` or `-`: one tar instead of directories.
    pub archive: Option<archive::Target>,
    /// `--format`: what each device gets.
    pub format: DeviceFormat,
    /// The PKCS#12 password for `--format p12`.
    pub p12_pass: Option<Passphrase>,
    /// `--no-sync`: no fsync (throwaway PKIs only; see [`crate::durability`]).
    pub no_sync: bool,
    /// Threads that check and issue (at least 1).
    pub jobs: usize,
}

/// A batch whose manifest was checked against the ledger, the profile and
/// the issuer: [`Batch::checked`] says what it would do; nothing is written
/// until [`Batch::issue`].
pub struct Batch<'a> {
    ledger: Ledger,
    setup: Setup<'a>,
    pub checked: Checked,
}

/// What a [`Plan`] is made of, owned.
struct Setup<'a> {
    pki: &'a Pki,
    signer: Signer,
    profile: Profile,
    key_type: KeyType,
    req: BatchRequest,
    out: Option<PathBuf>,
    now: time::OffsetDateTime,
}

impl Setup<'_> {
    fn plan(&self) -> Plan<'_> {
        Plan {
            pki: self.pki,
            signer: &self.signer,
            profile: self.profile.clone(),
            key_type: self.key_type,
            validity: self.req.validity,
            clamp: self.req.clamp,
            out: self.out.clone(),
            skip_existing: self.req.skip_existing,
            now: self.now,
            archive: self.req.archive.clone(),
            format: self.req.format,
            p12_pass: self.req.p12_pass.clone(),
            jobs: self.req.jobs,
        }
    }
}

/// Loads the issuer and checks every row of `manifest` (names, subjects,
/// `--out` rules, what is already in the ledger). Bad rows are counted in
/// [`Batch::checked`], not returned as an error: see [`Batch::refusal`].
pub fn check<'a>(pki: &'a Pki, mut req: BatchRequest, manifest: &Manifest) -> Result<Batch<'a>> {
    let mut ledger = pki.open_ledger()?;
    let profile = Profile::load(Some(&pki.root), &req.profile)?;
    let key_type = req.key.unwrap_or(profile.default_key);
    if req.no_sync {
        crate::durability::refuse_for_real_ca(&ledger)?;
    }
    let ca = super::issuing_ca(&ledger, req.ca.as_deref())?;
    let signer = Signer::load(pki, &ledger, &ca, &req.pass)?;
    if req.format != DeviceFormat::P12 && req.p12_pass.is_some() {
        return Err(
            Error::input("--p12-passphrase-file is only used with --format p12")
                .hint("add --format p12, or drop --p12-passphrase-file"),
        );
    }
    if req.format == DeviceFormat::P12 && req.p12_pass.is_none() {
        return Err(
            Error::input("--format p12 needs a password for the PKCS#12 files")
                .hint("pass --p12-passphrase-file FILE"),
        );
    }
    let out = match &req.archive {
        Some(archive::Target::File(p)) => {
            // Never under the PKI directory; the archive is named by its
            // absolute path from here on.
            let abs = archive::Target::resolve(p, &pki.root)?;
            let target = archive::Target::File(abs);
            target.check()?;
            req.archive = Some(target);
            None
        }
        Some(archive::Target::Stdout) => {
            archive::Target::Stdout.check()?;
            None
        }
        None => check_out(pki, &ledger, req.out.as_deref(), manifest)?,
    };
    let setup = Setup {
        pki,
        signer,
        profile,
        key_type,
        out,
        now: crate::clock::now()?,
        req,
    };
    let checked = setup.plan().check(&mut ledger, manifest)?;
    Ok(Batch {
        ledger,
        setup,
        checked,
    })
}

impl Batch<'_> {
    /// The plan every certificate of the batch shares.
    pub fn plan(&self) -> Plan<'_> {
        self.setup.plan()
    }

    /// The error refusing the whole batch when some rows are bad (their own
    /// errors are in [`Checked::errors`]); `None` when every row is fine.
    pub fn refusal(&self, manifest: &Manifest) -> Option<Error> {
        let c = &self.checked;
        if c.bad == 0 {
            return None;
        }
        let mut lines: Vec<String> = c.bad_lines.iter().take(20).map(u64::to_string).collect();
        if c.bad > 20 {
            lines.push("…".into());
        }
        let (line, cert, rows, them) = if c.bad == 1 {
            ("line", "certificate", "row", "it")
        } else {
            ("lines", "certificates", "rows", "them")
        };
        let what = match manifest {
            Manifest::File { path, .. } => {
                format!("in '{}' ({line} {})", path.display(), lines.join(", "))
            }
            Manifest::Count { .. } => format!("({cert} {})", lines.join(", ")),
            Manifest::CsrDir { dir, files } => {
                let mut names: Vec<String> = c
                    .bad_lines
                    .iter()
                    .take(20)
                    .filter_map(|l| files.get((*l as usize).wrapping_sub(1)))
                    .filter_map(|(p, _)| p.file_name())
                    // Each name shown whole (or cut on its own), never the list cut mid-name.
                    .map(|n| crate::error::shown(&n.to_string_lossy()))
                    .collect();
                if c.bad > 20 {
                    names.push("…".into());
                }
                let csrs = if c.bad == 1 { "CSR" } else { "CSRs" };
                return Some(
                    Error::input(format!(
                        "{} bad {csrs} in '{}' ({})",
                        c.bad,
                        crate::error::shown(&dir.display().to_string()),
                        names.join(", ")
                    ))
                    .hint(format!(
                        "fix or remove {them} and run again; nothing was issued"
                    )),
                );
            }
        };
        let mut hint = format!("fix {them} and run again; nothing was issued");
        if !self.setup.req.skip_existing && c.errors.iter().any(|e| e.contains("already")) {
            hint.push_str("; pass --skip-existing to skip names already in the ledger");
        }
        if c.errors
            .iter()
            .any(|e| e.contains("being issued by another"))
        {
            hint = "if no other certsmith process is running, an interrupted run left these names pending: run `certsmith doctor --repair` to settle them, then run again".into();
        }
        Some(Error::input(format!("{} bad {rows} {what}", c.bad)).hint(hint))
    }

    /// Issues the batch, calling `progress` with the number of
    /// certificates written so far.
    pub fn issue(
        mut self,
        manifest: &Manifest,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Summary> {
        if self.setup.req.no_sync {
            crate::durability::skip_syncs(&mut self.ledger, self.setup.now)?;
        }
        let mut summary = self
            .setup
            .plan()
            .issue(&mut self.ledger, manifest, progress)?;
        summary.clamped = self.checked.clamped;
        Ok(summary)
    }
}

/// Applies the `--out` rule to `--out` and to every row's directory
/// before anything is made; returns `--out` made absolute.
fn check_out(
    pki: &Pki,
    ledger: &Ledger,
    out: Option<&Path>,
    manifest: &Manifest,
) -> Result<Option<PathBuf>> {
    let rule = pki.out_rule(ledger)?;
    let out = out.map(|o| rule.check(o, Out::Dir)).transpose()?;
    let parent = out.clone().unwrap_or_else(|| pki.root.join("certs"));
    // Bad rows are reported by the plan's own check, with their line.
    for row in manifest.rows()?.flatten() {
        rule.check(&parent.join(&row.name), Out::CertDir(&row.name))
            .map_err(|e| e.context(manifest.row_label(row.line)))?;
    }
    Ok(out)
}
