//! `hutch start`: let a created container's init exec the user's program.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use super::Global;
use crate::bail;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Point};
use crate::linux::pidfd;
use crate::state::{ContainerDir, State, Status, EXEC_FIFO, INIT_ERROR};

pub fn run(g: &Global, id: &str) -> Result<()> {
    let dir = ContainerDir::open_existing(&g.root, id, true)?;
    let state = dir.load_existing()?;
    start(&dir, &state)
}

/// The init has been told to go on: the container is running from now on
/// (the status is "created" while the exec fifo exists).
pub fn started(dir: &ContainerDir) -> Result<()> {
    let fifo = dir.file(EXEC_FIFO);
    std::fs::remove_file(&fifo).with_context(|| format!("removing {}", fifo.display()))
}

/// Start a container whose directory we hold locked.
pub fn start(dir: &ContainerDir, state: &State) -> Result<()> {
    let id = &state.id;
    match dir.status(state) {
        Status::Created => {}
        Status::Stopped => bail!("cannot start container {id}: it has stopped"),
        s => bail!(
            "cannot start container {id}: it is {}, not created",
            s.as_str()
        ),
    }
    let fifo = dir.file(EXEC_FIFO);
    // Non-blocking: the init holds the fifo open, so this succeeds at once
    // while it lives, and fails with ENXIO if it has died.
    let mut f = match OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            bail!("cannot start container {id}: its init has exited")
        }
        Err(e) => {
            return Err(crate::error::Error::from(e).context(format!("opening {}", fifo.display())))
        }
    };
    f.write_all(&[0])
        .with_context(|| format!("writing {}", fifo.display()))?;
    started(dir)?;

    let hooks = state.hooks.as_ref();
    if !hooks::any(hooks, &[Point::StartContainer, Point::Poststart]) {
        return Ok(());
    }
    // A failing startContainer hook, or a failing poststart hook, stops the
    // container (runtime.md); `delete` then runs poststop.
    let result = wait_for_exec(dir, state).and_then(|()| {
        let st = hooks::state_json(
            id,
            "running",
            state.init.pid,
            &state.bundle,
            &state.annotations,
        );
        hooks::run(hooks, Point::Poststart, &st).map_err(|e| e.context(format!("container {id}")))
    });
    if result.is_err() {
        if let Some(fd) = state.init.open_alive() {
            let _ = pidfd::signal(&fd, libc::SIGKILL);
            pidfd::wait_exit(&fd, 10_000);
        }
    }
    result
}

/// Wait until the init has exec'd the program (its /proc/PID/exe is no
/// longer hutch) or has exited. An init that failed before its execve says
/// why in INIT_ERROR; one that exited without a word ran the program, which
/// was just quick (`true`), and poststart still runs.
fn wait_for_exec(dir: &ContainerDir, state: &State) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self/exe").context("stat /proc/self/exe")?;
    let exe = format!("/proc/{}/exe", state.init.pid);
    let exited = || {
        let why = std::fs::read_to_string(dir.file(INIT_ERROR)).unwrap_or_default();
        if why.is_empty() {
            return Ok(());
        }
        Err(Error::new(format!(
            "container {}: the init exited before running the program: {why}",
            state.id
        )))
    };
    let Some(fd) = state.init.open_alive() else {
        return exited();
    };
    loop {
        let gone = pidfd::wait_exit(&fd, 1);
        if let Ok(m) = std::fs::metadata(&exe) {
            if (m.dev(), m.ino()) != (me.dev(), me.ino()) {
                return Ok(());
            }
        }
        if gone {
            return exited();
        }
    }
}
