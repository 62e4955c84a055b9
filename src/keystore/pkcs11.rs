//! CA keys in a PKCS#11 token: open the module, find the token named by an
//! RFC 7512 URI, log in, generate or find the key pair, and sign with it.
//! The private key is made sensitive and never extractable; the PIN comes
//! from a file, the environment or a terminal prompt and is never stored,
//! shown or put in an error.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, KeyType as P11KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result, shown};
use crate::keys::KeyType;
use crate::keystore::Pkcs11Uri;

/// Environment variable naming the PKCS#11 module (`--pkcs11-module`).
pub const MODULE_ENV: &str = "CERTSMITH_PKCS11_MODULE";
/// Environment variable holding the token's user PIN.
pub const PIN_ENV: &str = "CERTSMITH_PKCS11_PIN";

/// DER of the named-curve OIDs (CKA_EC_PARAMS).
const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_PARAMS: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

/// Where the token's user PIN may come from, in order: `--pin-file`,
/// `$CERTSMITH_PKCS11_PIN`, a terminal prompt.
#[derive(Clone, Debug, Default)]
pub struct PinOptions {
    /// `--pin-file FILE`: the first line of the file.
    pub file: Option<PathBuf>,
}

impl PinOptions {
    /// Whether a PIN can be had without failing: a file, the environment
    /// or a terminal.
    pub fn available(&self) -> bool {
        self.file.is_some()
            || std::env::var_os(PIN_ENV).is_some()
            || crate::passphrase::can_prompt()
    }
}

/// The token's user PIN, from where `opts` allows. Never shown.
fn pin(opts: &PinOptions, token: &str) -> Result<AuthPin> {
    let text = if let Some(f) = &opts.file {
        let bytes = Zeroizing::new(crate::input::read(f, crate::input::Kind::PinFile)?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            Error::input(format!(
                "PIN file '{}' is not UTF-8 text",
                shown(&f.display().to_string())
            ))
        })?;
        // The first line, without its line end; later lines must be empty.
        let (line, rest) = text.split_once('\n').unwrap_or((text, ""));
        let line = line.strip_suffix('\r').unwrap_or(line);
        if rest.lines().any(|l| !l.trim_end_matches('\r').is_empty()) {
            return Err(Error::input(format!(
                "PIN file '{}' has more than one line",
                shown(&f.display().to_string())
            ))
            .hint("the PIN file holds the PIN alone, on its first line"));
        }
        if line.is_empty() {
            return Err(Error::input(format!(
                "the first line of PIN file '{}' is empty",
                shown(&f.display().to_string())
            ))
            .hint("the PIN file holds the PIN alone, on its first line"));
        }
        check_pin(
            line,
            &format!("the PIN in PIN file '{}'", shown(&f.display().to_string())),
        )?;
        Zeroizing::new(line.to_string())
    } else if let Ok(v) = std::env::var(PIN_ENV) {
        if v.is_empty() {
            return Err(Error::input(format!("${PIN_ENV} is empty")));
        }
        check_pin(&v, &format!("the PIN in ${PIN_ENV}"))?;
        Zeroizing::new(v)
    } else if crate::passphrase::can_prompt() {
        let v = Zeroizing::new(
            dialoguer::Password::new()
                .with_prompt(format!("User PIN of PKCS#11 token '{}'", shown(token)))
                .interact()
                .map_err(|e| Error::input(format!("cannot read the PIN: {e}")))?,
        );
        check_pin(&v, "the PIN typed")?;
        v
    } else {
        return Err(Error::input(format!(
            "PKCS#11 token '{}' needs its user PIN and there is no terminal to ask for it",
            shown(token)
        ))
        .hint(format!("pass --pin-file FILE or set ${PIN_ENV}")));
    };
    Ok(AuthPin::from(text.as_str()))
}

/// Refuses, before any login, a PIN the user cannot have meant: one with
/// leading or trailing whitespace, a control character (NUL included) or
/// a UTF-8 byte order mark. `source` names it ("the PIN in …"); the
/// PIN itself is never shown.
fn check_pin(pin: &str, source: &str) -> Result<()> {
    let problem = if pin.starts_with('\u{feff}') {
        "starts with a UTF-8 byte order mark"
    } else if pin.starts_with(char::is_whitespace) || pin.ends_with(char::is_whitespace) {
        "has leading or trailing whitespace"
    } else if pin.chars().any(char::is_control) {
        "holds a control character"
    } else {
        return Ok(());
    };
    Err(Error::input(format!("{source} {problem}")).hint(
        "write the PIN alone, as the token knows it (no spaces, no BOM, no control characters)",
    ))
}

