//! Seccomp user notification (`SCMP_ACT_NOTIFY`, `linux.seccomp.listenerPath`,
//! `listenerMetadata`): a real agent, written here, listens on a unix socket,
//! receives the container process state and the listener fd from the
//! runtime, and answers the container's syscalls (SECCOMP_IOCTL_NOTIF_RECV
//! and SEND, through libseccomp). What the container sees of the answers,
//! and what the agent was sent, are checked; so are the configs and agents
//! that must make `create` or `exec` fail, leaving nothing behind.

mod common;

use common::*;
use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use serde_json::{json, Value};
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

// ---------------------------------------------------------------------------
// The agent

/// What one connection brought: the container process state and the fds
/// that came with it.
struct Received {
    state: Value,
    fds: usize,
}

/// One notification the agent answered.
#[derive(Debug)]
struct Answered {
    syscall: String,
    /// The PID namespace of the process that made the syscall, read while it
    /// waited for the answer.
    pid_ns: String,
    /// "EXDEV" or "continue".
    answer: &'static str,
}

/// A seccomp agent on a unix socket in a temp dir. It fails mkdir/mkdirat
/// with EXDEV and lets every other notified syscall through
/// (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
struct Agent {
    // Holds the socket; removed when the agent drops.
    _dir: TempDir,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    received: mpsc::Receiver<Received>,
    answered: mpsc::Receiver<Answered>,
}

impl Agent {
    fn start() -> Agent {
        let dir = TempDir::new("agent");
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).expect("bind the agent's socket");
        let stop = Arc::new(AtomicBool::new(false));
        let (rtx, received) = mpsc::channel();
        let (atx, answered) = mpsc::channel();
        let stopping = stop.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (state, fds) = read_connection(conn);
                let _ = rtx.send(Received {
                    state,
                    fds: fds.len(),
                });
                for fd in fds {
                    let atx = atx.clone();
                    thread::spawn(move || answer(fd, atx));
                }
            }
        });
        Agent {
            _dir: dir,
            path,
            stop,
            received,
            answered,
        }
    }

    fn path(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// The next container process state sent to us.
    #[track_caller]
    fn next(&self) -> Received {
        self.received
            .recv_timeout(WAIT)
            .expect("the runtime sent nothing to the agent")
    }

    /// Nothing (more) was sent to us.
    #[track_caller]
    fn assert_nothing_sent(&self) {
        if let Ok(r) = self.received.try_recv() {
            panic!("unexpected state sent to the agent: {}", r.state);
        }
    }

    /// Every notification answered so far.
    fn answered(&self) -> Vec<Answered> {
        self.answered.try_iter().collect()
    }

    /// Stop accepting connections (the socket file stays, refusing them).
    fn stop(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            let _ = UnixStream::connect(&self.path);
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Then the temp dir goes, with the socket.
        self.stop();
    }
}

/// The state (JSON, possibly over several reads) and the SCM_RIGHTS fds of
/// one connection, read until the runtime closes it.
fn read_connection(mut conn: UnixStream) -> (Value, Vec<OwnedFd>) {
    conn.set_read_timeout(Some(WAIT)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<UnixAddr>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .expect("recvmsg on the agent's connection");
    let mut fds = Vec::new();
    for c in msg.cmsgs().expect("control messages") {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: the kernel just installed this fd in our table for us.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    let n = msg.bytes;
    let mut bytes = buf[..n].to_vec();
    // The runtime closes the connection once sent: read to EOF.
    conn.read_to_end(&mut bytes)
        .expect("reading the rest of the state");
    let state = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "state is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (state, fds)
}

/// Answer the notifications of one listener fd until no process uses its
/// filter any more.
fn answer(fd: OwnedFd, out: mpsc::Sender<Answered>) {
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("poll on the listener fd: {e}"),
            Ok(_) => {}
        }
        let ready = fds[0].revents().unwrap_or(PollFlags::empty());
        if !ready.contains(PollFlags::POLLIN) {
            // POLLHUP: every process of the filter has exited.
            return;
        }
        let Ok(req) = ScmpNotifReq::receive(fd.as_raw_fd()) else {
            // The process died between poll and receive.
            continue;
        };
        let syscall = req
            .data
            .syscall
            .get_name()
            .unwrap_or_else(|_| format!("{:?}", req.data.syscall));
        let pid_ns = std::fs::read_link(format!("/proc/{}/ns/pid", req.pid))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (resp, answer) = match syscall.as_str() {
            "mkdir" | "mkdirat" => (
                ScmpNotifResp::new_error(req.id, -libc::EXDEV, ScmpNotifRespFlags::empty()),
                "EXDEV",
            ),
            _ => (
                ScmpNotifResp::new_continue(req.id, ScmpNotifRespFlags::empty()),
                "continue",
            ),
        };
        // The process may have been killed meanwhile (ENOENT): nothing to do.
        let _ = resp.respond(fd.as_raw_fd());
        let _ = out.send(Answered {
            syscall,
            pid_ns,
            answer,
        });
    }
}

