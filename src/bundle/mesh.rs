//! A CA whose key was exported for a mesh (`bundle --target istio --ca`)
//! signs whatever istiod is asked to sign, so its workloads must never pass
//! a client-auth trust store. Leaving the mesh CA's certificate out is not
//! enough: a peer sends its chain, so a trust store holding any CA at or
//! above the mesh CA (its root, say) admits every workload. A client-auth
//! bundle whose CAs include the mesh CA or an ancestor of it is therefore
//! refused, unless its CAs were named with `--ca` (then a warning says the
//! mesh's workloads pass). The way out is a mesh CA under a root of its own.

use crate::error::{Error, Result, shown};
use crate::ledger::Ledger;
use crate::pki::Pki;

use super::{Finding, Level};

/// A CA whose key was exported, with the target it went to and the names
/// of the CAs at or above it (itself first).
pub struct MeshCa {
    pub name: String,
    pub to: String,
    pub chain: Vec<String>,
}

/// The commands that give the mesh a CA under a root of its own.
pub const OWN_ROOT: &str = "give the mesh a root of its own: `certsmith init --name mesh-root --cn 'Mesh Root CA'`, then `certsmith intermediate istio-ca --issuer mesh-root --cn 'Istio Mesh CA'` and `certsmith bundle --target istio --ca istio-ca`";

/// The CAs whose key was exported for a mesh and that can still sign
/// certificates a peer accepts (an expired CA's workloads fail any chain).
pub fn exported(pki: &Pki, ledger: &Ledger, now: i64) -> Result<Vec<MeshCa>> {
    let mut out = Vec::new();
    for (name, to) in super::ca_set::mesh_cas(ledger)? {
        let chain = pki.ca_chain(ledger, &name)?;
        if chain
            .first()
            .is_some_and(|(r, _)| r.cert.status(now) == "expired")
        {
            continue;
        }
        out.push(MeshCa {
            name,
            to,
            chain: chain.into_iter().map(|(r, _)| r.cert.name).collect(),
        });
    }
    Ok(out)
}

/// The CAs a bundle without `--ca` does not take on its own: each mesh CA
/// and every CA above it.
pub fn leave_out(mesh: &[MeshCa]) -> Vec<String> {
    mesh.iter().flat_map(|m| m.chain.iter().cloned()).collect()
}

/// Checks the CAs of a client-auth bundle of `target` against the mesh
/// CAs: refused when one is at or above a mesh CA and the CAs were not
/// named (`named`), else findings (a warning that the workloads pass, or
/// that the mesh CA is left out).
pub fn check(
    target: &'static str,
    mesh: &[MeshCa],
    ca_names: &[String],
    named: bool,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for m in mesh {
        let (ca, to) = (shown(&m.name), shown(&m.to));
        let above = m.chain.iter().find(|c| ca_names.contains(c));
        let (rule, message) = match above {
            Some(a) => {
                let what = if *a == m.name {
                    format!("CA '{ca}' is in the bundle though its key was exported for {to}")
                } else {
                    format!(
                        "CA '{}' is an ancestor of CA '{ca}', whose key was exported for {to}",
                        shown(a)
                    )
                };
                if !named {
                    return Err(Error::input(format!(
                        "{what}: the mesh's workloads pass a client-auth trust store holding it"
                    ))
                    .hint(format!(
                        "{OWN_ROOT}; or name the CAs to trust with --ca (the mesh's workloads then pass)"
                    )));
                }
                (
                    "mesh-workloads-pass",
                    format!(
                        "{what}: certificates {to} signs with CA '{ca}' pass this trust store; {OWN_ROOT}"
                    ),
                )
            }
            None if named => continue,
            None => (
                "mesh-ca-left-out",
                format!(
                    "CA '{ca}' is left out: its key was exported for {to}, so a client-auth trust store does not take it unless named with --ca"
                ),
            ),
        };
        findings.push(Finding {
            level: Level::Warning,
            target,
            rule,
            cert: None,
            message,
        });
    }
    Ok(findings)
}
