//! The OCI runtime validation suite (opencontainers/runtime-tools:
//! `validation/*` and the `runtimetest` program they run in containers),
//! reproduced. Each test drives hutch as one of the suite's programs does —
//! its command lines (`create --bundle B --pid-file F ID`, `state ID`,
//! `kill ID KILL`, `delete ID`), its bundle (the rootfs *is* the bundle:
//! `root.path` is "."), its generated config (runtime-tools' generator
//! defaults, seccomp profile included) — and asserts what the program
//! asserts, from the host and from inside the container (the inspector
//! standing in for runtimetest). docs/validation.md maps every program of
//! the suite to the tests here, with hutch's status.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

// ---------------------------------------------------------------------------
// The suite's bundle and config

/// An allow-list seccomp profile of the generation the generator writes:
/// default action ERRNO, the three x86 ABIs, the syscalls a docker-era
/// profile allowed (none of the newer ones: no clone3, close_range, rseq,
/// openat2, faccessat2, pidfd_*), `personality` and `clone` only with the
/// argument conditions it gives them.
fn generator_seccomp(caps: &[&str]) -> Value {
    let allowed = "accept accept4 access alarm bind brk capget capset chdir chmod chown \
        clock_getres clock_gettime clock_nanosleep close connect copy_file_range creat dup dup2 \
        dup3 epoll_create epoll_create1 epoll_ctl epoll_pwait epoll_wait eventfd eventfd2 execve \
        execveat exit exit_group faccessat fadvise64 fallocate fanotify_mark fchdir fchmod \
        fchmodat fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr \
        fsetxattr fstat fstatfs fsync ftruncate futex futimesat getcpu getcwd getdents \
        getdents64 getegid geteuid getgid getgroups getitimer getpeername getpgid getpgrp getpid \
        getppid getpriority getrandom getresgid getresuid getrlimit get_robust_list getrusage \
        getsid getsockname getsockopt gettid gettimeofday getuid getxattr inotify_add_watch \
        inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents \
        ioprio_get ioprio_set io_setup io_submit kill lchown lgetxattr link linkat listen \
        listxattr llistxattr lremovexattr lseek lsetxattr lstat madvise memfd_create mincore \
        mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify \
        mq_open mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync \
        munlock munlockall munmap nanosleep newfstatat open openat pause pipe pipe2 poll ppoll \
        prctl pread64 preadv prlimit64 pselect6 pwrite64 pwritev read readahead readlink \
        readlinkat readv recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat \
        renameat2 restart_syscall rmdir rt_sigaction rt_sigpending rt_sigprocmask \
        rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_tgsigqueueinfo \
        sched_getaffinity sched_getattr sched_getparam sched_get_priority_max \
        sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_setaffinity \
        sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget \
        semop semtimedop sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups \
        setitimer setpgid setpriority setregid setresgid setresuid setreuid setrlimit \
        set_robust_list setsid setsockopt set_tid_address setuid setxattr shmat shmctl shmdt \
        shmget shutdown sigaltstack signalfd signalfd4 socket socketpair splice stat statfs statx \
        symlink symlinkat sync sync_file_range syncfs sysinfo syslog tee tgkill time \
        timer_create timer_delete timerfd_create timerfd_gettime timerfd_settime \
        timer_getoverrun timer_gettime timer_settime times tkill truncate umask uname unlink \
        unlinkat utime utimensat utimes vfork vmsplice wait4 waitid write writev arch_prctl \
        modify_ldt";
    let mut syscalls = vec![
        json!({ "names": allowed.split_whitespace().collect::<Vec<_>>(), "action": "SCMP_ACT_ALLOW" }),
        json!({ "names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
            { "index": 0, "value": 0, "op": "SCMP_CMP_EQ" },
            { "index": 0, "value": 8, "op": "SCMP_CMP_EQ" },
            { "index": 0, "value": 4294967295u64, "op": "SCMP_CMP_EQ" }
        ]}),
    ];
    if caps.contains(&"CAP_SYS_CHROOT") {
        syscalls.push(json!({ "names": ["chroot"], "action": "SCMP_ACT_ALLOW" }));
    }
    // clone without any CLONE_NEW* flag (mask 0x7E020000, value 0).
    syscalls.push(
        json!({ "names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [
            { "index": 0, "value": 2114060288u64, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }
        ]}),
    );
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

/// runtime-tools' `generate.New("linux")` after `util.GetDefaultGenerator`:
/// rootfs ".", hostname "mrsdalloway", the 14 capabilities in every set,
/// RLIMIT_NOFILE 1024, six mounts, a deny-all device rule, five namespaces
/// and the seccomp profile; running `args`.
fn generator_default(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "hostname": "mrsdalloway",
        "root": { "path": ".", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "capabilities": {
                "bounding": DEFAULT_CAPS, "permitted": DEFAULT_CAPS, "inheritable": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS, "ambient": DEFAULT_CAPS
            }
        },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] }
        ],
        "linux": {
            "resources": { "devices": [{ "allow": false, "access": "rwm" }] },
            "namespaces": [
                { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
                { "type": "uts" }, { "type": "mount" }
            ],
            "seccomp": generator_seccomp(&DEFAULT_CAPS)
        }
    })
}

/// The suite's bundle: a directory holding the extracted rootfs and
/// config.json side by side (`root.path` "."), so /config.json is visible
/// inside the container, as runtimetest reads it.
struct SuiteBundle(RootfsCopy);

impl SuiteBundle {
    fn new() -> SuiteBundle {
        // The copy must hold the inspector.
        inspector();
        SuiteBundle(RootfsCopy::new())
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn arg(&self) -> &str {
        self.path().to_str().unwrap()
    }

    /// A file of the rootfs, as the host sees it.
    fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel.trim_start_matches('/'))
    }

    fn set_config(&self, config: &Value) {
        fs::write(
            self.path().join("config.json"),
            serde_json::to_string_pretty(config).unwrap(),
        )
        .unwrap();
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A line of the inspector's /proc/self/status.
#[track_caller]
fn status<'a>(r: &'a Value, key: &str) -> &'a str {
    r["status"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status: {}", r["status"]))
}

/// `create --bundle B ID` with the container's stdout and stderr going to
/// a file, as the suite's `Runtime.Create` does.
fn create(env: &Env, bundle: &SuiteBundle, id: &str) -> (Container, Output) {
    let c = Container::new(id);
    let out = env.create_args(&["--bundle", bundle.arg(), id], None, &c.out);
    (c, out)
}

/// Create and start `config` from `bundle`, and wait until it stops.
#[track_caller]
fn run_to_stop(env: &Env, bundle: &SuiteBundle, config: &Value) -> (Container, String) {
    bundle.set_config(config);
    let id = env.id();
    let (c, out) = create(env, bundle, &id);
    out.ok();
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    (c, id)
}

/// runtime-tools' `RuntimeInsideValidate`: create, start, wait for
/// `stopped`, read what the program printed. The program is the inspector,
/// asked about everything runtimetest looks at for `config`; its report is
/// checked as runtimetest checks it, and returned for more.
#[track_caller]
fn inside(env: &Env, bundle: &SuiteBundle, mut config: Value) -> Value {
    let mut argv: Vec<String> = vec![INSPECTOR.to_string()];
    argv.extend(runtimetest_args(&config));
    config["process"]["args"] = json!(argv);
    let (c, _) = run_to_stop(env, bundle, &config);
    let out = c.output();
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report from the inspector: {out:?}"));
    let report: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad report ({e}): {line}"));
    runtimetest(&config, &report);
    report
}

/// runtimetest's default devices (`os.Stat`, so /dev/ptmx is looked at
/// through its link) and default symlinks.
const DEFAULT_DEVICES: [(&str, &str, u64, u64); 7] = [
    ("/dev/null", "chr", 1, 3),
    ("/dev/zero", "chr", 1, 5),
    ("/dev/full", "chr", 1, 7),
    ("/dev/random", "chr", 1, 8),
    ("/dev/urandom", "chr", 1, 9),
    ("/dev/tty", "chr", 5, 0),
    ("/dev/pts/ptmx", "chr", 5, 2),
];
const DEFAULT_SYMLINKS: [(&str, &str); 5] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/ptmx", "pts/ptmx"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];
const DEFAULT_FS: [(&str, &str); 4] = [
    ("/proc", "proc"),
    ("/sys", "sysfs"),
    ("/dev/pts", "devpts"),
    ("/dev/shm", "tmpfs"),
];

