//! Certificate authorities: making a root or an intermediate, and loading a
//! CA's key to sign with.

use rcgen::{
    BasicConstraints, CertificateParams, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PublicKeyData, SerialNumber, SigningKey,
};
use time::OffsetDateTime;

use crate::certinfo::{CertInfo, fingerprint};
use crate::error::{DeadCa, Error, Result};
use crate::keys::{self, KeyType};
use crate::keystore::{CaKey, PublicOnly, StoredKey};
use crate::ledger::{CaRecord, Ledger};
use crate::names::{NameConstraintSet, Subject};
use crate::passphrase::{self, PassOptions};
use crate::pki::Pki;
use crate::profile::Profile;
use crate::serial;
use crate::validity::{self, Validity, Window};

/// A certificate just signed, with the facts the ledger and output need.
#[derive(Clone, Debug)]
pub struct Signed {
    pub der: Vec<u8>,
    pub serial: Vec<u8>,
    pub window: Window,
    pub fingerprint: String,
}

impl Signed {
    pub fn pem(&self) -> String {
        keys::pem_encode("CERTIFICATE", &self.der)
    }
    pub fn serial_hex(&self) -> String {
        serial::to_hex(serial::normalize(&self.serial))
    }
}

/// What a new CA should be.
#[derive(Clone, Debug)]
pub struct CaRequest {
    pub subject: Subject,
    pub validity: Option<Validity>,
    pub pathlen: Option<u8>,
    pub constraints: NameConstraintSet,
    pub clamp: bool,
    /// `--no-crl`: the CA publishes no CRL, so its keyUsage gets no cRLSign.
    pub no_crl: bool,
}

/// A CA loaded with its key (a file key or a token key), ready to sign.
pub struct Signer {
    pub name: String,
    pub record: CaRecord,
    /// This CA first, then its issuers up to the top CA of the PKI.
    pub chain: Vec<CertInfo>,
    /// The ledger names of `chain`, for [`Signer::check_alive_on`].
    chain_names: Vec<String>,
    pub key_type: KeyType,
    issuer: Issuer<'static, CaKey>,
    /// The authority key identifier this CA puts in what it signs, read
    /// from a probe certificate (built without the private key), so CRLs
    /// carry the very same one.
    key_id: Vec<u8>,
    /// Where the certificates this CA issues point for revocation data.
    pub urls: crate::ca_urls::CaUrls,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("name", &self.name)
            .field("key", &"[secret key elided]")
            .finish()
    }
}

/// A CA as an issuer, with or without its key: what the checks of a
/// request made to it need (its name and chain). [`LeafRequest`] checks
/// take it, so a dry run (an [`IssuerChain`]) and a real run (a
/// [`Signer`]) refuse the same requests.
///
/// [`LeafRequest`]: crate::leaf::LeafRequest
pub trait IssuerView {
    /// The CA's name in the ledger.
    fn issuer_name(&self) -> &str;
    /// This CA first, then its issuers.
    fn issuer_chain(&self) -> &[CertInfo];

    /// The window of a certificate this CA signs.
    fn window(
        &self,
        v: Validity,
        now: OffsetDateTime,
        max: Option<(time::Duration, &str)>,
        clamp: bool,
    ) -> Result<Window> {
        let i = &self.issuer_chain()[0];
        validity::window(
            v,
            now,
            Some((self.issuer_name(), i.not_before, i.not_after)),
            max,
            clamp,
        )
    }

    /// Name constraints of this CA and all its issuers.
    fn constraints(&self) -> impl Iterator<Item = (&str, &NameConstraintSet)> {
        self.issuer_chain()
            .iter()
            .map(|c| (c.subject.as_str(), &c.name_constraints))
    }
}

impl IssuerView for Signer {
    fn issuer_name(&self) -> &str {
        &self.name
    }
    fn issuer_chain(&self) -> &[CertInfo] {
        &self.chain
    }
}

