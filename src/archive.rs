//! Batch output as one streamed tar archive (`batch --archive FILE.tar` or
//! `--archive -` for stdout): every device's files under `<name>/`, key
//! entries 0600, written by one thread as the workers hand them over, and
//! made durable before the ledger records them.
//!
//! Durability: a file archive is created 0600 without replacing anything
//! (its directory fsynced), and [`Archive::make_durable`] flushes and
//! fsyncs it; the batch calls it before it marks a chunk `active`. On
//! stdout there is no file to fsync: the chunk is recorded once its bytes
//! were written and flushed into the pipe, which proves the reader was
//! handed them, not that it kept them (see docs/batch.md).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, shown};
use crate::store;

/// Ledger directories of certificates issued into an archive start with
/// this: they have no files in the PKI, and `doctor` expects none.
pub const LEDGER_PREFIX: &str = "archive:";

/// Whether a ledger directory names an archive rather than a directory.
pub fn is_archived(ledger_dir: &str) -> bool {
    ledger_dir.starts_with(LEDGER_PREFIX)
}

/// Where the archive goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Stdout,
}

impl Target {
    /// `-` is stdout; anything else a file path.
    pub fn parse(arg: &Path) -> Target {
        if arg == Path::new("-") {
            Target::Stdout
        } else {
            Target::File(arg.to_path_buf())
        }
    }

    /// What the ledger records as the directory of a certificate in it.
    pub fn ledger_dir(&self) -> String {
        match self {
            Target::File(p) => format!("{LEDGER_PREFIX}{}", p.display()),
            Target::Stdout => format!("{LEDGER_PREFIX}-"),
        }
    }

    /// Refuses an archive file that already exists (checked before any key
    /// is made; the create itself refuses again, race-free).
    pub fn check(&self) -> Result<()> {
        match self {
            Target::File(p) if std::fs::symlink_metadata(p).is_ok() => Err(exists(p)),
            Target::Stdout if stdout_kind() == StdoutKind::Terminal => Err(Error::input(
                "--archive - would write the archive, private keys included, to the terminal",
            )
            .hint("redirect stdout to a pipe or a file (`certsmith batch … --archive - > line-7.tar`), or pass --archive FILE")),
            _ => Ok(()),
        }
    }

    /// Where a file archive goes, by its absolute path: its directory must
    /// exist (checked in the check phase, `--dry-run` too) and lie outside
    /// the PKI directory `pki_root` entirely (an archive there would sit
    /// among files certsmith owns and could take a certificate's name).
    pub fn resolve(path: &Path, pki_root: &Path) -> Result<PathBuf> {
        let shown_path = shown(&path.display().to_string());
        let parent = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = std::fs::canonicalize(parent);
        // Without the directory, the path as written, made absolute.
        let abs = match (&dir, path.file_name()) {
            (Ok(d), Some(file)) => d.join(file),
            _ => std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        };
        let root = std::fs::canonicalize(pki_root).unwrap_or_else(|_| pki_root.to_path_buf());
        let lexical_root = std::path::absolute(pki_root).unwrap_or_else(|_| pki_root.to_path_buf());
        if abs.starts_with(&root) || abs.starts_with(&lexical_root) {
            return Err(Error::input(format!(
                "--archive '{shown_path}' is inside the PKI directory '{}'; certsmith writes archives only outside it",
                shown(&root.display().to_string())
            ))
            .hint("choose a path outside the PKI directory (the archive holds private keys: a directory only you can read)"));
        }
        if dir.is_err() || path.file_name().is_none() {
            return Err(Error::input(format!(
                "--archive '{shown_path}': directory '{}' does not exist",
                shown(&parent.display().to_string())
            ))
            .hint("create the directory first, or choose a path in an existing one"));
        }
        Ok(abs)
    }
}

/// What this process's stdout is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdoutKind {
    Terminal,
    /// A regular file (`> file`): `shared` when group or others may read it.
    File {
        shared: bool,
    },
    /// A pipe, socket or device other than a terminal.
    Other,
}

/// What stdout is (fstat of descriptor 1).
pub fn stdout_kind() -> StdoutKind {
    use std::io::IsTerminal;
    use std::os::fd::AsFd;
    let out = std::io::stdout();
    if out.is_terminal() {
        return StdoutKind::Terminal;
    }
    match rustix::fs::fstat(out.as_fd()) {
        Ok(st)
            if rustix::fs::FileType::from_raw_mode(st.st_mode)
                == rustix::fs::FileType::RegularFile =>
        {
            StdoutKind::File {
                shared: st.st_mode & 0o077 != 0,
            }
        }
        _ => StdoutKind::Other,
    }
}

