//! One file per subcommand: each checks its arguments, calls the library,
//! and reports what it wrote. This module holds what they share.

use std::path::PathBuf;

use certsmith::error::{Error, Result, escape_controls};
use certsmith::keys::{Kdf, KeyType};
use certsmith::ledger::Ledger;
use certsmith::names::{San, Subject};
use certsmith::passphrase::PassOptions;
use certsmith::pki::Pki;
use certsmith::validity::Validity;

use crate::cli::{Cli, Command, NewKeyProtection, PassArgs};

mod batch;
mod bootstrap;
mod bundle;
mod completions;
mod crl;
mod doctor;
mod export;
mod init;
mod inspect;
mod intermediate;
mod issue;
mod key;
mod list;
mod renew;
mod revoke;
mod sign;
mod status;
mod verify;
mod wizard;

/// What every command gets: the PKI directory and output settings.
pub struct Ctx {
    pub pki: Pki,
    pub json: bool,
    pub quiet: bool,
    /// `--yes`: assume yes, never prompt (read by the bootstrap wizard).
    pub yes: bool,
    /// `--allow-insecure-perms` (also set on `pki`, where the checks read it).
    pub allow_insecure_perms: bool,
}

impl Ctx {
    /// Prints the human text, or the JSON document with `--json`.
    pub fn report(&self, human: impl FnOnce() -> String, json: &serde_json::Value) {
        let text = if self.json {
            format!(
                "{}\n",
                serde_json::to_string_pretty(json).unwrap_or_default()
            )
        } else if !self.quiet {
            terminal_text(&human())
        } else {
            return;
        };
        write_stdout(&text);
    }
}

/// Human text made safe for a terminal: every control character is escaped
/// (`\u{1b}`, `\r`, …) except the line feeds between lines, so nothing
/// certsmith prints can move the cursor, recolour, retitle or clear the
/// operator's terminal. JSON needs none of this: serde escapes controls.
pub fn terminal_text(text: &str) -> String {
    text.split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes one diagnostic line to stderr: certsmith's own `prefix`
/// (`certsmith: `, `hint: `, `warning: `), then `text` with every control
/// character escaped, line feeds included, so a value inside it can neither
/// reach the terminal raw nor start a forged line.
pub fn diagnostic(prefix: &str, text: &str) {
    write_stderr(&format!("{prefix}{}\n", escape_controls(text)));
}

/// Writes to stdout. A reader that closed the pipe early (`| head`) is not
/// an error; any other failure is said on stderr.
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        write_stderr(&format!("certsmith: cannot write to stdout: {e}\n"));
    }
}

/// Writes to stderr. Unlike `eprintln!`, it does not panic when stderr is
/// a closed pipe: the exit code still tells what happened.
pub fn write_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx {
        pki: Pki::at(cli.global.pki.clone())
            .allowing_insecure_perms(cli.global.allow_insecure_perms),
        json: cli.global.json,
        quiet: cli.global.quiet,
        yes: cli.global.yes,
        allow_insecure_perms: cli.global.allow_insecure_perms,
    };
    if ctx.yes {
        certsmith::passphrase::forbid_prompts();
    }
    match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Intermediate(a) => intermediate::run(&ctx, a),
        Command::Issue(a) => issue::run(&ctx, a),
        Command::Sign(a) => sign::run(&ctx, a),
        Command::Inspect(a) => inspect::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::Status => status::run(&ctx),
        Command::Bootstrap(a) => bootstrap::run(&ctx, a),
        Command::Completions(a) => completions::run(a),
        Command::Batch(a) => batch::run(&ctx, a),
        Command::Revoke(a) => revoke::run(&ctx, a),
        Command::Crl(a) => crl::run(&ctx, a),
        Command::Bundle(a) => bundle::run(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Doctor(a) => doctor::run(&ctx, a),
        Command::Renew(a) => renew::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Key(a) => key::run(&ctx, a),
    }
}

/// Passphrase sources for loading a CA key.
pub fn pass_options(pass: &PassArgs) -> PassOptions {
    PassOptions {
        file: pass.passphrase_file.clone(),
        ..Default::default()
    }
}

/// Passphrase sources and KDF for a new CA key.
pub fn new_key_options(pass: &PassArgs, protect: &NewKeyProtection) -> Result<(PassOptions, Kdf)> {
    Ok((
        PassOptions {
            file: pass.passphrase_file.clone(),
            no_passphrase: protect.no_passphrase,
            given: None,
        },
        protect.kdf.parse()?,
    ))
}

