//! Renewing a leaf: the same subject, SANs, profile and issuer under a new
//! serial, with a new key unless the old one is reused. The old certificate
//! stays in the ledger, superseded (and revoked if asked).

use serde::Serialize;
use std::path::Path;

use crate::ca::Signer;
use crate::error::{Error, Result};
use crate::keys::{self, KeyType};
use crate::leaf::{self, IssuedLeaf, LeafKey, LeafRequest, WriteOptions};
use crate::ledger::{CertRecord, Kind};
use crate::names::{San, Subject};
use crate::passphrase::PassOptions;
use crate::pki::Pki;
use crate::profile::Profile;
use crate::validity::Validity;

/// Which leaf to renew, and how.
#[derive(Clone, Debug, Default)]
pub struct RenewRequest {
    /// The certificate's name.
    pub name: String,
    /// How the issuing CA's key is opened.
    pub pass: PassOptions,
    /// Validity of the new certificate (default: the profile's).
    pub validity: Option<Validity>,
    pub clamp: bool,
    /// Certify the current public key again instead of making a new key.
    pub reuse_key: bool,
    /// Also revoke the old certificate, reason superseded.
    pub revoke_old: bool,
    /// `--ca`: sign the new certificate with this CA instead of the old
    /// one's issuer (moving the certificate there).
    pub ca: Option<String>,
    /// `--force`: renew a revoked certificate all the same.
    pub force: bool,
}

/// What a renewal did.
#[derive(Clone, Debug, Serialize)]
pub struct Renewed {
    #[serde(flatten)]
    pub leaf: IssuedLeaf,
    pub old_serial: String,
    pub reused_key: bool,
    pub old_revoked: bool,
    /// The old certificate's issuer when `--ca` moved it to another CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// Exports next to the certificate (`.p12`, `secret.yaml`,
    /// `combined.pem`) that still hold the old certificate.
    pub stale_exports: Vec<std::path::PathBuf>,
}

/// What a renewal would do, checked as the real run checks it (the leaf,
/// the key, the name constraints and the validity against the issuer):
/// `renew --dry-run` reports it, stopping before the CA key is opened.
#[derive(Clone, Debug, Serialize)]
pub struct Preview {
    pub name: String,
    pub old_serial: String,
    /// notAfter of the certificate being replaced (RFC 3339).
    pub old_not_after: String,
    /// Its issuer now, and the CA that would sign the new one.
    pub issuer: String,
    pub new_issuer: String,
    /// Exports next to the certificate that would then hold the old one.
    pub stale_exports: Vec<std::path::PathBuf>,
}

/// A renewal checked and ready to sign: the one path of the dry and the
/// real run.
struct Plan {
    old: CertRecord,
    dir: std::path::PathBuf,
    old_cert: crate::certinfo::CertInfo,
    req: LeafRequest,
    old_issuer: String,
    issuer: String,
}

impl Plan {
    fn make(pki: &Pki, ledger: &crate::ledger::Ledger, opts: &RenewRequest) -> Result<Plan> {
        let name = opts.name.as_str();
        let now = crate::clock::now()?;
        let old = ledger
            .cert_by_name(name)?
            .ok_or_else(|| Error::NoSuchCert {
                name: name.to_string(),
                issuer: None,
            })?;
        if old.kind != Kind::Leaf {
            return Err(Error::input(format!(
                "'{name}' is a CA; renew re-issues device, client and server certificates"
            ))
            .hint("make a new CA with `certsmith intermediate` and move issuance to it"));
        }
        // A leaf that took a CA's name in an older ledger is not renewed over it.
        crate::leaf::check_name(ledger, name, true)?;
        if old.revoked_at.is_some() && !opts.force {
            return Err(Error::input(format!(
                "certificate '{}' is revoked; renewing it would certify it again",
                crate::error::shown(name)
            ))
            .hint("issue a new certificate, or pass --force to renew it all the same"));
        }
        if old.revoked_at.is_some() && opts.reuse_key {
            return Err(Error::input(format!(
                "certificate '{name}' is revoked; its key must not be certified again"
            ))
            .hint("renew without --reuse-key to get a new key"));
        }
        let (dir, old_cert) = crate::layout::read_cert(pki, &old)?;
        refuse_p12_device(&old, &dir)?;
        if !opts.reuse_key && !old.has_key {
            return Err(Error::input(format!(
                "certificate '{name}' was signed from a CSR; certsmith cannot make a new key for it"
            ))
            .hint(format!(
                "pass --reuse-key to certify the same public key again, or sign a new CSR: certsmith sign CSR --name {name} --force"
            )));
        }
        if opts.reuse_key && old.has_key {
            crate::layout::read_key(&dir, name, &old_cert, "certsmith cannot reuse it")?;
        }
        let req = LeafRequest {
            name: name.to_string(),
            profile: Profile::load(Some(&pki.root), &old.profile)?,
            subject: Subject::parse(&old.subject)?,
            sans: old
                .sans
                .iter()
                .map(|s| San::parse(s))
                .collect::<Result<_>>()?,
            validity: opts.validity,
            clamp: opts.clamp,
        };
        let old_issuer = old.issuer.clone().unwrap_or_default();
        let issuer = opts.ca.clone().unwrap_or_else(|| old_issuer.clone());
        let chain = crate::ca::IssuerChain::load(pki, ledger, &issuer)?;
        req.check(&chain)?;
        req.window(&chain, now)?;
        Ok(Plan {
            old,
            dir,
            old_cert,
            req,
            old_issuer,
            issuer,
        })
    }
}

