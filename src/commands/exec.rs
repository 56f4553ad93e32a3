//! `hutch exec`: run another process in a running container.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::{Capability, LinuxCapabilities, Process};

use super::Global;
use crate::bail;
use crate::error::{Context, Error, Result};
use crate::hooks;
use crate::linux::{capabilities, rlimits, seccomp_listener};
use crate::process::exec::{self, ExecSpec};
use crate::process::tty_proxy::{self, Proxy};
use crate::process::{terminal, wait};
use crate::state::{ContainerDir, Status};

pub struct Exec {
    pub id: String,
    pub process_file: Option<PathBuf>,
    pub args: Vec<String>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<String>,
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub ignore_paused: bool,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    /// `--cgroup [CONTROLLER[,CONTROLLER]:]PATH`, repeatable.
    pub cgroups: Vec<String>,
}

/// Returns the exit code to leave with.
pub fn run(g: &Global, e: &Exec) -> Result<i32> {
    // We are about to enter the container: run from a copy nothing in there can rewrite.
    crate::linux::sealed_exe::ensure(&g.root)?;
    let dir = ContainerDir::open_existing(&g.root, &e.id, false)?;
    let state = dir.load_existing()?;
    match dir.status(&state) {
        Status::Stopped => bail!("cannot exec in container {}: it has stopped", e.id),
        Status::Paused if !e.ignore_paused => bail!(
            "cannot exec in container {}: it is paused (--ignore-paused to exec anyway)",
            e.id
        ),
        _ => {}
    }
    let Some(init) = state.init.open_alive() else {
        bail!("cannot exec in container {}: it is not running", e.id);
    };
    let sub_cgroup = match &state.cgroup {
        _ if e.cgroups.is_empty() => crate::cgroups::Sub::default(),
        Some(cg) => crate::cgroups::Sub::parse(&e.cgroups, cg.version, &cg.dirs)?,
        None => bail!("--cgroup: container {} has no cgroup", e.id),
    };
    let process = build_process(&state.bundle, &state.config_digest, e)?;
    super::create::reject_unsupported_process(&process)?;
    crate::linux::user::check(process.user())?;
    // A --process without capabilities gets the container's, as in runc;
    // a container without any gives none.
    let caps = capabilities::plan(
        process
            .capabilities()
            .as_ref()
            .or(state.capabilities.as_ref()),
    )?;
    rlimits::validate(process.rlimits().as_deref().unwrap_or(&[]))?;
    let affinity = super::create::check_process(&process)?;
    // The container's filter holds for every process in it.
    let filter = match &state.seccomp {
        Some(s) => Some(crate::linux::seccomp::build(s)?),
        None => None,
    };
    let terminal = process.terminal().unwrap_or(false);
    // In the foreground without --console-socket, the terminal is ours to
    // proxy (as runc does).
    let mut own_tty = None;
    let console = match (&e.console_socket, terminal) {
        (Some(p), true) => Some(terminal::connect_socket(p)?),
        (None, true) if !e.detach => {
            let (theirs, ours) = tty_proxy::socket_pair()?;
            own_tty = Some(ours);
            Some(theirs)
        }
        (None, true) => {
            bail!("a detached terminal (--tty or process.terminal) needs --console-socket")
        }
        (Some(_), false) => bail!("--console-socket given without a terminal (--tty)"),
        (None, false) => None,
    };
    let signals = if e.detach {
        None
    } else {
        Some(wait::block_forwarded()?)
    };
    // The filter notifies: the process's listener fd goes to the agent
    // before it runs the program.
    let listener = filter.as_ref().and_then(|f| f.listener());
    let status = dir.status(&state);
    let send_to_agent = |pid: i32, fd: &OwnedFd| -> Result<()> {
        let Some(l) = listener else {
            bail!("linux.seccomp: a listener fd came from a filter without listenerPath");
        };
        let st = hooks::state_value(
            &state.id,
            status.as_str(),
            state.init.pid,
            &state.bundle,
            &state.annotations,
        );
        let payload = seccomp_listener::process_state(l, pid, st);
        seccomp_listener::send_to_agent(l, &payload, fd)
    };
    let (pid, pidfd) = exec::spawn(ExecSpec {
        init: &init,
        init_pid: state.init.pid,
        process: &process,
        caps: &caps,
        seccomp: filter.as_ref(),
        personality: state.personality.as_ref(),
        memory_policy: state.memory_policy.as_ref(),
        affinity: &affinity,
        console,
        preserve_fds: e.preserve_fds,
        cgroup: state.cgroup.as_ref(),
        sub_cgroup: &sub_cgroup,
        lock: Some(dir),
        seccomp_agent: listener.map(|_| &send_to_agent as &seccomp_listener::SendFd),
    })?;
    if let Some(p) = &e.pid_file {
        super::create::write_pid_file(p, pid)?;
    }
    let mut tty = own_tty.map(Proxy::start).transpose()?;
    let code = match signals {
        None => 0,
        Some(s) => wait::wait_forwarding(pid, &pidfd, &s, tty.as_mut())?,
    };
    if let Some(t) = tty {
        t.finish();
    }
    Ok(code)
}

