//! `certsmith bootstrap`: root + intermediate + first certificate (+ .p12)
//! for a new PKI. On a terminal without `--yes` the wizard (`wizard.rs`)
//! fills in a [`Plan`]; otherwise flags and defaults do. Nothing is written
//! until the plan is complete; `ops::bootstrap` then builds it.

use certsmith::error::{Error, Result};
use certsmith::names::San;
use certsmith::ops::bootstrap::{Naming, Outcome, Plan};
use certsmith::passphrase;

use super::Ctx;
use crate::cli::BootstrapArgs;

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
    let outcome = certsmith::ops::bootstrap::bootstrap(&ctx.pki, &plan)?;
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
    let store = super::key_store(&a.store, &a.pass)?;
    // Token keys have no passphrase: the token's PIN guards them.
    let passphrase = if store.in_token() {
        None
    } else {
        passphrase::for_new_key(&pass_opts, "the new CAs")?
    };
    let root_passphrase = match &a.root_passphrase_file {
        Some(_) if store.in_token() => {
            return Err(Error::input(
                "--root-passphrase-file is for a key file; a token key is guarded by the token's PIN",
            ));
        }
        Some(f) => Some(passphrase::read_file(f)?),
        None => None,
    };
    let p12 = a
        .p12_passphrase_file
        .as_deref()
        .map(passphrase::read_file)
        .transpose()?;
    Ok(Plan {
        org: a.org.clone(),
        naming,
        root_key: a.root_key.clone(),
        key: a.key.clone(),
        root_validity: a.root_validity.clone(),
        intermediate_validity: a.intermediate_validity.clone(),
        device_validity: a.device_validity.clone(),
        intermediate_name: a.intermediate_name.clone(),
        passphrase,
        root_passphrase,
        kdf,
        target: a.target.clone(),
        p12,
        store,
        urls: super::url_change(&a.urls),
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

/// The commands a user runs next for `target`.
fn next_commands(ctx: &Ctx, plan: &Plan, o: &Outcome) -> Vec<String> {
    let p = super::pki_flag(ctx);
    let mut v = Vec::new();
    // The bundle exists; CRLs must be re-published before their nextUpdate.
    if !matches!(plan.target.as_str(), "aws-apigw" | "aws-iot") {
        v.push(format!(
            "certsmith{p} crl   # at least weekly: the issuing CA's CRL expires in 7 days, the root's in 180"
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
        "mesh": o.mesh,
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
            if let [mesh_root, mesh_ca] = o.mesh.as_slice() {
                s.line(format!(
                    "For the mesh, root CA '{}' and CA '{}' (istiod signs with it; devices never come from it, so no device trust store admits a workload):",
                    mesh_root.name, mesh_ca.name
                ));
                s.append(super::file_lines(&mesh_root.files));
                s.append(super::file_lines(&mesh_ca.files));
            }
            s.append(super::file_lines(&o.first.files));
            if let Some(p) = &o.p12 {
                s.append(super::file_lines(std::slice::from_ref(p)));
            }
            if let Some(key) = &o.root.key_ref {
                s.line(format!("The CA keys are in the token ({key}); when the root is put away: certsmith key offline {}", o.root.name));
            } else if !o.root.encrypted {
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