/// `certsmith renew NAME --dry-run`: what [`renew`] would do, or the error
/// it would stop at before signing; changes nothing.
pub fn preview(pki: &Pki, opts: &RenewRequest) -> Result<Preview> {
    let ledger = pki.open_ledger()?;
    let plan = Plan::make(pki, &ledger, opts)?;
    let rfc = time::OffsetDateTime::from_unix_timestamp(plan.old.not_after)
        .map(crate::clock::rfc3339)
        .unwrap_or_default();
    Ok(Preview {
        stale_exports: stale_exports(&plan.dir, &opts.name),
        name: plan.old.name,
        old_serial: plan.old.serial,
        old_not_after: rfc,
        issuer: plan.old_issuer,
        new_issuer: plan.issuer,
    })
}

/// `certsmith renew`: renews leaf `req.name` now.
pub fn renew(pki: &Pki, opts: &RenewRequest) -> Result<Renewed> {
    let (name, pass) = (opts.name.as_str(), &opts.pass);
    let ledger = &mut pki.open_ledger()?;
    let Plan {
        old,
        dir,
        old_cert,
        req,
        old_issuer,
        issuer,
    } = Plan::make(pki, ledger, opts)?;
    let now = crate::clock::now()?;
    let signer = Signer::load(pki, ledger, &issuer, pass)?;
    req.check(&signer)?;
    let new_key = if opts.reuse_key {
        if old.has_key {
            let key = crate::layout::read_key(&dir, name, &old_cert, "certsmith cannot reuse it")?;
            LeafKey::Held(key)
        } else {
            LeafKey::Public(
                rcgen::SubjectPublicKeyInfo::from_der(&old_cert.spki_der).map_err(|e| {
                    Error::failed(format!("cannot read the public key of '{name}': {e}"))
                })?,
            )
        }
    } else {
        let kt: KeyType = old.key_type.parse()?;
        LeafKey::Held(kt.generate()?)
    };
    let key_type = match &new_key {
        LeafKey::Held(k) => keys::key_type_of(k)?,
        LeafKey::Public(_) => old.key_type.parse()?,
    };
    let wopts = WriteOptions {
        out: (dir != pki.cert_dir(name)).then(|| dir.clone()),
        force: true,
    };
    let leaf = req.sign_leaf(&signer, new_key, key_type, now)?;
    let issued = leaf::write(pki, ledger, &signer, &leaf, &wopts)?;
    let mut old_revoked = false;
    if opts.revoke_old && old.revoked_at.is_none() {
        crate::revoke::revoke(ledger, &old, "superseded", now)?;
        old_revoked = true;
    }
    Ok(Renewed {
        leaf: issued,
        old_serial: old.serial,
        reused_key: opts.reuse_key,
        old_revoked,
        moved_from: (issuer != old_issuer).then_some(old_issuer),
        stale_exports: stale_exports(&dir, name),
    })
}

/// The exports `certsmith export` writes next to certificate `name` in
/// `dir` that exist: after a renewal they hold the old certificate.
pub fn stale_exports(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    use crate::export::Format;
    [Format::P12, Format::K8sSecret, Format::Pem]
        .into_iter()
        .map(|f| dir.join(f.default_file(name)))
        .filter(|p| p.is_file())
        .collect()
}

/// Refuses to renew a device `batch --format p12` made: its key lives only
/// in `<name>.p12`, which a renewal cannot rewrite, so it would keep the
/// superseded certificate. The hint gives the two commands that work.
fn refuse_p12_device(old: &CertRecord, dir: &Path) -> Result<()> {
    let p12 = crate::export::Format::P12.default_file(&old.name);
    if old.has_key || !dir.join(&p12).is_file() {
        return Ok(());
    }
    let name = crate::error::shown(&old.name);
    let mut issue = format!(
        "certsmith issue {name} --profile {} --subject '{}'",
        crate::error::shown(&old.profile),
        crate::error::shown(&old.subject)
    );
    for san in &old.sans {
        issue.push_str(&format!(" --san '{}'", crate::error::shown(san)));
    }
    Err(Error::input(format!(
        "certificate '{name}' was issued as PKCS#12 by batch --format p12; renew cannot write a new '{}' and would leave it holding the old certificate",
        crate::error::shown(&p12)
    ))
    .hint(format!(
        "issue it again with a new key and export a new PKCS#12 in its place: `{issue} --force`, then `certsmith export {name} --format p12 --p12-passphrase-file FILE --force`"
    )))
}
