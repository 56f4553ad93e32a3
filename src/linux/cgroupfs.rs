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

use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::unistd::symlinkat;

use super::mount_options::MountOptions;
use super::resolve::{fd_path, open_in_root, Create};
use super::rootfs::{remount_bind, CgroupView};
use crate::bail;
use crate::cgroups::Version;
use crate::error::{Context, Result};

const NONE: Option<&str> = None;

pub fn mount_cgroup(
    root: &OwnedFd,
    dest: &Path,
    opts: &MountOptions,
    view: &CgroupView<'_>,
) -> Result<()> {
    let Some(cg) = view.cgroup else {
        bail!("the container has no cgroup to show");
    };
    (view.enter)()?;
    let flags = opts.flags - MsFlags::MS_BIND - MsFlags::MS_REC - MsFlags::MS_REMOUNT;
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    match cg.version {
        Version::V2 => {
            let fd = open_in_root(root, dest, Create::Dir, false)?;
            if view.own_ns {
                mount(
                    Some("cgroup2"),
                    fd_path(&fd).as_str(),
                    Some("cgroup2"),
                    flags,
                    data,
                )
                .context("mount -t cgroup2")
            } else {
                let dir = cg.v2_dir().unwrap_or(Path::new("/nonexistent"));
                bind(root, dir, dest, flags)
            }
        }
        Version::V1 => {
            let fd = open_in_root(root, dest, Create::Dir, false)?;
            let base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount(
                Some("tmpfs"),
                fd_path(&fd).as_str(),
                Some("tmpfs"),
                base,
                Some("mode=755"),
            )
            .context("mounting the tmpfs for the cgroup hierarchies")?;
            let top = open_in_root(root, dest, Create::Nothing, false)?;
            for d in &cg.dirs {
                let Some(name) = d.mount.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let sub = dest.join(name);
                if view.own_ns {
                    let fd = open_in_root(root, &sub, Create::Dir, false)?;
                    mount(
                        Some("cgroup"),
                        fd_path(&fd).as_str(),
                        Some("cgroup"),
                        flags,
                        Some(d.controllers.as_str()),
                    )
                    .with_context(|| format!("mount -t cgroup -o {}", d.controllers))?;
                } else {
                    bind(root, &d.path, &sub, flags)?;
                }
                // Co-mounted controllers ("cpu,cpuacct") are reachable by
                // each name, as on the host.
                for c in d.controllers.split(',') {
                    if c != name && !c.starts_with("name=") {
                        match symlinkat(name, &top, c) {
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
                mount(
                    NONE,
                    fd_path(&top).as_str(),
                    NONE,
                    MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
                    Some("mode=755"),
                )
                .context("remounting the cgroup tmpfs read-only")?;
            }
            Ok(())
        }
    }
}

fn bind(root: &OwnedFd, src: &Path, dest: &Path, flags: MsFlags) -> Result<()> {
    let fd = open_in_root(root, dest, Create::Dir, false)?;
    mount(
        Some(src),
        fd_path(&fd).as_str(),
        NONE,
        MsFlags::MS_BIND,
        NONE,
    )
    .with_context(|| format!("bind {}", src.display()))?;
    remount_bind(root, dest, flags)
}
