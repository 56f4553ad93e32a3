//! The runtime's side of seccomp user notification: send the listener fd of
//! a container process to the agent at `linux.seccomp.listenerPath`, with
//! the container process state (config-linux.md, "The Container Process
//! State"). One connection per fd, closed once sent.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    connect, send, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use serde_json::{json, Value};

use super::seccomp::Listener;
use crate::error::{Context, Error, Result};

/// What `create` and `exec` give the process spawner: called with the PID
/// of the process that loaded the filter and its listener fd.
pub type SendFd<'a> = dyn Fn(i32, &OwnedFd) -> Result<()> + 'a;

/// The name of the one fd we send, in the state's `fds`.
const SECCOMP_FD: &str = "seccompFd";

/// The container process state: `pid` is the process that loaded the
/// filter, `state` the container's (hooks::state_value).
pub fn process_state(l: &Listener, pid: i32, state: Value) -> Vec<u8> {
    let mut v = json!({
        "ociVersion": crate::commands::state::OCI_VERSION,
        "fds": [SECCOMP_FD],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = &l.metadata {
        v["metadata"] = Value::String(m.clone());
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Connect to the agent and send `payload` with `fd`; any failure is an
/// error naming the listener path.
pub fn send_to_agent(l: &Listener, payload: &[u8], fd: &OwnedFd) -> Result<()> {
    send_inner(l, payload, fd).with_context(|| {
        format!(
            "linux.seccomp.listenerPath {}: sending the seccomp listener fd to the agent",
            l.path.display()
        )
    })
}

fn send_inner(l: &Listener, payload: &[u8], fd: &OwnedFd) -> Result<()> {
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket")?;
    let addr = UnixAddr::new(&l.path).context("socket address")?;
    loop {
        match connect(sock.as_raw_fd(), &addr) {
            Err(Errno::EINTR) => continue,
            r => break r.context("connect")?,
        }
    }
    // The fd goes with the first bytes; a stream may take the rest in
    // further calls (config-linux.md allows several, fds in the first only).
    let mut sent = loop {
        match sendmsg::<UnixAddr>(
            sock.as_raw_fd(),
            &[IoSlice::new(payload)],
            &[ControlMessage::ScmRights(&[fd.as_raw_fd()])],
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(Errno::EINTR) => continue,
            r => break r.context("sendmsg")?,
        }
    };
    while sent < payload.len() {
        match send(sock.as_raw_fd(), &payload[sent..], MsgFlags::MSG_NOSIGNAL) {
            Err(Errno::EINTR) => continue,
            Ok(0) => return Err(Error::new("send: the agent closed the connection")),
            r => sent += r.context("send")?,
        }
    }
    // Closed here: the connection is not reused.
    drop(sock);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixListener;

    #[test]
    fn sends_the_state_with_the_fd_and_closes() {
        let dir = std::env::temp_dir().join(format!("hutch-listener-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("mkdir");
        let path = dir.join("agent.sock");
        let agent = UnixListener::bind(&path).expect("bind");
        let l = Listener {
            path: path.clone(),
            metadata: Some("m=1".into()),
        };
        let state = crate::hooks::state_value(
            "c1",
            "creating",
            42,
            std::path::Path::new("/b"),
            &Default::default(),
        );
        let payload = process_state(&l, 42, state);
        let (r, w) = nix::unistd::pipe().expect("pipe");
        send_to_agent(&l, &payload, &w).expect("send");
        drop(w);
        let (conn, _) = agent.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let (n, fd) = crate::linux::sys::recv_with_fd(&conn, &mut buf).expect("recv");
        let v: Value = serde_json::from_slice(&buf[..n]).expect("json");
        assert_eq!(v["fds"], json!(["seccompFd"]));
        assert_eq!(v["pid"], 42);
        assert_eq!(v["metadata"], "m=1");
        assert_eq!(v["state"]["id"], "c1");
        assert_eq!(v["state"]["status"], "creating");
        // The fd that came is the pipe's write end: closing it ends the pipe.
        drop(fd.expect("an fd"));
        let mut rest = Vec::new();
        std::fs::File::from(r).read_to_end(&mut rest).expect("eof");
        // And the connection is closed.
        assert_eq!(
            crate::linux::sys::recv_with_fd(&conn, &mut buf)
                .expect("recv")
                .0,
            0
        );

        let gone = Listener {
            path: dir.join("nobody.sock"),
            metadata: None,
        };
        let (_r, w) = nix::unistd::pipe().expect("pipe");
        let e = send_to_agent(&gone, b"{}", &w).expect_err("sent to nobody");
        assert!(e.to_string().contains("listenerPath"), "{e}");
        assert!(e.to_string().contains("nobody.sock"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
