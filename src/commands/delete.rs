//! `hutch delete`: remove a stopped container (or, with --force, any).

use super::Global;
use crate::bail;
use crate::error::{Error, Result};
use crate::hooks::{self, Point};
use crate::linux::{pidfd, procfs};
use crate::state::{ContainerDir, State, Status};

pub fn run(g: &Global, id: &str, force: bool) -> Result<()> {
    let Some(dir) = ContainerDir::open(&g.root, id, true)? else {
        // containerd's shim deletes twice; runc answers the second with success.
        if force {
            crate::state::remove_unpublished(&g.root, id);
            return Ok(());
        }
        bail!("container {id} does not exist");
    };
    let state = match dir.load() {
        Ok(Some(s)) => s,
        // A creator that died before recording state leaves no process behind
        // (the init exits when its channel closes): only the directory and
        // the cgroup it had begun to make remain.
        Ok(None) | Err(_) if force => {
            if let Some(cg) = dir.cgroup_plan() {
                if let Err(e) = cg.remove() {
                    log::warn!("container {id}: {e}");
                }
            }
            return dir.remove();
        }
        Ok(None) => {
            bail!("container {id} has no state: its creation did not finish (use delete --force)")
        }
        Err(e) => return Err(e),
    };
    match dir.status(&state) {
        Status::Stopped => {}
        _ if force => kill_and_wait(&state).map_err(|e| {
            Error::new(format!(
                "container {id}: {e}; its init was sent SIGKILL, its state and cgroups are kept \
                 (delete again to retry)"
            ))
        })?,
        s => wait_if_dying(&state, s)?,
    }
    if let Some(cg) = &state.cgroup {
        // Whatever fails, the state stays for another delete to retry, and
        // the error says what is left.
        let kept = |e: Error, what: &str| {
            Error::new(format!(
                "container {id}: {e}; {what} kept (delete again to retry)"
            ))
        };
        // Without a PID namespace of its own, the init's death leaves the
        // rest running: they go too, as with runc.
        let killed = match cg.pids() {
            Ok(pids) if pids.is_empty() => Ok(()),
            Ok(_) => super::kill::signal_cgroup(cg, libc::SIGKILL),
            Err(e) => Err(e),
        };
        killed.map_err(|e| kept(e, "its state and cgroups are"))?;
        cg.remove().map_err(|e| kept(e, "its state is"))?;
    }
    dir.remove()?;
    // After the container is gone (runtime.md step 13); failures only warn.
    if hooks::any(state.hooks.as_ref(), &[Point::Poststop]) {
        let st = hooks::state_json(id, "stopped", 0, &state.bundle, &state.annotations);
        hooks::run_warn(state.hooks.as_ref(), Point::Poststop, &st);
    }
    Ok(())
}

/// runtime.md: deleting a container that is not stopped "MUST have no effect
/// on the container and MUST generate an error" -- a created one too (runc
/// deletes those; the OCI validation suite, like the spec, expects the
/// error). But an init that has been killed (a fatal signal pending) or is
/// exiting is as good as stopped: `kill ID KILL; delete ID` must not fail
/// for the moments its death takes (a PID namespace's init reaps the rest
/// of its namespace first, slowly under load), so it is waited for.
fn wait_if_dying(state: &State, status: Status) -> Result<()> {
    let id = &state.id;
    // Exited since the status was read.
    let Some(fd) = state.init.open_alive() else {
        return Ok(());
    };
    if !procfs::exiting(state.init.pid) {
        bail!(
            "cannot delete container {id} that is not stopped: {} (delete --force kills it)",
            status.as_str()
        );
    }
    if !pidfd::wait_exit(&fd, 10_000) {
        bail!(
            "cannot delete container {id}: its init {} was killed but has not exited after 10 s",
            state.init.pid
        );
    }
    Ok(())
}

/// SIGKILL the init (and with it its PID namespace) and wait until it is gone.
fn kill_and_wait(state: &State) -> Result<()> {
    let Some(fd) = state.init.open_alive() else {
        return Ok(());
    };
    let _ = pidfd::signal(&fd, libc::SIGKILL);
    if let Some(cg) = &state.cgroup {
        super::kill::signal_cgroup(cg, libc::SIGKILL)?;
    }
    if !pidfd::wait_exit(&fd, 10_000) {
        bail!("init {} did not exit after SIGKILL", state.init.pid);
    }
    Ok(())
}
