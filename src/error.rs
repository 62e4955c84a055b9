//! One error type for the library: an enum whose variants say what went
//! wrong and carry the values. Its message (`Display`), its hint, its exit
//! code (2: the input, 1: the outcome) and its stable machine name
//! ([`Error::code`]) are written here, once for every variant; the binary
//! prints them in one place. The long tail of rarer errors is
//! [`Error::Input`] and [`Error::Failed`] with a message and hint.

use std::fmt;
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::lock::WAIT_ENV;

/// Whether the user can fix the failure by changing what they passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags, bad files, refused requests: exit code 2.
    Input,
    /// The command ran but the answer is "no" (e.g. a certificate is not valid): exit code 1.
    Failed,
}

/// A certsmith error. `Display` gives the one-line message (lowercase, no
/// trailing period); [`Error::hint_text`] the optional second line. No
/// variant holds a secret, so `Debug` shows none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A file that should hold PEM does not.
    BadPem { what: String, problem: PemProblem },
    /// A CSR whose self-signature does not verify.
    CsrSignature { what: String },
    /// An encrypted key that the passphrase given does not open.
    WrongPassphrase { what: String },
    /// A requested notAfter past the issuing CA's (without `--clamp`).
    ValidityPastIssuer {
        issuer: String,
        requested: OffsetDateTime,
        issuer_not_after: OffsetDateTime,
    },
    /// CA `ca` has `pathlen`, so a CA `levels` levels below it is refused.
    PathLen {
        ca: String,
        pathlen: u32,
        levels: usize,
        case: PathLenCase,
    },
    /// A name given as an issuing CA is a leaf certificate.
    NotACa { name: String },
    /// No CA of that name in the PKI at `pki`; `known` lists those there are.
    NoSuchCa {
        name: String,
        pki: PathBuf,
        known: Vec<String>,
    },
    /// CA `name` (or, with `above`, a CA above the issuer `above`) is
    /// revoked, superseded or expired and issues nothing more.
    CaNotAlive {
        name: String,
        above: Option<String>,
        state: DeadCa,
    },
    /// CA `name` was marked offline (`certsmith key offline`): its key is away.
    CaOffline { name: String },
    /// The user PIN given for PKCS#11 token `token` is not its PIN.
    WrongPin { token: String },
    /// No current certificate of that name in the ledger (issued by
    /// `issuer`, when the request named one).
    NoSuchCert {
        name: String,
        issuer: Option<String>,
    },
    /// A name already in the ledger (`pending`: being issued right now).
    NameTaken { name: String, pending: bool },
    /// A lock another process held for longer than the wait allowed.
    Locked {
        lock: Lock,
        holder: String,
        waited_secs: u64,
    },
    /// A full filesystem or quota, naming the path that could not grow.
    NoSpace { path: PathBuf },
    /// No ledger where the PKI directory should have one.
    NoLedger { path: PathBuf },
    /// No PKI directory at all.
    NoPkiDir { path: PathBuf },
    /// A file operation (`action`, e.g. "cannot write") that failed.
    Io {
        action: String,
        path: PathBuf,
        kind: std::io::ErrorKind,
        os_error: Option<i32>,
        detail: String,
    },
    /// SQLite failed (other than for space).
    Ledger { detail: String },
    /// The long tail of bad input and refusals (exit 2).
    Input {
        message: String,
        hint: Option<String>,
    },
    /// The long tail of failed outcomes (exit 1).
    Failed {
        message: String,
        hint: Option<String>,
    },
    /// A command line the parser refused (unknown flag, missing value…):
    /// `text` is the parser's report, its first line the message (exit 2).
    Usage { text: String },
    /// `error` with the hint its caller knows better.
    Hinted { error: Box<Error>, hint: String },
    /// `error`, its message prefixed with where it happened (`context: …`).
    Context { context: String, error: Box<Error> },
    /// `cause`, and `cleanup`: a second failure while cleaning up after it.
    Also {
        cause: Box<Error>,
        cleanup: Box<Error>,
    },
}

/// What is wrong with a file that should hold PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PemProblem {
    /// The PEM parser's own words.
    Invalid(String),
    /// Not a PEM block of this kind ("private key").
    NotA(&'static str),
    /// No PEM block at all.
    NoBlock,
}