// ---------------------------------------------------------------------------
// Configs

const META: &str = "MKDIR=EXDEV;SYMLINK=continue";

/// `script` under a profile that notifies mkdir and symlink (both forms),
/// with the agent at `listener`, /tmp on a tmpfs of its own.
fn config(script: &str, listener: Option<&str>) -> Value {
    let mut c = sh(script);
    c["mounts"].as_array_mut().unwrap().push(
        json!({ "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                      "options": ["mode=1777"] }),
    );
    c["annotations"] = json!({ "org.example.agent": "yes" });
    c["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerMetadata": META,
        "syscalls": [
            { "names": ["mkdir", "mkdirat", "symlink", "symlinkat"], "action": "SCMP_ACT_NOTIFY" },
            { "names": ["getpid"], "action": "SCMP_ACT_ALLOW" }
        ]
    });
    if let Some(l) = listener {
        c["linux"]["seccomp"]["listenerPath"] = json!(l);
    }
    c
}

/// The checks of the state `create` sent for container `id`.
#[track_caller]
fn check_create_state(env: &Env, id: &str, bundle: &Bundle, r: &Received) {
    let s = &r.state;
    assert_eq!(r.fds, 1, "one fd expected with {s}");
    assert_eq!(s["fds"], json!(["seccompFd"]), "{s}");
    assert!(
        s["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{s}"
    );
    assert_eq!(s["metadata"], META, "{s}");
    let pid = env.pid(id);
    assert_eq!(s["pid"], pid, "{s}");
    let st = &s["state"];
    assert_eq!(st["id"], id, "{s}");
    assert_eq!(st["status"], "creating", "{s}");
    assert_eq!(st["pid"], pid, "{s}");
    assert_eq!(
        Path::new(st["bundle"].as_str().unwrap())
            .canonicalize()
            .unwrap(),
        bundle.path().canonicalize().unwrap(),
        "{s}"
    );
    assert_eq!(st["annotations"]["org.example.agent"], "yes", "{s}");
    assert!(
        st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{s}"
    );
}

/// The answers to mkdir (EXDEV) and symlink (let through) are among
/// `answered`, and every notification came from PID namespace `pid_ns`.
#[track_caller]
fn check_answers(answered: &[Answered], pid_ns: &str) {
    let find = |prefix: &str| {
        answered
            .iter()
            .find(|a| a.syscall.starts_with(prefix))
            .unwrap_or_else(|| panic!("the agent saw no {prefix}: {answered:?}"))
    };
    assert_eq!(find("mkdir").answer, "EXDEV");
    assert_eq!(find("symlink").answer, "continue");
    for a in answered {
        assert_eq!(
            a.pid_ns, pid_ns,
            "a notification from outside the container: {a:?}"
        );
    }
}

/// What the container does: mkdir (which the agent fails), symlink (which
/// it lets through), then it lists the targets of its own fds.
const SCRIPT: &str = "mkdir /tmp/d 2>&1; echo mkdir=$?; [ -e /tmp/d ] && echo made=yes; \
    ln -s target /tmp/l && echo link=$(readlink /tmp/l); \
    for f in /proc/$$/fd/*; do echo fd=$(readlink $f); done; echo done";

/// What SCRIPT printed when the agent answered as it should.
#[track_caller]
fn check_script_output(out: &str) {
    assert!(out.contains("Invalid cross-device link"), "{out}");
    assert!(out.lines().any(|l| l == "mkdir=1"), "{out}");
    assert!(!out.contains("made=yes"), "{out}");
    assert!(out.lines().any(|l| l == "link=target"), "{out}");
    // The process does not hold the listener (anon_inode:seccomp notify):
    // it could answer its own notifications.
    assert!(out.lines().any(|l| l.starts_with("fd=")), "{out}");
    assert!(!out.contains("seccomp"), "{out}");
}

/// Run SCRIPT with `config` changed by `adjust`: the agent must get the
/// state during `create`, and answer the container's syscalls after `start`.
fn agent_answers(name: &str, adjust: impl Fn(&mut Value)) {
    let env = Env::new(name);
    let agent = Agent::start();
    let mut c = config(SCRIPT, Some(agent.path()));
    adjust(&mut c);
    let bundle = Bundle::new(&c);
    let id = env.id();
    let ct = env.create(&id, &bundle);
    // Sent before create returned; the program has not run yet.
    check_create_state(&env, &id, &bundle, &agent.next());
    assert_eq!(env.status(&id), "created");
    let pid_ns = ns(&env.pid(&id).to_string(), "pid");
    assert_ne!(pid_ns, ns("self", "pid"));
    env.start(&id).ok();
    check_script_output(&ct.wait_line("done"));
    env.wait_status(&id, "stopped");
    check_answers(&agent.answered(), &pid_ns);
    agent.assert_nothing_sent();
    env.delete(&id).ok();
    env.assert_gone(&id);
}

#[test]
fn agent_answers_a_root_init() {
    // Root keeps CAP_SYS_ADMIN: the filter goes on once the privileges are
    // set, before create returns.
    agent_answers("notifyroot", |_| {});
}

#[test]
fn agent_answers_an_init_loading_the_filter_before_dropping_root() {
    // uid 1000 without no_new_privs: the filter must go on while the init
    // is still root; the agent gets its fd before the user changes.
    agent_answers("notifyuser", |c| {
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    });
}

#[test]
fn agent_answers_an_init_with_no_new_privileges() {
    agent_answers("notifynnp", |c| {
        c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
        c["process"]["noNewPrivileges"] = json!(true);
    });
}

#[test]
fn exec_processes_are_handed_to_the_agent_too() {
    let env = Env::new("notifyexec");
    let agent = Agent::start();
    let c = config("while :; do sleep 1000; done", Some(agent.path()));
    let (ct, bundle) = env.run_container(&c);
    check_create_state(&env, &ct.id, &bundle, &agent.next());
    let init = env.pid(&ct.id);
    let pid_ns = ns(&init.to_string(), "pid");
    let scratch = TempDir::new("pidfile");
    let pid_file = scratch.path().join("pid");
    let out = env
        .run(&[
            "exec",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &ct.id,
            "sh",
            "-c",
            SCRIPT,
        ])
        .ok();
    check_script_output(&format!("{}{}", out.stdout, out.stderr));
    let r = agent.next();
    let s = &r.state;
    assert_eq!(r.fds, 1, "{s}");
    assert_eq!(s["fds"], json!(["seccompFd"]), "{s}");
    assert_eq!(s["metadata"], META, "{s}");
    let exec_pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(s["pid"], exec_pid, "{s}");
    assert_eq!(s["state"]["id"], ct.id.as_str(), "{s}");
    assert_eq!(s["state"]["status"], "running", "{s}");
    assert_eq!(s["state"]["pid"], init, "{s}");
    check_answers(&agent.answered(), &pid_ns);

    // Without the agent, exec fails and leaves no process in the container.
    agent.stop();
    let before = env.run(&["ps", "--format", "json", &ct.id]).ok().stdout;
    let failed = env
        .run(&["exec", &ct.id, "sh", "-c", "echo ran"])
        .fails_with(&["linux.seccomp.listenerPath", agent.path()]);
    assert!(!failed.stdout.contains("ran"), "{failed:?}");
    let after = env.run(&["ps", "--format", "json", &ct.id]).ok().stdout;
    assert_eq!(before, after, "exec left a process behind");
    assert_eq!(env.status(&ct.id), "running");
}

// ---------------------------------------------------------------------------
// Bad configs and missing agents: create fails, naming the field, and
// leaves nothing behind.

#[track_caller]
fn create_fails(name: &str, config: &Value, tokens: &[&str]) {
    let env = Env::exclusive(name);
    let id = env.id();
    let bundle = Bundle::new(config);
    let root = env.root().to_str().unwrap().to_string();
    let snapshot = HostSnapshot::take(&[&id, &root]);
    let out = TempDir::new("out");
    env.create_args(
        &["--bundle", bundle.arg(), &id],
        None,
        &out.path().join("out"),
    )
    .fails_with(tokens);
    env.assert_gone(&id);
    snapshot.assert_unchanged(&format!("after the failed create of {name}"));
}

#[test]
fn create_fails_when_no_agent_listens() {
    let dir = TempDir::new("noagent");
    let path = dir.path().join("agent.sock");
    let path = path.to_str().unwrap();
    // No socket at all.
    create_fails(
        "notifymissing",
        &config("true", Some(path)),
        &["linux.seccomp.listenerPath", path],
    );
    // A socket nobody listens on any more.
    drop(UnixListener::bind(path).unwrap());
    create_fails(
        "notifyrefused",
        &config("true", Some(path)),
        &["linux.seccomp.listenerPath", path, "refused"],
    );
}

#[test]
fn rejects_notify_without_a_listener_path() {
    let mut c = config("true", None);
    c["linux"]["seccomp"]
        .as_object_mut()
        .unwrap()
        .remove("listenerMetadata");
    create_fails(
        "notifynopath",
        &c,
        &[
            "linux.seccomp.listenerPath",
            "SCMP_ACT_NOTIFY",
            "syscalls[0]",
        ],
    );
}

#[test]
fn rejects_listener_metadata_without_a_listener_path() {
    let mut c = config("true", None);
    c["linux"]["seccomp"]["syscalls"] = json!([{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]);
    create_fails(
        "notifymeta",
        &c,
        &["linux.seccomp.listenerMetadata", "listenerPath"],
    );
}

#[test]
fn rejects_notify_as_the_default_action() {
    let agent = Agent::start();
    let mut c = config("true", Some(agent.path()));
    c["linux"]["seccomp"]["defaultAction"] = json!("SCMP_ACT_NOTIFY");
    create_fails(
        "notifydefault",
        &c,
        &["linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY"],
    );
    agent.assert_nothing_sent();
}
