//! The seam between the ledger's domain operations ([`super::Ledger`]) and
//! a database: a handful of calls every backend implements (SQLite in
//! `sqlite.rs`, PostgreSQL in `postgres.rs`). The domain operations are
//! written once, in one SQL dialect both backends run:
//!
//! - parameters are `?1`, `?2`, … (SQLite's own syntax; a backend that
//!   spells them `$1` rewrites them with [`dollar_params`]);
//! - new rows' ids come from `INSERT … RETURNING id`;
//! - integers are 64-bit (`BIGINT` in PostgreSQL), booleans are stored and
//!   read as integers 0/1, conditions are counted with
//!   `COUNT(CASE WHEN … THEN 1 END)`, never by summing a comparison;
//! - no `INSERT OR …`, `WITHOUT ROWID` or `PRAGMA` in shared SQL: what a
//!   backend does differently (its DDL, how a write transaction locks, how
//!   a unique violation or a full disk is recognised) lives behind [`Db`].

use crate::error::{Error, Result};

/// One SQL parameter or column value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Int(v as i64)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Blob(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds a parameter list: `params![a, b]` is `[Value::from(a), Value::from(b)]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::ledger::db::Value::from($v)),*][..]
    };
}
pub(crate) use params;

/// One result row: its values in column order, readable by index or name.
#[derive(Clone, Debug)]
pub struct Row {
    pub columns: std::sync::Arc<[String]>,
    pub values: Vec<Value>,
}

/// A Rust value a column can be read as.
pub trait FromValue: Sized {
    fn from_value(v: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    fn from_value(v: &Value) -> Option<i64> {
        match v {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl FromValue for bool {
    fn from_value(v: &Value) -> Option<bool> {
        i64::from_value(v).map(|i| i != 0)
    }
}

impl FromValue for String {
    fn from_value(v: &Value) -> Option<String> {
        match v {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl FromValue for Vec<u8> {
    fn from_value(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::Blob(b) => Some(b.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: &Value) -> Option<Option<T>> {
        match v {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl Row {
    /// Column `i` as a `T`; an error naming the column when it is missing
    /// or of another type.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.values.get(i).unwrap_or(&Value::Null);
        T::from_value(v).ok_or_else(|| {
            let name = self.columns.get(i).map(String::as_str).unwrap_or("?");
            Error::Ledger {
                detail: format!("column {i} ({name}) holds an unexpected value {v:?}"),
            }
        })
    }

    /// The column called `name` as a `T`.
    pub fn get_named<T: FromValue>(&self, name: &str) -> Result<T> {
        match self.columns.iter().position(|c| c == name) {
            Some(i) => self.get(i),
            None => Err(Error::Ledger {
                detail: format!("no column {name} in the result"),
            }),
        }
    }
}

/// A failed database call: the error to show, and whether it was a
/// unique-constraint violation (a name or serial another writer took).
#[derive(Debug)]
pub struct DbError {
    pub unique_violation: bool,
    pub error: Error,
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Error {
        e.error
    }
}

impl From<Error> for DbError {
    fn from(error: Error) -> DbError {
        DbError {
            unique_violation: false,
            error,
        }
    }
}

pub type DbResult<T> = std::result::Result<T, DbError>;

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How much a commit waits for the disk (SQLite's `synchronous`; a server
/// database keeps its own setting and answers [`CommitSync::Full`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitSync {
    Off,
    Normal,
    Full,
}

/// A connection to a ledger database. Calls take `&self` (a backend whose
/// client needs `&mut` keeps it in a `RefCell`); one connection is used by
/// one thread at a time.
pub trait Db: Send {
    fn backend(&self) -> Backend;

    /// Runs one statement; the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64>;

    /// Runs several `;`-separated statements without parameters (DDL).
    fn execute_batch(&self, sql: &str) -> DbResult<()>;

    /// Every row of a query.
    fn query(&self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>>;

    /// The first row of a query, if any.
    fn query_opt(&self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Begins a transaction that will write: it holds the write lock from
    /// its start (SQLite `BEGIN IMMEDIATE`; PostgreSQL `BEGIN` plus the
    /// ledger's lock), so what it reads cannot change before it commits.
    fn begin_write(&self) -> DbResult<()>;

    /// Begins a transaction that only reads, seeing one snapshot.
    fn begin_read(&self) -> DbResult<()>;

    fn commit(&self) -> DbResult<()>;

    fn rollback(&self) -> DbResult<()>;

    /// The database's own consistency check: "ok", or what is wrong.
    fn integrity_check(&self) -> DbResult<Vec<String>>;

    /// How much commits wait for the disk now.
    fn commit_sync(&self) -> DbResult<CommitSync>;

    /// Sets how much commits wait for the disk.
    fn set_commit_sync(&self, level: CommitSync) -> DbResult<()>;
}

/// `?1` → `$1`, for a backend whose parameters are spelled with `$`
/// (quoted strings are copied as they are).
#[cfg_attr(not(test), allow(dead_code))] // used by the PostgreSQL backend
pub fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == '?' && !quoted && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_params_rewrites_numbered_parameters_outside_strings() {
        assert_eq!(
            dollar_params("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
    }

    #[test]
    fn row_values_read_as_their_type_or_fail_naming_the_column() {
        let row = Row {
            columns: vec!["n".to_string(), "s".to_string(), "z".to_string()].into(),
            values: vec![Value::Int(3), Value::Text("x".into()), Value::Null],
        };
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert!(row.get::<bool>(0).unwrap());
        assert_eq!(row.get_named::<String>("s").unwrap(), "x");
        assert_eq!(row.get::<Option<i64>>(2).unwrap(), None);
        let err = row.get::<String>(0).unwrap_err();
        assert!(err.to_string().contains("column 0 (n)"), "{err}");
    }
}