/// CA `name` checked as an issuer without opening its key: alive (not
/// revoked, superseded or expired, nor below such a CA), not retired,
/// allowed to sign certificates and online. [`Signer::load`] starts here;
/// a dry run stops here.
pub struct IssuerChain {
    name: String,
    chain: Vec<(CaRecord, CertInfo)>,
    infos: Vec<CertInfo>,
}

impl IssuerChain {
    pub fn load(pki: &Pki, ledger: &Ledger, name: &str) -> Result<IssuerChain> {
        let chain = pki.ca_chain(ledger, name)?;
        let records: Vec<CaRecord> = chain.iter().map(|(r, _)| r.clone()).collect();
        check_alive(ledger, &records, crate::clock::now()?)?;
        // Only the CA that signs: a retired root's intermediates still issue.
        crate::issuing::check_not_retired(ledger, name)?;
        let (record, info) = &chain[0];
        if !info.can_sign_certs() {
            return Err(not_a_ca(name));
        }
        if record.offline {
            return Err(offline(name));
        }
        let infos = chain.iter().map(|(_, i)| i.clone()).collect();
        Ok(IssuerChain {
            name: name.to_string(),
            chain,
            infos,
        })
    }
}

impl IssuerView for IssuerChain {
    fn issuer_name(&self) -> &str {
        &self.name
    }
    fn issuer_chain(&self) -> &[CertInfo] {
        &self.infos
    }
}

fn not_a_ca(name: &str) -> Error {
    Error::input(format!(
        "issuer '{name}' is not a CA (basicConstraints CA:FALSE or no keyCertSign)"
    ))
}

impl Signer {
    /// Loads CA `name` and its key, asking for the passphrase only if the
    /// key is encrypted. Checks that the key matches the certificate, that
    /// the certificate may sign, and that certsmith reproduces its subject
    /// byte for byte as the issuer name of what it signs.
    ///
    /// This is the issuance path: a CA that is revoked, superseded or
    /// expired, or that sits below such a CA, is refused here, once, for
    /// every command that signs a certificate; so is a retired CA.
    pub fn load(pki: &Pki, ledger: &Ledger, name: &str, pass: &PassOptions) -> Result<Signer> {
        let chain = IssuerChain::load(pki, ledger, name)?.chain;
        let mut signer = Self::from_chain(pki, name, chain, pass)?;
        signer.urls = crate::ca_urls::CaUrls::load(ledger, name)?;
        Ok(signer)
    }

    /// [`check_alive`] again on `ledger` inside the transaction that reserves what
    /// this CA signed (at `now`, the signing time): a `revoke` of this CA or
    /// of one above it that committed since [`Signer::load`] is refused
    /// there, so nothing is recorded or written after it. Use as the
    /// [`crate::ledger::Check`] of every reservation of a signed certificate.
    pub fn check_alive_on(&self, ledger: &Ledger, now: OffsetDateTime) -> Result<()> {
        let mut records = Vec::with_capacity(self.chain_names.len());
        for name in &self.chain_names {
            let rec = ledger.ca(name)?.ok_or_else(|| {
                Error::failed(format!(
                    "CA {} is no longer in the ledger",
                    crate::error::shown(name)
                ))
                .hint("run `certsmith doctor`")
            })?;
            records.push(rec);
        }
        check_alive(ledger, &records, now)
    }

    /// Loads CA `name` to sign its CRL: a revoked or expired CA still
    /// publishes the revocations it made.
    pub fn load_for_crl(
        pki: &Pki,
        ledger: &Ledger,
        name: &str,
        pass: &PassOptions,
    ) -> Result<Signer> {
        let chain = pki.ca_chain(ledger, name)?;
        Self::from_chain(pki, name, chain, pass)
    }

