//! Passphrases for CA keys: from a file, the environment, or a terminal
//! prompt, never from argv; zeroized on drop and never printed.

use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Environment variable read for the CA passphrase.
pub const PASSPHRASE_ENV: &str = "CERTSMITH_PASSPHRASE";

/// Fewest characters of a new CA key passphrase typed at a prompt (the
/// wizard included); a shorter one is refused with this reason and asked again.
pub const MIN_CA_PASSPHRASE_CHARS: usize = 8;

/// A secret passphrase. `Debug` never shows it.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase, refusing an empty one.
    pub fn new(s: String) -> Result<Self> {
        let s = Zeroizing::new(s);
        if s.is_empty() {
            return Err(Error::input("the passphrase is empty"));
        }
        Ok(Passphrase(s))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[passphrase elided]")
    }
}

/// Where a command may take a passphrase from, in order.
#[derive(Clone, Debug, Default)]
pub struct PassOptions {
    /// `--passphrase-file FILE`: the whole file, less one trailing newline
    /// (LF or CRLF); see [`read_file`].
    pub file: Option<PathBuf>,
    /// `--no-passphrase`: store a new CA key unencrypted.
    pub no_passphrase: bool,
    /// A passphrase already obtained (e.g. asked once by `bootstrap`).
    pub given: Option<Passphrase>,
    /// `--pin-file FILE`: the user PIN of a PKCS#11 token holding the CA key.
    pub pin_file: Option<PathBuf>,
}

impl PassOptions {
    /// Where the PIN of a PKCS#11 token comes from.
    pub fn pin_options(&self) -> crate::keystore::PinOptions {
        crate::keystore::PinOptions {
            file: self.pin_file.clone(),
        }
    }
}

