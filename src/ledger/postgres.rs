//! The PostgreSQL [`Db`]: a team's ledger, shared by several hosts and
//! operators (`--ledger postgres://user@host:port/db`). Every write
//! transaction takes one advisory lock of the database first, so writers on
//! any host are serialised as SQLite's `BEGIN IMMEDIATE` serialises them on
//! one machine: CRL numbers strictly increase and a name is reserved once.
//! The unique indexes keep names and (issuer, serial) unique whatever
//! happens; a lost connection rolls the open transaction back on the server.
//! The password comes from the URL, `$PGPASSWORD`, or a password file
//! (`passfile=` in the URL, `$PGPASSFILE`, `~/.pgpass`), and is never shown.
//! TLS (rustls) where the URL asks for it (`sslmode=require`, `verify-ca`,
//! `verify-full`): the server's certificate and name are always checked
//! against `sslrootcert` (default `~/.postgresql/root.crt`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use super::db::{Backend, CommitSync, Db, DbError, DbResult, Row, Value};
use super::{Ledger, schema};
use crate::error::{Error, Result, shown};

/// The key of the advisory lock every write transaction holds ("certsmit").
const WRITE_LOCK: i64 = 0x6365_7274_736d_6974;

/// How long a connection attempt waits when the URL says nothing.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a ledger lives, for messages: never the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub dbname: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "database '{}' on PostgreSQL at {}:{}",
            shown(&self.dbname),
            shown(&self.host),
            self.port
        )
    }
}

impl Target {
    /// `postgres://user@host:port/db`: the URL as it may be printed.
    pub fn redacted_url(&self) -> String {
        format!(
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.dbname
        )
    }
}

/// Opens the ledger in the database `url` names; `write`: a command that
/// may write (an older ledger is upgraded), else one that only reads.
pub(super) fn open(url: &str, write: bool) -> Result<Ledger> {
    let db = PostgresDb::connect(url)?;
    let version = db.schema_version()?;
    let what = db.target.redacted_url();
    let Some(version) = version else {
        return Err(db.not_a_ledger()?);
    };
    let l = Ledger::from_db(Box::new(db), None);
    if schema::check_version(&what, version)? {
        match write {
            true => {
                schema::upgrade(l.db.as_ref(), &what, None)?;
            }
            false => schema::read_as_current(l.db.as_ref(), version)?,
        }
    }
    Ok(l)
}

/// Creates a ledger in the empty database `url` names, or opens the one
/// there (a concurrent `init` may have made it a moment ago); a database
/// holding anything else is refused, unchanged.
pub(super) fn create(url: &str) -> Result<Ledger> {
    let db = PostgresDb::connect(url)?;
    if db.schema_version()?.is_none() {
        // Under the write lock: of two `init`s at once, one creates the
        // tables and the other finds them made.
        db.begin_write()?;
        let made = db.create_if_empty();
        match made {
            Ok(()) => db.commit()?,
            Err(e) => {
                let _ = db.rollback();
                return Err(e);
            }
        }
    }
    drop(db);
    open(url, true)
}

/// A prepared statement and its column names.
struct Prepared {
    statement: Statement,
    columns: Arc<[String]>,
}

/// A connection to a PostgreSQL ledger.
pub struct PostgresDb {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Arc<Prepared>>>,
    target: Target,
    sync: std::cell::Cell<CommitSync>,
}

/// A ledger URL taken apart: what `tokio-postgres` parses, and the libpq
/// options it does not know (`passfile`, which names a password file;
/// `sslrootcert`, the CA certificates the server's must chain to).
struct Parsed {
    config: Config,
    passfile: Option<PathBuf>,
    /// `Some`: TLS required (`sslmode=require`, `verify-ca`, `verify-full`),
    /// the server's certificate checked against these roots.
    tls_roots: Option<PathBuf>,
}