/// The module a new token CA uses: `--pkcs11-module`, else the URI's
/// `module-path`, else `$CERTSMITH_PKCS11_MODULE`.
pub fn resolve_module(flag: Option<&Path>, uri: &Pkcs11Uri) -> Result<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| uri.module_path.clone())
        .or_else(|| std::env::var_os(MODULE_ENV).map(PathBuf::from))
        .ok_or_else(|| {
            Error::input("a PKCS#11 key store needs the path of the token's PKCS#11 module")
                .hint(format!("pass --pkcs11-module PATH (e.g. /usr/lib/softhsm/libsofthsm2.so) or set ${MODULE_ENV}"))
        })
}

/// A logged-in session with one token. Signing is serial: one operation
/// at a time goes through the session.
pub struct Token {
    session: Arc<Mutex<Session>>,
    slot: cryptoki::slot::Slot,
    ctx: Pkcs11,
    uri: Pkcs11Uri,
}

/// A one-line error for a failed PKCS#11 call on `uri`'s token.
fn p11_err(uri: &Pkcs11Uri, doing: &str, e: P11Error) -> Error {
    let token = shown(&uri.token);
    match e {
        P11Error::Pkcs11(RvError::PinIncorrect, _) => Error::WrongPin {
            token: uri.token.clone(),
        },
        P11Error::Pkcs11(RvError::PinLocked, _) => Error::input(format!(
            "the user PIN of PKCS#11 token '{token}' is locked"
        ))
        .hint("unlock it with the token's security officer PIN (e.g. `pkcs11-tool --init-pin --login --login-type so`)"),
        P11Error::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _) => Error::input(format!(
            "the user PIN given for PKCS#11 token '{token}' has a length or characters the token refuses"
        ))
        .hint(format!("check --pin-file or ${PIN_ENV}")),
        P11Error::Pkcs11(
            RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SessionHandleInvalid,
            _,
        ) => Error::input(format!("PKCS#11 token '{token}' is not present (while {doing})"))
            .hint("plug the token in, or mark its CA offline with `certsmith key offline NAME`"),
        P11Error::Pkcs11(rv, f) => Error::input(format!(
            "PKCS#11 token '{token}' refused {doing}: {f:?} returned {rv:?}"
        ))
        .hint("run `certsmith doctor`; `pkcs11-tool --module MODULE --list-token-slots` shows what the module sees"),
        other => Error::input(format!(
            "PKCS#11 token '{token}' failed while {doing}: {}",
            shown(&other.to_string())
        )),
    }
}

/// The module at `module`, loaded and initialised once per process (a
/// second `C_Initialize` of the same module is refused by PKCS#11).
fn context(module: &Path, uri: &Pkcs11Uri) -> Result<Pkcs11> {
    static LOADED: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, ctx)) = loaded.iter().find(|(p, _)| p == module) {
        return Ok(ctx.clone());
    }
    let ctx = Pkcs11::new(module).map_err(|e| {
        Error::input(format!(
            "cannot load PKCS#11 module '{}': {}",
            shown(&module.display().to_string()),
            shown(&e.to_string())
        ))
        .hint("pass the path of the token's PKCS#11 shared library with --pkcs11-module PATH")
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(p11_err(uri, "initialising the module", e)),
    }
    loaded.push((module.to_path_buf(), ctx.clone()));
    Ok(ctx)
}

/// Who a token is, whatever path its module was loaded by: C_GetTokenInfo's
/// manufacturer, model, serial number and label.
type TokenId = [String; 4];

/// Logs `session` in to `uri`'s token (`id`). A PIN the token refused is never
/// tried again in this process (a smart card locks after a few wrong
/// tries): every later login to that token returns the same error.
fn login(session: &Session, id: &TokenId, uri: &Pkcs11Uri, pins: &PinOptions) -> Result<()> {
    type Refused = Vec<(TokenId, (RvError, cryptoki::context::Function))>;
    static REFUSED: Mutex<Refused> = Mutex::new(Vec::new());
    let key = id.clone();
    let refused = || REFUSED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, (rv, f))) = refused().iter().find(|(k, _)| *k == key) {
        return Err(p11_err(uri, "logging in", P11Error::Pkcs11(*rv, *f)));
    }
    let pin = pin(pins, &uri.token)?;
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(P11Error::Pkcs11(
            rv @ (RvError::PinIncorrect
            | RvError::PinLocked
            | RvError::PinInvalid
            | RvError::PinLenRange),
            f,
        )) => {
            refused().push((key, (rv, f)));
            Err(p11_err(uri, "logging in", P11Error::Pkcs11(rv, f)))
        }
        Err(e) => Err(p11_err(uri, "logging in", e)),
    }
}