/// Where a pathlen refusal happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathLenCase {
    /// Making an intermediate below the issuer (levels 1: `ca` is the issuer).
    Intermediate,
    /// Importing a CA that would sit below `ca`.
    Import,
}

/// Why a CA issues nothing more.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeadCa {
    Revoked {
        on: OffsetDateTime,
        reason: String,
    },
    /// Superseded; `taken` is the kind and date of the certificate that took
    /// its name, when the ledger has it.
    Superseded {
        serial: String,
        taken: Option<(String, OffsetDateTime)>,
    },
    Expired {
        on: OffsetDateTime,
    },
    /// Retired with `ca retire` on `on`; `default` is the default issuing
    /// CA then, if one is set.
    Retired {
        on: OffsetDateTime,
        default: Option<String>,
    },
}

/// A lock certsmith waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lock {
    /// The shared lock on the PKI directory.
    PkiDir(PathBuf),
    /// Another lock, named, e.g. "the CRL lock of CA 'issuing'".
    Named(String),
}

impl Lock {
    /// The lock as a message names it.
    pub fn describe(&self) -> String {
        match self {
            Lock::PkiDir(dir) => format!("the lock on the PKI directory '{}'", dir.display()),
            Lock::Named(what) => what.clone(),
        }
    }
}

