//! Resolving paths *inside* a root filesystem, never outside it.
//!
//! A rootfs is untrusted: its `/proc` or a bind target may be a symlink to `/`
//! or `../..`, or be swapped while we work (runc CVE-2021-30465, CVE-2019-19921).
//! Every destination is opened with openat2(RESOLVE_IN_ROOT) relative to an fd on
//! the rootfs, missing components are created one at a time under an fd we
//! already resolved, and mounts are then attached onto the fd (move_mount,
//! src/linux/mount_fd.rs), never onto a path.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{mkdirat, Mode};

use crate::error::{Error, Result};

/// What to create when the destination does not exist.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Create {
    Nothing,
    Dir,
    /// A regular file (bind mounts of files need a file to mount over).
    File,
}

/// Component list of an absolute container path, with "." dropped and ".."
/// clamped at the root, as RESOLVE_IN_ROOT would.
fn components(path: &Path) -> Vec<&OsStr> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `path` as an absolute container path: "/" and its components, "."
/// dropped and ".." clamped at the root.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    out.extend(components(path));
    out
}

/// openat2, again while it says EAGAIN: with RESOLVE_IN_ROOT the kernel
/// refuses a walk through ".." during which any rename or mount happened
/// anywhere on the host, and asks the caller to retry. A busy host (other
/// containers starting) does that often enough to fail a rootfs whose
/// symlinks use ".." (`/var/run -> ../run`). Bounded: a retry is cheap, and
/// a host renaming without pause still lets one through in a few tries.
fn openat2_in<Fd: AsFd>(dir: Fd, path: &Path, how: OpenHow) -> Result<OwnedFd, Errno> {
    const ATTEMPTS: usize = 1000;
    let mut left = ATTEMPTS;
    loop {
        match openat2(dir.as_fd(), path, how) {
            Err(Errno::EAGAIN) if left > 1 => left -= 1,
            r => return r,
        }
    }
}

fn open_in(root: &OwnedFd, rel: &Path, extra: ResolveFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS | extra);
    let rel: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    openat2_in(root, rel, how)
}

/// Open `rel` beneath `dir` (a mount's root) with `flags` (never O_CREAT:
/// nothing is made there): nothing on the
/// way may lead out of it (no "..", absolute symlink or /proc magic link
/// past `dir`). Mounts below it are crossed: an rbind brings its own.
pub fn open_beneath(dir: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2_in(dir, rel, how)
}

/// Open `path` (absolute, container view) under `root` as an O_PATH fd,
/// creating it when missing. `no_symlinks` refuses any symlink on the way
/// (for /proc and /sys, whose location must be exactly what it says).
pub fn open_in_root(
    root: &OwnedFd,
    path: &Path,
    create: Create,
    no_symlinks: bool,
) -> Result<OwnedFd> {
    walk(root, path, create, no_symlinks, MAX_DANGLING_LINKS)
}

/// How many dangling symlinks one path may go through (as the kernel's 40).
const MAX_DANGLING_LINKS: u32 = 40;

fn walk(
    root: &OwnedFd,
    path: &Path,
    create: Create,
    no_symlinks: bool,
    links_left: u32,
) -> Result<OwnedFd> {
    let extra = if no_symlinks {
        ResolveFlag::RESOLVE_NO_SYMLINKS
    } else {
        ResolveFlag::empty()
    };
    let comps = components(path);
    let full: PathBuf = comps.iter().collect();
    match open_in(root, &full, extra) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create != Create::Nothing => {}
        Err(e) => {
            return Err(
                Error::from(e).context(format!("resolving {} in the rootfs", path.display()))
            )
        }
    }
    // Walk down, creating what is missing under a directory fd we resolved.
    let mut dir = open_in(root, Path::new(""), extra)
        .map_err(|e| Error::from(e).context("opening the rootfs"))?;
    let mut sofar = PathBuf::new();
    for (i, name) in comps.iter().enumerate() {
        sofar.push(name);
        let last = i + 1 == comps.len();
        let next = match open_in(root, &sofar, extra) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => {
                let made = if last && create == Create::File {
                    make_file(&dir, name)
                } else {
                    mkdirat(dir.as_fd(), *name, Mode::from_bits_truncate(0o755))
                };
                match made {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => {
                        return Err(Error::from(e).context(format!(
                            "creating {} in the rootfs",
                            Path::new("/").join(&sofar).display()
                        )))
                    }
                }
                match open_in(root, &sofar, extra) {
                    Ok(fd) => fd,
                    // A symlink to something missing (an image's
                    // `/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf`):
                    // what is missing is made at its target, in the rootfs, as runc does.
                    Err(Errno::ENOENT) if !no_symlinks && links_left > 0 => {
                        let target =
                            through_link(root, &dir, name, &comps[i + 1..]).map_err(|e| {
                                e.context(format!("resolving {} in the rootfs", path.display()))
                            })?;
                        return walk(root, &target, create, no_symlinks, links_left - 1);
                    }
                    Err(e) => {
                        return Err(Error::from(e)
                            .context(format!("resolving {} in the rootfs", path.display())))
                    }
                }
            }
            Err(e) => {
                return Err(
                    Error::from(e).context(format!("resolving {} in the rootfs", path.display()))
                )
            }
        };
        dir = next;
    }
    Ok(dir)
}

