//! `certsmith batch`: many certificates from a manifest or `--count`, all
//! checked before the first key is made, then issued in parallel.

use std::io::IsTerminal;

use std::path::Path;

use certsmith::archive::Target;
use certsmith::batch::{Checked, DeviceFormat, Plan, Summary};
use certsmith::error::{Error, Result};
use certsmith::manifest::Manifest;
use certsmith::manifest::NameFrom;
use certsmith::ops::batch::BatchRequest;
use certsmith::passphrase;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Ctx;
use crate::cli::{BatchArgs, BatchFormat, NameFromArg};

pub fn run(ctx: &Ctx, a: BatchArgs) -> Result<()> {
    let manifest = match (&a.manifest, a.count) {
        _ if a.csr_dir.is_some() => {
            let name_from = match crate::cli::choice::<NameFromArg>("--name-from", &a.name_from)? {
                NameFromArg::File => NameFrom::File,
                NameFromArg::Cn => NameFrom::Cn,
            };
            Manifest::csr_dir(a.csr_dir.as_deref().unwrap_or(Path::new(".")), name_from)?
        }
        (_, Some(n)) => Manifest::count(n, &a.name_pattern)?,
        (Some(p), None) => Manifest::file(p)?,
        (None, None) => {
            return Err(Error::input("batch needs a manifest file or --count N")
                .hint("certsmith batch devices.csv, or certsmith batch --count 100 --name-pattern 'device-{:06}'"));
        }
    };
    let jobs = match a.jobs {
        Some(0) => return Err(Error::input("--jobs must be at least 1")),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let req = BatchRequest {
        profile: a.profile.clone(),
        key: super::key_type(a.key.as_deref())?,
        ca: a.ca.clone(),
        pass: super::pass_options(&a.pass),
        validity: super::validity(a.validity.as_deref())?,
        clamp: a.clamp,
        out: a.out.clone(),
        skip_existing: a.skip_existing,
        archive: a.archive.as_deref().map(Target::parse),
        format: match crate::cli::choice::<BatchFormat>("--format", &a.format)? {
            BatchFormat::Pem => DeviceFormat::Pem,
            BatchFormat::P12 => DeviceFormat::P12,
        },
        p12_pass: a
            .p12_passphrase_file
            .as_deref()
            .map(passphrase::read_file)
            .transpose()?,
        no_sync: a.no_sync,
        jobs,
    };
    let to_stdout = req.archive == Some(Target::Stdout);
    let (req_format, csrs) = (req.format, a.csr_dir.is_some());
    if to_stdout && ctx.json {
        return Err(
            Error::input("--json and --archive - both want stdout").hint(
                "write the archive to a file, or drop --json (the summary then goes to stderr)",
            ),
        );
    }
    let batch = certsmith::ops::batch::check(&ctx.pki, req, &manifest)?;
    if let Some(refusal) = batch.refusal(&manifest) {
        let c = &batch.checked;
        for e in &c.errors {
            super::diagnostic("certsmith: ", e);
        }
        if c.bad > c.errors.len() as u64 {
            super::diagnostic(
                "certsmith: ",
                &format!("… and {} more bad rows", c.bad - c.errors.len() as u64),
            );
        }
        return Err(refusal);
    }
    let checked = batch.checked.clone();
    if a.dry_run {
        dry_run_report(ctx, &batch.plan(), &checked);
        return Ok(());
    }
    if to_stdout && let Some(w) = certsmith::archive::stdout_warning() {
        super::diagnostic("", w);
    }
    let bar = progress_bar(ctx, checked.to_issue);
    let summary = batch.issue(&manifest, &|n| bar.set_position(n))?;
    bar.finish_and_clear();
    if to_stdout {
        // Stdout carries the archive: the summary goes to stderr.
        if !ctx.quiet {
            super::diagnostic("", &summary_line(&summary));
        }
        return Ok(());
    }
    let files = match (req_format, csrs) {
        (DeviceFormat::P12, _) => "{<name>.p12,cert.pem,chain.pem,fullchain.pem}",
        (DeviceFormat::Pem, true) => "{cert,chain,fullchain}.pem",
        (DeviceFormat::Pem, false) => "{cert,key,chain,fullchain}.pem",
    };
    report(ctx, &summary, checked.unrecorded, files);
    Ok(())
}

/// A bar on stderr when it is a terminal; hidden otherwise.
fn progress_bar(ctx: &Ctx, len: u64) -> ProgressBar {
    if ctx.quiet || ctx.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} certificates, {per_sec}, {eta} left")
    {
        bar.set_style(style);
    }
    bar
}

fn dry_run_report(ctx: &Ctx, plan: &Plan<'_>, c: &Checked) {
    let json = serde_json::json!({
        "dry_run": true,
        "rows": c.rows,
        "to_issue": c.to_issue,
        "skipped": c.skipped,
        "unrecorded": c.unrecorded,
        "ca": plan.signer.name,
        "profile": plan.profile.name,
        "key_type": plan.key_type.to_string(),
        "out": plan.out_dir(),
        "clamped": c.clamped,
    });
    ctx.report(
        || {
            let mut s = super::Lines::new();
            let mut head = format!(
                "Manifest OK: {} rows, {} to issue from CA '{}' (profile {}, {}) into {}",
                c.rows,
                c.to_issue,
                plan.signer.name,
                plan.profile.name,
                plan.key_type,
                plan.out_dir().display()
            );
            if c.skipped > 0 {
                head.push_str(&format!(", {} already in the ledger (skipped)", c.skipped));
            }
            s.line(format!("{head}."));
            if c.unrecorded > 0 {
                s.line(format!(
                    "note: {} names have files but no ledger row (an interrupted run); they will be re-issued and the old files kept as *.old-unrecorded",
                    c.unrecorded
                ));
            }
            s.line("Nothing was written (--dry-run).");
            s
        },
        &json,
    );
}

fn report(ctx: &Ctx, s: &Summary, unrecorded: u64, files: &str) {
    let mut json = serde_json::to_value(s).unwrap_or_default();
    json["unrecorded_replaced"] = unrecorded.into();
    ctx.report(
        || {
            let mut t = super::Lines::new();
            t.line(summary_line(s));
            if s.skipped > 0 {
                t.line(format!("Skipped {} names already in the ledger.", s.skipped));
            }
            if unrecorded > 0 {
                t.line(format!(
                    "note: re-issued {unrecorded} names whose files had no ledger row; the old files are kept as *.old-unrecorded"
                ));
            }
            if s.clamped {
                t.line("note: the validity was shortened to the issuer's notAfter (--clamp)");
            }
            if s.out.is_dir() {
                t.line(format!("  {}/<name>/{files}", s.out.display()));
            } else {
                t.line(format!("  {} (tar: <name>/{files})", s.out.display()));
            }
            t.line(format!(
                "Next: certsmith{} list --ca {}",
                super::pki_flag(ctx),
                s.ca
            ));
            t
        },
        &json,
    );
}

fn summary_line(s: &Summary) -> String {
    format!(
        "Issued {} certificates from CA '{}' (profile {}, {}) in {:.2} s, {:.0} certificates/s.",
        s.issued, s.ca, s.profile, s.keys, s.elapsed_seconds, s.certs_per_second
    )
}