/// Splits the options certsmith handles itself off the URL's query.
fn parse(url: &str) -> Result<Parsed> {
    let bad = |why: String| {
        Error::input(format!("ledger URL is not a PostgreSQL URL: {why}"))
            .hint("write it as postgres://USER@HOST:PORT/DATABASE")
    };
    let encoded = encode_password(url);
    let url = encoded.as_str();
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut passfile = None;
    let mut rootcert = None;
    let mut tls = false;
    let mut kept = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("passfile", v)) => passfile = Some(PathBuf::from(percent_decode(v))),
            Some(("sslrootcert", v)) => rootcert = Some(PathBuf::from(percent_decode(v))),
            Some(("sslmode", "disable" | "allow" | "prefer")) => {
                kept.push("sslmode=disable".to_string())
            }
            Some(("sslmode", "require" | "verify-ca" | "verify-full")) => {
                tls = true;
                kept.push("sslmode=require".to_string());
            }
            Some(("sslmode", v)) => {
                return Err(bad(format!("unknown sslmode '{}'", shown(v))));
            }
            _ => kept.push(pair.to_string()),
        }
    }
    let rebuilt = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    let config: Config = rebuilt
        .parse()
        .map_err(|e: postgres::Error| bad(e.to_string()))?;
    // libpq's default root file for the verifying modes.
    let tls_roots = tls.then(|| {
        rootcert.unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".postgresql/root.crt")
        })
    });
    Ok(Parsed {
        config,
        passfile,
        tls_roots,
    })
}

/// A TLS client that trusts only the CA certificates in `roots` (PEM) and
/// checks the server's name (host name or IP address of the URL).
fn tls_client(roots: &std::path::Path) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let shown_path = shown(&roots.display().to_string());
    let text = std::fs::read(roots).map_err(|e| {
        Error::input(format!(
            "cannot read the PostgreSQL server's CA certificates '{shown_path}': {e}"
        ))
        .hint("name them with sslrootcert=FILE in the ledger URL (default ~/.postgresql/root.crt)")
    })?;
    let mut store = rustls::RootCertStore::empty();
    for block in ::pem::parse_many(&text).unwrap_or_default() {
        if block.tag() == "CERTIFICATE" {
            store
                .add(rustls::pki_types::CertificateDer::from(
                    block.into_contents(),
                ))
                .map_err(|e| {
                    Error::input(format!(
                        "'{shown_path}' holds a certificate rustls refuses: {e}"
                    ))
                })?;
        }
    }
    if store.is_empty() {
        return Err(Error::input(format!(
            "'{shown_path}' holds no PEM certificate for checking the PostgreSQL server"
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::failed(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// `url` with the password of its userinfo (which ends at the last `@`,
/// see [`super::url::split_userinfo`]) percent-encoded where it holds a
/// character that would end it early (`/ ? # @ :`), so the URL parser
/// never takes part of a password for the host, path or query.
fn encode_password(url: &str) -> String {
    let (Some(scheme), Some(userinfo), rest) = super::url::split_userinfo(url) else {
        return url.to_string();
    };
    let Some((user, password)) = userinfo.split_once(':') else {
        return url.to_string();
    };
    let mut enc = String::with_capacity(password.len());
    for c in password.chars() {
        match c {
            '/' | '?' | '#' | '@' | ':' => enc.push_str(&format!("%{:02X}", c as u32)),
            c => enc.push(c),
        }
    }
    format!("{scheme}://{user}:{enc}@{rest}")
}

/// `%XX` escapes of a URL component.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(h, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The target a parsed URL names (first host and port; the user's name
/// as the database when none is given, as libpq does).
fn target_of(config: &Config) -> Result<Target> {
    let user = config
        .get_user()
        .map(str::to_string)
        .or_else(|| std::env::var("PGUSER").ok())
        .ok_or_else(|| {
            Error::input("ledger URL names no PostgreSQL user")
                .hint("write it as postgres://USER@HOST:PORT/DATABASE")
        })?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let dbname = config.get_dbname().unwrap_or(&user).to_string();
    Ok(Target {
        user,
        host,
        port,
        dbname,
    })
}

/// The password of a `.pgpass`-format file for `t`: the first line whose
/// `host:port:database:user` fields match (`*` matches anything, `\`
/// escapes `:` and `\`). A file others can read is ignored, as libpq does.
fn password_from_file(path: &std::path::Path, t: &Target) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        crate::error::diagnostic(
            "certsmith: warning: ",
            &format!(
                "password file '{}' is readable by others and is ignored; chmod 600 it",
                shown(&path.display().to_string())
            ),
        );
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let port = t.port.to_string();
    let want = [
        t.host.as_str(),
        port.as_str(),
        t.dbname.as_str(),
        t.user.as_str(),
    ];
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w || (f == "localhost" && w == "127.0.0.1"));
            matches.then(|| fields[4].clone())
        })
}

/// A `.pgpass` line's fields (`\:` and `\\` unescaped).
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                // `\` escapes the next character (`\:`, `\\`).
                let c = match c {
                    '\\' => match chars.next() {
                        Some(n) => n,
                        None => break,
                    },
                    c => c,
                };
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

/// The password for `t` when the URL holds none: `$PGPASSWORD`, then the
/// password file (`passfile=`, `$PGPASSFILE`, `~/.pgpass`).
fn find_password(t: &Target, passfile: Option<PathBuf>) -> Option<String> {
    if let Ok(p) = std::env::var("PGPASSWORD") {
        return Some(p);
    }
    let file = passfile
        .or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    password_from_file(&file, t)
}

/// Turns a failure to connect into a one-line error naming the target.
fn connect_err(e: postgres::Error, t: &Target) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Error::input(format!(
                "{t} refused the login of user '{}': {}",
                shown(&t.user),
                db.message()
            ))
            .hint("check $PGPASSWORD or the password file (~/.pgpass or passfile= in the URL)");
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return Error::input(format!("{t} does not exist")).hint(format!(
                "create it first: createdb -O {} {}",
                shown(&t.user),
                shown(&t.dbname)
            ));
        }
        return Error::failed(format!("{t} refused the connection: {}", db.message()));
    }
    if io_cause(&e) == "password missing" {
        return Error::input(format!(
            "{t} asks for a password for user '{}' and none was given",
            shown(&t.user)
        ))
        .hint("set $PGPASSWORD or add a line to ~/.pgpass (or passfile= in the URL)");
    }
    let cause = io_cause(&e);
    let hint = match cause.contains("TLS") || cause.contains("certificate") {
        true => "check the server's TLS set-up and the CA certificates named by sslrootcert=FILE",
        false => "check that the server runs and that the ledger URL's host and port are right",
    };
    Error::failed(format!("cannot reach {t}: {cause}")).hint(hint)
}

