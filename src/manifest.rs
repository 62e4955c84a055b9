//! Batch manifests: the rows of a `batch` run, read one at a time from a
//! CSV or JSON Lines file or generated from `--count` and `--name-pattern`,
//! so a run never holds the whole manifest in memory.
//!
//! CSV: a header naming the columns (`name` required; `cn`, `san`, `csr`
//! optional, any order), fields optionally in double quotes (`""` inside
//! quotes is a quote), SANs separated by `;`. JSON Lines: one object a
//! line, `{"name": .., "cn": .., "san": [..], "csr": ..}`, all but `name`
//! optional. `csr` is the path of a CSR to sign instead of making a key,
//! relative to the manifest's directory. `--csr-dir DIR`: one row per
//! `*.csr` / `*.pem` file of DIR, named after the file or the CSR's CN.
//! Both: blank lines and lines starting with `#` are skipped, CRLF line
//! ends and a UTF-8 byte-order mark are accepted.

use std::fs::File;
use std::io::{BufReader, Take};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::input;
use crate::names::San;
use crate::pki::validate_name;

/// One certificate to issue, as the manifest states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Line number in the file (1-based), or position for `--count`.
    pub line: u64,
    pub name: String,
    pub cn: Option<String>,
    pub sans: Vec<San>,
    /// A CSR to sign (the device keeps its key), instead of making a key.
    pub csr: Option<PathBuf>,
}

/// A row that cannot be issued, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
    /// Set when the rest of the manifest cannot be read either (a line or
    /// the file past its size cap): the run stops with this error alone.
    pub fatal: Option<Error>,
}

impl RowError {
    /// A row error; input echoed in `reason` is made safe to print.
    pub fn new(line: u64, reason: &str) -> RowError {
        RowError {
            line,
            reason: crate::error::escape_controls(reason),
            fatal: None,
        }
    }

    /// An error that ends the manifest at `line`.
    fn fatal(line: u64, e: Error) -> RowError {
        RowError {
            fatal: Some(e.clone()),
            ..RowError::new(line, &e.to_string())
        }
    }
}

/// The file format of a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// `--name-pattern`: literal text around one `{}` or `{:0N}` placeholder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamePattern {
    prefix: String,
    width: usize,
    suffix: String,
}

impl NamePattern {
    pub fn parse(pattern: &str) -> Result<NamePattern> {
        let bad = || {
            Error::input(format!(
                "name pattern '{pattern}' needs exactly one '{{}}' or '{{:0N}}' placeholder"
            ))
            .hint("for example --name-pattern 'device-{:06}'")
        };
        let open = pattern.find('{').ok_or_else(bad)?;
        let close = open + pattern[open..].find('}').ok_or_else(bad)?;
        let (prefix, spec, suffix) = (
            &pattern[..open],
            &pattern[open + 1..close],
            &pattern[close + 1..],
        );
        if suffix.contains(['{', '}']) || prefix.contains('}') {
            return Err(bad());
        }
        let width = match spec {
            "" => 0,
            s => s
                .strip_prefix(":0")
                .and_then(|w| w.parse::<usize>().ok())
                .filter(|w| *w <= 20)
                .ok_or_else(bad)?,
        };
        let p = NamePattern {
            prefix: prefix.to_string(),
            width,
            suffix: suffix.to_string(),
        };
        validate_name("certificate", &p.name(1))?;
        Ok(p)
    }

    /// The name of certificate number `i`.
    pub fn name(&self, i: u64) -> String {
        format!("{}{:0w$}{}", self.prefix, i, self.suffix, w = self.width)
    }
}

/// Where the rows come from.
#[derive(Clone, Debug)]
pub enum Manifest {
    File {
        path: PathBuf,
        format: Format,
    },
    Count {
        n: u64,
        pattern: NamePattern,
    },
    /// `--csr-dir`: one row per CSR file, with its name or why it has none.
    CsrDir {
        dir: PathBuf,
        files: Vec<(PathBuf, std::result::Result<String, String>)>,
    },
}

/// How `--csr-dir` names each certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameFrom {
    /// The file name without its extension (`unit-0042.csr` → `unit-0042`).
    File,
    /// The CN of the CSR's subject.
    Cn,
}

