//! `certsmith bootstrap`: root + intermediate + first certificate (+ .p12)
//! for a new PKI. On a terminal without `--yes` the wizard (`wizard.rs`)
//! fills in a [`Plan`]; otherwise flags and defaults do. Nothing is written
//! until the plan is complete.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use certsmith::ca::{CaRequest, CreatedCa};
use certsmith::error::{Error, Result};
use certsmith::export::Format;
use certsmith::keys::Kdf;
use certsmith::leaf::IssuedLeaf;
use certsmith::names::{NameConstraintSet, San, Subject};
use certsmith::ops::export::ExportRequest;
use certsmith::ops::init::NewCaRequest;
use certsmith::ops::intermediate::IntermediateRequest;
use certsmith::ops::issue::IssueRequest;
use certsmith::passphrase::{self, PassOptions, Passphrase};
use certsmith::pki::Pki;

use super::Ctx;
use crate::cli::BootstrapArgs;

/// How the first certificate is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Naming {
    /// A device (client) certificate whose CN is its name.
    Device(String),
    /// Servers under a domain: the intermediate is constrained to it and the
    /// first certificate is the server certificate `api.<domain>`.
    Domain(String),
}

/// Everything bootstrap will create, decided before anything is written.
#[derive(Debug)]
pub struct Plan {
    pub org: String,
    pub naming: Naming,
    pub root_key: Option<String>,
    pub key: Option<String>,
    pub root_validity: Option<String>,
    pub intermediate_validity: Option<String>,
    pub device_validity: Option<String>,
    pub intermediate_name: String,
    /// The CA key passphrase; `None` stores the keys unencrypted.
    pub passphrase: Option<Passphrase>,
    pub kdf: Kdf,
    pub target: String,
    /// Export the first certificate as .p12 with this password.
    pub p12: Option<Passphrase>,
}

impl Plan {
    /// Name, profile and SANs of the first certificate.
    pub fn first_cert(&self) -> (String, &'static str, Vec<String>) {
        match &self.naming {
            Naming::Device(n) => (n.clone(), "device", Vec::new()),
            Naming::Domain(d) => {
                let host = format!("api.{d}");
                (host.clone(), "server", vec![format!("dns:{host}")])
            }
        }
    }
}

/// What bootstrap wrote.
pub struct Outcome {
    pub root: CreatedCa,
    pub intermediate: CreatedCa,
    pub first: IssuedLeaf,
    pub p12: Option<PathBuf>,
    pub bundle: certsmith::bundle::BundleResult,
}

pub fn run(ctx: &Ctx, a: BootstrapArgs) -> Result<()> {
    certsmith::bundle::target(&a.target)?;
    let plan = if !ctx.yes && passphrase::can_prompt() {
        match super::wizard::ask(ctx, &a)? {
            Some(p) => p,
            None => {
                return Err(Error::failed("bootstrap cancelled; nothing was written"));
            }
        }
    } else {
        plan_from_flags(&a)?
    };
    let outcome = execute(ctx, &plan)?;
    report(ctx, &plan, &outcome);
    Ok(())
}

/// The plan from flags and defaults (CI, `--yes`, no terminal).
pub fn plan_from_flags(a: &BootstrapArgs) -> Result<Plan> {
    let (pass_opts, kdf) = super::new_key_options(&a.pass, &a.protect)?;
    let naming = match &a.domain {
        Some(d) => Naming::Domain(check_domain(d)?),
        None => Naming::Device(a.device.clone()),
    };
    // Checked before the passphrase is read, so a typo fails fast.
    check_common(a)?;
    let passphrase = passphrase::for_new_key(&pass_opts, "the new CAs")?;
    let p12 = a
        .p12_passphrase_file
        .as_deref()
        .map(passphrase::read_file)
        .transpose()?;
    Ok(Plan {
        org: a.org.clone().unwrap_or_else(|| "certsmith".to_string()),
        naming,
        root_key: a.root_key.clone(),
        key: a.key.clone(),
        root_validity: a.root_validity.clone(),
        intermediate_validity: a.intermediate_validity.clone(),
        device_validity: a.device_validity.clone(),
        intermediate_name: a.intermediate_name.clone(),
        passphrase,
        kdf,
        target: a.target.clone(),
        p12,
    })
}