impl Token {
    /// Loads the module `uri` names, finds its token and logs in with the PIN.
    pub fn open(uri: &Pkcs11Uri, pins: &PinOptions) -> Result<Arc<Token>> {
        let module = uri.module_path.clone().ok_or_else(|| {
            Error::input(format!(
                "PKCS#11 URI '{}' names no module-path",
                shown(&uri.to_string())
            ))
        })?;
        let shown_module = shown(&module.display().to_string());
        // Two spellings of one module (a symlink) load it once.
        let module = std::fs::canonicalize(&module).unwrap_or(module);
        if !module.is_file() {
            return Err(Error::input(format!(
                "PKCS#11 module '{shown_module}' does not exist"
            ))
            .hint(format!("install the module (e.g. `apt-get install softhsm2`); if it moved, set ${MODULE_ENV} to its new path (used only when the module the ledger records does not exist); a CA whose token is away can be marked with `certsmith key offline NAME`")));
        }
        let ctx = context(&module, uri)?;
        let slots = ctx
            .get_slots_with_initialized_token()
            .map_err(|e| p11_err(uri, "listing slots", e))?;
        let mut labels = Vec::new();
        let mut found = None;
        for slot in slots {
            let info = ctx
                .get_token_info(slot)
                .map_err(|e| p11_err(uri, "reading token information", e))?;
            let label = info.label().trim_end().to_string();
            if label == uri.token {
                let id: TokenId = [
                    info.manufacturer_id().trim_end().to_string(),
                    info.model().trim_end().to_string(),
                    info.serial_number().trim_end().to_string(),
                    label,
                ];
                found = Some((slot, id));
                break;
            }
            labels.push(format!("'{}'", shown(&label)));
        }
        let (slot, id) = found.ok_or_else(|| {
            Error::input(format!(
                "PKCS#11 module '{shown_module}' has no token labelled '{}'",
                shown(&uri.token)
            ))
            .hint(if labels.is_empty() {
                "the module sees no initialised token; create one (e.g. `softhsm2-util --init-token --free --label LABEL`)".to_string()
            } else {
                format!("tokens it has: {}", labels.join(", "))
            })
        })?;
        // One logged-in session per token for the whole process: every CA
        // key in it signs through it, and the PIN is asked (and tried) once.
        // Keyed by the token's identity, not by the module path as typed.
        type Sessions = Vec<(TokenId, Arc<Mutex<Session>>)>;
        static SESSIONS: Mutex<Sessions> = Mutex::new(Vec::new());
        let mut sessions = SESSIONS.lock().unwrap_or_else(|p| p.into_inner());
        let session = match sessions.iter().find(|(k, _)| *k == id) {
            Some((_, s)) => s.clone(),
            None => {
                let session = ctx
                    .open_rw_session(slot)
                    .map_err(|e| p11_err(uri, "opening a session", e))?;
                // Another application's session may have logged in already.
                let logged_in = session.get_session_info().is_ok_and(|i| {
                    matches!(
                        i.session_state(),
                        SessionState::RwUser | SessionState::RoUser
                    )
                });
                if !logged_in {
                    login(&session, &id, uri, pins)?;
                }
                let s = Arc::new(Mutex::new(session));
                sessions.push((id, s.clone()));
                s
            }
        };
        drop(sessions);
        Ok(Arc::new(Token {
            session,
            slot,
            ctx,
            uri: uri.clone(),
        }))
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        // A panic while signing poisons nothing a later signature relies on.
        self.session.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn require_mechanism(&self, m: MechanismType, name: &str, key_type: KeyType) -> Result<()> {
        let list = self
            .ctx
            .get_mechanism_list(self.slot)
            .map_err(|e| p11_err(&self.uri, "listing mechanisms", e))?;
        if list.contains(&m) {
            return Ok(());
        }
        Err(Error::input(format!(
            "PKCS#11 token '{}' does not support {name}, which a {key_type} CA key needs",
            shown(&self.uri.token)
        ))
        .hint("choose another --key (ecdsa-p256 works with every common token)"))
    }

    fn find(&self, template: &[Attribute]) -> Result<Vec<ObjectHandle>> {
        self.session()
            .find_objects(template)
            .map_err(|e| p11_err(&self.uri, "searching objects", e))
    }
}

/// The key of a CA the ledger records at `uri`, whose certificate holds
/// `certified` (a DER SubjectPublicKeyInfo): its token opened and logged
/// in to. The recorded module is loaded; only when that file does not
/// exist (a module moved since) is `$CERTSMITH_PKCS11_MODULE` tried, and
/// then every error says which module was loaded and which is recorded.
pub fn open_recorded(uri: &Pkcs11Uri, pins: &PinOptions, certified: &[u8]) -> Result<TokenKey> {
    let mut uri = uri.clone();
    let recorded = uri.module_path.clone();
    let mut origin = None;
    if recorded.as_deref().is_none_or(|m| !m.is_file())
        && let Some(m) = std::env::var_os(MODULE_ENV).filter(|m| !m.is_empty())
    {
        let m = PathBuf::from(m);
        origin = Some(format!(
            "module '{}' (from ${MODULE_ENV}; the ledger records '{}')",
            shown(&m.display().to_string()),
            shown(
                &recorded
                    .as_deref()
                    .unwrap_or(Path::new("no module"))
                    .display()
                    .to_string()
            )
        ));
        uri.module_path = Some(m);
    }
    let key = Token::open(&uri, pins).and_then(|t| TokenKey::find(t, Some(certified)));
    match (key, origin) {
        (Ok(mut k), origin) => {
            k.origin = origin;
            Ok(k)
        }
        (Err(e), Some(o)) => Err(e.context(o)),
        (Err(e), None) => Err(e),
    }
}

/// A private key inside a token: signs there, never leaves it.
pub struct TokenKey {
    token: Arc<Token>,
    private: ObjectHandle,
    public: Vec<u8>,
    key_type: KeyType,
    uri: Pkcs11Uri,
    signatures: AtomicU64,
    last_error: Mutex<Option<Error>>,
    /// The public key object [`TokenKey::generate`] made with it in
    /// this process.
    generated: Option<ObjectHandle>,
    /// Where its module came from when not from the ledger (see
    /// [`open_recorded`]).
    origin: Option<String>,
}

impl TokenKey {
    /// Generates a key pair of `key_type` in the token, labelled `label`
    /// with CKA_ID the UTF-8 bytes of `label`: sensitive, never
    /// extractable, a token object. Refuses a label or ID already used.
    pub fn generate(token: Arc<Token>, key_type: KeyType, label: &str) -> Result<TokenKey> {
        let id = label.as_bytes().to_vec();
        for (attr, what) in [
            (Attribute::Label(label.as_bytes().to_vec()), "labelled"),
            (Attribute::Id(id.clone()), "with CKA_ID"),
        ] {
            if !token.find(&[attr])?.is_empty() {
                return Err(Error::input(format!(
                    "PKCS#11 token '{}' already holds an object {what} '{}'",
                    shown(&token.uri.token),
                    shown(label)
                ))
                .hint("choose another CA name, or put its key in another token"));
            }
        }
        let (mech, mut public_t) = match key_type {
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
                token.require_mechanism(MechanismType::ECDSA, "CKM_ECDSA", key_type)?;
                let params = if key_type == KeyType::EcdsaP256 {
                    P256_PARAMS
                } else {
                    P384_PARAMS
                };
                (
                    Mechanism::EccKeyPairGen,
                    vec![Attribute::EcParams(params.to_vec())],
                )
            }
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
                token.require_mechanism(
                    MechanismType::SHA256_RSA_PKCS,
                    "CKM_SHA256_RSA_PKCS",
                    key_type,
                )?;
                let bits: u64 = match key_type {
                    KeyType::Rsa2048 => 2048,
                    KeyType::Rsa3072 => 3072,
                    _ => 4096,
                };
                (
                    Mechanism::RsaPkcsKeyPairGen,
                    vec![
                        Attribute::ModulusBits(bits.into()),
                        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                    ],
                )
            }
            KeyType::Ed25519 => {
                return Err(Error::input(
                    "certsmith makes ecdsa-p256, ecdsa-p384 and rsa-2048/3072/4096 keys in a PKCS#11 token, not ed25519",
                )
                .hint("pass --key ecdsa-p256"));
            }
        };
        let label_v = label.as_bytes().to_vec();
        public_t.extend([
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Label(label_v.clone()),
            Attribute::Id(id.clone()),
        ]);
        let private_t = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            // A CA key signs and does nothing else.
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label_v),
            Attribute::Id(id.clone()),
        ];
        let (public, private) = token
            .session()
            .generate_key_pair(&mech, &public_t, &private_t)
            .map_err(|e| p11_err(&token.uri, "generating the key pair", e))?;
        let mut uri = token.uri.clone();
        uri.object = Some(label.to_string());
        uri.id = Some(id);
        match Self::with_handle(token.clone(), private, uri, None) {
            Ok(mut key) => {
                key.generated = Some(public);
                Ok(key)
            }
            Err(e) => {
                let session = token.session();
                let _ = session.destroy_object(private);
                let _ = session.destroy_object(public);
                Err(e)
            }
        }
    }

    /// The existing private key the token's URI names (`object=`, `id=`).
    /// `certified`: the DER SubjectPublicKeyInfo of the certificate of the
    /// CA whose key this is, when it is in the ledger: then that is the
    /// public key, and the token needs no public key object at all.
    pub fn find(token: Arc<Token>, certified: Option<&[u8]>) -> Result<TokenKey> {
        let uri = token.uri.clone();
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(o) = &uri.object {
            template.push(Attribute::Label(o.as_bytes().to_vec()));
        }
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(Error::input(format!(
                "PKCS#11 URI '{}' names no key (object=LABEL or id=%..)",
                shown(&uri.to_string())
            )));
        }
        let found = token.find(&template)?;
        let private = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::input(format!(
                    "PKCS#11 token '{}' holds no private key matching '{}'",
                    shown(&uri.token),
                    shown(&uri.to_string())
                ))
                .hint(format!(
                    "list its keys with `pkcs11-tool --module {} --list-objects --login`",
                    shown(
                        &uri.module_path
                            .as_deref()
                            .unwrap_or(Path::new("MODULE"))
                            .display()
                            .to_string()
                    )
                )));
            }
            many => {
                return Err(Error::input(format!(
                    "PKCS#11 URI '{}' matches {} private keys in token '{}'",
                    shown(&uri.to_string()),
                    many.len(),
                    shown(&uri.token)
                ))
                .hint("name one key with both ;object=LABEL and ;id=%.."));
            }
        };
        Self::with_handle(token, private, uri, certified)
    }

    fn with_handle(
        token: Arc<Token>,
        private: ObjectHandle,
        mut uri: Pkcs11Uri,
        certified: Option<&[u8]>,
    ) -> Result<TokenKey> {
        let attrs = token
            .session()
            .get_attributes(
                private,
                &[
                    AttributeType::KeyType,
                    AttributeType::Id,
                    AttributeType::Label,
                ],
            )
            .map_err(|e| p11_err(&uri, "reading the key's attributes", e))?;
        let mut kind = None;
        for a in attrs {
            match a {
                Attribute::KeyType(k) => kind = Some(k),
                Attribute::Id(id) if !id.is_empty() => uri.id = Some(id),
                Attribute::Label(l) if !l.is_empty() => {
                    uri.object = String::from_utf8(l).ok().or(uri.object)
                }
                _ => {}
            }
        }
        if let Some(spki) = certified {
            let (public, key_type) = certified_key(spki, kind, &uri)?;
            require_signing_mechanism(&token, key_type)?;
            return Ok(TokenKey::new(token, private, public, key_type, uri));
        }
        let no_public = || {
            Error::input(format!(
                "PKCS#11 token '{}' holds no public key beside private key '{}'",
                shown(&uri.token),
                shown(&uri.to_string())
            ))
            .hint(
                "certsmith takes the public key object with the same CKA_ID whose key verifies a signature by the private key",
            )
        };
        let (public, key_type) = if kind == Some(P11KeyType::RSA) {
            let a = token
                .session()
                .get_attributes(
                    private,
                    &[AttributeType::Modulus, AttributeType::PublicExponent],
                )
                .map_err(|e| p11_err(&uri, "reading the RSA public key", e))?;
            let (mut n, mut e) = (Vec::new(), Vec::new());
            for x in a {
                match x {
                    Attribute::Modulus(v) => n = v,
                    Attribute::PublicExponent(v) => e = v,
                    _ => {}
                }
            }
            let bits = strip_zeros(&n).len() * 8;
            let kt = match bits {
                2048 => KeyType::Rsa2048,
                3072 => KeyType::Rsa3072,
                4096 => KeyType::Rsa4096,
                _ => {
                    return Err(Error::input(format!(
                        "the RSA key '{}' has {bits} bits; certsmith signs with 2048, 3072 or 4096",
                        shown(&uri.to_string())
                    )));
                }
            };
            require_signing_mechanism(&token, kt)?;
            let mut body = der_integer(&n);
            body.extend(der_integer(&e));
            (der_tlv(0x30, &body), kt)
        } else if kind == Some(P11KeyType::EC) {
            // The private object's own CKA_EC_POINT or CKA_PUBLIC_KEY_INFO
            // first (a token may refuse to show them on a private key);
            // else the public objects with its CKA_ID, whatever their label
            // (OpenSC PIV and ykcs11 label the two halves differently): the
            // one whose key verifies a signature by the private key.
            let own = ec_attributes(&token, private).unwrap_or_default();
            let (kt, point) = match own.key() {
                Some(k) => k,
                None => public_half(&token, private, &uri, &own)?.ok_or_else(no_public)?,
            };
            require_signing_mechanism(&token, kt)?;
            (point, kt)
        } else {
            return Err(Error::input(format!(
                "the key '{}' is neither an EC nor an RSA key",
                shown(&uri.to_string())
            )));
        };
        Ok(TokenKey::new(token, private, public, key_type, uri))
    }

    fn new(
        token: Arc<Token>,
        private: ObjectHandle,
        public: Vec<u8>,
        key_type: KeyType,
        uri: Pkcs11Uri,
    ) -> TokenKey {
        TokenKey {
            token,
            private,
            public,
            key_type,
            uri,
            signatures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            generated: None,
            origin: None,
        }
    }

    /// The full URI of this key (token, object, id, module).
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.uri
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The module it was loaded from, when that is not the one the ledger
    /// records: "module '…' (from $CERTSMITH_PKCS11_MODULE; the ledger
    /// records '…')".
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// Whether this process generated the key pair.
    pub fn generated(&self) -> bool {
        self.generated.is_some()
    }

    /// How many signatures the token made with this key in this process.
    pub fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }

    /// The error behind the last failed signature, if any.
    pub fn take_error(&self) -> Option<Error> {
        self.last_error.lock().ok().and_then(|mut e| e.take())
    }

    /// Removes the key pair this process generated from the token (a CA
    /// that was never recorded): exactly its two objects, nothing else.
    pub fn destroy(self) -> Result<()> {
        let Some(public) = self.generated else {
            return Ok(());
        };
        let session = self.token.session();
        for o in [self.private, public] {
            session
                .destroy_object(o)
                .map_err(|e| p11_err(&self.uri, "removing the key", e))?;
        }
        Ok(())
    }

    fn sign_in_token(&self, msg: &[u8]) -> Result<Vec<u8>> {
        // Lets tests count the signatures a command asks of the token.
        crate::store::fail_point("token-sign")?;
        token_sign(&self.token, self.private, &self.uri, self.key_type, msg)
    }

    /// A signature by the token over `msg`, verified against the public
    /// key this key reports: a private key paired with a public key not
    /// its own never signs a certificate or a CRL.
    fn sign_checked(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let sig = self.sign_in_token(msg)?;
        if verifies(self.key_type, &self.public, msg, &sig) {
            return Ok(sig);
        }
        Err(Error::failed(format!(
            "the token key '{}' made a signature that its public key does not verify: its private key and public key do not belong together",
            shown(&self.uri.to_string())
        ))
        .hint("the token's private key is not the one the CA's certificate (or the key's public object) holds; run `certsmith doctor`"))
    }

    /// Whether this key's private half signs for the public key of the
    /// certificate whose SubjectPublicKeyInfo is `spki_der`: the token
    /// signs a fresh nonce, checked against that public key.
    pub fn signs_for(&self, spki_der: &[u8]) -> Result<bool> {
        let mut nonce = [0u8; 32];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| Error::failed("cannot make a random nonce"))?;
        let sig = self.sign_in_token(&nonce)?;
        Ok(spki_bits(spki_der).is_some_and(|key| verifies(self.key_type, &key, &nonce, &sig)))
    }
}