static NO_PROMPTS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--yes`: never prompt in this process, even on a terminal.
pub fn forbid_prompts() {
    NO_PROMPTS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether certsmith may prompt: only with a terminal on stdin, and not with `--yes`.
pub fn can_prompt() -> bool {
    !NO_PROMPTS.load(std::sync::atomic::Ordering::Relaxed) && std::io::stdin().is_terminal()
}

fn from_file(path: &std::path::Path) -> Result<Passphrase> {
    let bytes = Zeroizing::new(crate::input::read(path, crate::input::Kind::Passphrase)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::input(format!(
            "passphrase file '{}' is not UTF-8 text",
            path.display()
        ))
    })?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    Passphrase::new(text.to_string())
        .map_err(|_| Error::input(format!("passphrase file '{}' is empty", path.display())))
}

fn from_env() -> Option<Result<Passphrase>> {
    let v = Zeroizing::new(std::env::var(PASSPHRASE_ENV).ok()?);
    Some(
        Passphrase::new(v.to_string())
            .map_err(|_| Error::input(format!("${PASSPHRASE_ENV} is empty"))),
    )
}

/// The passphrase for a new key, or `None` with `--no-passphrase`.
/// `what` names the key in the prompt and errors (e.g. "CA 'root'").
pub fn for_new_key(opts: &PassOptions, what: &str) -> Result<Option<Passphrase>> {
    if opts.no_passphrase {
        if opts.file.is_some() {
            return Err(Error::input(
                "--no-passphrase and --passphrase-file contradict each other",
            ));
        }
        return Ok(None);
    }
    if let Some(p) = &opts.given {
        return Ok(Some(p.clone()));
    }
    if let Some(f) = &opts.file {
        return from_file(f).map(Some);
    }
    if let Some(p) = from_env() {
        return p.map(Some);
    }
    if !can_prompt() {
        return Err(Error::input(format!(
            "the key of {what} needs a passphrase and there is no terminal to ask for one"
        ))
        .hint(format!(
            "pass --passphrase-file FILE, set ${PASSPHRASE_ENV}, or pass --no-passphrase to store the key unencrypted"
        )));
    }
    prompt_new_ca(&format!("Passphrase for the key of {what}")).map(Some)
}

/// Reads a passphrase file: the whole file is the passphrase, less one
/// trailing newline (LF or CRLF). This one rule holds for every passphrase
/// file certsmith reads (CA keys, new passphrases, imports, PKCS#12).
pub fn read_file(path: &std::path::Path) -> Result<Passphrase> {
    from_file(path)
}

/// Asks on the terminal for a new secret, twice; an empty one is refused
/// with the reason and asked again. The caller checks [`can_prompt`] first
/// and names its flag when there is no terminal.
pub fn prompt_new(prompt: &str) -> Result<Passphrase> {
    prompt_new_min(prompt, 1)
}

/// As [`prompt_new`], for the passphrase of a new CA key: at least
/// [`MIN_CA_PASSPHRASE_CHARS`] characters.
pub fn prompt_new_ca(prompt: &str) -> Result<Passphrase> {
    prompt_new_min(prompt, MIN_CA_PASSPHRASE_CHARS)
}

/// Why a typed new secret is refused, if it is: empty, or under `min` characters.
pub fn too_short(secret: &str, min: usize) -> Option<String> {
    let n = secret.chars().count();
    if n == 0 {
        Some(format!(
            "the passphrase is empty; type at least {min} character(s)"
        ))
    } else if n < min {
        Some(format!(
            "the passphrase is too short ({n} characters); a CA key needs at least {min}"
        ))
    } else {
        None
    }
}

fn prompt_new_min(prompt: &str, min: usize) -> Result<Passphrase> {
    let p = dialoguer::Password::new()
        .with_prompt(prompt)
        .allow_empty_password(true)
        .validate_with(move |s: &String| too_short(s, min).map_or(Ok(()), Err))
        .with_confirmation("Repeat it", "the two entries do not match")
        .interact()
        .map_err(|e| Error::input(format!("cannot read the passphrase: {e}")))?;
    Passphrase::new(p)
}

/// Whether `opts` name a passphrase source other than the terminal
/// (given, `--passphrase-file`, `$CERTSMITH_PASSPHRASE`).
pub fn has_source(opts: &PassOptions) -> bool {
    opts.given.is_some() || opts.file.is_some() || std::env::var_os(PASSPHRASE_ENV).is_some()
}

/// Passphrase files of a command that opens several CA keys: each value of
/// a repeated `--passphrase-file` is `CA=FILE` (that CA's) or `FILE` (every
/// other CA's, at most one). A value that is an existing file is a `FILE`
/// even with a `=` in its name.
#[derive(Clone, Debug, Default)]
pub struct PerCaFiles {
    pub default: Option<PathBuf>,
    pub per_ca: Vec<(String, PathBuf)>,
}

impl PerCaFiles {
    /// Parses the values of a repeated `--passphrase-file`.
    pub fn parse(values: &[String]) -> Result<PerCaFiles> {
        let mut out = PerCaFiles::default();
        for v in values {
            let split = v
                .split_once('=')
                .filter(|(ca, f)| !ca.is_empty() && !f.is_empty())
                .filter(|_| !std::path::Path::new(v).exists());
            match split {
                Some((ca, f)) => {
                    if out.per_ca.iter().any(|(c, _)| c == ca) {
                        return Err(Error::input(format!(
                            "--passphrase-file names CA '{}' twice",
                            crate::error::shown(ca)
                        )));
                    }
                    out.per_ca.push((ca.to_string(), PathBuf::from(f)));
                }
                None if out.default.is_some() => {
                    return Err(Error::input(format!(
                        "--passphrase-file '{}' is the second file for every CA",
                        crate::error::shown(v)
                    ))
                    .hint("give one FILE for every CA, and CA=FILE for each CA whose passphrase differs"));
                }
                None => out.default = Some(PathBuf::from(v)),
            }
        }
        Ok(out)
    }

    /// `base` with the passphrase file of CA `ca`: its own, else the one
    /// for every CA.
    pub fn for_ca(&self, base: &PassOptions, ca: &str) -> PassOptions {
        let mut o = base.clone();
        if let Some((_, f)) = self.per_ca.iter().find(|(c, _)| c == ca) {
            o.file = Some(f.clone());
        } else if self.default.is_some() {
            o.file = self.default.clone();
        }
        o
    }
}

/// The passphrase of an existing encrypted key.
pub fn for_existing_key(opts: &PassOptions, what: &str) -> Result<Passphrase> {
    if let Some(p) = &opts.given {
        return Ok(p.clone());
    }
    if let Some(f) = &opts.file {
        return from_file(f);
    }
    if let Some(p) = from_env() {
        return p;
    }
    if !can_prompt() {
        return Err(Error::input(format!(
            "the key of {what} is encrypted and there is no terminal to ask for its passphrase"
        ))
        .hint(format!(
            "pass --passphrase-file FILE or set ${PASSPHRASE_ENV}"
        )));
    }
    let p = dialoguer::Password::new()
        .with_prompt(format!("Passphrase for the key of {what}"))
        .interact()
        .map_err(|e| Error::input(format!("cannot read the passphrase: {e}")))?;
    Passphrase::new(p)
}
