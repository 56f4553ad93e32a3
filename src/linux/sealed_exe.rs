//! Running from a copy of our own binary that nothing can write (runc's
//! answer to CVE-2019-5736), for the commands whose processes enter a live
//! container.
//!
//! A process that enters a container (`exec`) is still hutch's image until its
//! execve. Non-dumpable stops most of the container from opening its
//! /proc/PID/exe, but not a process holding CAP_SYS_PTRACE in the host's user
//! namespace: that one could keep the file open and rewrite hutch on the host
//! once we exit. So we re-execute first, from one of:
//! - a read-only view of the binary: an overlayfs made of its directory (and
//!   a spare directory under it, as overlayfs needs two layers to run without
//!   an upper one), mounted nowhere (fsopen/fsmount) and read-only, as runc
//!   1.2 does. Nothing writes through it, and it costs no copy;
//! - where that cannot be made (no overlayfs, the binary's directory not
//!   usable as a layer, the binary replaced since we started), a sealed memfd
//!   copy of the binary: ~3.5 ms for the 4 MiB static binary here.
//!
//! Only the commands that need it pay.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::Mode;

use crate::error::{Context, Error, Result};
use crate::linux::sys;

const NAME: &str = "hutch-sealed";

/// Whether the binary we run from cannot be written through /proc/self/exe:
/// our sealed memfd, or a read-only overlayfs (ours, or one hutch was
/// installed on).
fn sealed(exe: &File) -> bool {
    if let Ok(seals) = fcntl(exe.as_fd(), FcntlArg::F_GET_SEALS) {
        return SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_WRITE);
    }
    let overlay = nix::sys::statfs::fstatfs(exe)
        .is_ok_and(|f| f.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC);
    let read_only = nix::sys::statvfs::fstatvfs(exe)
        .is_ok_and(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY));
    overlay && read_only
}

/// Re-exec from a copy nothing can write unless we already run from one;
/// returns only when there is nothing to do. `spare`: an existing directory
/// away from the binary's, for the second overlayfs layer (the state root).
pub fn ensure(spare: &Path) -> Result<()> {
    let exe = File::open("/proc/self/exe").context("opening /proc/self/exe")?;
    if sealed(&exe) {
        return Ok(());
    }
    let target = match read_only_view(&exe, spare) {
        Ok(fd) => fd,
        Err(e) => {
            log::debug!("no read-only view of the binary ({e}): running from a sealed copy");
            sealed_copy(exe)?
        }
    };
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| Error::new("NUL byte in the command line"))?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .map_err(|_| Error::new("NUL byte in the environment"))?;
    nix::unistd::fexecve(target.as_fd(), &args, &env)
        .context("re-executing hutch from a copy nothing can write")?;
    Ok(())
}

/// The binary we run, seen through a read-only overlayfs of its directory
/// mounted nowhere; an O_PATH fd to exec. Refused unless the file found there
/// is still ours (same size and modification time: overlayfs gives it its
/// own device and inode numbers).
fn read_only_view(exe: &File, spare: &Path) -> Result<OwnedFd> {
    let path = std::fs::read_link("/proc/self/exe").context("readlink /proc/self/exe")?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::new(format!("{} has no directory", path.display())));
    };
    let ctx = sys::fsopen(c"overlay").context("fsopen overlay")?;
    // The binary's directory on top: a file of the same name in the spare
    // one cannot hide it.
    let mut lower = escape_layer(dir.as_os_str().as_bytes());
    lower.push(b':');
    lower.extend(escape_layer(spare.as_os_str().as_bytes()));
    let lower = CString::new(lower).map_err(|_| Error::new("NUL in a layer path"))?;
    sys::fsconfig_set_string(ctx.as_fd(), c"lowerdir", &lower)
        .with_context(|| format!("overlayfs lowerdir={}", lower.to_string_lossy()))?;
    // Only to keep overlayfs from logging about inode numbers across
    // filesystems; not every kernel knows it.
    let _ = sys::fsconfig_set_string(ctx.as_fd(), c"xino", c"off");
    let mnt = sys::fsmount_new(
        ctx.as_fd(),
        libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV,
    )
    .context("creating the overlayfs")?;
    let fd = nix::fcntl::openat(
        mnt.as_fd(),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {} in the overlayfs", name.to_string_lossy()))?;
    let ours = nix::sys::stat::fstat(exe).context("fstat /proc/self/exe")?;
    let seen = nix::sys::stat::fstat(&fd).context("fstat of the overlayfs view")?;
    let same = |m: &libc::stat| (m.st_size, m.st_mtime, m.st_mtime_nsec);
    let regular = seen.st_mode & libc::S_IFMT == libc::S_IFREG;
    if same(&ours) != same(&seen) || !regular {
        return Err(Error::new(format!(
            "{} changed since hutch started",
            path.display()
        )));
    }
    Ok(fd)
}

/// overlayfs splits its lowerdir option at ':', with a backslash as escape.
fn escape_layer(p: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(p.len());
    for &b in p {
        if b == b':' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

/// A sealed memfd copy of the binary.
fn sealed_copy(mut src: File) -> Result<OwnedFd> {
    let fd = memfd_create(NAME, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .context("memfd_create for a sealed copy of hutch")?;
    let mut dst = File::from(fd);
    std::io::copy(&mut src, &mut dst).context("copying hutch into the memfd")?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(dst.as_fd(), FcntlArg::F_ADD_SEALS(seals)).context("sealing the memfd copy")?;
    Ok(OwnedFd::from(dst))
}

#[cfg(test)]
mod tests {
    use super::escape_layer;

    /// A directory named with ':' or '\' stays one layer (checked by hand:
    /// exec from /tmp/a:b\c/hutch gets its overlayfs, no memfd copy).
    #[test]
    fn layer_paths_escape_colons_and_backslashes() {
        assert_eq!(escape_layer(b"/usr/sbin"), b"/usr/sbin");
        assert_eq!(escape_layer(b"/tmp/a:b\\c"), b"/tmp/a\\:b\\\\c");
    }
}
