//! A real PostgreSQL for the team-ledger tests: one cluster per test
//! process (`initdb` + `pg_ctl` in a temp directory, on a free loopback
//! port, as the `postgres` OS user when the tests run as root), a database
//! of its own for each test, and a password-checked `certsmith` role so
//! that a wrong password is really refused. The cluster is stopped when the
//! test process ends, however it ends: a small reaper process waits for the
//! end of a pipe only this process holds, then runs `pg_ctl stop -m
//! immediate` and removes the directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use super::nginx::free_port;

/// The role every test connects as, and its password (`$PGPASSWORD`).
pub const USER: &str = "certsmith";
pub const PASSWORD: &str = "team ledger test password";

/// One PostgreSQL cluster, stopped when dropped (or when the process ends).
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    /// `runuser -u postgres --` when running as root (initdb refuses root).
    as_postgres: bool,
    /// Whether it serves TLS (`server.crt` / `server.key` in its directory).
    tls: bool,
    /// The reaper's stdin: closing it (drop, or process exit) stops the cluster.
    reaper_pipe: Mutex<Option<ChildStdin>>,
    reaper: Mutex<Option<Child>>,
}

/// A database of its own in a cluster, for one test.
pub struct Database {
    pub name: String,
    pub port: u16,
}

impl Database {
    /// `postgres://certsmith@127.0.0.1:PORT/t_N` (the password comes from
    /// `$PGPASSWORD`, see [`Database::env`]).
    pub fn url(&self) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{}", self.port, self.name)
    }

    /// What a certsmith run needs to use this database as its ledger.
    pub fn env(&self) -> [(&'static str, String); 2] {
        [
            ("CERTSMITH_LEDGER", self.url()),
            ("PGPASSWORD", PASSWORD.to_string()),
        ]
    }
}

/// The PostgreSQL binaries (`/usr/lib/postgresql/<newest>/bin`), if installed.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

/// Whether PostgreSQL can be used here: under `CI` a missing server fails
/// the test; on a developer machine it says so loudly and the test skips.
pub fn available() -> bool {
    if bin_dir().is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("PostgreSQL is required in CI (apt-get install postgresql)");
    }
    eprintln!(
        "\n**********************************************************************\n\
         SKIPPED: the team-ledger tests need PostgreSQL (/usr/lib/postgresql/*/bin).\n\
         Install it (apt-get install postgresql) to run them; CI always does.\n\
         **********************************************************************\n"
    );
    false
}

/// The cluster shared by every test of this process (started on first
/// use), or `None` when PostgreSQL is not installed (see [`available`]).
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Cluster> = OnceLock::new();
    if !available() {
        return None;
    }
    Some(SHARED.get_or_init(Cluster::start))
}

/// A fresh database in the shared cluster, or `None` (skipped loudly).
pub fn database() -> Option<Database> {
    shared().map(Cluster::database)
}

fn is_root() -> bool {
    std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0
}

impl Cluster {
    /// Starts a new cluster of its own (a test that stops and restarts the
    /// server must not take the shared one down under other tests).
    pub fn start() -> Cluster {
        Cluster::start_with(None)
    }

