//! The `bootstrap` wizard: asks on the terminal for what the flags would
//! say, with the flags' values as defaults, shows a summary and writes
//! nothing until the user confirms.

use dialoguer::{Confirm, Input, Select};

use certsmith::error::{Error, Result};
use certsmith::keys::KeyType;
use certsmith::passphrase::{self, PassOptions};
use certsmith::validity::Validity;

use super::Ctx;
use super::bootstrap::check_domain;
use crate::cli::BootstrapArgs;
use certsmith::ops::bootstrap::{Naming, Plan};

fn io(e: dialoguer::Error) -> Error {
    Error::input(format!("cannot read the answer: {e}"))
}

/// A yes/no question answered only with Enter (`y`/`n` then Enter, or Enter
/// alone for `default`): a stray keypress never answers it.
fn yes_no(prompt: &str, default: bool) -> Result<bool> {
    Confirm::new()
        .with_prompt(prompt)
        .default(default)
        .wait_for_newline(true)
        .interact()
        .map_err(io)
}

fn text(prompt: &str, default: String, check: fn(&str) -> Result<()>) -> Result<String> {
    // dialoguer prints the default as it is: a flag value (--org, --device,
    // --domain, …) must be checked before it is shown.
    if default
        .chars()
        .any(|c| c.is_control() || certsmith::error::reorders_text(c))
    {
        return Err(Error::input(format!(
            "'{}' holds a control or bidi character",
            certsmith::error::shown(&default)
        ))
        .hint(format!("answer \"{prompt}\" without it")));
    }
    Input::<String>::new()
        .with_prompt(prompt)
        .default(default)
        .validate_with(move |s: &String| check(s.trim()).map_err(|e| e.to_string()))
        .interact_text()
        .map(|s| s.trim().to_string())
        .map_err(io)
}

fn key(prompt: &str, flag: Option<&str>, default: KeyType) -> Result<String> {
    let start = flag
        .and_then(|f| f.parse::<KeyType>().ok())
        .unwrap_or(default);
    let items: Vec<&str> = KeyType::ALL.iter().map(|k| k.as_str()).collect();
    let pos = KeyType::ALL.iter().position(|k| *k == start).unwrap_or(0);
    let i = Select::new()
        .with_prompt(prompt)
        .items(&items)
        .default(pos)
        .interact()
        .map_err(io)?;
    Ok(items[i].to_string())
}

fn validity(prompt: &str, flag: Option<&String>, default: &str) -> Result<String> {
    text(
        prompt,
        flag.cloned().unwrap_or_else(|| default.to_string()),
        |s| Validity::parse(s).map(|_| ()),
    )
}

