//! Leaf certificates (device, client, server, peer): building them from a
//! profile, and writing their files and ledger record together.

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, IsCa, KeyPair, PublicKeyData};
use serde::Serialize;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::ca::{IssuerView, Signed, Signer};
use crate::clock;
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::layout;
use crate::ledger::{CertRecord, Kind, Ledger};
use crate::names::{San, Subject};
use crate::pki::Pki;
use crate::profile::{Profile, ProfileKind};
use crate::store::{self, Existing, Staged};
use crate::validity::{Validity, Window};

/// What a new leaf certificate should be.
#[derive(Clone, Debug)]
pub struct LeafRequest {
    pub name: String,
    pub profile: Profile,
    pub subject: Subject,
    pub sans: Vec<San>,
    pub validity: Option<Validity>,
    pub clamp: bool,
}

impl LeafRequest {
    /// Its SANs in order, each once: what the certificate and the ledger
    /// record carry however often a caller listed one.
    pub fn distinct_sans(&self) -> Vec<&San> {
        let mut out: Vec<&San> = Vec::with_capacity(self.sans.len());
        for s in &self.sans {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Checks the request against its profile and the issuer's name
    /// constraints, before any key is made or anything is signed.
    pub fn check(&self, signer: &impl IssuerView) -> Result<()> {
        if self.profile.kind != ProfileKind::Leaf {
            return Err(Error::input(format!(
                "profile '{}' makes CA certificates; use `certsmith intermediate` for a CA",
                self.profile.name
            )));
        }
        self.profile.check_sans(&self.sans)?;
        self.check_server_cn()?;
        let dns_cn = self
            .subject
            .common_name()
            .filter(|cn| cn.contains('.') && San::parse(&format!("dns:{cn}")).is_ok());
        let has_dns_san = self.sans.iter().any(|s| matches!(s, San::Dns(_)));
        for (ca, nc) in signer.constraints() {
            if let Some(why) = nc.check_subject(&self.subject) {
                return Err(Error::input(format!(
                    "subject '{}' is outside the name constraints of CA '{ca}': {why}",
                    crate::error::shown(&self.subject.to_string())
                ))
                .hint("issue it from a CA whose constraints permit it, or change --subject"));
            }
            for san in &self.sans {
                if let Some(why) = nc.check_san(san) {
                    return Err(Error::input(format!(
                        "SAN '{san}' is outside the name constraints of CA '{ca}': {why}"
                    ))
                    .hint("issue it from a CA whose constraints permit it, or change --san"));
                }
            }
            // Verifiers check a host-like CN against DNS constraints when there is no DNS SAN.
            if let (Some(cn), false) = (dns_cn, has_dns_san)
                && let Some(why) = nc.check_dns(cn)
            {
                return Err(Error::input(format!(
                    "common name '{cn}' is outside the name constraints of CA '{ca}': {why}"
                )));
            }
        }
        Ok(())
    }

    /// A server certificate's common name restating a SAN in another
    /// spelling is refused here: `verify --purpose server` rejects it.
    fn check_server_cn(&self) -> Result<()> {
        if !self
            .profile
            .ext_key_usage
            .contains(&rcgen::ExtendedKeyUsagePurpose::ServerAuth)
        {
            return Ok(());
        }
        let Some(cn) = self.subject.common_name() else {
            return Ok(());
        };
        let (mut dns, mut ips) = (Vec::new(), Vec::new());
        for s in &self.sans {
            match s {
                San::Dns(d) => dns.push(d.clone()),
                San::Ip(i) => ips.push(*i),
                _ => {}
            }
        }
        match crate::conformance::cn_misspells_san(cn, &dns, &ips) {
            None => Ok(()),
            Some(why) => Err(Error::input(format!(
                "{} (CA/Browser Forum baseline 7.1.4.3); `verify --purpose server` and TLS clients reject it",
                why.trim_start_matches("its ")
            ))
            .hint("spell --cn exactly as the subjectAltName, or leave --cn out")),
        }
    }

    fn params(&self, key_type: KeyType) -> Result<CertificateParams> {
        let mut p = CertificateParams::default();
        p.distinguished_name = self.subject.to_dn()?;
        p.subject_alt_names = self
            .distinct_sans()
            .into_iter()
            .map(San::to_rcgen)
            .collect::<Result<_>>()?;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = self.profile.key_usage_for(key_type);
        p.extended_key_usages = self.profile.ext_key_usage.clone();
        // An OCSP responder's certificate is not itself checked for revocation (RFC 6960 4.2.2.2.1).
        if p.extended_key_usages
            .contains(&rcgen::ExtendedKeyUsagePurpose::OcspSigning)
        {
            p.custom_extensions
                .push(rcgen::CustomExtension::from_oid_content(
                    crate::ocsp::NOCHECK_OID,
                    crate::ocsp::nocheck_value(),
                ));
        }
        Ok(p)
    }

    /// The window `issuer` would give this certificate signed at `now`
    /// (refused when it outlives the issuer without --clamp, or exceeds
    /// the profile's maximum).
    pub fn window(&self, issuer: &impl IssuerView, now: OffsetDateTime) -> Result<Window> {
        let v = self.validity.unwrap_or(self.profile.default_validity);
        issuer.window(
            v,
            now,
            Some((self.profile.max_validity, &self.profile.name)),
            self.clamp,
        )
    }

    /// Signs a certificate for `public_key` with `signer`.
    pub fn sign(
        &self,
        signer: &Signer,
        public_key: &impl PublicKeyData,
        key_type: KeyType,
        now: OffsetDateTime,
    ) -> Result<Signed> {
        let window = self.window(signer, now)?;
        let mut params = self.params(key_type)?;
        if self.profile.revocation_urls {
            signer.urls.apply(&mut params)?;
        }
        signer.sign(params, public_key, window)
    }

    /// Signs the leaf for `key` with `signer`: the value [`write`] takes.
    pub fn sign_leaf(
        self,
        signer: &Signer,
        key: LeafKey,
        key_type: KeyType,
        now: OffsetDateTime,
    ) -> Result<SignedLeaf> {
        let signed = match &key {
            LeafKey::Held(k) => self.sign(signer, k, key_type, now)?,
            LeafKey::Public(p) => self.sign(signer, p, key_type, now)?,
        };
        Ok(SignedLeaf {
            request: self,
            signed,
            key,
            key_type,
            signed_at: now,
        })
    }
}

/// The key a leaf certifies.
pub enum LeafKey {
    /// A key certsmith made (or reuses): written beside the certificate.
    Held(KeyPair),
    /// Only the public key (a CSR's, or a CSR-signed leaf's): no key file.
    Public(rcgen::SubjectPublicKeyInfo),
}

impl LeafKey {
    fn held(&self) -> Option<&KeyPair> {
        match self {
            LeafKey::Held(k) => Some(k),
            LeafKey::Public(_) => None,
        }
    }
}

/// A leaf just signed, with everything its files and ledger record are
/// made of: the step between signing and [`write`].
pub struct SignedLeaf {
    pub request: LeafRequest,
    pub signed: Signed,
    pub key: LeafKey,
    pub key_type: KeyType,
    /// When it was signed (the ledger's `created_at`).
    pub signed_at: OffsetDateTime,
}

impl SignedLeaf {
    /// Its ledger record, as issued by `signer` into `dir`.
    pub fn record(&self, pki: &Pki, signer: &Signer, dir: &Path) -> CertRecord {
        let (req, signed) = (&self.request, &self.signed);
        CertRecord {
            id: 0,
            name: req.name.clone(),
            kind: Kind::Leaf,
            issuer: Some(signer.name.clone()),
            serial: signed.serial_hex(),
            subject: req.subject.to_string(),
            sans: req.distinct_sans().iter().map(|s| s.to_string()).collect(),
            profile: req.profile.name.clone(),
            key_type: self.key_type.to_string(),
            not_before: signed.window.not_before.unix_timestamp(),
            not_after: signed.window.not_after.unix_timestamp(),
            fingerprint: signed.fingerprint.clone(),
            state: "active".into(),
            revoked_at: None,
            revocation_reason: None,
            dir: pki.ledger_dir(dir),
            has_key: self.key.held().is_some(),
            created_at: self.signed_at.unix_timestamp(),
            issued_by: None,
            revoked_by: None,
            der: Some(signed.der.clone()),
        }
    }
}

/// What was written for a leaf, for the report and `--json`.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedLeaf {
    pub name: String,
    pub serial: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub profile: String,
    pub key_type: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    #[serde(rename = "sha256_fingerprint")]
    pub fingerprint: String,
    pub clamped: bool,
    pub files: Vec<PathBuf>,
}

/// The PEM texts of a leaf's files.
pub struct LeafFiles {
    pub cert: String,
    pub chain: String,
    pub fullchain: String,
    pub key: Option<Zeroizing<String>>,
}

impl LeafFiles {
    /// Builds the file contents: chain.pem holds the issuing CAs, leaf and root excluded.
    pub fn new(signer: &Signer, signed: &Signed, key: Option<&KeyPair>) -> Result<LeafFiles> {
        let cert = signed.pem();
        let chain: String = signer
            .chain
            .iter()
            .filter(|c| !c.self_signed)
            .map(|c| c.pem())
            .collect();
        let fullchain = format!("{cert}{chain}");
        let key = key.map(keys::to_pem).transpose()?;
        Ok(LeafFiles {
            cert,
            chain,
            fullchain,
            key,
        })
    }

