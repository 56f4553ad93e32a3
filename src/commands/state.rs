//! `hutch state`: the OCI state of a container, computed live.

use serde_json::json;

use super::Global;
use crate::error::Result;
use crate::state::{ContainerDir, Status};

/// The runtime-spec version hutch implements.
pub const OCI_VERSION: &str = "1.2.1";

pub fn run(g: &Global, id: &str) -> Result<()> {
    let dir = ContainerDir::open_existing(&g.root, id, false)?;
    let state = dir.load_existing()?;
    let status = dir.status(&state);
    let pid = if status == Status::Stopped {
        0
    } else {
        state.init.pid
    };
    let out = json!({
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "status": status.as_str(),
        "pid": pid,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": "",
        "annotations": state.annotations,
    });
    let text =
        serde_json::to_string_pretty(&out).map_err(|e| crate::error::Error::new(e.to_string()))?;
    super::out(&text);
    Ok(())
}