/// The process to run: --process FILE as is, or the container's own process
/// with the command line's changes.
fn build_process(bundle: &std::path::Path, digest: &str, e: &Exec) -> Result<Process> {
    if let Some(path) = &e.process_file {
        let bytes = crate::spec::read_json_file(path).context("--process")?;
        let p = crate::spec::parse_process(&bytes)
            .with_context(|| format!("--process {}", path.display()))?;
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            bail!("--process {}: args: missing or empty", path.display());
        }
        if !p.cwd().is_absolute() {
            bail!(
                "--process {}: cwd {:?} must be an absolute path",
                path.display(),
                p.cwd()
            );
        }
        return Ok(p);
    }
    if e.args.is_empty() {
        bail!("exec: no command given (COMMAND [ARGS...] or --process FILE)");
    }
    let config = bundle.join("config.json");
    let bytes = crate::spec::read_json_file(&config)?;
    if crate::digest::sha256_hex(&bytes) != digest {
        bail!(
            "{} changed since the container was created; pass --process instead",
            config.display()
        );
    }
    let spec = crate::spec::parse(&bytes).with_context(|| config.display())?;
    let mut p = spec
        .process()
        .clone()
        .ok_or_else(|| Error::new("config.json has no process"))?;
    p.set_args(Some(e.args.clone()));
    p.set_terminal(Some(e.tty));
    if let Some(cwd) = &e.cwd {
        if !cwd.is_absolute() {
            bail!("--cwd {cwd:?}: expected an absolute path in the container");
        }
        p.set_cwd(cwd.clone());
    }
    if !e.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        for kv in &e.env {
            let key = kv.split('=').next().unwrap_or("");
            env.retain(|old| old.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p.set_env(Some(env));
    }
    if let Some(u) = &e.user {
        let (uid, gid) = match u.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (u.as_str(), None),
        };
        let parse = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| Error::new(format!("--user {u:?}: expected UID[:GID] as numbers")))
        };
        let mut user = p.user().clone();
        user.set_uid(parse(uid)?);
        user.set_gid(gid.map(parse).transpose()?.unwrap_or(0));
        p.set_user(user);
    }
    if !e.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(e.additional_gids.clone()));
        p.set_user(user);
    }
    if !e.caps.is_empty() {
        // Added to the process's own sets; without any, to empty ones
        // (LinuxCapabilities::default() is `spec`'s three).
        let mut caps = p.capabilities().clone().unwrap_or_else(|| {
            let mut none = LinuxCapabilities::default();
            none.set_bounding(None);
            none.set_effective(None);
            none.set_permitted(None);
            none.set_inheritable(None);
            none.set_ambient(None);
            none
        });
        for name in &e.caps {
            let cap: Capability =
                serde_json::from_value(serde_json::Value::String(name.clone()))
                    .map_err(|_| Error::new(format!("--cap {name:?}: unknown capability")))?;
            for set in [
                caps.bounding().clone(),
                caps.effective().clone(),
                caps.permitted().clone(),
                caps.inheritable().clone(),
                caps.ambient().clone(),
            ]
            .iter()
            .enumerate()
            {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    2 => caps.set_permitted(Some(s)),
                    3 => caps.set_inheritable(Some(s)),
                    _ => caps.set_ambient(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(caps));
    }
    if e.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &e.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &e.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}
