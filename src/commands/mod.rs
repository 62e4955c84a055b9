//! One file per subcommand: each checks its arguments, calls the library,
//! and reports what it wrote. This module holds what they share.

use std::path::PathBuf;

use certsmith::error::{Error, Result, escape_controls};
use certsmith::keys::{Kdf, KeyType};
use certsmith::keystore::NewKeyStore;
use certsmith::names::{San, Subject};
use certsmith::passphrase::PassOptions;
use certsmith::pki::Pki;
use certsmith::validity::Validity;

use crate::cli::{Cli, Command, NewKeyProtection, PassArgs};

mod batch;
mod bootstrap;
mod bundle;
mod ca;
mod ca_crl;
mod ca_default;
mod ca_retire;
mod ca_rotate;
mod ca_urls;
mod completions;
mod crl;
mod doctor;
mod export;
mod init;
mod inspect;
mod intermediate;
mod issue;
mod key;
mod ledger;
mod list;
mod man;
mod needs_renewal;
mod prune;
mod renew;
mod revoke;
mod serve;
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
    /// With `--json`: the document the command reported, written once it
    /// has finished (with its `error` member when it failed).
    pub out: std::cell::RefCell<Option<serde_json::Value>>,
    /// The exit code of a command that succeeded with the answer "no"
    /// (`needs-renewal`: 1 = not needed; `list --fail-if-any`): not an error.
    pub answer: std::cell::Cell<u8>,
}

impl Ctx {
    /// Prints the human report, or the JSON document with `--json`.
    /// With `--json` the document is written when the command returns
    /// ([`run`]), so a failure after it adds its `error` to the same one
    /// document instead of printing a second.
    pub fn report(&self, human: impl FnOnce() -> Lines, json: &serde_json::Value) {
        if self.json {
            *self.out.borrow_mut() = Some(json.clone());
        } else if !self.quiet {
            write_stdout(&human().text());
        }
    }
}

/// A human report, built a line at a time. Each line is escaped whole when
/// printed ([`escape_controls`]: control characters, line feeds included,
/// and bidi / separator characters), so a value inside a line — a subject,
/// a SAN, a path — can never end it early or start a forged line of its
/// own, whichever command prints it. There is no way to add text that is
/// split on line feeds: every report goes through [`Lines::line`].
#[derive(Default)]
pub struct Lines(Vec<String>);

impl Lines {
    pub fn new() -> Lines {
        Lines::default()
    }

    /// Adds one line (without its line feed).
    pub fn line(&mut self, line: impl Into<String>) -> &mut Lines {
        self.0.push(line.into());
        self
    }

    /// Adds the lines of another report.
    pub fn append(&mut self, other: Lines) -> &mut Lines {
        self.0.extend(other.0);
        self
    }

    /// Writes the lines to stderr, each through [`diagnostic`] (prompts).
    pub fn to_stderr(&self) {
        for l in &self.0 {
            diagnostic("", l);
        }
    }

    /// The lines as terminal-safe text, each ended by a line feed.
    pub fn text(&self) -> String {
        self.0
            .iter()
            .map(|l| format!("{}\n", escape_controls(l)))
            .collect()
    }
}

impl From<Vec<String>> for Lines {
    fn from(lines: Vec<String>) -> Lines {
        Lines(lines)
    }
}

/// The one JSON writer for stdout: pretty JSON with, beyond what serde
/// escapes (U+0000–U+001F), DEL and the C1 controls (U+007F–U+009F, e.g.
/// the 8-bit CSI U+009B) and the bidi / separator characters written as
/// `\u00XX` escapes. Those can only occur inside strings, so the document
/// still parses to the same values.
/// Every document gets its `schema_version` here ([`certsmith::json::versioned`]).
pub fn json_text(json: &serde_json::Value) -> String {
    let json = certsmith::json::versioned(json.clone());
    let raw = serde_json::to_string_pretty(&json).unwrap_or_default();
    let mut out = String::with_capacity(raw.len() + 1);
    for c in raw.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) || certsmith::error::reorders_text(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push('\n');
    out
}

/// Writes one diagnostic line to stderr (the library's one writer).
pub use certsmith::error::diagnostic;

/// Writes to stdout. A reader that closed the pipe early (`| head`) is not
/// an error; any other failure is said on stderr.
pub fn write_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|_| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        diagnostic("certsmith: ", &format!("cannot write to stdout: {e}"));
    }
}