    fn from_chain(
        pki: &Pki,
        name: &str,
        chain: Vec<(CaRecord, CertInfo)>,
        pass: &PassOptions,
    ) -> Result<Signer> {
        let (record, info) = chain[0].clone();
        if !info.can_sign_certs() {
            return Err(not_a_ca(name));
        }
        let key = load_key(pki, name, &record, &info, pass)?;
        let key_type = key.key_type()?;
        let issuer = Issuer::from_ca_cert_der(&info.der.clone().into(), key).map_err(|_| {
            Error::input(format!(
                "the subject of CA '{name}' uses multi-valued or unsupported name attributes that certsmith cannot reproduce as an issuer name"
            ))
        })?;
        let mut signer = Signer {
            name: name.to_string(),
            record,
            chain_names: chain.iter().map(|(r, _)| r.cert.name.clone()).collect(),
            chain: chain.into_iter().map(|(_, i)| i).collect(),
            key_type,
            issuer,
            key_id: Vec::new(),
            urls: crate::ca_urls::CaUrls::default(),
        };
        signer.key_id = signer.check_issuer_name_round_trips()?;
        Ok(signer)
    }

    /// The parsed certificate of this CA.
    pub fn info(&self) -> &CertInfo {
        &self.chain[0]
    }

    /// The rcgen issuer (for CRLs).
    pub fn issuer(&self) -> &Issuer<'static, CaKey> {
        &self.issuer
    }

    /// The key identifier of this CA as an issuer: its SKI, or for a CA
    /// without one whatever rcgen writes as AKI (one source for both
    /// certificates and CRLs).
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// Builds a probe certificate as this CA would issue it and checks its
    /// issuer name; returns the AKI the probe got. The probe is "signed" by
    /// a stand-in holding only the CA's public key (a dummy signature):
    /// only the issuer name and the AKI are read back, so loading a CA
    /// never uses its private key (a token key signs nothing here).
    fn check_issuer_name_round_trips(&self) -> Result<Vec<u8>> {
        let stand_in = PublicOnly::from_spki(&self.info().spki_der)?;
        let issuer = Issuer::from_ca_cert_der(&self.info().der.clone().into(), stand_in)
            .map_err(|_| self.unreproducible_subject())?;
        let mut p = CertificateParams::default();
        p.serial_number = Some(SerialNumber::from_slice(&[1]));
        p.use_authority_key_identifier_extension = true;
        let probe = p
            .signed_by(issuer.key(), &issuer)
            .map_err(|e| Error::failed(format!("cannot sign with CA '{}': {e}", self.name)))?;
        let info = CertInfo::from_der(probe.der(), "probe")?;
        if info.issuer_raw != self.info().subject_raw {
            return Err(self.unreproducible_subject());
        }
        info.aki.ok_or_else(|| {
            Error::failed(format!(
                "cannot sign with CA '{}': its certificates would carry no authority key identifier",
                self.name
            ))
        })
    }

    fn unreproducible_subject(&self) -> Error {
        Error::input(format!(
            "certsmith cannot reproduce the subject of CA '{}' ({}) byte for byte, so certificates it signed would not chain",
            self.name,
            self.info().subject
        ))
        .hint("repeated or multi-valued name attributes are not supported")
    }

    /// The CA's key: a file key or a token key.
    pub fn key(&self) -> &CaKey {
        self.issuer.key()
    }

    /// The error of a failed signature by this CA (`what`: "the CRL", a
    /// certificate): for a token key, why the token's signature failed.
    pub fn sign_error(&self, what: &str, e: rcgen::Error) -> Error {
        if let CaKey::Token(t) = self.key()
            && let Some(err) = t.take_error()
        {
            return err;
        }
        Error::failed(format!("cannot sign {what} with CA '{}': {e}", self.name))
    }

    /// The window of a certificate this CA signs.
    pub fn window(
        &self,
        v: Validity,
        now: OffsetDateTime,
        max: Option<(time::Duration, &str)>,
        clamp: bool,
    ) -> Result<Window> {
        IssuerView::window(self, v, now, max, clamp)
    }

    /// Name constraints of this CA and all its issuers.
    pub fn constraints(&self) -> impl Iterator<Item = (&str, &NameConstraintSet)> {
        IssuerView::constraints(self)
    }

    /// Signs `params` (serial, window and AKI are set here) for `public_key`.
    pub fn sign(
        &self,
        mut params: CertificateParams,
        public_key: &impl PublicKeyData,
        window: Window,
    ) -> Result<Signed> {
        let serial = serial::random()?;
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.not_before = window.not_before;
        params.not_after = window.not_after;
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::PreSpecified(keys::key_id_of(public_key));
        let cert = params
            .signed_by(public_key, &self.issuer)
            .map_err(|e| self.sign_error("a certificate", e))?;
        let der = cert.der().to_vec();
        Ok(Signed {
            fingerprint: fingerprint(&der),
            der,
            serial: serial.to_vec(),
            window,
        })
    }
}

