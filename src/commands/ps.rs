//! `hutch ps`: the processes in a container's cgroup, as PIDs (json) or as
//! the lines of ps(1) for those PIDs (table).

use std::process::Command;

use super::{cgroup_of, Global};
use crate::bail;
use crate::error::{Context, Error, Result};
use crate::state::ContainerDir;

pub fn run(g: &Global, id: &str, format: &str, ps_args: &[String]) -> Result<()> {
    let state = {
        let dir = ContainerDir::open_existing(&g.root, id, false)?;
        dir.load_existing()?
    };
    let cg = cgroup_of(&state, "list the processes of")?;
    let pids = cg
        .pids()
        .map_err(|e| e.context(format!("container {id}")))?;
    if format == "json" {
        if !ps_args.is_empty() {
            bail!("ps --format json takes no ps arguments");
        }
        let text = serde_json::to_string(&pids).map_err(|e| Error::new(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            // ps(1) follows its error with a page of usage: the first line says it.
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("failed")
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps {}: its output has no PID column", args.join(" "));
    };
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
