//! `hutch start`: let a created container's init exec the user's program,
//! and return once it has (as runc does): a signal sent right after must
//! reach the program, not the init before its execve.
//!
//! The init holds the exec fifo open (read and write, close-on-exec) until
//! its execve. `start` writes the byte it waits for, keeps a read end of its
//! own and waits, without the container's lock, for the hang-up that comes
//! when no writer is left: the init's fd closed by the execve, or by its exit.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::Global;
use crate::bail;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Point};
use crate::linux::pidfd;
use crate::state::{ContainerDir, State, Status, EXEC_FIFO, EXEC_STARTING, INIT_ERROR};

pub fn run(g: &Global, id: &str) -> Result<()> {
    let dir = ContainerDir::open_existing(&g.root, id, true)?;
    let state = dir.load_existing()?;
    let starting = begin(&dir, &state)?;
    drop(dir);
    starting.wait(&state)
}

/// A container whose init has been told to go on, not yet seen to exec.
pub struct Starting {
    /// A read end of the exec fifo: hangs up once the init's fd is closed.
    watch: File,
    /// The container's directory, for the fifo's name and the init's error.
    dir: PathBuf,
}

/// `run` sent Message::Start itself, with `watch` opened before.
pub fn begin_started(dir: &ContainerDir, watch: File) -> Result<Starting> {
    mark_starting(dir)?;
    Ok(Starting {
        watch,
        dir: dir.path.clone(),
    })
}

/// The fifo takes its "starting" name: the container stays created (see
/// ContainerDir::status) and no second `start` writes to it.
fn mark_starting(dir: &ContainerDir) -> Result<()> {
    let (from, to) = (dir.file(EXEC_FIFO), dir.file(EXEC_STARTING));
    std::fs::rename(&from, &to).with_context(|| format!("renaming {}", from.display()))
}

/// Let the init of a container whose directory we hold locked go on.
pub fn begin(dir: &ContainerDir, state: &State) -> Result<Starting> {
    let id = &state.id;
    match dir.status(state) {
        Status::Created if dir.file(EXEC_FIFO).exists() => {}
        Status::Created => bail!("cannot start container {id}: it is being started"),
        Status::Stopped => bail!("cannot start container {id}: it has stopped"),
        s => bail!(
            "cannot start container {id}: it is {}, not created",
            s.as_str()
        ),
    }
    let fifo = dir.file(EXEC_FIFO);
    let open = |flags: OpenOptions| {
        let mut flags = flags;
        flags
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(&fifo)
    };
    // Non-blocking: the init holds the fifo open, so this succeeds at once
    // while it lives, and fails with ENXIO if it has died.
    let mut w = match open(OpenOptions::new().write(true).clone()) {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            bail!("cannot start container {id}: its init has exited")
        }
        Err(e) => return Err(Error::from(e).context(format!("opening {}", fifo.display()))),
    };
    // Opened while there are writers: it hangs up once there are none.
    let watch = open(OpenOptions::new().read(true).clone())
        .with_context(|| format!("opening {}", fifo.display()))?;
    w.write_all(&[0])
        .with_context(|| format!("writing {}", fifo.display()))?;
    drop(w);
    mark_starting(dir)?;
    Ok(Starting {
        watch,
        dir: dir.path.clone(),
    })
}

impl Starting {
    /// Wait until the init has exec'd the program (or exited), then run the
    /// poststart hooks. Not under the container's lock: an init held up
    /// (a slow startContainer hook, a paused container) must not hold up
    /// `kill`, `state` or `delete`.
    pub fn wait(mut self, state: &State) -> Result<()> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let id = &state.id;
        // No events asked: only the hang-up (and errors) wake us, not the
        // byte the init has yet to read.
        let mut fds = [PollFd::new(self.watch.as_fd(), PollFlags::empty())];
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::from(e).context("waiting on the exec fifo")),
            }
        }
        let mut byte = [0u8; 1];
        let unread = matches!(self.watch.read(&mut byte), Ok(1));
        let why = std::fs::read_to_string(self.dir.join(INIT_ERROR)).unwrap_or_default();
        // Gone already if a `delete --force` came meanwhile.
        let _ = std::fs::remove_file(self.dir.join(EXEC_STARTING));
        if unread {
            bail!("cannot start container {id}: its init has exited");
        }
        if !why.is_empty() {
            bail!("cannot start container {id}: the init exited before running the program: {why}");
        }
        let hooks = state.hooks.as_ref();
        if !hooks::any(hooks, &[Point::Poststart]) {
            return Ok(());
        }
        // A failing poststart hook stops the container; `delete` then runs
        // poststop.
        let st = hooks::state_json(
            id,
            "running",
            state.init.pid,
            &state.bundle,
            &state.annotations,
        );
        let result = hooks::run(hooks, Point::Poststart, &st)
            .map_err(|e| e.context(format!("container {id}")));
        if result.is_err() {
            if let Some(fd) = state.init.open_alive() {
                let _ = pidfd::signal(&fd, libc::SIGKILL);
                pidfd::wait_exit(&fd, 10_000);
            }
        }
        result
    }
}
