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
    /// parent → init: id maps are written (and the answer to Hooks and
    /// SeccompFd); go on with set-up.
    Continue,
    /// init → parent: the root filesystem is ready, waiting for `start`.
    Ready,
    /// parent → init: state is recorded; init may block on the exec fifo.
    Recorded,
    /// parent → init: state is recorded and the container is started
    /// (`run`, nothing to do between start and the program): exec now,
    /// without waiting on the exec fifo.
    Start,
    /// init → parent: mounts are done, pivot_root is next: run the
    /// prestart and createRuntime hooks, then answer Continue.
    Hooks,
    /// init → parent: set-up failed, with the reason.
    Failed(String),
    /// init or exec'd process → parent: the listener fd of the seccomp
    /// filter just loaded (sent with SCM_RIGHTS), for the agent at
    /// linux.seccomp.listenerPath. Answered Continue once the agent has it.
    SeccompFd(OwnedFd),
    /// parent → init: the container's cgroup v1 directories are made and
    /// configured; here are their `tasks` files, opened by the parent, for
    /// the init to move itself in with (cgroups::join_self).
    Cgroup(Vec<OwnedFd>),
}

impl Message {
    fn encode(&self) -> Vec<u8> {
        match self {
            Message::Continue => vec![b'M'],
            Message::Ready => vec![b'R'],
            Message::Recorded => vec![b'C'],
            Message::Start => vec![b'X'],
            Message::Hooks => vec![b'H'],
            Message::SeccompFd(_) => vec![b'S'],
            Message::Cgroup(_) => vec![b'G'],
            Message::Failed(s) => {
                let mut v = Vec::with_capacity(1 + s.len());
                v.push(b'F');
                v.extend_from_slice(s.as_bytes());
                v
            }
        }
    }

    /// `fds`: what came with the message; only SeccompFd (one) and Cgroup
    /// take any (others are closed).
    fn decode(b: &[u8], fds: Vec<OwnedFd>) -> Option<Self> {
        Some(match b.first()? {
            b'S' if fds.len() == 1 => Message::SeccompFd(fds.into_iter().next()?),
            b'G' if !fds.is_empty() => Message::Cgroup(fds),
            b'M' => Message::Continue,
            b'R' => Message::Ready,
            b'C' => Message::Recorded,
            b'X' => Message::Start,
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
        let fds: Vec<i32> = match m {
            Message::SeccompFd(fd) => vec![fd.as_raw_fd()],
            Message::Cgroup(fds) => fds.iter().map(|f| f.as_raw_fd()).collect(),
            _ => Vec::new(),
        };
        let sent = if fds.is_empty() {
            send(self.fd.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)
        } else {
            sendmsg::<UnixAddr>(
                self.fd.as_raw_fd(),
                &[IoSlice::new(&bytes)],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
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
            match sys::recv_with_fds(&self.fd, &mut buf) {
                Ok((0, _)) => return Ok(None),
                Ok((n, fds)) => {
                    return Message::decode(&buf[..n], fds)
                        .map(Some)
                        .ok_or_else(|| Error::new("garbled message on the init channel"))
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // The peer closed with a message of ours unread (an init
                // that failed before taking its cgroup): the kernel reports
                // that once, ahead of what the peer sent before closing,
                // which is what we want to read (its Failed message).
                Err(nix::errno::Errno::ECONNRESET) => continue,
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
            Message::Start,
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

    #[test]
    fn passes_cgroup_fds_in_order() {
        use std::io::{Read, Write};
        let (a, b) = pair().expect("pair");
        let pipes: Vec<(OwnedFd, OwnedFd)> = (0..12)
            .map(|_| nix::unistd::pipe().expect("pipe"))
            .collect();
        let (readers, writers): (Vec<OwnedFd>, Vec<OwnedFd>) = pipes.into_iter().unzip();
        a.send(&Message::Cgroup(writers)).expect("send");
        let Some(Message::Cgroup(got)) = b.recv().expect("recv") else {
            panic!("no fds came");
        };
        assert_eq!(got.len(), 12);
        for (i, w) in got.into_iter().enumerate() {
            std::fs::File::from(w)
                .write_all(format!("fd {i}").as_bytes())
                .expect("write");
        }
        for (i, r) in readers.into_iter().enumerate() {
            let mut s = String::new();
            std::fs::File::from(r).read_to_string(&mut s).expect("read");
            assert_eq!(s, format!("fd {i}"));
        }
        // The tag without fds is not a message.
        send(a.raw_fd(), b"G", MsgFlags::empty()).expect("send");
        assert!(b.recv().is_err());
    }

    #[test]
    fn a_peer_closing_with_our_message_unread_still_delivers_its_last() {
        let (a, b) = pair().expect("pair");
        a.send(&Message::Continue).expect("send");
        b.send(&Message::Failed("mount: EINVAL".into()))
            .expect("send");
        // b never reads our Continue: closing it resets the connection.
        drop(b);
        match a.recv().expect("recv") {
            Some(Message::Failed(why)) => assert_eq!(why, "mount: EINVAL"),
            other => panic!("got {other:?}"),
        }
        assert!(a.recv().expect("eof").is_none());
    }
}