/// `--key`, or the default.
pub fn key_type(arg: Option<&str>, default: KeyType) -> Result<KeyType> {
    arg.map(str::parse)
        .transpose()
        .map(|k| k.unwrap_or(default))
}

/// `--validity`, if given.
pub fn validity(arg: Option<&str>) -> Result<Option<Validity>> {
    arg.map(Validity::parse).transpose()
}

/// The subject from `--subject` or `--cn`, if either was given.
pub fn subject(subject: Option<&str>, cn: Option<&str>) -> Result<Option<Subject>> {
    match (subject, cn) {
        (Some(s), _) => Subject::parse(s).map(Some),
        (None, Some(cn)) => {
            if cn.trim().is_empty() {
                return Err(Error::input("--cn is empty"));
            }
            // Through the parser, so --cn gets the same checks as --subject (control
            // characters, RFC 5280 length limits).
            Subject::parse(&format!(
                "CN={}",
                cn.replace('\\', "\\\\").replace(',', "\\,")
            ))
            .map(Some)
        }
        (None, None) => Ok(None),
    }
}

/// Parses every `--san`.
pub fn sans(args: &[String]) -> Result<Vec<San>> {
    let mut out: Vec<San> = Vec::new();
    for a in args {
        let s = San::parse(a)?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// `--ca`, or the default issuing CA: the only intermediate, else the only root.
pub fn issuing_ca(ledger: &Ledger, arg: Option<&str>) -> Result<String> {
    certsmith::ops::issuing_ca(ledger, arg)
}

/// Lines listing written files, for human output.
pub fn file_lines(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| format!("  {}\n", escape_controls(&f.display().to_string())))
        .collect()
}

/// `--pki` as the user should type it again in a next command.
pub fn pki_flag(ctx: &Ctx) -> String {
    let p = escape_controls(&ctx.pki.root.display().to_string());
    if p == "pki" {
        String::new()
    } else {
        format!(" --pki {p}")
    }
}

/// The CA request from `init` / `intermediate` flags.
pub fn ca_request(a: &crate::cli::CaArgs) -> Result<certsmith::ca::CaRequest> {
    use certsmith::names::{IpNet, NameConstraintSet};
    let subject = subject(a.subject.as_deref(), a.cn.as_deref())?.ok_or_else(|| {
        Error::input("the new CA needs a subject")
            .hint("pass --cn NAME or --subject \"CN=…,O=…,C=…\"")
    })?;
    let dns = |flag: &str, v: &[String]| -> Result<Vec<String>> {
        v.iter()
            .map(|d| certsmith::names::dns_constraint(flag, d))
            .collect()
    };
    let ip = |v: &[String]| -> Result<Vec<IpNet>> { v.iter().map(|s| IpNet::parse(s)).collect() };
    Ok(certsmith::ca::CaRequest {
        subject,
        validity: validity(a.validity.as_deref())?,
        pathlen: a.pathlen,
        constraints: NameConstraintSet {
            permit_dns: dns("--permit-dns", &a.permit_dns)?,
            exclude_dns: dns("--exclude-dns", &a.exclude_dns)?,
            permit_ip: ip(&a.permit_ip)?,
            exclude_ip: ip(&a.exclude_ip)?,
            ..NameConstraintSet::default()
        },
        clamp: a.clamp,
        no_crl: a.no_crl,
    })
}

/// Human report of a new CA.
pub fn ca_report(ctx: &Ctx, ca: &certsmith::ca::CreatedCa, next: &str) {
    let json = serde_json::to_value(ca).unwrap_or_default();
    ctx.report(
        || {
            let mut s = format!(
                "Created {} CA '{}' ({}, {}, valid until {}{}).\n",
                ca.kind,
                ca.name,
                ca.subject,
                ca.key_type,
                ca.not_after,
                if ca.clamped {
                    ", shortened to the issuer's notAfter by --clamp"
                } else {
                    ""
                }
            );
            s.push_str(&file_lines(&ca.files));
            if !ca.encrypted {
                s.push_str("warning: the CA key is stored unencrypted (--no-passphrase)\n");
            }
            s.push_str(&format!("Next: {next}\n"));
            s
        },
        &json,
    );
}
