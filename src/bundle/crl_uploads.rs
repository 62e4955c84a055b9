//! Which CRL files a trust store that keeps what it was given (the ALB
//! trust store's revocation lists) needs again. A bundle records nothing:
//! the operator confirms each add the bundle printed with `bundle --target
//! aws-alb --uploaded CA=REVOCATION_ID [--trust-store NAME]`, which records,
//! per trust store and CA, the sha256 and CRL number of the CRL file in the
//! bundle directory together with the RevocationId AWS gave it (ledger
//! settings, scope `alb-trust-store:<name>`). The next bundle prints an add
//! only for a CRL whose content differs from the confirmed one, followed by
//! the remove of the confirmed RevocationId it replaces; a CA that has a
//! record but is no longer bundled gets a remove, cleared with `--removed
//! CA`. The only place that spells these keys.

use serde::{Deserialize, Serialize};

use crate::crl::CrlInfo;
use crate::error::{Error, Result, shown};
use crate::ledger::Ledger;
use crate::pki::Pki;

/// The trust store of `--trust-store` when none is named.
pub const DEFAULT_TRUST_STORE: &str = "default";

/// What the operator confirmed as uploaded: one CA's CRL file in one trust store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uploaded {
    /// The CRL number (decimal), if the CRL has one.
    pub crl_number: Option<String>,
    /// sha256 of the CRL file, lowercase hex.
    pub sha256: String,
    /// Revoked certificates it lists.
    pub entries: usize,
    /// The RevocationId AWS gave the list (`--uploaded CA=ID`).
    #[serde(default)]
    pub revocation_id: Option<u64>,
}

/// One CA's CRL file in this bundle and whether it must be uploaded.
#[derive(Clone, Debug, Serialize)]
pub struct CrlUpload {
    pub ca: String,
    /// The file name in the bundle directory.
    pub file: String,
    #[serde(flatten)]
    pub crl: Uploaded,
    /// Its content differs from the confirmed upload (or `--force`).
    pub changed: bool,
    /// The confirmed upload this one replaces (removed after the add);
    /// `None` with `--force`, when nothing was confirmed, or when unchanged.
    pub replaces: Option<Uploaded>,
}

/// A CA with a confirmed upload in the trust store that this bundle no
/// longer carries: its list is to be removed.
#[derive(Clone, Debug, Serialize)]
pub struct Leftover {
    pub ca: String,
    #[serde(flatten)]
    pub crl: Uploaded,
}

/// The CRL uploads of one bundle for one trust store.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    pub trust_store: String,
    pub uploads: Vec<CrlUpload>,
    pub leftovers: Vec<Leftover>,
    /// Whether anything was ever confirmed for this trust store.
    pub any_confirmed: bool,
}

fn scope(trust_store: &str) -> String {
    format!("alb-trust-store:{trust_store}")
}

const PREFIX: &str = "revocation:";

fn key(ca: &str) -> String {
    format!("{PREFIX}{ca}")
}

/// Checks a `--trust-store` name: 1 to 32 letters, digits and hyphens (an
/// ALB trust store name's own alphabet).
pub fn check_trust_store(name: &str) -> Result<()> {
    let ok = (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        return Ok(());
    }
    Err(Error::input(format!(
        "--trust-store '{}' is not a trust store name",
        shown(name)
    ))
    .hint("use 1 to 32 letters, digits and hyphens, such as prod-eu"))
}

/// The confirmed uploads of `trust_store`, by CA; a record certsmith cannot
/// read is treated as none (its add is printed again).
fn confirmed(ledger: &Ledger, trust_store: &str) -> Result<Vec<(String, Uploaded)>> {
    Ok(ledger
        .settings(&scope(trust_store))?
        .into_iter()
        .filter_map(|(k, v)| {
            let ca = k.strip_prefix(PREFIX)?.to_string();
            Some((ca, serde_json::from_str(&v).ok()?))
        })
        .collect())
}

/// The facts recorded for a CRL file.
pub fn describe(bytes: &[u8], crls: &[&CrlInfo]) -> Uploaded {
    Uploaded {
        crl_number: crls.first().and_then(|c| c.number.clone()),
        sha256: crate::certinfo::fingerprint(bytes),
        entries: crls.iter().map(|c| c.entries.len()).sum(),
        revocation_id: None,
    }
}