/// The innermost cause of a client error (e.g. "Connection refused (os error 111)").
fn io_cause(e: &postgres::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl PostgresDb {
    /// Connects to the ledger database `url` names.
    pub fn connect(url: &str) -> Result<PostgresDb> {
        let Parsed {
            mut config,
            passfile,
            tls_roots,
        } = parse(url)?;
        let target = target_of(&config)?;
        if config.get_user().is_none() {
            config.user(&target.user);
        }
        if config.get_password().is_none()
            && let Some(p) = find_password(&target, passfile)
        {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("certsmith");
        }
        let client = match tls_roots {
            Some(roots) => config.connect(tls_client(&roots)?),
            None => config.connect(NoTls),
        }
        .map_err(|e| connect_err(e, &target))?;
        Ok(PostgresDb {
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
            target,
            sync: std::cell::Cell::new(CommitSync::Full),
        })
    }

    /// Where this ledger lives (never the password).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The ledger's schema version, or `None` when the database holds no
    /// ledger (no `schema_version` table, or no row in it).
    fn schema_version(&self) -> Result<Option<i64>> {
        let exists = self.query(
            "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_version'",
            &[],
        )?;
        if exists.first().map(|r| r.get::<i64>(0)).transpose()? != Some(1) {
            return Ok(None);
        }
        match self.query_opt("SELECT version FROM schema_version", &[])? {
            Some(r) => Ok(Some(r.get(0)?)),
            None => Ok(None),
        }
    }

    /// Why there is no ledger here: an empty database has none yet; one
    /// with other tables belongs to something else.
    fn not_a_ledger(&self) -> Result<Error> {
        let t = &self.target;
        Ok(match self.is_empty()? {
            true => Error::input(format!("{t} holds no certsmith ledger yet")).hint(
                "create one with `certsmith init`, or move a ledger there with `certsmith ledger copy --to URL`",
            ),
            false => Error::input(format!(
                "{t} is not a certsmith ledger (it holds other tables)"
            ))
            .hint("give certsmith an empty database of its own (createdb -O USER NAME)"),
        })
    }

    /// Inside a write transaction: the tables of a new ledger, when the
    /// database is still empty.
    fn create_if_empty(&self) -> Result<()> {
        if self.schema_version()?.is_some() {
            return Ok(());
        }
        if !self.is_empty()? {
            return Err(self.not_a_ledger()?);
        }
        self.execute_batch(schema::ddl(Backend::Postgres))?;
        self.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            &[Value::Int(schema::SCHEMA_VERSION)],
        )?;
        Ok(())
    }

    /// Whether the database holds no table at all (a new ledger may be
    /// created there; anything else is someone else's database).
    pub fn is_empty(&self) -> Result<bool> {
        let rows = self.query(
            "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
            &[],
        )?;
        Ok(rows.first().map(|r| r.get::<i64>(0)).transpose()? == Some(0))
    }

    /// Turns a failure of a statement into a one-line error naming the target.
    fn err(&self, e: postgres::Error) -> DbError {
        let t = &self.target;
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            let unique_violation = *code == SqlState::UNIQUE_VIOLATION;
            let error = if *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::CANNOT_CONNECT_NOW
            {
                lost(t, db.message())
            } else if *code == SqlState::DISK_FULL {
                Error::failed(format!("{t} is out of disk space: {}", db.message()))
            } else {
                Error::Ledger {
                    detail: format!("{t}: {}", db.message()),
                }
            };
            return DbError {
                unique_violation,
                error,
            };
        }
        DbError::from(lost(t, &io_cause(&e)))
    }

    /// The prepared statement for `sql` (prepared once per connection).
    fn prepared(&self, sql: &str) -> DbResult<Arc<Prepared>> {
        if let Some(p) = self.statements.borrow().get(sql) {
            return Ok(p.clone());
        }
        let statement = self
            .client
            .borrow_mut()
            .prepare(&super::db::dollar_params(sql))
            .map_err(|e| self.err(e))?;
        let columns: Arc<[String]> = statement
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect::<Vec<_>>()
            .into();
        let p = Arc::new(Prepared { statement, columns });
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), p.clone());
        Ok(p)
    }

    fn simple(&self, sql: &str) -> DbResult<()> {
        self.client
            .borrow_mut()
            .batch_execute(sql)
            .map_err(|e| self.err(e))
    }
}

