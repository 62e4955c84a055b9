//! Certificate revocation lists: one per CA, signed with the CA's key, with
//! an increasing CRL number and an AKI equal to the CA's own SKI (or
//! OpenSSL cannot match the CRL to its issuer), written to `cas/<ca>/crl.pem`.
//!
//! CRL numbers never go backwards: one `crl` of a CA at a time holds the
//! CA's CRL lock (an `flock` on `cas/<ca>/`) from reading the number through
//! signing and writing to recording the number in the ledger, and a new
//! CRL is always numbered past both the ledger's number and the number of
//! the `crl.pem` it replaces. A `crl` that fails writes nothing and uses up
//! no number.
//!
//! nextUpdate is the CA's own length (`ca set-crl`, else 180 days for a
//! root and 7 days for an issuing CA), never past the CA's notAfter: it is
//! shortened to it, and the report says so. A revoked certificate leaves
//! the CRL once its notAfter is more than the CA's grace period
//! (`--prune-after`, 30 days) ago and one CRL signed after its notAfter
//! listed it (RFC 5280 §3.3): the ALB trust store's 500,000-entry quota
//! counts every entry ever listed otherwise.

use std::collections::HashSet;
use std::path::PathBuf;

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::ca::Signer;
use crate::crl_settings::CrlSettings;
use crate::error::{Error, Result};
use crate::keys;
use crate::ledger::Ledger;
use crate::pki::Pki;
use crate::store::{self, Existing, PUBLIC_MODE, Staged};
use crate::{clock, revoke, serial};

/// What `write` produced for one CA.
#[derive(Clone, Debug, Serialize)]
pub struct WrittenCrl {
    pub ca: String,
    pub crl_number: i64,
    pub revoked: usize,
    pub this_update: String,
    pub next_update: String,
    /// Set when nextUpdate was shortened to the CA's notAfter.
    pub clamped: bool,
    /// Expired certificates left off past their grace period.
    pub pruned: usize,
    pub files: Vec<PathBuf>,
}

/// A signed CRL before it is written.
pub struct BuiltCrl {
    pub der: Vec<u8>,
    pub crl_number: i64,
    pub revoked: usize,
    pub next_update: OffsetDateTime,
    /// Set when nextUpdate was shortened to the CA's notAfter.
    pub clamped: bool,
    /// Expired certificates left off past their grace period.
    pub pruned: usize,
    /// Serials (lowercase hex) this CRL leaves off that the one it
    /// replaces listed: [`write`] records them, so later CRLs leave them off too.
    pub dropped: Vec<String>,
}

impl BuiltCrl {
    pub fn pem(&self) -> String {
        keys::pem_encode("X509 CRL", &self.der)
    }
}

/// The CRL a new one replaces, as read from `crl.pem` / `crl.der`: its
/// number, its thisUpdate and the serials (normalized) it lists.
#[derive(Clone, Debug, Default)]
pub struct Previous {
    pub number: i64,
    pub this_update: Option<i64>,
    pub listed: HashSet<Vec<u8>>,
}

/// Which revoked certificates a CRL signed at `now` leaves off: those
/// already left off by an earlier CRL, and those whose notAfter is more
/// than the grace period ago that the CRL it replaces lists although its
/// thisUpdate is after their notAfter (RFC 5280 §3.3). What the previous
/// CRL lists decides, not revocation times: a revocation stamped by a
/// clock behind the CRL signer's is still published once.
struct Prune<'a> {
    /// notAfter at or before this: past the grace period.
    expired_before: i64,
    previous: &'a Previous,
    /// Serials (lowercase hex) earlier CRLs left off.
    dropped: HashSet<String>,
}