/// The private key of CA `name`, from where the ledger says it lives: its
/// key file (asking for the passphrase only if it is encrypted) or its
/// PKCS#11 token (logging in with the PIN). Checks the key belongs to the
/// CA's certificate; refuses a CA marked offline.
fn load_key(
    pki: &Pki,
    name: &str,
    record: &CaRecord,
    info: &CertInfo,
    pass: &PassOptions,
) -> Result<CaKey> {
    if record.offline {
        return Err(offline(name));
    }
    let (key, what) = match &record.key_ref {
        crate::keystore::KeyRef::File => {
            let key_path = pki.ca_key_path(name);
            crate::perms::check_key_file(&key_path, pki.allow_insecure_perms)?;
            let text = zeroize::Zeroizing::new(crate::input::read_to_string(
                &key_path,
                crate::input::Kind::Key,
            )?);
            let what = key_path.display().to_string();
            let key = keys::load_private_key(&text, &what, &mut || {
                passphrase::for_existing_key(pass, &format!("CA '{name}'"))
            })?;
            (CaKey::File(key), format!("the key in '{what}'"))
        }
        crate::keystore::KeyRef::Pkcs11(uri) => {
            let key =
                crate::keystore::pkcs11::open_recorded(uri, &pass.pin_options(), &info.spki_der)?;
            (CaKey::Token(key), format!("the token key '{uri}'"))
        }
    };
    if !keys::key_matches_spki(&key, &info.spki_der) {
        return Err(Error::failed(format!(
            "{what} does not belong to the certificate of CA '{name}'"
        ))
        .hint("run `certsmith doctor`"));
    }
    Ok(key)
}

/// Refuses an existing token key named for a new CA (`object=`, `id=`)
/// that is already the key of a CA in the ledger (the same public key):
/// each CA has a key of its own.
pub fn ensure_key_unused(pki: &Pki, ledger: &Ledger, key: &CaKey) -> Result<()> {
    let CaKey::Token(t) = key else {
        return Ok(());
    };
    if t.generated() {
        return Ok(());
    }
    for rec in ledger.cas()? {
        let name = rec.cert.name;
        // A CA whose certificate cannot be read might hold this very key.
        let (_, info) = pki.ca(ledger, &name).map_err(|e| {
            e.context(format!(
                "cannot check that the token key is not already the key of CA '{}'",
                crate::error::shown(&name)
            ))
        })?;
        if keys::key_matches_spki(key, &info.spki_der) {
            return Err(Error::input(format!(
                "the token key '{}' is already the key of CA '{}'",
                crate::error::shown(&t.uri().to_string()),
                crate::error::shown(&name)
            ))
            .hint("each CA needs a key of its own: leave out object= and id= to make a new key pair, or name another key"));
        }
    }
    Ok(())
}

/// The refusal for a CA whose key was marked away with `key offline`.
pub fn offline(name: &str) -> Error {
    Error::CaOffline {
        name: name.to_string(),
    }
}

/// Whether a CA signs CRLs: a CA made or adopted with `--no-crl` has a
/// keyUsage without cRLSign, and `crl` skips it.
pub fn publishes_crl(info: &CertInfo) -> bool {
    info.key_usage.is_empty() || info.key_usage.contains(&"cRLSign")
}

