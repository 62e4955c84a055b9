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
    make_private_dir(root, dir, true).map(drop)
}

/// [`create_private_dir`]; with `sync` false the new entries are left for
/// the flush that follows (a [`Staged::with_one_flush`]): returns the
/// directories whose new entries it did not flush.
fn make_private_dir(root: &Path, dir: &Path, sync: bool) -> Result<Vec<PathBuf>> {
    refuse_symlinks(root, dir)?;
    if dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut unsynced = Vec::new();
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
        let parent = match d.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        match sync {
            true => sync_dir(parent)?,
            false => unsynced.push(parent.to_path_buf()),
        }
    }
    Ok(unsynced)
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

/// Formats an I/O failure as a one-line message naming the path. A full
/// disk or an I/O error is a failed outcome (exit 1), not bad input.
pub fn io_err(what: &str, path: &Path, e: &std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    if matches!(e.kind(), K::StorageFull | K::QuotaExceeded) || e.raw_os_error() == Some(28) {
        return no_space(path);
    }
    Error::Io {
        action: what.to_string(),
        path: path.to_path_buf(),
        kind: e.kind(),
        os_error: e.raw_os_error(),
        detail: e.to_string().to_lowercase(),
    }
}

/// The one message for a full filesystem (ENOSPC from a write, SQLite's
/// "database or disk is full", or its I/O error on a filesystem with no
/// free block left), naming the path that could not grow.
pub fn no_space(path: &Path) -> Error {
    Error::NoSpace {
        path: path.to_path_buf(),
    }
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

/// Fails if the backup `<path>.old-<suffix>` of `path` exists: a backup
/// never replaces another (checked before anything changes; the rename that
/// makes the backup refuses too).
pub fn refuse_existing_backup(path: &Path, suffix: &str) -> Result<()> {
    let old = old_name(path, suffix);
    if fs::symlink_metadata(&old).is_ok() {
        return Err(Error::input(format!(
            "the backup '{}' already exists",
            crate::error::shown(&old.display().to_string())
        ))
        .hint("move it aside, then run the command again"));
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
    /// Existing files moved aside to `<file>.old-<suffix>` with no
    /// replacement (e.g. a key that a CSR-signed re-issue no longer has).
    retired: Vec<(PathBuf, String)>,
    sync: bool,
    /// One flush point: the ledger file whose WAL (holding a reservation
    /// committed without waiting) is fsynced together with the files.
    one_flush: Option<PathBuf>,
    /// Directories whose new entries wait for that flush point.
    unsynced_dirs: Vec<PathBuf>,
}

/// One step [`Staged::place`] took, and how to take it back.
#[derive(Debug)]
enum Move {
    /// `dest` is new; `backup` holds what was there before, if anything.
    Wrote { dest: PathBuf, backup: Backup },
    /// `from` was renamed to `to` and nothing took its place.
    Retired { from: PathBuf, to: PathBuf },
}

#[derive(Debug)]
enum Backup {
    None,
    /// `<file>.old-<suffix>`: stays once the write is kept.
    Kept(PathBuf),
    /// A hidden hard link to the replaced file: removed once the write is kept.
    Transient(PathBuf),
}

/// Files renamed into place, with every (destination, backup) pair, until
/// the caller keeps them ([`Placed::keep`]) or takes them back
/// ([`Placed::undo`]) because a later step (the ledger) failed. Dropped
/// without either, it keeps them, as a crash would.
#[derive(Debug)]
#[must_use = "keep() or undo() the placed files"]
pub struct Placed {
    moves: Vec<Move>,
}

impl Staged {
    /// Starts a set of writes below the PKI (or output) root `root`.
    pub fn new(root: &Path) -> Self {
        Staged {
            root: root.to_path_buf(),
            files: Vec::new(),
            retired: Vec::new(),
            sync: true,
            one_flush: None,
            unsynced_dirs: Vec::new(),
        }
    }

    /// One flush point before the files are renamed into place: the
    /// temporary files, the parents of new directories and the WAL of the
    /// ledger at `ledger` (a reservation made with
    /// [`crate::ledger::Ledger::reserve_unsynced`]) are fsynced together,
    /// in parallel, so the journal commits them at once. Targeted fsyncs,
    /// never syncfs: a single issue does not pay for other dirty data of
    /// the filesystem, and every fsync reports its own file's errors.
    pub fn with_one_flush(self, ledger: &Path) -> Self {
        Staged {
            one_flush: Some(ledger.to_path_buf()),
            ..self
        }
    }

    /// Like [`Staged::new`], but leaves fsync to the caller, who must call
    /// [`ChunkFlush::flush`] before anything (a ledger row) relies on the
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
        // With one flush, the syncfs before the renames covers new directories too.
        let unsynced = make_private_dir(&self.root, dir, self.one_flush.is_none())?;
        self.unsynced_dirs.extend(unsynced);
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

    /// Moves `path`, if it exists, to `<path>.old-<suffix>` when the set is
    /// placed (undone with the rest).
    pub fn retire(&mut self, path: &Path, suffix: &str) -> Result<()> {
        refuse_symlinks(&self.root, path)?;
        self.retired.push((path.to_path_buf(), suffix.to_string()));
        Ok(())
    }

    /// fsyncs the staged files and runs `check` on each (its destination and
    /// the temporary file holding the new bytes) before anything is placed,
    /// so a file that does not read back never replaces a good one.
    pub fn verify(&mut self, check: impl Fn(&Path, &Path) -> Result<()>) -> Result<()> {
        self.sync_files()?;
        for f in &self.files {
            check(&f.dest, f.tmp.path())?;
        }
        Ok(())
    }

    /// Renames every staged file into place and fsyncs the directories.
    /// On a failure part-way, everything already moved is put back.
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        self.place()?.settle(Ok(()))
    }

    /// Like [`Staged::commit`], but the caller decides afterwards whether
    /// the files stay ([`Placed::keep`]) or go back ([`Placed::undo`]).
    pub fn place(self) -> Result<Placed> {
        self.try_place().map_err(|u| u.error)
    }

    /// Like [`Staged::place`], but says whether a failure was fully undone.
    pub fn try_place(self) -> std::result::Result<Placed, Unsettled> {
        let sync = self.sync;
        if sync {
            self.sync_files()?;
        }
        let mut placed = Placed { moves: Vec::new() };
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut note_dir = |p: &Path| {
            if let Some(d) = p.parent()
                && !dirs.iter().any(|x| x == d)
            {
                dirs.push(d.to_path_buf());
            }
        };
        for (path, suffix) in self.retired {
            if fs::symlink_metadata(&path).is_err() {
                continue;
            }
            let to = old_name(&path, &suffix);
            if let Err(e) = rename_noreplace(&path, &to) {
                let err = io_err("cannot back up to", &to, &e);
                return Err(placed.undo_after(err));
            }
            note_dir(&path);
            placed.moves.push(Move::Retired { from: path, to });
        }
        for f in self.files {
            note_dir(&f.dest);
            match place(f.tmp, &f.dest, &f.existing) {
                Ok(m) => placed.moves.push(m),
                Err(u) => {
                    let mut after = placed.undo_after(u.error);
                    after.undone &= u.undone;
                    return Err(after);
                }
            }
            crash_point("partial");
        }
        if sync {
            for d in &dirs {
                if let Err(e) = sync_dir(d) {
                    return Err(placed.undo_after(e));
                }
            }
        }
        Ok(placed)
    }
}

/// A failed [`Staged::try_place`] or [`Placed::try_settle`]: the error, and
/// whether every file went back to where it was (`undone`). When not, the
/// caller must leave its ledger reservation pending so `doctor --repair`
/// has it to go on.
#[derive(Debug)]
pub struct Unsettled {
    pub error: Error,
    pub undone: bool,
}

impl From<Error> for Unsettled {
    /// A failure before anything was placed: nothing to put back.
    fn from(error: Error) -> Self {
        Unsettled {
            error,
            undone: true,
        }
    }
}

impl Placed {
    /// The destinations written, in the order they were staged.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.moves
            .iter()
            .filter_map(|m| match m {
                Move::Wrote { dest, .. } => Some(dest.clone()),
                Move::Retired { .. } => None,
            })
            .collect()
    }

    /// Keeps the new files: drops the transient copies of replaced files
    /// (the `*.old-*` backups stay). The write has taken effect by now, so a
    /// copy that cannot be removed is a warning, not a failure (`doctor`
    /// finds it later).
    pub fn keep(self) {
        for m in &self.moves {
            if let Move::Wrote {
                backup: Backup::Transient(b),
                ..
            } = m
                && let Err(e) = fail_point("keep")
                    .and_then(|()| fs::remove_file(b).map_err(|e| io_err("cannot remove", b, &e)))
            {
                crate::error::diagnostic(
                    "warning: ",
                    &format!("{e}; run `certsmith doctor --repair` to tidy up"),
                );
            }
        }
    }

    /// Takes every move back, last first: new files are removed and each
    /// backup is renamed to where it came from. Reports the first step that
    /// could not be undone (with a hint to `doctor --repair`).
    pub fn undo(self) -> Result<()> {
        let mut first: Option<Error> = None;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for m in self.moves.into_iter().rev() {
            if let Err(e) = fail_point("undo") {
                first.get_or_insert(e);
                continue;
            }
            let (dest, step) = match m {
                Move::Wrote { dest, backup } => {
                    let step = match backup {
                        Backup::None => fs::remove_file(&dest),
                        Backup::Kept(b) | Backup::Transient(b) => fs::rename(&b, &dest),
                    };
                    (dest, step)
                }
                Move::Retired { from, to } => {
                    let step = fs::rename(&to, &from);
                    (from, step)
                }
            };
            if let Err(e) = step {
                first.get_or_insert_with(|| io_err("cannot restore", &dest, &e));
            }
            if let Some(d) = dest.parent()
                && !dirs.iter().any(|x| x == d)
            {
                dirs.push(d.to_path_buf());
            }
        }
        for d in &dirs {
            if let Err(e) = sync_dir(d) {
                first.get_or_insert(e);
            }
        }
        match first {
            None => Ok(()),
            Some(e) => Err(e.hint("run `certsmith doctor --repair`")),
        }
    }

    /// Settles the placed files by the outcome of the step that depends on
    /// them (a ledger update): kept when it succeeded, put back when it
    /// failed. Returns the destinations, or the step's error (with an undo
    /// failure added to it).
    pub fn settle(self, outcome: Result<()>) -> Result<Vec<PathBuf>> {
        self.try_settle(outcome).map_err(|u| u.error)
    }

    /// Like [`Placed::settle`], but says whether a failure was fully undone.
    pub fn try_settle(self, outcome: Result<()>) -> std::result::Result<Vec<PathBuf>, Unsettled> {
        match outcome {
            Ok(()) => {
                let paths = self.paths();
                self.keep();
                Ok(paths)
            }
            Err(e) => Err(self.undo_after(e)),
        }
    }

    /// Undoes after `cause`, returning `cause` (with the undo's failure
    /// added to it if the undo failed too).
    fn undo_after(self, cause: Error) -> Unsettled {
        match self.undo() {
            Ok(()) => Unsettled {
                error: cause,
                undone: true,
            },
            Err(u) => Unsettled {
                error: also(cause, &u),
                undone: false,
            },
        }
    }
}

