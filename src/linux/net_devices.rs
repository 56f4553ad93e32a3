//! linux.netDevices: host network devices moved into the container's network
//! namespace, renamed when `name` says so, with their permanent global
//! addresses and brought up (config-linux.md). Nothing is done at delete: the
//! spec forbids moving them back; when the namespace dies the kernel returns
//! physical devices to the host and destroys virtual ones. A failed create
//! does move them back: the container never existed.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice};

use super::namespaces::Plan;
use super::netlink::{self, Socket};
use crate::bail;
use crate::error::{Context, Result};

/// IFNAMSIZ less the NUL.
const MAX_NAME: usize = 15;

/// (host name, name in the container), sorted by host name.
fn pairs(devs: &HashMap<String, LinuxNetDevice>) -> Vec<(&str, &str)> {
    let mut v: Vec<(&str, &str)> = devs
        .iter()
        .map(|(host, d)| (host.as_str(), d.name().as_deref().unwrap_or(host)))
        .collect();
    v.sort_unstable();
    v
}

/// The kernel's rule for a device name (dev_valid_name), and for a template
/// one `%d` (dev_alloc_name).
fn valid_name(name: &str, template_ok: bool) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err("a device name has 1 to 15 bytes");
    }
    if name == "." || name == ".." {
        return Err("not a device name");
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        return Err("a device name has no '/', ':' or white space");
    }
    let percents = name.matches('%').count();
    if percents > 0 && (!template_ok || percents != 1 || !name.contains("%d")) {
        return Err("the only '%' a name may hold is one %d template");
    }
    Ok(())
}

/// The checks that need the config only: names.
pub fn check(devs: &HashMap<String, LinuxNetDevice>) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for (host, name) in pairs(devs) {
        valid_name(host, false)
            .map_err(|why| crate::error::Error::new(format!("linux.netDevices {host:?}: {why}")))?;
        valid_name(name, true).map_err(|why| {
            crate::error::Error::new(format!("linux.netDevices {host:?}: name {name:?}: {why}"))
        })?;
        if !name.contains("%d") && seen.contains(&name) {
            bail!("linux.netDevices {host:?}: name {name:?} is given to another device too");
        }
        seen.push(name);
    }
    Ok(())
}

/// Before anything is created: the container has a network namespace that
/// is not the host's, and every device is there to move.
pub fn check_host(devs: &HashMap<String, LinuxNetDevice>, plan: &Plan) -> Result<()> {
    if !plan.has(LinuxNamespaceType::Network) {
        bail!("linux.netDevices: the container has no network namespace of its own (linux.namespaces has no \"network\")");
    }
    if let Some(f) = joined(plan) {
        let ours = std::fs::metadata("/proc/self/ns/net").context("stat /proc/self/ns/net")?;
        let theirs = f
            .metadata()
            .context("stat of the joined network namespace")?;
        if (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino()) {
            bail!("linux.netDevices: the network namespace linux.namespaces joins is the host's");
        }
    }
    let mut sock = Socket::open().context("linux.netDevices")?;
    for (host, _) in pairs(devs) {
        match sock.link_index(host) {
            Ok(_) => {}
            Err(Errno::ENODEV) => {
                bail!("linux.netDevices {host:?}: no network device of that name on the host")
            }
            Err(e) => {
                return Err(e).with_context(|| format!("linux.netDevices {host:?}: RTM_GETLINK"))
            }
        }
    }
    Ok(())
}

fn joined(plan: &Plan) -> Option<&File> {
    plan.join
        .iter()
        .find(|(t, _)| *t == LinuxNamespaceType::Network)
        .map(|(_, f)| f)
}

/// Devices moved into a container that is still being created: a failed
/// create moves them back (`undo`), for a failed create leaves the host as
/// it was. Once the container exists they are its namespace's business.
pub struct Moved {
    inside: Socket,
    host_ns: File,
    /// (index in the container's namespace, host name, host addresses).
    devices: Vec<(i32, String, Vec<netlink::Address>)>,
}

