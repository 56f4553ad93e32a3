//! cgroup v1: one directory per mounted hierarchy, limits in the files of
//! the hierarchy that has the controller.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::{join, mkdir_all, read_trim, write, Cgroup, Dir};
use crate::bail;
use crate::error::{Context, Result};

/// Mount options of a cgroup v1 mount that are not controllers.
fn is_controller(opt: &str) -> bool {
    !matches!(
        opt,
        "rw" | "ro"
            | "xattr"
            | "noprefix"
            | "clone_children"
            | "cpuset_v2_mode"
            | "favordynmods"
            | "none"
    ) && !opt.starts_with("release_agent=")
}

/// The v1 hierarchies mounted on this host: (controllers, mount point, mount root).
fn hierarchies() -> Result<Vec<(String, PathBuf, String)>> {
    let info = crate::linux::procfs::read("/proc/self/mountinfo")
        .context("reading /proc/self/mountinfo")?;
    let mut out: Vec<(String, PathBuf, String)> = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut r = right.split(' ');
        if r.next() != Some("cgroup") {
            continue;
        }
        let super_opts = r.nth(1).unwrap_or("");
        let controllers: Vec<&str> = super_opts.split(',').filter(|o| is_controller(o)).collect();
        if controllers.is_empty() {
            continue;
        }
        let controllers = controllers.join(",");
        let mut l = left.split(' ');
        let (Some(root), Some(mount)) = (l.nth(3), l.next()) else {
            continue;
        };
        if out.iter().any(|(c, _, _)| *c == controllers) {
            continue;
        }
        out.push((controllers, unescape(mount), root.to_string()));
    }
    Ok(out)
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> PathBuf {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let n = u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(n as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    PathBuf::from(out)
}

/// The container's directory in every hierarchy.
pub fn dirs(own: &[(String, String)], wanted: &Path) -> Result<Vec<Dir>> {
    let mut out = Vec::new();
    for (controllers, mount, root) in hierarchies()? {
        let own_path = own
            .iter()
            .find(|(c, _)| same_set(c, &controllers))
            .map(|(_, p)| p.as_str())
            .unwrap_or("/");
        // Inside a container the hierarchy may be mounted from a subdirectory.
        let own_path = own_path.strip_prefix(root.as_str()).unwrap_or(own_path);
        out.push(Dir {
            path: join(&mount, own_path, wanted),
            controllers,
            mount,
            existed: false,
            made_parent: None,
        });
    }
    if out.is_empty() {
        bail!("no cgroup v1 hierarchy is mounted on this host");
    }
    Ok(out)
}

fn same_set(a: &str, b: &str) -> bool {
    let mut x: Vec<&str> = a.split(',').collect();
    let mut y: Vec<&str> = b.split(',').collect();
    x.sort_unstable();
    y.sort_unstable();
    x == y
}

/// mkdir -p; in the cpuset hierarchy a new cgroup starts with no CPUs and no
/// memory nodes and takes no tasks until given some: copy the parent's.
pub fn make_dir(d: &Dir) -> Result<()> {
    mkdir_all(&d.path)?;
    if d.has("cpuset") {
        let rel = d.path.strip_prefix(&d.mount).unwrap_or(Path::new(""));
        let mut cur = d.mount.clone();
        for c in rel.components() {
            let parent = cur.clone();
            cur.push(c);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if read_trim(&cur.join(f)).is_some_and(|v| v.is_empty()) {
                    let v = read_trim(&parent.join(f)).unwrap_or_default();
                    write(&cur, f, &v, "linux.cgroupsPath")?;
                }
            }
        }
    }
    Ok(())
}

fn need<'a>(cg: &'a Cgroup, controller: &str, field: &str) -> Result<&'a Path> {
    match cg.dir(controller) {
        Some(d) => Ok(d),
        None => bail!("{field}: the {controller} cgroup controller is not mounted on this host"),
    }
}

