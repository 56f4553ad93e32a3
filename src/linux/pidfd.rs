//! Signalling a container's init without ever hitting a recycled PID.
//!
//! A host PID alone is not an identity: once the init exits and is reaped, the
//! kernel may hand the same number to an unrelated process. We record the PID,
//! its start time and (on kernels with pidfs) the pidfd inode, which is unique
//! for the life of the system. To signal, we open a pidfd first, then check the
//! identity, then signal through that pidfd: the check and the signal are bound
//! to the same process.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::stat::fstat;
use nix::sys::statfs::fstatfs;
use serde::{Deserialize, Serialize};

use super::{procfs, sys};

const PIDFS_MAGIC: i64 = 0x5049_4446;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
    /// pidfs inode of the process (Linux 6.9+), unique per process; None on older kernels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pidfd_inode: Option<u64>,
}

/// The pidfs inode of a pidfd, when pidfds live on pidfs (Linux 6.9+).
fn pidfs_inode(pidfd: &OwnedFd) -> Option<u64> {
    let fs = fstatfs(pidfd.as_fd()).ok()?;
    if fs.filesystem_type().0 as i64 != PIDFS_MAGIC {
        return None;
    }
    fstat(pidfd.as_fd()).ok().map(|st| st.st_ino)
}

impl ProcessIdentity {
    /// Identity of a child we just cloned, from its pidfd.
    /// With it, what /proc said of the child.
    pub fn of_child(pid: i32, pidfd: &OwnedFd) -> Option<(Self, procfs::ProcStat)> {
        let stat = procfs::stat(pid)?;
        let id = ProcessIdentity {
            pid,
            start_time: stat.start_time,
            pidfd_inode: pidfs_inode(pidfd),
        };
        Some((id, stat))
    }

    /// A pidfd on this very process if it is still alive (not exited), else None.
    ///
    /// Order matters: pidfd first, identity check second. If the PID was recycled
    /// before pidfd_open, the check sees the newcomer's start time (or inode) and
    /// refuses; if our process dies after the check, signals through the pidfd
    /// fail with ESRCH instead of reaching anyone else.
    pub fn open_alive(&self) -> Option<OwnedFd> {
        let pidfd = sys::pidfd_open(self.pid).ok()?;
        if let (Some(want), Some(have)) = (self.pidfd_inode, pidfs_inode(&pidfd)) {
            if want != have {
                return None;
            }
        }
        let stat = procfs::stat(self.pid)?;
        if stat.start_time != self.start_time || stat.is_dead() {
            return None;
        }
        Some(pidfd)
    }

    pub fn is_alive(&self) -> bool {
        self.open_alive().is_some()
    }
}

/// Send `sig` through a pidfd; ESRCH means the process has exited meanwhile.
pub fn signal(pidfd: &OwnedFd, sig: i32) -> Result<(), Errno> {
    sys::pidfd_send_signal(pidfd.as_fd(), sig)
}

/// Wait until the process behind `pidfd` has exited (pidfds poll readable then),
/// at most `timeout_ms`. Returns whether it did.
pub fn wait_exit(pidfd: &OwnedFd, timeout_ms: u16) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::from(timeout_ms)) {
            Ok(n) => return n > 0,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}
