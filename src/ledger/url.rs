//! Where the ledger is: `--ledger URL` / `$CERTSMITH_LEDGER`, parsed here
//! and nowhere else. `sqlite:PATH` (the default, `sqlite:<pki>/ledger.db`)
//! or `postgres://…` / `postgresql://…`. A URL is only ever shown through
//! [`LedgerUrl::redacted`]: no password reaches a message.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A parsed ledger location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerUrl {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL, as given (password included: never
    /// printed, see [`LedgerUrl::redacted`]).
    Postgres(String),
}

impl LedgerUrl {
    /// The default ledger of the PKI directory `root`.
    pub fn default_for(root: &Path) -> LedgerUrl {
        LedgerUrl::Sqlite(root.join("ledger.db"))
    }

    /// Parses `--ledger` / `$CERTSMITH_LEDGER`.
    pub fn parse(text: &str) -> Result<LedgerUrl> {
        if let Some(rest) = text.strip_prefix("sqlite:") {
            // `sqlite:///abs/path` is `sqlite:/abs/path`.
            let path = rest
                .strip_prefix("//")
                .filter(|p| p.starts_with('/'))
                .unwrap_or(rest);
            if path.is_empty() {
                return Err(Error::input("ledger URL 'sqlite:' names no file")
                    .hint("pass sqlite:PATH, e.g. sqlite:/srv/pki/ledger.db"));
            }
            return Ok(LedgerUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(LedgerUrl::Postgres(text.to_string()));
        }
        Err(Error::input(format!(
            "unsupported ledger URL '{}'",
            crate::error::shown(&redact(text))
        ))
        .hint("pass sqlite:PATH or postgres://user@host:port/database"))
    }

    /// The URL as it may be shown: `user:password@` becomes `user@` and a
    /// `password=` parameter is dropped.
    pub fn redacted(&self) -> String {
        match self {
            LedgerUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
            LedgerUrl::Postgres(u) => redact(u),
        }
    }
}

/// Splits a URL into its scheme, its userinfo and the rest (host, path,
/// query). The userinfo ends at the LAST `@` (a password may hold `/`,
/// `@`, `#` or `?` unencoded, and the server still accepts it), so nothing
/// of a password is ever taken for the host.
pub fn split_userinfo(url: &str) -> (Option<&str>, Option<&str>, &str) {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => (scheme, Some(userinfo), host),
        None => (scheme, None, rest),
    }
}

/// [`LedgerUrl::redacted`] of any text shaped like a URL: only the user's
/// name is kept of the userinfo, and no `password=` parameter.
fn redact(url: &str) -> String {
    let (scheme, userinfo, rest) = split_userinfo(url);
    let user = userinfo.map(|u| u.split_once(':').map_or(u, |(u, _)| u));
    let (host, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match user {
        Some(user) => format!("{user}@{host}"),
        None => host.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_string()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_string(),
    };
    match scheme {
        Some(s) => format!("{s}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_postgres_urls_parse_and_anything_else_is_refused() {
        assert_eq!(
            LedgerUrl::parse("sqlite:/srv/pki/ledger.db").unwrap(),
            LedgerUrl::Sqlite("/srv/pki/ledger.db".into())
        );
        assert_eq!(
            LedgerUrl::parse("sqlite:///srv/l.db").unwrap(),
            LedgerUrl::Sqlite("/srv/l.db".into())
        );
        assert_eq!(
            LedgerUrl::parse("sqlite:rel/l.db").unwrap(),
            LedgerUrl::Sqlite("rel/l.db".into())
        );
        for pg in ["postgres://ca@db:5432/pki", "postgresql://ca@db/pki"] {
            assert_eq!(
                LedgerUrl::parse(pg).unwrap(),
                LedgerUrl::Postgres(pg.into())
            );
        }
        let err = LedgerUrl::parse("mysql://u:hunter2@db/pki").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.to_string(), "unsupported ledger URL 'mysql://u@db/pki'");
        assert!(LedgerUrl::parse("sqlite:").is_err());
    }

    #[test]
    fn a_password_never_appears_in_the_shown_url() {
        let u = LedgerUrl::parse(
            "postgres://ca:s3cr%40t@db.internal:5432/pki?sslmode=require&password=x2",
        )
        .unwrap();
        let shown = u.redacted();
        assert_eq!(shown, "postgres://ca@db.internal:5432/pki?sslmode=require");
        assert!(!shown.contains("s3cr") && !shown.contains("x2"));
        let u = LedgerUrl::parse("postgresql://db/pki?password=only").unwrap();
        assert_eq!(u.redacted(), "postgresql://db/pki");
    }

    #[test]
    fn a_password_holding_slash_at_hash_or_question_mark_is_never_shown() {
        for (url, shown) in [
            (
                "postgres://u2:ab/cd#x@db:5432/pki",
                "postgres://u2@db:5432/pki",
            ),
            (
                "postgres://ca:secret@pw@db:5432/pki",
                "postgres://ca@db:5432/pki",
            ),
            (
                "postgres://ca:a@b/c#d?e@db/pki?sslmode=require",
                "postgres://ca@db/pki?sslmode=require",
            ),
            ("postgresql://ca:/#@db", "postgresql://ca@db"),
        ] {
            let u = LedgerUrl::parse(url).unwrap();
            assert_eq!(u.redacted(), shown, "{url}");
        }
        // Refused URLs (unknown scheme, no scheme) are shown redacted too.
        for (url, secret) in [
            ("mysql://postgres:se/cretpw@h/x", "cretpw"),
            ("mysql://postgres:s@e#c/r?et@h/x", "et@h"),
            ("u:hun/ter@2@db/pki", "ter"),
        ] {
            let err = LedgerUrl::parse(url).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let text = format!("{err} {}", err.hint_text().unwrap_or_default());
            assert!(!text.contains(secret), "{url}: {text}");
        }
    }
}