impl PublicKeyData for TokenKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.key_type.signature_algorithm()
    }
}

impl SigningKey for TokenKey {
    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        self.signatures.fetch_add(1, Ordering::Relaxed);
        self.sign_checked(msg).map_err(|e| {
            let e = match &self.origin {
                Some(o) => e.context(o.clone()),
                None => e,
            };
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(e);
            }
            rcgen::Error::RemoteKeyError
        })
    }
}

/// A signature by `private` over `msg`, as X.509 carries it.
fn token_sign(
    token: &Token,
    private: ObjectHandle,
    uri: &Pkcs11Uri,
    key_type: KeyType,
    msg: &[u8],
) -> Result<Vec<u8>> {
    use sha2::Digest;
    let session = token.session();
    let raw = |m: &Mechanism, data: &[u8]| {
        session
            .sign(m, private, data)
            .map_err(|e| p11_err(uri, "signing", e))
    };
    let sig = match key_type {
        KeyType::EcdsaP256 => ecdsa_der(&raw(&Mechanism::Ecdsa, &sha2::Sha256::digest(msg))?),
        KeyType::EcdsaP384 => ecdsa_der(&raw(&Mechanism::Ecdsa, &sha2::Sha384::digest(msg))?),
        _ => Some(raw(&Mechanism::Sha256RsaPkcs, msg)?),
    };
    sig.ok_or_else(|| {
        Error::input(format!(
            "PKCS#11 token '{}' returned an ECDSA signature of odd length",
            shown(&uri.token)
        ))
    })
}

