//! `hutch kill`: signal the container's init, and only it (see linux::pidfd).

use std::os::fd::OwnedFd;

use nix::errno::Errno;

use super::Global;
use crate::bail;
use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::linux::{pidfd, procfs, signal, sys};
use crate::state::{ContainerDir, State};

pub fn run(g: &Global, id: &str, sig: Option<&str>, all: bool) -> Result<()> {
    let sig = signal::parse(sig.unwrap_or("TERM"))?;
    let dir = ContainerDir::open_existing(&g.root, id, true)?;
    let state = dir.load_existing()?;
    let Some(init) = state.init.open_alive() else {
        bail!("container {id} is not running");
    };
    if all {
        match &state.cgroup {
            // The init is one of the cgroup's processes: signalling it again
            // would fail once it has died of the first signal and been
            // reaped (the reaper can be quick), and deliver a handled signal
            // twice.
            Some(cg) => {
                return signal_cgroup(cg, sig).map_err(|e| e.context(format!("container {id}")))
            }
            None => signal_others(&state, sig),
        }
    }
    let sent = match pidfd::signal(&init, sig) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => bail!("container {id} is not running"),
        Err(e) => Err(Error::from(e).context(format!("signalling the init of container {id}"))),
    };
    // A frozen process dies of SIGKILL only once thawed (on v1, that is
    // also one in a sub-cgroup the container froze itself).
    if sig == libc::SIGKILL {
        if let Some(cg) = &state.cgroup {
            cg.thaw_for_kill()
                .map_err(|e| e.context(format!("container {id}: thawing it after SIGKILL")))?;
        }
    }
    sent
}

/// Signal every process in the container's cgroup and its sub-cgroups.
/// For SIGKILL the cgroup is frozen meanwhile, so nothing can fork out of
/// reach, and left thawed whatever fails (with, on v1, the sub-cgroups the
/// container froze itself, whose tasks would not die otherwise).
pub fn signal_cgroup(cg: &Cgroup, sig: i32) -> Result<()> {
    let frozen = (sig == libc::SIGKILL).then(|| cg.hold_frozen());
    let pids = cg.pids()?;
    let fds: Vec<(i32, OwnedFd)> = pids
        .iter()
        .filter_map(|&p| sys::pidfd_open(p).ok().map(|f| (p, f)))
        .collect();
    // Read again now that the pidfds are open: a PID still listed is the
    // process we hold, not one that got its number after the first read
    // (the list is sorted).
    let still = cg.pids()?;
    for (pid, fd) in &fds {
        if still.binary_search(pid).is_ok() {
            let _ = pidfd::signal(fd, sig);
        }
    }
    match frozen {
        Some(f) => f.thaw(),
        None => Ok(()),
    }
}

/// `--all`: every other process in the container's PID namespace, each
/// checked through its own pidfd before it is signalled.
pub fn signal_others(state: &State, sig: i32) {
    if !state.own_pid_ns {
        return;
    }
    let Some(ns) = procfs::ns_inode(state.init.pid, "pid") else {
        return;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == state.init.pid {
            continue;
        }
        let Ok(fd): Result<OwnedFd, _> = sys::pidfd_open(pid) else {
            continue;
        };
        // Checked after the pidfd is open: a recycled PID shows another namespace.
        if procfs::ns_inode(pid, "pid") == Some(ns) {
            let _ = pidfd::signal(&fd, sig);
        }
    }
}