fn config_strings<'a>(config: &'a Value, ptr: &str) -> Vec<&'a str> {
    config.pointer(ptr).map(strings).unwrap_or_default()
}

/// The inspector's arguments for everything runtimetest reads.
fn runtimetest_args(config: &Value) -> Vec<String> {
    let mut paths: Vec<String> = vec![
        "/".into(),
        "/proc/self/uid_map".into(),
        "/proc/self/gid_map".into(),
    ];
    paths.extend(DEFAULT_DEVICES.iter().map(|d| d.0.to_string()));
    paths.extend(DEFAULT_SYMLINKS.iter().map(|d| d.0.to_string()));
    for ptr in ["/linux/maskedPaths", "/linux/readonlyPaths"] {
        paths.extend(config_strings(config, ptr).iter().map(|p| p.to_string()));
    }
    for d in config["linux"]["devices"].as_array().into_iter().flatten() {
        paths.push(d["path"].as_str().unwrap().to_string());
    }
    let mut args = Vec::new();
    for p in paths {
        args.push("--path".to_string());
        args.push(p);
    }
    for (k, _) in config["linux"]["sysctl"].as_object().into_iter().flatten() {
        args.push("--sysctl".to_string());
        args.push(k.clone());
    }
    args
}

#[track_caller]
fn probe<'a>(r: &'a Value, p: &str) -> &'a Value {
    let v = &r["paths"][p];
    assert!(v.is_object(), "no probe of {p}: {}", r["paths"]);
    v
}

/// runtimetest's `mountMatch`: destination; type when the config gives
/// one; for (r)bind mounts the base name of the source against the mount's
/// root, else the source itself.
fn mount_matches(config_mount: &Value, m: &Value) -> bool {
    let dest = config_mount["destination"].as_str().unwrap();
    if m["mount_point"] != dest {
        return false;
    }
    if let Some(t) = config_mount["type"].as_str().filter(|t| !t.is_empty()) {
        if m["fstype"] != t {
            return false;
        }
    }
    let Some(source) = config_mount["source"].as_str().filter(|s| !s.is_empty()) else {
        return true;
    };
    let bind = strings(&config_mount["options"])
        .iter()
        .any(|o| *o == "bind" || *o == "rbind");
    if bind {
        let base = |p: &str| Path::new(p).file_name().map(|f| f.to_os_string());
        base(source) == base(m["root"].as_str().unwrap())
    } else {
        m["source"] == source
    }
}

/// The id maps of /proc/self/{uid,gid}_map as (container, host, size).
fn id_map(r: &Value, file: &str) -> Vec<(u64, u64, u64)> {
    let text = probe(r, file)["content"].as_str().unwrap_or("");
    let mut out: Vec<(u64, u64, u64)> = text
        .lines()
        .map(|l| {
            let f: Vec<u64> = l.split_whitespace().map(|v| v.parse().unwrap()).collect();
            (f[0], f[1], f[2])
        })
        .collect();
    out.sort();
    out
}

/// Everything runtimetest checks, against the inspector's report.
#[track_caller]
fn runtimetest(config: &Value, r: &Value) {
    let process = &config["process"];
    // validateRootFS
    if config["root"]["readonly"] == true {
        assert_ne!(probe(r, "/")["write"], "ok", "root.readonly: / is writable");
    }
    // validateHostname
    if let Some(h) = config["hostname"].as_str().filter(|h| !h.is_empty()) {
        assert_eq!(r["hostname"], h, "hostname");
    }
    // validateProcess
    if let Some(cwd) = process["cwd"].as_str().filter(|c| !c.is_empty()) {
        assert_eq!(r["cwd"], cwd, "process.cwd");
    }
    let env = strings(&r["env"]);
    for e in strings(&process["env"]) {
        assert!(env.contains(&e), "process.env {e:?} missing: {env:?}");
    }
    // validatePosixMounts: every mount found, in the config's order.
    let mounts = r["mounts"].as_array().unwrap();
    let mut next = 0;
    for (i, m) in config["mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let found = mounts[next..].iter().position(|sys| mount_matches(m, sys));
        let Some(k) = found else {
            panic!("mounts[{i}] {m} not found in order after #{next}: {mounts:#?}");
        };
        next += k + 1;
    }
    // validatePosixUser
    let first = |key: &str| {
        status(r, key)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(first("Uid"), process["user"]["uid"].to_string(), "uid");
    assert_eq!(first("Gid"), process["user"]["gid"].to_string(), "gid");
    let groups: Vec<&str> = status(r, "Groups").split_whitespace().collect();
    for g in process["user"]["additionalGids"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert!(
            groups.contains(&g.to_string().as_str()),
            "additional gid {g} not in {groups:?}"
        );
    }
    // validateRlimits
    for l in process["rlimits"].as_array().into_iter().flatten() {
        let t = l["type"].as_str().unwrap();
        assert_eq!(
            r["rlimits"][t],
            json!([l["soft"], l["hard"]]),
            "{t} (soft, hard)"
        );
    }
    // validateCapabilities: each set exactly as configured.
    if process["capabilities"].is_object() {
        for (set, line) in [
            ("bounding", "CapBnd"),
            ("effective", "CapEff"),
            ("inheritable", "CapInh"),
            ("permitted", "CapPrm"),
            ("ambient", "CapAmb"),
        ] {
            let want = cap_mask(&strings(&process["capabilities"][set]));
            assert_eq!(status(r, line), want, "process.capabilities.{set}");
        }
    }
    // validateDefaultSymlinks, validateDefaultFS, validateDefaultDevices
    for (link, target) in DEFAULT_SYMLINKS {
        let p = probe(r, link);
        assert_eq!(
            (p["type"].as_str(), p["target"].as_str()),
            (Some("link"), Some(target)),
            "{link}"
        );
    }
    for (point, fstype) in DEFAULT_FS {
        let last = mounts.iter().rev().find(|m| m["mount_point"] == point);
        assert_eq!(
            last.map(|m| m["fstype"].clone()),
            Some(json!(fstype)),
            "{point}"
        );
    }
    for (dev, kind, major, minor) in DEFAULT_DEVICES {
        let p = probe(r, dev);
        assert_eq!(
            (&p["type"], &p["major"], &p["minor"]),
            (&json!(kind), &json!(major), &json!(minor)),
            "{dev}"
        );
    }
    // validateLinuxDevices
    for d in config["linux"]["devices"].as_array().into_iter().flatten() {
        let path = d["path"].as_str().unwrap();
        let p = probe(r, path);
        let kind = match d["type"].as_str().unwrap() {
            "b" => "blk",
            "p" => "fifo",
            _ => "chr",
        };
        assert_eq!(p["type"], kind, "{path}: {p}");
        if kind != "fifo" {
            assert_eq!(
                (&p["major"], &p["minor"]),
                (&d["major"], &d["minor"]),
                "{path}"
            );
        }
        if let Some(mode) = d["fileMode"].as_u64() {
            assert_eq!(
                p["mode"].as_u64().unwrap() & 0o777,
                mode & 0o777,
                "{path} mode"
            );
        }
        for id in ["uid", "gid"] {
            if !d[id].is_null() {
                assert_eq!(p[id], d[id], "{path} {id}");
            }
        }
    }
    // validateLinuxProcess: args as configured, noNewPrivileges.
    assert_eq!(r["args"], process["args"], "process.args");
    let nnp = if process["noNewPrivileges"] == true {
        "1"
    } else {
        "0"
    };
    assert_eq!(status(r, "NoNewPrivs"), nnp, "noNewPrivileges");
    // validateMaskedPaths: nothing to read (absent, empty, or /dev/null).
    for m in config_strings(config, "/linux/maskedPaths") {
        let p = probe(r, m);
        let hidden = p["exists"] == false
            || (p["type"] == "dir" && p["entries"] == 0)
            || (p["type"] == "chr" && p["major"] == 1 && p["minor"] == 3)
            || (p["type"] == "file" && p["content"] == "")
            || (p["read"].is_string() && p["read"] != "ok");
        assert!(hidden, "masked path {m} readable: {p}");
    }
    // validateOOMScoreAdj
    if let Some(adj) = process["oomScoreAdj"].as_i64() {
        assert_eq!(r["oom_score_adj"], adj.to_string(), "oomScoreAdj");
    }
    // validateSeccomp: a filter is on.
    if config["linux"]["seccomp"].is_object() {
        assert_eq!(status(r, "Seccomp"), "2", "seccomp");
    }
    // validateROPaths: nothing writable.
    for p in config_strings(config, "/linux/readonlyPaths") {
        let probe = probe(r, p);
        assert!(
            probe["exists"] == false || probe["write"] != "ok",
            "read-only path {p} writable: {probe}"
        );
    }
    // validateSysctls
    for (k, v) in config["linux"]["sysctl"].as_object().into_iter().flatten() {
        assert_eq!(&r["sysctl"][k], v, "sysctl {k}");
    }
    // validateUIDMappings, validateGIDMappings
    for (field, file) in [
        ("uidMappings", "/proc/self/uid_map"),
        ("gidMappings", "/proc/self/gid_map"),
    ] {
        let Some(maps) = config["linux"][field].as_array() else {
            continue;
        };
        let mut want: Vec<(u64, u64, u64)> = maps
            .iter()
            .map(|m| {
                let n = |k: &str| m[k].as_u64().unwrap();
                (n("containerID"), n("hostID"), n("size"))
            })
            .collect();
        want.sort();
        assert_eq!(id_map(r, file), want, "linux.{field}");
    }
}

/// The bits of `names` as /proc/self/status prints a capability set.
fn cap_mask(names: &[&str]) -> String {
    let mask = names.iter().fold(0u64, |m, n| {
        let name = n.trim_start_matches("CAP_");
        let bit = cap_names()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("unknown capability {n}"));
        m | (1u64 << bit)
    });
    format!("{mask:016x}")
}

