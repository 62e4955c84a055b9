//! The filesystem side of a PKI directory: private directories, atomic
//! writes that never follow symlinks and never silently overwrite.
//!
//! Every file certsmith writes goes through [`Staged`]: each file is first
//! written and fsynced as a temporary file beside its destination, then all
//! are renamed into place and the directories fsynced. A failure before the
//! commit leaves nothing behind.

use std::fs::{self, DirBuilder, File, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Mode of private keys and of the temporary files everything starts as.
pub const KEY_MODE: u32 = 0o600;
/// Mode of certificates, chains, CRLs and bundles.
pub const PUBLIC_MODE: u32 = 0o644;
/// Mode of every directory certsmith creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and any missing parents with mode 0700, refusing to pass
/// through a symlink below `root`.
pub fn create_private_dir(root: &Path, dir: &Path) -> Result<()> {
    refuse_symlinks(root, dir)?;
    if dir.is_dir() {
        return Ok(());
    }
    // A relative path's last ancestor is "", which is the current directory, not a new one.
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| io_err("cannot create directory", dir, &e))?;
    for d in missing.iter().rev() {
        // The umask can only narrow the mode; set it anyway so 0700 is exact.
        fs::set_permissions(d, Permissions::from_mode(DIR_MODE))
            .map_err(|e| io_err("cannot set permissions on", d, &e))?;
        // The new entry must survive a crash like the files written into it.
        match d.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
            _ => sync_dir(Path::new(".")),
        }
    }
    Ok(())
}

/// Fails if any existing component of `path` at or below `root` is a symlink,
/// so a planted link cannot redirect a key write outside the PKI directory.
pub fn refuse_symlinks(root: &Path, path: &Path) -> Result<()> {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        cur.push(comp);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::input(format!(
                    "'{}' is a symlink; certsmith does not write through symlinks inside the PKI directory",
                    cur.display()
                ))
                .hint("replace the link with a real directory or file"));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Formats an I/O failure as a one-line message naming the path.
pub fn io_err(what: &str, path: &Path, e: &std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
        return no_space(path);
    }
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::AlreadyExists => "it already exists".to_string(),
        _ => e.to_string().to_lowercase(),
    };
    Error::input(format!("{what} '{}': {reason}", path.display()))
}

/// The one message for a full filesystem (ENOSPC from a write, SQLite's
/// "database or disk is full", or its I/O error on a filesystem with no
/// free block left), naming the path that could not grow.
pub fn no_space(path: &Path) -> Error {
    Error::failed(format!(
        "no space left on device ({})",
        crate::error::shown(&path.display().to_string())
    ))
    .hint("free some space on that filesystem and run the command again")
}

/// Whether the filesystem holding `path` has no block left for an
/// unprivileged write (how an I/O error without an errno is told to be a
/// full disk).
pub fn is_full(path: &Path) -> bool {
    rustix::fs::statvfs(path).is_ok_and(|s| s.f_bavail == 0)
}

/// Reads a whole file, with a one-line error naming it, capped as an
/// input file of no particular kind (prefer `input::read` with its kind).
pub fn read(path: &Path) -> Result<Vec<u8>> {
    crate::input::read(path, crate::input::Kind::Other)
}

/// Reads a whole text file.
pub fn read_to_string(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    String::from_utf8(bytes)
        .map_err(|_| Error::input(format!("'{}' is not UTF-8 text", path.display())))
}

/// Fails if `path` exists (as anything, a dangling symlink included).
pub fn refuse_existing(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(Error::input(format!("'{}' already exists", path.display()))
            .hint("pass --force to replace it (the old file is kept as *.old-<serial>)"));
    }
    Ok(())
}

/// How a staged file may meet an existing file of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Existing {
    /// An existing file is an error.
    Refuse,
    /// An existing file is renamed to `<file>.old-<suffix>` first.
    Backup(String),
    /// An existing file is replaced (for files certsmith owns and regenerates, e.g. a CRL).
    Replace,
}

struct StagedFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
    existing: Existing,
}

/// A set of files written together: all land, or none does.
pub struct Staged {
    root: PathBuf,
    files: Vec<StagedFile>,
    sync: bool,
}

impl Staged {
    /// Starts a set of writes below the PKI (or output) root `root`.
    pub fn new(root: &Path) -> Self {
        Staged {
            root: root.to_path_buf(),
            files: Vec::new(),
            sync: true,
        }
    }

    /// Like [`Staged::new`], but leaves fsync to the caller, who must call
    /// [`sync_filesystem`] before anything (a ledger row) relies on the
    /// files being durable. Batch issuance uses it to pay for one sync per
    /// chunk of certificates instead of five per certificate.
    pub fn deferred_sync(root: &Path) -> Self {
        Staged {
            sync: false,
            ..Staged::new(root)
        }
    }