impl Manifest {
    /// A manifest file; its format comes from the extension (`.csv`,
    /// `.jsonl`, `.ndjson`), else from its first line (`{` means JSON Lines).
    pub fn file(path: &Path) -> Result<Manifest> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match ext.as_deref() {
            Some("csv") => Format::Csv,
            Some("jsonl" | "ndjson") => Format::JsonLines,
            _ => {
                let mut lines = open(path)?;
                let mut first = Vec::new();
                let (mut line, mut total) = (0, 0);
                loop {
                    first.clear();
                    line += 1;
                    let n = input::read_line(&mut lines, &mut first, path, line, &mut total)?;
                    let t = first.trim_ascii();
                    if n == 0 || !(t.is_empty() || t.starts_with(b"#")) {
                        break;
                    }
                }
                if strip_bom(first.trim_ascii()).starts_with(b"{") {
                    Format::JsonLines
                } else {
                    Format::Csv
                }
            }
        };
        Ok(Manifest::File {
            path: path.to_path_buf(),
            format,
        })
    }

    /// `--count N --name-pattern P`: certificates P(1) … P(N).
    pub fn count(n: u64, pattern: &str) -> Result<Manifest> {
        if n == 0 {
            return Err(Error::input("--count must be at least 1"));
        }
        let pattern = NamePattern::parse(pattern)?;
        validate_name("certificate", &pattern.name(n))?;
        Ok(Manifest::Count { n, pattern })
    }

    /// `--csr-dir DIR`: every `*.csr` and `*.pem` file of DIR (sorted), each
    /// a certificate named after the file stem or, with [`NameFrom::Cn`],
    /// the CSR's CN (read here; a CSR without one is a bad row).
    pub fn csr_dir(dir: &Path, name_from: NameFrom) -> Result<Manifest> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| crate::store::io_err("cannot read the CSR directory", dir, &e))?;
        let mut paths: Vec<PathBuf> = Vec::new();
        for e in entries {
            let e =
                e.map_err(|e| crate::store::io_err("cannot read the CSR directory", dir, &e))?;
            let p = e.path();
            let ext = p
                .extension()
                .and_then(|x| x.to_str())
                .map(str::to_ascii_lowercase);
            // The entry itself, not what a link points at.
            let kind = e.file_type();
            let is_link = kind.as_ref().is_ok_and(|t| t.is_symlink());
            if matches!(ext.as_deref(), Some("csr" | "pem"))
                && (is_link || kind.is_ok_and(|t| t.is_file()))
            {
                paths.push(p);
            }
        }
        if paths.is_empty() {
            return Err(Error::input(format!(
                "CSR directory '{}' has no *.csr or *.pem file",
                crate::error::shown(&dir.display().to_string())
            )));
        }
        paths.sort();
        let files = paths
            .into_iter()
            .map(|p| {
                if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                    let why = "is a symbolic link; certsmith does not follow links in --csr-dir (copy the CSR in)";
                    return (p, Err(why.to_string()));
                }
                let name = match name_from {
                    NameFrom::File => p
                        .file_stem()
                        .and_then(|s| s.to_str())
                        .map(str::to_string)
                        .ok_or_else(|| "the file name is not UTF-8".to_string()),
                    NameFrom::Cn => csr_cn(&p),
                };
                let name = name.and_then(|n| {
                    validate_name("certificate", &n).map_err(|e| e.to_string())?;
                    Ok(n)
                });
                (p, name)
            })
            .collect();
        Ok(Manifest::CsrDir {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// Whether two rows can share a name (only a file or a CSR's CN can repeat one).
    pub fn may_repeat_names(&self) -> bool {
        !matches!(self, Manifest::Count { .. })
    }

    /// How a row is referred to in messages: `line 7`, `certificate 7` or the CSR file.
    pub fn row_label(&self, line: u64) -> String {
        match self {
            Manifest::File { path, .. } => format!("{} line {line}", path.display()),
            Manifest::Count { .. } => format!("certificate {line}"),
            Manifest::CsrDir { files, .. } => files
                .get((line as usize).wrapping_sub(1))
                .map(|(p, _)| format!("CSR '{}'", crate::error::shown(&p.display().to_string())))
                .unwrap_or_else(|| format!("CSR {line}")),
        }
    }

    /// Total rows for a progress bar, when known without reading the file.
    pub fn known_len(&self) -> Option<u64> {
        match self {
            Manifest::Count { n, .. } => Some(*n),
            Manifest::CsrDir { files, .. } => Some(files.len() as u64),
            Manifest::File { .. } => None,
        }
    }

    /// The rows, one at a time. A failure to read the file at all is an
    /// `Err` before any row; a bad row is an `Err(RowError)` item.
    pub fn rows(&self) -> Result<Rows> {
        Ok(Rows(match self {
            Manifest::Count { n, pattern } => RowSource::Count {
                next: 1,
                n: *n,
                pattern: pattern.clone(),
            },
            Manifest::CsrDir { files, .. } => RowSource::CsrDir {
                files: files.clone().into_iter(),
                line: 0,
            },
            Manifest::File { path, format } => RowSource::File {
                reader: open(path)?,
                path: path.clone(),
                format: *format,
                line: 0,
                total: 0,
                done: false,
                header: None,
                buf: Vec::new(),
            },
        }))
    }
}

fn open(path: &Path) -> Result<BufReader<Take<File>>> {
    input::capped(path, input::Kind::Manifest).map(|f| BufReader::with_capacity(64 * 1024, f))
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

/// Column positions of a CSV header.
#[derive(Clone, Debug)]
struct Header {
    name: usize,
    cn: Option<usize>,
    san: Option<usize>,
    csr: Option<usize>,
    len: usize,
}

/// Iterator over a manifest's rows.
pub struct Rows(RowSource);

enum RowSource {
    Count {
        next: u64,
        n: u64,
        pattern: NamePattern,
    },
    CsrDir {
        files: std::vec::IntoIter<(PathBuf, std::result::Result<String, String>)>,
        line: u64,
    },
    File {
        reader: BufReader<Take<File>>,
        path: PathBuf,
        format: Format,
        line: u64,
        /// Bytes read so far, for the manifest's size cap.
        total: u64,
        /// Set after an error that ends the file (a size cap).
        done: bool,
        header: Option<Header>,
        buf: Vec<u8>,
    },
}

impl Iterator for Rows {
    type Item = std::result::Result<Row, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            RowSource::Count { next, n, pattern } => {
                if *next > *n {
                    return None;
                }
                let line = *next;
                *next += 1;
                Some(Ok(Row {
                    line,
                    name: pattern.name(line),
                    cn: None,
                    sans: Vec::new(),
                    csr: None,
                }))
            }
            RowSource::CsrDir { files, line } => {
                let (path, name) = files.next()?;
                *line += 1;
                Some(match name {
                    Ok(name) => Ok(Row {
                        line: *line,
                        name,
                        cn: None,
                        sans: Vec::new(),
                        csr: Some(path),
                    }),
                    Err(reason) => Err(RowError::new(*line, &reason)),
                })
            }
            RowSource::File {
                reader,
                path,
                format,
                line,
                total,
                done,
                header,
                buf,
            } => loop {
                if *done {
                    return None;
                }
                buf.clear();
                *line += 1;
                let err = |reason: String| Some(Err(RowError::new(*line, &reason)));
                match input::read_line(reader, buf, path, *line, total) {
                    Ok(0) => {
                        if *format == Format::Csv && header.is_none() {
                            // Reported once, as the line after the (empty) file's end.
                            *header = Some(Header {
                                name: 0,
                                cn: None,
                                san: None,
                                csr: None,
                                len: 1,
                            });
                            return err(format!(
                                "manifest '{}' is empty: expected a CSV header 'name,cn,san'",
                                path.display()
                            ));
                        }
                        return None;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        // Nothing after this point can be read: the rows end here.
                        *done = true;
                        return Some(Err(RowError::fatal(*line, e)));
                    }
                }
                let bytes = if *line == 1 { strip_bom(buf) } else { &buf[..] };
                let text = match std::str::from_utf8(bytes) {
                    Ok(t) => t.trim_end_matches(['\n', '\r']),
                    Err(_) => return err("the line is not valid UTF-8".into()),
                };
                if text.trim().is_empty() || text.trim_start().starts_with('#') {
                    continue;
                }
                let row = match format {
                    Format::JsonLines => json_row(text),
                    Format::Csv => match header {
                        None => match csv_header(text) {
                            Ok(h) => {
                                *header = Some(h);
                                continue;
                            }
                            Err(reason) => {
                                // Later rows cannot be read without a header: stop here.
                                *header = Some(Header {
                                    name: 0,
                                    cn: None,
                                    san: None,
                                    csr: None,
                                    len: 0,
                                });
                                return err(reason);
                            }
                        },
                        Some(h) if h.len == 0 => return None,
                        Some(h) => csv_row(h, text),
                    },
                };
                return Some(
                    row.map(|(name, cn, sans, csr)| Row {
                        line: *line,
                        name,
                        cn,
                        sans,
                        // Relative to the manifest's own directory.
                        csr: csr.map(|c| path.parent().unwrap_or(Path::new("")).join(c)),
                    })
                    .map_err(|reason| RowError::new(*line, &reason)),
                );
            },
        }
    }
}

