//! The `tmpcopyup` mount option (runc's, used by podman for `--read-only`
//! and for image volumes): a tmpfs mounted over a directory of the image
//! starts with a copy of what that directory held.

use std::fs;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
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
    let kind = meta.file_type();
    if kind.is_symlink() {
        symlink(fs::read_link(src)?, dst)?;
    } else if kind.is_dir() {
        fs::create_dir(dst)?;
        copy_tree(src, dst)?;
    } else if kind.is_file() {
        fs::copy(src, dst)?;
    } else {
        // fifos, sockets, device nodes: the node itself, as `cp -a` would.
        let mode = meta.mode();
        let Some(typ) = SFlag::from_bits(mode & libc::S_IFMT) else {
            bail!("unknown file type {mode:o}");
        };
        mknod(dst, typ, Mode::from_bits_truncate(mode), meta.rdev())?;
    }
    lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    if !kind.is_symlink() {
        // After chown, which clears setuid/setgid bits.
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}