    /// Each file this leaf writes: its name, contents and mode.
    pub fn entries(&self) -> Vec<(&'static str, &[u8], u32)> {
        let mut v = Vec::with_capacity(4);
        if let Some(k) = &self.key {
            v.push((layout::KEY, k.as_bytes(), store::KEY_MODE));
        }
        v.push((layout::CERT, self.cert.as_bytes(), store::PUBLIC_MODE));
        v.push((layout::CHAIN, self.chain.as_bytes(), store::PUBLIC_MODE));
        v.push((
            layout::FULLCHAIN,
            self.fullchain.as_bytes(),
            store::PUBLIC_MODE,
        ));
        v
    }

    /// The file names this leaf writes.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries().into_iter().map(|(n, _, _)| n).collect()
    }

    /// Stages the files into `dir`, backing up what is there with `backup` (an old serial).
    pub fn stage(&self, staged: &mut Staged, dir: &Path, backup: Option<&str>) -> Result<()> {
        let existing = match backup {
            Some(s) => Existing::Backup(s.to_string()),
            None => Existing::Refuse,
        };
        for (name, bytes, mode) in self.entries() {
            staged.add(&dir.join(name), bytes, mode, existing.clone())?;
        }
        Ok(())
    }
}

/// Refuses a name held by an issuance in progress, or already taken
/// without `force`, and the name of any CA (current or not) even with
/// `force`: a leaf taking it would make `revoke NAME` hit the leaf.
/// Checked before any key is made.
pub fn check_name(ledger: &Ledger, name: &str, force: bool) -> Result<()> {
    if ledger.ca(name)?.is_some() {
        return Err(ca_name_taken(name));
    }
    if let Some((ca, by)) = cross_name_parts(ledger, name)? {
        return Err(Error::input(format!(
            "'{}' is the name of the cross-certificate of CA '{}' by '{}' (`certsmith ca cross-sign`); a certificate may not take it",
            crate::error::shown(name),
            crate::error::shown(&ca),
            crate::error::shown(&by)
        ))
        .hint("choose another name for the certificate"));
    }
    match ledger.cert_by_name(name)? {
        Some(c) if c.state == "pending" => Err(crate::ledger::name_taken(name, true)),
        Some(_) if !force => Err(crate::ledger::name_taken(name, false)),
        _ => Ok(()),
    }
}

