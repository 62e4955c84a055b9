//! Bootstrapping a new PKI (`certsmith bootstrap`): root, intermediate, the
//! first certificate (and its .p12), the first CRLs and a trust-store
//! bundle, built in a staging directory and moved into place only when
//! complete.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::ca::{CaRequest, CreatedCa};
use crate::error::{Error, Result};
use crate::export::Format;
use crate::keys::Kdf;
use crate::leaf::IssuedLeaf;
use crate::names::{NameConstraintSet, San, Subject};
use crate::passphrase::{PassOptions, Passphrase};
use crate::pki::Pki;
use crate::validity::Validity;

use super::LeafOptions;
use super::export::ExportRequest;
use super::init::NewCaRequest;
use super::intermediate::IntermediateRequest;
use super::issue::IssueRequest;

/// How the first certificate is named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Naming {
    /// A device (client) certificate whose CN is its name.
    Device(String),
    /// Servers under a domain: the intermediate is constrained to it and the
    /// first certificate is the server certificate `api.<domain>`.
    Domain(String),
}

/// Everything bootstrap will create, decided before anything is written.
#[derive(Debug)]
pub struct Plan {
    pub org: String,
    pub naming: Naming,
    pub root_key: Option<String>,
    pub key: Option<String>,
    pub root_validity: Option<String>,
    pub intermediate_validity: Option<String>,
    pub device_validity: Option<String>,
    pub intermediate_name: String,
    /// The CA key passphrase; `None` stores the keys unencrypted.
    pub passphrase: Option<Passphrase>,
    /// The root key's own passphrase (`--root-passphrase-file`); `None`:
    /// the root takes `passphrase` too.
    pub root_passphrase: Option<Passphrase>,
    pub kdf: Kdf,
    pub target: String,
    /// Export the first certificate as .p12 with this password.
    pub p12: Option<Passphrase>,
    /// Where the CA keys live (`--key-store` and the PKCS#11 flags).
    pub store: crate::keystore::NewKeyStore,
    /// The revocation URLs of both CAs (`{ca}` stands for each one's name).
    pub urls: crate::ca_urls::UrlChange,
}

impl Plan {
    /// Name, profile and SANs of the first certificate.
    pub fn first_cert(&self) -> (String, &'static str, Vec<String>) {
        match &self.naming {
            Naming::Device(n) => (n.clone(), "device", Vec::new()),
            Naming::Domain(d) => {
                let host = format!("api.{d}");
                (host.clone(), "server", vec![format!("dns:{host}")])
            }
        }
    }
}

/// What bootstrap wrote.
pub struct Outcome {
    pub root: CreatedCa,
    pub intermediate: CreatedCa,
    /// For `--target istio`: the mesh's own root and the CA istiod signs
    /// with (never a device's issuer).
    pub mesh: Vec<CreatedCa>,
    pub first: IssuedLeaf,
    pub p12: Option<PathBuf>,
    pub bundle: crate::bundle::BundleResult,
}

/// Creates everything in `plan`. `--pki` is made first (0700) and the
/// whole PKI is built in a private temporary directory inside it, then
/// moved into place only when complete, so a bootstrap that fails at any
/// step leaves nothing behind, and one that is killed leaves its staging
/// area (plaintext CA keys) only inside the PKI directory, where the next
/// bootstrap and `doctor --repair` remove it.
pub fn bootstrap(pki: &Pki, plan: &Plan) -> Result<Outcome> {
    pki.check_not_nested()?;
    if pki.ledger_path().exists() {
        return Err(Error::input(format!(
            "'{}' already holds a PKI; bootstrap makes a new one",
            pki.root.display()
        ))
        .hint("pass --pki DIR with a new directory, or add CAs with `certsmith intermediate`"));
    }
    let existed = pki.root.exists();
    if existed {
        crate::perms::check_pki_dir(&pki.root, pki.allow_insecure_perms)?;
    }
    // Directories this bootstrap makes (--pki and its missing parents).
    let made: Vec<PathBuf> = pki
        .root
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    let result = crate::store::create_private_dir(&pki.root, &pki.root)
        .and_then(|()| claim(&pki.root))
        .and_then(|_lock| staged(pki, plan, existed));
    if result.is_err() {
        // Directories made for it go again (only if empty).
        for d in &made {
            let _ = std::fs::remove_dir(d);
        }
    }
    result
}