impl Prune<'_> {
    /// Whether the entry is left off, and whether it is newly so.
    fn drops(&self, hex: &str, serial: &[u8], not_after: i64) -> (bool, bool) {
        // Left off only while the grace period still covers it now: a
        // clock that ran ahead, or a longer grace period, lists it again.
        if self.dropped.contains(hex) && not_after <= self.expired_before {
            return (true, false);
        }
        let newly = not_after <= self.expired_before
            && self.previous.this_update.is_some_and(|t| not_after < t)
            && self.previous.listed.contains(serial);
        (newly, newly)
    }
}

/// The last CRL number the ledger recorded for `ca` and the revoked
/// entries a new CRL covers (with how many `prune` left off), read in one
/// transaction.
#[allow(clippy::type_complexity)]
fn number_and_entries(
    ledger: &mut Ledger,
    ca: &str,
    prune: &Prune,
) -> Result<(i64, Vec<RevokedCertParams>, usize, Vec<String>)> {
    let (number, revoked) = ledger.crl_state(ca)?;
    let mut entries = Vec::new();
    let mut pruned = 0;
    let mut newly = Vec::new();
    for e in revoked {
        let (hex, at, why, not_after) = (e.serial, e.revoked_at, e.reason, e.not_after);
        let bytes = serial::from_hex(&hex).ok_or_else(|| {
            Error::failed(format!("the ledger holds a malformed serial '{hex}'"))
                .hint("run `certsmith doctor`")
        })?;
        let (drop, new) = prune.drops(&hex, serial::normalize(&bytes), not_after);
        if drop {
            pruned += 1;
            if new {
                newly.push(hex);
            }
            continue;
        }
        entries.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&bytes),
            revocation_time: OffsetDateTime::from_unix_timestamp(at)
                .map_err(|_| Error::failed(format!("bad revocation time {at} in the ledger")))?,
            reason_code: Some(revoke::reason_code(why.as_deref())),
            invalidity_date: None,
        });
    }
    Ok((number, entries, pruned, newly))
}

/// Records `built`'s number as the last CRL number of `ca`, `this_update`
/// as when its last CRL was signed and the entries it newly left off, in
/// one transaction; false (and nothing changed) unless the number is
/// higher than the one recorded: another host took it meanwhile.
fn record_number(
    ledger: &mut Ledger,
    ca: &str,
    built: &BuiltCrl,
    this_update: OffsetDateTime,
) -> Result<bool> {
    ledger.in_transaction(|l| {
        if !l.record_crl_number(ca, built.crl_number)? {
            return Ok(false);
        }
        CrlSettings::record_dropped(l, ca, &built.dropped)?;
        CrlSettings::record_signed(l, ca, this_update)?;
        Ok(true)
    })
}

/// How many times `crl` signs a CRL again when another host recorded its
/// number first (a shared ledger: the local CRL lock spans one host only).
const CRL_ATTEMPTS: u32 = 10;

/// The error of a CRL whose number another process recorded first.
fn number_taken(ca: &str, number: i64) -> Error {
    Error::failed(format!(
        "CRL number {number} of CA '{}' was already used",
        crate::error::shown(ca)
    ))
    .hint("another host wrote CRLs of this CA at the same time; run `certsmith crl` again")
}

/// The CRL with the highest number among those in `paths` (crl.pem and
/// crl.der); number 0 and nothing listed when there is none that certsmith
/// can read (it is then replaced like any other); an error for a CRL
/// number too long to count past.
pub fn previous_on_disk(paths: &[PathBuf]) -> Result<Previous> {
    let mut highest = Previous::default();
    for path in paths {
        if !std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let Ok(crls) = read_file(path) else { continue };
        for c in &crls {
            use x509_parser::prelude::FromDer;
            let Ok((_, crl)) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(&c.der)
            else {
                continue;
            };
            let Some(n) = crl.crl_number() else { continue };
            let bytes = n.to_bytes_be();
            let number = (bytes.len() <= 8)
                .then(|| {
                    let mut b = [0u8; 8];
                    b[8 - bytes.len()..].copy_from_slice(&bytes);
                    i64::try_from(u64::from_be_bytes(b)).ok()
                })
                .flatten()
                .ok_or_else(|| {
                    Error::input(format!(
                        "the CRL number of '{}' is too large to follow",
                        crate::error::shown(&path.display().to_string())
                    ))
                    .hint("move the CRL files aside if they were not published by certsmith")
                })?;
            if number > highest.number {
                highest = Previous {
                    number,
                    this_update: Some(c.this_update.unix_timestamp()),
                    listed: c.entries.iter().map(|e| e.serial.clone()).collect(),
                };
            }
        }
    }
    Ok(highest)
}