/// Capability names by number (capability.h).
const CAP_NAMES: &str = "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID \
    SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER \
    SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE \
    SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP \
    MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF \
    CHECKPOINT_RESTORE";

fn cap_names() -> impl Iterator<Item = &'static str> {
    CAP_NAMES.split_whitespace()
}

/// The capabilities hutch itself holds (its permitted set), by name.
fn held_caps() -> Vec<String> {
    let text = fs::read_to_string("/proc/self/status").unwrap();
    let hex = text
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:"))
        .unwrap()
        .trim();
    let mask = u64::from_str_radix(hex, 16).unwrap();
    cap_names()
        .enumerate()
        .filter(|(b, _)| mask & (1u64 << b) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect()
}

// ---------------------------------------------------------------------------
// Programs that run runtimetest in the container (RuntimeInsideValidate)

/// default: the generator's config as it is, seccomp profile included (an
/// old allow-list without close_range once killed hutch's init here).
#[test]
fn default_config_passes_every_runtimetest_check() {
    let env = Env::new("vt-default");
    let b = SuiteBundle::new();
    let r = inside(&env, &b, generator_default(&[]));
    // runtimetest reads its config at /config.json: the rootfs is the bundle.
    assert_eq!(probe(&r, "/")["type"], "dir");
    assert!(b.file("config.json").exists());
}

/// hostname: an empty hostname leaves the UTS namespace's own; a set one is
/// the container's.
#[test]
fn hostname_empty_and_set() {
    let env = Env::new("vt-hostname");
    let b = SuiteBundle::new();
    for h in ["", "hostname-specific"] {
        let mut c = generator_default(&[]);
        c["hostname"] = json!(h);
        let r = inside(&env, &b, c);
        if !h.is_empty() {
            assert_eq!(r["hostname"], h);
        }
    }
}

/// process: cwd /test (made in the rootfs first) and two variables.
#[test]
fn process_cwd_and_env() {
    let env = Env::new("vt-process");
    let b = SuiteBundle::new();
    fs::create_dir_all(b.file("/test")).unwrap();
    let mut c = generator_default(&[]);
    c["process"]["cwd"] = json!("/test");
    let e = c["process"]["env"].as_array_mut().unwrap();
    e.push(json!("testa=valuea"));
    e.push(json!("testb=123"));
    let r = inside(&env, &b, c);
    assert_eq!(r["cwd"], "/test");
}

/// process_user: uid 10, gid 10, additional gid 5, umask 002; the
/// capabilities stay those of the config (ambient carries them past the
/// uid change).
#[test]
fn process_user_uid_gid_groups_umask() {
    let env = Env::new("vt-user");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["process"]["user"] = json!({ "uid": 10, "gid": 10, "additionalGids": [5], "umask": 2 });
    let r = inside(&env, &b, c);
    assert_eq!(status(&r, "Umask"), "0002");
    assert_eq!(status(&r, "Groups"), "5");
}

/// process_rlimits: soft and hard, set per type.
#[test]
fn process_rlimits_are_set() {
    let env = Env::new("vt-rlimits");
    let b = SuiteBundle::new();
    let g: u64 = 1 << 30;
    let mut c = generator_default(&[]);
    c["process"]["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "hard": 4000, "soft": 3000 },
        { "type": "RLIMIT_AS", "hard": 2 * g, "soft": g },
        { "type": "RLIMIT_CORE", "hard": 4 * g, "soft": 3 * g },
        { "type": "RLIMIT_DATA", "hard": 6 * g, "soft": 5 * g },
        { "type": "RLIMIT_FSIZE", "hard": 8 * g, "soft": 7 * g },
        { "type": "RLIMIT_STACK", "hard": 10 * g, "soft": 9 * g },
        { "type": "RLIMIT_CPU", "hard": 120, "soft": 60 }
    ]);
    inside(&env, &b, c);
}

/// process_rlimits_fail, process_capabilities_fail: a value with no kernel
/// meaning fails create, naming it, and leaves nothing.
#[test]
fn unknown_rlimit_or_capability_fails_create() {
    let env = Env::new("vt-badvalues");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["true"]);
    c["process"]["rlimits"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "RLIMIT_TEST", "hard": 1024, "soft": 1024 }));
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.fails_with(&["RLIMIT_TEST"]);
    env.assert_gone(&id);

    let mut c = generator_default(&["true"]);
    c["process"]["capabilities"]["bounding"]
        .as_array_mut()
        .unwrap()
        .push(json!("CAP_TEST"));
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id)
        .1
        .fails_with(&["process.capabilities.bounding", "TEST"]);
    env.assert_gone(&id);
}

/// process_capabilities: SetupPrivileged — every capability in every set,
/// no seccomp. Here "every" is every one hutch holds: a capability the host
/// took from root fails create, naming it, instead of the init after it.
#[test]
fn privileged_capabilities_all_sets() {
    let env = Env::new("vt-privileged");
    let b = SuiteBundle::new();
    let held = held_caps();
    let held: Vec<&str> = held.iter().map(String::as_str).collect();
    let mut c = generator_default(&[]);
    for set in [
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    ] {
        c["process"]["capabilities"][set] = json!(held);
    }
    c["linux"].as_object_mut().unwrap().remove("seccomp");
    inside(&env, &b, c.clone());

    let missing: Vec<String> = cap_names()
        .map(|n| format!("CAP_{n}"))
        .filter(|n| !held.contains(&n.as_str()))
        .collect();
    if let Some(m) = missing.first() {
        // The generator's full list, on a host whose root lacks some.
        c["process"]["args"] = json!(["true"]);
        c["process"]["capabilities"]["permitted"]
            .as_array_mut()
            .unwrap()
            .push(json!(m));
        b.set_config(&c);
        let id = env.id();
        create(&env, &b, &id)
            .1
            .fails_with(&["process.capabilities.permitted", m, "not held"]);
        env.assert_gone(&id);
    }
}

/// process_oom_score_adj (and the oomScoreAdj of linux_process).
#[test]
fn process_oom_score_adj() {
    let env = Env::new("vt-oom");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["process"]["oomScoreAdj"] = json!(500);
    inside(&env, &b, c);
}

/// linux_process, linux_process_apparmor_profile: hutch cannot apply an
/// AppArmor profile or an SELinux process label on this host, and says so
/// at create (runc fails these too: it refuses a process label without
/// SELinux, and fails writing the AppArmor profile).
#[test]
fn apparmor_profile_and_selinux_label_are_refused() {
    let env = Env::new("vt-lsm");
    let b = SuiteBundle::new();
    for (field, value, token) in [
        (
            "apparmorProfile",
            "acme_secure_profile",
            "process.apparmorProfile",
        ),
        (
            "selinuxLabel",
            "system_u:system_r:svirt_lxc_net_t:s0:c124,c675",
            "process.selinuxLabel",
        ),
    ] {
        let mut c = generator_default(&["true"]);
        c["process"][field] = json!(value);
        b.set_config(&c);
        let id = env.id();
        create(&env, &b, &id).1.fails_with(&[token]);
        env.assert_gone(&id);
    }
}