pub fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<()> {
    const F: &str = "linux.resources";
    if let Some(m) = r.memory() {
        let d = need(cg, "memory", "linux.resources.memory")?;
        let limit = m.limit().filter(|v| *v != 0);
        let swap = m.swap().filter(|v| *v != 0);
        // memory.memsw.limit_in_bytes may never be below memory.limit_in_bytes:
        // raise memsw first when the new limit exceeds the current memsw.
        let memsw_first = match (limit, swap) {
            (Some(l), Some(_)) => {
                let cur = read_trim(&d.join("memory.memsw.limit_in_bytes"))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(i64::MAX);
                l == -1 || l > cur
            }
            _ => false,
        };
        let set_swap = || -> Result<()> {
            if let Some(s) = swap {
                write(
                    d,
                    "memory.memsw.limit_in_bytes",
                    &s.to_string(),
                    "linux.resources.memory.swap",
                )?;
            }
            Ok(())
        };
        if memsw_first {
            set_swap()?;
        }
        if let Some(l) = limit {
            write(
                d,
                "memory.limit_in_bytes",
                &l.to_string(),
                "linux.resources.memory.limit",
            )?;
        }
        if !memsw_first {
            set_swap()?;
        }
        if let Some(v) = m.reservation().filter(|v| *v != 0) {
            write(
                d,
                "memory.soft_limit_in_bytes",
                &v.to_string(),
                "linux.resources.memory.reservation",
            )?;
        }
        if let Some(v) = m.kernel_tcp().filter(|v| *v != 0) {
            write(
                d,
                "memory.kmem.tcp.limit_in_bytes",
                &v.to_string(),
                "linux.resources.memory.kernelTCP",
            )?;
        }
        if let Some(v) = m.swappiness() {
            write(
                d,
                "memory.swappiness",
                &v.to_string(),
                "linux.resources.memory.swappiness",
            )?;
        }
        if m.disable_oom_killer() == Some(true) {
            write(
                d,
                "memory.oom_control",
                "1",
                "linux.resources.memory.disableOOMKiller",
            )?;
        }
    }
    if let Some(c) = r.cpu() {
        let has_cpu = c.shares().is_some()
            || c.quota().is_some()
            || c.period().is_some()
            || c.realtime_period().is_some()
            || c.realtime_runtime().is_some()
            || c.idle().is_some()
            || c.burst().is_some();
        if has_cpu {
            let d = need(cg, "cpu", "linux.resources.cpu")?;
            if let Some(v) = c.shares().filter(|v| *v != 0) {
                write(
                    d,
                    "cpu.shares",
                    &v.to_string(),
                    "linux.resources.cpu.shares",
                )?;
            }
            // The period first: a quota is checked against the current period.
            if let Some(v) = c.period().filter(|v| *v != 0) {
                write(
                    d,
                    "cpu.cfs_period_us",
                    &v.to_string(),
                    "linux.resources.cpu.period",
                )?;
            }
            if let Some(v) = c.quota().filter(|v| *v != 0) {
                write(
                    d,
                    "cpu.cfs_quota_us",
                    &v.to_string(),
                    "linux.resources.cpu.quota",
                )?;
            }
            if let Some(v) = c.burst() {
                write(
                    d,
                    "cpu.cfs_burst_us",
                    &v.to_string(),
                    "linux.resources.cpu.burst",
                )?;
            }
            if let Some(v) = c.realtime_period().filter(|v| *v != 0) {
                write(
                    d,
                    "cpu.rt_period_us",
                    &v.to_string(),
                    "linux.resources.cpu.realtimePeriod",
                )?;
            }
            if let Some(v) = c.realtime_runtime().filter(|v| *v != 0) {
                write(
                    d,
                    "cpu.rt_runtime_us",
                    &v.to_string(),
                    "linux.resources.cpu.realtimeRuntime",
                )?;
            }
            if let Some(v) = c.idle() {
                write(d, "cpu.idle", &v.to_string(), "linux.resources.cpu.idle")?;
            }
        }
        if let Some(v) = c.cpus().as_deref().filter(|v| !v.is_empty()) {
            let d = need(cg, "cpuset", "linux.resources.cpu.cpus")?;
            write(d, "cpuset.cpus", v, "linux.resources.cpu.cpus")?;
        }
        if let Some(v) = c.mems().as_deref().filter(|v| !v.is_empty()) {
            let d = need(cg, "cpuset", "linux.resources.cpu.mems")?;
            write(d, "cpuset.mems", v, "linux.resources.cpu.mems")?;
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            let d = need(cg, "pids", "linux.resources.pids")?;
            let v = if p.limit() > 0 {
                p.limit().to_string()
            } else {
                "max".to_string()
            };
            write(d, "pids.max", &v, "linux.resources.pids.limit")?;
        }
    }
    if let Some(b) = r.block_io() {
        apply_blkio(cg, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        for (i, l) in h.iter().enumerate() {
            let field = format!("{F}.hugepageLimits[{i}]");
            let d = need(cg, "hugetlb", &field)?;
            write(
                d,
                &format!("hugetlb.{}.limit_in_bytes", l.page_size()),
                &l.limit().to_string(),
                &field,
            )?;
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let d = need(cg, "net_cls", "linux.resources.network.classID")?;
            write(
                d,
                "net_cls.classid",
                &id.to_string(),
                "linux.resources.network.classID",
            )?;
        }
        for (i, p) in n.priorities().iter().flatten().enumerate() {
            let field = format!("{F}.network.priorities[{i}]");
            let d = need(cg, "net_prio", &field)?;
            write(
                d,
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
                &field,
            )?;
        }
    }
    if let Some(rdma) = r.rdma() {
        for (dev, l) in rdma {
            let field = format!("{F}.rdma.{dev}");
            let d = need(cg, "rdma", &field)?;
            write(d, "rdma.max", &super::resources::rdma_line(dev, l), &field)?;
        }
    }
    Ok(())
}

/// `rules` (already validated) after a deny of every device, then the
/// default rules: what device_rules::compute works out.
pub fn apply_devices(cg: &Cgroup, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    const F: &str = "linux.resources.devices";
    let Some(d) = cg.dir("devices") else {
        bail!(
            "{F}: the devices cgroup controller is not mounted on this host, and every \
             container needs it (with no rules, to deny all but the default devices)"
        );
    };
    // A new cgroup allows every device. A list that starts with a rule
    // for all devices (podman's and containerd's "deny a") resets it anyway.
    let resets = rules
        .first()
        .is_some_and(|r| r.typ().unwrap_or(LinuxDeviceType::A) == LinuxDeviceType::A);
    if !resets {
        write(
            d,
            "devices.deny",
            "a",
            "linux.resources.devices (denying every device first)",
        )?;
    }
    for (i, rule) in rules.iter().enumerate() {
        apply_device(d, rule, &format!("{F}[{i}]"))?;
    }
    for (t, major, minor, access) in super::resources::DEFAULT_DEVICE_RULES {
        let line = format!("{t} {major}:{minor} {access}");
        write(d, "devices.allow", &line, "default device rules")?;
    }
    Ok(())
}

fn apply_device(dir: &Path, rule: &LinuxDeviceCgroup, field: &str) -> Result<()> {
    let file = if rule.allow() {
        "devices.allow"
    } else {
        "devices.deny"
    };
    write(dir, file, &super::resources::device_line(rule), field)
}

fn apply_blkio(cg: &Cgroup, b: &oci_spec::runtime::LinuxBlockIo) -> Result<()> {
    let d = need(cg, "blkio", "linux.resources.blockIO")?;
    // With the BFQ scheduler the weight files carry a "bfq." prefix.
    let weight_file = |name: &str| -> String {
        let plain = format!("blkio.{name}");
        if d.join(&plain).exists() {
            plain
        } else {
            format!("blkio.bfq.{name}")
        }
    };
    // 0 means "not set" (docker always sends weight 0), as runc reads it;
    // the kernel refuses 0.
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write(
            d,
            &weight_file("weight"),
            &w.to_string(),
            "linux.resources.blockIO.weight",
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write(
            d,
            "blkio.leaf_weight",
            &w.to_string(),
            "linux.resources.blockIO.leafWeight",
        )?;
    }
    for (i, wd) in b.weight_device().iter().flatten().enumerate() {
        let field = format!("linux.resources.blockIO.weightDevice[{i}]");
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let line = format!("{}:{} {w}", wd.major(), wd.minor());
            write(d, &weight_file("weight_device"), &line, &field)?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
            let line = format!("{}:{} {w}", wd.major(), wd.minor());
            write(d, "blkio.leaf_weight_device", &line, &field)?;
        }
    }
    let throttles = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ];
    for (name, file, list) in throttles {
        for (i, t) in list.iter().flatten().enumerate() {
            let line = format!("{}:{} {}", t.major(), t.minor(), t.rate());
            write(
                d,
                file,
                &line,
                &format!("linux.resources.blockIO.{name}[{i}]"),
            )?;
        }
    }
    Ok(())
}

pub fn is_frozen(cg: &Cgroup) -> bool {
    cg.dir("freezer")
        .and_then(|d| read_trim(&d.join("freezer.state")))
        .is_some_and(|s| s != "THAWED")
}

pub fn freeze(cg: &Cgroup, frozen: bool) -> Result<()> {
    let Some(d) = cg.dir("freezer") else {
        bail!("the freezer cgroup controller is not mounted on this host");
    };
    let want = if frozen { "FROZEN" } else { "THAWED" };
    // FREEZING may linger while tasks are busy in the kernel: ask again until
    // the state settles.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        write(d, "freezer.state", want, "freezer.state")?;
        if read_trim(&d.join("freezer.state")).as_deref() == Some(want) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{}: did not become {want}",
                d.join("freezer.state").display()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape(r"/a\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
    }

    #[test]
    fn compares_controller_sets() {
        assert!(same_set("cpu,cpuacct", "cpuacct,cpu"));
        assert!(!same_set("cpu", "cpu,cpuacct"));
    }
}