/// `cause`, with a second failure that happened while cleaning up after it
/// appended to its message (one line) and that failure's hint.
pub fn also(cause: Error, cleanup: &Error) -> Error {
    cause.also(cleanup.clone())
}

/// Names of the hidden hard links that keep a replaced file until its
/// replacement is kept: `.certsmith-prev-<file>.<random>`. `doctor` puts such
/// a copy back when its file is missing and never deletes a key's copy.
pub const PREVIOUS_PREFIX: &str = ".certsmith-prev-";

fn previous_prefix(dest: &Path) -> String {
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    format!("{PREVIOUS_PREFIX}{name}.")
}

/// The file a `.certsmith-prev-<file>.<random>` copy was taken from.
pub fn previous_of(copy: &Path) -> Option<PathBuf> {
    let name = copy.file_name()?.to_str()?;
    let (file, _) = name.strip_prefix(PREVIOUS_PREFIX)?.rsplit_once('.')?;
    (!file.is_empty()).then(|| copy.with_file_name(file))
}

/// Renames `from` to `to` unless `to` exists (renameat2 `RENAME_NOREPLACE`):
/// a backup or a restored file never silently replaces another.
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(std::io::Error::from)
}

/// `<path>.old-<suffix>`.
fn old_name(path: &Path, suffix: &str) -> PathBuf {
    let mut old = path.as_os_str().to_owned();
    old.push(format!(".old-{suffix}"));
    PathBuf::from(old)
}

