//! Just enough rtnetlink for linux.netDevices: look a link up by name, move
//! it to another network namespace (renamed on the way), read its addresses,
//! add addresses and bring it up. Requests are built by hand: four message
//! kinds do not justify a netlink crate and its start-up cost, and the socket
//! is only opened when a config has netDevices.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};

use crate::error::{Context, Error, Result};

// <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h>
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;

const NLMSG_HDR: usize = 16;
const IFINFOMSG: usize = 16;
const IFADDRMSG: usize = 8;

/// An address of a link, as RTM_GETADDR gave it: enough to add it again.
#[derive(Debug, Clone)]
pub struct Address {
    family: u8,
    prefix_len: u8,
    scope: u8,
    /// IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST and IFA_FLAGS, as they came.
    attrs: Vec<(u16, Vec<u8>)>,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self
            .attrs
            .iter()
            .find(|(t, _)| *t == IFA_LOCAL)
            .or_else(|| self.attrs.iter().find(|(t, _)| *t == IFA_ADDRESS));
        match a.map(|(_, v)| v.as_slice()) {
            Some(&[a, b, c, d]) => write!(f, "{a}.{b}.{c}.{d}/{}", self.prefix_len),
            Some(v) if v.len() == 16 => {
                let mut b = [0u8; 16];
                b.copy_from_slice(v);
                write!(f, "{}/{}", std::net::Ipv6Addr::from(b), self.prefix_len)
            }
            _ => write!(f, "(family {})", self.family),
        }
    }
}

pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(kind: u16, flags: u16, body: &[u8]) -> Msg {
        let mut buf = vec![0u8; NLMSG_HDR];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        buf.extend_from_slice(body);
        Msg { buf }
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(self.buf.len().next_multiple_of(4), 0);
        self
    }
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; IFINFOMSG] {
    let mut b = [0u8; IFINFOMSG];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn name_attr(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map(|s| u16::from_ne_bytes([s[0], s[1]]))
        .unwrap_or(0)
}

/// The (type, payload) attributes of `b`.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = usize::from(u16_at(b, 0));
        if len < 4 || len > b.len() {
            break;
        }
        out.push((u16_at(b, 2), &b[4..len]));
        b = &b[len.next_multiple_of(4).min(b.len())..];
    }
    out
}