/// linux_mount_label: on a kernel without SELinux nothing labels mounts, and
/// the label is ignored (as runc does); where SELinux runs it is refused.
#[test]
fn mount_label_without_selinux_is_ignored() {
    let env = Env::new("vt-mountlabel");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["mountLabel"] = json!("system_u:object_r:svirt_sandbox_file_t:s0:c715,c811");
    let selinux = fs::read_to_string("/proc/filesystems")
        .unwrap()
        .contains("selinuxfs");
    if selinux {
        c["process"]["args"] = json!(["true"]);
        b.set_config(&c);
        let id = env.id();
        create(&env, &b, &id).1.fails_with(&["linux.mountLabel"]);
    } else {
        inside(&env, &b, c);
    }
}

/// linux_sysctl
#[test]
fn linux_sysctl_ip_forward() {
    let env = Env::new("vt-sysctl");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
    inside(&env, &b, c);
}

/// linux_devices: a char, a block and a fifo device, mode 0660 (the fifo
/// with major/minor too, which mean nothing for it).
#[test]
fn linux_devices_char_block_fifo() {
    let env = Env::new("vt-devices");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["devices"] = json!([
        { "path": "/dev/test1", "type": "c", "major": 10, "minor": 666, "fileMode": 432, "uid": 0, "gid": 0 },
        { "path": "/dev/test2", "type": "b", "major": 8, "minor": 666, "fileMode": 432, "uid": 0, "gid": 0 },
        { "path": "/dev/test3", "type": "p", "major": 8, "minor": 666, "fileMode": 432 }
    ]);
    inside(&env, &b, c);
}

/// Write `secret` to each file, making its parent directories.
fn plant(b: &SuiteBundle, files: &[&str], secret: &str) {
    for f in files {
        let p = b.file(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, secret).unwrap();
    }
}

fn mknod(path: &Path, kind: u32) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mknod on a path of the test's own rootfs copy.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o666, 0) };
    assert_eq!(rc, 0, "mknod {path:?}: {}", std::io::Error::last_os_error());
}

/// The runtime-tools layout for maskedPaths and readonlyPaths: files holding
/// `secret` in nested directories named after `word`, and the five paths
/// (nested in each other) that list them.
fn nested_layout(b: &SuiteBundle, word: &str, secret: &str) -> Value {
    let named = |p: &str| p.replace('W', word);
    let files = [
        "/W-dir/W-subdir/W-file",
        "/W-dir/W-file",
        "/W-file",
        "/W-dir/W-subdir/tmpfile",
    ]
    .map(named);
    plant(b, &files.each_ref().map(String::as_str), secret);
    json!([
        "/W-dir",
        "/W-file",
        "/W-dir/W-subdir",
        "/W-dir/W-file",
        "/W-dir/W-subdir/W-file"
    ]
    .map(named))
}

/// A block device, char device and fifo at `node`, each listed alone in
/// `linux.{field}`; `check` gets the inspector's report and the kind.
fn each_device_node(
    env: &Env,
    b: &SuiteBundle,
    field: &str,
    node: &str,
    check: impl Fn(&Value, &str),
) {
    for (kind, name) in [
        (libc::S_IFBLK, "block"),
        (libc::S_IFCHR, "char"),
        (libc::S_IFIFO, "fifo"),
    ] {
        let path = b.file(node);
        let _ = fs::remove_file(&path);
        mknod(&path, kind);
        let mut c = generator_default(&[]);
        c["linux"][field] = json!([node]);
        check(&inside(env, b, c), name);
    }
}

/// linux_masked_paths: directories and files, nested in masked ones (gone
/// from view then, which is fine); device nodes and fifos; relative paths
/// and symlinks out of the rootfs refused.
#[test]
fn linux_masked_paths() {
    let env = Env::new("vt-masked");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["maskedPaths"] = nested_layout(&b, "masked", "secrets");
    let r = inside(&env, &b, c);
    assert_eq!(probe(&r, "/masked-dir")["entries"], 0);
    assert_eq!(probe(&r, "/masked-file")["type"], "chr");
    each_device_node(&env, &b, "maskedPaths", "/masked-device", |r, name| {
        let p = probe(r, "/masked-device");
        assert_eq!(
            (&p["major"], &p["minor"]),
            (&json!(1), &json!(3)),
            "{name}: {p}"
        );
    });
    bad_paths_fail_create(&env, &b, "maskedPaths");
}

/// A symlink pointing at itself fails create. (A relative path is taken
/// as relative to `/`, as runc does: see lifecycle.rs.)
fn bad_paths_fail_create(env: &Env, b: &SuiteBundle, field: &str) {
    let mut c = generator_default(&["true"]);
    let link = b.file("/loop-symlink");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink("../loop-symlink", &link).unwrap();
    c["linux"][field] = json!(["/loop-symlink"]);
    b.set_config(&c);
    let id = env.id();
    create(env, b, &id)
        .1
        .fails_with(&[&format!("linux.{field}"), "/loop-symlink"]);
    env.assert_gone(&id);
}

/// linux_readonly_paths: the same layout, read-only instead of hidden.
#[test]
fn linux_readonly_paths() {
    let env = Env::new("vt-readonly");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["readonlyPaths"] = nested_layout(&b, "readonly", "immutable");
    let r = inside(&env, &b, c);
    for p in [
        "/readonly-file",
        "/readonly-dir/readonly-subdir/readonly-file",
    ] {
        assert_eq!(probe(&r, p)["content"], "immutable", "{p} still readable");
        assert_eq!(probe(&r, p)["write"], "EROFS", "{p}");
    }
    each_device_node(&env, &b, "readonlyPaths", "/readonly-device", |r, name| {
        let m = r["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["mount_point"] == "/readonly-device")
            .unwrap_or_else(|| panic!("{name}: /readonly-device not mounted"));
        assert!(strings(&m["options"]).contains(&"ro"), "{name}: {m}");
    });
    bad_paths_fail_create(&env, &b, "readonlyPaths");
}

/// root_readonly_true
#[test]
fn root_readonly() {
    let env = Env::new("vt-rootro");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["root"]["readonly"] = json!(true);
    let r = inside(&env, &b, c);
    assert_eq!(probe(&r, "/")["write"], "EROFS");
}

/// mounts: tmpfs mounts with a propagation option each, and bind mounts of
/// /etc with every propagation, carrying tmpfs data options (which a bind
/// mount ignores) and no type.
#[test]
fn mounts_with_propagation_and_bind_options() {
    let env = Env::new("vt-mounts");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    let defaults = ["nosuid", "strictatime", "mode=755", "size=1k"];
    let list = c["mounts"].as_array_mut().unwrap();
    for p in ["shared", "slave", "private"] {
        let mut o: Vec<&str> = defaults.to_vec();
        o.push(p);
        list.push(json!({
            "destination": format!("/tmp/test-{p}"), "type": "tmpfs", "source": "tmpfs", "options": o
        }));
    }
    for (bind, p) in [
        ("bind", "shared"),
        ("rbind", "rshared"),
        ("bind", "slave"),
        ("rbind", "rslave"),
        ("bind", "private"),
        ("rbind", "rprivate"),
        ("bind", "unbindable"),
        ("rbind", "runbindable"),
    ] {
        let mut o: Vec<&str> = defaults.to_vec();
        o.push(bind);
        o.push(p);
        list.push(
            json!({ "destination": format!("/mnt/etc-{p}"), "source": "/etc", "options": o }),
        );
    }
    let r = inside(&env, &b, c);
    let opt = |point: &str| -> Vec<String> {
        r["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["mount_point"] == point)
            .map(|m| {
                strings(&m["optional"])
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            })
            .unwrap()
    };
    assert!(opt("/tmp/test-shared")
        .iter()
        .any(|o| o.starts_with("shared:")));
    assert!(opt("/mnt/etc-unbindable").contains(&"unbindable".to_string()));
    assert!(opt("/mnt/etc-private").is_empty());
}

/// linux_rootfs_propagation: for shared, slave, private and unbindable,
/// what runtimetest does: rbind / elsewhere, mount something new, and look
/// whether it shows through the copy (shared only); unbindable refuses the
/// rbind with EINVAL. With CAP_SYS_ADMIN and no seccomp, as the test sets.
#[test]
fn rootfs_propagation_as_runtimetest_probes_it() {
    let env = Env::new("vt-propagation");
    let b = SuiteBundle::new();
    let script = "mkdir -p /target /mnt-src /mnt-dst && touch /mnt-src/example
        if ! mount -o rbind / /target 2>/dev/null; then echo rbind=refused; exit 0; fi
        mount -o bind /mnt-src /mnt-dst || exit 1
        if [ -e /target/mnt-dst/example ]; then echo exposed=yes; else echo exposed=no; fi";
    for (mode, want) in [
        ("shared", "exposed=yes"),
        ("slave", "exposed=no"),
        ("private", "exposed=no"),
        ("unbindable", "rbind=refused"),
    ] {
        let mut c = generator_default(&["sh", "-c", script]);
        for set in [
            "bounding",
            "effective",
            "inheritable",
            "permitted",
            "ambient",
        ] {
            c["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_ADMIN"));
        }
        c["linux"].as_object_mut().unwrap().remove("seccomp");
        c["linux"]["rootfsPropagation"] = json!(mode);
        let (ct, _) = run_to_stop(&env, &b, &c);
        assert_eq!(ct.output().trim(), want, "{mode}");
    }
    // None of it reached the host.
    assert!(
        mounts_under(b.path()).is_empty(),
        "{:?}",
        mounts_under(b.path())
    );
}

/// linux_uid_mappings, linux_gid_mappings (and the user namespace they
/// need): the maps the container sees are the configured ones.
#[test]
fn uid_and_gid_mappings() {
    let env = Env::new("vt-idmaps");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "user" }));
    c["linux"]["uidMappings"] = json!([{ "hostID": 1000, "containerID": 0, "size": 3200 }]);
    c["linux"]["gidMappings"] = json!([{ "hostID": 1000, "containerID": 0, "size": 3200 }]);
    inside(&env, &b, c);
}