    /// Writes `bytes` to a temporary file beside `dest` with `mode` (fsynced by `commit`).
    pub fn add(&mut self, dest: &Path, bytes: &[u8], mode: u32, existing: Existing) -> Result<()> {
        let dir = dest
            .parent()
            .ok_or_else(|| Error::input(format!("'{}' has no parent directory", dest.display())))?;
        create_private_dir(&self.root, dir)?;
        refuse_symlinks(&self.root, dest)?;
        if existing == Existing::Refuse {
            refuse_existing(dest)?;
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".certsmith-")
            .permissions(Permissions::from_mode(KEY_MODE))
            .tempfile_in(dir)
            .map_err(|e| io_err("cannot create a temporary file in", dir, &e))?;
        // fsynced in `commit`, all files at once.
        tmp.write_all(bytes)
            .map_err(|e| io_err("cannot write", tmp.path(), &e))?;
        if mode != KEY_MODE {
            fs::set_permissions(tmp.path(), Permissions::from_mode(mode))
                .map_err(|e| io_err("cannot set permissions on", tmp.path(), &e))?;
        }
        self.files.push(StagedFile {
            tmp,
            dest: dest.to_path_buf(),
            existing,
        });
        Ok(())
    }

    /// Renames every staged file into place and fsyncs the directories.
    /// On a failure part-way, files already renamed are removed again.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        let sync = self.sync;
        if sync {
            self.sync_files()?;
        }
        let mut done: Vec<PathBuf> = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for f in self.files {
            let result = place(f.tmp, &f.dest, &f.existing);
            if let Err(e) = result {
                for p in &done {
                    let _ = fs::remove_file(p);
                }
                return Err(e);
            }
            if let Some(d) = f.dest.parent()
                && !dirs.iter().any(|x| x == d)
            {
                dirs.push(d.to_path_buf());
            }
            done.push(f.dest);
            crash_point("partial");
        }
        if sync {
            for d in &dirs {
                sync_dir(d);
            }
        }
        Ok(done)
    }
}

impl Staged {
    /// fsyncs every staged file, concurrently: the filesystem journal then
    /// commits them together instead of once per file (a `certsmith issue`
    /// writes four files; each serial fsync costs one journal commit).
    fn sync_files(&self) -> Result<()> {
        // One thread per file is worth it for a handful of files only.
        if self.files.len() == 1 || self.files.len() > 16 {
            for f in &self.files {
                f.tmp
                    .as_file()
                    .sync_all()
                    .map_err(|e| io_err("cannot write", f.tmp.path(), &e))?;
            }
            return Ok(());
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .files
                .iter()
                .map(|f| s.spawn(move || f.tmp.as_file().sync_all().map_err(|e| (f, e))))
                .collect();
            for h in handles {
                match h.join() {
                    Ok(Ok(())) => {}
                    Ok(Err((f, e))) => return Err(io_err("cannot write", f.tmp.path(), &e)),
                    Err(_) => return Err(Error::failed("a file flush thread panicked")),
                }
            }
            Ok(())
        })
    }
}

fn place(tmp: tempfile::NamedTempFile, dest: &Path, existing: &Existing) -> Result<()> {
    match existing {
        Existing::Refuse => {
            tmp.persist_noclobber(dest)
                .map_err(|e| io_err("cannot write", dest, &e.error))?;
        }
        Existing::Backup(suffix) => {
            if fs::symlink_metadata(dest).is_ok() {
                let mut old = dest.as_os_str().to_owned();
                old.push(format!(".old-{suffix}"));
                fs::rename(dest, &old).map_err(|e| io_err("cannot back up", dest, &e))?;
            }
            tmp.persist(dest)
                .map_err(|e| io_err("cannot write", dest, &e.error))?;
        }
        Existing::Replace => {
            tmp.persist(dest)
                .map_err(|e| io_err("cannot write", dest, &e.error))?;
        }
    }
    Ok(())
}

/// Environment variable naming a crash point, for crash-safety tests.
pub const CRASH_ENV: &str = "CERTSMITH_TEST_CRASH_AT";

/// Test hook: when `$CERTSMITH_TEST_CRASH_AT` names `point`, the process
/// aborts right here, running no destructor, as a `kill -9` would. The
/// crash tests use it to stop a write at each step (`reserved`, `staged`,
/// `partial`, `committed`) and prove `doctor --repair` settles every one.
pub fn crash_point(point: &str) {
    if std::env::var_os(CRASH_ENV).is_some_and(|v| v == point) {
        std::process::abort();
    }
}

/// fsyncs a directory so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// A new directory written as a whole: its files go into a private
/// temporary directory beside `dest`, which is then renamed to `dest` in
/// one step that never replaces anything (renameat2 `RENAME_NOREPLACE`).
/// Cheaper than [`Staged`] for many small directories (batch issuance):
/// no per-file rename and no symlink walk per file. Nothing is fsynced: call
/// [`sync_filesystem`] before relying on it.
pub struct StagedDir {
    tmp: tempfile::TempDir,
    dest: PathBuf,
}

impl StagedDir {
    /// Starts `dest`, whose parent must already exist (made with
    /// [`create_private_dir`], which checks it for symlinks).
    pub fn new(dest: &Path) -> Result<StagedDir> {
        let parent = dest
            .parent()
            .ok_or_else(|| Error::input(format!("'{}' has no parent directory", dest.display())))?;
        let tmp = tempfile::Builder::new()
            .prefix(".certsmith-")
            .permissions(Permissions::from_mode(DIR_MODE))
            .tempdir_in(parent)
            .map_err(|e| io_err("cannot create a temporary directory in", parent, &e))?;
        Ok(StagedDir {
            tmp,
            dest: dest.to_path_buf(),
        })
    }