/// Refuses a token without the mechanism a `key_type` key signs with.
fn require_signing_mechanism(token: &Token, key_type: KeyType) -> Result<()> {
    match key_type {
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => {
            token.require_mechanism(MechanismType::ECDSA, "CKM_ECDSA", key_type)
        }
        _ => token.require_mechanism(
            MechanismType::SHA256_RSA_PKCS,
            "CKM_SHA256_RSA_PKCS",
            key_type,
        ),
    }
}

/// The public key and type of a CA certificate's SubjectPublicKeyInfo,
/// for the token key of that CA (of PKCS#11 key type `kind`).
fn certified_key(
    spki_der: &[u8],
    kind: Option<P11KeyType>,
    uri: &Pkcs11Uri,
) -> Result<(Vec<u8>, KeyType)> {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|_| Error::failed("cannot read the public key of the CA's certificate"))?;
    let key_type = KeyType::of_public_key(&crate::keys::public_key_kind(&spki));
    let matches = match key_type {
        Some(KeyType::EcdsaP256 | KeyType::EcdsaP384) => kind == Some(P11KeyType::EC),
        Some(KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096) => {
            kind == Some(P11KeyType::RSA)
        }
        _ => false,
    };
    match key_type {
        Some(kt) if matches => Ok((spki.subject_public_key.data.to_vec(), kt)),
        _ => Err(Error::failed(format!(
            "the token key '{}' is not of the type of the key its CA's certificate holds",
            shown(&uri.to_string())
        ))
        .hint("run `certsmith doctor`")),
    }
}