/// nextUpdate of a CRL of `signer`'s CA signed at `now`: `next_update`,
/// else the CA's setting or default, shortened to the CA's notAfter (the
/// flag says whether it was). An error for a CA past its notAfter.
pub fn next_update_for(
    signer: &Signer,
    settings: &CrlSettings,
    now: OffsetDateTime,
    next_update: Option<Duration>,
) -> Result<(OffsetDateTime, bool)> {
    let ca = &signer.chain[0];
    let length = next_update.unwrap_or_else(|| settings.next_update_or_default(ca.self_signed));
    let next = next_update_at(now, length)?;
    if now >= ca.not_after {
        return Err(Error::input(format!(
            "CA '{}' expired on {}; certsmith signs no CRL whose nextUpdate passes its CA's notAfter",
            signer.name,
            clock::rfc3339(ca.not_after)
        ))
        .hint("peers reject its chain already; bundle without it, or renew the CA"));
    }
    Ok(if next > ca.not_after {
        (ca.not_after, true)
    } else {
        (next, false)
    })
}

/// Signs the next CRL of `signer`'s CA: thisUpdate `now`, nextUpdate
/// after `next_update` (or the CA's own length when `None`, see
/// [`next_update_for`]), without the expired entries past the CA's grace
/// period, numbered past the ledger's last number and past the number of
/// `previous` (the CRL it will replace). Records nothing: [`write`] records
/// the number once the file is written.
pub fn build(
    ledger: &mut Ledger,
    signer: &Signer,
    now: OffsetDateTime,
    next_update: Option<Duration>,
    previous: &Previous,
) -> Result<BuiltCrl> {
    let now = now.to_offset(time::UtcOffset::UTC);
    let settings = CrlSettings::load(ledger, &signer.name)?;
    // A clock behind the last CRL's would publish a CRL older than the one
    // peers hold and decide pruning on a time already passed.
    if let Some(last) = settings.last_this_update
        && now < last
    {
        return Err(Error::input(format!(
            "the clock says {}, before thisUpdate {} of the last CRL of CA '{}'",
            clock::rfc3339(now),
            clock::rfc3339(last),
            signer.name
        ))
        .hint(format!(
            "set the clock right (or sign on the host whose clock signed that CRL) and run `certsmith crl --ca {}` again, no earlier than {}",
            signer.name,
            clock::rfc3339(last)
        )));
    }
    // Checked before the CRL number is read: a refused CRL must not use one up.
    let (next, clamped) = next_update_for(signer, &settings, now, next_update)?;
    let prune = Prune {
        expired_before: now
            .checked_sub(settings.prune_after_or_default())
            .map_or(i64::MIN, |t| t.unix_timestamp()),
        previous,
        dropped: CrlSettings::dropped(ledger, &signer.name)?,
    };
    let (last, revoked_certs, pruned, dropped) = number_and_entries(ledger, &signer.name, &prune)?;
    let number = last.max(previous.number).checked_add(1).ok_or_else(|| {
        Error::failed(format!(
            "the CRL number of CA '{}' is exhausted",
            signer.name
        ))
    })?;
    let revoked = revoked_certs.len();
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: next,
        crl_number: SerialNumber::from_slice(serial::normalize(&number.to_be_bytes())),
        issuing_distribution_point: None,
        revoked_certs,
        // The AKI the CA's certificates carry, or OpenSSL cannot match the CRL to them.
        key_identifier_method: KeyIdMethod::PreSpecified(signer.key_id().to_vec()),
    };
    let crl = params
        .signed_by(signer.issuer())
        .map_err(|e| signer.sign_error("the CRL", e))?;
    Ok(BuiltCrl {
        der: crl.der().to_vec(),
        crl_number: number,
        revoked,
        next_update: next,
        clamped,
        pruned,
        dropped,
    })
}

