//! hutch's conformance inspector. Run as a container's process, it prints one
//! JSON object describing what the process sees, for the tests in
//! integration/conformance.rs to compare with the config they wrote.
//!
//! Usage: inspect [--path P]... [--sysctl KEY]... [--mkdir P:MODE]...
//!
//! Always reported: args, env, cwd, hostname, domainname, every line of
//! /proc/self/status (Uid, Gid, Groups, Umask, Cap*, NoNewPrivs, Seccomp,
//! Cpus_allowed_list...), rlimits, oom_score_adj, namespace links,
//! /proc/self/mountinfo, the personality and uname's machine, the scheduling
//! attributes (sched_getattr), the I/O priority (ioprio_get), CLOCK_MONOTONIC
//! and CLOCK_BOOTTIME, /proc/self/timens_offsets, and the NUMA memory policy
//! (get_mempolicy).
//! --path: lstat of P, a read attempt and a write attempt (never truncating).
//! --sysctl: the value under /proc/sys. --mkdir: the result of mkdir(P, MODE).
//!
//! Everything comes from /proc and plain file calls but for the few syscalls
//! std lacks, in `sys` (the only unsafe code here).

mod sys;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};

const O_NONBLOCK: i32 = 0o4000;

/// A JSON value, just enough of one.
enum J {
    Null,
    Bool(bool),
    Num(u64),
    Int(i64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

fn s(v: impl Into<String>) -> J {
    J::Str(v.into())
}

fn quote(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::Int(n) => {
                let _ = write!(out, "{n}");
            }
            J::Str(v) => quote(out, v),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quote(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// "ok", or the errno's name (what the tests compare against).
fn outcome<T>(r: io::Result<T>) -> J {
    match r {
        Ok(_) => s("ok"),
        Err(e) => s(errno_name(&e)),
    }
}

fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(5) => "EIO",
        Some(6) => "ENXIO",
        Some(13) => "EACCES",
        Some(16) => "EBUSY",
        Some(17) => "EEXIST",
        Some(20) => "ENOTDIR",
        Some(21) => "EISDIR",
        Some(22) => "EINVAL",
        Some(28) => "ENOSPC",
        Some(30) => "EROFS",
        Some(38) => "ENOSYS",
        Some(n) => return format!("errno {n}"),
        None => return e.to_string(),
    };
    name.to_string()
}

fn read_trim(p: &str) -> J {
    match fs::read_to_string(p) {
        Ok(v) => s(v.trim_end_matches('\n')),
        Err(e) => s(format!("error: {}", errno_name(&e))),
    }
}

/// Every "Key:\tvalue" line of /proc/self/status.
fn status() -> J {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    J::Obj(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), s(v.trim())))
            .collect(),
    )
}

/// /proc/self/limits: "Max open files   1024   4096   files", with fixed
/// columns; "unlimited" is u64::MAX, as RLIM_INFINITY.
fn rlimits() -> J {
    const NAMES: [(&str, &str); 16] = [
        ("Max cpu time", "RLIMIT_CPU"),
        ("Max file size", "RLIMIT_FSIZE"),
        ("Max data size", "RLIMIT_DATA"),
        ("Max stack size", "RLIMIT_STACK"),
        ("Max core file size", "RLIMIT_CORE"),
        ("Max resident set", "RLIMIT_RSS"),
        ("Max processes", "RLIMIT_NPROC"),
        ("Max open files", "RLIMIT_NOFILE"),
        ("Max locked memory", "RLIMIT_MEMLOCK"),
        ("Max address space", "RLIMIT_AS"),
        ("Max file locks", "RLIMIT_LOCKS"),
        ("Max pending signals", "RLIMIT_SIGPENDING"),
        ("Max msgqueue size", "RLIMIT_MSGQUEUE"),
        ("Max nice priority", "RLIMIT_NICE"),
        ("Max realtime priority", "RLIMIT_RTPRIO"),
        ("Max realtime timeout", "RLIMIT_RTTIME"),
    ];
    let text = fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        if line.len() < 26 {
            continue;
        }
        let (name, rest) = line.split_at(26);
        let Some((_, key)) = NAMES.iter().find(|(n, _)| *n == name.trim()) else {
            continue;
        };
        let num = |v: Option<&str>| match v {
            Some("unlimited") => J::Num(u64::MAX),
            Some(v) => v.parse().map(J::Num).unwrap_or(J::Null),
            None => J::Null,
        };
        let mut f = rest.split_whitespace();
        let soft = num(f.next());
        let hard = num(f.next());
        out.push((key.to_string(), J::Arr(vec![soft, hard])));
    }
    J::Obj(out)
}