/// The hint of the errors that mean "there is no PKI here".
const INIT_HINT: &str =
    "run `certsmith init` first, or point --pki / $CERTSMITH_PKI at your PKI directory";

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An input or usage error (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        Error::Input {
            message: message.into(),
            hint: None,
        }
    }

    /// A failed outcome (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the `hint: …` line: on a typed variant, it wraps the error in
    /// [`Error::Hinted`], which keeps its variant, code and exit code.
    pub fn hint(self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        match self {
            Error::Input { message, .. } => Error::Input {
                message,
                hint: Some(hint),
            },
            Error::Failed { message, .. } => Error::Failed {
                message,
                hint: Some(hint),
            },
            Error::Hinted { error, .. } => Error::Hinted { error, hint },
            e => Error::Hinted {
                error: Box::new(e),
                hint,
            },
        }
    }

    /// This error with its message prefixed by `context` (`context: …`).
    pub fn context(self, context: impl Into<String>) -> Self {
        Error::Context {
            context: context.into(),
            error: Box::new(self),
        }
    }

    /// `self`, with a second failure that happened while cleaning up after
    /// it: one line (`…; then …`), the cleanup's hint if it has one.
    pub fn also(self, cleanup: Error) -> Self {
        Error::Also {
            cause: Box::new(self),
            cleanup: Box::new(cleanup),
        }
    }

    /// The error below the wrappers ([`Error::Hinted`], [`Error::Context`],
    /// the cause of [`Error::Also`]): the variant that says what went wrong.
    pub fn cause(&self) -> &Error {
        match self {
            Error::Hinted { error, .. } | Error::Context { error, .. } => error.cause(),
            Error::Also { cause, .. } => cause.cause(),
            e => e,
        }
    }

    /// Whether the input (exit 2) or the outcome (exit 1) failed.
    pub fn kind(&self) -> ErrorKind {
        use ErrorKind::{Failed, Input};
        match self.cause() {
            Error::Locked { .. }
            | Error::NoSpace { .. }
            | Error::Ledger { .. }
            | Error::Failed { .. } => Failed,
            // EIO: the device failed, not the request.
            Error::Io { os_error, .. } if *os_error == Some(EIO) => Failed,
            _ => Input,
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind() {
            ErrorKind::Input => 2,
            ErrorKind::Failed => 1,
        }
    }

    /// A stable machine name for the error, for scripts (`--json`).
    pub fn code(&self) -> &'static str {
        match self.cause() {
            Error::BadPem { .. } => "bad_pem",
            Error::CsrSignature { .. } => "csr_signature",
            Error::WrongPassphrase { .. } => "wrong_passphrase",
            Error::ValidityPastIssuer { .. } => "validity_past_issuer",
            Error::PathLen { .. } => "pathlen",
            Error::NotACa { .. } => "not_a_ca",
            Error::NoSuchCa { .. } => "no_such_ca",
            Error::CaNotAlive { .. } => "ca_not_alive",
            Error::CaOffline { .. } => "ca_offline",
            Error::WrongPin { .. } => "wrong_pin",
            Error::NoSuchCert { .. } => "no_such_cert",
            Error::NameTaken { .. } => "name_taken",
            Error::Locked { .. } => "locked",
            Error::NoSpace { .. } => "no_space",
            Error::NoLedger { .. } => "no_ledger",
            Error::NoPkiDir { .. } => "no_pki_dir",
            Error::Io { .. } => "io",
            Error::Ledger { .. } => "ledger",
            Error::Failed { .. } => "failed",
            Error::Usage { .. } => "usage",
            // `cause` never returns a wrapper.
            _ => "input",
        }
    }

    /// The `hint: …` line, if the error has one.
    pub fn hint_text(&self) -> Option<String> {
        let fixed = |s: &str| Some(s.to_string());
        match self {
            Error::Hinted { hint, .. } => Some(hint.clone()),
            Error::Context { error, .. } => error.hint_text(),
            Error::Also { cause, cleanup } => cleanup.hint_text().or_else(|| cause.hint_text()),
            Error::Input { hint, .. } | Error::Failed { hint, .. } => hint.clone(),
            Error::Usage { .. } => fixed("run the command with --help to see its flags"),
            Error::WrongPassphrase { .. } => {
                fixed("check --passphrase-file or $CERTSMITH_PASSPHRASE")
            }
            Error::ValidityPastIssuer { .. } => fixed(
                "ask for a shorter --validity, or pass --clamp to end at the issuer's notAfter",
            ),
            Error::PathLen {
                case: PathLenCase::Intermediate,
                ..
            } => fixed(
                "issue leaf certificates from it instead, or create the intermediate under a CA with a larger --pathlen",
            ),
            Error::NotACa { .. } => fixed("name a CA of this PKI with --ca / --issuer"),
            Error::NoSuchCa { known, .. } if known.is_empty() => {
                fixed("run `certsmith init` first")
            }
            Error::NoSuchCa { known, .. } => Some(format!("known CAs: {}", known.join(", "))),
            Error::CaNotAlive {
                state: DeadCa::Retired {
                    default: Some(d), ..
                },
                ..
            } => Some(format!(
                "issue from the default CA '{}' (leave out --ca), or move a certificate there: `certsmith renew NAME --ca {}`",
                shown(d),
                shown(d)
            )),
            Error::CaNotAlive { .. } => fixed(
                "issue from another CA (--ca NAME), or make a new one with `certsmith intermediate`",
            ),
            Error::NoSuchCert { .. } => fixed("run `certsmith list` to see the names"),
            Error::CaOffline { name } => Some(format!(
                "bring its key back and run `certsmith key online {}`",
                shown(name)
            )),
            Error::WrongPin { .. } => fixed(
                "check --pin-file or $CERTSMITH_PKCS11_PIN; the token locks its PIN after a few wrong tries",
            ),
            Error::NameTaken { pending: true, .. } => fixed(
                "wait for it to finish, or run `certsmith doctor --repair` if it was interrupted",
            ),
            Error::NameTaken { pending: false, .. } => fixed(
                "choose another name, or pass --force to re-issue it (the old files are kept as *.old-<serial>)",
            ),
            Error::Locked {
                lock: Lock::PkiDir(_),
                ..
            } => Some(format!(
                "run the command again once it has finished (`certsmith doctor --repair` holds this lock while it repairs); ${WAIT_ENV} sets how many seconds to wait"
            )),
            Error::Locked {
                lock: Lock::Named(_),
                ..
            } => Some(format!(
                "run the command again once the other one has finished; ${WAIT_ENV} sets how many seconds to wait"
            )),
            Error::NoSpace { .. } => {
                fixed("free some space on that filesystem and run the command again")
            }
            Error::NoLedger { .. } | Error::NoPkiDir { .. } => fixed(INIT_HINT),
            Error::BadPem { .. }
            | Error::CsrSignature { .. }
            | Error::PathLen { .. }
            | Error::Io { .. }
            | Error::Ledger { .. } => None,
        }
    }
}

/// Every name [`Error::code`] gives, for the docs and scripts (`--json`'s
/// `error.kind`): one per variant that says what went wrong.
pub const KINDS: &[&str] = &[
    "bad_pem",
    "csr_signature",
    "wrong_passphrase",
    "validity_past_issuer",
    "pathlen",
    "not_a_ca",
    "no_such_ca",
    "ca_not_alive",
    "ca_offline",
    "wrong_pin",
    "no_such_cert",
    "name_taken",
    "locked",
    "no_space",
    "no_ledger",
    "no_pki_dir",
    "io",
    "ledger",
    "input",
    "failed",
    "usage",
];