type Fields = (String, Option<String>, Vec<San>, Option<PathBuf>);

fn csv_header(text: &str) -> std::result::Result<Header, String> {
    let cols = csv_fields(text)?;
    let mut h = Header {
        name: usize::MAX,
        cn: None,
        san: None,
        csr: None,
        len: cols.len(),
    };
    for (i, c) in cols.iter().enumerate() {
        let slot = match c.trim().to_ascii_lowercase().as_str() {
            "name" if h.name == usize::MAX => {
                h.name = i;
                continue;
            }
            "cn" if h.cn.is_none() => &mut h.cn,
            "san" if h.san.is_none() => &mut h.san,
            "csr" if h.csr.is_none() => &mut h.csr,
            _ => {
                return Err(format!(
                    "CSV header column '{c}' is unknown or repeated: expected the header 'name,cn,san'"
                ));
            }
        };
        *slot = Some(i);
    }
    if h.name == usize::MAX {
        return Err(format!(
            "the CSV header '{text}' has no 'name' column: expected 'name,cn,san'"
        ));
    }
    Ok(h)
}

/// Splits one CSV line into fields (RFC 4180 quoting, no line breaks in fields).
fn csv_fields(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, '"') => return Err("a quote inside an unquoted CSV field".into()),
            (false, c) if was_quoted && !c.is_whitespace() => {
                return Err("text after a closing quote in a CSV field".into());
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("an unterminated quoted CSV field (fields cannot span lines)".into());
    }
    out.push(field);
    Ok(out)
}

