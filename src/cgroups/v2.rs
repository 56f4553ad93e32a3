//! cgroup v2: one directory, controllers enabled down the tree through
//! cgroup.subtree_control, v1-style values converted as runc converts them.

use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::{mkdir_all, read_trim, write, Cgroup, ROOT};
use crate::bail;
use crate::error::{Error, Result};

/// mkdir -p, enabling in each ancestor every controller it has, so the
/// container's directory gets their files.
pub fn make_dir(path: &Path) -> Result<()> {
    mkdir_all(path)?;
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

/// Why `file` is missing from `dir` when its controller is to blame: the
/// nearest ancestor that has the controller but does not pass it down, and
/// why it cannot. None when the controller is there (an unknown file) or the
/// file is not a controller's.
fn missing_controller(dir: &Path, file: &str) -> Option<String> {
    let ctl = file.split('.').next().filter(|c| *c != "cgroup")?;
    let has = |d: &Path| {
        read_trim(&d.join("cgroup.controllers"))
            .is_some_and(|l| l.split_whitespace().any(|c| c == ctl))
    };
    if dir.join(file).exists() || has(dir) {
        return None;
    }
    let mut cur = dir;
    while let Some(parent) = cur.parent().filter(|p| p.starts_with(ROOT)) {
        if has(parent) {
            // The root is exempt from the no-internal-processes rule.
            let busy = parent != Path::new(ROOT)
                && read_trim(&parent.join("cgroup.procs")).is_some_and(|p| !p.is_empty());
            return Some(if busy {
                format!(
                    "the {ctl} controller is not enabled below {}: that cgroup has processes of its own, \
                     and cgroup v2 enables controllers only for the children of cgroups without any \
                     (pick a cgroupsPath elsewhere)",
                    parent.display()
                )
            } else {
                format!(
                    "the {ctl} controller is not enabled below {} (see its cgroup.subtree_control)",
                    parent.display()
                )
            });
        }
        cur = parent;
    }
    Some(format!(
        "the {ctl} controller is not available (not built into this kernel, or not given to this cgroup tree)"
    ))
}

/// `write`, with the reason when the file is missing because its controller
/// is not enabled for the container's cgroup.
fn put(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    write(dir, file, value, field).map_err(|e| match missing_controller(dir, file) {
        Some(why) => Error::new(format!("{field}: {why}")),
        None => e,
    })
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
            put(d, "memory.swap.max", &v, "linux.resources.memory.swap")?;
        } else if limit == Some(-1) && d.join("memory.swap.max").exists() {
            // As runc: no memory limit and no word on swap means no swap
            // limit either (v1's memsw could not be below the memory limit).
            put(d, "memory.swap.max", "max", "linux.resources.memory.swap")?;
        }
        if let Some(l) = limit {
            put(d, "memory.max", &max_or(l), "linux.resources.memory.limit")?;
        }
        if let Some(v) = m.reservation().filter(|v| *v != 0) {
            put(
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
            put(
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
                Some(_) => "max".to_string(),
                // cpu.max takes both at once: a new period alone (update
                // --cpu-period) keeps the quota there is.
                None => read_trim(&d.join("cpu.max"))
                    .and_then(|v| v.split_whitespace().next().map(str::to_string))
                    .unwrap_or_else(|| "max".to_string()),
            };
            if let Some(p) = period {
                v.push_str(&format!(" {p}"));
            }
            put(d, "cpu.max", &v, "linux.resources.cpu.quota")?;
        }
        if let Some(b) = c.burst() {
            put(
                d,
                "cpu.max.burst",
                &b.to_string(),
                "linux.resources.cpu.burst",
            )?;
        }
        if let Some(i) = c.idle() {
            put(d, "cpu.idle", &i.to_string(), "linux.resources.cpu.idle")?;
        }
        if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
            put(d, "cpuset.cpus", v, "linux.resources.cpu.cpus")?;
        }
        if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
            put(d, "cpuset.mems", v, "linux.resources.cpu.mems")?;
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            put(
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
                put(
                    d,
                    "io.bfq.weight",
                    &w.to_string(),
                    "linux.resources.blockIO.weight",
                )?;
            } else {
                let v = blkio_to_io_weight(w).to_string();
                put(d, "io.weight", &v, "linux.resources.blockIO.weight")?;
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
                put(
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
                put(
                    d,
                    "io.max",
                    &line,
                    &format!("linux.resources.blockIO.{name}[{i}]"),
                )?;
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        let limit = h.limit().to_string();
        put(d, &format!("hugetlb.{}.max", h.page_size()), &limit, &field)?;
        // Pages reserved by mmap(MAP_HUGETLB) count against rsvd.max
        // (kernel 5.7+): limit them too, as runc does.
        let rsvd = format!("hugetlb.{}.rsvd.max", h.page_size());
        if d.join(&rsvd).exists() {
            put(d, &rsvd, &limit, &field)?;
        }
    }
    if let Some(rdma) = r.rdma() {
        for (dev, l) in rdma {
            put(
                d,
                "rdma.max",
                &super::resources::rdma_line(dev, l),
                &format!("linux.resources.rdma.{dev}"),
            )?;
        }
    }
    if let Some(u) = r.unified() {
        let mut keys: Vec<&String> = u.keys().collect();
        keys.sort();
        for k in keys {
            let field = format!("linux.resources.unified key {k:?}");
            if !d.join(k).exists() {
                match missing_controller(d, k) {
                    Some(why) => bail!("{field}: {why}"),
                    None => bail!("{field}: no such file in {}", d.display()),
                }
            }
            put(d, k, &u[k], &field)?;
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
