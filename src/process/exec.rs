//! `exec`: a new process inside a running container. We join the init's
//! namespaces through its pidfd (one setns for all of them, ordered by the
//! kernel), so they cannot be swapped under us by PID reuse.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use nix::unistd::setsid;
use oci_spec::runtime::{LinuxPersonality, Process};

use super::channel::{self, Channel, Message};
use super::init::{cstring, load_seccomp};
use super::program::Program;
use super::terminal;
use crate::error::{Context, Error, Result};
use crate::linux::capabilities::CapPlan;
use crate::linux::seccomp::{Filter, LoadAt};
use crate::linux::seccomp_listener::SendFd;
use crate::linux::sys::{self, Forked};
use crate::linux::{
    cpu_affinity, ioprio, memory_policy, personality, procfs, resolve, rlimits, scheduler, user,
};

pub struct ExecSpec<'a> {
    pub init: &'a OwnedFd,
    pub init_pid: i32,
    pub process: &'a Process,
    pub caps: &'a CapPlan,
    pub seccomp: Option<&'a Filter>,
    /// The container's linux.personality, which its processes all share.
    pub personality: Option<&'a LinuxPersonality>,
    /// The container's linux.memoryPolicy: not inherited from the init.
    pub memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    /// process.execCPUAffinity, parsed.
    pub affinity: &'a cpu_affinity::Plan,
    pub console: Option<OwnedFd>,
    pub preserve_fds: u32,
    /// The container's cgroup: the process starts in it, as the init did.
    pub cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// `--cgroup`: sub-cgroups of it to start in instead.
    pub sub_cgroup: &'a crate::cgroups::Sub,
    /// The container's state directory, locked: its fd is a directory on
    /// the host, which the child closes at once (`/proc/self/fd/N` would
    /// otherwise reach it from inside, runc CVE-2024-21626). Unlocked once
    /// the child is in the container's cgroup, before waiting for its
    /// execve: in a paused container that wait lasts until `resume`, which
    /// needs the lock.
    pub lock: Option<crate::state::ContainerDir>,
    /// Called with the process's PID and the listener fd of its seccomp
    /// filter, when that has one: sends it to the agent.
    pub seccomp_agent: Option<&'a SendFd<'a>>,
}

/// The namespaces of `pid` that differ from ours: those are the ones to join.
fn differing(pid: i32) -> CloneFlags {
    let kinds = [
        ("user", CloneFlags::CLONE_NEWUSER),
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("net", CloneFlags::CLONE_NEWNET),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ];
    let me = std::process::id() as i32;
    let mut flags = CloneFlags::empty();
    for (name, flag) in kinds {
        let theirs = procfs::ns_inode(pid, name);
        if theirs.is_some() && theirs != procfs::ns_inode(me, name) {
            flags |= flag;
        }
    }
    flags
}

/// Start the process; returns its host PID and a pidfd once it has exec'd.
pub fn spawn(mut e: ExecSpec<'_>) -> Result<(i32, OwnedFd)> {
    let flags = differing(e.init_pid);
    if flags.contains(CloneFlags::CLONE_NEWPID) {
        // Only our children enter it: the process we clone next is in the container's PID namespace.
        setns(e.init, CloneFlags::CLONE_NEWPID)
            .context("setns into the container's pid namespace")?;
    }
    let argv: Vec<CString> = e
        .process
        .args()
        .iter()
        .flatten()
        .map(|a| cstring(a))
        .collect::<Result<_>>()?;
    if argv.is_empty() {
        return Err(Error::new("exec: no command given (args or --process)"));
    }
    let env: Vec<CString> = e
        .process
        .env()
        .iter()
        .flatten()
        .map(|v| cstring(v))
        .collect::<Result<_>>()?;
    let (parent_end, child_end) = channel::pair()?;
    // Ours, inherited by the child until it sets its final affinity: the
    // CPUs the runtime runs on while it moves the process into the
    // container's cgroup.
    if let Some(cpus) = &e.affinity.initial {
        cpu_affinity::apply(cpus, "initial")?;
    }
    let v2_dir = e
        .cgroup
        .map(|c| c.open_v2_dir(e.sub_cgroup))
        .transpose()?
        .flatten();
    let cgroup_fd = v2_dir.as_ref().map(|f| f.as_raw_fd());
    // v1: the child moves itself in, first thing (Cgroup::open_v1_tasks).
    let v1_tasks = match e.cgroup {
        Some(cg) => cg.open_v1_tasks(e.sub_cgroup)?,
        None => Vec::new(),
    };
    // The child is visible in the container's /proc from its first instruction,
    // still hutch's image: it must be born non-dumpable, so nothing in there may
    // open its /proc/PID/exe (runc CVE-2019-5736), fd/ or map_files/, or ptrace it.
    nix::sys::prctl::set_dumpable(false).context("prctl(PR_SET_DUMPABLE)")?;
    const WHAT: &str = "clone3 for exec";
    let forked = sys::clone3(0, cgroup_fd).map_err(|err| {
        let what = match e.cgroup.filter(|_| cgroup_fd.is_some()) {
            Some(cg) => cg.clone_into_context(WHAT, err),
            None => WHAT.to_string(),
        };
        crate::error::Error::from(err).context(what)
    })?;
    match forked {
        Forked::Child => {
            let _ = nix::unistd::close(parent_end.raw_fd());
            if let Some(dir) = &e.lock {
                let _ = nix::unistd::close(dir.lock_fd());
            }
            // The cgroup v2 directory we were cloned into: a host directory,
            // which `/proc/self/fd/N/..` would walk out of (runc CVE-2024-21626).
            if let Some(fd) = cgroup_fd {
                let _ = nix::unistd::close(fd);
            }
            // v1: the parent has moved us in (see below).
            drop(v1_tasks);
            if let Err(err) = {
                child(
                    &e,
                    flags - CloneFlags::CLONE_NEWPID,
                    &child_end,
                    &argv,
                    &env,
                )
            } {
                let _ = child_end.send(&Message::Failed(err.to_string()));
            }
            sys::exit_now(127)
        }
        Forked::Parent { pid, pidfd } => {
            drop(child_end);
            // v1: we move the child in, rather than it itself, so that it is
            // in (and, in a paused container, frozen) when we return, and
            // the lock can go: a `delete` from then on finds it there.
            let placed = place_v1(&v1_tasks, pid);
            drop(v1_tasks);
            drop(e.lock.take());
            let placed = placed.and_then(|()| parent_end.send(&Message::Continue));
            match placed.and_then(|()| follow(&e, pid, &parent_end)) {
                Ok(()) => Ok((pid, pidfd)),
                Err(err) => {
                    // Nothing of a failed exec may stay, nor run a program.
                    let _ = crate::linux::pidfd::signal(&pidfd, libc::SIGKILL);
                    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                    Err(err)
                }
            }
        }
    }
}