/// linux_seccomp: default allow, getcwd answered with an errno.
#[test]
fn seccomp_errno_for_getcwd() {
    let env = Env::new("vt-seccomp");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["seccomp"]["defaultAction"] = json!("SCMP_ACT_ALLOW");
    c["linux"]["seccomp"]["syscalls"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "names": ["getcwd"], "action": "SCMP_ACT_ERRNO" }));
    let mut argv: Vec<String> = vec![INSPECTOR.to_string()];
    argv.extend(runtimetest_args(&c));
    c["process"]["args"] = json!(argv);
    let (ct, _) = run_to_stop(&env, &b, &c);
    let out = ct.output();
    let line = out.lines().find(|l| l.starts_with('{')).unwrap();
    let r: Value = serde_json::from_str(line).unwrap();
    assert_eq!(r["cwd"], "error: EPERM", "getcwd was not denied");
    assert_eq!(status(&r, "Seccomp"), "2");
}

// ---------------------------------------------------------------------------
// Namespaces, checked from the host on a created container
// (RuntimeOutsideValidate)

const NS_KINDS: [&str; 7] = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];

/// linux_ns_nopath: every namespace type without a path is a new one,
/// user (with maps) and cgroup included.
#[test]
fn namespaces_without_path_are_new() {
    let env = Env::new("vt-nsnew");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[INSPECTOR]);
    c["linux"]["namespaces"] = json!(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]
        .iter()
        .map(|t| json!({ "type": t }))
        .collect::<Vec<_>>());
    c["linux"]["uidMappings"] = json!([{ "hostID": 1000, "containerID": 0, "size": 1000 }]);
    c["linux"]["gidMappings"] = json!([{ "hostID": 1000, "containerID": 0, "size": 1000 }]);
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    let pid = env.pid(&id).to_string();
    for kind in NS_KINDS {
        assert_ne!(
            ns(&pid, kind),
            ns("self", kind),
            "{kind} namespace is the host's"
        );
    }
}

/// An `unshare --fork sleep` holding new namespaces of one kind; killed
/// (with its child) on drop.
struct Unshared(Child);

impl Unshared {
    fn new(flag: &str) -> Unshared {
        let mut cmd = Command::new("unshare");
        cmd.args([flag, "--fork", "sleep", "1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Unshared(cmd.spawn().expect("unshare"))
    }

    /// Its namespace of `kind` (for pid: the one its children are in).
    fn ns_path(&self, kind: &str) -> String {
        let pid = self.0.id();
        let link = if kind == "pid" {
            "pid_for_children"
        } else {
            kind
        };
        let path = format!("/proc/{pid}/ns/{link}");
        // unshare switches right after it starts. pid_for_children reads
        // ENOENT after unshare(CLONE_NEWPID) until the first child is
        // forked, so wait for a link that reads and differs.
        let own = fs::read_link(format!("/proc/self/ns/{kind}")).expect("own namespace");
        assert!(
            poll(WAIT, || fs::read_link(&path).is_ok_and(|l| l != own)),
            "unshare never entered a new {kind} namespace"
        );
        path
    }
}

impl Drop for Unshared {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we made for the unshare.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// linux_ns_path: ipc, mount, network, pid and uts joined by path.
#[test]
fn namespaces_joined_by_path() {
    let env = Env::new("vt-nspath");
    let b = SuiteBundle::new();
    for (kind, flag, typ) in [
        ("ipc", "--ipc", "ipc"),
        ("mnt", "--mount", "mount"),
        ("net", "--net", "network"),
        ("pid", "--pid", "pid"),
        ("uts", "--uts", "uts"),
    ] {
        let holder = Unshared::new(flag);
        let path = holder.ns_path(kind);
        let want = fs::read_link(&path).unwrap();
        let mut c = generator_default(&[INSPECTOR]);
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != typ);
        list.push(json!({ "type": typ, "path": path }));
        b.set_config(&c);
        let id = env.id();
        create(&env, &b, &id).1.ok();
        let pid = env.pid(&id);
        let got = fs::read_link(format!("/proc/{pid}/ns/{kind}")).unwrap();
        assert_eq!(got, want, "{kind}");
        env.delete_force(&id).ok();
    }
}

/// linux_ns_path_type: a path to a namespace of another type fails create.
#[test]
fn namespace_path_of_the_wrong_type_fails_create() {
    let env = Env::new("vt-nstype");
    let b = SuiteBundle::new();
    for (typ, wrong) in [
        ("cgroup", "ipc"),
        ("ipc", "mnt"),
        ("mount", "net"),
        ("network", "pid"),
        ("pid", "user"),
        ("user", "uts"),
        ("uts", "cgroup"),
    ] {
        let mut c = generator_default(&["true"]);
        let list = c["linux"]["namespaces"].as_array_mut().unwrap();
        list.retain(|n| n["type"] != typ);
        list.push(json!({ "type": typ, "path": format!("/proc/self/ns/{wrong}") }));
        b.set_config(&c);
        let id = env.id();
        create(&env, &b, &id)
            .1
            .fails_with(&["linux.namespaces", wrong]);
        env.assert_gone(&id);
    }
}

/// linux_ns_itype: no namespaces at all, so every one is inherited. hutch
/// refuses to work in the host's mount namespace (it would mount /proc and
/// /dev into the bundle on the host, and change the propagation of the
/// host's /): create fails saying so, and nothing is left.
#[test]
fn no_mount_namespace_is_refused() {
    let env = Env::new("vt-nsinherit");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["true"]);
    c["linux"]["namespaces"] = json!([]);
    c["hostname"] = json!("");
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id)
        .1
        .fails_with(&["linux.namespaces", "mount namespace"]);
    env.assert_gone(&id);
    assert!(mounts_under(b.path()).is_empty());
}

// ---------------------------------------------------------------------------
// The lifecycle programs (RuntimeLifecycleValidate and its neighbours)

/// create: no ID fails; an ID makes a container whose state names it; the
/// same ID again fails and leaves the first alone.
#[test]
fn create_needs_a_new_id() {
    let env = Env::new("vt-create");
    let b = SuiteBundle::new();
    b.set_config(&generator_default(&["ls"]));
    env.run(&["create", "--bundle", b.arg()])
        .fails_with(&["<ID>"]);
    let id = env.id();
    let (_c, out) = create(&env, &b, &id);
    out.ok();
    assert_eq!(env.state(&id)["status"], "created");
    let (_c2, again) = create(&env, &b, &id);
    again.fails_with(&[&id, "already exists"]);
    assert_eq!(env.status(&id), "created");
}