/// What an EC key object tells of its public key.
#[derive(Default)]
struct EcAttributes {
    params: Vec<u8>,
    point: Vec<u8>,
    info: Vec<u8>,
    label: Vec<u8>,
}

impl EcAttributes {
    /// The key type and uncompressed point, when both are known.
    fn key(&self) -> Option<(KeyType, Vec<u8>)> {
        let kt = ec_key_type(&self.params)?;
        let coord = if kt == KeyType::EcdsaP256 { 32 } else { 48 };
        let point = if self.point.is_empty() {
            spki_bits(&self.info)?
        } else {
            self.point.clone()
        };
        Some((kt, ec_point(&point, coord)?))
    }
}

fn ec_key_type(params: &[u8]) -> Option<KeyType> {
    match params {
        P256_PARAMS => Some(KeyType::EcdsaP256),
        P384_PARAMS => Some(KeyType::EcdsaP384),
        _ => None,
    }
}

fn ec_attributes(token: &Token, h: ObjectHandle) -> std::result::Result<EcAttributes, P11Error> {
    let mut out = EcAttributes::default();
    for a in token.session().get_attributes(
        h,
        &[
            AttributeType::EcParams,
            AttributeType::EcPoint,
            AttributeType::PublicKeyInfo,
            AttributeType::Label,
        ],
    )? {
        match a {
            Attribute::EcParams(v) => out.params = v,
            Attribute::EcPoint(v) => out.point = v,
            Attribute::PublicKeyInfo(v) => out.info = v,
            Attribute::Label(v) => out.label = v,
            _ => {}
        }
    }
    Ok(out)
}

