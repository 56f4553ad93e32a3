//! `hutch list`: the containers under --root, as runc prints them.

use serde_json::json;

use super::Global;
use crate::error::{Error, Result};
use crate::state::{list_ids, ContainerDir, Status};

pub fn run(g: &Global, format: &str, quiet: bool) -> Result<()> {
    let mut rows = Vec::new();
    for id in list_ids(&g.root)? {
        // A container deleted meanwhile, or one still being created, is skipped.
        let Ok(Some(dir)) = ContainerDir::open(&g.root, &id, false) else {
            continue;
        };
        let Ok(Some(state)) = dir.load() else {
            continue;
        };
        let status = dir.status(&state);
        let pid = if status == Status::Stopped {
            0
        } else {
            state.init.pid
        };
        rows.push((state, status, pid));
    }
    if quiet {
        for (s, _, _) in &rows {
            super::out(&s.id);
        }
        return Ok(());
    }
    if format == "json" {
        let list: Vec<_> = rows
            .iter()
            .map(|(s, st, pid)| {
                json!({
                    "ociVersion": super::state::OCI_VERSION,
                    "id": s.id,
                    "pid": pid,
                    "status": st.as_str(),
                    "bundle": s.bundle,
                    "rootfs": s.rootfs,
                    "created": s.created,
                    "annotations": s.annotations,
                    "owner": "root",
                })
            })
            .collect();
        let text = serde_json::to_string(&list).map_err(|e| Error::new(e.to_string()))?;
        super::out(&text);
        return Ok(());
    }
    super::out(&format!(
        "{:<12} {:<8} {:<10} {:<40} {:<31} OWNER",
        "ID", "PID", "STATUS", "BUNDLE", "CREATED"
    ));
    for (s, st, pid) in &rows {
        super::out(&format!(
            "{:<12} {:<8} {:<10} {:<40} {:<31} root",
            s.id,
            pid,
            st.as_str(),
            s.bundle.display(),
            s.created
        ));
    }
    Ok(())
}