/// Runs the wizard. `None` when the user declines at the summary.
pub fn ask(ctx: &Ctx, a: &BootstrapArgs) -> Result<Option<Plan>> {
    if ctx.pki.ledger_path().exists() {
        return Err(Error::input(format!(
            "'{}' already holds a PKI; bootstrap makes a new one",
            ctx.pki.root.display()
        ))
        .hint("pass --pki DIR with a new directory"));
    }
    let (_, kdf) = super::new_key_options(&a.pass, &a.protect)?;
    let mut intro = super::Lines::new();
    intro
        .line(format!(
            "certsmith bootstrap: a root CA, an issuing CA and a first certificate in '{}'.",
            ctx.pki.root.display()
        ))
        .line("Press Enter to accept the [default]. Nothing is written before the summary.")
        .line("");
    intro.to_stderr();
    let org = text("Organisation (O= of the CAs)", a.org.clone(), |s| {
        if s.is_empty() || s.chars().any(char::is_control) {
            Err(Error::input("the organisation needs a name"))
        } else {
            Ok(())
        }
    })?;
    let kind = Select::new()
        .with_prompt("What will the certificates identify?")
        .items([
            "devices or clients (mTLS client certificates)",
            "servers in a DNS domain",
        ])
        .default(usize::from(a.domain.is_some()))
        .interact()
        .map_err(io)?;
    let naming = if kind == 0 {
        Naming::Device(text("Name of the first device", a.device.clone(), |s| {
            certsmith::pki::validate_name("certificate", s)
        })?)
    } else {
        let d = text(
            "DNS domain of the servers",
            a.domain
                .clone()
                .unwrap_or_else(|| "example.internal".into()),
            |s| check_domain(s).map(|_| ()),
        )?;
        Naming::Domain(check_domain(&d)?)
    };
    let root_key = key("Root key type", a.root_key.as_deref(), KeyType::EcdsaP384)?;
    let leaf_key = key(
        "Key type of the issuing CA and certificates",
        a.key.as_deref(),
        KeyType::EcdsaP256,
    )?;
    let root_validity = validity("Root validity", a.root_validity.as_ref(), "10y")?;
    let inter_validity = validity(
        "Issuing CA validity",
        a.intermediate_validity.as_ref(),
        "5y",
    )?;
    let device_validity = validity(
        "First certificate validity",
        a.device_validity.as_ref(),
        "1y",
    )?;
    let from_flags =
        a.pass.passphrase_file.is_some() || std::env::var_os(passphrase::PASSPHRASE_ENV).is_some();
    let store = super::key_store(&a.store, &a.pass)?;
    // Token keys have no passphrase: the token's PIN guards them.
    let pass = if a.protect.no_passphrase || store.in_token() {
        None
    } else if from_flags {
        let opts = PassOptions {
            file: a.pass.passphrase_file.clone(),
            ..Default::default()
        };
        passphrase::for_new_key(&opts, "the new CAs")?
    } else if yes_no("Protect the CA keys with a passphrase? (recommended)", true)? {
        Some(passphrase::prompt_new_ca("Passphrase for the CA keys")?)
    } else {
        None
    };
    // The trust stores `bundle --target` knows, in its order.
    let targets: Vec<&str> = certsmith::bundle::TARGETS
        .iter()
        .map(|t| t.name())
        .collect();
    let target_pos = targets.iter().position(|t| *t == a.target).unwrap_or(0);
    let target = targets[Select::new()
        .with_prompt("Trust store that will check the certificates")
        .items(&targets)
        .default(target_pos)
        .interact()
        .map_err(io)?]
    .to_string();
    let mut plan = Plan {
        org,
        naming,
        root_key: Some(root_key),
        key: Some(leaf_key),
        root_validity: Some(root_validity),
        intermediate_validity: Some(inter_validity),
        device_validity: Some(device_validity),
        intermediate_name: a.intermediate_name.clone(),
        passphrase: pass,
        root_passphrase: None,
        kdf,
        target,
        p12: None,
        store,
        urls: Default::default(),
    };
    let (first, profile, _) = plan.first_cert();
    plan.p12 = match &a.p12_passphrase_file {
        Some(f) => Some(passphrase::read_file(f)?),
        None if yes_no(&format!("Export '{first}' as a PKCS#12 (.p12) file?"), true)? => Some(
            passphrase::prompt_new(&format!("Password for the .p12 file of '{first}'"))?,
        ),
        None => None,
    };
    summary(ctx, &plan, &first, profile).to_stderr();
    // The one answer that writes: No unless the user types y and Enter.
    let go = yes_no("Create all of this now?", false)?;
    Ok(go.then_some(plan))
}

fn summary(ctx: &Ctx, p: &Plan, first: &str, profile: &str) -> super::Lines {
    let opt = |o: &Option<String>| o.clone().unwrap_or_default();
    let limit = match &p.naming {
        Naming::Domain(d) => format!(", names limited to {d}"),
        Naming::Device(_) => String::new(),
    };
    let rows = [
        (
            "root CA 'root'".to_string(),
            format!("CN={} Root CA,O={}", p.org, p.org),
            format!("{}, {}", opt(&p.root_key), opt(&p.root_validity)),
        ),
        (
            format!("issuing CA '{}'", p.intermediate_name),
            format!("CN={} Issuing CA,O={}", p.org, p.org),
            format!("{}, {}{limit}", opt(&p.key), opt(&p.intermediate_validity)),
        ),
        (
            format!("certificate '{first}'"),
            format!("profile {profile}"),
            format!("{}, {}", opt(&p.key), opt(&p.device_validity)),
        ),
    ];
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let mut s = super::Lines::new();
    s.line("");
    s.line(format!("Summary ({})", ctx.pki.root.display()));
    for (what, subject, how) in rows {
        s.line(format!("  {what:<w$}  {subject}  ({how})"));
    }
    s.line(format!(
        "  CA keys: {}",
        if p.passphrase.is_some() {
            "encrypted with your passphrase"
        } else {
            "UNENCRYPTED"
        }
    ));
    if p.p12.is_some() {
        s.line(format!("  export: {first}.p12 (AES-256)"));
    }
    s.line(format!("  trust store: {}", p.target));
    s
}
