//! Which namespaces a container gets: new ones become clone flags, existing
//! ones (`path`) are joined with setns, the user namespace first.

use std::fs::File;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::bail;
use crate::error::{Context, Result};
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
    if p.new.contains(flag(LinuxNamespaceType::Time)) {
        let offsets = spec
            .linux()
            .as_ref()
            .and_then(|l| l.time_offsets().as_ref());
        if offsets.is_some_and(|o| !o.is_empty()) {
            bail!("linux.timeOffsets: time namespace offsets are not supported yet");
        }
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
    Ok(p)
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