/// Flag values checked up front (the wizard checks its answers as typed).
fn check_common(a: &BootstrapArgs) -> Result<()> {
    for k in [&a.root_key, &a.key].into_iter().flatten() {
        k.parse::<certsmith::keys::KeyType>()?;
    }
    for v in [
        &a.root_validity,
        &a.intermediate_validity,
        &a.device_validity,
    ]
    .into_iter()
    .flatten()
    {
        super::validity(Some(v))?;
    }
    certsmith::pki::validate_name("CA", &a.intermediate_name)?;
    certsmith::pki::validate_name("certificate", &a.device)?;
    Ok(())
}

/// A domain for `--domain` / the wizard, lowercased.
pub fn check_domain(d: &str) -> Result<String> {
    let d = d.trim().trim_start_matches('.').to_ascii_lowercase();
    San::parse(&format!("dns:{d}"))
        .ok()
        .filter(|_| d.contains('.') && !d.contains('*'))
        .map(|_| d.clone())
        .ok_or_else(|| {
            Error::input(format!("'{d}' is not a DNS domain")).hint("e.g. --domain acme.internal")
        })
}

/// Creates everything in `plan`. `--pki` is made first (0700) and the
/// whole PKI is built in a private temporary directory inside it, then
/// moved into place only when complete, so a bootstrap that fails at any
/// step leaves nothing behind, and one that is killed leaves its staging
/// area (plaintext CA keys) only inside the PKI directory, where the next
/// bootstrap and `doctor --repair` remove it.
pub fn execute(ctx: &Ctx, plan: &Plan) -> Result<Outcome> {
    let pki = &ctx.pki;
    if pki.ledger_path().exists() {
        return Err(Error::input(format!(
            "'{}' already holds a PKI; bootstrap makes a new one",
            pki.root.display()
        ))
        .hint("pass --pki DIR with a new directory, or add CAs with `certsmith intermediate`"));
    }
    let existed = pki.root.exists();
    if existed {
        certsmith::perms::check_pki_dir(&pki.root, pki.allow_insecure_perms)?;
    }
    // Directories this bootstrap makes (--pki and its missing parents).
    let made: Vec<PathBuf> = pki
        .root
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    let result = certsmith::store::create_private_dir(&pki.root, &pki.root)
        .and_then(|()| claim(&pki.root))
        .and_then(|_lock| staged(ctx, plan, existed));
    if result.is_err() {
        // Directories made for it go again (only if empty).
        for d in &made {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

/// The prefix of a bootstrap's staging directory inside `--pki`.
const STAGING_PREFIX: &str = ".certsmith-bootstrap-";

/// Takes the shared lock on the PKI directory `root` for the whole
/// bootstrap. When no other certsmith process holds it, staging areas
/// left by a bootstrap that was killed are removed first: they hold
/// plaintext CA keys.
fn claim(root: &Path) -> Result<Option<std::fs::File>> {
    if let Ok(f) = std::fs::File::open(root)
        && f.try_lock().is_ok()
    {
        let dead: Vec<PathBuf> = std::fs::read_dir(root)
            .map_err(|e| certsmith::store::io_err("cannot read", root, &e))?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        for d in dead {
            std::fs::remove_dir_all(&d)
                .map_err(|e| certsmith::store::io_err("cannot remove", &d, &e))?;
        }
        // Turned shared: `doctor --repair` now sees a live command.
        f.lock_shared()
            .map_err(|e| certsmith::store::io_err("cannot lock", root, &e))?;
        return Ok(Some(f));
    }
    certsmith::lock::shared(root)
}

/// Builds the PKI in a temporary directory inside `--pki`, then moves its
/// entries up; the bundle is made again in place, as it names its own paths.
fn staged(ctx: &Ctx, plan: &Plan, existed: bool) -> Result<Outcome> {
    let root = &ctx.pki.root;
    let tmp = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .permissions(std::fs::Permissions::from_mode(certsmith::store::DIR_MODE))
        .tempdir_in(root)
        .map_err(|e| {
            certsmith::store::io_err("cannot create a temporary directory in", root, &e)
        })?;
    let stage = Ctx {
        pki: Pki {
            root: tmp.path().to_path_buf(),
            ..ctx.pki.clone()
        },
        json: ctx.json,
        quiet: ctx.quiet,
        yes: ctx.yes,
        allow_insecure_perms: ctx.allow_insecure_perms,
    };
    // Profiles kept in an existing directory (templates/) stay in effect.
    let templates = root.join("templates");
    let linked = existed && templates.is_dir();
    if linked {
        let target = std::path::absolute(&templates)
            .map_err(|e| certsmith::store::io_err("cannot read", &templates, &e))?;
        std::os::unix::fs::symlink(&target, tmp.path().join("templates"))
            .map_err(|e| certsmith::store::io_err("cannot create", tmp.path(), &e))?;
    }
    let mut o = steps(&stage, plan)?;
    if linked {
        let link = tmp.path().join("templates");
        std::fs::remove_file(&link)
            .map_err(|e| certsmith::store::io_err("cannot remove", &link, &e))?;
    }
    move_entries(tmp.path(), root)?;
    let moved = |p: &mut PathBuf| {
        if let Ok(rel) = p.strip_prefix(stage.pki.root.as_path()) {
            *p = root.join(rel);
        }
    };
    o.root.files.iter_mut().for_each(moved);
    o.intermediate.files.iter_mut().for_each(moved);
    o.first.files.iter_mut().for_each(moved);
    o.p12.iter_mut().for_each(moved);
    let ledger = ctx.pki.read_ledger()?;
    o.bundle = certsmith::bundle::build(
        &ctx.pki,
        &ledger,
        &plan.target,
        &certsmith::bundle::Options {
            pass: key_options(plan),
            ..Default::default()
        },
    )?;
    Ok(o)
}

/// Moves every entry of the staging directory `from` up into `to` without
/// replacing anything; on a failure the entries already moved go back.
/// The ledger goes last: until it is there, `to` is not yet a PKI, so a
/// bootstrap killed while moving can be run again.
fn move_entries(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(from)
        .map_err(|e| certsmith::store::io_err("cannot read", from, &e))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort_by_key(|n| n.as_os_str() == "ledger.db");
    let mut done: Vec<&std::ffi::OsString> = Vec::new();
    for n in &names {
        if let Err(e) = renameat_with(CWD, from.join(n), CWD, to.join(n), RenameFlags::NOREPLACE) {
            for d in done {
                let _ = std::fs::rename(to.join(d), from.join(d));
            }
            return Err(certsmith::store::io_err(
                "cannot create",
                &to.join(n),
                &e.into(),
            ));
        }
        done.push(n);
    }
    certsmith::store::sync_dir(to)?;
    Ok(())
}

/// The passphrase options of the new CA keys.
fn key_options(plan: &Plan) -> PassOptions {
    PassOptions {
        given: plan.passphrase.clone(),
        no_passphrase: plan.passphrase.is_none(),
        file: None,
    }
}

fn steps(ctx: &Ctx, plan: &Plan) -> Result<Outcome> {
    let opts = key_options(plan);
    let org_attr = plan.org.replace(',', "\\,");
    let root_req = CaRequest {
        subject: Subject::parse(&format!("CN={org_attr} Root CA,O={org_attr}"))?,
        validity: super::validity(plan.root_validity.as_deref())?,
        pathlen: None,
        constraints: NameConstraintSet::default(),
        clamp: false,
        no_crl: false,
    };
    let key_type = |k: Option<&str>| k.map(str::parse).transpose();
    let root = certsmith::ops::init::init(
        &ctx.pki,
        &NewCaRequest {
            name: "root".into(),
            ca: root_req.clone(),
            key: key_type(plan.root_key.as_deref())?,
            pass: opts.clone(),
            kdf: plan.kdf,
        },
    )?;
    let mut constraints = NameConstraintSet::default();
    if let Naming::Domain(d) = &plan.naming {
        constraints.permit_dns.push(d.clone());
    }
    let inter_req = CaRequest {
        subject: Subject::parse(&format!("CN={org_attr} Issuing CA,O={org_attr}"))?,
        validity: super::validity(plan.intermediate_validity.as_deref())?,
        constraints,
        ..root_req.clone()
    };
    let intermediate = certsmith::ops::intermediate::intermediate(
        &ctx.pki,
        &IntermediateRequest {
            new: NewCaRequest {
                name: plan.intermediate_name.clone(),
                ca: inter_req,
                key: key_type(plan.key.as_deref())?,
                pass: opts.clone(),
                kdf: plan.kdf,
            },
            issuer: "root".into(),
            issuer_pass: opts.clone(),
        },
    )?;
    let (name, profile, san) = plan.first_cert();
    let first = certsmith::ops::issue::issue(
        &ctx.pki,
        IssueRequest {
            ca: Some(plan.intermediate_name.clone()),
            profile: profile.into(),
            key: key_type(plan.key.as_deref())?,
            validity: super::validity(plan.device_validity.as_deref())?,
            sans: super::sans(&san)?,
            pass: opts.clone(),
            ..IssueRequest::new(name.clone())
        },
    )?;
    let p12 = match &plan.p12 {
        Some(pw) => Some(
            certsmith::ops::export::export(
                &ctx.pki,
                &ExportRequest {
                    name: name.clone(),
                    format: Format::P12,
                    out: None,
                    legacy: false,
                    force: false,
                },
                &mut || Ok(pw.clone()),
            )?
            .file,
        ),
        None => None,
    };
    // First (empty) CRLs, which servers like nginx need, then the
    // trust-store bundle for the target, with its rules checked.
    let mut ledger = ctx.pki.open_ledger()?;
    for ca in ["root", plan.intermediate_name.as_str()] {
        let signer = certsmith::ca::Signer::load(&ctx.pki, &ledger, ca, &opts)?;
        certsmith::crl::write(
            &ctx.pki,
            &mut ledger,
            &signer,
            time::Duration::days(7),
            false,
        )?;
    }
    let bundle = certsmith::bundle::build(
        &ctx.pki,
        &ledger,
        &plan.target,
        &certsmith::bundle::Options {
            pass: opts.clone(),
            ..Default::default()
        },
    )?;
    Ok(Outcome {
        root,
        intermediate,
        first,
        p12,
        bundle,
    })
}

/// The commands a user runs next for `target`.
fn next_commands(ctx: &Ctx, plan: &Plan, o: &Outcome) -> Vec<String> {
    let p = super::pki_flag(ctx);
    let mut v = Vec::new();
    // The bundle exists; CRLs must be re-published before their nextUpdate.
    if !matches!(plan.target.as_str(), "aws-apigw" | "aws-iot") {
        v.push(format!(
            "certsmith{p} crl   # at least weekly: the first CRLs expire in 7 days"
        ));
    }
    match &plan.naming {
        Naming::Device(_) => v.push(format!("certsmith{p} issue device-002")),
        Naming::Domain(d) => v.push(format!(
            "certsmith{p} issue web.{d} --profile server --san dns:web.{d}"
        )),
    }
    if o.p12.is_none() {
        v.push(format!("certsmith{p} export {} --format p12", o.first.name));
    }
    v.push(format!("certsmith{p} status"));
    v
}

fn report(ctx: &Ctx, plan: &Plan, o: &Outcome) {
    let next = next_commands(ctx, plan, o);
    let json = serde_json::json!({
        "root": o.root,
        "intermediate": o.intermediate,
        "device": o.first,
        "p12": o.p12,
        "bundle": o.bundle,
        "target": plan.target,
        "next": next,
    });
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!(
                "Created root CA '{}', intermediate CA '{}' and certificate '{}' in {}.",
                o.root.name,
                o.intermediate.name,
                o.first.name,
                ctx.pki.root.display()
            ));
            s.append(super::file_lines(&o.root.files));
            s.append(super::file_lines(&o.intermediate.files));
            s.append(super::file_lines(&o.first.files));
            if let Some(p) = &o.p12 {
                s.append(super::file_lines(std::slice::from_ref(p)));
            }
            if !o.root.encrypted {
                s.line("warning: the CA keys are stored unencrypted (--no-passphrase)");
            } else {
                s.line("The CA keys are encrypted; keep the root key offline once the intermediate exists:")
                    .line(format!("  {}", ctx.pki.ca_key_path(&o.root.name).display()));
            }
            s.append(super::bundle::human(&o.bundle));
            s.line("Then:");
            for n in &next {
                s.line(format!("  {n}"));
            }
            s
        },
        &json,
    );
}
