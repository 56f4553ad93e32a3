//! `hutch create`: set the container up and leave its init waiting for `start`.

use std::os::fd::AsRawFd;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::Global;
use crate::bail;
use crate::cgroups::{self, Cgroup};
use crate::error::{Context, Result};
use crate::hooks::{self, Point};
use crate::linux::capabilities::{self, CapPlan};
use crate::linux::{
    cpu_affinity, idmap, ioprio, memory_policy, mount_options, namespaces, net_devices,
    personality, rlimits, scheduler, seccomp, seccomp_listener, sysctl,
};
use crate::process::spawn::{self, Options};
use crate::process::terminal;
use crate::spec;
use crate::state::{validate_id, ContainerDir, State};

pub struct Create {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub preserve_fds: u32,
}

pub fn run(g: &Global, c: &Create) -> Result<()> {
    create(g, c).map(|_| ())
}

/// A container just created, still locked by us (for `run`).
pub struct Created {
    pub dir: ContainerDir,
    pub state: State,
    pub pidfd: OwnedFd,
    /// Whether process.terminal made a pty (its master went to the console).
    pub terminal: bool,
    /// Whether the container was started too (see `create_with_tty`), and
    /// then a read end of the exec fifo, opened before the init was told
    /// to go on: it hangs up at the program's execve (start::Starting).
    pub exec_watch: Option<std::fs::File>,
}

pub fn create(g: &Global, c: &Create) -> Result<Created> {
    create_with_tty(g, c, None, false)
}