fn csv_row(h: &Header, text: &str) -> std::result::Result<Fields, String> {
    let f = csv_fields(text)?;
    if f.len() != h.len {
        return Err(format!(
            "expected {} CSV fields as in the header, found {}",
            h.len,
            f.len()
        ));
    }
    let cn = h.cn.map(|i| f[i].trim().to_string());
    let sans: Vec<&str> = h.san.map(|i| f[i].split(';').collect()).unwrap_or_default();
    let csr = h.csr.map(|i| f[i].trim().to_string());
    fields(f[h.name].trim(), cn, sans, csr)
}

fn json_row(text: &str) -> std::result::Result<Fields, String> {
    let Pairs(pairs) = serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut obj = serde_json::Map::new();
    for (k, v) in pairs {
        if obj.contains_key(&k) {
            return Err(format!(
                "the row gives \"{k}\" more than once; which one is meant is unclear"
            ));
        }
        obj.insert(k, v);
    }
    if let Some(k) = obj
        .keys()
        .find(|k| !["name", "cn", "san", "csr"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown field '{k}': expected \"name\", \"cn\", \"san\", \"csr\""
        ));
    }
    let name = obj
        .get("name")
        .and_then(|n| n.as_str())
        .ok_or("\"name\" is missing or not a string")?;
    let cn = match obj.get("cn") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err("\"cn\" is not a string".into()),
    };
    let sans: Vec<&str> = match obj.get("san") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::String(s)) => s.split(';').collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().ok_or("\"san\" must be a list of strings"))
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err("\"san\" must be a list of strings".into()),
    };
    let csr = match obj.get("csr") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err("\"csr\" is not a string".into()),
    };
    fields(name.trim(), cn, sans, csr)
}

/// A JSON object's members in order, duplicates kept (`serde_json::Value`
/// keeps only the last value of a key given twice).
struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Pairs, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Pairs, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Pairs(members))
            }
        }
        d.deserialize_map(Members)
    }
}