impl Staged {
    /// fsyncs every staged file, concurrently: the filesystem journal then
    /// commits them together instead of once per file (a `certsmith issue`
    /// writes four files; each serial fsync costs one journal commit).
    fn sync_files(&self) -> Result<()> {
        if !syncing() {
            return Ok(());
        }
        let mut extra: Vec<File> = Vec::new();
        if let Some(ledger) = &self.one_flush {
            for d in &self.unsynced_dirs {
                extra.push(File::open(d).map_err(|e| io_err("cannot flush directory", d, &e))?);
            }
            extra.push(ledger_log(ledger)?);
        }
        if !extra.is_empty() {
            return sync_together(
                self.files
                    .iter()
                    .map(|f| (f.tmp.as_file(), f.tmp.path()))
                    .chain(extra.iter().map(|f| (f, Path::new("the ledger")))),
            );
        }
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

/// The ledger's write-ahead log (`<ledger>-wal`), or the ledger itself when
/// it has none, opened for fsync.
fn ledger_log(ledger: &Path) -> Result<File> {
    let mut wal = ledger.as_os_str().to_owned();
    wal.push("-wal");
    match File::open(&wal) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            File::open(ledger).map_err(|e| io_err("cannot flush", ledger, &e))
        }
        Err(e) => Err(io_err("cannot flush", Path::new(&wal), &e)),
    }
}

