//! `hutch list`: the containers under --root, as runc prints them.

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
            .map(|(s, st, _)| super::state::Shown::new(s, *st, "root"))
            .collect();
        let text = serde_json::to_string(&list).map_err(|e| Error::new(e.to_string()))?;
        super::out(&text);
        return Ok(());
    }
    let mut table = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from)];
    for (s, st, pid) in &rows {
        table.push([
            s.id.clone(),
            pid.to_string(),
            st.as_str().to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            "root".to_string(),
        ]);
    }
    for line in aligned(&table) {
        super::out(&line);
    }
    Ok(())
}

/// Columns as runc's tabwriter lays them out: each as wide as its widest
/// cell plus 3, at least 12, so long IDs (containerd's are 64 characters)
/// keep the columns aligned.
fn aligned<const N: usize>(rows: &[[String; N]]) -> Vec<String> {
    let mut widths = [0; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count() + 3).max(12);
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 == N {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}", w = widths[i]));
                }
            }
            line
        })
        .collect()
}
