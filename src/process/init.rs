//! The container's init: the child of `hutch create`, inside the new
//! namespaces. It builds the root filesystem, reports back, waits for `start`
//! on the exec fifo, and becomes the user's program. No re-exec of hutch: the
//! only execve is the user's.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sched::{unshare, CloneFlags};
use nix::unistd::{sethostname, setsid};

use super::channel::{Channel, Message};
use super::program::Program;
use super::terminal;
use crate::bail;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Point};
use crate::linux::capabilities::CapPlan;
use crate::linux::namespaces::Plan;
use crate::linux::seccomp::{Filter, LoadAt};
use crate::linux::{
    ioprio, memory_policy, namespaces, personality, resolve, rlimits, rootfs, scheduler, sys, user,
};
use crate::spec::Config;

/// Everything the init needs, prepared (and checked) by the parent before cloning.
pub struct Init<'a> {
    pub cfg: &'a Config,
    pub plan: &'a Plan,
    pub caps: &'a CapPlan,
    pub chan: Channel,
    /// The exec fifo, opened O_RDWR by the parent: reading it blocks until
    /// `start` writes a byte. A host file: closed before anything of the
    /// container's runs in the init.
    pub fifo: Option<File>,
    /// fds the child must close at once (the state directory lock: an flock is
    /// held as long as any fd of it is open, and it must die with `create`).
    pub close: Vec<RawFd>,
    /// Connected --console-socket: the pty master goes there.
    pub console: Option<&'a OwnedFd>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    pub cgroup: Option<&'a crate::cgroups::Cgroup>,
    /// The parent is making our (v1) cgroup while we set up, and sends its
    /// `tasks` files (Message::Cgroup) to move ourselves in with.
    pub cgroup_to_come: bool,
    /// The parent has work to do on us before we may go on (our id maps,
    /// linux.netDevices), and says Continue when done.
    pub wait_for_go: bool,
    /// Namespaces of plan.new that clone3 did not make: we unshare them
    /// (spawn::made_by_init says which and why).
    pub unshare: CloneFlags,
    pub seccomp: Option<&'a Filter>,
    pub id: &'a str,
    /// Ask the parent to run the prestart/createRuntime hooks before pivot_root.
    pub before_pivot: bool,
    /// Detached idmapped mounts to attach (linux::idmap).
    pub idmapped: &'a crate::linux::idmap::Mounts,
    /// Where errors after `create` has returned go, for `start` to report.
    pub errlog: File,
}

/// Run the init; never returns.
pub fn run(mut init: Init<'_>) -> ! {
    for fd in &init.close {
        let _ = nix::unistd::close(*fd);
    }
    let fifo = init.fifo.take();
    let prog = match setup(&init, fifo.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            let _ = init.chan.send(&Message::Failed(e.to_string()));
            sys::exit_now(1);
        }
    };
    // From here on the parent has returned: errors can only go to stderr.
    // The fifo stays open until the execve closes it (or we exit, after
    // writing why): that is what `start` waits for.
    let e = wait_and_exec(&init, fifo.as_ref(), prog);
    let _ = (&init.errlog).write_all(e.to_string().as_bytes());
    eprintln!("hutch: error: container init: {e}");
    sys::exit_now(127)
}

struct Prepared {
    /// `run` started us along with recording the state: no exec fifo to wait on.
    started: bool,
    program: Program,
    argv: Vec<CString>,
    env: Vec<CString>,
}

