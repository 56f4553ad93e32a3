//! `hutch run`: create, start and wait, with the container's exit code.

use super::create::{self, Create};
use super::Global;
use crate::error::Result;
use crate::process::wait;

pub struct Run {
    pub create: Create,
    pub detach: bool,
    pub keep: bool,
}

/// Returns the exit code to leave with.
pub fn run(g: &Global, r: &Run) -> Result<i32> {
    // Blocked before the init is cloned, so a SIGTERM sent to us from here on
    // is forwarded, never lost or fatal to us.
    let signals = if r.detach {
        None
    } else {
        Some(wait::block_forwarded()?)
    };
    let created = create::create(g, &r.create)?;
    if let Err(e) = super::start::start(&created.dir, &created.state) {
        let id = created.state.id.clone();
        drop(created);
        let _ = super::delete::run(g, &id, true);
        return Err(e);
    }
    let pid = created.state.init.pid;
    let id = created.state.id.clone();
    drop(created.dir);
    let Some(signals) = signals else { return Ok(0) };
    let code = wait::wait_forwarding(pid, &created.pidfd, &signals)?;
    if !r.keep {
        super::delete::run(g, &id, true)?;
    }
    Ok(code)
}