fn namespaces() -> J {
    let kinds = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];
    J::Obj(
        kinds
            .iter()
            .map(|k| {
                let v = fs::read_link(format!("/proc/self/ns/{k}"))
                    .map(|p| s(p.to_string_lossy()))
                    .unwrap_or(J::Null);
                (k.to_string(), v)
            })
            .collect(),
    )
}

/// mountinfo(5): ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - TYPE SOURCE SUPER.
fn mounts() -> J {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        let unescape = |v: &str| {
            v.replace("\\040", " ")
                .replace("\\011", "\t")
                .replace("\\012", "\n")
                .replace("\\134", "\\")
        };
        out.push(J::Obj(vec![
            ("root".into(), s(unescape(l[3]))),
            ("mount_point".into(), s(unescape(l[4]))),
            ("options".into(), J::Arr(l[5].split(',').map(s).collect())),
            (
                "optional".into(),
                J::Arr(l[6..].iter().map(|v| s(*v)).collect()),
            ),
            ("fstype".into(), s(r[0])),
            ("source".into(), s(unescape(r[1]))),
            (
                "super_options".into(),
                J::Arr(r[2].split(',').map(s).collect()),
            ),
        ]));
    }
    J::Arr(out)
}

fn kind(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "link"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "chr"
    } else if ft.is_block_device() {
        "blk"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "sock"
    } else {
        "other"
    }
}

/// lstat, then a read attempt and a write attempt that change nothing: files
/// are opened for writing without O_TRUNC and nothing is written; in
/// directories a probe file is created and removed again.
fn probe(path: &str) -> J {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => {
            return J::Obj(vec![
                ("exists".into(), J::Bool(false)),
                ("error".into(), s(errno_name(&e))),
            ])
        }
    };
    let ft = meta.file_type();
    let rdev = meta.rdev();
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    let mut f = vec![
        ("exists".into(), J::Bool(true)),
        ("type".into(), s(kind(ft))),
        ("mode".into(), J::Num(u64::from(meta.mode() & 0o7777))),
        ("uid".into(), J::Num(u64::from(meta.uid()))),
        ("gid".into(), J::Num(u64::from(meta.gid()))),
        ("major".into(), J::Num(major)),
        ("minor".into(), J::Num(minor)),
    ];
    if ft.is_symlink() {
        let target = fs::read_link(path)
            .map(|t| s(t.to_string_lossy()))
            .unwrap_or(J::Null);
        f.push(("target".into(), target));
    } else if ft.is_dir() {
        f.push((
            "read".into(),
            outcome(fs::read_dir(path).map(|d| d.count())),
        ));
        f.push((
            "entries".into(),
            fs::read_dir(path)
                .map(|d| J::Num(d.count() as u64))
                .unwrap_or(J::Null),
        ));
        // The inspector is PID 1 of every container, and containers of
        // parallel tests share one rootfs: the name must be unique across them.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let probe = format!(
            "{}/.inspector-probe-{}-{nanos}",
            path.trim_end_matches('/'),
            std::process::id()
        );
        let made = OpenOptions::new().write(true).create_new(true).open(&probe);
        if made.is_ok() {
            let _ = fs::remove_file(&probe);
        }
        f.push(("write".into(), outcome(made)));
    } else {
        let mut content = None;
        let read = OpenOptions::new()
            .read(true)
            .custom_flags(O_NONBLOCK)
            .open(path)
            .and_then(|mut file| {
                if ft.is_file() {
                    let mut buf = Vec::new();
                    file.by_ref().take(4096).read_to_end(&mut buf)?;
                    content = Some(String::from_utf8_lossy(&buf).into_owned());
                }
                Ok(())
            });
        f.push(("read".into(), outcome(read)));
        f.push(("content".into(), content.map(s).unwrap_or(J::Null)));
        let write = OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(path);
        f.push(("write".into(), outcome(write)));
    }
    J::Obj(f)
}

/// An error as a string the tests can tell from a value.
fn error(e: &io::Error) -> J {
    s(format!("error: {}", errno_name(e)))
}

fn sched() -> J {
    match sys::sched_getattr() {
        Ok(a) => J::Obj(vec![
            ("policy".into(), J::Num(u64::from(a.policy))),
            ("flags".into(), J::Num(a.flags)),
            ("nice".into(), J::Int(i64::from(a.nice))),
            ("priority".into(), J::Num(u64::from(a.priority))),
            ("runtime".into(), J::Num(a.runtime)),
            ("deadline".into(), J::Num(a.deadline)),
            ("period".into(), J::Num(a.period)),
        ]),
        Err(e) => error(&e),
    }
}