fn fields(
    name: &str,
    cn: Option<String>,
    sans: Vec<&str>,
    csr: Option<String>,
) -> std::result::Result<Fields, String> {
    validate_name("certificate", name).map_err(|e| e.to_string())?;
    let cn = cn.filter(|c| !c.is_empty());
    let mut parsed: Vec<San> = Vec::new();
    for s in sans.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let san = San::parse(s).map_err(|e| e.to_string())?;
        if !parsed.contains(&san) {
            parsed.push(san);
        }
    }
    let csr = csr.filter(|c| !c.is_empty()).map(PathBuf::from);
    if let Some(c) = &csr
        && !c
            .components()
            .all(|x| matches!(x, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "csr '{}' must be a path inside the manifest's directory (no absolute path, no '..')",
            crate::error::shown(&c.display().to_string())
        ));
    }
    Ok((name.to_string(), cn, parsed, csr))
}

/// The CN of the CSR in `path`, for `--name-from cn`.
fn csr_cn(path: &Path) -> std::result::Result<String, String> {
    let bytes = crate::input::read(path, crate::input::Kind::Csr).map_err(|e| e.to_string())?;
    let csr = crate::csr::parse(&bytes, &path.display().to_string()).map_err(|e| e.to_string())?;
    let cns = csr
        .subject_text
        .split(',')
        .filter(|a| a.trim_start().to_ascii_uppercase().starts_with("CN="))
        .count();
    if cns > 1 {
        return Err(format!(
            "the CSR has {cns} CNs, so none names the certificate (use --name-from file)"
        ));
    }
    csr.subject
        .as_ref()
        .and_then(|s| s.common_name().map(str::to_string))
        .ok_or_else(|| {
            "the CSR has no CN to name the certificate after (use --name-from file)".into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows_of(name: &str, text: &[u8]) -> Vec<std::result::Result<Row, RowError>> {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        Manifest::file(&p).unwrap().rows().unwrap().collect()
    }

    #[test]
    fn csv_with_crlf_bom_quotes_and_sans_parses() {
        let rows = rows_of(
            "m.csv",
            b"\xEF\xBB\xBFname,cn,san\r\nd1,,dns:a.example;ip:10.0.0.1\r\n\r\n\"d2\",\"Dev, 2\",\r\n",
        );
        assert_eq!(rows.len(), 2, "{rows:?}");
        let r1 = rows[0].as_ref().unwrap();
        assert_eq!(
            (r1.line, r1.name.as_str(), r1.cn.as_deref()),
            (2, "d1", None)
        );
        assert_eq!(r1.sans.len(), 2);
        let r2 = rows[1].as_ref().unwrap();
        assert_eq!((r2.line, r2.cn.as_deref()), (4, Some("Dev, 2")));
    }

    #[test]
    fn bad_rows_carry_their_line_numbers() {
        let rows = rows_of(
            "m.csv",
            b"name,san\nok,\nbad name,\nx,dns:-bad-\n\xff\xfe,\ny,a,b\n",
        );
        let errs: Vec<u64> = rows
            .iter()
            .filter_map(|r| r.as_ref().err().map(|e| e.line))
            .collect();
        assert_eq!(errs, vec![3, 4, 5, 6]);
    }

    #[test]
    fn json_lines_are_detected_and_parsed() {
        let rows = rows_of(
            "m.txt",
            b"{\"name\":\"a\",\"san\":[\"uri:spiffe://x/a\"]}\n{\"name\":\"b\",\"cn\":\"B\"}\n{\"nom\":\"c\"}\n",
        );
        assert!(rows[0].is_ok() && rows[1].is_ok());
        assert!(
            rows[2]
                .as_ref()
                .unwrap_err()
                .reason
                .contains("unknown field 'nom'")
        );
    }

    #[test]
    fn name_pattern_pads_and_rejects_bad_patterns() {
        let p = NamePattern::parse("device-{:06}").unwrap();
        assert_eq!(p.name(42), "device-000042");
        assert_eq!(NamePattern::parse("d{}x").unwrap().name(7), "d7x");
        assert!(NamePattern::parse("device").is_err());
        assert!(NamePattern::parse("a{}{}").is_err());
        assert!(NamePattern::parse("a b{}").is_err());
    }
}
