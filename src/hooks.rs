//! `hooks`: programs run at points of the lifecycle (runtime.md, config.md),
//! each with the container's state as JSON on stdin.
//!
//! Where each runs: prestart, createRuntime, poststart and poststop in the
//! runtime namespace, run by hutch itself; createContainer (before
//! pivot_root) and startContainer (just before the program's execve) by the
//! container's init, in the container's namespaces. Failure of any but
//! poststop fails the operation; poststop failures are warnings.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};
use serde_json::json;

use crate::bail;
use crate::error::{Error, Result};

/// The lifecycle points, by their config.json names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Point {
    pub fn name(self) -> &'static str {
        match self {
            Point::Prestart => "prestart",
            Point::CreateRuntime => "createRuntime",
            Point::CreateContainer => "createContainer",
            Point::StartContainer => "startContainer",
            Point::Poststart => "poststart",
            Point::Poststop => "poststop",
        }
    }

    pub fn of(self, hooks: &Hooks) -> &[Hook] {
        #[allow(deprecated)]
        let list = match self {
            Point::Prestart => hooks.prestart(),
            Point::CreateRuntime => hooks.create_runtime(),
            Point::CreateContainer => hooks.create_container(),
            Point::StartContainer => hooks.start_container(),
            Point::Poststart => hooks.poststart(),
            Point::Poststop => hooks.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }
}

const ALL: [Point; 6] = [
    Point::Prestart,
    Point::CreateRuntime,
    Point::CreateContainer,
    Point::StartContainer,
    Point::Poststart,
    Point::Poststop,
];

/// Whether any hook is listed for one of `points`.
pub fn any(hooks: Option<&Hooks>, points: &[Point]) -> bool {
    hooks.is_some_and(|h| points.iter().any(|p| !p.of(h).is_empty()))
}

/// Schema checks, at create: absolute paths, positive timeouts.
pub fn validate(hooks: &Hooks) -> Result<()> {
    for p in ALL {
        for (i, h) in p.of(hooks).iter().enumerate() {
            if !h.path().is_absolute() {
                bail!(
                    "hooks.{}[{i}].path {:?} must be an absolute path",
                    p.name(),
                    h.path()
                );
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                bail!(
                    "hooks.{}[{i}].timeout {}: must be greater than zero",
                    p.name(),
                    h.timeout().unwrap_or(0)
                );
            }
        }
    }
    Ok(())
}

/// The state given to hooks on stdin (runtime.md "State").
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &std::collections::HashMap<String, String>,
) -> Vec<u8> {
    let v = state_value(id, status, pid, bundle, annotations);
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The state of runtime.md, as a JSON value (also part of what a seccomp
/// agent is sent).
pub fn state_value(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &std::collections::HashMap<String, String>,
) -> serde_json::Value {
    json!({
        "ociVersion": crate::commands::state::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
}

/// Run the hooks of `point` in order; the first failure stops them. A hook
/// without `env` gets the runtime's environment, as runc's do.
pub fn run(hooks: Option<&Hooks>, point: Point, state: &[u8]) -> Result<()> {
    run_with_env(hooks, point, state, None)
}

/// `run`, where a hook without `env` gets `env` instead: the container
/// process's environment for the hooks the init runs, as runc's init has
/// it by then.
pub fn run_with_env(
    hooks: Option<&Hooks>,
    point: Point,
    state: &[u8],
    env: Option<&[String]>,
) -> Result<()> {
    let Some(hooks) = hooks else { return Ok(()) };
    for (i, h) in point.of(hooks).iter().enumerate() {
        run_one(h, state, env).map_err(|e| {
            e.context(format!(
                "hooks.{}[{i}] {}",
                point.name(),
                h.path().display()
            ))
        })?;
    }
    Ok(())
}

/// Run every hook of `point`; failures are warnings (poststop).
pub fn run_warn(hooks: Option<&Hooks>, point: Point, state: &[u8]) {
    let Some(hooks) = hooks else { return };
    for (i, h) in point.of(hooks).iter().enumerate() {
        if let Err(e) = run_one(h, state, None) {
            let msg = format!("hooks.{}[{i}] {}: {e}", point.name(), h.path().display());
            log::warn!("{msg}");
            eprintln!("hutch: warning: {msg}");
        }
    }
}

fn run_one(h: &Hook, state: &[u8], default_env: Option<&[String]>) -> Result<()> {
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    let env = match (h.env().as_deref(), default_env) {
        (Some(e), _) | (None, Some(e)) => Some(e),
        (None, None) => None,
    };
    if env.is_some() {
        cmd.env_clear();
    }
    for e in env.iter().copied().flatten() {
        match e.split_once('=') {
            Some((k, v)) => cmd.env(k, v),
            None => cmd.env(e, ""),
        };
    }
    // stderr is kept for the error message (a hook that writes more than a
    // pipe holds before exiting would wait for its timeout); stdout is
    // nobody's.
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // startContainer hooks run in the init, under an early seccomp filter.
    crate::linux::sys::spawn_by_fork(&mut cmd);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::from(e).context("spawning"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook need not read its stdin: EPIPE is fine.
        let _ = stdin.write_all(state);
    }
    let timeout = h.timeout().map(|t| Duration::from_secs(t as u64));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(Error::from)? {
            break s;
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {}s", timeout.unwrap_or_default().as_secs());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.by_ref().take(4096).read_to_string(&mut err);
    }
    let err = err.split_whitespace().collect::<Vec<_>>().join(" ");
    if err.is_empty() {
        bail!("failed: {status}");
    }
    bail!("failed: {status}: {err}")
}
