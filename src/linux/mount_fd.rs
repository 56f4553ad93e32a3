//! A mount held by fd (the new mount API). Each mount is made detached
//! (fsopen/fsmount for a filesystem, open_tree OPEN_TREE_CLONE for a bind),
//! given its attributes while nothing can see it, attached onto a
//! destination that was opened once (move_mount), and every later step
//! (propagation, masks under it) acts on the fd. No step resolves a
//! destination path a second time, so a rootfs shared with another
//! container cannot swap what a later step lands on (CVE-2021-30465 and
//! CVE-2025-52881 classes).

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::sys;
use crate::error::{Context, Error, Result};

/// mount_setattr(2) attributes (MOUNT_ATTR_*) to set and to clear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    pub set: u64,
    pub clear: u64,
}

impl Attrs {
    /// The per-mount part of the options' mount(2) flags: `set` as given,
    /// and `clear` the flags an option turned off (`rw`, `suid`, `dev`,
    /// `exec`, `atime`...). Superblock flags (sync, dirsync...) have no
    /// per-mount form and are left out, as a bind's remount ignores them.
    pub fn of(set: MsFlags, clear: MsFlags) -> Attrs {
        use libc::{
            MOUNT_ATTR_NODEV, MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID,
            MOUNT_ATTR_NOSYMFOLLOW, MOUNT_ATTR_RDONLY,
        };
        let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
        let mut a = Attrs::default();
        for (ms, attr) in [
            (MsFlags::MS_RDONLY, MOUNT_ATTR_RDONLY),
            (MsFlags::MS_NOSUID, MOUNT_ATTR_NOSUID),
            (MsFlags::MS_NODEV, MOUNT_ATTR_NODEV),
            (MsFlags::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
            (MsFlags::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
            (nosymfollow, MOUNT_ATTR_NOSYMFOLLOW),
        ] {
            if set.contains(ms) {
                a.set |= attr;
            } else if clear.contains(ms) {
                a.clear |= attr;
            }
        }
        // One three-valued field: naming a mode means clearing the field.
        // Precedence as mount(2)'s: strictatime, then noatime, then relatime;
        // turning one off ("atime", "nostrictatime") leaves the default,
        // relatime, and "norelatime" the mode that is not relative.
        let atime = MsFlags::MS_STRICTATIME | MsFlags::MS_NOATIME | MsFlags::MS_RELATIME;
        let mode = if set.contains(MsFlags::MS_STRICTATIME) {
            Some(libc::MOUNT_ATTR_STRICTATIME)
        } else if set.contains(MsFlags::MS_NOATIME) {
            Some(libc::MOUNT_ATTR_NOATIME)
        } else if set.contains(MsFlags::MS_RELATIME) {
            Some(libc::MOUNT_ATTR_RELATIME)
        } else if clear.contains(MsFlags::MS_RELATIME) {
            Some(libc::MOUNT_ATTR_STRICTATIME)
        } else if clear.intersects(atime) {
            Some(libc::MOUNT_ATTR_RELATIME)
        } else {
            None
        };
        if let Some(m) = mode {
            a.set |= m;
            a.clear |= libc::MOUNT_ATTR__ATIME;
        }
        a
    }

    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }
}

/// A mount, held by an fd on its root. Detached until `attach`; closing the
/// fd of a detached mount unmounts it, of an attached one changes nothing.
pub struct MountFd(OwnedFd);

impl MountFd {
    /// A detached bind of `src` (a path as this process sees it), with the
    /// mounts below it when `recursive` (rbind).
    pub fn bind(src: &Path, recursive: bool) -> Result<MountFd> {
        let c = CString::new(src.as_os_str().as_bytes())
            .map_err(|_| Error::new(format!("{}: NUL in path", src.display())))?;
        sys::open_tree_clone(&c, recursive)
            .map(MountFd)
            .context("open_tree(OPEN_TREE_CLONE)")
    }

    /// A detached bind of what `fd` refers to.
    pub fn bind_fd(fd: BorrowedFd<'_>, recursive: bool) -> Result<MountFd> {
        sys::open_tree_clone_fd(fd, recursive)
            .map(MountFd)
            .context("open_tree(OPEN_TREE_CLONE)")
    }