/// Builds and writes `cas/<ca>/crl.pem` (and `crl.der` with `der`),
/// replacing the previous CRL atomically, then records its number. On any
/// failure the previous files are back and no number is used up.
pub fn write(
    pki: &Pki,
    ledger: &mut Ledger,
    signer: &Signer,
    next_update: Option<Duration>,
    der: bool,
) -> Result<WrittenCrl> {
    // Held from reading the CRL number to recording it: one `crl` per CA at a time.
    let _lock = crate::lock::exclusive(
        &pki.ca_dir(&signer.name),
        &format!("the CRL lock of CA '{}'", signer.name),
    )?;
    let pem_path = pki.crl_path(&signer.name);
    let der_path = pki.ca_dir(&signer.name).join("crl.der");
    let mut attempt = 1;
    let (built, now, files) = loop {
        // Read under the lock: a later-numbered CRL never carries an earlier thisUpdate.
        let now = clock::now()?;
        let previous = previous_on_disk(&[pem_path.clone(), der_path.clone()])?;
        let built = build(ledger, signer, now, next_update, &previous)?;
        store::pause_point("crl-signed");
        let mut staged = Staged::new(&pki.root);
        staged.add(
            &pem_path,
            built.pem().as_bytes(),
            PUBLIC_MODE,
            Existing::Replace,
        )?;
        if der {
            staged.add(&der_path, &built.der, PUBLIC_MODE, Existing::Replace)?;
        }
        let placed = staged.place()?;
        let mut taken = false;
        let recorded = store::fail_point("crl-written")
            .and_then(|()| record_number(ledger, &signer.name, &built, now))
            .and_then(|ok| {
                taken = !ok;
                if ok {
                    Ok(())
                } else {
                    Err(number_taken(&signer.name, built.crl_number))
                }
            });
        match placed.try_settle(recorded) {
            Ok(files) => break (built, now, files),
            // Another host recorded this number first: the previous files
            // are back; read the entries and the number again and re-sign.
            Err(u) if taken && u.undone && attempt < CRL_ATTEMPTS => attempt += 1,
            Err(u) => return Err(u.error),
        }
    };
    Ok(WrittenCrl {
        ca: signer.name.clone(),
        crl_number: built.crl_number,
        revoked: built.revoked,
        this_update: clock::rfc3339(now),
        next_update: clock::rfc3339(built.next_update),
        clamped: built.clamped,
        pruned: built.pruned,
        files,
    })
}

/// A CA's current CRL as [`current`] returns it.
#[derive(Clone, Debug)]
pub struct Current {
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// Set when a new CRL was signed and written (as `crl` does).
    pub written: Option<WrittenCrl>,
}

/// How long before its nextUpdate a CRL is due: a quarter of its own
/// interval, at most 30 days (doctor warns from then on too).
pub fn due_window(this_update: OffsetDateTime, next_update: OffsetDateTime) -> Duration {
    let interval: Duration = next_update - this_update;
    std::cmp::min(interval / 4_i32, Duration::days(30))
}

