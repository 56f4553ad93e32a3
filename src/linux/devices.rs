//! Device nodes in the container's /dev: the defaults every container gets
//! (null, zero, full, random, urandom, tty and the usual links) and the
//! config's `linux.devices`.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::resolve::{fd_path, open_in_root, Create};
use crate::bail;
use crate::error::{Context, Result};

/// (name, major, minor): what runc and crun create in every container.
const DEFAULTS: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: [(&str, &str); 5] = [
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

pub fn create_defaults(root: &OwnedFd, user_ns: bool) -> Result<()> {
    let dev = open_in_root(root, Path::new("/dev"), Create::Dir, false)?;
    for (name, major, minor) in DEFAULTS {
        let path = Path::new("/dev").join(name);
        node(
            root,
            &dev,
            &path,
            SFlag::S_IFCHR,
            major,
            minor,
            0o666,
            user_ns,
        )
        .with_context(|| format!("creating /dev/{name}"))?;
    }
    for (target, name) in LINKS {
        // A rootfs may ship these already (a plain file /dev/ptmx, say): the
        // link must win, as it points into this container's own devpts.
        if name == "ptmx" {
            let _ = nix::unistd::unlinkat(&dev, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
        }
        match symlinkat(target, &dev, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(crate::error::Error::from(e).context(format!("linking /dev/{name}")))
            }
        }
    }
    Ok(())
}

pub fn create(root: &OwnedFd, devices: &[LinuxDevice], user_ns: bool) -> Result<()> {
    for d in devices {
        let path = d.path();
        let (kind, needs_numbers) = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => (SFlag::S_IFCHR, true),
            LinuxDeviceType::B => (SFlag::S_IFBLK, true),
            LinuxDeviceType::P => (SFlag::S_IFIFO, false),
            LinuxDeviceType::A => bail!(
                "linux.devices {}: type \"a\" is only valid in cgroup rules",
                path.display()
            ),
        };
        if needs_numbers && (d.major() < 0 || d.minor() < 0) {
            bail!(
                "linux.devices {}: major and minor must be non-negative",
                path.display()
            );
        }
        let parent = path.parent().unwrap_or(Path::new("/"));
        let Some(name) = path.file_name() else {
            bail!("linux.devices {}: not a file path", path.display());
        };
        let dir = open_in_root(root, parent, Create::Dir, false)
            .with_context(|| format!("linux.devices {}", path.display()))?;
        let mode = d.file_mode().unwrap_or(0o666);
        node(
            root,
            &dir,
            path,
            kind,
            d.major() as u64,
            d.minor() as u64,
            mode,
            user_ns,
        )
        .with_context(|| format!("linux.devices {}", path.display()))?;
        let uid = d.uid().map(Uid::from_raw);
        let gid = d.gid().map(Gid::from_raw);
        if uid.is_some() || gid.is_some() {
            fchownat(&dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW)
                .with_context(|| format!("linux.devices {}: chown", path.display()))?;
        }
    }
    Ok(())
}

/// mknod, or inside a user namespace (where mknod is refused) a bind mount of
/// the host's node onto an empty file.
#[allow(clippy::too_many_arguments)]
fn node(
    root: &OwnedFd,
    dir: &OwnedFd,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    user_ns: bool,
) -> Result<()> {
    let name = path.file_name().unwrap_or_default();
    let _ = nix::unistd::unlinkat(dir, name, nix::unistd::UnlinkatFlags::NoRemoveDir);
    if !user_ns {
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        // The config's mode must hold exactly, and mknod obeys the umask: off
        // for the call (the init is single-threaded). Not a chmod by name
        // afterwards: a container sharing this directory could swap the node
        // for a symlink meanwhile, and the chmod would follow it to a host file.
        let umask = nix::sys::stat::umask(Mode::empty());
        let made = mknodat(dir.as_fd(), name, kind, perm, makedev(major, minor));
        nix::sys::stat::umask(umask);
        made.context("mknod")?;
        crate::testpoint::pause_at("device-node-made");
        return Ok(());
    }
    // The host's node at the same path is what the container asked for.
    let fd = open_in_root(root, path, Create::File, false)?;
    mount(
        Some(path),
        fd_path(&fd).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .with_context(|| format!("bind-mounting the host's {}", path.display()))
}