fn setup(init: &Init<'_>, fifo: Option<&File>) -> Result<Prepared> {
    let spec = &init.cfg.spec;
    // With a new user namespace, nothing happens in here before the parent
    // has written our id maps (nor before it moved linux.netDevices in).
    if init.wait_for_go {
        match init.chan.recv()? {
            Some(Message::Continue) => {}
            _ => bail!("create went away before placing the container init"),
        }
    }
    namespaces::join(init.plan)?;
    if !init.unshare.is_empty() {
        unshare(init.unshare)
            .with_context(|| format!("unshare of the new namespaces ({:?})", init.unshare))?;
    }
    if init.plan.has(oci_spec::runtime::LinuxNamespaceType::User) {
        // Become root of the user namespace: files we create (mount points,
        // device nodes) need an owner that is mapped in it.
        let root_g = nix::unistd::Gid::from_raw(0);
        let root_u = nix::unistd::Uid::from_raw(0);
        nix::unistd::setresgid(root_g, root_g, root_g)
            .context("setresgid(0) in the user namespace: is gid 0 mapped in linux.gidMappings?")?;
        nix::unistd::setresuid(root_u, root_u, root_u)
            .context("setresuid(0) in the user namespace: is uid 0 mapped in linux.uidMappings?")?;
    }
    setsid().context("setsid")?;
    // Non-dumpable since clone (set by the parent before it): nothing in the
    // container may open /proc/<us>/exe or ptrace us until our execve.

    // Until Ready the init reads its channel only around hooks, and building
    // the rootfs can take long (many mounts, copy-ups): were `create` killed
    // meanwhile, the init would carry on with no state naming it, and
    // `delete --force` would wait on its cgroup. Set after the credential
    // change above, which clears it; the check covers a `create` that died
    // before.
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .context("prctl(PR_SET_PDEATHSIG)")?;
    if init.chan.peer_gone() {
        bail!("create went away before the rootfs was built");
    }
    crate::testpoint::pause_at("building-rootfs");

    let entered = std::cell::Cell::new(false);
    let enter = || -> Result<()> {
        if entered.replace(true) {
            return Ok(());
        }
        enter_cgroup(init)
    };
    let cgroups = rootfs::CgroupView {
        cgroup: init.cgroup,
        own_ns: init.plan.has(oci_spec::runtime::LinuxNamespaceType::Cgroup),
        enter: &enter,
    };
    let mut mounts = rootfs::prepare(
        spec,
        &init.cfg.bundle,
        &init.cfg.rootfs,
        &cgroups,
        init.idmapped,
    )?;
    // Hooks find the init in its cgroup. Without one here, the init goes in
    // once its root is finished (below): by then the parent has made the v1
    // cgroup, so the init takes it without sleeping for it (a wake-up from
    // that sleep cost ~0.35 ms of `run`), and the masks and read-only paths
    // are made meanwhile.
    if init.before_pivot || hooks::any(spec.hooks().as_ref(), &[Point::CreateContainer]) {
        enter()?;
    }
    if init.before_pivot {
        init.chan.send(&Message::Hooks)?;
        match init.chan.recv()? {
            Some(Message::Continue) => {}
            _ => bail!("create went away while running the createRuntime hooks"),
        }
    }
    // In the container's namespaces, before pivot_root (config.md).
    run_hooks(init, Point::CreateContainer, "creating")?;
    rootfs::switch_root(&init.cfg.rootfs, init.no_pivot)?;
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        sethostname(h).with_context(|| format!("hostname {h:?}: sethostname"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        crate::linux::sys::setdomainname(d)
            .with_context(|| format!("domainname {d:?}: setdomainname"))?;
    }
    crate::linux::sysctl::apply(spec, &mut mounts)?;
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        write_oom_score_adj(adj, &mut mounts)?;
    }
    // Before finish: /dev/console is bound while / may still be written.
    if let Some(sock) = init.console {
        let size = spec
            .process()
            .as_ref()
            .and_then(|p| p.console_size())
            .map(|b| (b.height() as u16, b.width() as u16));
        let pty = terminal::setup(sock, size)?;
        terminal::bind_console(&pty)?;
    }
    rootfs::finish(spec, mounts)?;
    // At the latest here: nothing of the container runs outside its cgroup,
    // and the settings below (a real-time policy, a memory policy) are
    // checked against it.
    enter()?;

    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::new("process: missing"))?;
    let cwd = process.cwd();
    resolve::chdir_in_root(cwd).with_context(|| format!("process.cwd {}", cwd.display()))?;
    let env: Vec<CString> = process
        .env()
        .iter()
        .flatten()
        .map(|e| cstring(e))
        .collect::<Result<_>>()?;
    let args = process.args().as_deref().unwrap_or(&[]);
    let argv: Vec<CString> = args.iter().map(|a| cstring(a)).collect::<Result<_>>()?;
    let program = Program::find(&args[0], process.env().as_deref().unwrap_or(&[]))?;

    if let Some(limits) = process.rlimits() {
        rlimits::apply(limits)?;
    }
    // Here, while the init still has its capabilities (CAP_SYS_NICE for a
    // real-time policy or a negative nice), and before `create` returns, so
    // that what the kernel refuses fails `create`. execCPUAffinity is for
    // exec'd processes only (config.md).
    if let Some(s) = process.scheduler() {
        scheduler::apply(s)?;
    }
    if let Some(io) = process.io_priority() {
        ioprio::apply(io)?;
    }
    // Before any seccomp filter, which may not allow personality(2).
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        personality::apply(p)?;
    }
    // Last of the kernel settings, so that little of the init's own memory
    // is placed by it; before any seccomp filter, which may not allow it.
    if let Some(m) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        memory_policy::apply(m)?;
    }

    // A filter with a listener goes on before `create` returns, which must
    // have handed its fd to the agent by then (config-linux.md); the drop
    // of privileges around it with it.
    if init.seccomp.is_some_and(|f| f.listener().is_some()) {
        drop_privileges(init, process, &[program.fds(), [fd_of(fifo), -1]].concat())?;
    }
    // From Ready on, `create` (or `run`) may exit: the init must outlive it.
    // A `create` killed from here on closes the channel we wait on.
    nix::sys::prctl::set_pdeathsig(None).context("prctl(PR_SET_PDEATHSIG, 0)")?;
    init.chan.send(&Message::Ready)?;
    let started = match init.chan.recv()? {
        Some(Message::Recorded) => false,
        Some(Message::Start) => true,
        _ => bail!("create went away before recording the container"),
    };
    Ok(Prepared {
        started,
        program,
        argv,
        env,
    })
}