/// The container path that the symlink `name` in `dir` names, followed by
/// `rest`. A relative target is taken from `dir`'s real place in the rootfs.
fn through_link(root: &OwnedFd, dir: &OwnedFd, name: &OsStr, rest: &[&OsStr]) -> Result<PathBuf> {
    let target = PathBuf::from(nix::fcntl::readlinkat(dir.as_fd(), name)?);
    let mut out = PathBuf::from("/");
    if target.is_relative() {
        let read = |fd| std::fs::read_link(fd_path(fd)).map_err(Error::from);
        let (top, here) = (read(root)?, read(dir)?);
        let inside = here.strip_prefix(&top).map_err(|_| {
            Error::new(format!("{} is not under {}", here.display(), top.display()))
        })?;
        out.push(inside);
    }
    out.push(target);
    out.extend(rest);
    Ok(out)
}

fn make_file(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        name,
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::from_bits_truncate(0o644),
    )?;
    drop(fd);
    Ok(())
}

/// chdir to `path` (absolute, container view) in our current root, following
/// symlinks only inside it and never through a magic link: a `process.cwd` of
/// `/proc/self/fd/N` or `/proc/self/cwd/..` cannot land on a host directory
/// through an fd the runtime still holds (runc CVE-2024-21626).
pub fn chdir_in_root(path: &Path) -> Result<()> {
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::from(e).context("opening /"))?;
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let dir = openat2_in(&root, rel, how).map_err(|e| {
        let err = Error::from(e);
        if e == Errno::ELOOP {
            err.context("refused: a /proc magic link (or a symlink loop) on the way")
        } else {
            err
        }
    })?;
    nix::unistd::fchdir(&dir).map_err(Error::from)
}

/// Open `path` (O_PATH) as the process sees it, refusing magic links on the
/// way: absolute paths resolve inside our root, relative ones from the cwd.
pub fn open_no_magiclinks(path: &Path) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(nix::fcntl::AT_FDCWD, path, how)
}

/// `open_no_magiclinks`, relative to `dir`.
pub fn open_no_magiclinks_at(dir: &OwnedFd, path: &Path) -> nix::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(dir.as_fd(), path, how)
}

/// The path through which syscalls that take paths reach what `fd` refers to.
pub fn fd_path(fd: impl AsFd) -> String {
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    fn open_dir(p: &Path) -> OwnedFd {
        nix::fcntl::open(
            p,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .expect("open root")
    }

    #[test]
    fn symlink_to_host_root_stays_inside() {
        let tmp = std::env::temp_dir().join(format!("hutch-resolve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(tmp.join("root")).expect("mkdir");
        symlink("/", tmp.join("root/evil")).expect("symlink");
        symlink("../../../../..", tmp.join("root/up")).expect("symlink");
        let root = open_dir(&tmp.join("root"));
        // Creating below the symlinks lands inside the root, never in the host's /.
        let fd = open_in_root(
            &root,
            Path::new("/evil/hutch-made-this"),
            Create::Dir,
            false,
        )
        .expect("open");
        drop(fd);
        assert!(tmp.join("root/hutch-made-this").is_dir());
        assert!(!Path::new("/hutch-made-this").exists());
        let fd = open_in_root(&root, Path::new("/up/x/y"), Create::File, false).expect("open");
        drop(fd);
        assert!(tmp.join("root/x/y").is_file());
        // /proc-like destinations refuse symlinks outright.
        assert!(open_in_root(&root, Path::new("/evil"), Create::Dir, true).is_err());
        fs::remove_dir_all(&tmp).expect("cleanup");
    }
}
