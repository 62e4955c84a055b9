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

/// Escapes control characters (NUL, DEL, terminal escapes, newlines) so a
/// message built from input stays one harmless line.
pub fn escape_controls(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Builds an input error from a formatted message: `bail!("bad {x}")`.
#[macro_export]
macro_rules! input_err {
    ($($arg:tt)*) => { $crate::error::Error::input(format!($($arg)*)) };
}