/// fsyncs every file of `files` in its own thread, all at once: the
/// filesystem journal then commits them together. Reports the first
/// failure, naming its path.
fn sync_together<'a>(files: impl Iterator<Item = (&'a File, &'a Path)>) -> Result<()> {
    let files: Vec<_> = files.collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = files
            .iter()
            .map(|(f, p)| s.spawn(move || f.sync_all().map_err(|e| io_err("cannot write", p, &e))))
            .collect();
        let mut first = None;
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(Error::failed("a file flush thread panicked")));
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    })
}

/// Renames one temporary file to `dest`, keeping what was there as the
/// `existing` rule says, and returns the move for [`Placed`].
fn place(
    tmp: tempfile::NamedTempFile,
    dest: &Path,
    existing: &Existing,
) -> std::result::Result<Move, Unsettled> {
    let backup = match existing {
        Existing::Refuse => {
            tmp.persist_noclobber(dest)
                .map_err(|e| io_err("cannot write", dest, &e.error))?;
            Backup::None
        }
        Existing::Backup(suffix) => {
            let mut backup = Backup::None;
            if fs::symlink_metadata(dest).is_ok() {
                let old = old_name(dest, suffix);
                rename_noreplace(dest, &old).map_err(|e| io_err("cannot back up to", &old, &e))?;
                backup = Backup::Kept(old);
                crash_point("backed-up");
            }
            persist(tmp, dest, backup)?
        }
        Existing::Replace => {
            // A hard link keeps the old file reachable for `undo` while the
            // rename below still replaces it atomically (no moment without it).
            let mut backup = Backup::None;
            if fs::symlink_metadata(dest).is_ok_and(|m| m.is_file()) {
                let dir = dest.parent().unwrap_or(Path::new("."));
                let prefix = previous_prefix(dest);
                let link = tempfile::Builder::new()
                    .prefix(&prefix)
                    .make_in(dir, |p| fs::hard_link(dest, p))
                    .map_err(|e| io_err("cannot back up", dest, &e))?;
                let (_, link) = link
                    .keep()
                    .map_err(|e| io_err("cannot back up", dest, &e.error))?;
                backup = Backup::Transient(link);
            }
            persist(tmp, dest, backup)?
        }
    };
    Ok(Move::Wrote {
        dest: dest.to_path_buf(),
        backup,
    })
}