/// The CAs `(ca, by)` when `name` is `<ca>-by-<by>` for two CAs of this
/// PKI: the name `ca cross-sign <ca> --by <by>` records its
/// cross-certificate under, kept free of leaves.
pub fn cross_name_parts(ledger: &Ledger, name: &str) -> Result<Option<(String, String)>> {
    for (i, _) in name.match_indices("-by-") {
        let (ca, by) = (&name[..i], &name[i + 4..]);
        if ledger.ca(ca)?.is_some() && ledger.ca(by)?.is_some() {
            return Ok(Some((ca.to_string(), by.to_string())));
        }
    }
    Ok(None)
}

/// The refusal for a leaf named like a CA of this PKI.
pub fn ca_name_taken(name: &str) -> Error {
    Error::input(format!(
        "'{}' is the name of a CA; a certificate may not take it, not even with --force",
        crate::error::shown(name)
    ))
    .hint("choose another name for the certificate")
}

/// Options for writing a leaf.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Directory for the files; default `certs/<name>/`.
    pub out: Option<PathBuf>,
    /// Replace an existing name, keeping the old files as `*.old-<serial>`.
    pub force: bool,
}

/// Reserves the name in the ledger, writes the files atomically, then
/// marks the record active. On any failure the ledger and directory are
/// left as they were.
pub fn write(
    pki: &Pki,
    ledger: &mut Ledger,
    signer: &Signer,
    leaf: &SignedLeaf,
    opts: &WriteOptions,
) -> Result<IssuedLeaf> {
    let (req, signed, key) = (&leaf.request, &leaf.signed, leaf.key.held());
    let now = leaf.signed_at;
    let dir = opts.out.clone().unwrap_or_else(|| pki.cert_dir(&req.name));
    let files = LeafFiles::new(signer, signed, key)?;
    let root = if dir.starts_with(&pki.root) {
        pki.root.clone()
    } else {
        dir.clone()
    };
    let rec = leaf.record(pki, signer, &dir);
    if !opts.force {
        // Refuse before touching the ledger, so a refusal changes no byte of the PKI directory.
        for f in files.names() {
            store::refuse_existing(&dir.join(f))?;
        }
    }
    // A symlink on the way is refused before the ledger is touched, so the refusal changes nothing.
    for f in files.names() {
        store::refuse_symlinks(&root, &dir.join(f))?;
    }
    if opts.force {
        // Refused before the ledger is touched; the backup renames refuse too, for a re-issue racing this one.
        let current = ledger.cert_by_name(&req.name)?.map(|o| o.serial);
        let suffix = current.as_deref().unwrap_or("unrecorded");
        for f in files.names().into_iter().chain([layout::KEY]) {
            store::refuse_existing_backup(&dir.join(f), suffix)?;
        }
    }
    let dir_existed = dir.exists();
    store::pause_point("leaf-signed");
    // Checked again where the name is reserved: another process may have
    // revoked the CA, or taken the --out directory, since.
    let check = |l: &Ledger| {
        signer.check_alive_on(l, now)?;
        if opts.out.is_some() {
            pki.out_rule(l)?
                .check(&dir, crate::pki::Out::CertDir(&req.name))?;
        }
        Ok(())
    };
    // One flush point: the reservation is committed without waiting, and
    // the fsyncs that make the files durable before they are renamed into
    // place make the ledger's WAL durable too, all issued together.
    let reservation = ledger.reserve_unsynced(&rec, opts.force, &check)?;
    store::crash_point("reserved");
    // Named after the record this reservation replaced, read with it: two
    // re-issues of one name never share a backup name.
    let backup = match opts.force {
        true => match ledger.replaced_serial(&reservation) {
            Ok(serial) => Some(serial.unwrap_or_else(|| "unrecorded".into())),
            Err(e) => return Err(ledger.abandon_after(reservation, e)),
        },
        false => None,
    };
    // A server ledger (PostgreSQL) made its reservation durable itself:
    // only a local SQLite WAL joins the files' one flush.
    let local_wal = ledger.backend() == crate::ledger::Backend::Sqlite;
    let placed = (|| -> std::result::Result<_, store::Unsettled> {
        let mut staged = Staged::new(&root);
        if local_wal {
            staged = staged.with_one_flush(&pki.ledger_path());
        }
        files.stage(&mut staged, &dir, backup.as_deref())?;
        store::crash_point("staged");
        store::fail_point("staged")?;
        // A CSR-signed cert has no key; a key left from an earlier cert of this name must not sit beside it.
        if key.is_none() && opts.force {
            staged.retire(
                &dir.join(layout::KEY),
                backup.as_deref().unwrap_or_default(),
            )?;
        }
        staged.try_place()
    })();
    let written = placed.and_then(|placed| {
        store::crash_point("committed");
        let confirmed = store::fail_point("committed").and_then(|()| ledger.confirm(&reservation));
        placed.try_settle(confirmed)
    });
    let written = match written {
        Ok(paths) => paths,
        // Files not put back: the reservation stays pending for `doctor --repair`.
        Err(u) if !u.undone => return Err(u.error),
        Err(store::Unsettled { error: e, .. }) => {
            let e = ledger.abandon_after(reservation, e);
            if !dir_existed {
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    };
    Ok(IssuedLeaf {
        name: req.name.clone(),
        serial: rec.serial,
        subject: rec.subject,
        sans: rec.sans,
        profile: rec.profile,
        key_type: rec.key_type,
        issuer: signer.name.clone(),
        not_before: clock::rfc3339(signed.window.not_before),
        not_after: clock::rfc3339(signed.window.not_after),
        fingerprint: signed.fingerprint.clone(),
        clamped: signed.window.clamped,
        files: written,
    })
}
