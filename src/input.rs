//! Reading input files, each with a size cap fitting its kind, checked while
//! reading (`Read::take`), so an endless file (`/dev/zero`) or a huge sparse
//! one is refused at the cap instead of filling memory. Every file certsmith
//! reads goes through [`open`]: it opens without blocking (a FIFO with no
//! writer would otherwise hang `open` forever) and refuses anything but a
//! regular file, except for kinds the user names on the command line and
//! that are read once ([`Kind::accepts_streams`]). Files read whole go
//! through [`read`]; manifests, read a line at a time, through [`capped`]
//! and [`read_line`].

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::store::io_err;

/// What a file is expected to hold, which decides its size cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A certificate signing request (a real one is a few KB).
    Csr,
    /// A certificate, chain or trust bundle (a public trust store is ~250 KB).
    Certificates,
    /// A CRL (a million entries is ~40 MB).
    Crl,
    /// A private key (an RSA-4096 PEM is ~3 KB).
    Key,
    /// A passphrase file.
    Passphrase,
    /// A PKCS#11 PIN file.
    PinFile,
    /// A profile (JSON).
    Profile,
    /// A whole batch manifest, read a line at a time.
    Manifest,
    /// One line of a batch manifest.
    ManifestLine,
    /// A file for `inspect`: any of the above.
    Inspected,
    /// A file of no particular kind.
    Other,
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

impl Kind {
    /// The largest size, in bytes, certsmith reads for this kind.
    pub fn cap(self) -> u64 {
        match self {
            Kind::Csr | Kind::Key | Kind::Profile | Kind::ManifestLine => 64 * KIB,
            Kind::Passphrase | Kind::PinFile => 4 * KIB,
            Kind::Certificates => 4 * MIB,
            Kind::Crl | Kind::Inspected | Kind::Other => 64 * MIB,
            Kind::Manifest => GIB,
        }
    }

    /// Whether a pipe, FIFO or character device (`/dev/stdin`, `<(…)`) is
    /// read for this kind: only for passphrase files, CSRs and files for
    /// `inspect`, which the user names and certsmith reads once. A file in
    /// the PKI directory, a key, a certificate, a CRL and a manifest (read
    /// twice: format, then rows) must be a regular file.
    pub fn accepts_streams(self) -> bool {
        matches!(
            self,
            Kind::Passphrase | Kind::PinFile | Kind::Csr | Kind::Inspected
        )
    }

    /// How the kind is named in errors.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Csr => "a CSR",
            Kind::Certificates => "a certificate file",
            Kind::Crl => "a CRL file",
            Kind::Key => "a key file",
            Kind::Passphrase => "a passphrase file",
            Kind::PinFile => "a PIN file",
            Kind::Profile => "a profile",
            Kind::Manifest => "a manifest",
            Kind::ManifestLine => "a manifest line",
            Kind::Inspected => "a certificate, CSR, CRL or key file",
            Kind::Other => "an input file",
        }
    }
}

/// `64 KiB`, `4 MiB`, `1 GiB`.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// The error for input larger than its kind allows; `what` names the file
/// (and line, for a manifest line).
pub fn too_large(what: &str, kind: Kind) -> Error {
    Error::input(format!(
        "'{}' is larger than {}, the most certsmith reads for {}",
        crate::error::shown(what),
        size_text(kind.cap()),
        kind.name()
    ))
}

/// Opens a file of `kind` for reading, without blocking on a FIFO, and
/// refuses it unless it is a regular file or the kind accepts streams.
pub fn open(path: &Path, kind: Kind) -> Result<File> {
    use rustix::fs::{FileType, OFlags, fcntl_getfl, fcntl_setfl, fstat};
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| io_err("cannot read", path, &e))?;
    let cannot = |e: rustix::io::Errno| io_err("cannot read", path, &e.into());
    let file_type = FileType::from_raw_mode(fstat(&f).map_err(cannot)?.st_mode);
    let stream = matches!(file_type, FileType::Fifo | FileType::CharacterDevice);
    if file_type != FileType::RegularFile && !(stream && kind.accepts_streams()) {
        return Err(Error::input(format!(
            "'{}' is not a regular file; certsmith reads {} only from a regular file",
            crate::error::shown(&path.display().to_string()),
            kind.name()
        )));
    }
    fcntl_setfl(&f, fcntl_getfl(&f).map_err(cannot)? - OFlags::NONBLOCK).map_err(cannot)?;
    Ok(f)
}