/// errno EIO.
const EIO: i32 = 5;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let date = |t: &OffsetDateTime| crate::clock::rfc3339(*t);
        // Names and paths come from the user or from files: quoted with their
        // control characters escaped (and a name cut), whatever prints this.
        let qp = |p: &std::path::Path| escape_controls(&p.display().to_string());
        match self {
            Error::BadPem { what, problem } => match problem {
                PemProblem::Invalid(detail) => {
                    write!(f, "'{}' is not valid PEM: {detail}", escape_controls(what))
                }
                PemProblem::NotA(kind) => {
                    write!(f, "'{}' is not a PEM {kind}", escape_controls(what))
                }
                PemProblem::NoBlock => {
                    write!(f, "'{}' contains no PEM block", escape_controls(what))
                }
            },
            Error::CsrSignature { what } => write!(
                f,
                "CSR '{}' has a bad signature: it was altered or not signed by its key",
                escape_controls(what)
            ),
            Error::WrongPassphrase { what } => {
                write!(f, "wrong passphrase for '{}'", escape_controls(what))
            }
            Error::ValidityPastIssuer {
                issuer,
                requested,
                issuer_not_after,
            } => write!(
                f,
                "requested notAfter {} is past the notAfter of issuer '{issuer}' ({})",
                date(requested),
                date(issuer_not_after)
            ),
            Error::PathLen {
                ca,
                pathlen,
                levels,
                case: PathLenCase::Intermediate,
            } => {
                if *levels <= 1 {
                    write!(
                        f,
                        "issuer '{ca}' has pathlen {pathlen} and cannot have another CA directly below it"
                    )
                } else {
                    write!(
                        f,
                        "CA '{ca}' above the issuer has pathlen {pathlen} and cannot have another CA {levels} levels below it"
                    )
                }
            }
            Error::PathLen {
                ca,
                pathlen,
                levels,
                case: PathLenCase::Import,
            } => write!(
                f,
                "CA '{ca}' has pathlen {pathlen}, so verifiers reject a CA {levels} levels below it; this import would not chain"
            ),
            Error::NotACa { name } => {
                write!(
                    f,
                    "'{}' is not a CA (basicConstraints CA:FALSE)",
                    shown(name)
                )
            }
            Error::CaOffline { name } => write!(f, "CA '{}' is offline", shown(name)),
            Error::WrongPin { token } => {
                write!(f, "wrong user PIN for PKCS#11 token '{}'", shown(token))
            }
            Error::NoSuchCa { name, pki, .. } => {
                write!(f, "no CA named '{}' in '{}'", shown(name), qp(pki))
            }
            Error::CaNotAlive { name, above, state } => {
                match above {
                    None => write!(f, "CA '{name}'")?,
                    Some(issuer) => write!(f, "CA '{name}' above '{issuer}'")?,
                }
                match state {
                    DeadCa::Revoked { on, reason } => {
                        write!(f, " was revoked on {} ({reason})", date(on))?
                    }
                    DeadCa::Superseded {
                        taken: Some((kind, on)),
                        ..
                    } => write!(
                        f,
                        " is superseded: its name was taken by a {kind} certificate on {}",
                        date(on)
                    )?,
                    DeadCa::Superseded {
                        serial,
                        taken: None,
                    } => write!(f, " is superseded (serial {serial})")?,
                    DeadCa::Expired { on } => write!(f, " expired on {}", date(on))?,
                    DeadCa::Retired { on, .. } => write!(f, " is retired (since {})", date(on))?,
                }
                f.write_str("; it issues nothing more")
            }
            Error::NoSuchCert { name, issuer } => {
                write!(f, "no certificate named '{}'", shown(name))?;
                if let Some(c) = issuer {
                    write!(f, " issued by '{}'", shown(c))?;
                }
                f.write_str(" in the ledger")
            }
            Error::NameTaken {
                name,
                pending: true,
            } => write!(
                f,
                "name '{}' is being issued by another certsmith process",
                shown(name)
            ),
            Error::NameTaken {
                name,
                pending: false,
            } => write!(f, "name '{}' is already taken in the ledger", shown(name)),
            Error::Locked {
                lock,
                holder,
                waited_secs,
            } => {
                match lock {
                    Lock::PkiDir(dir) => write!(
                        f,
                        "the PKI directory '{}' is locked by {holder}",
                        dir.display()
                    )?,
                    Lock::Named(what) => write!(f, "{what} is held by {holder}")?,
                }
                write!(f, "; gave up after {waited_secs} s")
            }
            Error::NoSpace { path } => write!(
                f,
                "no space left on device ({})",
                shown(&path.display().to_string())
            ),
            Error::NoLedger { path } => write!(f, "no ledger at '{}'", qp(path)),
            Error::NoPkiDir { path } => write!(f, "no PKI directory at '{}'", qp(path)),
            Error::Io {
                action,
                path,
                kind,
                detail,
                ..
            } => {
                use std::io::ErrorKind as K;
                let reason = match kind {
                    K::NotFound => "no such file or directory",
                    K::PermissionDenied => "permission denied",
                    K::AlreadyExists => "it already exists",
                    _ => detail,
                };
                write!(f, "{action} '{}': {reason}", qp(path))
            }
            Error::Ledger { detail } => write!(f, "ledger error: {detail}"),
            Error::Input { message, .. } | Error::Failed { message, .. } => f.write_str(message),
            Error::Usage { text } => f.write_str(text.lines().next().unwrap_or_default()),
            Error::Hinted { error, .. } => error.fmt(f),
            Error::Context { context, error } => write!(f, "{context}: {error}"),
            Error::Also { cause, cleanup } => write!(f, "{cause}; then {cleanup}"),
        }
    }
}