/// The connection dropped (server stopped, fail-over, network): whatever
/// transaction was open is rolled back by the server.
fn lost(t: &Target, why: &str) -> Error {
    Error::failed(format!("lost the connection to {t}: {why}")).hint(
        "nothing of the interrupted command was recorded; run it again when the server is back",
    )
}

/// A parameter as the client sends it.
type Bound = Box<dyn ToSql + Sync>;

/// A parameter bound as the type the server expects for it.
fn bind(v: &Value, ty: &Type) -> std::result::Result<Bound, Error> {
    let mismatch = || Error::Ledger {
        detail: format!("cannot pass {v:?} as a PostgreSQL {ty}"),
    };
    Ok(match (v, ty) {
        (Value::Null, &Type::INT8) => Box::new(None::<i64>),
        (Value::Null, &Type::INT4) => Box::new(None::<i32>),
        (Value::Null, &Type::INT2) => Box::new(None::<i16>),
        (Value::Null, &Type::BOOL) => Box::new(None::<bool>),
        (Value::Null, &Type::BYTEA) => Box::new(None::<Vec<u8>>),
        (Value::Null, _) => Box::new(None::<String>),
        (Value::Int(i), &Type::INT8) => Box::new(*i),
        (Value::Int(i), &Type::INT4) => Box::new(i32::try_from(*i).map_err(|_| mismatch())?),
        (Value::Int(i), &Type::INT2) => Box::new(i16::try_from(*i).map_err(|_| mismatch())?),
        (Value::Int(i), &Type::BOOL) => Box::new(*i != 0),
        (Value::Int(i), &Type::TEXT | &Type::VARCHAR) => Box::new(i.to_string()),
        (Value::Text(s), &Type::TEXT | &Type::VARCHAR | &Type::NAME | &Type::BPCHAR) => {
            Box::new(s.clone())
        }
        (Value::Blob(b), &Type::BYTEA) => Box::new(b.clone()),
        _ => return Err(mismatch()),
    })
}

