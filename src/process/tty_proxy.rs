//! A terminal hutch keeps for itself: `run` and `exec` in the foreground with
//! `process.terminal` and no `--console-socket` (runc's behaviour). The
//! container's process makes the pty as usual and sends the master over one
//! end of a socketpair instead of a client's socket; we copy between our
//! stdio and the master, with our terminal in raw mode so keys (^C included)
//! reach the container's program, and pass window size changes on.
//!
//! The copying is driven by the same poll loop that waits for the process
//! (process::wait), never by threads: `exec` has joined the container's PID
//! namespace, where the kernel refuses to create threads.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::termios::{self, SetArg, Termios};

use crate::error::{Context, Error, Result};
use crate::linux::sys;

/// Two connected sockets: the first goes where a connected --console-socket
/// would, the second is ours to receive the master on.
pub fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair for the terminal")
}

pub struct Proxy {
    master: OwnedFd,
    stdin: std::io::Stdin,
    /// Our stdin, until it reaches end of file.
    stdin_open: bool,
    /// Typed but not yet taken by the container's terminal.
    pending: Vec<u8>,
    restore: Option<Termios>,
}

impl Proxy {
    /// Take the master the container sent on `ours`.
    pub fn start(ours: OwnedFd) -> Result<Proxy> {
        let master = sys::recv_fd(&ours)
            .map_err(|e| Error::from(e).context("receiving the terminal master"))?;
        set_nonblocking(&master)?;
        let stdin = std::io::stdin();
        let restore = match termios::tcgetattr(stdin.as_fd()) {
            Ok(old) => {
                let mut raw = old.clone();
                termios::cfmakeraw(&mut raw);
                termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
                    .context("setting our terminal to raw mode")?;
                Some(old)
            }
            // Not a terminal (a pipe, /dev/null): copy bytes as they come.
            Err(_) => None,
        };
        let proxy = Proxy {
            master,
            stdin,
            stdin_open: true,
            pending: Vec::new(),
            restore,
        };
        proxy.resize();
        Ok(proxy)
    }

    /// Give the container's terminal the size of ours (on start, on SIGWINCH).
    pub fn resize(&self) {
        // 0x0 is "unknown" (a pipe's or a fresh pty's): keep consoleSize then.
        let size = sys::get_winsize(&std::io::stdin()).ok();
        if let Some((rows, cols)) = size.filter(|&s| s != (0, 0)) {
            let _ = sys::set_winsize(&self.master, rows, cols);
        }
    }

    /// What to poll: the master, then our stdin while we take input.
    pub fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut master = PollFlags::POLLIN;
        if !self.pending.is_empty() {
            master |= PollFlags::POLLOUT;
        }
        let mut fds = vec![PollFd::new(self.master.as_fd(), master)];
        if self.pending.is_empty() && self.stdin_open {
            fds.push(PollFd::new(self.stdin.as_fd(), PollFlags::POLLIN));
        }
        fds
    }

    /// Move what poll said is ready (`ready`: revents of `poll_fds`, in order).
    pub fn pump(&mut self, ready: &[bool]) {
        let stdin_ready = ready.get(1).copied().unwrap_or(false);
        if stdin_ready && self.pending.is_empty() && self.stdin_open {
            let mut buf = [0u8; 4096];
            match nix::unistd::read(self.stdin.as_fd(), &mut buf) {
                Ok(0) => self.stdin_open = false,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(_) => self.stdin_open = false,
            }
        }
        if !self.pending.is_empty() {
            match nix::unistd::write(&self.master, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                Err(_) => self.pending.clear(),
            }
        }
        self.drain_output();
    }

    /// Copy what the container wrote to our stdout; false once the terminal
    /// has no writer left (EIO) or nothing is there.
    fn drain_output(&self) -> bool {
        let mut buf = [0u8; 8192];
        let mut any = false;
        loop {
            match nix::unistd::read(&self.master, &mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    any = true;
                    if write_all(&buf[..n]).is_err() {
                        return false;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return any,
                Err(_) => return false,
            }
        }
    }

    /// After the process exited: let its last output through. The master
    /// reads EIO once no one holds the terminal; a background process that
    /// still does may hold it open, so we stop after a quiet moment.
    pub fn finish(self) {
        loop {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(200u16)) {
                Ok(0) => return,
                Ok(_) => {
                    if !self.drain_output() {
                        return;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(old) = &self.restore {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, old);
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).context("F_GETFL on the terminal master")?;
    let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).context("F_SETFL on the terminal master")?;
    Ok(())
}

fn write_all(mut data: &[u8]) -> std::result::Result<(), Errno> {
    let out = std::io::stdout();
    while !data.is_empty() {
        match nix::unistd::write(out.as_fd(), data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