impl std::error::Error for Error {}

/// The error for text that the PEM parser refused: `what` names the file,
/// `e` is the parser's error.
pub fn bad_pem(what: &str, e: &dyn fmt::Display) -> Error {
    Error::BadPem {
        what: what.to_string(),
        problem: PemProblem::Invalid(e.to_string()),
    }
}

/// A value from the user or an input file as it may appear quoted in a
/// message: control characters (NUL, terminal escapes, newlines) escaped so
/// the error stays one harmless line, and cut after 80 characters.
pub fn shown(s: &str) -> String {
    const MAX: usize = 80;
    let cut: String = s.chars().take(MAX).collect();
    let mut out = escape_controls(&cut);
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Escapes what a terminal would act on, so a message or a line built from
/// input stays one harmless line shown as it is stored: control characters
/// (C0 with newlines, DEL, C1 such as the 8-bit CSI U+009B) as `\u{1b}`,
/// `\n`, …, and the invisible characters that reorder or break the text
/// shown (bidi marks, embeddings, overrides and isolates, line and
/// paragraph separators) as `\u{202e}`.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else if reorders_text(c) {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Writes one diagnostic line to stderr: certsmith's own `prefix`
/// (`certsmith: `, `hint: `, `note: `, or none), then `text` with
/// everything [`escape_controls`] escapes escaped, line feeds included, so
/// a value inside it can neither reach the terminal raw nor start a forged
/// line. Every line certsmith writes to stderr goes through here.
pub fn diagnostic(prefix: &str, text: &str) {
    use std::io::Write;
    // Not `eprintln!`: it panics when stderr is a closed pipe.
    let _ = writeln!(std::io::stderr(), "{prefix}{}", escape_controls(text));
}

/// Bidi marks, embeddings, overrides and isolates, and the line and
/// paragraph separators: not control characters, yet they change how a
/// terminal lays out the rest of the line (Trojan Source, CVE-2021-42574).
pub fn reorders_text(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
    )
}