/// `own_tty`: where the init sends the terminal master when there is no
/// --console-socket (foreground `run`, see process::tty_proxy).
/// `start`: `run`'s start too, in the same message that lets the init go on,
/// when no hook runs at start (start::begin does those); Created::exec_watch
/// says whether it was.
pub fn create_with_tty(
    g: &Global,
    c: &Create,
    own_tty: Option<OwnedFd>,
    start: bool,
) -> Result<Created> {
    validate_id(&c.id)?;
    let cfg = spec::load(&c.bundle)?;
    let spec = &cfg.spec;
    reject_unsupported(spec)?;
    let plan = namespaces::plan(spec)?;
    let caps = check(spec, |ns| plan.has(ns))?;
    if let Some(m) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        memory_policy::check_host(m, &memory_policy::policy(m)?)?;
    }
    if let Some(d) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) {
        net_devices::check_host(d, &plan)?;
    }
    if plan.join_pid.is_some() {
        // The init will be visible to the processes already in that PID
        // namespace while it is still hutch's image (see linux::sealed_exe).
        crate::linux::sealed_exe::ensure(&g.root)?;
    }
    let version = cgroups::detect()?;
    let wanted = cgroups::wanted(spec, &c.id)?;
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    if let Some(r) = resources {
        cgroups::validate(r, version)?;
    }
    let filter = match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(seccomp::build(s)?),
        None => None,
    };

    let hooks = spec.hooks().as_ref();
    if let Some(h) = hooks {
        hooks::validate(h)?;
    }
    let annotations = spec.annotations().clone().unwrap_or_default();
    // prestart and createRuntime: in our namespaces, once the container's
    // mounts are made and before it pivots into them. The environment is
    // created (lifecycle step 2 is over), so the state they read says
    // "created", as runc's does and the OCI validation suite expects.
    let create_hooks = |pid: i32| -> Result<()> {
        let state = hooks::state_json(&c.id, "created", pid, &cfg.bundle, &annotations);
        hooks::run(hooks, Point::Prestart, &state)?;
        hooks::run(hooks, Point::CreateRuntime, &state)
    };
    let before_pivot: Option<&dyn Fn(i32) -> Result<()>> =
        hooks::any(hooks, &[Point::Prestart, Point::CreateRuntime]).then_some(&create_hooks);
    // The init's filter notifies: its listener fd goes to the agent while
    // the container is still being created.
    let listener = filter.as_ref().and_then(|f| f.listener());
    let send_to_agent = |pid: i32, fd: &OwnedFd| -> Result<()> {
        let Some(l) = listener else {
            bail!("linux.seccomp: a listener fd came from a filter without listenerPath");
        };
        let state = hooks::state_value(&c.id, "creating", pid, &cfg.bundle, &annotations);
        let payload = seccomp_listener::process_state(l, pid, state);
        seccomp_listener::send_to_agent(l, &payload, fd)
    };
    let seccomp_agent: Option<&seccomp_listener::SendFd> =
        listener.is_some().then_some(&send_to_agent);

    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    // Not with hooks at start (start::start runs those, and waits for the
    // exec), nor with a terminal, whose output the caller must be reading
    // before the program runs.
    let started =
        start && !terminal && !hooks::any(hooks, &[Point::StartContainer, Point::Poststart]);
    let console = match (&c.console_socket, terminal) {
        (Some(path), true) => Some(terminal::connect_socket(path)?),
        (None, true) if own_tty.is_some() => own_tty,
        (None, true) => {
            bail!("process.terminal is true: --console-socket is required to receive the terminal")
        }
        (Some(_), false) => bail!("--console-socket given but process.terminal is false"),
        (None, false) => None,
    };

    let idmapped = idmap::prepare(spec, &cfg.bundle, plan.has(LinuxNamespaceType::User))?;
    let dir = ContainerDir::create(&g.root, &c.id)?;
    crate::testpoint::pause_at("state-dir");
    let mut cgroup = None;
    let result = (|| {
        let planned = Cgroup::plan(version, &wanted)?;
        dir.record_cgroup_plan(&planned)?;
        // Recorded, so that a failure from here on removes what was made.
        let cg: &Cgroup = cgroup.insert(planned);
        let make = || -> Result<Vec<std::fs::File>> {
            cg.make()?;
            cg.apply_new(resources)?;
            cg.open_v1_tasks(&crate::cgroups::Sub::default())
        };
        let before_clone = cg.made_before_clone();
        if before_clone {
            make()?;
        }
        let v2_dir = cg.open_v2_dir(&crate::cgroups::Sub::default())?;
        let opts = Options {
            console,
            no_pivot: c.no_pivot,
            preserve_fds: c.preserve_fds,
            cgroup_fd: v2_dir.as_ref().map(|f| f.as_raw_fd()),
            make_v1_cgroup: (!before_clone).then_some(&make),
            cgroup: Some(cg),
            seccomp: filter.as_ref(),
            before_pivot,
            seccomp_agent,
            idmapped: &idmapped,
        };
        let child = spawn::spawn(&cfg, &plan, &caps, &dir, dir.lock_fd(), opts)?;
        crate::testpoint::pause_at("rootfs-ready");
        let state = State {
            id: c.id.clone(),
            init: child.identity.clone(),
            bundle: cfg.bundle.clone(),
            rootfs: cfg.rootfs.clone(),
            created: crate::time::now_rfc3339(),
            config_digest: cfg.digest.clone(),
            annotations: annotations.clone(),
            own_pid_ns: plan.new.contains(nix::sched::CloneFlags::CLONE_NEWPID),
            cgroup: Some(cg.clone()),
            hooks: spec.hooks().clone(),
            seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
            capabilities: spec
                .process()
                .as_ref()
                .and_then(|p| p.capabilities().clone()),
            personality: spec.linux().as_ref().and_then(|l| l.personality().clone()),
            memory_policy: spec
                .linux()
                .as_ref()
                .and_then(|l| l.memory_policy().clone()),
        };
        dir.save(&state)?;
        if let Some(p) = &c.pid_file {
            write_pid_file(p, state.init.pid)?;
        }
        let exec_watch = if started {
            let fifo = dir.file(crate::state::EXEC_FIFO);
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&fifo)
                .with_context(|| format!("opening {}", fifo.display()))?;
            Some(f)
        } else {
            None
        };
        // Only now may the init go on: if we die before this, it exits on EOF.
        let pidfd = child.release(started)?;
        crate::testpoint::pause_at("waiting-for-start");
        Ok((state, pidfd, exec_watch))
    })();
    match result {
        Ok((state, pidfd, exec_watch)) => Ok(Created {
            dir,
            state,
            pidfd,
            terminal,
            exec_watch,
        }),
        Err(e) => {
            // The Child guard has killed and reaped the init; take its cgroup
            // and the directory too.
            if let Some(cg) = &cgroup {
                let _ = cg.remove();
            }
            let _ = dir.remove();
            // The container existed in part: runtime.md goes on to poststop.
            if hooks::any(hooks, &[Point::Poststop]) {
                let state = hooks::state_json(&c.id, "stopped", 0, &cfg.bundle, &annotations);
                hooks::run_warn(hooks, Point::Poststop, &state);
            }
            Err(e)
        }
    }
}

