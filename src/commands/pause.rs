//! `hutch pause` / `hutch resume`: freeze and thaw every process of a
//! container through its cgroup (freezer.state on v1, cgroup.freeze on v2).

use super::{cgroup_of, Global};
use crate::bail;
use crate::error::Result;
use crate::state::{ContainerDir, Status};

pub fn run(g: &Global, id: &str, freeze: bool) -> Result<()> {
    let dir = ContainerDir::open_existing(&g.root, id, true)?;
    let state = dir.load_existing()?;
    let verb = if freeze { "pause" } else { "resume" };
    let cg = cgroup_of(&state, verb)?;
    match (dir.status(&state), freeze) {
        (Status::Running | Status::Created, true) | (Status::Paused, false) => {}
        (s, _) => bail!("cannot {verb} container {id}: it is {}", s.as_str()),
    }
    cg.freeze(freeze)
        .map_err(|e| e.context(format!("{verb} container {id}")))
}
