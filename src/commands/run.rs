//! `hutch run`: create, start and wait, with the container's exit code.

use super::create::{self, Create};
use super::Global;
use crate::error::Result;
use crate::process::tty_proxy::{self, Proxy};
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
    // In the foreground without a --console-socket, a terminal is ours to
    // proxy (as runc does); detached, create refuses it.
    let (theirs, ours) = if !r.detach && r.create.console_socket.is_none() {
        let (a, b) = tty_proxy::socket_pair()?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let mut created = create::create_with_tty(g, &r.create, theirs, true)?;
    // The master is sent only if process.terminal asked for one.
    let tty = match ours {
        Some(s) if created.terminal => Some(Proxy::start(s)),
        _ => None,
    };
    let mut tty = match tty.transpose() {
        Ok(t) => t,
        Err(e) => return Err(abandon(g, created, e)),
    };
    let begun = match created.exec_watch.take() {
        Some(watch) => super::start::begin_started(&created.dir, watch),
        None => super::start::begin(&created.dir, &created.state),
    };
    let starting = match begun {
        Ok(s) => s,
        Err(e) => return Err(abandon(g, created, e)),
    };
    let pid = created.state.init.pid;
    let id = created.state.id.clone();
    drop(created.dir);
    // Returns once the program is exec'd; signals meanwhile wait for it
    // (blocked, forwarded below).
    if let Err(e) = starting.wait(&created.state) {
        let _ = super::delete::run(g, &id, true);
        return Err(e);
    }
    let Some(signals) = signals else { return Ok(0) };
    let code = wait::wait_forwarding(pid, &created.pidfd, &signals, tty.as_mut())?;
    if let Some(t) = tty {
        t.finish();
    }
    if !r.keep {
        super::delete::run(g, &id, true)?;
    }
    Ok(code)
}

/// Undo a create whose start cannot go on.
fn abandon(g: &Global, created: create::Created, e: crate::error::Error) -> crate::error::Error {
    let id = created.state.id.clone();
    drop(created);
    let _ = super::delete::run(g, &id, true);
    e
}