/// Compares each `(ca, file name, file bytes, CRLs in it)` with what was
/// confirmed for `trust_store`; `force` marks every one changed and
/// replacing nothing.
pub fn plan(
    ledger: &Ledger,
    trust_store: &str,
    files: &[(String, String, &[u8], Vec<&CrlInfo>)],
    force: bool,
) -> Result<Plan> {
    let records = confirmed(ledger, trust_store)?;
    let mut uploads = Vec::new();
    for (ca, file, bytes, crls) in files {
        let crl = describe(bytes, crls);
        let last = records.iter().find(|(n, _)| n == ca).map(|(_, u)| u);
        let changed = force || last.is_none_or(|l| l.sha256 != crl.sha256);
        uploads.push(CrlUpload {
            ca: ca.clone(),
            file: file.clone(),
            replaces: if changed && !force {
                last.cloned()
            } else {
                None
            },
            crl,
            changed,
        });
    }
    let leftovers = records
        .iter()
        .filter(|(n, _)| !files.iter().any(|f| &f.0 == n))
        .map(|(n, u)| Leftover {
            ca: n.clone(),
            crl: u.clone(),
        })
        .collect();
    Ok(Plan {
        trust_store: trust_store.to_string(),
        uploads,
        leftovers,
        any_confirmed: !records.is_empty(),
    })
}

/// The file name of `ca`'s CRL in a bundle directory.
pub fn file_name(ca: &str) -> String {
    format!("crl-{ca}.pem")
}

/// What one `--uploaded` or `--removed` changed.
#[derive(Clone, Debug, Serialize)]
pub struct Confirmed {
    pub ca: String,
    /// The new record; `None` for `--removed`.
    pub recorded: Option<Uploaded>,
    /// The record it replaced, if any.
    pub replaced: Option<Uploaded>,
}

/// How a confirmation names a CRL: its CRL number, or the first 12 hex
/// digits of its sha256 when it has none (`--uploaded CA#LABEL=ID`).
pub fn label(crl: &Uploaded) -> String {
    crl.crl_number
        .clone()
        .unwrap_or_else(|| crl.sha256.chars().take(12).collect())
}

/// How a message names a CRL: `CRL #N` or `the CRL with sha256 PREFIX…`.
fn named(label: &str) -> String {
    if label.bytes().all(|b| b.is_ascii_digit()) {
        format!("CRL #{label}")
    } else {
        format!("the CRL with sha256 {label}")
    }
}

/// One `--uploaded CA#LABEL=REVOCATION_ID`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedArg {
    pub ca: String,
    /// The CRL it confirms (see [`label`]).
    pub label: String,
    pub id: u64,
}

/// Parses `CA#LABEL=REVOCATION_ID`.
pub fn parse_uploaded(arg: &str) -> Result<UploadedArg> {
    let bad = |why: &str| {
        Error::input(format!("--uploaded '{}' {why}", shown(arg))).hint(
            "give CA#CRL_NUMBER=REVOCATION_ID as the bundle printed it, with the RevocationId that add-trust-store-revocations printed, such as issuing#2=4",
        )
    };
    let (named, id) = arg
        .split_once('=')
        .ok_or_else(|| bad("is not CA#CRL_NUMBER=REVOCATION_ID"))?;
    let id = id
        .trim()
        .parse::<u64>()
        .map_err(|_| bad("does not end in a RevocationId (a number)"))?;
    let (ca, label) = named
        .split_once('#')
        .filter(|(_, l)| !l.is_empty())
        .ok_or_else(|| bad("does not name the CRL it confirms (CA#CRL_NUMBER)"))?;
    Ok(UploadedArg {
        ca: ca.to_string(),
        label: label.to_string(),
        id,
    })
}