/// ioprio_get: class in the top bits, the level in the low three.
fn ioprio() -> J {
    match sys::ioprio() {
        Ok(v) => J::Obj(vec![
            ("class".into(), J::Num(u64::from(v >> 13))),
            ("level".into(), J::Num(u64::from(v & 0x7))),
        ]),
        Err(e) => error(&e),
    }
}

/// get_mempolicy: mode (its flags in the high bits, as the kernel returns
/// them) and the nodemask as a list.
fn mempolicy() -> J {
    match sys::mempolicy() {
        Ok((mode, nodes)) => J::Obj(vec![
            ("mode".into(), J::Num(u64::from((mode & 0xff) as u32))),
            ("flags".into(), J::Num(u64::from((mode & !0xff) as u32))),
            (
                "nodes".into(),
                J::Arr(nodes.into_iter().map(|n| J::Num(u64::from(n))).collect()),
            ),
        ]),
        Err(e) => error(&e),
    }
}

fn clocks() -> J {
    let read = |id| match sys::clock(id) {
        Ok((sec, nsec)) => J::Arr(vec![J::Int(sec), J::Int(nsec)]),
        Err(e) => error(&e),
    };
    J::Obj(vec![
        ("monotonic".into(), read(libc::CLOCK_MONOTONIC)),
        ("boottime".into(), read(libc::CLOCK_BOOTTIME)),
    ])
}

fn mkdir(spec: &str) -> J {
    let (path, mode) = spec.rsplit_once(':').unwrap_or((spec, "755"));
    let mode = u32::from_str_radix(mode, 8).unwrap_or(0o755);
    let r = fs::DirBuilder::new().mode(mode).create(path);
    if r.is_ok() {
        let _ = fs::remove_dir(path);
    }
    outcome(r)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut paths = BTreeMap::new();
    let mut sysctls = BTreeMap::new();
    let mut mkdirs = BTreeMap::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(v) = it.next() else {
            eprintln!("inspect: {a} needs a value");
            std::process::exit(2);
        };
        match a.as_str() {
            "--path" => {
                paths.insert(v.clone(), probe(v));
            }
            "--sysctl" => {
                let p = format!("/proc/sys/{}", v.replace('.', "/"));
                sysctls.insert(v.clone(), read_trim(&p));
            }
            "--mkdir" => {
                mkdirs.insert(v.clone(), mkdir(v));
            }
            _ => {
                eprintln!("inspect: unknown option {a}");
                std::process::exit(2);
            }
        }
    }
    // First, so the clocks are read as close to the start as can be.
    let clocks = clocks();
    let cwd = std::env::current_dir()
        .map(|p| s(p.to_string_lossy()))
        .unwrap_or_else(|e| s(format!("error: {}", errno_name(&e))));
    let report = J::Obj(vec![
        (
            "args".into(),
            J::Arr(args.iter().map(|a| s(a.as_str())).collect()),
        ),
        (
            "env".into(),
            J::Arr(
                std::env::vars_os()
                    .map(|(k, v)| s(format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
                    .collect(),
            ),
        ),
        ("cwd".into(), cwd),
        ("hostname".into(), read_trim("/proc/sys/kernel/hostname")),
        (
            "domainname".into(),
            read_trim("/proc/sys/kernel/domainname"),
        ),
        ("status".into(), status()),
        ("rlimits".into(), rlimits()),
        (
            "oom_score_adj".into(),
            read_trim("/proc/self/oom_score_adj"),
        ),
        ("ns".into(), namespaces()),
        ("mounts".into(), mounts()),
        ("paths".into(), J::Obj(paths.into_iter().collect())),
        ("sysctl".into(), J::Obj(sysctls.into_iter().collect())),
        ("mkdir".into(), J::Obj(mkdirs.into_iter().collect())),
        ("pid".into(), J::Int(i64::from(std::process::id()))),
        ("mempolicy".into(), mempolicy()),
        (
            "personality".into(),
            sys::personality().map(J::Num).unwrap_or_else(|e| error(&e)),
        ),
        (
            "machine".into(),
            sys::machine().map(s).unwrap_or_else(|e| error(&e)),
        ),
        ("sched".into(), sched()),
        ("ioprio".into(), ioprio()),
        ("clocks".into(), clocks),
        (
            "timens_offsets".into(),
            read_trim("/proc/self/timens_offsets"),
        ),
    ]);
    let mut out = String::new();
    report.write(&mut out);
    out.push('\n');
    print!("{out}");
}