/// The current CRL of `signer`'s CA, for `certsmith serve`: `cas/<ca>/crl.pem`
/// while it is not due (see [`due_window`]) and lists exactly what a new
/// CRL would (a `revoke` since, or an entry past its grace period, makes
/// it stale); otherwise a new CRL, signed, written and recorded by
/// [`write`] exactly as `crl --ca` would, so CRL numbers and pruning stay
/// right whoever publishes.
pub fn current(pki: &Pki, ledger: &mut Ledger, signer: &Signer) -> Result<Current> {
    let now = clock::now()?;
    let pem_path = pki.crl_path(&signer.name);
    let der_path = pki.ca_dir(&signer.name).join("crl.der");
    if let Ok(on_disk) = read_file(&pem_path)
        && let [crl] = on_disk.as_slice()
        && crl
            .next_update
            .is_some_and(|next| next > now && next - now >= due_window(crl.this_update, next))
    {
        let previous = previous_on_disk(&[pem_path.clone(), der_path.clone()])?;
        let settings = CrlSettings::load(ledger, &signer.name)?;
        let prune = Prune {
            expired_before: now
                .checked_sub(settings.prune_after_or_default())
                .map_or(i64::MIN, |t| t.unix_timestamp()),
            previous: &previous,
            dropped: CrlSettings::dropped(ledger, &signer.name)?,
        };
        let (_, entries, _, _) = number_and_entries(ledger, &signer.name, &prune)?;
        let would: HashSet<Vec<u8>> = entries
            .iter()
            .map(|e| serial::normalize(e.serial_number.as_ref()).to_vec())
            .collect();
        let listed: HashSet<Vec<u8>> = crl.entries.iter().map(|e| e.serial.clone()).collect();
        if previous.number
            == crl
                .number
                .as_deref()
                .and_then(|n| n.parse().ok())
                .unwrap_or(-1)
            && would == listed
        {
            return Ok(Current {
                der: crl.der.clone(),
                written: None,
            });
        }
    }
    let written = write(pki, ledger, signer, None, false)?;
    let der = read_file(&pem_path)?
        .into_iter()
        .next()
        .map(|c| c.der)
        .ok_or_else(|| {
            Error::failed(format!("CA '{}' has no CRL after writing one", signer.name))
        })?;
    Ok(Current {
        der,
        written: Some(written),
    })
}

/// The shortest nextUpdate length `crl` and `ca set-crl` take: a CRL that
/// lapses within minutes turns every verification into a failure as soon
/// as one publication is late.
pub const MIN_NEXT_UPDATE: Duration = Duration::HOUR;

/// Checks a nextUpdate length: at least [`MIN_NEXT_UPDATE`].
pub fn check_next_update(next_update: Duration) -> Result<()> {
    if next_update < MIN_NEXT_UPDATE {
        return Err(Error::input(format!(
            "--next-update '{}' is too short: a CRL must stay valid at least 1 hour",
            crate::validity::length_text(next_update)
        ))
        .hint(NEXT_UPDATE_HINT));
    }
    Ok(())
}

const NEXT_UPDATE_HINT: &str =
    "write how long each CRL stays valid, at least 1h, such as 7d or 12h";
const PRUNE_AFTER_HINT: &str =
    "write how long a revoked certificate stays on the CRL after its notAfter, such as 30d";

/// nextUpdate of a CRL signed at `now`: a length of at least an hour that keeps it within year 9999.
pub fn next_update_at(now: OffsetDateTime, next_update: Duration) -> Result<OffsetDateTime> {
    check_next_update(next_update)?;
    let what = format!(
        "--next-update '{}'",
        crate::validity::length_text(next_update)
    );
    clock::shift(now, next_update, &what)
}

/// Parses a `--next-update` length such as `7d` or `12h`.
pub fn parse_next_update(s: &str) -> Result<Duration> {
    parse_length("--next-update", s)
}