/// The public key of EC private key `private` (whose own attributes are
/// `own`) from the public objects with its CKA_ID, whatever their label:
/// the one whose key verifies a signature the private key makes. `None`
/// when none does; refused when more than one does, or when two public
/// objects carry the private key's own CKA_ID and label.
fn public_half(
    token: &Token,
    private: ObjectHandle,
    uri: &Pkcs11Uri,
    own: &EcAttributes,
) -> Result<Option<(KeyType, Vec<u8>)>> {
    let mut t = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    match (&uri.id, &uri.object) {
        (Some(id), _) => t.push(Attribute::Id(id.clone())),
        (None, Some(o)) => t.push(Attribute::Label(o.as_bytes().to_vec())),
        (None, None) => return Ok(None),
    }
    let label = uri.object.as_deref().map(str::as_bytes);
    let mut same_label = 0;
    let mut verified = Vec::new();
    let probe = b"certsmith: which public key object is this private key's";
    for h in token.find(&t)? {
        let mut a =
            ec_attributes(token, h).map_err(|e| p11_err(uri, "reading the EC public key", e))?;
        if label == Some(a.label.as_slice()) {
            same_label += 1;
        }
        if !own.params.is_empty() {
            a.params = own.params.clone();
        }
        let Some((kt, point)) = a.key() else {
            continue;
        };
        let sig = token_sign(token, private, uri, kt, probe)?;
        if verifies(kt, &point, probe, &sig) {
            verified.push((kt, point));
        }
    }
    if same_label > 1 || verified.len() > 1 {
        return Err(Error::input(format!(
            "PKCS#11 token '{}' holds {} public keys beside private key '{}'",
            shown(&uri.token),
            same_label.max(verified.len()),
            shown(&uri.to_string())
        ))
        .hint("keep one public key object with the private key's CKA_ID and label"));
    }
    Ok(verified.pop())
}

