//! The parent side of `create`: clone the init into its namespaces, write its
//! id maps, wait until its root filesystem is ready.

use std::fs::OpenOptions;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{mkfifo, Pid};

use super::channel::{self, Message};
use super::init::{self, Init};
use crate::error::{Context, Error, Result};
use crate::linux::capabilities::CapPlan;
use crate::linux::namespaces::{self, Plan};
use crate::linux::pidfd::{self, ProcessIdentity};
use crate::linux::seccomp::Filter;
use crate::linux::seccomp_listener::SendFd;
use crate::linux::sys::{self, Forked};
use crate::spec::Config;
use crate::state::{ContainerDir, EXEC_FIFO, INIT_ERROR};

pub struct Options<'a> {
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// The client's --console-socket, connected, when process.terminal is set.
    pub console: Option<OwnedFd>,
    /// A cgroup v2 directory to clone the init into (CLONE_INTO_CGROUP).
    pub cgroup_fd: Option<RawFd>,
    /// Makes the container's cgroup v1 directories once the init is cloned,
    /// and returns their `tasks` files (Cgroup::open_v1_tasks), which the
    /// init gets to move itself in with before it mounts a cgroup or runs a
    /// hook. Run while the init builds its namespaces and mounts: the ~1.4
    /// ms of mkdir(2)s in nine hierarchies are then off the path to the
    /// user's program.
    pub make_v1_cgroup: Option<&'a dyn Fn() -> Result<Vec<std::fs::File>>>,
    /// The container's cgroup, for `cgroup` mounts inside it.
    pub cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// The compiled `linux.seccomp`, loaded by the init just before execve.
    pub seccomp: Option<&'a Filter>,
    /// Called with the init's PID once its mounts are done and before it
    /// pivots into the rootfs (the prestart and createRuntime hooks).
    pub before_pivot: Option<&'a dyn Fn(i32) -> Result<()>>,
    /// Called with the init's PID and the listener fd of its seccomp filter,
    /// when that has one: sends it to the agent (linux.seccomp.listenerPath).
    pub seccomp_agent: Option<&'a SendFd<'a>>,
    /// Detached idmapped mounts the init attaches (linux::idmap).
    pub idmapped: &'a crate::linux::idmap::Mounts,
}

/// A cloned init that has reported its root filesystem ready and now waits
/// for `Recorded` (or `Start`). Dropping it without `release` kills and
/// reaps it.
pub struct Child {
    pub identity: ProcessIdentity,
    pidfd: OwnedFd,
    chan: channel::Channel,
    released: bool,
    /// linux.netDevices moved in: back to the host if create fails.
    net_devices: Option<crate::linux::net_devices::Moved>,
}

impl Child {
    /// State is on disk: let the init go on to wait for `start`, or with
    /// `start`, to exec the program at once. Returns a pidfd on the init,
    /// for callers that wait for it (`run`).
    pub fn release(mut self, start: bool) -> Result<OwnedFd> {
        self.send(if start {
            &Message::Start
        } else {
            &Message::Recorded
        })?;
        self.released = true;
        self.pidfd.try_clone().context("dup of the init's pidfd")
    }