impl Socket {
    /// A NETLINK_ROUTE socket in the calling thread's network namespace.
    pub fn open() -> Result<Socket> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .context("socket(AF_NETLINK, NETLINK_ROUTE)")?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).context("bind of a netlink socket")?;
        Ok(Socket { fd, seq: 0 })
    }

    /// Send `m` and hand every reply message (type, payload) to `each`
    /// until the ack (or, for a dump, NLMSG_DONE). An NLMSG_ERROR is
    /// returned as its errno.
    fn talk(&mut self, mut m: Msg, mut each: impl FnMut(u16, &[u8])) -> Result<(), Errno> {
        self.seq += 1;
        let seq = self.seq;
        let len = m.buf.len() as u32;
        m.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        m.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        send(self.fd.as_raw_fd(), &m.buf, MsgFlags::empty())?;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let mut b = &buf[..n];
            while b.len() >= NLMSG_HDR {
                let len = u32_at(b, 0) as usize;
                if len < NLMSG_HDR || len > b.len() {
                    return Err(Errno::EBADMSG);
                }
                let (kind, got_seq) = (u16_at(b, 4), u32_at(b, 8));
                let payload = &b[NLMSG_HDR..len];
                b = &b[len.next_multiple_of(4).min(b.len())..];
                if got_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let err = u32_at(payload, 0) as i32;
                        return if err == 0 {
                            Ok(())
                        } else {
                            Err(Errno::from_raw(-err))
                        };
                    }
                    _ => each(kind, payload),
                }
            }
        }
    }

    /// The index of the link called `name`; ENODEV when there is none.
    pub fn link_index(&mut self, name: &str) -> Result<i32, Errno> {
        let m = Msg::new(RTM_GETLINK, NLM_F_ACK, &ifinfomsg(0, 0, 0))
            .attr(IFLA_IFNAME, &name_attr(name));
        self.get_link(m)
    }

    /// `index` if a link has it; ENODEV when none has.
    pub fn link_by_index(&mut self, index: i32) -> Result<i32, Errno> {
        self.get_link(Msg::new(RTM_GETLINK, NLM_F_ACK, &ifinfomsg(index, 0, 0)))
    }

    fn get_link(&mut self, m: Msg) -> Result<i32, Errno> {
        let mut index = None;
        self.talk(m, |kind, p| {
            if kind == RTM_NEWLINK && index.is_none() {
                index = Some(u32_at(p, 4) as i32);
            }
        })?;
        index.ok_or(Errno::ENODEV)
    }

    /// The permanent addresses of global scope of link `index`: those
    /// config-linux.md says a move must keep (the kernel drops them all).
    pub fn permanent_addresses(&mut self, index: i32) -> Result<Vec<Address>, Errno> {
        let m = Msg::new(RTM_GETADDR, NLM_F_DUMP, &[0u8; IFADDRMSG]);
        let mut out = Vec::new();
        self.talk(m, |kind, p| {
            if kind != RTM_NEWADDR || p.len() < IFADDRMSG || u32_at(p, 4) as i32 != index {
                return;
            }
            let (family, prefix_len, flags8, scope) = (p[0], p[1], p[2], p[3]);
            let list = attrs(&p[IFADDRMSG..]);
            // IFA_FLAGS, when there, holds all the flags; ifa_flags the low 8.
            let flags = list
                .iter()
                .find(|(t, _)| *t == IFA_FLAGS)
                .map(|(_, v)| u32_at(v, 0))
                .unwrap_or(u32::from(flags8));
            if scope != RT_SCOPE_UNIVERSE || flags & IFA_F_PERMANENT == 0 {
                return;
            }
            let keep = [IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS];
            out.push(Address {
                family,
                prefix_len,
                scope,
                attrs: list
                    .into_iter()
                    .filter(|(t, _)| keep.contains(t))
                    .map(|(t, v)| (t, v.to_vec()))
                    .collect(),
            });
        })?;
        Ok(out)
    }

    /// Move link `index` into the network namespace `netns`, named `name`
    /// there (a name with `%d` is a template the kernel fills in).
    pub fn move_link(&mut self, index: i32, netns: RawFd, name: &str) -> Result<(), Errno> {
        let m = Msg::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, 0, 0))
            .attr(IFLA_NET_NS_FD, &(netns as u32).to_ne_bytes())
            .attr(IFLA_IFNAME, &name_attr(name));
        self.talk(m, |_, _| {})
    }

    pub fn add_address(&mut self, index: i32, a: &Address) -> Result<(), Errno> {
        let mut body = [0u8; IFADDRMSG];
        body[0] = a.family;
        body[1] = a.prefix_len;
        body[3] = a.scope;
        body[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &body);
        for (t, v) in &a.attrs {
            m = m.attr(*t, v);
        }
        self.talk(m, |_, _| {})
    }

    pub fn set_up(&mut self, index: i32) -> Result<(), Errno> {
        let m = Msg::new(RTM_NEWLINK, NLM_F_ACK, &ifinfomsg(index, IFF_UP, IFF_UP));
        self.talk(m, |_, _| {})
    }
}

/// A netlink socket in the network namespace `netns`: made by a thread that
/// enters it, so the runtime itself never leaves its own (a socket stays in
/// the namespace it was made in).
pub fn socket_in(netns: BorrowedFd<'_>) -> Result<Socket> {
    std::thread::scope(|s| {
        s.spawn(move || -> Result<Socket> {
            nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                .context("setns into the container's network namespace")?;
            Socket::open()
        })
        .join()
        .map_err(|_| Error::new("the netlink thread panicked"))?
    })
}