/// Parses the length `s` given to `flag` (`7d`, `12h`; not a date), with
/// that flag's own hint; `--next-update` must be at least an hour.
pub fn parse_length(flag: &str, s: &str) -> Result<Duration> {
    let hint = if flag == "--next-update" {
        NEXT_UPDATE_HINT
    } else {
        PRUNE_AFTER_HINT
    };
    let not_length = || {
        Error::input(format!(
            "{flag} '{}' is not a length",
            crate::error::shown(s)
        ))
        .hint(hint)
    };
    match crate::validity::Validity::parse_flag(flag, s) {
        Ok(crate::validity::Validity::For(d)) if d > Duration::ZERO => {
            if flag == "--next-update" {
                check_next_update(d)?;
            }
            Ok(d)
        }
        Ok(crate::validity::Validity::For(_)) => Err(Error::input(format!(
            "{flag} '{}' must be a positive length",
            crate::error::shown(s)
        ))
        .hint(hint)),
        _ => Err(not_length()),
    }
}

/// A CRL read from a file: its DER and the facts verify, bundle and
/// inspect need.
#[derive(Clone, Debug)]
pub struct CrlInfo {
    pub der: Vec<u8>,
    pub issuer: String,
    pub issuer_raw: Vec<u8>,
    /// The CRL number, in decimal.
    pub number: Option<String>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub entries: Vec<CrlEntry>,
}

/// One certificate a CRL lists.
#[derive(Clone, Debug)]
pub struct CrlEntry {
    /// Its serial, normalized.
    pub serial: Vec<u8>,
    pub revoked_at: OffsetDateTime,
    /// The reason code, if the entry has one.
    pub code: Option<u8>,
    /// The reason's certsmith name (`unspecified` when there is none).
    pub reason: &'static str,
}

impl CrlInfo {
    /// Parses one DER CRL (nothing after it); the one CRL parser of
    /// verify, bundle and inspect. `what` names its source in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<CrlInfo> {
        use x509_parser::prelude::FromDer;
        use x509_parser::revocation_list::CertificateRevocationList;
        let (rest, crl) = CertificateRevocationList::from_der(der)
            .map_err(|e| Error::input(format!("'{what}' is not a valid X.509 CRL: {e}")))?;
        if !rest.is_empty() {
            return Err(Error::input(format!(
                "'{what}' has trailing bytes after the CRL"
            )));
        }
        let entries = crl
            .iter_revoked_certificates()
            .map(|r| {
                let code = r.reason_code().map(|(_, c)| c.0);
                CrlEntry {
                    serial: serial::normalize(r.raw_serial()).to_vec(),
                    revoked_at: r.revocation_date.to_datetime(),
                    code,
                    reason: code.map_or("unspecified", revoke::reason_name),
                }
            })
            .collect();
        Ok(CrlInfo {
            der: der.to_vec(),
            issuer: crate::names::dn_text(crl.issuer()),
            issuer_raw: crl.issuer().as_raw().to_vec(),
            number: crl.crl_number().map(|n| n.to_string()),
            this_update: crl.last_update().to_datetime(),
            next_update: crl.next_update().map(|t| t.to_datetime()),
            entries,
        })
    }

    /// The entry for `serial` (normalized), if this CRL lists it.
    pub fn find(&self, serial: &[u8]) -> Option<&CrlEntry> {
        self.entries.iter().find(|e| e.serial == serial)
    }
}

/// Reads the CRLs in a file: PEM (`X509 CRL` blocks, several allowed) or one DER CRL.
pub fn read_file(path: &std::path::Path) -> Result<Vec<CrlInfo>> {
    let bytes = crate::input::read(path, crate::input::Kind::Crl)?;
    let what = path.display().to_string();
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            let blocks = ::pem::parse_many(text).map_err(|e| crate::error::bad_pem(&what, &e))?;
            let crls: Vec<CrlInfo> = blocks
                .iter()
                .filter(|b| b.tag() == "X509 CRL")
                .map(|b| CrlInfo::from_der(b.contents(), &what))
                .collect::<Result<_>>()?;
            if crls.is_empty() {
                return Err(Error::input(format!(
                    "'{what}' contains no PEM CRL (X509 CRL block)"
                )));
            }
            Ok(crls)
        }
        _ => Ok(vec![CrlInfo::from_der(&bytes, &what)?]),
    }
}