/// Renames `tmp` to `dest`. On failure the backup goes back: a kept one to
/// `dest` (if that fails too, both are said and the write is not undone), a
/// transient link is removed (a link left over is said too).
fn persist(
    tmp: tempfile::NamedTempFile,
    dest: &Path,
    backup: Backup,
) -> std::result::Result<Backup, Unsettled> {
    let err = match fail_point("persist") {
        Ok(()) => match tmp.persist(dest) {
            Ok(_) => return Ok(backup),
            Err(e) => io_err("cannot write", dest, &e.error),
        },
        Err(e) => Error::failed(format!("cannot write '{}': {e}", dest.display())),
    };
    let (cleanup, undone) = match &backup {
        Backup::None => (Ok(()), true),
        Backup::Kept(old) => (
            fail_point("restore-backup")
                .map_err(|e| Error::failed(format!("cannot restore '{}': {e}", dest.display())))
                .and_then(|()| {
                    fs::rename(old, dest).map_err(|e| io_err("cannot restore", dest, &e))
                }),
            false,
        ),
        Backup::Transient(link) => (
            fs::remove_file(link).map_err(|e| io_err("cannot remove", link, &e)),
            true,
        ),
    };
    Err(match cleanup {
        Ok(()) => Unsettled {
            error: err,
            undone: true,
        },
        Err(c) => Unsettled {
            error: also(err, &c.hint("run `certsmith doctor --repair`")),
            undone,
        },
    })
}

/// Environment variable naming a crash point, for crash-safety tests
/// (test builds only: the `test-hooks` feature).
#[cfg(feature = "test-hooks")]
pub const CRASH_ENV: &str = "CERTSMITH_TEST_CRASH_AT";

/// Environment variable naming a failure point (`point` or `point@N` for
/// the Nth time the point is reached), for rollback tests (test builds only).
#[cfg(feature = "test-hooks")]
pub const FAIL_ENV: &str = "CERTSMITH_TEST_FAIL_AT";

