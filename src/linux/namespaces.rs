//! Which namespaces a container gets: new ones become clone flags, existing
//! ones (`path`) are joined with setns, the user namespace first.

use std::fs::File;
use std::path::PathBuf;

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::spec::ns_name;

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The namespace plan of a config, checked once before anything is created.
pub struct Plan {
    /// Namespaces to create, as clone(2) flags.
    pub new: CloneFlags,
    /// Namespaces to join, opened (and type-checked) before cloning. The user
    /// namespace, if any, comes first: the others may be owned by it.
    pub join: Vec<(LinuxNamespaceType, File)>,
    /// A PID namespace to join: the parent must enter it before cloning, since
    /// setns(CLONE_NEWPID) only affects children.
    pub join_pid: Option<File>,
    /// linux.timeOffsets, as /proc/self/timens_offsets takes them, for a new
    /// time namespace.
    pub time_offsets: Option<String>,
}

impl Plan {
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.new.contains(flag(t))
            || self.join.iter().any(|(k, _)| *k == t)
            || (t == LinuxNamespaceType::Pid && self.join_pid.is_some())
    }
}

pub fn plan(spec: &Spec) -> Result<Plan> {
    let mut p = Plan {
        new: CloneFlags::empty(),
        join: Vec::new(),
        join_pid: None,
        time_offsets: None,
    };
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[]);
    for ns in namespaces {
        let t = ns.typ();
        match ns.path() {
            None => p.new |= flag(t),
            Some(path) => {
                let f = open_ns(path, t)?;
                if t == LinuxNamespaceType::Pid {
                    p.join_pid = Some(f);
                } else if t == LinuxNamespaceType::User {
                    p.join.insert(0, (t, f));
                } else {
                    p.join.push((t, f));
                }
            }
        }
    }
    p.time_offsets = time_offsets(spec)?;
    if p.time_offsets.is_some() && !p.new.contains(flag(LinuxNamespaceType::Time)) {
        if p.has(LinuxNamespaceType::Time) {
            bail!("linux.timeOffsets: the time namespace is joined by path, and its offsets are its own (they can only be set before a process enters it)");
        }
        bail!("linux.timeOffsets: given, but linux.namespaces creates no time namespace");
    }
    if p.new.contains(CloneFlags::CLONE_NEWUSER) {
        // Checked here so a bad mapping fails before anything is created.
        let linux = spec.linux().as_ref();
        id_map(
            "linux.uidMappings",
            linux
                .and_then(|l| l.uid_mappings().as_deref())
                .unwrap_or(&[]),
        )?;
        id_map(
            "linux.gidMappings",
            linux
                .and_then(|l| l.gid_mappings().as_deref())
                .unwrap_or(&[]),
        )?;
    }
    if !p.has(LinuxNamespaceType::Mount) {
        bail!(
            "linux.namespaces: a mount namespace is required (hutch never changes the host's root)"
        );
    }
    let hostname = spec.hostname().as_deref().is_some_and(|h| !h.is_empty());
    if hostname && !p.has(LinuxNamespaceType::Uts) {
        bail!("hostname: setting a hostname needs a uts namespace in linux.namespaces");
    }
    // Without a uts namespace of its own, setdomainname would change the host's.
    let domainname = spec.domainname().as_deref().is_some_and(|h| !h.is_empty());
    if domainname && !p.has(LinuxNamespaceType::Uts) {
        bail!("domainname: setting a domainname needs a uts namespace in linux.namespaces");
    }
    if let Some(l) = spec.linux() {
        let maps = l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !p.new.contains(CloneFlags::CLONE_NEWUSER) {
            bail!("linux.uidMappings/gidMappings: given, but linux.namespaces creates no user namespace");
        }
    }
    Ok(p)
}

/// linux.timeOffsets checked and formatted for /proc/PID/timens_offsets;
/// None when there are none.
pub fn time_offsets(spec: &Spec) -> Result<Option<String>> {
    let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
        .filter(|o| !o.is_empty())
    else {
        return Ok(None);
    };
    let mut text = String::new();
    // Sorted, so the same config always writes the same text.
    let mut clocks: Vec<_> = offsets.iter().collect();
    clocks.sort_by_key(|(k, _)| k.as_str());
    for (clock, o) in clocks {
        if clock != "monotonic" && clock != "boottime" {
            bail!("linux.timeOffsets.{clock}: only the monotonic and boottime clocks have offsets");
        }
        let nanos = o.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            bail!("linux.timeOffsets.{clock}.nanosecs {nanos}: expected less than 1000000000");
        }
        text.push_str(&format!("{clock} {} {nanos}\n", o.secs().unwrap_or(0)));
    }
    Ok(Some(text))
}

/// A new time namespace, made for the init by `create` itself: only the
/// children of whoever unshares it enter it, and its offsets can be written
/// only before the first one does. So `create` unshares it, writes the
/// offsets, clones the init (which starts in it) and goes back to its own
/// (its hooks run in the runtime's time namespace). A user namespace the
/// init is cloned into does not own it: the container cannot change its
/// offsets either way, they are frozen once the init is in.
pub struct NewTime {
    ours: File,
}

impl NewTime {
    pub fn make(offsets: Option<&str>) -> Result<NewTime> {
        let ours = File::open("/proc/self/ns/time")
            .context("opening our time namespace (/proc/self/ns/time)")?;
        unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME))
            .context("unshare of a time namespace")?;
        let t = NewTime { ours };
        if let Some(text) = offsets {
            if let Err(e) = std::fs::write("/proc/self/timens_offsets", text) {
                let _ = t.leave();
                return Err(
                    Error::from(e).context("linux.timeOffsets: writing /proc/self/timens_offsets")
                );
            }
        }
        Ok(t)
    }

    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.ours)
    }

    /// Back to our own time namespace, for the children we make later.
    pub fn leave(&self) -> Result<()> {
        setns(
            &self.ours,
            CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        )
        .context("setns back into the runtime's time namespace")?;
        Ok(())
    }
}

/// Open a namespace file and check it is a namespace of the named type.
fn open_ns(path: &PathBuf, t: LinuxNamespaceType) -> Result<File> {
    let name = ns_name(t);
    let f = File::open(path)
        .with_context(|| format!("linux.namespaces: {name} namespace path {}", path.display()))?;
    // NS_GET_NSTYPE (ioctl 0xb703) names the type of a namespace fd.
    let got = crate::linux::sys::ns_type(&f);
    match got {
        Some(ty) if ty == flag(t).bits() => Ok(f),
        Some(_) => bail!(
            "linux.namespaces: {} is not a {name} namespace",
            path.display()
        ),
        None => bail!(
            "linux.namespaces: {} is not a namespace file",
            path.display()
        ),
    }
}

/// In the init, before anything else: join the namespaces given by path.
pub fn join(plan: &Plan) -> Result<()> {
    for (t, f) in &plan.join {
        setns(f, flag(*t)).with_context(|| format!("setns into the {} namespace", ns_name(*t)))?;
    }
    Ok(())
}

pub fn has_new_user_ns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User)
}

/// Format uid_map/gid_map content; checks sizes the kernel would only reject
/// with a bare EINVAL.
pub fn id_map(field: &str, maps: &[LinuxIdMapping]) -> Result<String> {
    if maps.is_empty() {
        bail!("{field}: a user namespace needs at least one mapping");
    }
    let mut s = String::new();
    for m in maps {
        if m.size() == 0 {
            bail!("{field}: size must be at least 1");
        }
        s.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    Ok(s)
}