/// A column value read back as the ledger's [`Value`].
struct Cell(Value);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::OID => Value::Int(u32::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::NUMERIC => Value::Int(numeric_integer(raw)?),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            Type::FLOAT8 => Value::Text(f64::from_sql(ty, raw)?.to_string()),
            _ => Value::Text(String::from_utf8_lossy(raw).into_owned()),
        }))
    }

    fn from_sql_null(
        _: &Type,
    ) -> std::result::Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A NUMERIC holding an integer (what `SUM` of BIGINTs returns), from its
/// binary form: digit count, weight, sign, scale, then base-10000 digits.
fn numeric_integer(
    raw: &[u8],
) -> std::result::Result<i64, Box<dyn std::error::Error + Sync + Send>> {
    let word = |i: usize| -> Option<i16> {
        Some(i16::from_be_bytes([*raw.get(2 * i)?, *raw.get(2 * i + 1)?]))
    };
    let bad = || -> Box<dyn std::error::Error + Sync + Send> { "not an integral NUMERIC".into() };
    let (n, weight, sign) = (
        word(0).ok_or_else(bad)?,
        word(1).ok_or_else(bad)?,
        word(2).ok_or_else(bad)? as u16,
    );
    let mut v: i64 = 0;
    for d in 0..n.max(0) as usize {
        let digit = i64::from(word(4 + d).ok_or_else(bad)?);
        let power = i32::from(weight) - d as i32;
        if power < 0 {
            if digit != 0 {
                return Err(bad());
            }
            continue;
        }
        let scale = 10_000i64.checked_pow(power as u32).ok_or_else(bad)?;
        v = digit
            .checked_mul(scale)
            .and_then(|x| v.checked_add(x))
            .ok_or_else(bad)?;
    }
    match sign {
        0x0000 => Ok(v),
        0x4000 => Ok(-v),
        _ => Err(bad()),
    }
}

impl PostgresDb {
    fn run(&self, sql: &str, params: &[Value]) -> DbResult<(Arc<Prepared>, Vec<Bound>)> {
        let p = self.prepared(sql)?;
        let types = p.statement.params();
        if types.len() != params.len() {
            return Err(DbError::from(Error::Ledger {
                detail: format!(
                    "statement takes {} parameters, {} given",
                    types.len(),
                    params.len()
                ),
            }));
        }
        let bound = params
            .iter()
            .zip(types)
            .map(|(v, ty)| bind(v, ty))
            .collect::<std::result::Result<Vec<_>, Error>>()?;
        Ok((p, bound))
    }
}

fn refs(bound: &[Bound]) -> Vec<&(dyn ToSql + Sync)> {
    bound.iter().map(|b| b.as_ref()).collect()
}

