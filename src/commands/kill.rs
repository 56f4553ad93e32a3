//! `hutch kill`: signal the container's init, and only it (see linux::pidfd).

use std::os::fd::OwnedFd;

use nix::errno::Errno;

use super::Global;
use crate::bail;
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
        signal_others(&state, sig);
    }
    match pidfd::signal(&init, sig) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => bail!("container {id} is not running"),
        Err(e) => Err(Error::from(e).context(format!("signalling the init of container {id}"))),
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
