//! Rotating CAs (`certsmith ca renew`, `certsmith ca cross-sign`): a CA's
//! certificate re-issued for the same key, so everything it signed keeps
//! verifying under the new certificate, and a new root certified by the
//! old one, so peers that trust only the old root accept chains of the new
//! one during the move. Re-keying a CA is making a new one (`intermediate`,
//! `init --name`) and moving issuance there (`ca default`, `ca retire`,
//! `renew --ca`).

use serde::Serialize;
use time::OffsetDateTime;

use crate::ca::{self, CaRequest, Signed, Signer};
use crate::error::{Error, Result};
use crate::keystore::PublicOnly;
use crate::ledger::{CaRecord, CertRecord, Kind, Ledger};
use crate::names::Subject;
use crate::passphrase::PassOptions;
use crate::pki::Pki;
use crate::profile::Profile;
use crate::store::{self, Existing, Staged};
use crate::validity::Validity;

/// `ca renew <ca>`: which CA, for how long, and how keys are opened.
#[derive(Clone, Debug, Default)]
pub struct CaRenewRequest {
    pub ca: String,
    /// Default: the CA profile's validity.
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// The signing key's passphrase: the issuer's for an intermediate, the
    /// root's own for a root.
    pub pass: PassOptions,
}

/// A CA certificate made by `ca renew` or `ca cross-sign`.
#[derive(Clone, Debug, Serialize)]
pub struct CaCertMade {
    /// The ledger name of the new certificate.
    pub name: String,
    /// The CA whose key it certifies, and the CA that signed it.
    pub ca: String,
    pub issuer: String,
    pub subject: String,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256_fingerprint: String,
    pub clamped: bool,
    /// The certificate it replaced (`ca renew`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_not_after: Option<String>,
    pub files: Vec<std::path::PathBuf>,
}

/// The CA `name`, refused when it is revoked (a new certificate would
/// bring back what was withdrawn).
fn live_ca(
    pki: &Pki,
    ledger: &Ledger,
    name: &str,
) -> Result<(CaRecord, crate::certinfo::CertInfo)> {
    let (rec, info) = pki.ca(ledger, name)?;
    if rec.cert.revoked_at.is_some() {
        return Err(Error::input(format!(
            "CA '{}' is revoked; it gets no new certificate",
            crate::error::shown(name)
        ))
        .hint("make a new CA with `certsmith intermediate` (or `certsmith init --name`)"));
    }
    Ok((rec, info))
}

/// What a new certificate for CA `rec`'s key keeps of it.
fn same_ca(
    rec: &CaRecord,
    info: &crate::certinfo::CertInfo,
    req_validity: Option<Validity>,
    clamp: bool,
) -> Result<CaRequest> {
    Ok(CaRequest {
        subject: Subject::parse(&rec.cert.subject)?,
        validity: req_validity,
        pathlen: rec.pathlen.and_then(|p| u8::try_from(p).ok()),
        constraints: info.name_constraints.clone(),
        clamp,
        no_crl: !ca::publishes_crl(info),
    })
}

/// `ca renew` of a cross-certificate: it is re-issued by `ca cross-sign`.
fn refuse_cross_certificate(ledger: &Ledger, name: &str) -> Result<()> {
    if ledger.ca(name)?.is_some() {
        return Ok(());
    }
    let Some(c) = ledger.cert_by_name(name)? else {
        return Ok(());
    };
    let by = c.issuer.clone().unwrap_or_default();
    for ca in ledger.cas()? {
        if is_cross_of(&c, &ca, &by) {
            let (ca, by) = (crate::error::shown(&ca.cert.name), crate::error::shown(&by));
            return Err(Error::input(format!(
                "'{}' is the cross-certificate of CA '{ca}' by '{by}'; ca renew re-issues a CA's own certificate",
                crate::error::shown(name)
            ))
            .hint(format!(
                "re-issue the cross-certificate with `certsmith ca cross-sign {ca} --by {by}` (the old one is kept as .old-<serial>)"
            )));
        }
    }
    Ok(())
}