    /// Send to the init during set-up; if it has gone, say why rather than
    /// EPIPE: its Failed message when it sent one before exiting (set-up
    /// went on while the parent made the cgroup), else how it died (a hook
    /// or the OOM killer may have killed it).
    fn send(&self, m: &Message) -> Result<()> {
        self.chan.send(m).map_err(|e| {
            if !self.chan.peer_gone() {
                return e;
            }
            match self.chan.recv() {
                Ok(Some(Message::Failed(why))) => Error::new(why),
                _ => died_during_set_up(self),
            }
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.released {
            if let Some(m) = &mut self.net_devices {
                m.undo();
            }
            let _ = pidfd::signal(&self.pidfd, libc::SIGKILL);
            let _ = waitpid(Pid::from_raw(self.identity.pid), None);
        }
    }
}

pub fn spawn(
    cfg: &Config,
    plan: &Plan,
    caps: &CapPlan,
    dir: &ContainerDir,
    lock_fd: i32,
    opts: Options<'_>,
) -> Result<Child> {
    let fifo_path = dir.file(EXEC_FIFO);
    mkfifo(&fifo_path, Mode::from_bits_truncate(0o600))
        .with_context(|| format!("mkfifo {}", fifo_path.display()))?;
    // O_RDWR never blocks on a fifo; the init keeps this and reads from it.
    let fifo = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&fifo_path)
        .with_context(|| format!("opening {}", fifo_path.display()))?;
    let errlog_path = dir.file(INIT_ERROR);
    let errlog = std::fs::File::create(&errlog_path)
        .with_context(|| format!("creating {}", errlog_path.display()))?;
    let (parent_end, child_end) = channel::pair()?;

    if let Some(pidns) = &plan.join_pid {
        setns(pidns, CloneFlags::CLONE_NEWPID)
            .context("setns into the pid namespace of linux.namespaces")?;
    }
    // A cgroup namespace is rooted where its creator is at that moment: the
    // init makes its own once it has been placed in its cgroups. A time
    // namespace is made here, before the clone (NewTime says why).
    let time_ns = CloneFlags::from_bits_retain(libc::CLONE_NEWTIME);
    let net_devices = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref());
    let has_net_devices = net_devices.is_some();
    let by_init = made_by_init(plan, has_net_devices);
    // Without these the init goes on from its first instruction: not waiting
    // also keeps it where the kernel placed it (a sleeping init woken by our
    // message tends to be pulled onto our CPU).
    let wait_for_go = plan.new.contains(CloneFlags::CLONE_NEWUSER) || has_net_devices;
    let flags = plan.new - CloneFlags::CLONE_NEWCGROUP - time_ns - by_init;
    // Inherited by the init: it is hutch's image until its execve, and may
    // share a PID namespace with container processes (linux.namespaces path),
    // so it must be non-dumpable from its first instruction (runc CVE-2019-5736).
    nix::sys::prctl::set_dumpable(false).context("prctl(PR_SET_DUMPABLE)")?;
    let new_time = if plan.new.contains(time_ns) {
        Some(namespaces::NewTime::make(plan.time_offsets.as_deref())?)
    } else {
        None
    };
    const WHAT: &str = "clone3 of the container init";
    let forked = sys::clone3(flags.bits() as u64, opts.cgroup_fd).map_err(|e| {
        let what = match opts.cgroup.filter(|_| opts.cgroup_fd.is_some()) {
            Some(cg) => cg.clone_into_context(WHAT, e),
            None => WHAT.to_string(),
        };
        crate::error::Error::from(e).context(what)
    });
    // The parent (or a failed clone): back to our own time namespace, before
    // we run any hook. Checked once the init is guarded.
    let left = match (&forked, &new_time) {
        (Ok(Forked::Child), _) | (_, None) => Ok(()),
        (_, Some(t)) => t.leave(),
    };
    let (pid, pidfd) = match forked? {
        Forked::Child => {
            let mut close = vec![lock_fd, parent_end.raw_fd()];
            // The cgroup v2 directory we were cloned into: a host directory,
            // which `/proc/self/fd/N/..` would walk out of (runc CVE-2024-21626).
            close.extend(opts.cgroup_fd);
            // The runtime's time namespace is not the container's business.
            close.extend(new_time.as_ref().map(|t| t.raw_fd()));
            init::run(Init {
                cfg,
                plan,
                caps,
                chan: child_end,
                fifo: Some(fifo),
                close,
                console: opts.console.as_ref(),
                no_pivot: opts.no_pivot,
                preserve_fds: opts.preserve_fds,
                cgroup: opts.cgroup,
                cgroup_to_come: opts.make_v1_cgroup.is_some(),
                wait_for_go,
                unshare: by_init,
                seccomp: opts.seccomp,
                id: &dir.id,
                before_pivot: opts.before_pivot.is_some(),
                idmapped: opts.idmapped,
                errlog,
            })
        }
        Forked::Parent { pid, pidfd } => (pid, pidfd),
    };
    drop(child_end);
    drop(fifo);
    drop(errlog);
    let identity = ProcessIdentity::of_child(pid, &pidfd)
        .ok_or_else(|| Error::new("the container init exited at once"));
    let (identity, stat) = match identity {
        Ok(i) => i,
        Err(e) => {
            let _ = waitpid(Pid::from_raw(pid), None);
            return Err(e);
        }
    };
    let mut child = Child {
        identity,
        pidfd,
        chan: parent_end,
        released: false,
        net_devices: None,
    };
    // The init runs from here; we have work of our own meanwhile.
    let mut aside = crate::linux::cpu_affinity::step_aside(opts.make_v1_cgroup.and(stat.cpu));
    left?;
    crate::testpoint::pause_at("cloned");
    if plan.new.contains(CloneFlags::CLONE_NEWUSER) {
        write_id_maps(cfg, pid)?;
    }
    // Before the init goes on: the devices are there for every hook and
    // for the container's process.
    if let Some(d) = net_devices {
        child.net_devices = Some(crate::linux::net_devices::move_all(d, plan, pid)?);
    }
    if wait_for_go {
        child.send(&Message::Continue)?;
    }
    if let Some(make) = opts.make_v1_cgroup {
        let tasks = make()?.into_iter().map(OwnedFd::from).collect();
        crate::testpoint::pause_at("cgroup-made");
        child.send(&Message::Cgroup(tasks))?;
    }
    // Before any hook: they run with the runtime's CPUs.
    aside.restore()?;
    loop {
        let msg = match child.chan.recv() {
            Ok(m) => m,
            // An error reading is the init dying too if it has exited (a
            // reset connection is read through by recv, up to EOF).
            Err(e) if !pidfd::wait_exit(&child.pidfd, 1000) => return Err(e),
            Err(_) => None,
        };
        match msg {
            Some(Message::Ready) => return Ok(child),
            Some(Message::Hooks) if opts.before_pivot.is_some() => {
                if let Some(f) = opts.before_pivot {
                    f(pid)?;
                }
                child.send(&Message::Continue)?;
            }
            Some(Message::SeccompFd(fd)) if opts.seccomp_agent.is_some() => {
                if let Some(f) = opts.seccomp_agent {
                    f(pid, &fd)?;
                }
                // The agent has its own now.
                drop(fd);
                child.send(&Message::Continue)?;
            }
            Some(Message::Failed(why)) => return Err(Error::new(why)),
            Some(other) => {
                return Err(Error::new(format!(
                    "unexpected {other:?} from the container init"
                )))
            }
            None => return Err(died_during_set_up(&child)),
        }
    }
}

