//! cgroup v2: one directory, controllers enabled down the tree through
//! cgroup.subtree_control, v1-style values converted as runc converts them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::{mkdir_all, read_trim, write, Cgroup, ROOT};
use crate::bail;
use crate::error::Result;

/// mkdir -p, enabling in each ancestor every controller it has, so the
/// container's directory gets their files.
pub fn make_dir(path: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    mkdir_all(path, made)?;
    let root = Path::new(ROOT);
    let rel = path.strip_prefix(root).unwrap_or(Path::new(""));
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        enable_controllers(&cur);
        cur.push(c);
    }
    Ok(())
}

/// Best effort: a parent holding processes refuses (the "no internal
/// processes" rule); what is then missing shows as a clear error when a
/// limit needs it.
///
/// After a refusal of the whole set, controllers are tried one by one, for
/// threaded subtrees, which refuse only the domain ones. Not after EBUSY
/// (processes in `dir`): the threaded controllers (cpu, cpuset, pids) would
/// be enabled and make `dir` a thread root, below which a domain cgroup like
/// the container's can hold no process at all (clone3 fails EOPNOTSUPP).
fn enable_controllers(dir: &Path) {
    let Some(available) = read_trim(&dir.join("cgroup.controllers")) else {
        return;
    };
    let enabled = read_trim(&dir.join("cgroup.subtree_control")).unwrap_or_default();
    let missing: Vec<String> = available
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return;
    }
    let f = dir.join("cgroup.subtree_control");
    match std::fs::write(&f, missing.join(" ")) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
        Err(_) => {
            for m in missing {
                let _ = std::fs::write(&f, m);
            }
        }
    }
}

/// runc's conversion of cpu.shares (2..262144) to cpu.weight (1..10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// runc's conversion of blkio weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

