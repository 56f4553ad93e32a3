//! `linux.sysctl`: only keys that are namespaced, and only when the container
//! has that namespace; anything else would change the host.

use oci_spec::runtime::{LinuxNamespaceType as Ns, Spec};

use crate::bail;
use crate::error::{Context, Result};

/// Which namespace makes a sysctl key container-local, if any.
fn namespace_of(key: &str) -> Option<Ns> {
    const IPC_KEYS: [&str; 7] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
    ];
    if IPC_KEYS.contains(&key) || key == "kernel.shm_rmid_forced" || key.starts_with("fs.mqueue.") {
        Some(Ns::Ipc)
    } else if key.starts_with("net.") {
        Some(Ns::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(Ns::Uts)
    } else {
        None
    }
}

/// Checked before cloning.
pub fn validate(spec: &Spec, has: impl Fn(Ns) -> bool) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for key in map.keys() {
        let normalized = key.replace('/', ".");
        if normalized.split('.').any(|c| c.is_empty() || c == "..") {
            bail!("linux.sysctl {key:?}: not a valid sysctl name");
        }
        match namespace_of(&normalized) {
            None => bail!(
                "linux.sysctl {key:?}: not a namespaced sysctl; setting it would change the host"
            ),
            Some(ns) if !has(ns) => bail!(
                "linux.sysctl {key:?}: needs a {} namespace in linux.namespaces",
                crate::spec::ns_name(ns)
            ),
            Some(_) => {}
        }
    }
    Ok(())
}

/// In the init, after /proc is mounted and before /proc/sys goes read-only.
pub fn apply(spec: &Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (key, value) in map {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        std::fs::write(&path, value)
            .with_context(|| format!("linux.sysctl {key}={value:?}: writing {path}"))?;
    }
    Ok(())
}