/// Refuses issuing from `chain[0]` when it, or a CA above it, is revoked,
/// superseded or expired at `now`, naming the CA, its state and the date.
pub fn check_alive(ledger: &Ledger, chain: &[CaRecord], now: OffsetDateTime) -> Result<()> {
    let issuer = chain
        .first()
        .map(|r| r.cert.name.as_str())
        .unwrap_or_default();
    for (depth, rec) in chain.iter().enumerate() {
        let c = &rec.cert;
        let date =
            |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let state = match c.status(now.unix_timestamp()) {
            "revoked" => DeadCa::Revoked {
                on: date(c.revoked_at.unwrap_or_default()),
                reason: c
                    .revocation_reason
                    .clone()
                    .unwrap_or_else(|| "unspecified".into()),
            },
            "superseded" => DeadCa::Superseded {
                serial: c.serial.clone(),
                taken: ledger
                    .cert_by_name(&c.name)?
                    .map(|new| (new.kind.as_str().to_string(), date(new.created_at))),
            },
            "expired" => DeadCa::Expired {
                on: date(c.not_after),
            },
            _ => continue,
        };
        return Err(Error::CaNotAlive {
            name: c.name.clone(),
            above: (depth > 0).then(|| issuer.to_string()),
            state,
        });
    }
    Ok(())
}

fn ca_params(
    req: &CaRequest,
    key: &impl PublicKeyData,
    profile: &Profile,
    pathlen: Option<u8>,
) -> Result<CertificateParams> {
    let mut p = CertificateParams::default();
    p.distinguished_name = req.subject.to_dn()?;
    p.is_ca = match pathlen {
        Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
        None => IsCa::Ca(BasicConstraints::Unconstrained),
    };
    p.key_usages = profile.key_usage_for(keys::key_type_of(key)?);
    if req.no_crl {
        p.key_usages.retain(|u| *u != KeyUsagePurpose::CrlSign);
    } else if !p.key_usages.contains(&KeyUsagePurpose::CrlSign) {
        return Err(Error::input(format!(
            "profile '{}' gives the new CA no right to sign CRLs (keyUsage lacks cRLSign), so `certsmith crl` could not publish its revocations",
            profile.name
        ))
        .hint("pass --no-crl to make a CA that publishes no CRL, or add \"cRLSign\" to the profile's key_usage"));
    }
    p.name_constraints = req.constraints.to_rcgen();
    p.key_identifier_method = KeyIdMethod::PreSpecified(keys::key_id_of(key));
    Ok(p)
}

/// Makes a self-signed root certificate for `key`, carrying its own
/// revocation `urls` (verifiers that check the whole chain, as OpenSSL's
/// `-crl_check_all` does, look up the root's CRL there too).
pub fn make_root(
    req: &CaRequest,
    key: &impl SigningKey,
    profile: &Profile,
    urls: &crate::ca_urls::CaUrls,
    now: OffsetDateTime,
) -> Result<Signed> {
    let v = req.validity.unwrap_or(profile.default_validity);
    let window = validity::window(
        v,
        now,
        None,
        Some((profile.max_validity, &profile.name)),
        req.clamp,
    )?;
    let pathlen = req.pathlen.or(profile.default_pathlen);
    let mut p = ca_params(req, key, profile, pathlen)?;
    if profile.revocation_urls {
        urls.apply(&mut p)?;
    }
    let serial = serial::random()?;
    p.serial_number = Some(SerialNumber::from_slice(&serial));
    p.not_before = window.not_before;
    p.not_after = window.not_after;
    let cert = p
        .self_signed(key)
        .map_err(|e| Error::failed(format!("cannot self-sign the root: {e}")))?;
    let der = cert.der().to_vec();
    Ok(Signed {
        fingerprint: fingerprint(&der),
        der,
        serial: serial.to_vec(),
        window,
    })
}

