//! One error type for the library: a message a user can act on, an optional
//! hint, and whether the fault was the input (exit 2) or the outcome (exit 1).

use std::fmt;

/// Whether the user can fix the failure by changing what they passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad flags, bad files, refused requests: exit code 2.
    Input,
    /// The command ran but the answer is "no" (e.g. a certificate is not valid): exit code 1.
    Failed,
}

/// A certsmith error. `Display` gives the one-line message (lowercase, no
/// trailing period); `hint` is the optional second line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An input or usage error (exit 2).
    pub fn input(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Input,
            message: message.into(),
            hint: None,
        }
    }

    /// A failed outcome (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::Failed,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds the `hint: …` line.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.kind {
            ErrorKind::Input => 2,
            ErrorKind::Failed => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

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
