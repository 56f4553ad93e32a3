//! `hutch state`: the OCI state of a container, computed live.

use std::collections::HashMap;
use std::path::Path;

use super::Global;
use crate::error::Result;
use crate::state::{ContainerDir, State, Status};

/// The runtime-spec version hutch implements.
pub const OCI_VERSION: &str = "1.2.1";

/// A container as `state` and `list --format json` print it: runc's keys in
/// runc's order (some clients and scripts read it as text).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shown<'a> {
    oci_version: &'static str,
    id: &'a str,
    pid: i32,
    status: &'static str,
    bundle: &'a Path,
    rootfs: &'a Path,
    created: &'a str,
    owner: &'a str,
    annotations: &'a HashMap<String, String>,
}

impl<'a> Shown<'a> {
    /// The stopped have no PID (runc prints 0).
    pub fn new(state: &'a State, status: Status, owner: &'a str) -> Self {
        Shown {
            oci_version: OCI_VERSION,
            id: &state.id,
            pid: if status == Status::Stopped {
                0
            } else {
                state.init.pid
            },
            status: status.as_str(),
            bundle: &state.bundle,
            rootfs: &state.rootfs,
            created: &state.created,
            owner,
            annotations: &state.annotations,
        }
    }
}

pub fn run(g: &Global, id: &str) -> Result<()> {
    let dir = ContainerDir::open_existing(&g.root, id, false)?;
    let state = dir.load_existing()?;
    let shown = Shown::new(&state, dir.status(&state), "");
    let text = serde_json::to_string_pretty(&shown)
        .map_err(|e| crate::error::Error::new(e.to_string()))?;
    super::out(&text);
    Ok(())
}