/// The namespaces the init makes itself with unshare(2), once cloned, rather
/// than clone3 in the parent: the network namespace above all (about 1 ms of
/// kernel work here), which then overlaps with the parent making the cgroup.
/// Not with a user namespace, new or joined: which user namespace owns the
/// others depends on the order, and clone3 makes them all in the new one.
/// Not the network namespace when the parent moves linux.netDevices into
/// it before the init goes on.
fn made_by_init(plan: &Plan, has_net_devices: bool) -> CloneFlags {
    use oci_spec::runtime::LinuxNamespaceType;
    if plan.has(LinuxNamespaceType::User) {
        return CloneFlags::empty();
    }
    let mut f = plan.new
        & (CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWNET);
    if has_net_devices {
        f.remove(CloneFlags::CLONE_NEWNET);
    }
    f
}

/// The init went away without a word (its Failed message says why when it
/// can): say how it ended. A SIGKILL nobody sent is most often the OOM
/// killer, when linux.resources.memory.limit is below what set-up needs.
fn died_during_set_up(child: &Child) -> Error {
    use nix::sys::wait::{WaitPidFlag, WaitStatus};
    // EOF comes as the init exits; give it a moment to become a zombie.
    pidfd::wait_exit(&child.pidfd, 1000);
    let mut hint = "";
    let how = match waitpid(
        Pid::from_raw(child.identity.pid),
        Some(WaitPidFlag::WNOHANG),
    ) {
        Ok(WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)) => {
            hint = " (the OOM killer? check linux.resources.memory.limit)";
            "was killed by SIGKILL".to_string()
        }
        Ok(WaitStatus::Signaled(_, sig, _)) => format!("was killed by {sig}"),
        Ok(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
        _ => "exited".to_string(),
    };
    Error::new(format!("the container init {how} during set-up{hint}"))
}

fn write_id_maps(cfg: &Config, pid: i32) -> Result<()> {
    let linux = cfg.spec.linux().as_ref();
    let uid = namespaces::id_map(
        "linux.uidMappings",
        linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or(&[]),
    )?;
    let gid = namespaces::id_map(
        "linux.gidMappings",
        linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or(&[]),
    )?;
    write_proc(pid, "uid_map", &uid).context("linux.uidMappings")?;
    write_proc(pid, "gid_map", &gid).context("linux.gidMappings")
}

fn write_proc(pid: i32, name: &str, content: &str) -> Result<()> {
    let p = format!("/proc/{pid}/{name}");
    std::fs::write(Path::new(&p), content).with_context(|| format!("writing {p}"))
}