impl Moved {
    /// Back to the host under their own names, with their addresses; best
    /// effort (a failed create is being reported already).
    pub fn undo(&mut self) {
        let Ok(mut host) = Socket::open() else { return };
        for (index, name, addresses) in self.devices.drain(..).rev() {
            if self
                .inside
                .move_link(index, self.host_ns.as_raw_fd(), &name)
                .is_err()
            {
                continue;
            }
            if let Ok(back) = host.link_index(&name) {
                for a in &addresses {
                    let _ = host.add_address(back, a);
                }
            }
        }
    }
}

/// Move them into the network namespace of the container whose init is
/// `pid` (or the one linux.namespaces joins), before the init goes on. On
/// an error, those moved already go back.
pub fn move_all(devs: &HashMap<String, LinuxNetDevice>, plan: &Plan, pid: i32) -> Result<Moved> {
    let opened;
    let netns = match joined(plan) {
        Some(f) => f,
        None => {
            let p = format!("/proc/{pid}/ns/net");
            opened = File::open(&p).with_context(|| format!("linux.netDevices: opening {p}"))?;
            &opened
        }
    };
    let mut moved = Moved {
        inside: netlink::socket_in(netns.as_fd()).context("linux.netDevices")?,
        host_ns: File::open("/proc/self/ns/net").context("opening /proc/self/ns/net")?,
        devices: Vec::new(),
    };
    let mut host = Socket::open().context("linux.netDevices")?;
    for (from, to) in pairs(devs) {
        if let Err(e) = move_one(&mut host, &mut moved, netns, from, to) {
            moved.undo();
            return Err(e);
        }
    }
    Ok(moved)
}

fn move_one(
    host: &mut Socket,
    moved: &mut Moved,
    netns: &File,
    from: &str,
    to: &str,
) -> Result<()> {
    let what = || format!("linux.netDevices {from:?}");
    let inside = &mut moved.inside;
    let index = host
        .link_index(from)
        .with_context(|| format!("{}: RTM_GETLINK", what()))?;
    let addresses = host
        .permanent_addresses(index)
        .with_context(|| format!("{}: RTM_GETADDR", what()))?;
    // The kernel renames after the move, and a rename that fails there
    // leaves the device moved under its old name: ask first.
    if !to.contains("%d") && inside.link_index(to).is_ok() {
        bail!(
            "{}: name {to:?}: a device of that name is in the container's network namespace already",
            what()
        );
    }
    host.move_link(index, netns.as_raw_fd(), to)
        .with_context(|| format!("{}: moving it into the container as {to:?}", what()))?;
    // A template's name is the kernel's choice; the index stays unless
    // taken in the namespace (then only the name finds it).
    let found = if to.contains("%d") {
        inside.link_by_index(index)
    } else {
        inside.link_index(to)
    };
    let new = found.with_context(|| format!("{}: finding it in the container", what()))?;
    moved.devices.push((new, from.to_string(), addresses));
    let (inside, addresses) = (&mut moved.inside, &moved.devices[moved.devices.len() - 1].2);
    for a in addresses {
        inside
            .add_address(new, a)
            .with_context(|| format!("{}: adding its address {a} back", what()))?;
    }
    inside
        .set_up(new)
        .with_context(|| format!("{}: setting it up in the container", what()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["eth0", "a", "container_eth0x", "net%d"] {
            valid_name(ok, true).unwrap();
        }
        for bad in [
            "",
            "container_eth0xy",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a%s",
            "%d%d",
        ] {
            assert!(valid_name(bad, true).is_err(), "{bad:?}");
        }
        assert!(valid_name("net%d", false).is_err());
        let devs: HashMap<String, LinuxNetDevice> =
            serde_json::from_str(r#"{"a":{"name":"x"},"b":{"name":"x"}}"#).unwrap();
        assert!(check(&devs)
            .unwrap_err()
            .to_string()
            .contains("another device"));
        let devs: HashMap<String, LinuxNetDevice> =
            serde_json::from_str(r#"{"a":{"name":"x%d"},"b":{"name":"x%d"},"c":{}}"#).unwrap();
        check(&devs).unwrap();
    }
}