/// The warning for `--archive -` into a file that others may read.
pub fn stdout_warning() -> Option<&'static str> {
    (stdout_kind() == StdoutKind::File { shared: true }).then_some(
        "warning: stdout is a file that group or others may read, and the archive holds private keys: chmod 600 it (or use --archive FILE, created 0600)",
    )
}

fn exists(p: &Path) -> Error {
    Error::input(format!(
        "archive '{}' already exists; certsmith never overwrites one",
        shown(&p.display().to_string())
    ))
    .hint(
        "choose a new file name (a rerun with --skip-existing writes the rest into a new archive)",
    )
}

/// One file of a device's entry.
pub struct Entry<'a> {
    pub name: &'a str,
    pub bytes: &'a [u8],
    pub mode: u32,
}

enum Sink {
    File(File),
    /// Stdout; `true` when it is a regular file, fdatasynced per chunk.
    Stdout(std::io::Stdout, bool),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Stdout(s, _) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Stdout(s, _) => s.flush(),
        }
    }
}

/// An archive being written.
pub struct Archive {
    tar: tar::Builder<BufWriter<Sink>>,
    target: Target,
    mtime: u64,
}

impl Archive {
    /// Creates the archive: a new file, mode 0600, its directory entry
    /// fsynced; or stdout. `mtime` stamps every entry.
    pub fn create(target: &Target, mtime: u64) -> Result<Archive> {
        let sink = match target {
            Target::Stdout => Sink::Stdout(
                std::io::stdout(),
                matches!(stdout_kind(), StdoutKind::File { .. }),
            ),
            Target::File(p) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(store::KEY_MODE)
                    .open(p)
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => exists(p),
                        _ => store::io_err("cannot create archive", p, &e),
                    })?;
                let parent = p
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                store::sync_dir(parent)?;
                Sink::File(f)
            }
        };
        let mut tar = tar::Builder::new(BufWriter::with_capacity(256 * 1024, sink));
        tar.mode(tar::HeaderMode::Deterministic);
        Ok(Archive {
            tar,
            target: target.clone(),
            mtime,
        })
    }

    fn err(&self, e: &std::io::Error) -> Error {
        match &self.target {
            Target::File(p) => store::io_err("cannot write archive", p, e),
            Target::Stdout => Error::failed(format!(
                "cannot write the archive to stdout: {}",
                e.to_string().to_lowercase()
            )),
        }
    }

    /// Appends `<name>/` (0700) and its files.
    pub fn add_device(&mut self, name: &str, files: &[Entry<'_>]) -> Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(store::DIR_MODE);
        h.set_size(0);
        h.set_mtime(self.mtime);
        let r = self
            .tar
            .append_data(&mut h, format!("{name}/"), std::io::empty());
        r.map_err(|e| self.err(&e))?;
        for f in files {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(f.mode);
            h.set_size(f.bytes.len() as u64);
            h.set_mtime(self.mtime);
            let r = self
                .tar
                .append_data(&mut h, format!("{name}/{}", f.name), f.bytes);
            r.map_err(|e| self.err(&e))?;
        }
        Ok(())
    }

    /// Everything appended so far reaches the file and the disk (fsync), or
    /// the pipe (flush): only then may the ledger record it.
    pub fn make_durable(&mut self) -> Result<()> {
        let w = self.tar.get_mut();
        let r = w.flush();
        r.map_err(|e| self.err(&e))?;
        if !store::syncing() {
            return Ok(());
        }
        let r = match self.tar.get_mut().get_mut() {
            Sink::File(f) => f.sync_data(),
            Sink::Stdout(s, true) => {
                use std::os::fd::AsFd;
                rustix::fs::fdatasync(s.as_fd()).map_err(std::io::Error::from)
            }
            Sink::Stdout(_, false) => Ok(()),
        };
        r.map_err(|e| self.err(&e))?;
        Ok(())
    }

    /// Ends the archive (two zero blocks) and makes it durable.
    pub fn finish(mut self) -> Result<()> {
        let r = self.tar.finish();
        r.map_err(|e| self.err(&e))?;
        self.make_durable()
    }
}

