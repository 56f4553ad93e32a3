//! The `cgroup` mount type: the container's view of its own cgroups, as
//! runc gives it.
//!
//! - v1: a tmpfs with one directory per hierarchy. With a cgroup namespace
//!   each is the hierarchy itself (rooted at the container's cgroup by the
//!   namespace); without one, a bind of the container's own directory, so
//!   nothing of the host's tree shows.
//! - v2: with a cgroup namespace, cgroup2 itself; without, a bind of the
//!   container's directory.
//!
//! Options apply to every mount made, so "ro" (the default clients send)
//! makes it all read-only.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::symlinkat;

use super::mount_fd::{Attrs, MountFd};
use super::mount_options::MountOptions;
use super::resolve::{open_beneath, open_in_root, Create};
use super::rootfs::CgroupView;
use crate::bail;
use crate::cgroups::Version;
use crate::error::{Context, Result};

/// Mount the container's cgroups at `dest`; the mount returned (attached)
/// is the one at `dest`, with anything below it.
pub fn mount_cgroup(
    root: &OwnedFd,
    dest: &Path,
    opts: &MountOptions,
    view: &CgroupView<'_>,
) -> Result<MountFd> {
    let Some(cg) = view.cgroup else {
        bail!("the container has no cgroup to show");
    };
    (view.enter)()?;
    let flags = opts.flags - MsFlags::MS_BIND - MsFlags::MS_REC - MsFlags::MS_REMOUNT;
    let attrs = Attrs::of(flags, opts.clear);
    let at = open_in_root(root, dest, Create::Dir, false)?;
    match cg.version {
        Version::V2 => {
            let mnt = if view.own_ns {
                MountFd::new_fs(
                    "cgroup2",
                    Some("cgroup2".as_ref()),
                    &opts.data,
                    flags,
                    attrs.set,
                )
                .context("mount -t cgroup2")?
            } else {
                let dir = cg.v2_dir().unwrap_or(Path::new("/nonexistent"));
                bind(dir, attrs)?
            };
            mnt.attach(at.as_fd())?;
            Ok(mnt)
        }
        Version::V1 => {
            let base = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV | libc::MOUNT_ATTR_NOEXEC;
            let top = MountFd::new_fs(
                "tmpfs",
                Some("tmpfs".as_ref()),
                "mode=755",
                MsFlags::empty(),
                base,
            )
            .context("the tmpfs for the cgroup hierarchies")?;
            // Attached before its hierarchies: 6.1 mounts nothing on a
            // detached mount. Everything below is made through its fd.
            top.attach(at.as_fd())?;
            for d in &cg.dirs {
                let Some(name) = d.mount.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                match mkdirat(top.as_fd(), name, Mode::from_bits_truncate(0o755)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(crate::error::Error::from(e).context(format!("mkdir {name}")))
                    }
                }
                let sub = open_beneath(top.as_fd(), Path::new(name), nix::fcntl::OFlag::O_PATH)
                    .map_err(|e| crate::error::Error::from(e).context(format!("opening {name}")))?;
                let mnt = if view.own_ns {
                    MountFd::new_fs(
                        "cgroup",
                        Some("cgroup".as_ref()),
                        &d.controllers,
                        flags,
                        attrs.set,
                    )
                    .with_context(|| format!("mount -t cgroup -o {}", d.controllers))?
                } else {
                    bind(&d.path, attrs)?
                };
                mnt.attach(sub.as_fd())?;
                // Co-mounted controllers ("cpu,cpuacct") are reachable by
                // each name, as on the host.
                for c in d.controllers.split(',') {
                    if c != name && !c.starts_with("name=") {
                        match symlinkat(name, top.as_fd(), c) {
                            Ok(()) | Err(Errno::EEXIST) => {}
                            Err(e) => {
                                return Err(crate::error::Error::from(e)
                                    .context(format!("symlink {c} -> {name}")))
                            }
                        }
                    }
                }
            }
            if flags.contains(MsFlags::MS_RDONLY) {
                top.set(
                    Attrs {
                        set: libc::MOUNT_ATTR_RDONLY,
                        clear: 0,
                    },
                    false,
                )
                .context("making the cgroup tmpfs read-only")?;
            }
            Ok(top)
        }
    }
}

/// A detached bind of the container's own cgroup directory with `attrs`.
fn bind(src: &Path, attrs: Attrs) -> Result<MountFd> {
    let mnt = MountFd::bind(src, false).with_context(|| format!("bind {}", src.display()))?;
    mnt.set(attrs, false)
        .with_context(|| format!("bind {}", src.display()))?;
    Ok(mnt)
}
