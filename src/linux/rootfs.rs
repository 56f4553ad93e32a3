//! The container's root filesystem: propagation, the config's mounts, devices,
//! pivot_root, then masked and read-only paths.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, pivot_root};
use oci_spec::runtime::{Mount, Spec};

use super::devices;
use super::mount_fd::{Attrs, MountFd};
use super::mount_options;
use super::resolve::{fd_path, normalize, open_beneath, open_in_root, Create};
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
) -> Result<Made> {
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
    let mut made = Made::default();
    for (i, m) in mounts.iter().enumerate() {
        let what = format!(
            "mounts[{i}] ({} on {})",
            m.typ().as_deref().unwrap_or("bind"),
            m.destination().display()
        );
        let mnt =
            mount_one(&root, bundle, m, cgroups, idmapped.get(i)).with_context(|| what.clone())?;
        made.push(m.destination(), what, mnt);
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
    devices::create(&root, extra, user_ns)?;
    Ok(made)
}

/// The mounts hutch made, each held by fd with its destination (container
/// view), for `finish`: a masked or read-only path under one of them is
/// found beneath that mount, never by its path from the root again.
#[derive(Default)]
pub struct Made {
    mounts: Vec<Held>,
}

struct Held {
    /// Normalized: "/" and the components, ".." resolved.
    dest: PathBuf,
    /// For messages: "mounts[0] (proc on /proc)".
    what: String,
    mnt: MountFd,
    /// Whether `dest`, from the container's root, was seen to be `mnt`.
    checked: bool,
}

impl Made {
    fn push(&mut self, dest: &Path, what: String, mnt: MountFd) {
        self.mounts.push(Held {
            dest: normalize(dest),
            what,
            mnt,
            checked: false,
        });
    }

    /// The mount holding `p`: the one with the longest destination above
    /// it (the last made of equals: it is on top), and the rest of `p`.
    fn holding(&mut self, p: &Path) -> Option<(&mut Held, PathBuf)> {
        let p = normalize(p);
        let i = self
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, h)| p.starts_with(&h.dest))
            .max_by_key(|(i, h)| (h.dest.components().count(), *i))
            .map(|(i, _)| i)?;
        let held = &mut self.mounts[i];
        let rest = p
            .strip_prefix(&held.dest)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Some((held, rest))
    }
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
) -> Result<MountFd> {
    let opts = mount_options::parse(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    let bind = opts.is_bind() || typ == "bind";
    let recursive = Attrs {
        set: opts.recursive.set,
        clear: opts.recursive.clear,
    };
    if !bind && (typ == "cgroup" || typ == "cgroup2") {
        let mnt = super::cgroupfs::mount_cgroup(root, m.destination(), &opts, cgroups)?;
        mnt.set(recursive, true)?;
        mnt.propagate(opts.propagation)?;
        return Ok(mnt);
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

    if bind {
        let src = source.ok_or_else(|| Error::new("bind mount without a source"))?;
        let mnt = match idmapped {
            // Cloned from `src` and mapped by the runtime before the clone.
            Some(tree) => MountFd::from_fd(
                tree.try_clone()
                    .with_context(|| format!("bind {} (idmapped): dup", src.display()))?,
            ),
            None => MountFd::bind(&src, opts.flags.contains(MsFlags::MS_REC))
                .with_context(|| format!("bind source {}", src.display()))?,
        };
        // What is bound decides what to create: the tree itself, not a
        // second look at the source path.
        let is_dir = nix::sys::stat::fstat(&mnt)
            .with_context(|| format!("bind source {}: fstat", src.display()))?
            .st_mode
            & libc::S_IFMT
            == libc::S_IFDIR;
        let create = if is_dir { Create::Dir } else { Create::File };
        let dest = open_in_root(root, m.destination(), create, false)?;
        // Every attribute while the mount is detached: nothing ever sees it
        // writable, and no later step looks for it by path. `ro` and the
        // like apply to the bind itself, the `r*` options to every mount an
        // rbind brought along (runc's meaning); flags the options do not
        // name stay as the source mount has them.
        mnt.set(Attrs::of(opts.flags, opts.clear), false)
            .with_context(|| format!("bind {}", src.display()))?;
        mnt.set(recursive, true)?;
        mnt.attach(dest.as_fd())
            .with_context(|| format!("bind {}", src.display()))?;
        crate::testpoint::pause_at_path("mount-attached", m.destination());
        mnt.propagate(opts.propagation)?;
        return Ok(mnt);
    }

    // proc and sysfs must land exactly where they say: no symlink on the way.
    let strict = matches!(typ, "proc" | "sysfs");
    let dest = open_in_root(root, m.destination(), Create::Dir, strict)?;
    if opts.flags.contains(MsFlags::MS_REMOUNT) {
        // A remount of the mount already at the destination: reached by the
        // fd opened on it (its root), which stands for it from now on.
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        mount(NONE, fd_path(&dest).as_str(), Some(typ), opts.flags, data)
            .with_context(|| format!("remount -t {typ} (data {:?})", opts.data))?;
        let mnt = MountFd::from_fd(dest);
        mnt.set(recursive, true)?;
        mnt.propagate(opts.propagation)?;
        return Ok(mnt);
    }
    let src = source
        .as_deref()
        .map(Path::as_os_str)
        .unwrap_or_else(|| typ.as_ref());
    // The copy-up writes into the new tmpfs: read-only only after it.
    let held_back = if opts.tmpcopyup {
        opts.flags & MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    let flags = opts.flags - held_back;
    let mnt = MountFd::new_fs(
        typ,
        Some(src),
        &opts.data,
        flags,
        Attrs::of(flags, MsFlags::empty()).set,
    )
    .with_context(|| format!("mount -t {typ} (data {:?})", opts.data))?;
    if opts.tmpcopyup {
        // The copy's pages are charged to the writer's cgroup: the
        // container's, not the runtime's.
        (cgroups.enter)()?;
        // `dest` names the directory the tmpfs will cover; the tmpfs is
        // still detached, so nothing sees it half copied.
        super::copyup::copy_tree(Path::new(&fd_path(&dest)), Path::new(&fd_path(&mnt)))?;
        mnt.set(Attrs::of(held_back, MsFlags::empty()), false)?;
    }
    // A new mount has nothing below it yet: the r* options are its own.
    mnt.set(recursive, false)?;
    mnt.attach(dest.as_fd())?;
    crate::testpoint::pause_at_path("mount-attached", m.destination());
    mnt.propagate(opts.propagation)?;
    Ok(mnt)
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
pub fn finish(spec: &Spec, mut made: Made) -> Result<()> {
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
        readonly_path(&root, &mut made, Path::new(p))
            .with_context(|| format!("linux.readonlyPaths {p}"))?;
    }
    let mut masks = Masks::default();
    for p in linux
        .and_then(|l| l.masked_paths().as_deref())
        .unwrap_or(&[])
    {
        mask_path(&root, &mut made, &mut masks, Path::new(p))
            .with_context(|| format!("linux.maskedPaths {p}"))?;
    }
    let readonly = spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if readonly {
        // Setting a flag never trips the ones locked in a user namespace.
        super::sys::mount_setattr(root.as_fd(), false, libc::MOUNT_ATTR_RDONLY, 0, 0)
            .context("root.readonly: making / read-only (mount_setattr)")?;
    }
    // Last: an unbindable "/" would refuse the bind mounts above.
    if let Some(p) = root_propagation(spec)? {
        mount(NONE, "/", NONE, p, NONE).context("linux.rootfsPropagation")?;
    }
    Ok(())
}

/// An O_PATH fd on `p` (container view), None when it does not exist.
///
/// Under a mount hutch made (/proc, /sys...) it is found beneath that
/// mount's fd (`Made::open_held`). Elsewhere (the rootfs itself, which is
/// our root and cannot be swapped) it is resolved from the root, inside it.
fn locate(root: &OwnedFd, made: &mut Made, p: &Path) -> Result<Option<OwnedFd>> {
    if made.holding(p).is_some() {
        return made.open_held(root, p, OFlag::O_PATH);
    }
    match open_in_root(root, p, Create::Nothing, false) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Made {
    /// `p` (container view, after the switch of root) opened with `flags`
    /// beneath the mount hutch made that holds it, so that what is masked
    /// or written is what hutch mounted, wherever a rootfs shared with a
    /// running container has moved it. That mount must still be what the
    /// container sees at its destination, or this fails: masks on a procfs
    /// the container cannot see would leave the one it can see (another, or
    /// none) unmasked, and every path in it silently missing.
    ///
    /// None when `p` is missing beneath the mount, which callers may skip,
    /// as runc does for masks (the kernel lacks /proc/acpi, /proc/scsi...
    /// on many machines): the mount was checked to be the container's, so
    /// nothing is missing elsewhere. An error when no mount hutch made
    /// holds `p`.
    pub fn open_held(&mut self, root: &OwnedFd, p: &Path, flags: OFlag) -> Result<Option<OwnedFd>> {
        let Some((held, rest)) = self.holding(p) else {
            bail!("no mount hutch made holds {}", p.display());
        };
        if !held.checked {
            check_in_place(root, held)?;
            held.checked = true;
        }
        let rel = if rest.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rest.as_path()
        };
        match open_beneath(held.mnt.as_fd(), rel, flags) {
            Ok(fd) => Ok(Some(fd)),
            Err(nix::errno::Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::from(e).context(format!("opening it beneath {}", held.what))),
        }
    }
}

/// Fails unless `held.dest`, seen from the container's root, is the root
/// of the mount hutch made there.
fn check_in_place(root: &OwnedFd, held: &Held) -> Result<()> {
    let ours = super::sys::mount_id_and_inode(held.mnt.as_fd())
        .with_context(|| format!("statx of {}", held.what))?;
    let seen = open_in_root(root, &held.dest, Create::Nothing, false)
        .ok()
        .and_then(|fd| super::sys::mount_id_and_inode(fd.as_fd()).ok());
    if seen != Some(ours) {
        bail!(
            "{} is no longer the mount hutch made there ({}): the rootfs changed while the container was created (is it shared with a running container?)",
            held.dest.display(),
            held.what
        );
    }
    Ok(())
}

/// A read-only bind of `p` onto itself, with everything below it read-only
/// too, made and attached by fd.
fn readonly_path(root: &OwnedFd, made: &mut Made, p: &Path) -> Result<()> {
    let Some(fd) = locate(root, made, p)? else {
        return Ok(());
    };
    let mnt = MountFd::bind_fd(fd.as_fd(), true)?;
    mnt.set(
        Attrs {
            set: libc::MOUNT_ATTR_RDONLY,
            clear: 0,
        },
        true,
    )?;
    mnt.attach(fd.as_fd())?;
    made.push(p, format!("the read-only bind of {}", p.display()), mnt);
    Ok(())
}

/// What masks are made of, made on first use: one empty read-only tmpfs,
/// cloned for every directory, and the container's /dev/null (checked to
/// be the null device) for everything else.
#[derive(Default)]
struct Masks {
    /// The first tmpfs mask, by its index in `Made`.
    tmpfs: Option<usize>,
    null: Option<OwnedFd>,
}

fn mask_path(root: &OwnedFd, made: &mut Made, masks: &mut Masks, p: &Path) -> Result<()> {
    let Some(fd) = locate(root, made, p)? else {
        return Ok(());
    };
    let st = nix::sys::stat::fstat(&fd).context("fstat")?;
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    let mnt = if is_dir {
        match masks.tmpfs {
            // Attached, so it can be cloned (open_tree refuses a detached
            // mount on 6.1).
            Some(i) => MountFd::bind_fd(made.mounts[i].mnt.as_fd(), false)?,
            None => MountFd::new_fs(
                "tmpfs",
                Some("tmpfs".as_ref()),
                "",
                MsFlags::MS_RDONLY,
                libc::MOUNT_ATTR_RDONLY
                    | libc::MOUNT_ATTR_NOSUID
                    | libc::MOUNT_ATTR_NODEV
                    | libc::MOUNT_ATTR_NOEXEC,
            )
            .context("an empty read-only tmpfs to mask it with")?,
        }
    } else {
        if masks.null.is_none() {
            masks.null = Some(dev_null(root, made)?);
        }
        let null = masks
            .null
            .as_ref()
            .ok_or_else(|| Error::new("no /dev/null"))?;
        MountFd::bind_fd(null.as_fd(), false).context("binding /dev/null")?
    };
    mnt.attach(fd.as_fd())?;
    if is_dir && masks.tmpfs.is_none() {
        masks.tmpfs = Some(made.mounts.len());
    }
    made.push(p, format!("the mask on {}", p.display()), mnt);
    Ok(())
}

/// The container's /dev/null, found as any path under a mount hutch made,
/// and refused unless it is the null device (char 1:3).
fn dev_null(root: &OwnedFd, made: &mut Made) -> Result<OwnedFd> {
    let null = Path::new("/dev/null");
    let fd = locate(root, made, null)
        .context("/dev/null, to mask files with")?
        .ok_or_else(|| Error::new("/dev/null, to mask files with: missing"))?;
    let st = nix::sys::stat::fstat(&fd).context("/dev/null: fstat")?;
    let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || (major, minor) != (1, 3) {
        bail!("/dev/null in the container is not the null device (char 1:3): cannot mask with it");
    }
    Ok(fd)
}
