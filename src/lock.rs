//! The PKI directory lock: commands that write take a shared `flock` on the
//! PKI directory, `doctor --repair` takes it exclusively. A writer never
//! waits without saying so, nor forever: after a second it prints what it
//! waits for, and after `$CERTSMITH_LOCK_WAIT` seconds (default 30) it
//! fails naming the process that holds the lock. Read-only commands take
//! no lock at all, so they never wait.

use std::fs::{File, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Lock, Result};

/// Environment variable: how long a writer waits for the lock, in seconds.
pub const WAIT_ENV: &str = "CERTSMITH_LOCK_WAIT";
/// The default of [`WAIT_ENV`].
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
/// How long a writer waits before it says that it waits.
const QUIET_WAIT: Duration = Duration::from_secs(1);

/// Takes a shared lock on directory `dir`, waiting a bounded time while
/// another process holds it exclusively. `Ok(None)` when the directory
/// cannot be opened or the filesystem has no `flock`: certsmith still
/// works, only `doctor` cannot tell live `pending` rows from dead ones.
pub fn shared(dir: &Path) -> Result<Option<File>> {
    let Ok(f) = File::open(dir) else {
        return Ok(None);
    };
    let taken = wait(
        &f,
        Want::Shared,
        &Lock::PkiDir(dir.to_path_buf()),
        wait_limit()?,
    )?;
    Ok(taken.then_some(f))
}

/// Takes an exclusive lock on directory `dir` (e.g. a CA's directory while
/// its CRL is signed and written), waiting as [`shared`] does; `what` names
/// the lock in the messages, e.g. "the CRL lock of CA 'issuing'".
pub fn exclusive(dir: &Path, what: &str) -> Result<File> {
    let f = File::open(dir).map_err(|e| crate::store::io_err("cannot open", dir, &e))?;
    let taken = wait(
        &f,
        Want::Exclusive,
        &Lock::Named(what.to_string()),
        wait_limit()?,
    )?;
    if !taken {
        return Err(Error::failed(format!(
            "cannot take {what}: the filesystem of '{}' has no flock",
            dir.display()
        )));
    }
    Ok(f)
}

#[derive(Clone, Copy)]
enum Want {
    Shared,
    Exclusive,
}

/// Waits for `want` on the open directory `f`: after a second it says on
/// stderr what it waits for, after `limit` it fails with
/// [`Error::Locked`] naming `lock` and its holder. `Ok(false)` when the
/// filesystem has no `flock`.
fn wait(f: &File, want: Want, lock: &Lock, limit: Duration) -> Result<bool> {
    let start = Instant::now();
    let mut said = false;
    loop {
        let tried = match want {
            Want::Shared => f.try_lock_shared(),
            Want::Exclusive => f.try_lock(),
        };
        match tried {
            Ok(()) => return Ok(true),
            Err(TryLockError::Error(_)) => return Ok(false),
            Err(TryLockError::WouldBlock) => {}
        }
        let waited = start.elapsed();
        if waited >= limit {
            return Err(Error::Locked {
                lock: lock.clone(),
                holder: holder(f),
                waited_secs: limit.as_secs(),
            });
        }
        if !said && waited >= QUIET_WAIT {
            crate::error::diagnostic(
                "note: ",
                &format!(
                    "waiting up to {} s for {} to release {}",
                    limit.as_secs(),
                    holder(f),
                    lock.describe()
                ),
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(25).min(limit.saturating_sub(waited)));
    }
}

/// `$CERTSMITH_LOCK_WAIT`, or the default.
fn wait_limit() -> Result<Duration> {
    match std::env::var(WAIT_ENV) {
        Err(_) => Ok(DEFAULT_WAIT),
        Ok(v) => v
            .trim()
            .parse::<u32>()
            .map(|s| Duration::from_secs(s.into()))
            .map_err(|_| {
                Error::input(format!(
                    "${WAIT_ENV} '{}' is not a number of seconds",
                    crate::error::shown(&v)
                ))
                .hint(format!("e.g. {WAIT_ENV}=30"))
            }),
    }
}

/// Who holds an exclusive `flock` on the open directory `f`, from
/// `/proc/locks`: "pid N (command line)", else "another process".
pub fn holder(f: &File) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = f.metadata() else {
        return "another process".into();
    };
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let id = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let pid = locks.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters have "->" second.
        (w.len() >= 6 && w[1] == "FLOCK" && w[3] == "WRITE" && w[5] == id).then(|| w[4].to_string())
    });
    match pid {
        Some(pid) => {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    b.split(|c| *c == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default();
            if cmd.is_empty() {
                format!("pid {pid}")
            } else {
                format!("pid {pid} ({})", crate::error::shown(&cmd))
            }
        }
        None => "another process".into(),
    }
}

/// The `-shm` file of an SQLite database in WAL mode, locked so that no
/// SQLite connection can open the database while it is held: `Some` only
/// when no other process has the database open. Every SQLite connection
/// holds a read lock (`fcntl`) on its `-shm` for as long as it is open, so
/// a non-blocking write lock over the whole file succeeds only when none
/// does. Released when the returned file is dropped.
pub fn shm_unused(shm: &Path) -> Option<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(shm)
        .ok()?;
    rustix::fs::fcntl_lock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .ok()
        .map(|()| f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_held_past_the_wait_is_locked_naming_the_lock_and_the_wait() {
        let d = tempfile::tempdir().unwrap();
        let other = File::open(d.path()).unwrap();
        other.lock().unwrap();
        let f = File::open(d.path()).unwrap();
        let lock = Lock::PkiDir(d.path().to_path_buf());
        let err = wait(&f, Want::Shared, &lock, Duration::ZERO).unwrap_err();
        assert!(
            matches!(&err, Error::Locked { lock: l, waited_secs: 0, .. } if *l == lock),
            "{err:?}"
        );
        assert_eq!((err.code(), err.exit_code()), ("locked", 1));
        drop(other);
        assert!(wait(&f, Want::Shared, &lock, Duration::ZERO).unwrap());
    }
}