/// The refusal of a retired issuer when it would re-issue a CA's
/// certificate: the fix is a successor CA, not moving a leaf.
fn retired_issuer_hint(ledger: &Ledger, e: Error, issuer: &str) -> Error {
    match crate::issuing::retired_at(ledger, issuer) {
        Ok(Some(_)) if e.code() == "ca_not_alive" => e.hint(format!(
            "'{}' is retired and re-issues no CA certificate: make a successor under a CA that is not retired (`certsmith intermediate NEW --issuer ROOT`) and move issuance there (`certsmith ca default NEW`)",
            crate::error::shown(issuer)
        )),
        _ => e,
    }
}

/// Refuses a new certificate for CA `ca` that ends before a live
/// certificate `ca` signed (not revoked, not superseded, not expired at
/// `now`): once trust stores hold only the new one, that certificate's
/// chain would die with it. Names the longest-lived one and the fix.
fn refuse_outlived(ledger: &Ledger, ca: &str, signed: &Signed, now: OffsetDateTime) -> Result<()> {
    let new_end = signed.window.not_after.unix_timestamp();
    let longest = crate::issuing::live_signed(ledger, ca, now)?
        .into_iter()
        .max_by_key(|c| c.not_after);
    let Some(c) = longest.filter(|c| c.not_after > new_end) else {
        return Ok(());
    };
    let rfc = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .map(crate::clock::rfc3339)
            .unwrap_or_default()
    };
    let (name, until) = (crate::error::shown(ca), rfc(c.not_after));
    Err(Error::input(format!(
        "the new certificate of CA '{name}' would end on {}, before '{}' (valid until {until}), the longest-lived live certificate it signed",
        rfc(new_end),
        crate::error::shown(&c.name)
    ))
    .hint(format!(
        "give it a validity reaching past that: certsmith ca renew {name} --validity {until} (or later)"
    )))
}

/// `certsmith ca renew <ca>`: a new certificate for CA `req.ca` with the
/// same subject, key, pathlen and name constraints, signed by its issuer
/// (a root signs its own). The old certificate is superseded in the ledger
/// and kept as `ca.pem.old-<serial>`; what the CA signed keeps verifying.
pub fn renew_ca(pki: &Pki, req: &CaRenewRequest) -> Result<CaCertMade> {
    let mut ledger = pki.open_ledger()?;
    refuse_cross_certificate(&ledger, &req.ca)?;
    let (rec, info) = live_ca(pki, &ledger, &req.ca)?;
    let profile = Profile::load(Some(&pki.root), &rec.cert.profile)?;
    let want = same_ca(&rec, &info, req.validity, req.clamp)?;
    let now = crate::clock::now()?;
    let (signed, signer) = match rec.cert.kind {
        Kind::Root => {
            let own = Signer::load(pki, &ledger, &req.ca, &req.pass)?;
            let signed = ca::make_root(&want, own.key(), &profile, &own.urls, now)?;
            (signed, own)
        }
        _ => {
            let issuer = rec.cert.issuer.clone().ok_or_else(|| {
                Error::input(format!(
                    "CA '{}' was imported without its issuer; certsmith cannot re-issue its certificate",
                    crate::error::shown(&req.ca)
                ))
            })?;
            let signer = Signer::load(pki, &ledger, &issuer, &req.pass)
                .map_err(|e| retired_issuer_hint(&ledger, e, &issuer))?;
            let key = PublicOnly::from_spki(&info.spki_der)?;
            let (signed, _) = ca::make_intermediate(&want, &key, &profile, &signer, now)?;
            (signed, signer)
        }
    };
    refuse_outlived(&ledger, &req.ca, &signed, now)?;
    // A root signs its own: no issuer then, as for `init`.
    let new = record(&rec.cert.name, &rec.cert, &signed, now, &signer.name);
    let path = pki.ca_cert_path(&req.ca);
    store::refuse_symlinks(&pki.root, &path)?;
    store::refuse_existing_backup(&path, &rec.cert.serial)?;
    let check = |l: &crate::ledger::Ledger| signer.check_alive_on(l, now);
    let r = ledger.reserve(&new, true, &check)?;
    let files = place(
        pki,
        &mut ledger,
        r,
        &path,
        &signed,
        Existing::Backup(rec.cert.serial.clone()),
        Some(&req.ca),
    )?;
    Ok(made(
        &req.ca,
        &req.ca,
        &signer.name,
        &new,
        &signed,
        Some(&rec.cert),
        files,
    ))
}

