//! Checking `linux.resources` before anything is created, and the pieces of
//! it that v1 and v2 write alike.

use std::collections::BTreeSet;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxRdma, LinuxResources};

use super::Version;
use crate::bail;
use crate::error::Result;

/// Device rules every container gets after the config's own, on top of a
/// deny of every device, as runc (1.1) adds them: mknod of anything, the
/// devices hutch always creates in /dev, ptys and /dev/net/tun. Not the
/// host's console (c 5:1): /dev/console in a container is a pty.
pub const DEFAULT_DEVICE_RULES: [(char, &str, &str, &str); 11] = [
    ('c', "*", "*", "m"),
    ('b', "*", "*", "m"),
    ('c', "1", "3", "rwm"),    // null
    ('c', "1", "5", "rwm"),    // zero
    ('c', "1", "7", "rwm"),    // full
    ('c', "1", "8", "rwm"),    // random
    ('c', "1", "9", "rwm"),    // urandom
    ('c', "5", "0", "rwm"),    // tty
    ('c', "5", "2", "rwm"),    // ptmx
    ('c', "136", "*", "rwm"),  // pts
    ('c', "10", "200", "rwm"), // net/tun
];

/// "b 8:0 rwm" as devices.allow/deny take it.
pub fn device_line(r: &LinuxDeviceCgroup) -> String {
    let t = r.typ().unwrap_or(LinuxDeviceType::A);
    // -1 means any, as runc reads it (validate refuses other negatives).
    let num = |n: Option<i64>| {
        n.filter(|n| *n >= 0)
            .map_or("*".to_string(), |n| n.to_string())
    };
    let access = r
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    if t == LinuxDeviceType::A {
        // "a" always means every device; the kernel wants no numbers then.
        return "a".to_string();
    }
    format!(
        "{} {}:{} {access}",
        t.as_str(),
        num(r.major()),
        num(r.minor())
    )
}

