//! `certsmith doctor [--repair]`: check the PKI directory and fix what is safe.

use certsmith::clock;
use certsmith::doctor::{self, Fixer, Options, Report, Severity};
use certsmith::error::{Error, Result};
use certsmith::passphrase::{PASSPHRASE_ENV, Passphrase};

use super::Ctx;
use crate::cli::DoctorArgs;

pub fn run(ctx: &Ctx, a: DoctorArgs) -> Result<()> {
    // Encrypted CA keys are matched to their certificates only when the
    // passphrase is in the environment; doctor never prompts.
    let passphrase = std::env::var(PASSPHRASE_ENV)
        .ok()
        .and_then(|p| Passphrase::new(p).ok());
    let opts = Options {
        repair: a.repair,
        archive_lost: a.archive_lost,
        now: clock::now()?,
        expiry_window: time::Duration::days(30),
        passphrase,
        allow_insecure_perms: ctx.allow_insecure_perms,
        pins: certsmith::keystore::PinOptions {
            file: a.pin_file.clone(),
        },
    };
    let report = doctor::run(&ctx.pki, &opts)?;
    let open = report.open_problems();
    let mut json = serde_json::to_value(&report).unwrap_or_default();
    json["clean"] = serde_json::json!(open == 0);
    json["problems"] = serde_json::json!(report.count(Severity::Problem));
    json["repaired"] = serde_json::json!(report.repaired_count());
    json["warnings"] = serde_json::json!(report.count(Severity::Warning));
    // Paths as every document prints them: below the PKI directory as given.
    if let Some(findings) = json["findings"].as_array_mut() {
        for f in findings {
            if let Some(p) = f["path"].as_str() {
                f["path"] = certsmith::json::path(&ctx.pki.root.join(p)).into();
            }
        }
    }
    ctx.report(|| human(&report, a.repair), &json);
    if open > 0 {
        return Err(Error::failed(format!(
            "doctor found {open} problem{} in '{}'",
            if open == 1 { "" } else { "s" },
            ctx.pki.root.display()
        ))
        .hint(if a.repair {
            manual_steps(&report).unwrap_or_else(|| {
                "the problems left need a person: see the lines above".to_string()
            })
        } else {
            next_step(&report)
        }));
    }
    Ok(())
}

fn human(r: &Report, repair: bool) -> super::Lines {
    let mut s = super::Lines::new();
    s.line(format!(
        "Checked '{}': {} CA{}, {} certificate{}.",
        r.pki,
        r.cas,
        if r.cas == 1 { "" } else { "s" },
        r.certificates,
        if r.certificates == 1 { "" } else { "s" }
    ));
    for f in &r.findings {
        let label = match f.severity {
            Severity::Problem => "problem",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        s.line(format!("{label}: {}", f.message));
        if let Some(done) = &f.repaired {
            s.line(format!("  repaired: {done}"));
        }
    }
    let problems = r.count(Severity::Problem);
    let repaired = r.repaired_count();
    if problems == 0 {
        s.line("No problems found.");
    } else if repair {
        s.line(format!("{problems} problem(s), {repaired} repaired."));
    } else {
        s.line(format!("{problems} problem(s). Next: {}", next_step(r)));
    }
    s
}

/// What to do about the problems `doctor` found without `--repair`: a
/// token key's problem is the module's, the token's or the PIN's, and a
/// CRL past its nextUpdate needs `crl`; `--repair` fixes neither, so it is
/// suggested only when some other problem is left.
fn next_step(r: &Report) -> String {
    let fixers = r.open_fixers();
    let repairable = fixers.iter().filter(|f| ***f == Fixer::Repair).count();
    if repairable == fixers.len() {
        return "run `certsmith doctor --repair` to fix what is safe to fix".into();
    }
    let mut steps: Vec<String> = Vec::new();
    for f in &fixers {
        let step = match f {
            Fixer::Manual(m) => m.clone(),
            Fixer::Token if repairable > 0 => "check the token's module, the token and its PIN (or run `certsmith key offline <ca>` for a CA whose token is away)".to_string(),
            Fixer::Token => TOKEN_NEXT.to_string(),
            Fixer::Repair => continue,
        };
        if !steps.contains(&step) {
            steps.push(step);
        }
    }
    let mut s = steps.join("; ");
    if repairable > 0 {
        s.push_str("; then `certsmith doctor --repair` fixes what is safe to fix");
    }
    s
}

const TOKEN_NEXT: &str = "check the token's module, the token and its PIN, or run `certsmith key offline <ca>` for a CA whose token is away";

/// The steps for a person that the problems left after `--repair` name.
fn manual_steps(r: &Report) -> Option<String> {
    let mut steps: Vec<&str> = Vec::new();
    for f in r.open_fixers() {
        if let Fixer::Manual(m) = f
            && !steps.contains(&m.as_str())
        {
            steps.push(m);
        }
    }
    (!steps.is_empty()).then(|| steps.join("; "))
}
