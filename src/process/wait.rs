//! Waiting for a child we started (`run`, `exec`) while forwarding the
//! signals we receive to it, as runc does.
//!
//! The signals are blocked before the child is cloned and read from a
//! signalfd, and the exit is seen through the child's pidfd: neither a signal
//! nor the exit can slip between two checks.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::tty_proxy::Proxy;
use crate::error::{Context, Error, Result};
use crate::linux::pidfd;

const FORWARDED: [Signal; 8] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGWINCH,
];

/// Block the forwarded signals (before cloning: the child unblocks them
/// before its execve) and open a signalfd that receives them.
pub fn block_forwarded() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .context("sigprocmask")?;
    SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).context("signalfd")
}

/// Wait for our child `pid` to exit, forwarding signals; its exit code as a
/// shell reports it (128+N when killed by signal N).
/// With a terminal of ours (`tty`), SIGWINCH resizes it instead: the kernel
/// then signals the container's foreground process itself.
pub fn wait_forwarding(
    pid: i32,
    child: &OwnedFd,
    signals: &SignalFd,
    mut tty: Option<&mut Proxy>,
) -> Result<i32> {
    loop {
        let mut fds = vec![
            PollFd::new(child.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(t) = &tty {
            fds.extend(t.poll_fds());
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::from(e).context("poll")),
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let signalled = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        let tty_ready: Vec<bool> = fds[2..]
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if let (Some(t), true) = (tty.as_deref_mut(), tty_ready.contains(&true)) {
            t.pump(&tty_ready);
        }
        if signalled {
            while let Ok(Some(info)) = signals.read_signal() {
                match tty.as_deref() {
                    Some(t) if info.ssi_signo == Signal::SIGWINCH as u32 => t.resize(),
                    _ => {
                        let _ = pidfd::signal(child, info.ssi_signo as i32);
                    }
                }
            }
        }
        if exited {
            return reap(pid);
        }
    }
}

fn reap(pid: i32) -> Result<i32> {
    loop {
        match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::from(e).context(format!("waitpid {pid}"))),
        }
    }
}