/// Records the confirmations of `trust_store` in one transaction:
/// `uploaded` (CA, RevocationId) pairs, each for the CRL file of that CA in
/// bundle directory `dir`, which must be the CA's current CRL; `removed`
/// CAs whose list was removed. Nothing is recorded when one is refused.
pub fn confirm(
    pki: &Pki,
    trust_store: &str,
    dir: &std::path::Path,
    uploaded: &[UploadedArg],
    removed: &[String],
) -> Result<Vec<Confirmed>> {
    check_trust_store(trust_store)?;
    let mut ledger = pki.open_ledger()?;
    let records = confirmed(&ledger, trust_store)?;
    let mut out = Vec::new();
    for (i, u) in uploaded.iter().enumerate() {
        let (ca, id) = (&u.ca, &u.id);
        if uploaded[..i].iter().any(|o| &o.ca == ca) {
            return Err(
                Error::input(format!("--uploaded names CA '{}' twice", shown(ca)))
                    .hint("confirm each CA's CRL once, with the RevocationId its add printed"),
            );
        }
        if let Some(o) = uploaded[..i].iter().find(|o| o.id == *id) {
            return Err(Error::input(format!(
                "--uploaded gives RevocationId {id} to both CA '{}' and CA '{}'",
                shown(&o.ca),
                shown(ca)
            ))
            .hint("each add-trust-store-revocations prints its own RevocationId: confirm each CA with the id of its own add"));
        }
        if let Some((other, _)) = records
            .iter()
            .find(|(n, r)| n != ca && r.revocation_id == Some(*id))
        {
            return Err(Error::input(format!(
                "RevocationId {id} is already recorded for CA '{}' in trust store '{trust_store}'",
                shown(other)
            ))
            .hint(format!("confirm CA '{ca}' with the RevocationId its own add-trust-store-revocations printed")));
        }
        if ledger.ca(ca)?.is_none() {
            return Err(Error::input(format!("no CA named '{}'", shown(ca)))
                .hint("`certsmith list --cas` names the CAs"));
        }
        let path = dir.join(file_name(ca));
        let current = pki.crl_path(ca);
        let bytes = std::fs::read(&path).map_err(|_| {
            Error::input(format!(
                "'{}' holds no CRL of CA '{ca}' to confirm",
                shown(&path.display().to_string())
            ))
            .hint("run `certsmith bundle --target aws-alb --with-crl` and upload what it prints first")
        })?;
        let now_signed = std::fs::read(&current).unwrap_or_default();
        if bytes != now_signed {
            return Err(Error::input(format!(
                "the bundle's CRL of CA '{ca}' is not its current CRL: a CRL was signed after the bundle"
            ))
            .hint("bundle again, upload the CRL it prints and confirm that RevocationId"));
        }
        let crls = crate::crl::read_file(&path)?;
        let mut recorded = describe(&bytes, &crls.iter().collect::<Vec<_>>());
        let holds = label(&recorded);
        if holds != u.label
            && !(holds.len() == 12 && u.label.len() >= 8 && holds.starts_with(&u.label))
        {
            return Err(Error::input(format!(
                "--uploaded confirms {} of CA '{ca}', but the bundle now holds {}: a CRL was bundled after the add was printed",
                named(&shown(&u.label)),
                named(&holds)
            ))
            .hint(format!("upload {} again, re-run the add-trust-store-revocations the bundle printed for it and confirm that RevocationId with --uploaded {ca}#{holds}=REVOCATION_ID", file_name(ca))));
        }
        recorded.revocation_id = Some(*id);
        out.push(Confirmed {
            ca: ca.clone(),
            replaced: records
                .iter()
                .find(|(n, _)| n == ca)
                .map(|(_, u)| u.clone()),
            recorded: Some(recorded),
        });
    }
    for ca in removed {
        let Some((_, old)) = records.iter().find(|(n, _)| n == ca) else {
            return Err(Error::input(format!(
                "trust store '{trust_store}' has no confirmed CRL of CA '{}' to remove",
                shown(ca)
            )));
        };
        out.push(Confirmed {
            ca: ca.clone(),
            recorded: None,
            replaced: Some(old.clone()),
        });
    }
    ledger.in_transaction(|l| {
        for c in &out {
            let v = c
                .recorded
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap_or_default());
            l.set_setting(&scope(trust_store), &key(&c.ca), v.as_deref())?;
        }
        Ok(())
    })?;
    Ok(out)
}