/// Reads a whole file of `kind`, refusing it once it passes the kind's cap.
/// The buffer is sized from the file's length up front (so it never regrows,
/// leaving unzeroed copies) and zeroized when dropped on the way (keys,
/// passphrases).
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>> {
    let f = open(path, kind)?;
    // A stream has no length: room for a key or passphrase, at most 64 KiB.
    let len = match f.metadata() {
        Ok(m) if m.is_file() => m.len(),
        _ => 64 * KIB,
    };
    let mut buf = Zeroizing::new(Vec::with_capacity(
        usize::try_from(len.min(kind.cap()) + 1).unwrap_or(0),
    ));
    f.take(kind.cap() + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io_err("cannot read", path, &e))?;
    if buf.len() as u64 > kind.cap() {
        return Err(too_large(&path.display().to_string(), kind));
    }
    Ok(std::mem::take(&mut *buf))
}

/// Reads a whole text file of `kind` (see [`read`]).
pub fn read_to_string(path: &Path, kind: Kind) -> Result<String> {
    let bytes = read(path, kind)?;
    String::from_utf8(bytes).map_err(|e| {
        // The bytes may be a secret: clear them before they are dropped.
        let _ = Zeroizing::new(e.into_bytes());
        Error::input(format!("'{}' is not UTF-8 text", path.display()))
    })
}

/// Opens a file read a line at a time, ending it (as if at end of file)
/// after the cap of `kind` plus one byte; [`read_line`] then reports it.
pub fn capped(path: &Path, kind: Kind) -> Result<std::io::Take<File>> {
    let f = open(path, kind)?;
    Ok(f.take(kind.cap() + 1))
}

/// Reads line `line` (through its `\n`) of a manifest into `buf`, as
/// `BufRead::read_until` does, but refuses a line longer than a manifest
/// line may be, and a manifest longer than a manifest may be (opened with
/// [`capped`]; `total` counts the bytes so far). Returns the bytes read,
/// 0 at the end.
pub fn read_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    path: &Path,
    line: u64,
    total: &mut u64,
) -> Result<usize> {
    let n = reader
        .by_ref()
        .take(Kind::ManifestLine.cap() + 1)
        .read_until(b'\n', buf)
        .map_err(|e| io_err("cannot read", path, &e))?;
    *total += n as u64;
    if *total > Kind::Manifest.cap() {
        return Err(too_large(&path.display().to_string(), Kind::Manifest));
    }
    if n as u64 > Kind::ManifestLine.cap() {
        return Err(Error::input(format!(
            "line {line} of '{}' is larger than {}, the most certsmith reads for {}",
            crate::error::shown(&path.display().to_string()),
            size_text(Kind::ManifestLine.cap()),
            Kind::ManifestLine.name()
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_one_byte_past_the_cap() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pass");
        std::fs::write(&p, vec![b'p'; 4096]).unwrap();
        assert_eq!(read(&p, Kind::Passphrase).unwrap().len(), 4096);
        std::fs::write(&p, vec![b'p'; 4097]).unwrap();
        let e = read(&p, Kind::Passphrase).unwrap_err();
        assert!(e.to_string().contains("larger than 4 KiB"), "{e}");
        let e = read(Path::new("/dev/zero"), Kind::Csr).unwrap_err();
        assert!(
            e.to_string()
                .contains("'/dev/zero' is larger than 64 KiB, the most certsmith reads for a CSR"),
            "{e}"
        );
    }

    #[test]
    fn only_kinds_named_by_the_user_are_read_from_a_stream() {
        let e = read(Path::new("/dev/zero"), Kind::Key).unwrap_err();
        assert!(
            e.to_string().contains(
                "'/dev/zero' is not a regular file; certsmith reads a key file only from a regular file"
            ),
            "{e}"
        );
        let d = tempfile::tempdir().unwrap();
        let e = read(d.path(), Kind::Certificates).unwrap_err();
        assert!(e.to_string().contains("is not a regular file"), "{e}");
    }

    #[test]
    fn a_regular_file_is_read_into_a_buffer_that_never_regrows() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("key");
        std::fs::write(&p, vec![b'k'; 3000]).unwrap();
        let v = read(&p, Kind::Key).unwrap();
        assert_eq!(v.len(), 3000);
        assert_eq!(v.capacity(), 3001);
    }
}