/// The pathlen rule for a new CA under a chain of CAs (`pathlens`: the
/// issuer's first, then each CA above it): the CA at depth d above the new
/// one must allow d further CAs below it. The first CA that does not, as
/// its depth and pathlen.
pub fn pathlen_exceeded(pathlens: impl IntoIterator<Item = Option<u32>>) -> Option<(usize, u32)> {
    pathlens.into_iter().enumerate().find_map(|(depth, p)| {
        p.filter(|&limit| (limit as usize) < depth + 1)
            .map(|l| (depth, l))
    })
}

/// Makes an intermediate CA certificate for `key`, signed by `signer`,
/// after checking pathlen and name constraints of every CA above it.
/// Returns it with the pathlen it carries (for the ledger).
pub fn make_intermediate(
    req: &CaRequest,
    key: &impl PublicKeyData,
    profile: &Profile,
    signer: &Signer,
    now: OffsetDateTime,
) -> Result<(Signed, Option<u8>)> {
    if let Some((depth, limit)) = pathlen_exceeded(signer.chain.iter().map(|c| c.pathlen)) {
        return Err(Error::PathLen {
            // The ledger name, as for an import (chain_names[0] is the issuer).
            ca: signer.chain_names[depth].clone(),
            pathlen: limit,
            levels: depth + 1,
            case: crate::error::PathLenCase::Intermediate,
        });
    }
    let max_child = signer.info().pathlen.map(|l| l.saturating_sub(1));
    let pathlen = req.pathlen.or(profile.default_pathlen);
    if let (Some(max), Some(want)) = (max_child, pathlen)
        && u32::from(want) > max
    {
        return Err(Error::input(format!(
            "--pathlen {want} is more than issuer '{}' allows below it ({max})",
            signer.name
        )));
    }
    let pathlen = match (pathlen, max_child) {
        (None, Some(m)) => Some(m.min(255) as u8),
        (p, _) => p,
    };
    for (subject, nc) in signer.constraints() {
        if let Some(why) = nc
            .check_subject(&req.subject)
            .or_else(|| nc.check_subordinate(&req.constraints))
        {
            return Err(Error::input(format!(
                "the new CA is outside the name constraints of '{subject}': {why}"
            )));
        }
    }
    let v = req.validity.unwrap_or(profile.default_validity);
    let window = signer.window(
        v,
        now,
        Some((profile.max_validity, &profile.name)),
        req.clamp,
    )?;
    let mut p = ca_params(req, key, profile, pathlen)?;
    if profile.revocation_urls {
        signer.urls.apply(&mut p)?;
    }
    Ok((signer.sign(p, key, window)?, pathlen))
}

/// Writes nothing; checks whether a name is free for a new CA.
pub fn ensure_name_free(ledger: &Ledger, name: &str) -> Result<()> {
    if ledger.ca(name)?.is_some() || ledger.cert_by_name(name)?.is_some() {
        return Err(
            Error::input(format!("name '{name}' is already taken in the ledger"))
                .hint("choose another name for the CA"),
        );
    }
    Ok(())
}

/// A CA certificate and key ready to be written: a key file to write
/// (`KeyPair`, or [`CaKey::File`]) or a key already in its token.
pub struct NewCa<K: StoredKey = KeyPair> {
    pub name: String,
    pub kind: crate::ledger::Kind,
    pub issuer: Option<String>,
    pub profile: String,
    pub signed: Signed,
    pub subject: String,
    pub key: K,
    pub pathlen: Option<u32>,
}

/// What `write_ca` wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CreatedCa {
    pub name: String,
    pub kind: &'static str,
    pub subject: String,
    pub serial: String,
    pub key_type: String,
    pub not_before: String,
    pub not_after: String,
    #[serde(rename = "sha256_fingerprint")]
    pub fingerprint: String,
    pub encrypted: bool,
    pub clamped: bool,
    pub files: Vec<std::path::PathBuf>,
    /// The token key's URI when the key lives in a PKCS#11 token (no key file).
    pub key_ref: Option<String>,
}