/// Into our cgroup (on v1, with the `tasks` files the parent sends once it
/// has made it; on v2 we were cloned into it), then into a new cgroup
/// namespace if the config asks: its root is the cgroup we are in then.
/// Called before the first `cgroup` mount or tmpcopyup, at the latest once
/// the mounts are made. The kernel memory of what is made before (the
/// namespaces, mounts) is charged to the runtime's cgroup; a tmpcopyup's
/// pages, which can be many, are copied from inside.
fn enter_cgroup(init: &Init<'_>) -> Result<()> {
    if init.cgroup_to_come {
        match init.chan.recv()? {
            Some(Message::Cgroup(tasks)) => crate::cgroups::join_self(&tasks)?,
            _ => bail!("create went away before making the container's cgroup"),
        }
    }
    if init.plan.new.contains(CloneFlags::CLONE_NEWCGROUP) {
        unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare of the cgroup namespace")?;
    }
    Ok(())
}

/// Returns only on failure.
fn wait_and_exec(init: &Init<'_>, fifo: Option<&File>, prog: Prepared) -> Error {
    let spec = &init.cfg.spec;
    let Some(process) = spec.process().as_ref() else {
        return Error::new("process: missing");
    };
    let go = || -> Result<()> {
        if init.seccomp.is_none_or(|f| f.listener().is_none()) {
            drop_privileges(
                init,
                process,
                &[prog.program.fds(), [fd_of(fifo), -1]].concat(),
            )?;
        }
        if !prog.started {
            if let Some(f) = fifo {
                wait_for_start(f)?;
            }
        }
        Ok(())
    };
    if let Err(e) = go() {
        return e;
    }
    // The host files left are init.errlog (to report a failed execve to
    // `start`: a regular file, not executable) and the exec fifo, which
    // close-on-exec closes at the execve, telling `start` (or `run`) that
    // the program runs: neither can be walked through.
    crate::testpoint::pause_at("program-exec");
    // As the program's user, in its root, just before its execve.
    if let Err(e) = run_hooks(init, Point::StartContainer, "created") {
        return e;
    }
    sys::reset_signals();
    if let Some(f) = init.seccomp {
        if load_at(f, process, init.caps) == LoadAt::BeforeExecve {
            if let Err(e) = load_seccomp(f, &init.chan) {
                return e;
            }
        }
    }
    prog.program.exec(&prog.argv, &prog.env)
}

/// The raw fd of an optional file, -1 (no fd) without one.
fn fd_of(f: Option<&File>) -> RawFd {
    f.map_or(-1, |f| f.as_raw_fd())
}

