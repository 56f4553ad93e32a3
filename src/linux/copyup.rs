//! The `tmpcopyup` mount option (runc's, used by podman for `--read-only`
//! and for image volumes): a tmpfs mounted over a directory of the image
//! starts with a copy of what that directory held.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{lchown, symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{mknod, Mode, SFlag};

use crate::bail;
use crate::error::{Context, Result};

/// Copies the tree under `from` into `to` (an existing, empty directory),
/// keeping modes, owners and symlinks. `from` is the directory underneath
/// the new tmpfs, reached through an fd opened before the mount.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let entries =
        fs::read_dir(from).with_context(|| format!("tmpcopyup: reading {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("tmpcopyup: reading {}", from.display()))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        copy_one(&src, &dst).with_context(|| format!("tmpcopyup: copying {}", src.display()))?;
    }
    Ok(())
}

fn copy_one(src: &Path, dst: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(src)?;
    crate::testpoint::pause_at("copyup-stat");
    let kind = meta.file_type();
    if kind.is_symlink() {
        symlink(fs::read_link(src)?, dst)?;
        lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
        return Ok(());
    }
    if !kind.is_dir() && !kind.is_file() {
        // fifos, sockets, device nodes: the node itself, as `cp -a` would.
        let mode = meta.mode();
        let Some(typ) = SFlag::from_bits(mode & libc::S_IFMT) else {
            bail!("unknown file type {mode:o}");
        };
        mknod(dst, typ, Mode::from_bits_truncate(mode), meta.rdev())?;
        return set_owner_and_mode(dst, &meta);
    }
    // Read through an fd opened without following a symlink: the directory
    // may be shared with a running container, which can swap the entry for
    // a symlink since the lstat above, and we still see the host's tree.
    // O_NONBLOCK: a fifo swapped in must not hang us.
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(src)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        fs::create_dir(dst)?;
        copy_tree(
            Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())),
            dst,
        )?;
    } else if meta.is_file() {
        std::io::copy(&mut file, &mut fs::File::create_new(dst)?)?;
    } else {
        bail!("changed while being copied");
    }
    set_owner_and_mode(dst, &meta)
}

fn set_owner_and_mode(dst: &Path, meta: &fs::Metadata) -> Result<()> {
    lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    // After chown, which clears setuid/setgid bits.
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    Ok(())
}