/// Whether `sig` over `msg` verifies with the public key `public` (an EC
/// point or a DER RSAPublicKey, as [`PublicKeyData::der_bytes`] holds it).
fn verifies(key_type: KeyType, public: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    use aws_lc_rs::signature;
    let alg: &dyn signature::VerificationAlgorithm = match key_type {
        KeyType::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeyType::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        KeyType::Ed25519 => &signature::ED25519,
    };
    signature::UnparsedPublicKey::new(alg, public)
        .verify(msg, sig)
        .is_ok()
}

/// The subjectPublicKey bits of a DER SubjectPublicKeyInfo.
fn spki_bits(spki_der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::prelude::FromDer;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(spki_der).ok()?;
    Some(spki.subject_public_key.data.to_vec())
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len = n.to_be_bytes();
        let len = strip_zeros(&len);
        out.push(0x80 | len.len() as u8);
        out.extend_from_slice(len);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER holding the unsigned big-endian `b`.
fn der_integer(b: &[u8]) -> Vec<u8> {
    let b = strip_zeros(b);
    let mut v = Vec::with_capacity(b.len() + 1);
    if b.first().is_none_or(|&x| x & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(b);
    der_tlv(0x02, &v)
}

/// PKCS#11's raw `r‖s` ECDSA signature as the DER `SEQUENCE { r, s }` that
/// X.509 carries.
pub fn ecdsa_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = der_integer(r);
    body.extend(der_integer(s));
    Some(der_tlv(0x30, &body))
}

/// The uncompressed point of CKA_EC_POINT: DER OCTET STRING (as the
/// standard says) or the raw point (as some tokens return it).
fn ec_point(v: &[u8], coord: usize) -> Option<Vec<u8>> {
    let raw_len = 1 + 2 * coord;
    if v.len() == raw_len && v[0] == 0x04 {
        return Some(v.to_vec());
    }
    let inner = match v {
        [0x04, n, rest @ ..] if usize::from(*n) == rest.len() => rest,
        [0x04, 0x81, n, rest @ ..] if usize::from(*n) == rest.len() => rest,
        _ => return None,
    };
    (inner.len() == raw_len && inner[0] == 0x04).then(|| inner.to_vec())
}
