//! One file per CLI verb.

pub mod create;
pub mod delete;
pub mod events;
pub mod kill;
pub mod pause;
pub mod ps;
pub mod start;
pub mod state;
pub mod update;

use std::path::PathBuf;

/// Flags every command sees.
pub struct Global {
    pub root: PathBuf,
}
pub mod list;

/// The recorded cgroup of a container, or an error naming the command.
pub fn cgroup_of<'a>(
    state: &'a crate::state::State,
    what: &str,
) -> crate::error::Result<&'a crate::cgroups::Cgroup> {
    match &state.cgroup {
        Some(c) => Ok(c),
        None => crate::bail!(
            "cannot {what} container {}: it was created without a cgroup",
            state.id
        ),
    }
}