/// state: no ID and an unknown ID fail; a created container's state parses
/// as the spec's State; killed, it is stopped, and delete takes it.
#[test]
fn state_errors_and_a_created_container() {
    let env = Env::new("vt-state");
    let b = SuiteBundle::new();
    env.run(&["state"]).fails_with(&["<ID>"]);
    let id = env.id();
    env.run(&["state", &id])
        .fails_with(&[&id, "does not exist"]);
    b.set_config(&generator_default(&["true"]));
    let (_c, out) = create(&env, &b, &id);
    out.ok();
    let st = env.state(&id);
    for key in ["ociVersion", "id", "status", "bundle"] {
        assert!(st[key].is_string(), "state lacks {key}: {st}");
    }
    assert!(st["pid"].as_i64().unwrap() > 0, "{st}");
    assert_eq!(st["bundle"], b.arg());
    env.kill(&id, Some("KILL")).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    env.assert_gone(&id);
}

/// start: no ID and an unknown ID fail; process.args run only at start,
/// once; a second start fails and changes nothing.
#[test]
fn start_runs_the_process_once() {
    let env = Env::new("vt-start");
    let b = SuiteBundle::new();
    env.run(&["start"]).fails_with(&["<ID>"]);
    let id = env.id();
    env.start(&id).fails_with(&[&id, "does not exist"]);
    b.set_config(&generator_default(&[
        "sh",
        "-c",
        "echo 'process called' >> /output",
    ]));
    let output = b.file("/output");
    let (_c, out) = create(&env, &b, &id);
    out.ok();
    assert!(!output.exists(), "process.args applied before start");
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    assert_eq!(fs::read_to_string(&output).unwrap(), "process called\n");
    env.start(&id).fails_with(&[&id, "stopped"]);
    assert_eq!(fs::read_to_string(&output).unwrap(), "process called\n");
    env.delete(&id).ok();
}

/// kill: the suite's `kill ID SIG` with bare signal names. No ID, an
/// unknown ID and a stopped container fail; a created one and a running one
/// take SIGKILL and stop.
#[test]
fn kill_errors_and_sigkill() {
    let env = Env::new("vt-kill");
    let b = SuiteBundle::new();
    // "kill KILL": KILL taken for the ID, and there is no such container.
    env.run(&["kill", "KILL"])
        .fails_with(&["KILL", "does not exist"]);
    let id = env.id();
    env.kill(&id, Some("KILL"))
        .fails_with(&[&id, "does not exist"]);

    b.set_config(&generator_default(&["true"]));
    let (_c, out) = create(&env, &b, &id);
    out.ok();
    env.kill(&id, Some("KILL")).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();

    let id = env.id();
    let (_c, out) = create(&env, &b, &id);
    out.ok();
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    env.kill(&id, Some("KILL"))
        .fails_with(&[&id, "not running"]);
    env.delete(&id).ok();

    b.set_config(&generator_default(&["sleep", "30"]));
    let id = env.id();
    let (_c, out) = create(&env, &b, &id);
    out.ok();
    env.start(&id).ok();
    assert_eq!(env.status(&id), "running");
    env.kill(&id, Some("KILL")).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    env.assert_gone(&id);
}

/// kill_no_effect: kill of a stopped container fails and its state is
/// exactly what it was.
#[test]
fn kill_of_a_stopped_container_changes_nothing() {
    let env = Env::new("vt-killstopped");
    let b = SuiteBundle::new();
    let (_c, id) = run_to_stop(&env, &b, &generator_default(&["true"]));
    let before = env.state(&id);
    env.kill(&id, Some("KILL")).fails_with(&["not running"]);
    assert_eq!(env.state(&id), before);
}

/// killsig: TERM, USR1 and USR2 reach a shell's trap.
#[test]
fn kill_delivers_term_usr1_usr2() {
    let env = Env::new("vt-killsig");
    let b = SuiteBundle::new();
    for (sig, signo) in [("TERM", 15), ("USR1", 10), ("USR2", 12)] {
        let script = format!("trap 'touch /{sig}' {sig}; sleep 10 & wait $!");
        b.set_config(&generator_default(&["sh", "-c", &script]));
        let id = env.id();
        let (_c, out) = create(&env, &b, &id);
        out.ok();
        env.start(&id).ok();
        // The trap is set once the shell runs; a signal before that kills it.
        let pid = env.pid(&id);
        let caught = || {
            let text = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            text.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .is_some_and(|m| m & (1u64 << (signo - 1)) != 0)
        };
        assert!(poll(WAIT, caught), "{sig}: the shell never set its trap");
        env.kill(&id, Some(sig)).ok();
        env.wait_status(&id, "stopped");
        assert!(b.file(sig).exists(), "{sig} did not reach the trap");
        env.delete(&id).ok();
    }
}

/// delete: no ID fails; a created and a running container are left alone,
/// with an error; once killed and stopped, delete takes them.
#[test]
fn delete_only_takes_a_stopped_container() {
    let env = Env::new("vt-delete");
    let b = SuiteBundle::new();
    env.run(&["delete"]).fails_with(&["<ID>"]);
    for (args, start) in [(&["true"][..], false), (&["sleep", "30"][..], true)] {
        b.set_config(&generator_default(args));
        let id = env.id();
        let (_c, out) = create(&env, &b, &id);
        out.ok();
        if start {
            env.start(&id).ok();
        }
        let pid = env.pid(&id);
        let status = env.status(&id);
        env.delete(&id).fails_with(&[&id, "not stopped"]);
        assert_eq!(env.status(&id), status, "delete changed the container");
        assert!(alive(pid), "delete killed the init");
        env.kill(&id, Some("KILL")).ok();
        env.wait_status(&id, "stopped");
        env.delete(&id).ok();
        env.assert_gone(&id);
    }
}

/// pidfile: --pid-file holds the state's pid, digits only (the suite
/// parses it with Atoi, so no newline).
#[test]
fn pid_file_holds_the_init_pid() {
    let env = Env::new("vt-pidfile");
    let b = SuiteBundle::new();
    let dir = TempDir::new("vt-pid");
    let file = dir.path().join("pidfile");
    b.set_config(&generator_default(&["true"]));
    let id = env.id();
    let c = Container::new(&id);
    env.create_args(
        &[
            "--pid-file",
            file.to_str().unwrap(),
            "--bundle",
            b.arg(),
            &id,
        ],
        None,
        &c.out,
    )
    .ok();
    let text = fs::read_to_string(&file).unwrap();
    assert_eq!(text, env.pid(&id).to_string());
}

/// `sh -c 'echo WHAT called >> OUT'` from the bundle's own /bin/sh, given
/// by its host path, as the suite writes hooks.
fn echo_hook(b: &SuiteBundle, what: &str) -> Value {
    json!({
        "path": b.file("/bin/sh"),
        "args": ["sh", "-c", format!("echo '{what} called' >> {}", b.file("/output").display())]
    })
}

fn output(b: &SuiteBundle) -> String {
    fs::read_to_string(b.file("/output")).unwrap_or_default()
}

/// hooks: two of each in the listed order — prestart at create, poststart
/// at start, poststop at delete.
#[test]
fn hooks_run_in_the_listed_order() {
    let env = Env::new("vt-hooks");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["true"]);
    c["hooks"] = json!({
        "prestart": [echo_hook(&b, "pre-start1"), echo_hook(&b, "pre-start2")],
        "poststart": [echo_hook(&b, "post-start1"), echo_hook(&b, "post-start2")],
        "poststop": [echo_hook(&b, "post-stop1"), echo_hook(&b, "post-stop2")]
    });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    assert_eq!(output(&b), "pre-start1 called\npre-start2 called\n");
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    assert_eq!(
        output(&b),
        "pre-start1 called\npre-start2 called\npost-start1 called\npost-start2 called\n\
         post-stop1 called\npost-stop2 called\n"
    );
}

