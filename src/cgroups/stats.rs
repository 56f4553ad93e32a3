//! Resource usage of a container's cgroup, in the shape of runc's `events`
//! ("type": "stats" data): cpu, memory, pids, blkio, hugetlb.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::{read_trim, Cgroup, Version};

fn num(p: &Path) -> Option<u64> {
    let s = read_trim(p)?;
    if s == "max" {
        return Some(u64::MAX);
    }
    s.parse().ok()
}

/// "key value" lines (memory.stat, cpu.stat...).
fn flat(p: &Path) -> BTreeMap<String, u64> {
    read_trim(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// How many times the kernel's OOM killer has killed in this cgroup.
pub fn oom_kills(cg: &Cgroup) -> u64 {
    let file = match cg.version {
        Version::V1 => "memory.oom_control",
        Version::V2 => "memory.events",
    };
    cg.dir("memory")
        .map(|d| flat(&d.join(file)).get("oom_kill").copied().unwrap_or(0))
        .unwrap_or(0)
}

pub fn collect(cg: &Cgroup) -> Value {
    let mut data = Map::new();
    match cg.version {
        Version::V1 => v1(cg, &mut data),
        Version::V2 => v2(cg, &mut data),
    }
    hugetlb(cg, &mut data);
    Value::Object(data)
}

fn entry(limit: Option<u64>, usage: Option<u64>, max: Option<u64>, failcnt: Option<u64>) -> Value {
    json!({
        "limit": limit.unwrap_or(0),
        "usage": usage.unwrap_or(0),
        "max": max.unwrap_or(0),
        "failcnt": failcnt.unwrap_or(0),
    })
}

fn v1(cg: &Cgroup, data: &mut Map<String, Value>) {
    if let Some(d) = cg.dir("cpuacct") {
        // cpuacct.stat counts USER_HZ ticks.
        let ticks = flat(&d.join("cpuacct.stat"));
        let hz_ns = 1_000_000_000 / 100;
        let percpu: Vec<u64> = read_trim(&d.join("cpuacct.usage_percpu"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        let mut cpu = json!({
            "usage": {
                "total": num(&d.join("cpuacct.usage")).unwrap_or(0),
                "percpu": percpu,
                "kernel": ticks.get("system").copied().unwrap_or(0) * hz_ns,
                "user": ticks.get("user").copied().unwrap_or(0) * hz_ns,
            }
        });
        if let Some(c) = cg.dir("cpu") {
            let st = flat(&c.join("cpu.stat"));
            cpu["throttling"] = json!({
                "periods": st.get("nr_periods").copied().unwrap_or(0),
                "throttledPeriods": st.get("nr_throttled").copied().unwrap_or(0),
                "throttledTime": st.get("throttled_time").copied().unwrap_or(0),
            });
        }
        data.insert("cpu".into(), cpu);
    }
    if let Some(d) = cg.dir("memory") {
        let f = |n: &str| num(&d.join(format!("memory.{n}")));
        let raw = flat(&d.join("memory.stat"));
        data.insert(
            "memory".into(),
            json!({
                "cache": raw.get("cache").copied().unwrap_or(0),
                "usage": entry(f("limit_in_bytes"), f("usage_in_bytes"), f("max_usage_in_bytes"), f("failcnt")),
                "swap": entry(f("memsw.limit_in_bytes"), f("memsw.usage_in_bytes"), f("memsw.max_usage_in_bytes"), f("memsw.failcnt")),
                "kernel": entry(f("kmem.limit_in_bytes"), f("kmem.usage_in_bytes"), f("kmem.max_usage_in_bytes"), f("kmem.failcnt")),
                "kernelTCP": entry(f("kmem.tcp.limit_in_bytes"), f("kmem.tcp.usage_in_bytes"), f("kmem.tcp.max_usage_in_bytes"), f("kmem.tcp.failcnt")),
                "raw": raw,
            }),
        );
    }
    pids(cg, data);
    if let Some(d) = cg.dir("blkio") {
        let list = |file: &str| -> Vec<Value> {
            read_trim(&d.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    let mut it = l.split_whitespace();
                    let (dev, op, v) = (it.next()?, it.next()?, it.next()?);
                    let (ma, mi) = dev.split_once(':')?;
                    Some(json!({
                        "major": ma.parse::<u64>().ok()?,
                        "minor": mi.parse::<u64>().ok()?,
                        "op": op,
                        "value": v.parse::<u64>().ok()?,
                    }))
                })
                .collect()
        };
        data.insert(
            "blkio".into(),
            json!({
                "ioServiceBytesRecursive": list("blkio.throttle.io_service_bytes_recursive"),
                "ioServicedRecursive": list("blkio.throttle.io_serviced_recursive"),
            }),
        );
    }
}

/// Usage per huge page size, keyed as runc keys it ("2MB": usage, max,
/// failcnt); present and empty without the controller, as in runc.
fn hugetlb(cg: &Cgroup, data: &mut Map<String, Value>) {
    let mut sizes = Map::new();
    let (usage, max, failcnt) = match cg.version {
        Version::V1 => ("usage_in_bytes", "max_usage_in_bytes", "failcnt"),
        // v2 keeps no peak; failures are the "max" count in .events.
        Version::V2 => ("current", "", "events"),
    };
    let suffix = format!(".{usage}");
    let entries = cg
        .dir("hugetlb")
        .and_then(|d| Some((d, std::fs::read_dir(d).ok()?)));
    if let Some((d, entries)) = entries {
        for name in entries.flatten().map(|e| e.file_name()) {
            let name = name.to_string_lossy();
            // hugetlb.2MB.usage_in_bytes; not hugetlb.2MB.rsvd.usage_in_bytes.
            let Some(size) = name
                .strip_prefix("hugetlb.")
                .and_then(|n| n.strip_suffix(suffix.as_str()))
                .filter(|s| !s.contains('.'))
            else {
                continue;
            };
            let file = |f: &str| d.join(format!("hugetlb.{size}.{f}"));
            let fails = match cg.version {
                Version::V1 => num(&file(failcnt)),
                Version::V2 => flat(&file(failcnt)).get("max").copied(),
            };
            let peak = if max.is_empty() {
                None
            } else {
                num(&file(max))
            };
            sizes.insert(
                size.to_string(),
                json!({
                    "usage": num(&file(usage)).unwrap_or(0),
                    "max": peak.unwrap_or(0),
                    "failcnt": fails.unwrap_or(0),
                }),
            );
        }
    }
    data.insert("hugetlb".into(), Value::Object(sizes));
}

fn pids(cg: &Cgroup, data: &mut Map<String, Value>) {
    if let Some(d) = cg.dir("pids") {
        let limit = num(&d.join("pids.max")).filter(|v| *v != u64::MAX);
        data.insert(
            "pids".into(),
            json!({
                "current": num(&d.join("pids.current")).unwrap_or(0),
                "limit": limit.unwrap_or(0),
            }),
        );
    }
}

fn v2(cg: &Cgroup, data: &mut Map<String, Value>) {
    let Some(d) = cg.v2_dir() else {
        return;
    };
    let st = flat(&d.join("cpu.stat"));
    let get = |m: &BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
    data.insert(
        "cpu".into(),
        json!({
            "usage": {
                "total": get(&st, "usage_usec") * 1000,
                "kernel": get(&st, "system_usec") * 1000,
                "user": get(&st, "user_usec") * 1000,
            },
            "throttling": {
                "periods": get(&st, "nr_periods"),
                "throttledPeriods": get(&st, "nr_throttled"),
                "throttledTime": get(&st, "throttled_usec") * 1000,
            }
        }),
    );
    let raw = flat(&d.join("memory.stat"));
    let events = flat(&d.join("memory.events"));
    let f = |n: &str| num(&d.join(n));
    data.insert(
        "memory".into(),
        json!({
            "cache": get(&raw, "file"),
            "usage": entry(f("memory.max"), f("memory.current"), f("memory.peak"), events.get("max").copied()),
            "swap": entry(f("memory.swap.max"), f("memory.swap.current"), f("memory.swap.peak"), None),
            "raw": raw,
        }),
    );
    pids(cg, data);
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for line in read_trim(&d.join("io.stat")).unwrap_or_default().lines() {
        let mut it = line.split_whitespace();
        let Some((ma, mi)) = it.next().and_then(|dev| dev.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse::<u64>(), mi.parse::<u64>()) else {
            continue;
        };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(json!({"major": major, "minor": minor, "op": op, "value": v}));
        }
    }
    data.insert(
        "blkio".into(),
        json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios}),
    );
}