    /// A cluster of its own that also speaks TLS with the certificate
    /// chain `cert` (PEM, leaf first) and its key `key`.
    pub fn start_tls(cert: &Path, key: &Path) -> Cluster {
        Cluster::start_with(Some((cert, key)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Cluster {
        use std::os::unix::fs::PermissionsExt;
        let bin = bin_dir().expect("PostgreSQL binaries");
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("certsmith-pg")
            .tempdir()
            .expect("tempdir")
            .keep();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, "superuser password\n").unwrap();
        let tls = tls.is_some_and(|(cert, key)| {
            std::fs::copy(cert, dir.join("server.crt")).unwrap();
            std::fs::copy(key, dir.join("server.key")).unwrap();
            // The server refuses a key others can read.
            std::fs::set_permissions(
                dir.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
            true
        });
        if as_postgres {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(st.success(), "chown postgres {}", dir.display());
        }
        let mut cluster = Cluster {
            dir,
            port: 0,
            bin,
            as_postgres,
            tls,
            reaper_pipe: Mutex::new(None),
            reaper: Mutex::new(None),
        };
        let out = cluster
            .pg_command("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.spawn_reaper();
        // A port can be taken between the check and the server's bind: retry.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port();
            match cluster.try_start() {
                Ok(()) => {
                    cluster.admin(&format!(
                        "CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}' CREATEDB"
                    ));
                    return cluster;
                }
                Err(log) => last = log,
            }
        }
        panic!("PostgreSQL did not start:\n{last}");
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A PostgreSQL program, as the `postgres` user when we are root.
    fn pg_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        c.stdin(Stdio::null());
        c
    }

    /// The reaper: `sh` waits for EOF on its stdin (this process's end, or
    /// [`Drop`]), then stops the cluster at once and removes its directory.
    /// It ignores the terminal's signals so that Ctrl-C still cleans up.
    fn spawn_reaper(&self) {
        let stop = self.stop_command_line("immediate");
        let script = format!(
            "trap '' INT TERM HUP; cat >/dev/null; {stop} >/dev/null 2>&1; rm -rf '{}'",
            self.dir.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the PostgreSQL reaper");
        *self.reaper_pipe.lock().unwrap() = child.stdin.take();
        *self.reaper.lock().unwrap() = Some(child);
    }

    fn stop_command_line(&self, mode: &str) -> String {
        let pg_ctl = self.bin.join("pg_ctl");
        let prefix = if self.as_postgres {
            "runuser -u postgres -- "
        } else {
            ""
        };
        format!(
            "{prefix}'{}' -D '{}' -m {mode} -w stop",
            pg_ctl.display(),
            self.data().display()
        )
    }

    fn try_start(&self) -> Result<(), String> {
        let log = self.dir.join("server.log");
        let mut opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            self.port,
            self.socket_dir().display()
        );
        if self.tls {
            opts.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key",
                d = self.dir.display()
            ));
        }
        let st = self
            .pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run pg_ctl");
        if st.success() {
            Ok(())
        } else {
            Err(std::fs::read_to_string(&log).unwrap_or_default())
        }
    }

    /// Stops the server (`pg_ctl stop -m fast`), as an operator or a
    /// fail-over would; [`Cluster::restart`] brings it back on the same port.
    pub fn stop(&self) {
        let st = Command::new("sh")
            .args(["-c", &self.stop_command_line("fast")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("pg_ctl stop");
        assert!(st.success(), "pg_ctl stop failed");
    }

    pub fn restart(&self) {
        if let Err(log) = self.try_start() {
            panic!("PostgreSQL did not restart:\n{log}");
        }
    }

    /// Runs SQL as the superuser over the unix socket; returns psql's output.
    pub fn admin(&self, sql: &str) -> String {
        self.psql("postgres", sql)
    }

    /// Runs SQL as the superuser in database `db`; returns its rows as
    /// `psql -At` prints them (one row a line, columns split by `|`).
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .arg("-h")
            .arg(self.socket_dir())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new, empty database owned by the `certsmith` role.
    pub fn database(&self) -> Database {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("t_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        self.admin(&format!("CREATE DATABASE {name} OWNER {USER}"));
        Database {
            name,
            port: self.port,
        }
    }
}

impl Drop for Cluster {
    /// Closing the reaper's pipe stops the cluster; waiting for the reaper
    /// means it is gone (and its directory removed) when drop returns.
    fn drop(&mut self) {
        if let Some(mut pipe) = self.reaper_pipe.lock().unwrap().take() {
            let _ = pipe.flush();
        }
        if let Some(mut child) = self.reaper.lock().unwrap().take() {
            let _ = child.wait();
        }
    }
}