/// Test hook: when `$CERTSMITH_TEST_CRASH_AT` names `point` (or `point@N`
/// and this is the Nth time it is reached in this process), the process
/// aborts right here, running no destructor, as a `kill -9` would. The
/// crash tests use it to stop a write at each step (`reserved`, `staged`,
/// `backed-up`, `partial` after each file placed, `committed`,
/// `batch-written`) and prove `doctor --repair` settles every one. Compiled
/// out of ordinary builds.
pub fn crash_point(point: &str) {
    #[cfg(feature = "test-hooks")]
    if hook_hit(CRASH_ENV, point) {
        std::process::abort();
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = point;
}

/// Test hook: when `$CERTSMITH_TEST_FAIL_AT` names `point` (or `point@N`
/// and this is the Nth time it is reached in this process), returns the
/// error a full disk would give, so tests exercise the rollback that follows
/// a failure at that step. Compiled out of ordinary builds (always `Ok`).
pub fn fail_point(point: &str) -> Result<()> {
    #[cfg(feature = "test-hooks")]
    if hook_hit(FAIL_ENV, point) {
        return Err(Error::failed(format!(
            "no space left on device (test failure point '{point}')"
        )));
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = point;
    Ok(())
}

/// Whether the hook variable `var` (`point` or `point@N`) fires at this
/// pass through `point`: counts the passes per variable and point.
#[cfg(feature = "test-hooks")]
fn hook_hit(var: &str, point: &str) -> bool {
    use std::sync::Mutex;
    static HITS: Mutex<Vec<(String, String, u64)>> = Mutex::new(Vec::new());
    let Some(want) = std::env::var_os(var) else {
        return false;
    };
    // One or more `point[@N]`, comma-separated.
    let wants: Vec<(String, u64)> = want
        .to_string_lossy()
        .split(',')
        .map(|w| match w.split_once('@') {
            Some((n, k)) => (n.to_string(), k.parse::<u64>().unwrap_or(1)),
            None => (w.to_string(), 1),
        })
        .filter(|(n, _)| n == point)
        .collect();
    let Some(&(_, nth)) = wants.first() else {
        return false;
    };
    let mut hits = HITS.lock().unwrap_or_else(|e| e.into_inner());
    let count = match hits.iter_mut().find(|(v, p, _)| v == var && p == point) {
        Some((_, _, c)) => {
            *c += 1;
            *c
        }
        None => {
            hits.push((var.to_string(), point.to_string(), 1));
            1
        }
    };
    count == nth
}

/// Environment variable naming a pause point as `point:FIFO` (test builds only).
#[cfg(feature = "test-hooks")]
pub const PAUSE_ENV: &str = "CERTSMITH_TEST_PAUSE_AT";

/// Test hook: when `$CERTSMITH_TEST_PAUSE_AT` is `point:FIFO`, says
/// `test hook: paused at <point>` on stderr and waits until a test opens
/// and closes FIFO for writing, so a test can run another process exactly
/// while this one is at `point`. Compiled out of ordinary builds.
pub fn pause_point(point: &str) {
    #[cfg(feature = "test-hooks")]
    if let Some(v) = std::env::var_os(PAUSE_ENV)
        && let Some((p, fifo)) = v.to_string_lossy().split_once(':')
        && p == point
    {
        crate::error::diagnostic("test hook: ", &format!("paused at {point}"));
        let _ = fs::read(fifo);
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = point;
}

/// fsyncs a directory so a rename in it survives a crash; a failure is an
/// error (the rename may not be durable).
pub fn sync_dir(dir: &Path) -> Result<()> {
    if !syncing() {
        return Ok(());
    }
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err("cannot flush directory", dir, &e))
}

/// A new directory written as a whole: its files go into a private
/// temporary directory beside `dest`, which is then renamed to `dest` in
/// one step that never replaces anything (renameat2 `RENAME_NOREPLACE`).
/// Cheaper than [`Staged`] for many small directories (batch issuance):
/// no per-file rename and no symlink walk per file. Nothing is fsynced: call
/// [`ChunkFlush::flush`] before relying on it (or use [`StagedDir::synced`]).
pub struct StagedDir {
    tmp: tempfile::TempDir,
    dest: PathBuf,
    /// fsync each file and the directory itself before the rename.
    sync: bool,
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
            sync: false,
        })
    }

    /// fsyncs every file as it is written and the directory before it is
    /// renamed into place (where no filesystem flush can be trusted).
    pub fn synced(self, sync: bool) -> StagedDir {
        StagedDir {
            sync: sync && syncing(),
            ..self
        }
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
        if self.sync {
            f.sync_all()
                .map_err(|e| io_err("cannot write", &path, &e))?;
        }
        Ok(())
    }

    /// Hard-links the existing file `source` in as file `name` (it keeps
    /// `source`'s mode). `false`, with nothing done, when the filesystem
    /// refuses (another filesystem, too many links): write a copy instead.
    pub fn link(&self, name: &str, source: &Path) -> bool {
        fs::hard_link(source, self.tmp.path().join(name)).is_ok()
    }

    /// Renames the directory into place. `Ok(false)`, with nothing written,
    /// when `dest` already exists (or the filesystem cannot rename without
    /// replacing): the caller then writes file by file with [`Staged`].
    pub fn commit(self) -> Result<bool> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if self.sync {
            sync_dir(self.tmp.path())?;
        }
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