/// A device as an archive holds it: read by `doctor --repair` to settle
/// the rows of an interrupted `batch --archive`.
#[derive(Debug, Default)]
pub struct Held {
    /// The fingerprint of its `cert.pem`, when that entry is whole.
    pub cert: Option<String>,
    /// The names of its entries read in full.
    pub files: std::collections::HashSet<String>,
    /// Something whole follows it (the next device or the end marker).
    pub closed: bool,
}

impl Held {
    /// Whether the archive holds this device completely with the
    /// certificate `fingerprint`: a key-bearing device needs its four PEM
    /// files; one without key.pem (a CSR or PKCS#12 device) must be closed.
    pub fn complete(&self, fingerprint: &str, has_key: bool) -> bool {
        let pem = [
            crate::layout::CERT,
            crate::layout::CHAIN,
            crate::layout::FULLCHAIN,
        ];
        self.cert.as_deref() == Some(fingerprint)
            && pem.iter().all(|f| self.files.contains(*f))
            && (self.closed || (has_key && self.files.contains(crate::layout::KEY)))
    }
}

/// Every device an archive holds, by name, reading up to the first entry
/// that is cut off (an interrupted batch leaves its archive so).
pub fn held_devices(path: &Path) -> Result<std::collections::HashMap<String, Held>> {
    use std::io::Read;
    let f = File::open(path).map_err(|e| store::io_err("cannot read archive", path, &e))?;
    let len = f
        .metadata()
        .map_err(|e| store::io_err("cannot read archive", path, &e))?
        .len();
    let ended = ends_with_marker(&f, len);
    let mut tar = tar::Archive::new(std::io::BufReader::new(f));
    let mut found: std::collections::HashMap<String, Held> = std::collections::HashMap::new();
    // Entries are skipped by seeking: only a cert.pem is read into memory.
    let Ok(entries) = tar.entries_with_seek() else {
        return Ok(found);
    };
    let mut last: Option<String> = None;
    let mut clean_end = true;
    for e in entries {
        let Ok(mut e) = e else {
            clean_end = false;
            break;
        };
        let Ok(p) = e.path().map(|p| p.to_string_lossy().into_owned()) else {
            clean_end = false;
            break;
        };
        let size = e.header().size().unwrap_or(u64::MAX);
        // Whole when its data ends within the file (a cut-off entry does not).
        let whole = e
            .raw_file_position()
            .checked_add(size)
            .is_some_and(|end| end <= len);
        if !whole {
            clean_end = false;
            break;
        }
        let (device, file) = p.split_once('/').unwrap_or((&p, ""));
        let mut bytes = Vec::new();
        if file == crate::layout::CERT && size <= HELD_CERT_CAP {
            let read = (&mut e).take(HELD_CERT_CAP).read_to_end(&mut bytes);
            if read.is_err() || bytes.len() as u64 != size {
                clean_end = false;
                break;
            }
        }
        if let Some(prev) = last.as_ref().filter(|n| *n != device)
            && let Some(h) = found.get_mut(prev)
        {
            h.closed = true;
        }
        last = Some(device.to_string());
        let held = found.entry(device.to_string()).or_default();
        if file == crate::layout::CERT {
            held.cert = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| crate::certinfo::parse_pem_certs(t, "archive entry").ok())
                .and_then(|c| c.into_iter().next())
                .map(|c| c.fingerprint);
        }
        if !file.is_empty() {
            held.files.insert(file.to_string());
        }
    }
    if clean_end
        && ended
        && let Some(h) = last.and_then(|n| found.get_mut(&n))
    {
        h.closed = true;
    }
    Ok(found)
}

/// The largest `cert.pem` entry `held_devices` reads; a larger one is
/// not taken for a certificate.
const HELD_CERT_CAP: u64 = 64 * 1024;

/// Whether the file ends with tar's end marker (two zero blocks).
fn ends_with_marker(f: &File, len: u64) -> bool {
    use std::os::unix::fs::FileExt;
    if len < 1024 || !len.is_multiple_of(512) {
        return false;
    }
    let mut tail = [0u8; 1024];
    f.read_exact_at(&mut tail, len - 1024).is_ok() && tail.iter().all(|b| *b == 0)
}

/// The archive path of a ledger directory (`archive:<path>`); `None` for
/// stdout or a directory.
pub fn path_of(ledger_dir: &str) -> Option<PathBuf> {
    ledger_dir
        .strip_prefix(LEDGER_PREFIX)
        .filter(|p| *p != "-")
        .map(PathBuf::from)
}
