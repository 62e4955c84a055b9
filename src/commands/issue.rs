//! `certsmith issue <name>`: new key + certificate from a profile.

use certsmith::ca::Signer;
use certsmith::clock;
use certsmith::error::Result;
use certsmith::leaf::{self, IssuedLeaf, LeafRequest, WriteOptions};
use certsmith::ledger::Ledger;
use certsmith::names::Subject;
use certsmith::passphrase::PassOptions;
use certsmith::pki::{Out, validate_name};
use certsmith::profile::Profile;

use super::Ctx;
use crate::cli::{IssueArgs, LeafArgs};

/// The request and write options from the shared leaf flags.
pub fn leaf_request(
    ctx: &Ctx,
    name: &str,
    a: &LeafArgs,
    fallback_subject: Option<Subject>,
) -> Result<(LeafRequest, WriteOptions)> {
    let profile = Profile::load(Some(&ctx.pki.root), &a.profile)?;
    let subject = match super::subject(a.subject.as_deref(), a.cn.as_deref())? {
        Some(s) => s,
        None => match fallback_subject {
            Some(s) => s,
            None => profile.subject_for(name)?,
        },
    };
    Ok((
        LeafRequest {
            name: name.to_string(),
            profile,
            subject,
            sans: super::sans(&a.san)?,
            validity: super::validity(a.validity.as_deref())?,
            clamp: a.clamp,
        },
        WriteOptions {
            out: a.out.clone(),
            force: a.force,
        },
    ))
}

pub fn run(ctx: &Ctx, a: IssueArgs) -> Result<()> {
    let issued = issue(
        ctx,
        &a.name,
        a.key.as_deref(),
        &a.leaf,
        &super::pass_options(&a.leaf.pass),
    )?;
    leaf_report(ctx, &issued, &[]);
    Ok(())
}

/// Issues leaf `name` with a new key.
pub fn issue(
    ctx: &Ctx,
    name: &str,
    key: Option<&str>,
    a: &LeafArgs,
    pass: &PassOptions,
) -> Result<IssuedLeaf> {
    validate_name("certificate", name)?;
    let pki = &ctx.pki;
    let mut ledger = pki.open_ledger()?;
    let (req, mut opts) = leaf_request(ctx, name, a, None)?;
    let key_type = super::key_type(key, req.profile.default_key)?;
    // A `pending` name belongs to a running or interrupted command: never re-issue over it.
    leaf::check_name(&ledger, name, opts.force)?;
    check_out(ctx, &ledger, name, &mut opts)?;
    let ca = super::issuing_ca(&ledger, a.ca.as_deref())?;
    let signer = Signer::load(pki, &ledger, &ca, pass)?;
    req.check(&signer)?;
    let now = clock::now()?;
    let key = key_type.generate()?;
    let signed = req.sign(&signer, &key, key_type, now)?;
    leaf::write(
        pki,
        &mut ledger,
        &signer,
        &req,
        &signed,
        Some(&key),
        key_type,
        &opts,
        now,
    )
}

/// Refuses an `--out` at certsmith's own files (see `Pki::check_out`)
/// and makes it absolute, as it is then written to and stored.
pub fn check_out(ctx: &Ctx, ledger: &Ledger, name: &str, opts: &mut WriteOptions) -> Result<()> {
    if let Some(o) = &opts.out {
        opts.out = Some(ctx.pki.check_out(ledger, o, Out::CertDir(name))?);
    }
    Ok(())
}

/// Human / JSON report of a new leaf.
pub fn leaf_report(ctx: &Ctx, l: &IssuedLeaf, notes: &[String]) {
    let mut json = serde_json::to_value(l).unwrap_or_default();
    if !notes.is_empty() {
        json["notes"] = serde_json::json!(notes);
    }
    ctx.report(
        || {
            let mut s = super::Lines::new();
            s.line(format!(
                "Issued '{}' ({}, profile {}, {}) from CA '{}', serial {}, valid until {}.",
                l.name, l.subject, l.profile, l.key_type, l.issuer, l.serial, l.not_after
            ));
            if l.clamped {
                s.line("note: the validity was shortened to the issuer's notAfter (--clamp)");
            }
            for n in notes {
                s.line(format!("note: {n}"));
            }
            s.append(super::file_lines(&l.files));
            let cert = l
                .files
                .iter()
                .find(|f| f.ends_with("cert.pem"))
                .map(|f| f.display().to_string())
                .unwrap_or_default();
            s.line(format!(
                "Next: certsmith{} inspect {cert}",
                super::pki_flag(ctx)
            ));
            s
        },
        &json,
    );
}
