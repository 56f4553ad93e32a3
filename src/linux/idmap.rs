//! Idmapped mounts (config.md: `mounts[].uidMappings`/`gidMappings`, options
//! `idmap`/`ridmap`). The runtime, still on the host with all its
//! privileges, clones each such bind source into a detached mount
//! (open_tree OPEN_TREE_CLONE), maps it through a user namespace made for
//! the mappings (mount_setattr MOUNT_ATTR_IDMAP), and the init, which
//! inherits the fds, attaches it at its destination (move_mount). Done on
//! the host because mapping a mount needs CAP_SYS_ADMIN over the
//! filesystem's user namespace, which an init in a user namespace lacks.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use super::mount_options;
use super::namespaces::id_map;
use super::sys::{self, Forked};
use crate::bail;
use crate::error::{Context, Result};

/// The detached, idmapped mounts, by index in `mounts`.
#[derive(Default)]
pub struct Mounts(Vec<(usize, OwnedFd)>);

impl Mounts {
    pub fn get(&self, i: usize) -> Option<&OwnedFd> {
        self.0.iter().find(|(j, _)| *j == i).map(|(_, fd)| fd)
    }
}

/// How one mount is to be idmapped.
struct Plan<'a> {
    uid: &'a [LinuxIdMapping],
    gid: &'a [LinuxIdMapping],
    /// `rbind`: the submounts come along.
    rbind: bool,
    /// `ridmap`: and are mapped too.
    recursive: bool,
}

/// The mappings mount `m` is to be mapped with, and whether recursively;
/// None when it is not idmapped. Checked before anything is created.
fn plan<'a>(i: usize, m: &'a Mount, spec: &'a Spec, user_ns: bool) -> Result<Option<Plan<'a>>> {
    let opts = mount_options::parse(m.options().as_deref().unwrap_or(&[]));
    let field = format!("mounts[{i}]");
    let maps = match (m.uid_mappings(), m.gid_mappings()) {
        (Some(u), Some(g)) => Some((u.as_slice(), g.as_slice())),
        (None, None) => None,
        _ => bail!(
            "{field}.uidMappings/gidMappings: one given without the other (config.md wants both)"
        ),
    };
    let (uid, gid) = match (maps, opts.idmap) {
        (None, None) => return Ok(None),
        (Some(m), _) => m,
        // The option alone: the container's own mappings (config.md: MAY).
        (None, Some(_)) => {
            let linux = spec.linux().as_ref();
            match (
                linux.and_then(|l| l.uid_mappings().as_deref()),
                linux.and_then(|l| l.gid_mappings().as_deref()),
            ) {
                (Some(u), Some(g)) if user_ns => (u, g),
                _ => bail!(
                    "{field}.options idmap/ridmap: without uidMappings/gidMappings the mount takes the container's, and it has no user namespace with mappings"
                ),
            }
        }
    };
    let bind = opts.is_bind() || m.typ().as_deref() == Some("bind");
    if !bind {
        bail!("{field}: idmapped mounts are supported for bind mounts only");
    }
    if m.source().is_none() {
        bail!("{field}: an idmapped bind mount needs a source");
    }
    id_map(&format!("{field}.uidMappings"), uid)?;
    id_map(&format!("{field}.gidMappings"), gid)?;
    Ok(Some(Plan {
        uid,
        gid,
        rbind: opts.flags.contains(nix::mount::MsFlags::MS_REC),
        recursive: opts.idmap.unwrap_or(false),
    }))
}

/// The config checks (no syscall): for `create::check`.
pub fn check(spec: &Spec, user_ns: bool) -> Result<()> {
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        plan(i, m, spec, user_ns)?;
    }
    Ok(())
}

/// Make the detached idmapped mounts; nothing (no syscall) when no mount
/// asks for one.
pub fn prepare(spec: &Spec, bundle: &Path, user_ns: bool) -> Result<Mounts> {
    let mut out = Mounts::default();
    // One user namespace per distinct pair of mappings.
    let mut namespaces: Vec<(String, String, OwnedFd)> = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let Some(Plan {
            uid,
            gid,
            rbind,
            recursive,
        }) = plan(i, m, spec, user_ns)?
        else {
            continue;
        };
        let field = format!("mounts[{i}]");
        let (uid, gid) = (
            id_map(&format!("{field}.uidMappings"), uid)?,
            id_map(&format!("{field}.gidMappings"), gid)?,
        );
        let userns = match namespaces
            .iter()
            .position(|(u, g, _)| *u == uid && *g == gid)
        {
            Some(k) => k,
            None => {
                let ns = user_namespace(&uid, &gid)
                    .with_context(|| format!("{field}: a user namespace for its mappings"))?;
                namespaces.push((uid, gid, ns));
                namespaces.len() - 1
            }
        };
        let Some(src) = m.source() else {
            bail!("{field}: an idmapped bind mount needs a source");
        };
        let src = if src.is_relative() {
            bundle.join(src)
        } else {
            src.clone()
        };
        let what = || format!("{field} source {}", src.display());
        let c = CString::new(src.as_os_str().as_bytes())
            .map_err(|_| crate::error::Error::new(format!("{}: NUL in path", what())))?;
        let tree = sys::open_tree_clone(&c, rbind || recursive)
            .with_context(|| format!("{}: open_tree(OPEN_TREE_CLONE)", what()))?;
        sys::mount_setattr_idmap(tree.as_fd(), namespaces[userns].2.as_fd(), recursive)
            .with_context(|| {
                format!(
                    "{}: mount_setattr(MOUNT_ATTR_IDMAP) (does its filesystem support idmapped mounts?)",
                    what()
                )
            })?;
        out.0.push((i, tree));
    }
    Ok(out)
}

/// A user namespace with these maps, held by an fd: a child is cloned into
/// a new one, its maps written, the namespace opened, and the child let go.
fn user_namespace(uid_map: &str, gid_map: &str) -> Result<OwnedFd> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let forked = sys::clone3(libc::CLONE_NEWUSER as u64, None).context("clone3(CLONE_NEWUSER)")?;
    let (pid, _pidfd) = match forked {
        Forked::Child => {
            // Wait for EOF: the parent is done with our namespace.
            drop(write);
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(&read, &mut b);
            sys::exit_now(0);
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(read);
    let made = (|| -> Result<OwnedFd> {
        for (name, map) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let p = format!("/proc/{pid}/{name}");
            std::fs::write(&p, map).with_context(|| format!("writing {p}"))?;
        }
        let p = format!("/proc/{pid}/ns/user");
        Ok(std::fs::File::open(&p)
            .with_context(|| format!("opening {p}"))?
            .into())
    })();
    drop(write);
    let _ = waitpid(Pid::from_raw(pid), None);
    made
}
