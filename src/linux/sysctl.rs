//! `linux.sysctl`: only keys that are namespaced, and only when the container
//! has that namespace; anything else would change the host.

use std::io::Write;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType as Ns, Spec};

use super::rootfs::Made;
use crate::bail;
use crate::error::{Context, Error, Result};

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

/// In the init, after the switch of root and before /proc/sys goes
/// read-only. Each key is written beneath the procfs hutch mounted, by fd
/// (`rootfs::Made::open_held`): a /proc swapped away by a container sharing
/// the rootfs neither takes the value nor lets it go unset silently.
pub fn apply(spec: &Spec, mounts: &mut Made) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening the new root")?;
    for (key, value) in map {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let what = || format!("linux.sysctl {key}={value:?}: {path}");
        let fd = mounts
            .open_held(&root, Path::new(&path), OFlag::O_WRONLY)
            .with_context(what)?
            .ok_or_else(|| Error::new(format!("{}: no such sysctl", what())))?;
        std::fs::File::from(fd)
            .write_all(value.as_bytes())
            .with_context(|| format!("{}: write", what()))?;
    }
    Ok(())
}
