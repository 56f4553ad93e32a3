//! `hutch start`: let a created container's init exec the user's program.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use super::Global;
use crate::bail;
use crate::error::{Context, Result};
use crate::state::{ContainerDir, State, Status, EXEC_FIFO};

pub fn run(g: &Global, id: &str) -> Result<()> {
    let dir = ContainerDir::open_existing(&g.root, id, true)?;
    let state = dir.load_existing()?;
    start(&dir, &state)
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
    std::fs::remove_file(&fifo).with_context(|| format!("removing {}", fifo.display()))
}