/// Writes `cas/<name>/ca.pem` and `ca.key.pem` (encrypted unless `pass` is
/// `None`) and records the CA in the ledger, all or nothing.
pub fn write_ca<K: StoredKey>(
    pki: &Pki,
    ledger: &mut Ledger,
    new: &NewCa<K>,
    pass: Option<&passphrase::Passphrase>,
    kdf: keys::Kdf,
    now: OffsetDateTime,
    check: crate::ledger::Check<'_>,
) -> Result<CreatedCa> {
    let key_type = keys::key_type_of(&new.key)?;
    // A token key stays in its token: no key file, nothing to encrypt.
    let pass = new.key.file_key().and(pass);
    let key_pem = match (new.key.file_key(), pass) {
        (Some(k), Some(p)) => Some(keys::to_encrypted_pem(k, p, kdf)?),
        (Some(k), None) => Some(keys::to_pem(k)?),
        (None, _) => None,
    };
    let dir = pki.ca_dir(&new.name);
    let rec = crate::ledger::CertRecord {
        id: 0,
        name: new.name.clone(),
        kind: new.kind,
        issuer: new.issuer.clone(),
        serial: new.signed.serial_hex(),
        subject: new.subject.clone(),
        sans: Vec::new(),
        profile: new.profile.clone(),
        key_type: key_type.to_string(),
        not_before: new.signed.window.not_before.unix_timestamp(),
        not_after: new.signed.window.not_after.unix_timestamp(),
        fingerprint: new.signed.fingerprint.clone(),
        state: "active".into(),
        revoked_at: None,
        revocation_reason: None,
        dir: pki.ledger_dir(&dir),
        has_key: true,
        created_at: now.unix_timestamp(),
        issued_by: None,
        revoked_by: None,
        der: Some(new.signed.der.clone()),
    };
    let key_path = key_pem.as_ref().map(|_| pki.ca_key_path(&new.name));
    for f in key_path.iter().chain([&pki.ca_cert_path(&new.name)]) {
        crate::store::refuse_symlinks(&pki.root, f)?;
        // CAs are never re-issued over: point at another name or at doctor, not --force.
        crate::store::refuse_existing(f).map_err(|e| {
            e.hint("choose another name, or run `certsmith doctor` to find where the leftover files came from")
        })?;
    }
    let dir_existed = dir.exists();
    crate::store::pause_point("ca-signed");
    let reservation =
        ledger.reserve_ca(&rec, pass.is_some(), new.pathlen, &new.key.key_ref(), check)?;
    let result = (|| -> std::result::Result<_, crate::store::Unsettled> {
        let mut staged = crate::store::Staged::new(&pki.root);
        if let (Some(path), Some(pem)) = (&key_path, &key_pem) {
            staged.add(
                path,
                pem.as_bytes(),
                crate::store::KEY_MODE,
                crate::store::Existing::Refuse,
            )?;
        }
        staged.add(
            &pki.ca_cert_path(&new.name),
            new.signed.pem().as_bytes(),
            crate::store::PUBLIC_MODE,
            crate::store::Existing::Refuse,
        )?;
        let placed = staged.try_place()?;
        placed.try_settle(ledger.confirm(&reservation))
    })();
    let files = match result {
        Ok(f) => f,
        // Files not put back: the reservation stays pending for `doctor --repair`.
        Err(u) if !u.undone => return Err(u.error),
        Err(crate::store::Unsettled { error: e, .. }) => {
            let e = ledger.abandon_after(reservation, e);
            if !dir_existed {
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    };
    Ok(CreatedCa {
        name: new.name.clone(),
        kind: new.kind.as_str(),
        subject: new.subject.clone(),
        serial: rec.serial,
        key_type: rec.key_type,
        not_before: crate::clock::rfc3339(new.signed.window.not_before),
        not_after: crate::clock::rfc3339(new.signed.window.not_after),
        fingerprint: rec.fingerprint,
        encrypted: pass.is_some(),
        clamped: new.signed.window.clamped,
        files,
        key_ref: new.key.key_ref().to_ledger(),
    })
}
