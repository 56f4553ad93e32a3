//! `hutch update`: change a container's limits, from flags or from a
//! linux.resources JSON file (`-r`), checked as create checks them.

use std::io::Read;

use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use super::{cgroup_of, Global};
use crate::bail;
use crate::cli::Update;
use crate::error::{Context, Error, Result};
use crate::state::{ContainerDir, Status};

pub fn run(g: &Global, u: &Update) -> Result<()> {
    let dir = ContainerDir::open_existing(&g.root, &u.id, true)?;
    let state = dir.load_existing()?;
    let cg = cgroup_of(&state, "update")?;
    if dir.status(&state) == Status::Stopped {
        bail!("cannot update container {}: it has stopped", u.id);
    }
    let resources = match &u.resources {
        Some(p) => {
            if has_flags(u) {
                bail!("update: give either -r FILE or resource flags, not both");
            }
            read_resources(p)?
        }
        None => from_flags(u)?,
    };
    crate::cgroups::validate(&resources, cg.version)?;
    cg.apply(&resources)
        .map_err(|e| e.context(format!("update {}", u.id)))
}

fn has_flags(u: &Update) -> bool {
    u.memory.is_some()
        || u.memory_reservation.is_some()
        || u.memory_swap.is_some()
        || u.cpu_share.is_some()
        || u.cpu_quota.is_some()
        || u.cpu_period.is_some()
        || u.cpu_rt_period.is_some()
        || u.cpu_rt_runtime.is_some()
        || u.cpuset_cpus.is_some()
        || u.cpuset_mems.is_some()
        || u.pids_limit.is_some()
        || u.blkio_weight.is_some()
}

fn read_resources(p: &std::path::Path) -> Result<LinuxResources> {
    let what = format!("--resources {}", p.display());
    let mut bytes = Vec::new();
    if p.as_os_str() == "-" {
        std::io::stdin()
            .take(crate::spec::MAX_JSON_FILE + 1)
            .read_to_end(&mut bytes)
            .context("--resources -: reading stdin")?;
        if bytes.len() as u64 > crate::spec::MAX_JSON_FILE {
            bail!("{what}: more than {} bytes", crate::spec::MAX_JSON_FILE);
        }
    } else {
        bytes = crate::spec::read_json_file(p).context("--resources")?;
    }
    crate::spec::parse_json(&bytes).context(what)
}

/// The flags as a linux.resources object.
fn from_flags(u: &Update) -> Result<LinuxResources> {
    let mut memory = Map::new();
    for (key, flag, v) in [
        ("limit", "--memory", &u.memory),
        ("reservation", "--memory-reservation", &u.memory_reservation),
        ("swap", "--memory-swap", &u.memory_swap),
    ] {
        if let Some(v) = v {
            memory.insert(key.into(), json!(parse_bytes(flag, v)?));
        }
    }
    let mut cpu = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            cpu.insert(k.into(), v);
        }
    };
    put("shares", u.cpu_share.map(|v| json!(v)));
    put("quota", u.cpu_quota.map(|v| json!(v)));
    put("period", u.cpu_period.map(|v| json!(v)));
    put("realtimePeriod", u.cpu_rt_period.map(|v| json!(v)));
    put("realtimeRuntime", u.cpu_rt_runtime.map(|v| json!(v)));
    put("cpus", u.cpuset_cpus.as_ref().map(|v| json!(v)));
    put("mems", u.cpuset_mems.as_ref().map(|v| json!(v)));
    let mut r = Map::new();
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = u.pids_limit {
        r.insert("pids".into(), json!({ "limit": p }));
    }
    if let Some(w) = u.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    serde_json::from_value(Value::Object(r)).map_err(|e| Error::new(format!("update: {e}")))
}

/// "512m", "1G", "1024", "-1" as bytes (binary suffixes, as runc).
fn parse_bytes(flag: &str, s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.trim().to_ascii_lowercase();
    let t = lower.strip_suffix('b').unwrap_or(&lower);
    let (num, mult) = match t.char_indices().last() {
        Some((i, 'k')) => (&t[..i], 1i64 << 10),
        Some((i, 'm')) => (&t[..i], 1 << 20),
        Some((i, 'g')) => (&t[..i], 1 << 30),
        Some((i, 't')) => (&t[..i], 1 << 40),
        _ => (t, 1),
    };
    match num.trim().parse::<i64>() {
        Ok(n) if n >= 0 => n
            .checked_mul(mult)
            .ok_or_else(|| Error::new(format!("{flag} {s:?}: too large"))),
        _ => bail!("{flag} {s:?}: expected bytes like 512m or 1g, or -1 for no limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("--memory", "1024").ok(), Some(1024));
        assert_eq!(parse_bytes("--memory", "512m").ok(), Some(512 << 20));
        assert_eq!(parse_bytes("--memory", "1G").ok(), Some(1 << 30));
        assert_eq!(parse_bytes("--memory", "2kb").ok(), Some(2048));
        assert_eq!(parse_bytes("--memory", "-1").ok(), Some(-1));
        for bad in ["", "-5", "m", "1x", "abc"] {
            assert!(parse_bytes("--memory", bad).is_err(), "{bad}");
        }
    }
}
