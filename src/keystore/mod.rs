//! Where a CA key lives and the one thing certsmith asks of it: to sign.
//!
//! A CA key is either a key file (`cas/<name>/ca.key.pem`, loaded into
//! memory) or a key pair inside a PKCS#11 token that never leaves it.
//! [`CaKey`] implements rcgen's [`SigningKey`], so an
//! `rcgen::Issuer<'static, CaKey>` signs certificates and CRLs either way.

pub mod pkcs11;
pub mod uri;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};

use crate::error::{Error, Result};
use crate::keys::KeyType;

pub use pkcs11::{PinOptions, TokenKey};
pub use uri::Pkcs11Uri;

/// Where a CA's private key is kept (`--key-store`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyStore {
    /// `cas/<name>/ca.key.pem` in the PKI directory.
    #[default]
    File,
    /// A PKCS#11 token (an HSM, a smart card, SoftHSM).
    Pkcs11,
}

impl KeyStore {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStore::File => "file",
            KeyStore::Pkcs11 => "pkcs11",
        }
    }
}

impl fmt::Display for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyStore {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "file" => Ok(KeyStore::File),
            "pkcs11" => Ok(KeyStore::Pkcs11),
            _ => Err(
                Error::input(format!("unknown key store '{}'", crate::error::shown(s)))
                    .hint("use --key-store file or --key-store pkcs11"),
            ),
        }
    }
}

/// Where one CA's key lives, as the ledger records it: a file, or a token
/// key named by an RFC 7512 URI that carries the module path (never a PIN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRef {
    File,
    Pkcs11(Pkcs11Uri),
}

impl KeyRef {
    pub fn store(&self) -> KeyStore {
        match self {
            KeyRef::File => KeyStore::File,
            KeyRef::Pkcs11(_) => KeyStore::Pkcs11,
        }
    }

    /// The ledger's `key_ref` column: `None` for a file.
    pub fn to_ledger(&self) -> Option<String> {
        match self {
            KeyRef::File => None,
            KeyRef::Pkcs11(u) => Some(u.to_string()),
        }
    }

    /// Reads the ledger's `key_store` and `key_ref` columns.
    pub fn from_ledger(store: Option<&str>, key_ref: Option<&str>) -> Result<KeyRef> {
        match (store, key_ref) {
            (None | Some("file"), _) => Ok(KeyRef::File),
            (Some("pkcs11"), Some(r)) => Ok(KeyRef::Pkcs11(r.parse()?)),
            (Some(s), _) => Err(Error::failed(format!(
                "the ledger names key store '{}' without a usable key reference",
                crate::error::shown(s)
            ))
            .hint("run `certsmith doctor`")),
        }
    }
}

impl KeyRef {
    /// Refuses, before anything is loaded or asked, to write out the key
    /// of CA `ca` when it lives in a token: a token key never leaves it.
    pub fn refuse_export(&self, ca: &str) -> Result<()> {
        match self {
            KeyRef::File => Ok(()),
            KeyRef::Pkcs11(u) => Err(export_refused(ca, u)),
        }
    }
}

fn export_refused(ca: &str, uri: &Pkcs11Uri) -> Error {
    Error::input(format!(
        "the key of CA '{}' is held in PKCS#11 token '{}' and cannot be exported",
        crate::error::shown(ca),
        crate::error::shown(&uri.token)
    ))
    .hint("a token key never leaves its token; use a CA with a file key where its key must be handed over")
}

impl fmt::Display for KeyRef {
    /// What `status`, `inspect` and `doctor` show as where a key lives:
    /// `file`, or the token key's URI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::File => f.write_str("file"),
            KeyRef::Pkcs11(u) => write!(f, "{u}"),
        }
    }
}

/// Where a new CA's key goes: `--key-store`, `--pkcs11-module`,
/// `--pkcs11-uri` and where the token PIN comes from.
#[derive(Clone, Debug, Default)]
pub struct NewKeyStore {
    pub store: KeyStore,
    /// `--pkcs11-module PATH` (else the URI's module-path, else
    /// `$CERTSMITH_PKCS11_MODULE`).
    pub module: Option<std::path::PathBuf>,
    /// `--pkcs11-uri URI`.
    pub uri: Option<String>,
    pub pins: PinOptions,
}

impl NewKeyStore {
    /// Whether the new key goes into a token (then it has no passphrase).
    pub fn in_token(&self) -> bool {
        self.store == KeyStore::Pkcs11
    }