/// Runs the parsed command line; returns the exit code. With `--json`,
/// stdout gets one document: the command's report, or on failure that
/// report (or an empty one) with an `error` member ([`report_error`]).
pub fn run(cli: Cli) -> u8 {
    let ledger = match cli
        .global
        .ledger
        .as_deref()
        .map(certsmith::ledger::LedgerUrl::parse)
        .transpose()
    {
        Ok(l) => l,
        Err(e) => {
            report_error(&e, cli.global.json.then(serde_json::Value::default));
            return e.exit_code();
        }
    };
    let ctx = Ctx {
        pki: Pki::at(cli.global.pki.clone().unwrap_or_else(|| {
            certsmith::pki::discover(&std::env::current_dir().unwrap_or_default())
        }))
        .allowing_insecure_perms(cli.global.allow_insecure_perms)
        .with_ledger(ledger),
        json: cli.global.json,
        quiet: cli.global.quiet,
        yes: cli.global.yes,
        allow_insecure_perms: cli.global.allow_insecure_perms,
        out: std::cell::RefCell::new(None),
        answer: std::cell::Cell::new(0),
    };
    if ctx.yes {
        certsmith::passphrase::forbid_prompts();
    }
    // Commands whose exit 1 is an answer ("no" / "the list is not empty"): their failures exit 2 or 3.
    let answers = matches!(&cli.command, Command::NeedsRenewal(_))
        || matches!(&cli.command, Command::List(a) if a.fail_if_any);
    let result = match cli.command {
        Command::Init(a) => init::run(&ctx, a),
        Command::Intermediate(a) => intermediate::run(&ctx, a),
        Command::Issue(a) => issue::run(&ctx, a),
        Command::Sign(a) => sign::run(&ctx, a),
        Command::Inspect(a) => inspect::run(&ctx, a),
        Command::List(a) => list::run(&ctx, a),
        Command::NeedsRenewal(a) => needs_renewal::run(&ctx, a),
        Command::Status => status::run(&ctx),
        Command::Bootstrap(a) => bootstrap::run(&ctx, a),
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
        Command::CompleteNames(a) => completions::names(&ctx, a),
        Command::Batch(a) => batch::run(&ctx, a),
        Command::Revoke(a) => revoke::run(&ctx, a),
        Command::Crl(a) => crl::run(&ctx, a),
        Command::Bundle(a) => bundle::run(&ctx, a),
        Command::Verify(a) => verify::run(&ctx, a),
        Command::Doctor(a) => doctor::run(&ctx, a),
        Command::Renew(a) => renew::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Key(a) => key::run(&ctx, a),
        Command::Ca(a) => ca::run(&ctx, a),
        Command::Serve(a) => serve::run(&ctx, a),
        Command::Ledger(a) => ledger::run(&ctx, a),
        Command::Prune(a) => prune::run(&ctx, a),
    };
    // A writer that succeeded writes the CA certificate files the ledger has and the directory lacks.
    let result = result.and_then(|()| ctx.pki.materialise_after_write());
    let doc = ctx.out.take();
    match result {
        Ok(()) => {
            if let Some(doc) = doc {
                write_stdout(&json_text(&doc));
            }
            ctx.answer.get()
        }
        Err(e) => {
            let code = match e.exit_code() {
                1 if answers => ANSWER_FAILED,
                c => c,
            };
            let doc = ctx.json.then(|| doc.unwrap_or_default());
            if code == ANSWER_FAILED {
                report_error_with_code(&e, doc, code);
            } else {
                report_error(&e, doc);
            }
            code
        }
    }
}

/// The exit code of a failed `needs-renewal` or `list --fail-if-any`, whose
/// exit 1 means "no" / "the list is not empty" (2 stays bad input).
pub const ANSWER_FAILED: u8 = 3;

/// [`report_error`], with `exit_code` in the JSON error object set to `code`.
fn report_error_with_code(e: &Error, json: Option<serde_json::Value>, code: u8) {
    report_error(e, None);
    if let Some(doc) = json {
        let mut doc = certsmith::json::with_error(doc, e);
        doc["error"]["exit_code"] = code.into();
        write_stdout(&json_text(&doc));
    }
}

/// Passphrase sources for loading a CA key.
pub fn pass_options(pass: &PassArgs) -> PassOptions {
    PassOptions {
        file: pass.passphrase_file.clone(),
        pin_file: pass.pin_file.clone(),
        ..Default::default()
    }
}