pub fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    let Some(d) = cg.v2_dir() else {
        bail!("no cgroup v2 directory recorded");
    };
    if let Some(m) = r.memory() {
        let limit = m.limit().filter(|v| *v != 0);
        if let Some(s) = m.swap().filter(|v| *v != 0) {
            // v1's swap is memory+swap; v2's memory.swap.max is swap alone.
            let v = match (s, limit) {
                (-1, _) => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).to_string(),
                _ => bail!(
                    "linux.resources.memory.swap: on cgroup v2 a swap limit needs memory.limit too"
                ),
            };
            write(d, "memory.swap.max", &v, "linux.resources.memory.swap")?;
        }
        if let Some(l) = limit {
            write(d, "memory.max", &max_or(l), "linux.resources.memory.limit")?;
        }
        if let Some(v) = m.reservation().filter(|v| *v != 0) {
            write(
                d,
                "memory.low",
                &max_or(v),
                "linux.resources.memory.reservation",
            )?;
        }
        if m.swappiness().is_some() {
            log::warn!("linux.resources.memory.swappiness is ignored: cgroup v2 has no such knob");
        }
        if m.disable_oom_killer() == Some(true) {
            log::warn!("linux.resources.memory.disableOOMKiller is ignored on cgroup v2");
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares().filter(|v| *v != 0) {
            write(
                d,
                "cpu.weight",
                &shares_to_weight(s).to_string(),
                "linux.resources.cpu.shares",
            )?;
        }
        let quota = c.quota().filter(|v| *v != 0);
        let period = c.period().filter(|v| *v != 0);
        if quota.is_some() || period.is_some() {
            let mut v = match quota {
                Some(q) if q > 0 => q.to_string(),
                _ => "max".to_string(),
            };
            if let Some(p) = period {
                v.push_str(&format!(" {p}"));
            }
            write(d, "cpu.max", &v, "linux.resources.cpu.quota")?;
        }
        if let Some(b) = c.burst() {
            write(
                d,
                "cpu.max.burst",
                &b.to_string(),
                "linux.resources.cpu.burst",
            )?;
        }
        if let Some(i) = c.idle() {
            write(d, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
        }
        if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
            write(d, "cpuset.cpus", v, "linux.resources.cpu.cpus")?;
        }
        if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
            write(d, "cpuset.mems", v, "linux.resources.cpu.mems")?;
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            write(
                d,
                "pids.max",
                &max_or(p.limit()),
                "linux.resources.pids.limit",
            )?;
        }
    }
    if let Some(b) = r.block_io() {
        let bfq = d.join("io.bfq.weight").exists();
        if let Some(w) = b.weight().filter(|w| *w != 0) {
            if bfq {
                write(
                    d,
                    "io.bfq.weight",
                    &w.to_string(),
                    "linux.resources.blockIO.weight",
                )?;
            } else {
                let v = blkio_to_io_weight(w).to_string();
                write(d, "io.weight", &v, "linux.resources.blockIO.weight")?;
            }
        }
        for (i, wd) in b.weight_device().iter().flatten().enumerate() {
            if let Some(w) = wd.weight().filter(|w| *w != 0) {
                let field = format!("linux.resources.blockIO.weightDevice[{i}]");
                let (file, v) = if bfq {
                    ("io.bfq.weight", u64::from(w))
                } else {
                    ("io.weight", blkio_to_io_weight(w))
                };
                write(
                    d,
                    file,
                    &format!("{}:{} {v}", wd.major(), wd.minor()),
                    &field,
                )?;
            }
        }
        let throttles = [
            (
                "throttleReadBpsDevice",
                "rbps",
                b.throttle_read_bps_device(),
            ),
            (
                "throttleWriteBpsDevice",
                "wbps",
                b.throttle_write_bps_device(),
            ),
            (
                "throttleReadIOPSDevice",
                "riops",
                b.throttle_read_iops_device(),
            ),
            (
                "throttleWriteIOPSDevice",
                "wiops",
                b.throttle_write_iops_device(),
            ),
        ];
        for (name, key, list) in throttles {
            for (i, t) in list.iter().flatten().enumerate() {
                let line = format!("{}:{} {key}={}", t.major(), t.minor(), t.rate());
                write(
                    d,
                    "io.max",
                    &line,
                    &format!("linux.resources.blockIO.{name}[{i}]"),
                )?;
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        write(
            d,
            &format!("hugetlb.{}.max", h.page_size()),
            &h.limit().to_string(),
            &format!("linux.resources.hugepageLimits[{i}]"),
        )?;
    }
    if let Some(rdma) = r.rdma() {
        for (dev, l) in rdma {
            write(
                d,
                "rdma.max",
                &super::resources::rdma_line(dev, l),
                &format!("linux.resources.rdma.{dev}"),
            )?;
        }
    }
    if let Some(devs) = r.devices().as_deref().filter(|d| !d.is_empty()) {
        super::devices_v2::apply(cg, devs)?;
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            let field = format!("linux.resources.unified key {k:?}");
            if !d.join(k).exists() {
                bail!(
                    "{field}: no such file in {} (unknown key, or its controller is not enabled)",
                    d.display()
                );
            }
            write(d, k, &u[k], &field)?;
        }
    }
    Ok(())
}

pub fn is_frozen(cg: &Cgroup) -> bool {
    cg.v2_dir()
        .and_then(|d| read_trim(&d.join("cgroup.freeze")))
        .is_some_and(|s| s == "1")
}

pub fn freeze(cg: &Cgroup, frozen: bool) -> Result<()> {
    let Some(d) = cg.v2_dir() else {
        bail!("no cgroup v2 directory recorded");
    };
    write(
        d,
        "cgroup.freeze",
        if frozen { "1" } else { "0" },
        "cgroup.freeze",
    )?;
    if !frozen {
        return Ok(());
    }
    // cgroup.events says "frozen 1" once every task has stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = read_trim(&d.join("cgroup.events")).unwrap_or_default();
        if events.lines().any(|l| l == "frozen 1") {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{}: the cgroup did not freeze", d.display());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_as_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }
}