    /// Writes file `name` with exactly `mode`.
    pub fn add(&self, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.tmp.path().join(name);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(KEY_MODE)
            .open(&path)
            .map_err(|e| io_err("cannot write", &path, &e))?;
        f.write_all(bytes)
            .map_err(|e| io_err("cannot write", &path, &e))?;
        // Created 0600 (the umask can only narrow it), then widened on the open file.
        if mode != KEY_MODE {
            f.set_permissions(Permissions::from_mode(mode))
                .map_err(|e| io_err("cannot set permissions on", &path, &e))?;
        }
        Ok(())
    }

    /// Renames the directory into place. `Ok(false)`, with nothing written,
    /// when `dest` already exists (or the filesystem cannot rename without
    /// replacing): the caller then writes file by file with [`Staged`].
    pub fn commit(self) -> Result<bool> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(
            CWD,
            self.tmp.path(),
            CWD,
            &self.dest,
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => {
                // The directory now lives at `dest`; the guard must not delete it.
                let _ = self.tmp.keep();
                Ok(true)
            }
            Err(e)
                if e == rustix::io::Errno::EXIST
                    || e == rustix::io::Errno::INVAL
                    || e == rustix::io::Errno::NOSYS =>
            {
                Ok(false)
            }
            Err(e) => Err(io_err("cannot write", &self.dest, &std::io::Error::from(e))),
        }
    }
}

/// Flushes every file and directory of the filesystem holding `path` to
/// disk (syncfs(2)): after it returns, files written with
/// [`Staged::deferred_sync`] before the call survive a crash.
pub fn sync_filesystem(path: &Path) -> Result<()> {
    let f = File::open(path).map_err(|e| io_err("cannot open", path, &e))?;
    rustix::fs::syncfs(&f).map_err(|e| {
        if e == rustix::io::Errno::NOSPC {
            return no_space(path);
        }
        Error::failed(format!(
            "cannot flush '{}' to disk: {}",
            path.display(),
            std::io::Error::from(e).to_string().to_lowercase()
        ))
    })
}

/// Writes one file atomically (temp + fsync + rename + fsync dir).
pub fn write_file(
    root: &Path,
    dest: &Path,
    bytes: &[u8],
    mode: u32,
    existing: Existing,
) -> Result<PathBuf> {
    let mut s = Staged::new(root);
    s.add(dest, bytes, mode, existing)?;
    Ok(s.commit()?.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_said_as_no_space_left_with_the_path() {
        let e = io_err(
            "cannot write",
            Path::new("pki/certs/a/key.pem"),
            &std::io::Error::from_raw_os_error(28),
        );
        assert_eq!(e.message, "no space left on device (pki/certs/a/key.pem)");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn staged_files_are_refused_over_existing_and_leave_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b.pem");
        write_file(d.path(), &p, b"one", PUBLIC_MODE, Existing::Refuse).unwrap();
        let err = write_file(d.path(), &p, b"two", PUBLIC_MODE, Existing::Refuse).unwrap_err();
        assert!(err.message.contains("already exists"), "{err}");
        assert_eq!(fs::read(&p).unwrap(), b"one");
        let names: Vec<_> = fs::read_dir(d.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn backup_keeps_the_old_file_with_its_serial() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cert.pem");
        write_file(d.path(), &p, b"one", PUBLIC_MODE, Existing::Refuse).unwrap();
        write_file(
            d.path(),
            &p,
            b"two",
            PUBLIC_MODE,
            Existing::Backup("ab".into()),
        )
        .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read(d.path().join("cert.pem.old-ab")).unwrap(), b"one");
    }

    #[test]
    fn staged_dir_appears_whole_with_exact_modes_and_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("dev-1");
        let s = StagedDir::new(&dest).unwrap();
        s.add("key.pem", b"k", KEY_MODE).unwrap();
        s.add("cert.pem", b"c", PUBLIC_MODE).unwrap();
        assert!(!dest.exists());
        assert!(s.commit().unwrap());
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            (mode(&dest.join("key.pem")), mode(&dest.join("cert.pem"))),
            (0o600, 0o644)
        );
        assert_eq!(mode(&dest), 0o700);
        let again = StagedDir::new(&dest).unwrap();
        again.add("key.pem", b"other", KEY_MODE).unwrap();
        assert!(!again.commit().unwrap());
        assert_eq!(fs::read(dest.join("key.pem")).unwrap(), b"k");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "temporary directory left behind"
        );
    }

    #[test]
    fn symlinked_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), d.path().join("certs")).unwrap();
        let err = write_file(
            d.path(),
            &d.path().join("certs/key.pem"),
            b"k",
            KEY_MODE,
            Existing::Refuse,
        )
        .unwrap_err();
        assert!(err.message.contains("symlink"), "{err}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