/// "mlx4_0 hca_handle=2 hca_object=2000" for rdma.max.
pub fn rdma_line(dev: &str, l: &LinuxRdma) -> String {
    let mut s = dev.to_string();
    if let Some(h) = l.hca_handles() {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = l.hca_objects() {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

/// A limit that is a count of bytes, or -1 for none (0 = leave as is).
fn bytes(field: &str, v: Option<i64>) -> Result<()> {
    if let Some(v) = v {
        if v < -1 {
            bail!("{field} {v}: expected a number of bytes, or -1 for no limit");
        }
    }
    Ok(())
}

/// Everything that can be checked without touching the host's cgroups.
pub fn validate(r: &LinuxResources, version: Version) -> Result<()> {
    if let Some(m) = r.memory() {
        bytes("linux.resources.memory.limit", m.limit())?;
        bytes("linux.resources.memory.reservation", m.reservation())?;
        bytes("linux.resources.memory.swap", m.swap())?;
        bytes("linux.resources.memory.kernelTCP", m.kernel_tcp())?;
        if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
            if l > 0 && s > 0 && s < l {
                bail!(
                    "linux.resources.memory.swap {s}: memory+swap must be at least memory.limit ({l})"
                );
            }
        }
        if let Some(s) = m.swappiness() {
            if s > 100 {
                bail!("linux.resources.memory.swappiness {s}: expected 0 to 100");
            }
        }
        #[allow(deprecated)]
        if m.kernel().is_some_and(|k| k != 0) {
            log::warn!(
                "linux.resources.memory.kernel is ignored: kernel memory limits are obsolete"
            );
        }
        if version == Version::V2 {
            if let (Some(s), l) = (m.swap().filter(|s| *s > 0), m.limit()) {
                if l.is_none_or(|l| l <= 0) {
                    bail!(
                        "linux.resources.memory.swap {s}: on cgroup v2 a swap limit needs memory.limit too"
                    );
                }
            }
            if m.kernel_tcp().is_some_and(|v| v != 0) {
                bail!("linux.resources.memory.kernelTCP: not available on cgroup v2");
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(q) = c.quota() {
            if q < -1 {
                bail!("linux.resources.cpu.quota {q}: expected microseconds, or -1 for no limit");
            }
        }
        if let Some(p) = c.period() {
            if p != 0 && !(1000..=1_000_000).contains(&p) {
                bail!("linux.resources.cpu.period {p}: expected 1000 to 1000000 microseconds");
            }
        }
        if let Some(s) = c.shares() {
            if s != 0 && !(2..=262_144).contains(&s) {
                bail!("linux.resources.cpu.shares {s}: expected 2 to 262144");
            }
        }
        if let Some(rt) = c.realtime_runtime() {
            if rt < -1 {
                bail!("linux.resources.cpu.realtimeRuntime {rt}: expected microseconds, or -1");
            }
        }
        if let Some(i) = c.idle() {
            if !(0..=1).contains(&i) {
                bail!("linux.resources.cpu.idle {i}: expected 0 or 1");
            }
        }
        if version == Version::V2
            && (c.realtime_runtime().is_some_and(|v| v != 0)
                || c.realtime_period().is_some_and(|v| v != 0))
        {
            bail!("linux.resources.cpu.realtimeRuntime/realtimePeriod: not available on cgroup v2");
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            check_list(
                "linux.resources.cpu.cpus",
                cpus,
                "/sys/devices/system/cpu/online",
                "CPU",
            )?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            check_list(
                "linux.resources.cpu.mems",
                mems,
                "/sys/devices/system/node/online",
                "memory node",
            )?;
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() < -1 {
            bail!(
                "linux.resources.pids.limit {}: expected a number of processes, or -1 for no limit",
                p.limit()
            );
        }
    }
    if let Some(b) = r.block_io() {
        let weight = |field: &str, w: Option<u16>| -> Result<()> {
            match w {
                Some(w) if w != 0 && !(10..=1000).contains(&w) => {
                    bail!("{field} {w}: expected 10 to 1000")
                }
                _ => Ok(()),
            }
        };
        weight("linux.resources.blockIO.weight", b.weight())?;
        weight("linux.resources.blockIO.leafWeight", b.leaf_weight())?;
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            weight(
                &format!("linux.resources.blockIO.weightDevice[{i}].weight"),
                d.weight(),
            )?;
            weight(
                &format!("linux.resources.blockIO.weightDevice[{i}].leafWeight"),
                d.leaf_weight(),
            )?;
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let size = h.page_size();
        let ok = size.len() > 2
            && size.ends_with('B')
            && size[..size.len() - 2].bytes().all(|b| b.is_ascii_digit())
            && matches!(size.as_bytes()[size.len() - 2], b'K' | b'M' | b'G');
        if !ok {
            bail!(
                "linux.resources.hugepageLimits[{i}].pageSize {size:?}: expected a size like \"2MB\" or \"1GB\""
            );
        }
        if h.limit() < 0 {
            bail!(
                "linux.resources.hugepageLimits[{i}].limit {}: expected a number of bytes",
                h.limit()
            );
        }
    }
    if let Some(n) = r.network() {
        if version == Version::V2 && (n.class_id().is_some() || n.priorities().is_some()) {
            bail!("linux.resources.network: net_cls and net_prio do not exist on cgroup v2");
        }
    }
    if let Some(d) = r.devices().as_deref().filter(|d| !d.is_empty()) {
        // The same walk v2 applies; on v1 it refuses what the kernel would
        // read otherwise than written.
        super::device_rules::compute(d)?;
    }
    if let Some(u) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        if version == Version::V1 {
            let mut keys: Vec<&String> = u.keys().collect();
            keys.sort();
            bail!(
                "linux.resources.unified ({}): needs cgroup v2, and this host uses cgroup v1",
                keys.iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for k in u.keys() {
            let ok = !k.contains('/')
                && k.split_once('.')
                    .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
                && !matches!(
                    k.as_str(),
                    "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control"
                );
            if !ok {
                bail!(
                    "linux.resources.unified key {k:?}: expected a cgroup v2 file name like \"memory.high\""
                );
            }
        }
    }
    Ok(())
}

/// Parse a cpuset list ("0-3,6") into its members.
pub fn parse_list(s: &str) -> Option<BTreeSet<u32>> {
    let mut out = BTreeSet::new();
    for part in s.trim().split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b - a > 65536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => {
                out.insert(part.parse().ok()?);
            }
        }
    }
    Some(out)
}

fn check_list(field: &str, value: &str, online_file: &str, what: &str) -> Result<()> {
    let Some(want) = parse_list(value) else {
        bail!("{field} {value:?}: expected a list like \"0-3,6\"");
    };
    // A host without NUMA information has node 0 only.
    let online_text = std::fs::read_to_string(online_file).unwrap_or_else(|_| "0".into());
    let online = parse_list(&online_text).unwrap_or_default();
    if let Some(bad) = want.iter().find(|n| !online.contains(n)) {
        bail!(
            "{field} {value:?}: {what} {bad} does not exist on this host (online: {})",
            online_text.trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(
            parse_list("0-2,5").map(|s| s.into_iter().collect::<Vec<_>>()),
            Some(vec![0, 1, 2, 5])
        );
        assert!(parse_list("3-1").is_none());
        assert!(parse_list("a").is_none());
        assert!(parse_list("").is_none());
    }

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).expect("resources json")
    }

    #[test]
    fn refuses_bad_values_by_field() {
        for (json, field) in [
            (r#"{"memory":{"limit":-5}}"#, "memory.limit"),
            (r#"{"memory":{"limit":100,"swap":50}}"#, "memory.swap"),
            (r#"{"pids":{"limit":-2}}"#, "pids.limit"),
            (r#"{"cpu":{"cpus":"0-99999"}}"#, "cpu.cpus"),
            (r#"{"cpu":{"shares":1}}"#, "cpu.shares"),
            (r#"{"unified":{"memory.high":"1"}}"#, "unified"),
            (r#"{"devices":[{"allow":true,"access":"x"}]}"#, "devices[0]"),
        ] {
            let e = validate(&res(json), Version::V1)
                .expect_err(json)
                .to_string();
            assert!(e.contains(field), "{json}: {e}");
        }
        let e = validate(&res(r#"{"unified":{"../x":"1"}}"#), Version::V2)
            .expect_err("bad key")
            .to_string();
        assert!(e.contains("unified key"), "{e}");
        assert!(validate(
            &res(r#"{"memory":{"limit":-1},"pids":{"limit":10},"cpu":{"cpus":"0"}}"#),
            Version::V1
        )
        .is_ok());
    }

    #[test]
    fn device_lines() {
        let r: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"access":"rw"}"#).unwrap();
        assert_eq!(device_line(&r), "c 1:* rw");
        let r: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow":false}"#).unwrap();
        assert_eq!(device_line(&r), "a");
    }
}