/// Where a new CA key lives (`--key-store` and the PKCS#11 flags).
pub fn key_store(store: &crate::cli::KeyStoreArgs, pass: &PassArgs) -> Result<NewKeyStore> {
    let s = NewKeyStore {
        store: store.key_store.parse()?,
        module: store.pkcs11_module.clone(),
        uri: store.pkcs11_uri.clone(),
        pins: certsmith::keystore::PinOptions {
            file: pass.pin_file.clone(),
        },
    };
    s.check()?;
    Ok(s)
}

/// Passphrase sources and KDF for a new CA key.
pub fn new_key_options(pass: &PassArgs, protect: &NewKeyProtection) -> Result<(PassOptions, Kdf)> {
    Ok((
        PassOptions {
            file: pass.passphrase_file.clone(),
            no_passphrase: protect.no_passphrase,
            given: None,
            pin_file: pass.pin_file.clone(),
        },
        protect.kdf.parse()?,
    ))
}

/// `--key`, if given (the use case falls back to the profile's).
pub fn key_type(arg: Option<&str>) -> Result<Option<KeyType>> {
    arg.map(str::parse).transpose()
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

/// Parses every `--san` (a repeated one is kept once when the leaf is made).
pub fn sans(args: &[String]) -> Result<Vec<San>> {
    args.iter().map(|a| San::parse(a)).collect()
}

/// Lines listing written files, for human output.
pub fn file_lines(files: &[PathBuf]) -> Lines {
    files
        .iter()
        .map(|f| format!("  {}", f.display()))
        .collect::<Vec<_>>()
        .into()
}

/// `--pki` as the user should type it again in a next command.
pub fn pki_flag(ctx: &Ctx) -> String {
    let p = ctx.pki.root.display().to_string();
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
            let mut s = Lines::new();
            s.line(format!(
                "Created {} CA '{}' ({}, {}, valid until {}{}).",
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
            ));
            s.append(file_lines(&ca.files));
            if let Some(key) = &ca.key_ref {
                s.line(format!("  key in {key} (never leaves the token)"));
            } else if !ca.encrypted {
                s.line("warning: the CA key is stored unencrypted (--no-passphrase)");
            }
            s.line(format!("Next: {next}"));
            s
        },
        &json,
    );
}

/// The shared leaf flags of `issue` and `sign`.
pub fn leaf_options(l: &crate::cli::LeafArgs) -> Result<certsmith::ops::LeafOptions> {
    Ok(certsmith::ops::LeafOptions {
        profile: l.profile.clone(),
        subject: subject(l.subject.as_deref(), l.cn.as_deref())?,
        sans: sans(&l.san)?,
        validity: validity(l.validity.as_deref())?,
        clamp: l.clamp,
        ca: l.ca.clone(),
        pass: pass_options(&l.pass),
        write: certsmith::leaf::WriteOptions {
            out: l.out.clone(),
            force: l.force,
        },
    })
}

/// Writes error `e` to stderr: its `certsmith: ` line and its `hint: `
/// line (a usage error: the parser's lines as they are). With `--json`
/// (`json` is the report so far, `Null` for none) it also writes that
/// document on stdout with an `error` member ([`certsmith::json::error`]).
/// The one place an error reaches the user (the exit code is
/// [`Error::exit_code`]).
pub fn report_error(e: &Error, json: Option<serde_json::Value>) {
    match e.cause() {
        Error::Usage { text } => {
            for (i, line) in text.lines().enumerate() {
                diagnostic(if i == 0 { "certsmith: " } else { "" }, line);
            }
        }
        _ => {
            diagnostic("certsmith: ", &e.to_string());
            if let Some(h) = e.hint_text() {
                diagnostic("hint: ", &h);
            }
        }
    }
    if let Some(doc) = json {
        write_stdout(&json_text(&certsmith::json::with_error(doc, e)));
    }
}

/// The `--crl-url` / `--ocsp-url` / `--ca-issuers-url` flags as a change.
pub fn url_change(a: &crate::cli::UrlArgs) -> certsmith::ca_urls::UrlChange {
    certsmith::ca_urls::UrlChange {
        crl: a.crl_url.clone(),
        ocsp: a.ocsp_url.clone(),
        ca_issuers: a.ca_issuers_url.clone(),
        clear: false,
    }
}
