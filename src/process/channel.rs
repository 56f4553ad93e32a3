//! The typed channel between `hutch create` and the container's init while it
//! is being set up: a SOCK_SEQPACKET socketpair, one message per packet, so
//! neither side ever parses partial reads.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{
    send, sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    UnixAddr,
};

use crate::error::{Error, Result};
use crate::linux::sys;

#[derive(Debug)]
pub enum Message {
    /// parent → init: id maps are written and the init is in its cgroups;
    /// go on with set-up.
    Continue,
    /// init → parent: the root filesystem is ready, waiting for `start`.
    Ready,
    /// parent → init: state is recorded; init may block on the exec fifo.
    Recorded,
    /// init → parent: mounts are done, pivot_root is next: run the
    /// prestart and createRuntime hooks, then answer Continue.
    Hooks,
    /// init → parent: set-up failed, with the reason.
    Failed(String),
    /// init or exec'd process → parent: the listener fd of the seccomp
    /// filter just loaded (sent with SCM_RIGHTS), for the agent at
    /// linux.seccomp.listenerPath. Answered Continue once the agent has it.
    SeccompFd(OwnedFd),
}

impl Message {
    fn encode(&self) -> Vec<u8> {
        match self {
            Message::Continue => vec![b'M'],
            Message::Ready => vec![b'R'],
            Message::Recorded => vec![b'C'],
            Message::Hooks => vec![b'H'],
            Message::SeccompFd(_) => vec![b'S'],
            Message::Failed(s) => {
                let mut v = Vec::with_capacity(1 + s.len());
                v.push(b'F');
                v.extend_from_slice(s.as_bytes());
                v
            }
        }
    }

    /// `fd`: what came with the message; only SeccompFd takes one (any
    /// other is closed).
    fn decode(b: &[u8], fd: Option<OwnedFd>) -> Option<Self> {
        Some(match b.first()? {
            b'S' => Message::SeccompFd(fd?),
            b'M' => Message::Continue,
            b'R' => Message::Ready,
            b'C' => Message::Recorded,
            b'H' => Message::Hooks,
            b'F' => Message::Failed(String::from_utf8_lossy(&b[1..]).into_owned()),
            _ => return None,
        })
    }
}

pub struct Channel {
    fd: OwnedFd,
}

/// One end for the parent, one for the init.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::from(e).context("socketpair for the init channel"))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

const MAX: usize = 4096;

impl Channel {
    /// The fd number, so a forked child can close the end that is not its own.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, m: &Message) -> Result<()> {
        let mut bytes = m.encode();
        bytes.truncate(MAX);
        let sent = match m {
            Message::SeccompFd(fd) => sendmsg::<UnixAddr>(
                self.fd.as_raw_fd(),
                &[IoSlice::new(&bytes)],
                &[ControlMessage::ScmRights(&[fd.as_raw_fd()])],
                MsgFlags::MSG_NOSIGNAL,
                None,
            ),
            _ => send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL),
        };
        sent.map(|_| ())
            .map_err(|e| Error::from(e).context("sending on the init channel"))
    }

    /// Whether the other end is closed (its process died), without waiting.
    pub fn peer_gone(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        // A socketpair reports POLLHUP once the other end is closed.
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLHUP)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Next message; None when the other side is gone (EOF).
    pub fn recv(&self) -> Result<Option<Message>> {
        let mut buf = [0u8; MAX];
        loop {
            match sys::recv_with_fd(&self.fd, &mut buf) {
                Ok((0, _)) => return Ok(None),
                Ok((n, fd)) => {
                    return Message::decode(&buf[..n], fd)
                        .map(Some)
                        .ok_or_else(|| Error::new("garbled message on the init channel"))
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::from(e).context("reading the init channel")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let (a, b) = pair().expect("pair");
        for m in [
            Message::Continue,
            Message::Ready,
            Message::Recorded,
            Message::Hooks,
            Message::Failed("mount proc: EPERM".into()),
        ] {
            a.send(&m).expect("send");
            let got = b.recv().expect("recv").expect("a message");
            assert_eq!(got.encode(), m.encode());
        }
        drop(a);
        assert!(b.recv().expect("eof").is_none());
    }

    #[test]
    fn passes_an_fd() {
        use std::io::{Read, Write};
        let (a, b) = pair().expect("pair");
        let (r, w) = nix::unistd::pipe().expect("pipe");
        a.send(&Message::SeccompFd(w)).expect("send");
        let Some(Message::SeccompFd(fd)) = b.recv().expect("recv") else {
            panic!("no fd came");
        };
        std::fs::File::from(fd)
            .write_all(b"through the channel")
            .expect("write");
        let mut got = String::new();
        std::fs::File::from(r)
            .read_to_string(&mut got)
            .expect("read");
        assert_eq!(got, "through the channel");
        // The tag without an fd is not a message.
        send(a.raw_fd(), b"S", MsgFlags::empty()).expect("send");
        assert!(b.recv().is_err());
    }
}