/// The prefix of a bootstrap's staging directory inside `--pki`.
const STAGING_PREFIX: &str = ".certsmith-bootstrap-";

/// Takes the shared lock on the PKI directory `root` for the whole
/// bootstrap. When no other certsmith process holds it, staging areas
/// left by a bootstrap that was killed are removed first: they hold
/// plaintext CA keys.
fn claim(root: &Path) -> Result<Option<std::fs::File>> {
    if let Ok(f) = std::fs::File::open(root)
        && f.try_lock().is_ok()
    {
        let dead: Vec<PathBuf> = std::fs::read_dir(root)
            .map_err(|e| crate::store::io_err("cannot read", root, &e))?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        for d in dead {
            std::fs::remove_dir_all(&d)
                .map_err(|e| crate::store::io_err("cannot remove", &d, &e))?;
        }
        // Turned shared: `doctor --repair` now sees a live command.
        f.lock_shared()
            .map_err(|e| crate::store::io_err("cannot lock", root, &e))?;
        return Ok(Some(f));
    }
    crate::lock::shared(root)
}

/// Builds the PKI in a temporary directory inside `--pki`, then moves its
/// entries up; the bundle is made again in place, as it names its own paths.
fn staged(pki: &Pki, plan: &Plan, existed: bool) -> Result<Outcome> {
    let root = &pki.root;
    let tmp = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .permissions(std::fs::Permissions::from_mode(crate::store::DIR_MODE))
        .tempdir_in(root)
        .map_err(|e| crate::store::io_err("cannot create a temporary directory in", root, &e))?;
    let stage = Pki {
        root: tmp.path().to_path_buf(),
        ..pki.clone()
    };
    // Profiles kept in an existing directory (templates/) stay in effect.
    let templates = root.join("templates");
    let linked = existed && templates.is_dir();
    if linked {
        let target = std::path::absolute(&templates)
            .map_err(|e| crate::store::io_err("cannot read", &templates, &e))?;
        std::os::unix::fs::symlink(&target, tmp.path().join("templates"))
            .map_err(|e| crate::store::io_err("cannot create", tmp.path(), &e))?;
    }
    let mut o = steps(&stage, plan)?;
    if linked {
        let link = tmp.path().join("templates");
        std::fs::remove_file(&link)
            .map_err(|e| crate::store::io_err("cannot remove", &link, &e))?;
    }
    move_entries(tmp.path(), root)?;
    let moved = |p: &mut PathBuf| {
        if let Ok(rel) = p.strip_prefix(stage.root.as_path()) {
            *p = root.join(rel);
        }
    };
    o.root.files.iter_mut().for_each(moved);
    o.intermediate.files.iter_mut().for_each(moved);
    o.mesh
        .iter_mut()
        .for_each(|m| m.files.iter_mut().for_each(moved));
    o.first.files.iter_mut().for_each(moved);
    o.p12.iter_mut().for_each(moved);
    let ledger = pki.read_ledger()?;
    o.bundle = crate::bundle::build(
        pki,
        &ledger,
        &plan.target,
        &crate::bundle::Options {
            pass: key_options(plan),
            cas: crate::bundle::bootstrap_cas(&plan.target),
            ..Default::default()
        },
    )?;
    Ok(o)
}