impl Db for PostgresDb {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let (p, bound) = self.run(sql, params)?;
        self.client
            .borrow_mut()
            .execute(&p.statement, &refs(&bound))
            .map_err(|e| self.err(e))
    }

    fn execute_batch(&self, sql: &str) -> DbResult<()> {
        // Tables may change under prepared statements: prepare them again.
        self.statements.borrow_mut().clear();
        self.simple(sql)
    }

    fn query(&self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let (p, bound) = self.run(sql, params)?;
        let rows = self
            .client
            .borrow_mut()
            .query(&p.statement, &refs(&bound))
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|r| {
                let values = (0..p.columns.len())
                    .map(|i| r.try_get::<_, Cell>(i).map(|c| c.0))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| self.err(e))?;
                Ok(Row {
                    columns: p.columns.clone(),
                    values,
                })
            })
            .collect()
    }

    fn begin_write(&self) -> DbResult<()> {
        self.simple(&format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        ))
    }

    fn begin_read(&self) -> DbResult<()> {
        self.simple("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    fn commit(&self) -> DbResult<()> {
        self.simple("COMMIT")
    }

    fn rollback(&self) -> DbResult<()> {
        if self.client.borrow().is_closed() {
            return Ok(());
        }
        self.simple("ROLLBACK")
    }

    /// PostgreSQL checks its own pages; what the ledger can ask is whether
    /// the server answers.
    fn integrity_check(&self) -> DbResult<Vec<String>> {
        self.simple("SELECT 1")?;
        Ok(vec!["ok".to_string()])
    }

    fn commit_sync(&self) -> DbResult<CommitSync> {
        Ok(self.sync.get())
    }

    /// `synchronous_commit` for this session: `--no-sync` (throwaway PKIs)
    /// stops waiting for the server's WAL flush.
    fn set_commit_sync(&self, level: CommitSync) -> DbResult<()> {
        let v = match level {
            CommitSync::Off => "off",
            CommitSync::Normal => "local",
            CommitSync::Full => "on",
        };
        self.simple(&format!("SET synchronous_commit = {v}"))?;
        self.sync.set(level);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        assert_eq!(
            split_pgpass(r"db.example:5432:*:ops:pa\:ss\\word"),
            vec!["db.example", "5432", "*", "ops", r"pa:ss\word"]
        );
    }

    #[test]
    fn passfile_sslmode_and_sslrootcert_are_taken_off_the_url() {
        let p = parse("postgres://ops@db:6543/ca?passfile=%2Froot%2Fpw&sslmode=prefer").unwrap();
        assert_eq!(p.passfile, Some(PathBuf::from("/root/pw")));
        let t = target_of(&p.config).unwrap();
        assert_eq!(t.redacted_url(), "postgres://ops@db:6543/ca");
        let p = parse("postgres://ops@db/ca?sslmode=verify-full&sslrootcert=%2Fca.pem").unwrap();
        assert_eq!(p.tls_roots, Some(PathBuf::from("/ca.pem")));
        let e = parse("postgres://ops@db/ca?sslmode=sometimes")
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown sslmode 'sometimes'"), "{e}");
    }

    #[test]
    fn a_password_holding_slash_at_hash_or_question_mark_is_the_password_not_the_host() {
        let p = parse("postgres://u2:a/b@c#d?e:f@db:6543/ca?sslmode=disable").unwrap();
        assert_eq!(p.config.get_password(), Some("a/b@c#d?e:f".as_bytes()));
        let t = target_of(&p.config).unwrap();
        assert_eq!(t.redacted_url(), "postgres://u2@db:6543/ca");
        // An already encoded password is left as it is.
        let p = parse("postgres://u2:s3cr%40t@db/ca").unwrap();
        assert_eq!(p.config.get_password(), Some("s3cr@t".as_bytes()));
    }

    #[test]
    fn numeric_integers_decode_from_their_binary_form() {
        // 123456789 = [1, 2345, 6789] base 10000, weight 2.
        let raw: Vec<u8> = [3i16, 2, 0, 0, 1, 2345, 6789]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric_integer(&raw).unwrap(), 123_456_789);
        let zero: Vec<u8> = [0i16, 0, 0, 0]
            .iter()
            .flat_map(|w| w.to_be_bytes())
            .collect();
        assert_eq!(numeric_integer(&zero).unwrap(), 0);
    }
}