/// hooks_stdin: each hook reads the state on stdin — the ID, the bundle,
/// the annotations, the init's pid (but for poststop), and the status:
/// created for prestart, running for poststart, something for poststop.
/// The program is `true`: gone before poststart runs, which must not fail.
#[test]
fn hooks_read_the_state_on_stdin() {
    let env = Env::new("vt-hookstdin");
    let b = SuiteBundle::new();
    let hook = |name: &str| {
        json!({
            "path": b.file("/bin/sh"),
            "args": ["sh", "-c", format!("cat > {}", b.file(name).display())],
            "timeout": 1
        })
    };
    let mut c = generator_default(&["true"]);
    c["annotations"] = json!({ "org.opencontainers.runtime-tools": "hook stdin test" });
    c["hooks"] = json!({
        "prestart": [hook("prestart")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")]
    });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    let pid = env.pid(&id);
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    for (name, status) in [
        ("prestart", Some("created")),
        ("poststart", Some("running")),
        ("poststop", None),
    ] {
        let text = fs::read_to_string(b.file(name)).unwrap_or_default();
        let st: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text:?}"));
        assert_eq!(st["id"], id.as_str(), "{name}");
        assert_eq!(st["bundle"], b.arg(), "{name}");
        assert_eq!(st["annotations"], c["annotations"], "{name}");
        match status {
            Some(s) => {
                assert_eq!(st["status"], s, "{name}");
                assert_eq!(st["pid"], pid, "{name}");
            }
            None => assert!(!st["status"].as_str().unwrap_or("").is_empty(), "{name}"),
        }
    }
}

/// prestart: the program has not run after create; then it runs. (The
/// suite, after spec 1.0, also wants the hook not yet run after create;
/// spec 1.2 and runc run prestart inside create, as hutch does.)
#[test]
fn prestart_runs_before_the_program() {
    let env = Env::new("vt-prestart");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["sh", "-c", "echo 'process called' >> /output"]);
    c["hooks"] = json!({ "prestart": [echo_hook(&b, "pre-start")] });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    assert_eq!(output(&b), "pre-start called\n");
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    assert_eq!(output(&b), "pre-start called\nprocess called\n");
    env.delete(&id).ok();
}

/// poststart: nothing after create; once started, the hook runs with the
/// user's program already executed (its exe is no longer hutch).
#[test]
fn poststart_runs_after_the_program_is_executed() {
    let env = Env::new("vt-poststart");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["sleep", "30"]);
    let exe = b.file("/poststart-exe");
    let script = format!(
        "pid={STATE_PID}; readlink /proc/$pid/exe > {}",
        exe.display()
    );
    c["hooks"] =
        json!({ "poststart": [{ "path": b.file("/bin/sh"), "args": ["sh", "-c", script] }] });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    assert!(!exe.exists(), "poststart ran at create");
    env.start(&id).ok();
    let seen = fs::read_to_string(&exe).unwrap();
    assert!(seen.trim().ends_with("busybox"), "poststart saw {seen:?}");
}

/// poststop: not before delete; at delete, after the program's output.
#[test]
fn poststop_runs_at_delete() {
    let env = Env::new("vt-poststop");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["sh", "-c", "echo 'process called' >> /output"]);
    c["hooks"] = json!({ "poststop": [echo_hook(&b, "post-stop")] });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    assert_eq!(output(&b), "");
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    assert_eq!(output(&b), "process called\n");
    env.delete(&id).ok();
    assert_eq!(output(&b), "process called\npost-stop called\n");
}

/// prestart_fail: create fails, the program never runs, no container.
#[test]
fn failing_prestart_fails_create_and_leaves_nothing() {
    let env = Env::new("vt-prestartfail");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["sh", "-c", "touch /output"]);
    c["hooks"] = json!({ "prestart": [{ "path": b.file("/bin/false"), "args": ["false"] }] });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.fails_with(&["hooks.prestart[0]"]);
    env.start(&id).fails_with(&["does not exist"]);
    assert!(!b.file("/output").exists());
    env.assert_gone(&id);
}

/// poststop_fail: the first hook fails, with a warning; the second runs and
/// delete succeeds.
#[test]
fn failing_poststop_warns_and_the_rest_runs() {
    let env = Env::new("vt-poststopfail");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["true"]);
    c["hooks"] = json!({ "poststop": [
        { "path": b.file("/bin/false"), "args": ["false"] },
        echo_hook(&b, "post-stop")
    ]});
    let (_c, id) = run_to_stop(&env, &b, &c);
    let del = env.delete(&id).ok();
    assert!(del.stderr.contains("warning"), "{del:#?}");
    assert_eq!(output(&b), "post-stop called\n");
    env.assert_gone(&id);
}

/// config_updates_without_affect: a config with masked and read-only paths,
/// a sysctl, oomScoreAdj, rlimits and shared rootfs propagation; once
/// created, config.json is replaced by a bare `{"ociVersion":"1.0.0"}`, and
/// start still runs the container as it was created.
#[test]
fn config_changes_after_create_have_no_effect() {
    let env = Env::new("vt-cfgupdate");
    let b = SuiteBundle::new();
    let mut c = generator_default(&[]);
    c["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
    c["linux"]["readonlyPaths"] = json!(["/proc/fs"]);
    c["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
    c["process"]["oomScoreAdj"] = json!(100);
    c["linux"]["rootfsPropagation"] = json!("shared");
    let mut argv: Vec<String> = vec![INSPECTOR.to_string()];
    argv.extend(runtimetest_args(&c));
    c["process"]["args"] = json!(argv);
    b.set_config(&c);
    let id = env.id();
    let (ct, out) = create(&env, &b, &id);
    out.ok();
    fs::write(b.path().join("config.json"), r#"{"ociVersion":"1.0.0"}"#).unwrap();
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    let text = ct.output();
    let line = text.lines().find(|l| l.starts_with('{')).unwrap();
    runtimetest(&c, &serde_json::from_str(line).unwrap());
    env.delete(&id).ok();
}

/// misc_props: an unknown annotation and an unknown top-level property are
/// accepted; an invalid ociVersion is an error.
#[test]
fn unknown_properties_accepted_invalid_version_refused() {
    let env = Env::new("vt-misc");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["true"]);
    c["annotations"] = json!({ format!("org.{}", env.id()): "" });
    c["unknown"] = json!("unknown");
    run_to_stop(&env, &b, &c);
    let mut c = generator_default(&["true"]);
    c["ociVersion"] = json!("invalid");
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id)
        .1
        .fails_with(&["ociVersion", "invalid"]);
    env.assert_gone(&id);
}

// ---------------------------------------------------------------------------
// cgroups (the linux_cgroups_* programs, delete_resources,
// delete_only_create_resources). The suite's fixed /cgrouptest is made
// unique per test, so tests can run side by side.

fn cgroup_name(env: &Env) -> String {
    format!("/{}", env.id())
}

/// delete_resources: the pids limit is set on the cgroup the config names,
/// and delete removes that cgroup.
#[test]
fn delete_removes_the_cgroup_create_made() {
    if cgroup_v2() {
        return; // The suite reads cgroup v1 files only.
    }
    let env = Env::new("vt-cgdel");
    let b = SuiteBundle::new();
    let path = cgroup_name(&env);
    let mut c = generator_default(&["true"]);
    c["linux"]["cgroupsPath"] = json!(path);
    c["linux"]["resources"]["pids"] = json!({ "limit": 1000 });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    let pid = env.pid(&id);
    assert!(cgroup_pids("pids", &path).contains(&pid));
    assert_eq!(cgroup_read("pids", &path, "pids.max"), "1000");
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    assert_no_cgroup(&path);
}

/// delete_only_create_resources: a cgroup made by someone else, into which
/// the container's init was moved, survives delete; so does a cgroupsPath
/// that existed before create (reused, but not made by it).
#[test]
fn delete_leaves_cgroups_it_did_not_make() {
    if cgroup_v2() {
        return;
    }
    let env = Env::new("vt-cgkeep");
    let b = SuiteBundle::new();
    let other = cgroup_name(&env);
    let other_dir = cgroup_dir("pids", &other);
    fs::create_dir(&other_dir).unwrap();
    // Removed whatever happens: it is the test's, not hutch's.
    struct Made(PathBuf);
    impl Drop for Made {
        fn drop(&mut self) {
            let _ = fs::remove_dir(&self.0);
        }
    }
    let _made = Made(other_dir.clone());
    let mut c = generator_default(&["true"]);
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    fs::write(other_dir.join("tasks"), env.pid(&id).to_string()).unwrap();
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    assert!(other_dir.exists(), "delete removed {other_dir:?}");

    c["linux"]["cgroupsPath"] = json!(other);
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    assert!(cgroup_pids("pids", &other).contains(&env.pid(&id)));
    env.start(&id).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    assert!(other_dir.exists(), "delete removed the cgroup it reused");
}

/// The relative cgroupsPath of the linux_cgroups_relative_* programs: the
/// cgroup is found below the runtime's own, and delete removes it with the
/// parents create made for it.
#[test]
fn relative_cgroups_path_leaves_nothing() {
    if cgroup_v2() {
        return;
    }
    let env = Env::new("vt-cgrel");
    let b = SuiteBundle::new();
    let top = env.id();
    let rel = format!("{top}/cgrouptest/container");
    let mut c = generator_default(&["true"]);
    c["linux"]["cgroupsPath"] = json!(rel);
    c["linux"]["resources"]["pids"] = json!({ "limit": 1000 });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    let pid = env.pid(&id);
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let line = own.lines().find(|l| l.contains(":pids:")).unwrap();
    assert!(line.ends_with(&rel), "{line}");
    env.kill(&id, Some("KILL")).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    fn find(dir: &Path, name: &str, depth: u32, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                if e.file_name() == name {
                    out.push(e.path());
                } else if depth > 0 {
                    find(&e.path(), name, depth - 1, out);
                }
            }
        }
    }
    let mut left = Vec::new();
    find(Path::new("/sys/fs/cgroup"), &top, 4, &mut left);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// linux_cgroups_memory: every value the suite sets, read back (kernel