/// process.oomScoreAdj, written as sysctls are: beneath the procfs hutch
/// mounted, by fd, since a neighbour sharing the rootfs may have moved
/// `/proc` away meanwhile (the value would then go to its file).
fn write_oom_score_adj(adj: i32, mounts: &mut rootfs::Made) -> Result<()> {
    let what = || format!("process.oomScoreAdj {adj}: /proc/self/oom_score_adj");
    let root = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context("opening the new root")?;
    let fd = mounts
        .open_held(
            &root,
            std::path::Path::new("/proc/self/oom_score_adj"),
            nix::fcntl::OFlag::O_WRONLY,
        )
        .with_context(what)?
        .ok_or_else(|| Error::new(format!("{}: missing", what())))?;
    File::from(fd)
        .write_all(adj.to_string().as_bytes())
        .with_context(what)
}

/// Block until `start` writes its byte to the exec fifo.
fn wait_for_start(mut fifo: &File) -> Result<()> {
    let mut byte = [0u8; 1];
    loop {
        match fifo.read(&mut byte) {
            Ok(1) => return Ok(()),
            Ok(_) => bail!("exec fifo closed without a start"),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from(e).context("reading the exec fifo")),
        }
    }
}

fn load_at(f: &Filter, p: &oci_spec::runtime::Process, caps: &CapPlan) -> LoadAt {
    f.load_at(p.no_new_privileges().unwrap_or(false), caps)
}

/// Become the program's user with its capabilities, and load the seccomp
/// filter unless that is left for right before execve. `keep`: our own fds
/// still needed until the execve (the program's, the exec fifo).
fn drop_privileges(
    init: &Init<'_>,
    process: &oci_spec::runtime::Process,
    keep: &[RawFd],
) -> Result<()> {
    // Nothing of the runtime's past crosses into the program but stdio and the
    // fds the caller asked to pass (--preserve-fds): the rest is closed now,
    // not at execve, since the kernel resolves a script's interpreter or an
    // ELF's PT_INTERP (`/proc/self/fd/N/..`) with close-on-exec fds still
    // open. Done before an early filter is loaded: older profiles (docker's,
    // runtime-tools') deny close_range.
    let mut keep = [keep, &[init.chan.raw_fd(), init.errlog.as_raw_fd()]].concat();
    sys::close_from_except(3u32.saturating_add(init.preserve_fds), &mut keep)
        .context("close_range of the runtime's fds")?;
    let at = init.seccomp.map(|f| (f, load_at(f, process, init.caps)));
    if let Some((f, LoadAt::BeforeDrop)) = at {
        load_seccomp(f, &init.chan)?;
    }
    init.caps.apply_bounding()?;
    user::apply(
        process.user(),
        init.caps.keep_across_setuid(process.user().uid()),
    )?;
    init.caps.apply_rest()?;
    if process.no_new_privileges().unwrap_or(false) {
        nix::sys::prctl::set_no_new_privs().context("process.noNewPrivileges: prctl")?;
    }
    if let Some((f, LoadAt::AfterDrop)) = at {
        load_seccomp(f, &init.chan)?;
    }
    Ok(())
}

/// Load the filter on the calling process. With a listener, hand its fd to
/// the runtime and wait until the agent has it, so that every notified
/// syscall from here on has an agent to answer it (the handover's own
/// sendmsg may not be notified: seccomp::build refuses that). Then our copy
/// is closed: a container process holding its own listener could answer
/// for the agent.
pub fn load_seccomp(f: &Filter, chan: &Channel) -> Result<()> {
    let Some(fd) = f.load()? else {
        return Ok(());
    };
    let msg = Message::SeccompFd(fd);
    chan.send(&msg)?;
    let answer = chan.recv()?;
    drop(msg);
    match answer {
        Some(Message::Continue) => Ok(()),
        _ => bail!("the runtime went away while handing the seccomp listener fd to the agent"),
    }
}

/// Hooks the init runs itself, with the state as the container sees it.
fn run_hooks(init: &Init<'_>, point: Point, status: &str) -> Result<()> {
    let spec = &init.cfg.spec;
    if !hooks::any(spec.hooks().as_ref(), &[point]) {
        return Ok(());
    }
    let state = hooks::state_json(
        init.id,
        status,
        nix::unistd::getpid().as_raw(),
        &init.cfg.bundle,
        &spec.annotations().clone().unwrap_or_default(),
    );
    let env = spec.process().as_ref().and_then(|p| p.env().as_deref());
    hooks::run_with_env(
        spec.hooks().as_ref(),
        point,
        &state,
        Some(env.unwrap_or(&[])),
    )
}

pub fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(format!("{s:?} contains a NUL byte")))
}
