//! The container's root filesystem: propagation, the config's mounts, devices,
//! pivot_root, then masked and read-only paths.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, pivot_root};
use oci_spec::runtime::{Mount, Spec};

use super::devices;
use super::mount_options::{self, MountOptions};
use super::resolve::{fd_path, open_in_root, Create};
use crate::bail;
use crate::error::{Context, Error, Result};

const NONE: Option<&str> = None;

/// What a `cgroup` mount shows: the container's own cgroup.
pub struct CgroupView<'a> {
    pub cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// Whether the container has a cgroup namespace (then the real cgroup
    /// filesystem is mounted, rooted at the container's cgroup).
    pub own_ns: bool,
    /// Puts the init in its cgroup (and its cgroup namespace) if it is not
    /// yet: the cgroup may still be in the making when mounts begin.
    pub enter: &'a dyn Fn() -> Result<()>,
}

/// Everything up to the switch into the new root.
pub fn prepare(
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    cgroups: &CgroupView<'_>,
    idmapped: &super::idmap::Mounts,
) -> Result<()> {
    let linux = spec.linux().as_ref();
    // The configured propagation is given to the new "/" at the very end
    // (`finish`). Until then the tree is private, or a slave of the host's
    // for slave and shared: host mounts may come in, ours never go out, and
    // pivot_root (which refuses shared mounts) works.
    let start = match root_propagation(spec)? {
        Some(p) if p.intersects(MsFlags::MS_SLAVE | MsFlags::MS_SHARED) => MsFlags::MS_SLAVE,
        _ => MsFlags::MS_PRIVATE,
    };
    // Before anything is mounted: nothing we do may propagate back to the host.
    mount(NONE, "/", NONE, MsFlags::MS_REC | start, NONE)
        .context("making the mount tree of the new namespace private (mount / MS_REC)")?;
    mount(
        Some(rootfs),
        rootfs,
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .with_context(|| format!("bind-mounting the rootfs {}", rootfs.display()))?;

    let root = open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening rootfs {}", rootfs.display()))?;

    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    for (i, m) in mounts.iter().enumerate() {
        mount_one(&root, bundle, m, cgroups, idmapped.get(i)).with_context(|| {
            format!(
                "mounts[{i}] ({} on {})",
                m.typ().as_deref().unwrap_or("bind"),
                m.destination().display()
            )
        })?;
    }
    // runc creates a missing cwd; it must exist before root.readonly.
    if let Some(p) = spec.process() {
        open_in_root(&root, p.cwd(), Create::Dir, false)
            .with_context(|| format!("process.cwd {}", p.cwd().display()))?;
    }
    let dev_is_bound = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && mount_options::parse(m.options().as_deref().unwrap_or(&[])).is_bind()
    });
    let user_ns = super::namespaces::has_new_user_ns(spec);
    if !dev_is_bound {
        devices::create_defaults(&root, user_ns)?;
    }
    let extra = linux.and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    devices::create(&root, extra, user_ns)
}

/// Make the prepared rootfs the process's root.
pub fn switch_root(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        move_root(rootfs)
    } else {
        pivot(rootfs)
    }
}