/// `ca cross-sign <ca> --by <old>`: which root, by which.
#[derive(Clone, Debug, Default)]
pub struct CrossSignRequest {
    /// The new root whose key is certified.
    pub ca: String,
    /// The old root that signs.
    pub by: String,
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// The old root's passphrase.
    pub pass: PassOptions,
}

/// The ledger name of the cross-certificate of `ca` by `by`.
pub fn cross_name(ca: &str, by: &str) -> String {
    format!("{ca}-by-{by}")
}

/// `certsmith ca cross-sign <ca> --by <old>`: a CA certificate for root
/// `ca`'s key and subject, signed by root `by`, written beside the new
/// root as `cross-signed-by-<old>.pem` and recorded in the ledger under
/// `<ca>-by-<old>` (so `revoke` can withdraw it on the old root's CRL).
/// Peers that trust only the old root accept the new root's chains when
/// the server or client sends this certificate along.
pub fn cross_sign(pki: &Pki, req: &CrossSignRequest) -> Result<CaCertMade> {
    let mut ledger = pki.open_ledger()?;
    let (rec, info) = live_ca(pki, &ledger, &req.ca)?;
    if rec.cert.kind != Kind::Root {
        return Err(Error::input(format!(
            "CA '{}' is not a root; cross-sign certifies a new root with an old one",
            crate::error::shown(&req.ca)
        ))
        .hint("an intermediate moves to a new root by making a new intermediate under it"));
    }
    if req.ca == req.by {
        return Err(Error::input(format!(
            "CA '{}' cannot cross-sign itself",
            crate::error::shown(&req.ca)
        ))
        .hint("renew its certificate with `certsmith ca renew` instead"));
    }
    let name = cross_name(&req.ca, &req.by);
    crate::pki::validate_name("certificate", &name)?;
    let previous = previous_cross(&ledger, &name, &rec, &req.by)?;
    let signer = Signer::load(pki, &ledger, &req.by, &req.pass)?;
    let profile = Profile::load(Some(&pki.root), "intermediate-ca")?;
    let want = same_ca(&rec, &info, req.validity, req.clamp)?;
    let key = PublicOnly::from_spki(&info.spki_der)?;
    let now = crate::clock::now()?;
    let (signed, _) = ca::make_intermediate(&want, &key, &profile, &signer, now).map_err(|e| {
        e.context(format!(
            "cannot cross-sign '{}' by '{}'",
            crate::error::shown(&req.ca),
            crate::error::shown(&req.by)
        ))
        .hint(format!(
            "the cross-certificate puts '{}' one level below '{}': the old root needs a pathlen one above the new root's (`init --pathlen 2`), and a validity that covers it (or pass --clamp)",
            crate::error::shown(&req.ca),
            crate::error::shown(&req.by)
        ))
    })?;
    let mut new = record(&name, &rec.cert, &signed, now, &req.by);
    new.kind = Kind::Intermediate;
    new.has_key = false;
    let path = pki
        .ca_dir(&req.ca)
        .join(crate::layout::cross_signed_file(&req.by));
    store::refuse_symlinks(&pki.root, &path)?;
    let existing = match &previous {
        Some(p) => {
            store::refuse_existing_backup(&path, &p.serial)?;
            Existing::Backup(p.serial.clone())
        }
        None => {
            store::refuse_existing(&path)?;
            Existing::Refuse
        }
    };
    let check = |l: &crate::ledger::Ledger| signer.check_alive_on(l, now);
    let r = ledger.reserve(&new, previous.is_some(), &check)?;
    let files = place(pki, &mut ledger, r, &path, &signed, existing, None)?;
    Ok(made(
        &name,
        &req.ca,
        &req.by,
        &new,
        &signed,
        previous.as_ref(),
        files,
    ))
}