/// memory is obsolete and ignored, as runc does, so the suite's
/// `memory.kmem.limit_in_bytes` check cannot pass on this kernel).
#[test]
fn memory_cgroup_values() {
    if cgroup_v2() {
        return;
    }
    let env = Env::new("vt-cgmem");
    let b = SuiteBundle::new();
    for (limit, swappiness) in [(50593792i64, 10), (151781376, 100)] {
        let path = cgroup_name(&env);
        let mut c = generator_default(&["true"]);
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"]["memory"] = json!({
            "limit": limit, "reservation": limit, "swap": limit, "kernel": limit,
            "kernelTCP": limit, "swappiness": swappiness, "disableOOMKiller": true
        });
        b.set_config(&c);
        let id = env.id();
        create(&env, &b, &id).1.ok();
        let read = |f: &str| cgroup_read("memory", &path, f);
        for f in [
            "memory.limit_in_bytes",
            "memory.soft_limit_in_bytes",
            "memory.memsw.limit_in_bytes",
            "memory.kmem.tcp.limit_in_bytes",
        ] {
            assert_eq!(read(f), limit.to_string(), "{f}");
        }
        assert_eq!(read("memory.swappiness"), swappiness.to_string());
        assert!(read("memory.oom_control").starts_with("oom_kill_disable 1"));
        env.delete_force(&id).ok();
        assert_no_cgroup(&path);
    }
}

/// linux_cgroups_cpus: shares, period, quota, cpus and mems as given.
#[test]
fn cpu_cgroup_values() {
    if cgroup_v2() {
        return;
    }
    let env = Env::new("vt-cgcpu");
    let b = SuiteBundle::new();
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let range = format!("0-{}", n - 1);
    let all_cpus = if n == 1 { "0" } else { range.as_str() };
    for (shares, period, quota, cpus) in [
        (1024u64, 100000u64, 50000i64, "0"),
        (2048, 500000, 200000, all_cpus),
    ] {
        let path = cgroup_name(&env);
        let mut c = generator_default(&["true"]);
        c["linux"]["cgroupsPath"] = json!(path);
        c["linux"]["resources"]["cpu"] = json!({
            "shares": shares, "period": period, "quota": quota, "cpus": cpus, "mems": "0"
        });
        b.set_config(&c);
        let id = env.id();
        create(&env, &b, &id).1.ok();
        assert_eq!(cgroup_read("cpu", &path, "cpu.shares"), shares.to_string());
        assert_eq!(
            cgroup_read("cpu", &path, "cpu.cfs_period_us"),
            period.to_string()
        );
        assert_eq!(
            cgroup_read("cpu", &path, "cpu.cfs_quota_us"),
            quota.to_string()
        );
        assert_eq!(cgroup_read("cpuset", &path, "cpuset.cpus"), cpus);
        assert_eq!(cgroup_read("cpuset", &path, "cpuset.mems"), "0");
        env.delete_force(&id).ok();
    }
}

/// linux_cgroups_devices: the allowed devices come first in devices.list,
/// in the listed order (the suite reads entry i-1 for rule i), before the
/// runtime's default ones.
#[test]
fn device_cgroup_rules_in_order() {
    if cgroup_v2() {
        return;
    }
    let env = Env::new("vt-cgdev");
    let b = SuiteBundle::new();
    let path = cgroup_name(&env);
    let mut c = generator_default(&["true"]);
    c["linux"]["cgroupsPath"] = json!(path);
    c["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .extend([
            json!({ "allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm" }),
            json!({ "allow": true, "type": "b", "major": 8, "minor": 20, "access": "rw" }),
            json!({ "allow": true, "type": "b", "major": 10, "minor": 200, "access": "r" }),
        ]);
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id).1.ok();
    let list = cgroup_read("devices", &path, "devices.list");
    let first: Vec<&str> = list.lines().take(3).collect();
    assert_eq!(first, ["c 10:229 rwm", "b 8:20 rw", "b 10:200 r"], "{list}");
}

/// linux_cgroups_hugetlb's second half: a page size the kernel has no such
/// pages of ("3MB") fails create.
#[test]
fn impossible_hugepage_size_fails_create() {
    let env = Env::new("vt-cghuge");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["true"]);
    c["linux"]["cgroupsPath"] = json!(cgroup_name(&env));
    c["linux"]["resources"]["hugepageLimits"] = json!([{ "pageSize": "3MB", "limit": 314572800 }]);
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id)
        .1
        .fails_with(&["linux.resources.hugepageLimits[0]"]);
    env.assert_gone(&id);
}

/// linux_cgroups_blkio on a kernel without `blkio.leaf_weight` (no CFQ):
/// create fails naming the field and saying the file is missing (cgroupfs
/// answers EACCES for it, which read as a permission problem).
#[test]
fn blkio_leaf_weight_without_the_kernel_file_fails_create() {
    if cgroup_v2() || Path::new("/sys/fs/cgroup/blkio/blkio.leaf_weight").exists() {
        return;
    }
    let env = Env::new("vt-cgblkio");
    let b = SuiteBundle::new();
    let path = cgroup_name(&env);
    let mut c = generator_default(&["true"]);
    c["linux"]["cgroupsPath"] = json!(path);
    c["linux"]["resources"]["blockIO"] = json!({ "leafWeight": 300 });
    b.set_config(&c);
    let id = env.id();
    create(&env, &b, &id)
        .1
        .fails_with(&["linux.resources.blockIO.leafWeight", "no such file"]);
    env.assert_gone(&id);
    assert_no_cgroup(&path);
}

/// Not a program of the suite, but its seccomp profile: without
/// noNewPrivileges the filter goes on before the init drops its
/// capabilities, so a startContainer hook is spawned under it, and the
/// profile answers clone3 (glibc's posix_spawn) with EPERM.
#[test]
fn start_container_hook_under_the_generators_seccomp_profile() {
    let env = Env::new("vt-schook");
    let b = SuiteBundle::new();
    let mut c = generator_default(&["cat", "/hook-out"]);
    c["hooks"] = json!({ "startContainer": [
        { "path": "/bin/sh", "args": ["sh", "-c", "echo from-startContainer > /hook-out"] }
    ]});
    let (ct, _) = run_to_stop(&env, &b, &c);
    assert_eq!(ct.output().trim(), "from-startContainer");
}

// --- issue 16: error lines ---

/// Errors are one line that says "error" (clients and harnesses look for
/// the word, as in runc's), and name each container once.
#[test]
fn errors_say_error_and_name_the_container_once() {
    let env = Env::new("errline");
    let (c, _b) = env.run_container(&sh("true"));
    env.wait_status(&c.id, "stopped");
    let bundle = Bundle::new(&sh("true"));
    let outs = [
        env.run(&["exec", &c.id, "true"])
            .fails_with(&[&c.id, "stopped"]),
        env.run(&["create", "--bundle", bundle.arg(), &c.id])
            .fails_with(&[&c.id, "already exists"]),
        env.run(&["start", "nosuchid"]).fails_with(&["nosuchid"]),
        env.run(&["kill"]).fails_with(&["<ID>"]),
    ];
    for out in outs {
        assert!(out.stderr.starts_with("hutch: error: "), "{out:#?}");
        for id in [c.id.as_str(), "nosuchid"] {
            assert!(
                out.stderr.matches(id).count() <= 1,
                "{id} named twice: {out:#?}"
            );
        }
    }
}