    /// Checks the flags agree, before anything is asked or made.
    pub fn check(&self) -> Result<()> {
        match (self.store, &self.uri, &self.module) {
            (KeyStore::Pkcs11, None, _) => Err(Error::input(
                "--key-store pkcs11 needs --pkcs11-uri naming the token",
            )
            .hint("e.g. --pkcs11-uri 'pkcs11:token=acme-ca'")),
            (KeyStore::Pkcs11, Some(u), _) => u.parse::<Pkcs11Uri>().map(|_| ()),
            (KeyStore::File, Some(_), _) => {
                Err(Error::input("--pkcs11-uri needs --key-store pkcs11"))
            }
            (KeyStore::File, None, _) => Ok(()),
        }
    }

    /// The key of new CA `ca`: generated in memory (to be written as a
    /// key file) or in the token (labelled `ca`, CKA_ID the bytes of
    /// `ca`), or the existing token key the URI names (its own type,
    /// which must be `requested`, the `--key` given, if any).
    pub fn make_key(
        &self,
        key_type: KeyType,
        requested: Option<KeyType>,
        ca: &str,
    ) -> Result<CaKey> {
        self.check()?;
        let Some(text) = self.uri.as_deref().filter(|_| self.in_token()) else {
            return key_type.generate().map(CaKey::File);
        };
        let mut uri: Pkcs11Uri = text.parse()?;
        let module = pkcs11::resolve_module(self.module.as_deref(), &uri)?;
        uri.module_path = Some(std::path::absolute(&module).unwrap_or(module));
        let names_key = uri.object.is_some() || uri.id.is_some();
        let token = pkcs11::Token::open(&uri, &self.pins)?;
        let key = if names_key {
            let key = TokenKey::find(token, None)?;
            if let Some(r) = requested.filter(|r| *r != key.key_type()) {
                return Err(Error::input(format!(
                    "the token key '{}' is an {} key, not the {r} that --key asks for",
                    crate::error::shown(&key.uri().to_string()),
                    key.key_type()
                ))
                .hint("leave out --key to use the token key's own type, or name another key"));
            }
            key
        } else {
            TokenKey::generate(token, key_type, ca)?
        };
        Ok(CaKey::Token(key))
    }
}

/// A CA's private key, wherever it lives: what an issuer signs with.
pub enum CaKey {
    File(KeyPair),
    Token(TokenKey),
}

impl fmt::Debug for CaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaKey::File(_) => f.write_str("CaKey::File([secret key elided])"),
            CaKey::Token(t) => write!(f, "CaKey::Token({})", t.uri()),
        }
    }
}

impl CaKey {
    /// The type of this key.
    pub fn key_type(&self) -> Result<KeyType> {
        crate::keys::key_type_of(self)
    }

    /// Where this key lives.
    pub fn key_ref(&self) -> KeyRef {
        match self {
            CaKey::File(_) => KeyRef::File,
            CaKey::Token(t) => KeyRef::Pkcs11(t.uri().clone()),
        }
    }

    /// The key itself, for what writes a key out (a trust-store bundle
    /// that carries the CA key): refused for a token key, which never
    /// leaves its token.
    pub fn exportable(&self, ca: &str) -> Result<&KeyPair> {
        match self {
            CaKey::File(k) => Ok(k),
            CaKey::Token(t) => Err(export_refused(ca, t.uri())),
        }
    }

    /// Undoes [`NewKeyStore::make_key`] for a CA that was not created: a
    /// key pair this process generated in a token is removed from it.
    pub fn discard(self) {
        if let CaKey::Token(t) = self
            && t.generated()
        {
            let _ = t.destroy();
        }
    }

    /// How many signatures this key has made in this process.
    pub fn signatures(&self) -> u64 {
        match self {
            CaKey::File(_) => 0,
            CaKey::Token(t) => t.signatures(),
        }
    }
}

impl PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaKey::File(k) => k.der_bytes(),
            CaKey::Token(t) => t.der_bytes(),
        }
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaKey::File(k) => k.algorithm(),
            CaKey::Token(t) => t.algorithm(),
        }
    }
}

impl SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        match self {
            CaKey::File(k) => k.sign(msg),
            CaKey::Token(t) => t.sign(msg),
        }
    }
}