    /// A mount already made (an idmapped tree, the root of a mount we
    /// reconfigured), held from now on.
    pub fn from_fd(fd: OwnedFd) -> MountFd {
        MountFd(fd)
    }

    /// A new, detached `fstype` filesystem: `source`, each option of `data`
    /// (comma-separated; `key=value` or a bare flag), the superblock flags
    /// of `sb` (ro, sync...) as mount(2) would pass them, and the per-mount
    /// attributes `attrs` (set only: a new mount has nothing to clear).
    /// Errors carry what the filesystem said in its fs_context log.
    pub fn new_fs(
        fstype: &str,
        source: Option<&OsStr>,
        data: &str,
        sb: MsFlags,
        attrs: u64,
    ) -> Result<MountFd> {
        let cstr = |s: &[u8]| {
            CString::new(s)
                .map_err(|_| Error::new(format!("NUL in {:?}", String::from_utf8_lossy(s))))
        };
        let ctx =
            sys::fsopen(&cstr(fstype.as_bytes())?).with_context(|| format!("fsopen {fstype:?}"))?;
        let ctx = ctx.as_fd();
        let failed = |e: Errno, what: String| Error::from(e).context(with_log(ctx, what));
        if let Some(s) = source {
            sys::fsconfig_set_string(ctx, c"source", &cstr(s.as_bytes())?)
                .map_err(|e| failed(e, format!("fsconfig source={}", s.to_string_lossy())))?;
        }
        for opt in split_options(data) {
            match opt.split_once('=') {
                Some((k, v)) => {
                    sys::fsconfig_set_string(ctx, &cstr(k.as_bytes())?, &cstr(unquote(v))?)
                }
                None => sys::fsconfig_set_flag(ctx, &cstr(opt.as_bytes())?),
            }
            .map_err(|e| failed(e, format!("fsconfig {opt}")))?;
        }
        for (ms, key) in SB_FLAGS {
            if sb.contains(*ms) {
                sys::fsconfig_set_flag(ctx, key)
                    .map_err(|e| failed(e, format!("fsconfig {}", key.to_string_lossy())))?;
            }
        }
        // fsmount takes every per-mount attribute but nosymfollow on 6.1.
        let nosymfollow = attrs & libc::MOUNT_ATTR_NOSYMFOLLOW;
        let mnt = sys::fsmount_new(ctx, attrs & !nosymfollow)
            .map(MountFd)
            .map_err(|e| {
                failed(
                    e,
                    "creating the filesystem (fsconfig CMD_CREATE, fsmount)".into(),
                )
            })?;
        if nosymfollow != 0 {
            mnt.set(
                Attrs {
                    set: nosymfollow,
                    clear: 0,
                },
                false,
            )?;
        }
        Ok(mnt)
    }

    /// Set and clear attributes on this mount (and the mounts below it when
    /// `recursive`); nothing when there is nothing to change. Only a clear
    /// can fail in a user namespace: of a flag the source mount had when the
    /// namespace was made (locked), or of its atime mode. As runc 1.2 does,
    /// that fails create rather than leave the flag set silently.
    pub fn set(&self, a: Attrs, recursive: bool) -> Result<()> {
        if a.is_empty() {
            return Ok(());
        }
        sys::mount_setattr(self.0.as_fd(), recursive, a.set, a.clear, 0).map_err(|e| {
            let what = if recursive {
                "mount_setattr AT_RECURSIVE"
            } else {
                "mount_setattr"
            };
            let err =
                Error::from(e).context(format!("{what} (set {:#x}, clear {:#x})", a.set, a.clear));
            if e == Errno::EPERM && a.clear != 0 {
                err.context(
                    "the options clear or change a flag locked on the source mount (in a user namespace its ro, nosuid, nodev, noexec and atime mode stay)",
                )
            } else {
                err
            }
        })
    }

    /// Propagation (MS_SHARED/SLAVE/PRIVATE/UNBINDABLE, MS_REC for the
    /// mounts below); given once the mount is attached, as mount(2) would.
    pub fn propagate(&self, p: MsFlags) -> Result<()> {
        if p.is_empty() {
            return Ok(());
        }
        let kind = p - MsFlags::MS_REC;
        sys::mount_setattr(
            self.0.as_fd(),
            p.contains(MsFlags::MS_REC),
            0,
            0,
            kind.bits(),
        )
        .context("setting propagation (mount_setattr)")
    }