/// The checks of a config that need nothing but the config (and which
/// namespaces the container will have): run before anything is created, and
/// by the config fuzzer (src/fuzz.rs).
pub fn check(spec: &Spec, has: impl Fn(LinuxNamespaceType) -> bool) -> Result<CapPlan> {
    sysctl::validate(spec, &has)?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        mount_options::validate(i, m.options().as_deref().unwrap_or(&[]))?;
    }
    let process = spec.process().as_ref();
    let caps = capabilities::plan(process.and_then(|p| p.capabilities().as_ref()))?;
    // A user namespace (new or joined) gives the init every capability in
    // it, whatever hutch holds.
    if !has(LinuxNamespaceType::User) {
        caps.check_held()?;
    }
    rlimits::validate(process.and_then(|p| p.rlimits().as_deref()).unwrap_or(&[]))?;
    idmap::check(spec, has(LinuxNamespaceType::User))?;
    if let Some(p) = process {
        check_process(p)?;
    }
    if let Some(p) = spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
        personality::persona(p)?;
    }
    if let Some(m) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        memory_policy::policy(m)?;
    }
    if let Some(d) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()) {
        net_devices::check(d)?;
    }
    Ok(caps)
}

/// The process fields `exec` applies too: checked at create (for the init,
/// and for `exec` without --process, which runs this process), and by exec,
/// which gets the parsed execCPUAffinity.
pub fn check_process(p: &Process) -> Result<cpu_affinity::Plan> {
    if let Some(s) = p.scheduler() {
        scheduler::attr(s)?;
    }
    if let Some(io) = p.io_priority() {
        ioprio::value(io)?;
    }
    match p.exec_cpu_affinity() {
        Some(a) => cpu_affinity::plan(a),
        None => Ok(cpu_affinity::Plan::default()),
    }
}

/// Fields we cannot apply yet are refused by name: a silently ignored field
/// is a hole in isolation.
pub fn reject_unsupported(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        reject_unsupported_process(p)?;
    }
    if let Some(l) = spec.linux() {
        let unsupported = [("linux.intelRdt", l.intel_rdt().is_some())];
        for (name, present) in unsupported {
            if present {
                bail!("{name} is not supported yet");
            }
        }
        // Without SELinux in the kernel a mount label has nothing to apply
        // to and no policy to enforce it: ignored, as runc does (the OCI
        // validation suite's linux_mount_label expects that). Where SELinux
        // runs, hutch cannot label mounts and says so.
        if l.mount_label().as_deref().is_some_and(|s| !s.is_empty()) && selinux_in_kernel() {
            bail!(
                "linux.mountLabel: SELinux is enabled on this host and hutch cannot label mounts"
            );
        }
    }
    Ok(())
}

/// The process fields hutch cannot apply, for create and for exec (where
/// --process, --apparmor and --process-label can set them).
pub fn reject_unsupported_process(p: &Process) -> Result<()> {
    if p.apparmor_profile()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        bail!("process.apparmorProfile: AppArmor is not supported by hutch on this host");
    }
    if p.selinux_label().as_deref().is_some_and(|s| !s.is_empty()) {
        bail!("process.selinuxLabel: SELinux is not supported by hutch on this host");
    }
    Ok(())
}

/// Whether the running kernel has SELinux: its filesystem is registered
/// only when SELinux is enabled at boot.
fn selinux_in_kernel() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .map(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some("selinuxfs"))
        })
        // Unknown: refuse rather than ignore.
        .unwrap_or(true)
}

/// Written as runc writes it, to a temporary file renamed over the final
/// name, but the directory may be shared with someone less trusted who
/// plants symlinks at any name in it: all goes through one fd of the
/// directory, the temporary file is made with O_EXCL|O_NOFOLLOW under a name
/// nobody can foresee, and rename(2) replaces a symlink at the final name
/// rather than following it. No fsync (runc's O_SYNC): the PID is of a
/// process that a crash takes along, and the rename already keeps readers
/// from seeing half a file.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    use nix::fcntl::{openat, renameat, OFlag, AT_FDCWD};
    use nix::sys::stat::Mode;
    use std::io::Write;
    let what = || format!("--pid-file {}", path.display());
    let Some(name) = path.file_name() else {
        bail!("--pid-file {}: not a file name", path.display());
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let dir = openat(
        AT_FDCWD,
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("{}: opening its directory", what()))?;
    let tmp = format!(".hutch-pid-{:016x}", crate::state::nonce());
    let file = openat(
        &dir,
        tmp.as_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .with_context(|| format!("{}: creating {tmp} next to it", what()))?;
    let written = std::fs::File::from(file)
        .write_all(pid.to_string().as_bytes())
        .map_err(crate::error::Error::from)
        .and_then(|()| renameat(&dir, tmp.as_str(), &dir, name).map_err(Into::into));
    written.map_err(|e| {
        let _ = nix::unistd::unlinkat(&dir, tmp.as_str(), nix::unistd::UnlinkatFlags::NoRemoveDir);
        e.context(what())
    })
}