/// A new CA's key as `write_ca` stores it: a key pair to write to a key
/// file, or a key already kept in its token.
pub trait StoredKey: SigningKey {
    /// The key pair to write as `ca.key.pem`; `None` for a token key.
    fn file_key(&self) -> Option<&KeyPair>;
    /// Where the ledger records the key.
    fn key_ref(&self) -> KeyRef;
}

impl StoredKey for KeyPair {
    fn file_key(&self) -> Option<&KeyPair> {
        Some(self)
    }
    fn key_ref(&self) -> KeyRef {
        KeyRef::File
    }
}

impl StoredKey for CaKey {
    fn file_key(&self) -> Option<&KeyPair> {
        match self {
            CaKey::File(k) => Some(k),
            CaKey::Token(_) => None,
        }
    }
    fn key_ref(&self) -> KeyRef {
        CaKey::key_ref(self)
    }
}

/// A public key that "signs" with a fixed dummy signature: stands in for
/// a CA key where only what rcgen writes around a signature is read back
/// (the issuer name, the AKI), so checking a CA never uses its real key.
pub struct PublicOnly {
    der: Vec<u8>,
    alg: &'static SignatureAlgorithm,
    signatures: AtomicU64,
}

impl PublicOnly {
    /// The public key of a certificate's SubjectPublicKeyInfo.
    pub fn from_spki(spki_der: &[u8]) -> Result<PublicOnly> {
        use x509_parser::prelude::FromDer;
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
            .map_err(|_| Error::input("cannot read the certificate's public key"))?;
        let kind = crate::keys::public_key_kind(&spki);
        let key_type = KeyType::of_public_key(&kind).ok_or_else(|| {
            Error::input(format!("key type {kind} is not supported by certsmith"))
        })?;
        Ok(PublicOnly {
            der: spki.subject_public_key.data.to_vec(),
            alg: key_type.signature_algorithm(),
            signatures: AtomicU64::new(0),
        })
    }

    /// How many dummy signatures were asked of it.
    pub fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }
}

impl PublicKeyData for PublicOnly {
    fn der_bytes(&self) -> &[u8] {
        &self.der
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

impl SigningKey for PublicOnly {
    fn sign(&self, _msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        self.signatures.fetch_add(1, Ordering::Relaxed);
        Ok(vec![0])
    }
}

/// What `key offline` / `key online` did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfflineReport {
    pub ca: String,
    pub offline: bool,
    /// Where its key lives.
    pub key: String,
}

/// Marks CA `ca`'s key away (`offline`: a root in a safe, a token
/// unplugged) or back. An offline CA signs nothing: `crl` without `--ca`
/// skips it with a note, `doctor` reports it as offline, and a command
/// that needs its key says "CA '…' is offline".
pub fn set_offline(
    pki: &crate::pki::Pki,
    ledger: &mut crate::ledger::Ledger,
    ca: &str,
    offline: bool,
) -> Result<OfflineReport> {
    let (rec, _) = pki.ca(ledger, ca)?;
    ledger.set_offline(ca, offline)?;
    Ok(OfflineReport {
        ca: ca.to_string(),
        offline,
        key: rec.key_ref.to_string(),
    })
}

/// Where the key of the CA whose certificate has `fingerprint` lives, if
/// that CA is in the PKI at `pki` (for `inspect` of a CA certificate).
/// Reads the ledger without writing; `None` when there is none.
pub fn ca_key_location(pki: &crate::pki::Pki, fingerprint: &str) -> Option<(String, KeyRef, bool)> {
    if !pki.ledger_path().is_file() {
        return None;
    }
    let ledger = pki.read_ledger().ok()?;
    ledger
        .cas()
        .ok()?
        .into_iter()
        .find(|c| c.cert.fingerprint == fingerprint)
        .map(|c| (c.cert.name, c.key_ref, c.offline))
}

/// How `status` describes a CA's key: `key encrypted`, `key NOT
/// encrypted`, or `key in pkcs11:token=…`, with `, OFFLINE` when it is away.
pub fn key_summary(ca: &crate::ledger::CaRecord) -> String {
    let text = match &ca.key_ref {
        KeyRef::File if ca.encrypted => "key encrypted".to_string(),
        KeyRef::File => "key NOT encrypted".to_string(),
        KeyRef::Pkcs11(u) => format!("key in {u}"),
    };
    if ca.offline {
        format!("{text}, OFFLINE")
    } else {
        text
    }
}