fn mount_one(
    root: &OwnedFd,
    bundle: &Path,
    m: &Mount,
    cgroups: &CgroupView<'_>,
    idmapped: Option<&OwnedFd>,
) -> Result<()> {
    let opts = mount_options::parse(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let bind = opts.is_bind() || typ == "bind";
    if !bind && (typ == "cgroup" || typ == "cgroup2") {
        super::cgroupfs::mount_cgroup(root, m.destination(), &opts, cgroups)?;
        apply_recursive(root, m.destination(), &opts)?;
        return apply_propagation(root, m, &opts);
    }
    if opts.tmpcopyup && (bind || typ != "tmpfs") {
        bail!("option \"tmpcopyup\" is for tmpfs mounts only");
    }
    let source: Option<PathBuf> = m.source().as_ref().map(|s| {
        if bind && s.is_relative() {
            bundle.join(s)
        } else {
            s.clone()
        }
    });
    let create = if bind {
        match &source {
            Some(s)
                if !fs::metadata(s)
                    .with_context(|| format!("bind source {}", s.display()))?
                    .is_dir() =>
            {
                Create::File
            }
            _ => Create::Dir,
        }
    } else {
        Create::Dir
    };
    // proc and sysfs must land exactly where they say: no symlink on the way.
    let strict = matches!(typ, "proc" | "sysfs");
    let dest = open_in_root(root, m.destination(), create, strict)?;
    let target = fd_path(&dest);

    if bind {
        let src = source.ok_or_else(|| Error::new("bind mount without a source"))?;
        if let Some(tree) = idmapped {
            // Cloned from `src` and mapped by the runtime before the clone.
            super::idmap::attach(tree, &dest)
                .with_context(|| format!("bind {} (idmapped)", src.display()))?;
        } else {
            let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
            mount(Some(&src), target.as_str(), NONE, flags, NONE)
                .with_context(|| format!("bind {}", src.display()))?;
        }
        remount_bind(root, m.destination(), opts.flags)?;
    } else {
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        let src = source
            .as_deref()
            .map(Path::as_os_str)
            .unwrap_or_else(|| typ.as_ref());
        mount(Some(src), target.as_str(), Some(typ), opts.flags, data)
            .with_context(|| format!("mount -t {typ} (data {:?})", opts.data))?;
        if opts.tmpcopyup {
            // The copy's pages are charged to the writer's cgroup: the
            // container's, not the runtime's.
            (cgroups.enter)()?;
            // `dest` still names the directory underneath the new tmpfs.
            let top = open_in_root(root, m.destination(), Create::Nothing, false)?;
            super::copyup::copy_tree(Path::new(&target), Path::new(&fd_path(&top)))?;
        }
    }
    apply_recursive(root, m.destination(), &opts)?;
    apply_propagation(root, m, &opts)
}

/// The `r*` options, on the mount now at `dest` and every mount below it (an
/// `rbind` brings the submounts along, and those are what `rro` is for).
fn apply_recursive(root: &OwnedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    let r = opts.recursive;
    if r.is_empty() {
        return Ok(());
    }
    let top = open_in_root(root, dest, Create::Nothing, false)?;
    super::sys::mount_setattr_recursive(&top, r.set, r.clear)
        .context("applying the recursive options (mount_setattr AT_RECURSIVE)")
}

/// Bind mounts take ro/nosuid/... only on a remount of the new mount, which
/// we reach by resolving the destination again (an fd opened before the
/// mount still points at the directory underneath).
pub(super) fn remount_bind(root: &OwnedFd, dest: &Path, flags: MsFlags) -> Result<()> {
    let rest = flags - MsFlags::MS_BIND - MsFlags::MS_REC - MsFlags::MS_REMOUNT;
    if rest.is_empty() {
        return Ok(());
    }
    let top = open_in_root(root, dest, Create::Nothing, false)?;
    let keep = locked_flags(&fd_path(&top));
    mount(
        NONE,
        fd_path(&top).as_str(),
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | rest | keep,
        NONE,
    )
    .context("remounting the bind mount with its options")
}

fn apply_propagation(root: &OwnedFd, m: &Mount, opts: &MountOptions) -> Result<()> {
    if opts.propagation.is_empty() {
        return Ok(());
    }
    let top = open_in_root(root, m.destination(), Create::Nothing, false)?;
    mount(NONE, fd_path(&top).as_str(), NONE, opts.propagation, NONE).context("setting propagation")
}

/// Flags the kernel will not let a remount drop (nosuid, nodev, noexec, atime
/// flags), read from the mount as it is.
fn locked_flags(path: &str) -> MsFlags {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

/// pivot_root(".", "."): the old root ends up on top of the new one and is
/// detached right away, so no path to the host's tree stays reachable.
fn pivot(rootfs: &Path) -> Result<()> {
    let old_root = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening the old root")?;
    chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    pivot_root(".", ".").context("pivot_root")?;
    // Keep the detach from propagating anywhere. The old root is reached
    // through its fd: "." would name the new root underneath, and MS_REC
    // there would reset the propagation of every container mount.
    nix::unistd::fchdir(&old_root).context("fchdir to the old root")?;
    mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE)
        .context("making the old root a slave before detaching it")?;
    umount2(".", MntFlags::MNT_DETACH).context("detaching the old root")?;
    drop(old_root);
    chdir("/").context("chdir / in the new root")?;
    Ok(())
}

/// `linux.rootfsPropagation` as mount flags; None when unset.
fn root_propagation(spec: &Spec) -> Result<Option<MsFlags>> {
    match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        None | Some("") => Ok(None),
        Some(p) => mount_options::propagation_of(p).map(Some).ok_or_else(|| {
            Error::new(format!(
                "linux.rootfsPropagation {p:?}: expected shared, slave, private or unbindable"
            ))
        }),
    }
}

/// --no-pivot: move the rootfs over / and chroot (for ramdisk hosts where
/// pivot_root is impossible). Weaker: the old root stays reachable underneath.
fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    mount(Some("."), "/", NONE, MsFlags::MS_MOVE, NONE).context("moving the rootfs to /")?;
    chroot(".").context("chroot")?;
    chdir("/").context("chdir / in the new root")?;
    Ok(())
}

/// After the switch: masked paths, read-only paths, and a read-only root.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let root = open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening the new root")?;
    for p in linux
        .and_then(|l| l.readonly_paths().as_deref())
        .unwrap_or(&[])
    {
        readonly_path(&root, Path::new(p)).with_context(|| format!("linux.readonlyPaths {p}"))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[])
    {
        mask_path(&root, Path::new(p)).with_context(|| format!("linux.maskedPaths {p}"))?;
    }
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if readonly {
        let keep = locked_flags("/");
        mount(
            NONE,
            "/",
            NONE,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep,
            NONE,
        )
        .context("root.readonly: remounting / read-only")?;
    }
    // Last: an unbindable "/" would refuse the bind mounts above.
    if let Some(p) = root_propagation(spec)? {
        mount(NONE, "/", NONE, p, NONE).context("linux.rootfsPropagation")?;
    }
    Ok(())
}

fn open_existing(root: &OwnedFd, p: &Path) -> Result<Option<OwnedFd>> {
    match open_in_root(root, p, Create::Nothing, false) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn readonly_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let Some(fd) = open_existing(root, p)? else {
        return Ok(());
    };
    let path = fd_path(&fd);
    mount(
        Some(path.as_str()),
        path.as_str(),
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        NONE,
    )
    .context("bind onto itself")?;
    let top = open_in_root(root, p, Create::Nothing, false)?;
    let top_path = fd_path(&top);
    let keep = locked_flags(&top_path);
    mount(
        NONE,
        top_path.as_str(),
        NONE,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | keep,
        NONE,
    )
    .context("remount read-only")
}

fn mask_path(root: &OwnedFd, p: &Path) -> Result<()> {
    let Some(fd) = open_existing(root, p)? else {
        return Ok(());
    };
    let path = fd_path(&fd);
    let is_dir = fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false);
    if is_dir {
        mount(
            Some("tmpfs"),
            path.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            Some("size=0"),
        )
        .context("mounting an empty read-only tmpfs over it")
    } else {
        mount(
            Some("/dev/null"),
            path.as_str(),
            NONE,
            MsFlags::MS_BIND,
            NONE,
        )
        .context("bind-mounting /dev/null over it")
    }
}