/// Builds an input error from a formatted message: `bail!("bad {x}")`.
#[macro_export]
macro_rules! input_err {
    ($($arg:tt)*) => { $crate::error::Error::input(format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn samples() -> Vec<Error> {
        let on = datetime!(2026-04-01 0:00 UTC);
        vec![
            bad_pem("a.pem", &"bad base64"),
            Error::CsrSignature {
                what: "a.csr".into(),
            },
            Error::WrongPassphrase {
                what: "ca.key.pem".into(),
            },
            Error::ValidityPastIssuer {
                issuer: "issuing".into(),
                requested: on,
                issuer_not_after: on,
            },
            Error::PathLen {
                ca: "issuing".into(),
                pathlen: 0,
                levels: 1,
                case: PathLenCase::Intermediate,
            },
            Error::NotACa { name: "dev".into() },
            Error::NoSuchCa {
                name: "x".into(),
                pki: "pki".into(),
                known: vec![],
            },
            Error::CaNotAlive {
                name: "issuing".into(),
                above: None,
                state: DeadCa::Expired { on },
            },
            Error::CaOffline {
                name: "root".into(),
            },
            Error::WrongPin {
                token: "acme-ca".into(),
            },
            Error::NameTaken {
                name: "dev".into(),
                pending: false,
            },
            Error::NoSuchCert {
                name: "dev".into(),
                issuer: Some("issuing".into()),
            },
            Error::Locked {
                lock: Lock::PkiDir("pki".into()),
                holder: "pid 7 (certsmith)".into(),
                waited_secs: 30,
            },
            Error::NoSpace { path: "pki".into() },
            Error::NoLedger {
                path: "pki/ledger.db".into(),
            },
            Error::NoPkiDir { path: "pki".into() },
            Error::Io {
                action: "cannot read".into(),
                path: "a".into(),
                kind: std::io::ErrorKind::PermissionDenied,
                os_error: Some(13),
                detail: "permission denied (os error 13)".into(),
            },
            Error::Ledger {
                detail: "database is locked".into(),
            },
            Error::input("bad"),
            Error::failed("no"),
            Error::Usage {
                text: "unexpected argument '--x' found\n\nUsage: certsmith list".into(),
            },
        ]
    }

    #[test]
    fn every_variant_says_what_went_wrong_naming_its_values() {
        let said: Vec<String> = samples()
            .iter()
            .map(|e| match e.hint_text() {
                Some(h) => format!("{e} | hint: {h}"),
                None => e.to_string(),
            })
            .collect();
        let expected = [
            "'a.pem' is not valid PEM: bad base64",
            "CSR 'a.csr' has a bad signature: it was altered or not signed by its key",
            "wrong passphrase for 'ca.key.pem' | hint: check --passphrase-file or $CERTSMITH_PASSPHRASE",
            "requested notAfter 2026-04-01T00:00:00Z is past the notAfter of issuer 'issuing' (2026-04-01T00:00:00Z) | hint: ask for a shorter --validity, or pass --clamp to end at the issuer's notAfter",
            "issuer 'issuing' has pathlen 0 and cannot have another CA directly below it | hint: issue leaf certificates from it instead, or create the intermediate under a CA with a larger --pathlen",
            "'dev' is not a CA (basicConstraints CA:FALSE) | hint: name a CA of this PKI with --ca / --issuer",
            "no CA named 'x' in 'pki' | hint: run `certsmith init` first",
            "CA 'issuing' expired on 2026-04-01T00:00:00Z; it issues nothing more | hint: issue from another CA (--ca NAME), or make a new one with `certsmith intermediate`",
            "CA 'root' is offline | hint: bring its key back and run `certsmith key online root`",
            "wrong user PIN for PKCS#11 token 'acme-ca' | hint: check --pin-file or $CERTSMITH_PKCS11_PIN; the token locks its PIN after a few wrong tries",
            "name 'dev' is already taken in the ledger | hint: choose another name, or pass --force to re-issue it (the old files are kept as *.old-<serial>)",
            "no certificate named 'dev' issued by 'issuing' in the ledger | hint: run `certsmith list` to see the names",
            "the PKI directory 'pki' is locked by pid 7 (certsmith); gave up after 30 s | hint: run the command again once it has finished (`certsmith doctor --repair` holds this lock while it repairs); $CERTSMITH_LOCK_WAIT sets how many seconds to wait",
            "no space left on device (pki) | hint: free some space on that filesystem and run the command again",
            "no ledger at 'pki/ledger.db' | hint: run `certsmith init` first, or point --pki / $CERTSMITH_PKI at your PKI directory",
            "no PKI directory at 'pki' | hint: run `certsmith init` first, or point --pki / $CERTSMITH_PKI at your PKI directory",
            "cannot read 'a': permission denied",
            "ledger error: database is locked",
            "bad",
            "no",
            "unexpected argument '--x' found | hint: run the command with --help to see its flags",
        ];
        assert_eq!(said, expected);
    }

    #[test]
    fn a_name_or_path_from_the_user_is_said_on_one_line() {
        let e = Error::NoSuchCert {
            name: "dev\n\u{1b}[2Jx".into(),
            issuer: None,
        };
        assert_eq!(
            e.to_string(),
            "no certificate named 'dev\\n\\u{1b}[2Jx' in the ledger"
        );
        let e = Error::NoLedger {
            path: "pki\nrm/ledger.db".into(),
        };
        assert!(!e.to_string().contains('\n'), "{e}");
    }

    #[test]
    fn retired_ca_says_since_when_and_names_the_default_in_its_hint() {
        let e = Error::CaNotAlive {
            name: "issuing".into(),
            above: None,
            state: DeadCa::Retired {
                on: datetime!(2026-04-01 0:00 UTC),
                default: Some("next".into()),
            },
        };
        assert_eq!(
            e.to_string(),
            "CA 'issuing' is retired (since 2026-04-01T00:00:00Z); it issues nothing more"
        );
        assert_eq!(
            e.hint_text().as_deref(),
            Some(
                "issue from the default CA 'next' (leave out --ca), or move a certificate there: `certsmith renew NAME --ca next`"
            )
        );
        assert_eq!((e.code(), e.exit_code()), ("ca_not_alive", 2));
    }

    #[test]
    fn every_variant_has_its_own_code_and_the_exit_code_of_its_class() {
        let all = samples();
        let mut codes: Vec<&str> = all.iter().map(Error::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "two variants share a code");
        let mut kinds = KINDS.to_vec();
        kinds.sort_unstable();
        assert_eq!(codes, kinds, "KINDS lists every code once");
        for e in &all {
            let failed = matches!(
                e,
                Error::Locked { .. }
                    | Error::NoSpace { .. }
                    | Error::Ledger { .. }
                    | Error::Failed { .. }
            );
            assert_eq!(e.exit_code(), if failed { 1 } else { 2 }, "{e:?}");
            let line = e.to_string();
            assert!(
                !line.is_empty() && !line.contains('\n') && !line.ends_with('.'),
                "not one line without a trailing period: {line}"
            );
        }
    }

    #[test]
    fn a_hint_on_a_typed_error_keeps_its_variant_message_and_exit_code() {
        let e = Error::NoSpace { path: "pki".into() }.hint("run `certsmith doctor --repair`");
        assert_eq!(e.cause(), &Error::NoSpace { path: "pki".into() });
        assert_eq!((e.code(), e.exit_code()), ("no_space", 1));
        assert_eq!(e.to_string(), "no space left on device (pki)");
        assert_eq!(
            e.hint_text().as_deref(),
            Some("run `certsmith doctor --repair`")
        );
    }

    #[test]
    fn a_cleanup_failure_is_added_to_the_cause_which_keeps_its_code() {
        let e = Error::WrongPassphrase { what: "k".into() }
            .also(Error::failed("cannot remove 'x'").hint("run `certsmith doctor --repair`"));
        assert_eq!((e.code(), e.exit_code()), ("wrong_passphrase", 2));
        assert_eq!(
            e.to_string(),
            "wrong passphrase for 'k'; then cannot remove 'x'"
        );
        assert_eq!(
            e.hint_text().as_deref(),
            Some("run `certsmith doctor --repair`")
        );
        let e = Error::WrongPassphrase { what: "k".into() }.also(Error::failed("x"));
        assert_eq!(
            e.hint_text().as_deref(),
            Some("check --passphrase-file or $CERTSMITH_PASSPHRASE"),
            "without a hint of its own the cleanup keeps the cause's"
        );
    }

    #[test]
    fn context_prefixes_the_message_and_keeps_code_and_hint() {
        let e = Error::NotACa { name: "dev".into() }.context("line 3");
        assert_eq!(
            e.to_string(),
            "line 3: 'dev' is not a CA (basicConstraints CA:FALSE)"
        );
        assert_eq!((e.code(), e.exit_code()), ("not_a_ca", 2));
        assert_eq!(
            e.hint_text().as_deref(),
            Some("name a CA of this PKI with --ca / --issuer")
        );
    }

    #[test]
    fn eio_is_a_failed_outcome_other_io_errors_are_input() {
        let io = |os_error| Error::Io {
            action: "cannot read".into(),
            path: "a".into(),
            kind: std::io::ErrorKind::Other,
            os_error: Some(os_error),
            detail: "x".into(),
        };
        assert_eq!(io(EIO).exit_code(), 1);
        assert_eq!(io(13).exit_code(), 2);
        assert_eq!(EIO, rustix::io::Errno::IO.raw_os_error());
    }
}