/// Moves every entry of the staging directory `from` up into `to` without
/// replacing anything; on a failure the entries already moved go back.
/// The ledger goes last: until it is there, `to` is not yet a PKI, so a
/// bootstrap killed while moving can be run again.
fn move_entries(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(from)
        .map_err(|e| crate::store::io_err("cannot read", from, &e))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort_by_key(|n| n.as_os_str() == "ledger.db");
    let mut done: Vec<&std::ffi::OsString> = Vec::new();
    for n in &names {
        if let Err(e) = renameat_with(CWD, from.join(n), CWD, to.join(n), RenameFlags::NOREPLACE) {
            for d in done {
                let _ = std::fs::rename(to.join(d), from.join(d));
            }
            return Err(crate::store::io_err(
                "cannot create",
                &to.join(n),
                &e.into(),
            ));
        }
        done.push(n);
    }
    crate::store::sync_dir(to)?;
    Ok(())
}

/// The passphrase options of the new intermediate's key (and the first
/// certificate's issuer).
fn key_options(plan: &Plan) -> PassOptions {
    PassOptions {
        given: plan.passphrase.clone(),
        no_passphrase: plan.passphrase.is_none(),
        file: None,
        pin_file: plan.store.pins.file.clone(),
    }
}

/// The passphrase options of the new root's key: its own passphrase if
/// the plan has one, else the intermediate's.
fn root_key_options(plan: &Plan) -> PassOptions {
    match &plan.root_passphrase {
        Some(p) => PassOptions {
            given: Some(p.clone()),
            no_passphrase: false,
            ..key_options(plan)
        },
        None => key_options(plan),
    }
}

fn steps(pki: &Pki, plan: &Plan) -> Result<Outcome> {
    let opts = key_options(plan);
    let root_opts = root_key_options(plan);
    let org_attr = plan.org.replace(',', "\\,");
    let root_req = CaRequest {
        subject: Subject::parse(&format!("CN={org_attr} Root CA,O={org_attr}"))?,
        validity: validity(plan.root_validity.as_deref())?,
        pathlen: None,
        constraints: NameConstraintSet::default(),
        clamp: false,
        no_crl: false,
    };
    let key_type = |k: Option<&str>| k.map(str::parse).transpose();
    let root = crate::ops::init::init(
        pki,
        &NewCaRequest {
            name: "root".into(),
            ca: root_req.clone(),
            key: key_type(plan.root_key.as_deref())?,
            pass: root_opts.clone(),
            kdf: plan.kdf,
            store: plan.store.clone(),
            urls: plan.urls.clone(),
        },
    )?;
    let mut constraints = NameConstraintSet::default();
    if let Naming::Domain(d) = &plan.naming {
        constraints.permit_dns.push(d.clone());
    }
    let inter_req = CaRequest {
        subject: Subject::parse(&format!("CN={org_attr} Issuing CA,O={org_attr}"))?,
        validity: validity(plan.intermediate_validity.as_deref())?,
        constraints,
        ..root_req.clone()
    };
    let intermediate = crate::ops::intermediate::intermediate(
        pki,
        &IntermediateRequest {
            new: NewCaRequest {
                name: plan.intermediate_name.clone(),
                ca: inter_req,
                key: key_type(plan.key.as_deref())?,
                pass: opts.clone(),
                kdf: plan.kdf,
                store: plan.store.clone(),
                urls: plan.urls.clone(),
            },
            issuer: "root".into(),
            issuer_pass: root_opts.clone(),
        },
    )?;
    let (name, profile, san) = plan.first_cert();
    let first = crate::ops::issue::issue(
        pki,
        IssueRequest {
            name: name.clone(),
            key: key_type(plan.key.as_deref())?,
            leaf: LeafOptions {
                ca: Some(plan.intermediate_name.clone()),
                profile: profile.into(),
                validity: validity(plan.device_validity.as_deref())?,
                sans: san.iter().map(|s| San::parse(s)).collect::<Result<_>>()?,
                pass: opts.clone(),
                ..LeafOptions::default()
            },
            no_sync: false,
        },
    )?;
    let p12 = match &plan.p12 {
        Some(pw) => Some(
            crate::ops::export::export(
                pki,
                &ExportRequest {
                    name: name.clone(),
                    format: Format::P12,
                    out: None,
                    legacy: false,
                    force: false,
                },
                &mut || Ok(pw.clone()),
            )?
            .file,
        ),
        None => None,
    };
    // First (empty) CRLs, which servers like nginx need (the intermediate
    // wrote its own), then the trust-store bundle for the target, with its
    // rules checked.
    let mut ledger = pki.open_ledger()?;
    let signer = crate::ca::Signer::load(pki, &ledger, "root", &root_opts)?;
    crate::crl::write(pki, &mut ledger, &signer, None, false)?;
    drop(ledger);
    let mesh = if plan.target == "istio" {
        mesh_cas(pki, plan, &root_req, &opts, &root_opts)?
    } else {
        Vec::new()
    };
    let ledger = pki.read_ledger()?;
    let bundle = crate::bundle::build(
        pki,
        &ledger,
        &plan.target,
        &crate::bundle::Options {
            pass: opts.clone(),
            cas: crate::bundle::bootstrap_cas(&plan.target),
            ..Default::default()
        },
    )?;
    Ok(Outcome {
        root,
        intermediate,
        mesh,
        first,
        p12,
        bundle,
    })
}