static NO_SYNC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--no-sync`: from now on this process skips every fsync (files,
/// directories, filesystem flushes). Only for throwaway PKIs; see
/// [`crate::durability`], which decides when it is allowed.
pub fn skip_syncs() {
    NO_SYNC.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Whether this process still fsyncs (false after [`skip_syncs`]).
pub fn syncing() -> bool {
    !NO_SYNC.load(std::sync::atomic::Ordering::Relaxed)
}

/// How a batch makes a chunk of new directories durable, decided once
/// before the first one is written. `syncfs` (one call for the chunk) only
/// where it is known to report a writeback error: a local filesystem
/// (ext4, xfs, btrfs, tmpfs) and a Linux kernel >= 5.8, which reports
/// errors since the descriptor was opened (so it is opened here, before
/// anything is staged). Elsewhere (FUSE, network filesystems, overlays)
/// every file and directory is fsynced instead.
pub enum ChunkFlush {
    /// One syncfs per chunk on this descriptor of the output directory.
    Syncfs(File),
    /// Each file and new directory fsynced as it is written; the output
    /// directory (holding the renames) fsynced per chunk.
    Fsyncs(PathBuf),
}

/// Filesystems whose syncfs flushes their own disk and reports errors.
const SYNCFS_LOCAL: [u64; 4] = [
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
];

/// Whether a filesystem of statfs type `f_type` may be flushed with syncfs.
pub fn syncfs_is_trusted(f_type: u64) -> bool {
    SYNCFS_LOCAL.contains(&f_type)
}

impl ChunkFlush {
    /// Decides for the output directory `dir` (which exists).
    pub fn open(dir: &Path) -> Result<ChunkFlush> {
        let f = File::open(dir).map_err(|e| io_err("cannot open", dir, &e))?;
        let trusted = rustix::fs::fstatfs(&f).is_ok_and(|st| syncfs_is_trusted(st.f_type as u64));
        Ok(match trusted {
            true => ChunkFlush::Syncfs(f),
            false => ChunkFlush::Fsyncs(dir.to_path_buf()),
        })
    }

    /// Whether each file must be fsynced as it is written.
    pub fn per_file(&self) -> bool {
        matches!(self, ChunkFlush::Fsyncs(_))
    }

    /// Makes everything written since the last call durable.
    pub fn flush(&self) -> Result<()> {
        if !syncing() {
            return Ok(());
        }
        match self {
            ChunkFlush::Fsyncs(dir) => sync_dir(dir),
            ChunkFlush::Syncfs(f) => rustix::fs::syncfs(f).map_err(|e| {
                if e == rustix::io::Errno::NOSPC {
                    return no_space(Path::new("the output directory"));
                }
                Error::failed(format!(
                    "cannot flush the output directory to disk: {}",
                    std::io::Error::from(e).to_string().to_lowercase()
                ))
            }),
        }
    }
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
    fn syncfs_is_trusted_only_on_known_local_filesystems() {
        for local in [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994] {
            assert!(syncfs_is_trusted(local), "{local:#x}");
        }
        // FUSE, NFS, overlayfs, CIFS: syncfs may not reach the disk or report.
        for other in [0x6573_5546, 0x6969, 0x794C_7630, 0xFF53_4D42] {
            assert!(!syncfs_is_trusted(other), "{other:#x}");
        }
    }

    #[test]
    fn chunk_flush_of_a_local_directory_holds_its_descriptor_from_the_start() {
        let d = tempfile::tempdir().unwrap();
        let f = ChunkFlush::open(d.path()).unwrap();
        let local =
            rustix::fs::statfs(d.path()).is_ok_and(|st| syncfs_is_trusted(st.f_type as u64));
        assert_eq!(matches!(f, ChunkFlush::Syncfs(_)), local);
        assert_eq!(f.per_file(), !local);
        f.flush().unwrap();
    }

    #[test]
    fn enospc_is_said_as_no_space_left_with_the_path() {
        let e = io_err(
            "cannot write",
            Path::new("pki/certs/a/key.pem"),
            &std::io::Error::from_raw_os_error(28),
        );
        assert_eq!(
            e,
            Error::NoSpace {
                path: "pki/certs/a/key.pem".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "no space left on device (pki/certs/a/key.pem)"
        );
        assert_eq!((e.code(), e.exit_code()), ("no_space", 1));
    }

    #[test]
    fn staged_files_are_refused_over_existing_and_leave_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("a/b.pem");
        write_file(d.path(), &p, b"one", PUBLIC_MODE, Existing::Refuse).unwrap();
        let err = write_file(d.path(), &p, b"two", PUBLIC_MODE, Existing::Refuse).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
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
        assert!(err.to_string().contains("symlink"), "{err}");
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn sync_dir_reports_a_directory_it_cannot_flush() {
        let d = tempfile::tempdir().unwrap();
        assert!(sync_dir(d.path()).is_ok());
        let err = sync_dir(&d.path().join("gone")).unwrap_err();
        assert!(
            err.to_string().starts_with("cannot flush directory"),
            "{err}"
        );
    }

    #[test]
    fn undo_puts_back_every_replaced_backed_up_and_retired_file() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        for (n, b) in [
            ("crl.pem", "old crl"),
            ("cert.pem", "old cert"),
            ("key.pem", "old key"),
        ] {
            fs::write(p(n), b).unwrap();
        }
        let mut s = Staged::new(d.path());
        s.add(&p("crl.pem"), b"new crl", PUBLIC_MODE, Existing::Replace)
            .unwrap();
        s.add(
            &p("cert.pem"),
            b"new cert",
            PUBLIC_MODE,
            Existing::Backup("ab".into()),
        )
        .unwrap();
        s.add(&p("new.pem"), b"new", PUBLIC_MODE, Existing::Refuse)
            .unwrap();
        s.retire(&p("key.pem"), "ab").unwrap();
        let placed = s.place().unwrap();
        assert_eq!(fs::read(p("crl.pem")).unwrap(), b"new crl");
        assert!(!p("key.pem").exists());
        placed.undo().unwrap();
        let mut names: Vec<_> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["cert.pem", "crl.pem", "key.pem"]);
        assert_eq!(fs::read(p("crl.pem")).unwrap(), b"old crl");
        assert_eq!(fs::read(p("cert.pem")).unwrap(), b"old cert");
        assert_eq!(fs::read(p("key.pem")).unwrap(), b"old key");
    }

    #[test]
    fn a_failure_part_way_puts_back_the_files_already_replaced() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        fs::write(p("crl.pem"), "old").unwrap();
        fs::create_dir(p("crl.der")).unwrap();
        let mut s = Staged::new(d.path());
        s.add(&p("crl.pem"), b"new", PUBLIC_MODE, Existing::Replace)
            .unwrap();
        s.add(&p("crl.der"), b"new", PUBLIC_MODE, Existing::Replace)
            .unwrap();
        assert!(s.commit().is_err());
        assert_eq!(fs::read(p("crl.pem")).unwrap(), b"old");
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            2,
            "no temp or backup left"
        );
    }

    #[test]
    fn commit_keeps_backups_but_no_transient_copy() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        fs::write(p("crl.pem"), "old").unwrap();
        write_file(
            d.path(),
            &p("crl.pem"),
            b"new",
            PUBLIC_MODE,
            Existing::Replace,
        )
        .unwrap();
        assert_eq!(fs::read(p("crl.pem")).unwrap(), b"new");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