/// Write `pid` to each v1 `tasks` file (Cgroup::open_v1_tasks): the
/// child is single-threaded, so its PID is its one thread.
fn place_v1(tasks: &[std::fs::File], pid: i32) -> Result<()> {
    for f in tasks {
        nix::unistd::write(f, pid.to_string().as_bytes())
            .context("moving the exec'd process into the container's cgroup (a v1 tasks file)")?;
    }
    Ok(())
}

/// The parent's side until the child's execve.
fn follow(e: &ExecSpec<'_>, pid: i32, chan: &Channel) -> Result<()> {
    loop {
        // The channel is close-on-exec: EOF means the execve happened.
        match chan.recv()? {
            None => return Ok(()),
            Some(Message::Failed(why)) => return Err(Error::new(why)),
            Some(Message::SeccompFd(fd)) if e.seccomp_agent.is_some() => {
                if let Some(f) = e.seccomp_agent {
                    f(pid, &fd)?;
                }
                drop(fd);
                chan.send(&Message::Continue)?;
            }
            Some(m) => {
                return Err(Error::new(format!(
                    "unexpected {m:?} from the exec'd process"
                )))
            }
        }
    }
}

fn child(
    e: &ExecSpec<'_>,
    flags: CloneFlags,
    chan: &Channel,
    argv: &[CString],
    env: &[CString],
) -> Result<()> {
    match chan.recv()? {
        Some(Message::Continue) => {}
        _ => return Err(Error::new("exec: runtime went away")),
    }
    if !flags.is_empty() {
        setns(e.init, flags).context("setns into the container's namespaces")?;
    }
    let p = e.process;
    resolve::chdir_in_root(p.cwd()).with_context(|| format!("cwd {}", p.cwd().display()))?;
    let arg0 = p
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .map(String::as_str)
        .unwrap_or("");
    let program = Program::find(arg0, p.env().as_deref().unwrap_or(&[]))?;
    if let Some(limits) = p.rlimits() {
        rlimits::apply(limits)?;
    }
    // In the container's cgroup by now (placed before Continue), with our
    // capabilities still.
    if let Some(s) = p.scheduler() {
        scheduler::apply(s)?;
    }
    if let Some(io) = p.io_priority() {
        ioprio::apply(io)?;
    }
    if let Some(cpus) = &e.affinity.last {
        cpu_affinity::apply(cpus, "final")?;
    }
    if let Some(sock) = &e.console {
        setsid().context("setsid")?;
        let size = p
            .console_size()
            .map(|b| (b.height() as u16, b.width() as u16));
        terminal::setup(sock, size)?;
    }
    if let Some(persona) = e.personality {
        personality::apply(persona)?;
    }
    if let Some(m) = e.memory_policy {
        memory_policy::apply(m)?;
    }
    let nnp = p.no_new_privileges().unwrap_or(false);
    // Closed now, not at execve: the kernel resolves a script's interpreter
    // or an ELF's PT_INTERP (`/proc/self/fd/N/..`) while close-on-exec fds
    // are still open. Before an early filter: older profiles deny close_range.
    let [d, f] = program.fds();
    let mut keep = [chan.raw_fd(), d, f];
    sys::close_from_except(3u32.saturating_add(e.preserve_fds), &mut keep)
        .context("close_range of the runtime's fds")?;
    crate::testpoint::pause_at("program-exec");
    let at = e.seccomp.map(|f| (f, f.load_at(nnp, e.caps)));
    if let Some((f, LoadAt::BeforeDrop)) = at {
        load_seccomp(f, chan)?;
    }
    e.caps.apply_bounding()?;
    user::apply(p.user(), e.caps.keep_across_setuid(p.user().uid()))?;
    e.caps.apply_rest()?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().context("noNewPrivileges: prctl")?;
    }
    sys::reset_signals();
    if let Some((f, LoadAt::AfterDrop | LoadAt::BeforeExecve)) = at {
        load_seccomp(f, chan)?;
    }
    Err(program.exec(argv, env))
}