    /// Attach onto `onto` (an fd opened on the destination).
    pub fn attach(&self, onto: BorrowedFd<'_>) -> Result<()> {
        sys::move_mount_onto(self.0.as_fd(), onto).context("move_mount onto the destination")
    }
}

impl AsFd for MountFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Superblock flags and their fsconfig(2) names (vfs_parse_sb_flag). The
/// rest of mount(2)'s have no generic name and are not passed: silent only
/// quiets the kernel log (fsopen keeps the log for our errors), and acl
/// and iversion are decided by the filesystem when it fills its superblock
/// (tmpfs and ext4 on 6.1 set both themselves, whatever mount(2) said).
const SB_FLAGS: &[(MsFlags, &std::ffi::CStr)] = &[
    (MsFlags::MS_RDONLY, c"ro"),
    (MsFlags::MS_SYNCHRONOUS, c"sync"),
    (MsFlags::MS_DIRSYNC, c"dirsync"),
    (MsFlags::MS_LAZYTIME, c"lazytime"),
    (MsFlags::MS_MANDLOCK, c"mand"),
];

/// `what`, followed by the messages the filesystem left in its fs_context
/// log (read from the fsopen fd, one per read, until none is left).
fn with_log(ctx: BorrowedFd<'_>, what: String) -> String {
    let mut msgs = Vec::new();
    let mut buf = [0u8; 512];
    while msgs.len() < 8 {
        match nix::unistd::read(ctx, &mut buf) {
            Ok(n) if n > 0 => {
                let m = String::from_utf8_lossy(&buf[..n]);
                let m = m.trim_end();
                // "e ", "w ", "i ": error, warning, info.
                msgs.push(m.get(2..).unwrap_or(m).to_string());
            }
            _ => break,
        }
    }
    if msgs.is_empty() {
        what
    } else {
        format!("{what} (kernel: {})", msgs.join("; "))
    }
}

/// The options of a mount(2) data string: split at commas outside double
/// quotes (an SELinux `context="...:c1,c2"` is one option).
fn split_options(data: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in data.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&data[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&data[start..]);
    out.retain(|o| !o.is_empty());
    out
}

/// A value without the double quotes that protected its commas in a data
/// string (fsconfig takes the value itself).
fn unquote(v: &str) -> &[u8] {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_outside_quotes() {
        assert_eq!(
            split_options("mode=755,size=64k"),
            vec!["mode=755", "size=64k"]
        );
        assert_eq!(
            split_options(r#"context="system_u:object_r:t:s0:c1,c2",newinstance"#),
            vec![r#"context="system_u:object_r:t:s0:c1,c2""#, "newinstance"]
        );
        assert!(split_options("").is_empty());
        assert_eq!(unquote(r#""a,b""#), b"a,b");
        assert_eq!(unquote("plain"), b"plain");
    }

    #[test]
    fn attrs_from_options() {
        let o = super::super::mount_options::parse(&["rbind", "ro", "nosuid", "exec"]);
        let a = Attrs::of(o.flags, o.clear);
        assert_eq!(a.set, libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID);
        assert_eq!(a.clear, libc::MOUNT_ATTR_NOEXEC);
        // Only what the options name changes: the rest is the source's.
        assert!(Attrs::of(MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()).is_empty());
        let a = Attrs::of(MsFlags::MS_NOATIME, MsFlags::empty());
        assert_eq!(
            (a.set, a.clear),
            (libc::MOUNT_ATTR_NOATIME, libc::MOUNT_ATTR__ATIME)
        );
        let a = Attrs::of(
            MsFlags::MS_NOATIME | MsFlags::MS_STRICTATIME,
            MsFlags::empty(),
        );
        assert_eq!(a.set, libc::MOUNT_ATTR_STRICTATIME);
        let a = Attrs::of(MsFlags::empty(), MsFlags::MS_NOATIME);
        assert_eq!(
            (a.set, a.clear),
            (libc::MOUNT_ATTR_RELATIME, libc::MOUNT_ATTR__ATIME)
        );
        let a = Attrs::of(MsFlags::empty(), MsFlags::MS_RELATIME);
        assert_eq!(a.set, libc::MOUNT_ATTR_STRICTATIME);
    }
}
