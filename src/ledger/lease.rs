//! Leases on `pending` reservations: a reservation records its owner
//! (`host:pid:boot`) and until when it holds the name. `doctor --repair`
//! settles a pending row only when its owner is provably gone: a process
//! of this host (same boot) that no longer runs, or a lease that expired.
//! A live lease of another host is left alone, whatever this host sees.

use crate::error::Result;

/// How long a reservation holds its name without being renewed.
pub const LEASE_SECS: i64 = 600;

/// This process's claim on the rows it reserves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until: i64,
}

impl Lease {
    /// A lease of [`LEASE_SECS`] from now, owned by this process.
    pub fn mine() -> Result<Lease> {
        Ok(Lease {
            owner: owner_of(&super::records::host_name(), std::process::id(), &boot_id()),
            until: crate::clock::now()?.unix_timestamp() + LEASE_SECS,
        })
    }
}

/// `host:pid:boot`.
pub fn owner_of(host: &str, pid: u32, boot: &str) -> String {
    format!("{host}:{pid}:{boot}")
}

/// This boot's id (a random value the kernel draws at each boot), so a
/// pid of an earlier boot is never taken for a running process.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|b| b.trim().to_string())
        .unwrap_or_else(|_| "-".into())
}

/// Whether the owner of a pending row may still write its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// Nobody: the process is gone or its lease expired.
    Gone,
    /// A running process of this host.
    Running,
    /// A process of host `host` whose lease has not expired.
    Elsewhere { host: String, until: i64 },
    /// A row without an owner (recorded before leases): only the PKI
    /// directory lock can tell.
    Unknown,
}

/// Who holds a pending row with `owner` and `lease_until`, at unix time `now`.
pub fn holder(owner: Option<&str>, lease_until: Option<i64>, now: i64) -> Holder {
    let Some(owner) = owner else {
        return Holder::Unknown;
    };
    // The host name may itself hold a colon: pid and boot are the last two fields.
    let mut parts = owner.rsplitn(3, ':');
    let (boot, pid, host) = (parts.next(), parts.next(), parts.next());
    let (Some(boot), Some(pid), Some(host)) = (boot, pid, host) else {
        return Holder::Unknown;
    };
    let here = host == super::records::host_name() && boot == boot_id();
    if here {
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| p == std::process::id() || running(p));
        return if alive { Holder::Running } else { Holder::Gone };
    }
    match lease_until {
        Some(until) if until > now => Holder::Elsewhere {
            host: host.to_string(),
            until,
        },
        _ => Holder::Gone,
    }
}

/// The host named in a pending row's `owner` when it is not this host:
/// such a row's files are on that host, never in this PKI directory.
pub fn other_host(owner: Option<&str>) -> Option<String> {
    let mut parts = owner?.rsplitn(3, ':');
    let (_, _, host) = (parts.next()?, parts.next()?, parts.next()?);
    (host != super::records::host_name()).then(|| host.to_string())
}

/// Whether process `pid` of this host runs (a zombie, killed but not yet
/// reaped, does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        // The state follows the parenthesised command name, which may hold spaces.
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_local_process_or_an_expired_lease_is_gone_a_live_one_elsewhere_is_not() {
        let host = super::super::records::host_name();
        let me = owner_of(&host, std::process::id(), &boot_id());
        assert_eq!(holder(Some(&me), Some(0), 100), Holder::Running);
        // pid 0 never names a process in /proc: a dead owner of this host.
        let dead = owner_of(&host, 0, &boot_id());
        assert_eq!(holder(Some(&dead), Some(10_000), 100), Holder::Gone);
        let other = owner_of("db:host", 42, "other-boot");
        assert_eq!(
            holder(Some(&other), Some(200), 100),
            Holder::Elsewhere {
                host: "db:host".into(),
                until: 200
            }
        );
        assert_eq!(holder(Some(&other), Some(100), 100), Holder::Gone);
        assert_eq!(holder(None, None, 100), Holder::Unknown);
    }
}