/// The current cross-certificate `name` of root `rec` by `by`, which a
/// new cross-sign re-issues (superseding it, its file kept as
/// `.old-<serial>`); `None` when there is none. Refuses a name held by
/// anything else (a CA, or a certificate from before certsmith kept these
/// names free of leaves).
fn previous_cross(
    ledger: &Ledger,
    name: &str,
    rec: &CaRecord,
    by: &str,
) -> Result<Option<CertRecord>> {
    if ledger.ca(name)?.is_some() {
        return Err(Error::input(format!(
            "name '{}' of the cross-certificate is taken by a CA",
            crate::error::shown(name)
        )));
    }
    match ledger.cert_by_name(name)? {
        None => Ok(None),
        Some(c) if is_cross_of(&c, rec, by) => Ok(Some(c)),
        Some(c) => Err(Error::input(format!(
            "name '{}' of the cross-certificate is taken by another certificate (serial {})",
            crate::error::shown(name),
            c.serial
        ))
        .hint("certsmith records the cross-certificate under that name; no new certificate may take it any more, but this one came first")),
    }
}

/// Whether `c` is a cross-certificate of root `rec` by CA `by`.
fn is_cross_of(c: &CertRecord, rec: &CaRecord, by: &str) -> bool {
    c.kind == Kind::Intermediate
        && !c.has_key
        && c.issuer.as_deref() == Some(by)
        && c.dir == rec.cert.dir
        && c.subject == rec.cert.subject
}

/// The ledger record of a new certificate `signed` for the key of `of`.
fn record(
    name: &str,
    of: &CertRecord,
    signed: &Signed,
    now: OffsetDateTime,
    issuer: &str,
) -> CertRecord {
    CertRecord {
        id: 0,
        name: name.to_string(),
        kind: of.kind,
        issuer: (of.kind != Kind::Root || name != of.name).then(|| issuer.to_string()),
        serial: signed.serial_hex(),
        subject: of.subject.clone(),
        sans: Vec::new(),
        profile: of.profile.clone(),
        key_type: of.key_type.clone(),
        not_before: signed.window.not_before.unix_timestamp(),
        not_after: signed.window.not_after.unix_timestamp(),
        fingerprint: signed.fingerprint.clone(),
        state: "pending".into(),
        revoked_at: None,
        revocation_reason: None,
        dir: of.dir.clone(),
        has_key: of.has_key,
        created_at: now.unix_timestamp(),
        issued_by: None,
        revoked_by: None,
        der: Some(signed.der.clone()),
    }
}

/// Writes the certificate file of reservation `r` and settles it: for a
/// re-issue of CA `reissue_of` the CA then points at it.
fn place(
    pki: &Pki,
    ledger: &mut Ledger,
    r: crate::ledger::Reservation,
    path: &std::path::Path,
    signed: &Signed,
    existing: Existing,
    reissue_of: Option<&str>,
) -> Result<Vec<std::path::PathBuf>> {
    let result = (|| -> std::result::Result<_, store::Unsettled> {
        let mut staged = Staged::new(&pki.root);
        staged.add(path, signed.pem().as_bytes(), store::PUBLIC_MODE, existing)?;
        let placed = staged.try_place()?;
        let settled = match reissue_of {
            Some(ca) => ledger.confirm_ca_reissue(&r, ca),
            None => ledger.confirm(&r),
        };
        placed.try_settle(settled)
    })();
    match result {
        Ok(files) => Ok(files),
        Err(u) if !u.undone => Err(u.error),
        Err(u) => Err(ledger.abandon_after(r, u.error)),
    }
}

fn made(
    name: &str,
    ca: &str,
    issuer: &str,
    rec: &CertRecord,
    signed: &Signed,
    old: Option<&CertRecord>,
    files: Vec<std::path::PathBuf>,
) -> CaCertMade {
    let rfc = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .map(crate::clock::rfc3339)
            .unwrap_or_default()
    };
    CaCertMade {
        name: name.to_string(),
        ca: ca.to_string(),
        issuer: issuer.to_string(),
        subject: rec.subject.clone(),
        serial: rec.serial.clone(),
        not_before: rfc(rec.not_before),
        not_after: rfc(rec.not_after),
        sha256_fingerprint: rec.fingerprint.clone(),
        clamped: signed.window.clamped,
        old_serial: old.map(|o| o.serial.clone()),
        old_not_after: old.map(|o| rfc(o.not_after)),
        files,
    }
}