/// For istio: a root of the mesh's own (`mesh-root`) and the CA istiod
/// signs with (`istio-ca`) below it, so no device trust store, which holds
/// the device root, admits a workload; the devices' issuing CA stays the
/// default. Made after the first device, never its issuer.
fn mesh_cas(
    pki: &Pki,
    plan: &Plan,
    root_req: &CaRequest,
    opts: &PassOptions,
    root_opts: &PassOptions,
) -> Result<Vec<CreatedCa>> {
    let org_attr = plan.org.replace(',', "\\,");
    let key_type = |k: Option<&str>| k.map(str::parse).transpose();
    let mesh_root = crate::ops::init::init(
        pki,
        &NewCaRequest {
            name: MESH_ROOT.into(),
            ca: CaRequest {
                subject: Subject::parse(&format!("CN={org_attr} Mesh Root CA,O={org_attr}"))?,
                ..root_req.clone()
            },
            key: key_type(plan.root_key.as_deref())?,
            pass: root_opts.clone(),
            kdf: plan.kdf,
            store: plan.store.clone(),
            urls: plan.urls.clone(),
        },
    )?;
    let mesh_ca = crate::ops::intermediate::intermediate(
        pki,
        &IntermediateRequest {
            new: NewCaRequest {
                name: crate::bundle::BOOTSTRAP_MESH_CA.into(),
                ca: CaRequest {
                    subject: Subject::parse(&format!("CN={org_attr} Istio Mesh CA,O={org_attr}"))?,
                    validity: validity(plan.intermediate_validity.as_deref())?,
                    ..root_req.clone()
                },
                key: key_type(plan.key.as_deref())?,
                pass: opts.clone(),
                kdf: plan.kdf,
                store: plan.store.clone(),
                urls: plan.urls.clone(),
            },
            issuer: MESH_ROOT.into(),
            issuer_pass: root_opts.clone(),
        },
    )?;
    let mut ledger = pki.open_ledger()?;
    let signer = crate::ca::Signer::load(pki, &ledger, MESH_ROOT, root_opts)?;
    crate::crl::write(pki, &mut ledger, &signer, None, false)?;
    // Devices keep coming from the issuing CA: `issue` without --ca picks it.
    crate::issuing::set_default_ca(&mut ledger, &plan.intermediate_name)?;
    Ok(vec![mesh_root, mesh_ca])
}

/// The name of the mesh's own root bootstrap makes for istio.
const MESH_ROOT: &str = "mesh-root";

/// A validity the plan holds as text, if any.
fn validity(v: Option<&str>) -> Result<Option<Validity>> {
    v.map(Validity::parse).transpose()
}
