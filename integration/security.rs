//! Escape attempts: each test runs the attack of a known runc CVE against real
//! containers and checks from the host that it failed.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

fn with_caps(config: &mut Value, caps: &[&str]) {
    config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "permitted": caps,
    });
}

fn with_rootfs(config: &mut Value, rootfs: &Path) {
    config["root"]["path"] = json!(rootfs);
}

fn dev_ino(p: &Path) -> (u64, u64) {
    let m = fs::metadata(p).unwrap_or_else(|e| panic!("stat {p:?}: {e}"));
    (m.dev(), m.ino())
}

// ---------------------------------------------------------------------------
// CVE-2019-5736: overwriting the runtime binary from inside

/// Env var that turns `cve_2019_5736_attacker` from a no-op into the attacker
/// (it runs inside the container as this very test binary): "DEV:INO" of the
/// runtime binary it hunts for.
const ATTACK_TARGET: &str = "HUTCH_ATTACK_TARGET";

/// Not a test: the program the container of `exec_cannot_overwrite_the_runtime`
/// runs. It loops over /proc/*/exe, opening each for writing, and with O_PATH
/// to reopen later through /proc/self/fd (after the runtime has exited and no
/// longer holds the file busy), and reports every step on stdout.
#[test]
#[ignore]
fn cve_2019_5736_attacker() {
    use std::collections::BTreeMap;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(target) = std::env::var(ATTACK_TARGET) else {
        return;
    };
    let say = |s: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{s}");
        let _ = out.flush();
    };
    let is_target = |f: &fs::File| {
        f.metadata()
            .map(|m| format!("{}:{}", m.dev(), m.ino()) == target)
            .unwrap_or(false)
    };
    let me = std::process::id().to_string();
    let mut held: Vec<fs::File> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    say("attacker ready".into());
    let mut round = 0u64;
    loop {
        round += 1;
        for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me || seen.contains_key(&pid) {
                continue;
            }
            let exe = format!("/proc/{pid}/exe");
            if let Ok(mut f) = fs::OpenOptions::new().write(true).open(&exe) {
                if is_target(&f) {
                    let _ = f.write_all(b"PWNED");
                    say(format!("HIT direct write through {exe}"));
                }
            }
            let opath = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH)
                .open(&exe);
            if let Ok(f) = opath {
                if is_target(&f) {
                    say(format!("GOT an O_PATH fd on the runtime through {exe}"));
                    held.push(f);
                } else {
                    let link = fs::read_link(&exe).unwrap_or_default();
                    say(format!("other {pid} {}", link.display()));
                    seen.insert(pid, link.display().to_string());
                }
            }
        }
        for f in &held {
            use std::os::fd::AsRawFd;
            let again = format!("/proc/self/fd/{}", f.as_raw_fd());
            if let Ok(mut w) = fs::OpenOptions::new().write(true).open(&again) {
                let _ = w.write_all(b"PWNED");
                say(format!("HIT reopened {again} for writing"));
            }
        }
        // The host asks for a full round after its last exec: answer it.
        if fs::remove_file("/tmp/ask").is_ok() {
            say(format!("answered after round {round}"));
        }
    }
}

/// The shared libraries a dynamically linked binary needs, from ldd.
fn libraries_of(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(PathBuf::from)
        .collect()
}

/// A rootfs copy whose /attacker is this test binary (with its libraries), and
/// a config that runs it as the container's init.
fn attacker_container(rootfs: &RootfsCopy, target: &Path, caps: &[&str]) -> Value {
    let me = std::env::current_exe().unwrap();
    fs::copy(&me, rootfs.path().join("attacker")).unwrap();
    for lib in libraries_of(&me) {
        let dest = rootfs.path().join(lib.strip_prefix("/").unwrap());
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(&lib, &dest).unwrap();
    }
    let mut config = spec(&[
        "/attacker",
        "cve_2019_5736_attacker",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]);
    let (dev, ino) = dev_ino(target);
    config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!(format!("{ATTACK_TARGET}={dev}:{ino}")));
    with_rootfs(&mut config, rootfs.path());
    with_caps(&mut config, caps);
    config
}

#[test]
fn exec_cannot_overwrite_the_runtime_binary() {
    exec_into_attacker(&DEFAULT_CAPS, false);
}

/// A container holding CAP_SYS_PTRACE in the host's user namespace passes the
/// kernel's ptrace check even on a non-dumpable process, so it can hold the
/// runtime's /proc/PID/exe while an `exec` enters it, and write the binary once
/// the runtime has exited; `exec` therefore runs from a read-only overlayfs
/// view of the binary (linux::sealed_exe).
#[test]
fn exec_cannot_overwrite_the_runtime_binary_with_cap_sys_ptrace() {
    exec_into_attacker(
        &[DEFAULT_CAPS.as_slice(), &["CAP_SYS_PTRACE"]].concat(),
        false,
    );
}

/// The same where no overlayfs view can be made (the binary sits in the
/// state root, which would be both layers): a sealed memfd copy instead.
#[test]
fn exec_cannot_overwrite_the_runtime_binary_from_the_sealed_copy() {
    exec_into_attacker(
        &[DEFAULT_CAPS.as_slice(), &["CAP_SYS_PTRACE"]].concat(),
        true,
    );
}

fn exec_into_attacker(caps: &[&str], bin_in_root: bool) {
    // A copy of the runtime: if the attack works it destroys this, not target/.
    let env = Env::new("cve5736");
    let bin_dir = TempDir::new("bin");
    let bin = if bin_in_root {
        env.root().join("hutch")
    } else {
        bin_dir.path().join("hutch")
    };
    fs::copy(runtime(), &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let before = fs::read(&bin).unwrap();

    let env = env.with_runtime(&bin);
    let rootfs = RootfsCopy::new();
    let bundle = Bundle::new(&attacker_container(&rootfs, &bin, caps));
    let c = env.create(&env.id(), &bundle);
    env.start(&c.id).ok();
    c.wait_line("attacker ready");

    for i in 0..30 {
        env.run(&["exec", &c.id, "sh", "-c", "sleep 0.05"]).ok();
        if i % 10 == 0 {
            env.run(&["exec", "-d", &c.id, "true"]).ok();
        }
    }
    // Every runtime process has exited now: one more full round of the
    // attacker tries every fd it holds with the binary no longer busy.
    fs::write(rootfs.path().join("tmp/ask"), "").unwrap();
    let out = c.wait_line_starting("answered");
    env.kill(&c.id, Some("KILL")).ok();

    assert!(
        !out.contains("HIT") && !out.contains("GOT"),
        "the container reached the runtime binary:\n{out}"
    );
    // The attack was real: the attacker saw the exec'd processes come and go.
    assert!(
        out.lines().any(|l| l.starts_with("other ")),
        "the attacker never saw an exec'd process:\n{out}"
    );
    assert!(
        fs::read(&bin).unwrap() == before,
        "the runtime binary changed"
    );
}

// ---------------------------------------------------------------------------
// CVE-2024-21626: leaked fds and a working directory outside the rootfs

/// The fd numbers a host process holds.
fn fds_of(pid: i32) -> BTreeSet<u32> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect()
}

fn fd_set(fds: &[u32]) -> BTreeSet<u32> {
    fds.iter().copied().collect()
}

/// Runs `hutch ARGS` from a shell that first opens fd 3 on /dev/null.
fn with_fd3(env: &Env, args: &[&str], out: &Path) -> Output {
    let cmd = env.command(args);
    let line = format!("exec 3</dev/null; exec {cmd:?}").replace('"', "'");
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(line);
    let stdout = fs::OpenOptions::new().append(true).open(out).unwrap();
    let err = TempDir::new("err");
    let err_path = err.path().join("stderr");
    sh.stdin(std::process::Stdio::null())
        .stdout(stdout)
        .stderr(fs::File::create(&err_path).unwrap());
    let status = run_bounded(&mut sh, std::time::Duration::from_secs(20));
    Output {
        what: format!("{sh:?}"),
        status,
        stdout: String::new(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

#[test]
fn only_stdio_and_preserved_fds_reach_the_container() {
    let env = Env::new("fds");
    let bundle = Bundle::new(&spec(&["sleep", "1000"]));
    let plain = env.create(&env.id(), &bundle);
    let preserved = Container::new(&env.id());
    with_fd3(
        &env,
        &[
            "create",
            "--preserve-fds",
            "1",
            "--bundle",
            bundle.arg(),
            &preserved.id,
        ],
        &preserved.out,
    )
    .ok();
    for (c, want) in [
        (&plain, fd_set(&[0, 1, 2])),
        (&preserved, fd_set(&[0, 1, 2, 3])),
    ] {
        env.start(&c.id).ok();
        // Inside: another process lists the init's fds.
        let out = env.run(&["exec", &c.id, "ls", "/proc/1/fd"]).ok();
        let inside: BTreeSet<u32> = out
            .stdout
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        assert_eq!(inside, want, "{}: fds of the init seen inside", c.id);
        let pid = env.pid(&c.id);
        assert_eq!(
            fds_of(pid),
            want,
            "{}: fds of the init seen from the host",
            c.id
        );
    }
    let pid = env.pid(&preserved.id);
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/fd/3")).unwrap(),
        Path::new("/dev/null")
    );

    // exec: the same, from the host's view of the exec'd process.
    let scratch = TempDir::new("pid");
    let pid_file = scratch.path().join("pid");
    let pf = pid_file.to_str().unwrap();
    env.run(&["exec", "-d", "--pid-file", pf, &plain.id, "sleep", "1000"])
        .ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(fds_of(pid), fd_set(&[0, 1, 2]), "fds of an exec'd process");
    with_fd3(
        &env,
        &[
            "exec",
            "-d",
            "--preserve-fds",
            "1",
            "--pid-file",
            pf,
            &plain.id,
            "sleep",
            "1000",
        ],
        &plain.out,
    )
    .ok();
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(
        fds_of(pid),
        fd_set(&[0, 1, 2, 3]),
        "fds of an exec'd process with --preserve-fds 1"
    );
}

/// `--preserve-fds` is a u32 on the command line: the largest one must mean
/// "every fd", not wrap around past stdio (3 + N overflowed, and the init or
/// exec'd process died before its program).
#[test]
fn the_largest_preserve_fds_passes_every_fd() {
    let env = Env::new("maxfds");
    let max = u32::MAX.to_string();
    // The marker after the listing: waiting for it waits for the listing.
    let bundle = Bundle::new(&sh("ls /proc/self/fd; echo init-ran; sleep 1000"));
    let c = Container::new(&env.id());
    with_fd3(
        &env,
        &[
            "create",
            "--preserve-fds",
            &max,
            "--bundle",
            bundle.arg(),
            &c.id,
        ],
        &c.out,
    )
    .ok();
    env.start(&c.id).ok();
    let out = c.wait_line("init-ran");
    assert!(out.lines().any(|l| l == "3"), "fd 3 not passed: {out:?}");
    let out = env
        .run(&["exec", "--preserve-fds", &max, &c.id, "echo", "exec-ran"])
        .ok();
    assert_eq!(out.stdout.trim(), "exec-ran");
}

/// Cwds and programs that went through a runtime fd to the host in runc.
const FD_TRICKS: [&str; 8] = [
    "/proc/self/fd/3",
    "/proc/self/fd/4",
    "/proc/self/fd/5",
    "/proc/self/fd/6",
    "/proc/self/fd/7",
    "/proc/self/fd/8",
    "/proc/self/cwd/../../..",
    "/proc/1/cwd/../../..",
];

/// Asserts that `out` either failed with one line naming `field`, or printed
/// `cwd=PATH DEV:INO` for a directory that is that PATH of the rootfs.
#[track_caller]
fn inside_or_refused(out: Output, printed: &str, field: &str, rootfs: &Path) {
    if !out.status.success() {
        out.fails_with(&[field]);
        return;
    }
    let line = printed
        .lines()
        .find_map(|l| l.strip_prefix("cwd="))
        .unwrap_or_else(|| panic!("no cwd= line: {printed:?} {out:#?}"));
    let (path, id) = line.split_once(' ').unwrap_or((line, ""));
    assert!(path.starts_with('/'), "cwd outside the root: {line:?}");
    let (dev, ino) = dev_ino(&rootfs.join(path.trim_start_matches('/')));
    assert_eq!(
        id,
        format!("{dev}:{ino}"),
        "cwd {path} is not the rootfs's {path}"
    );
}

#[test]
fn process_cwd_through_a_proc_fd_stays_inside() {
    let env = Env::new("cwd");
    let report = "echo cwd=$(pwd -P) $(stat -c %d:%i .)";
    for trick in FD_TRICKS {
        let mut config = sh(report);
        config["process"]["cwd"] = json!(trick);
        let bundle = Bundle::new(&config);
        let c = Container::new(&env.id());
        let out = env.create_args(&["--bundle", bundle.arg(), &c.id], None, &c.out);
        if out.status.success() {
            env.start(&c.id).ok();
            env.wait_status(&c.id, "stopped");
        }
        inside_or_refused(out, &c.output(), "process.cwd", rootfs());
    }
}

#[test]
fn exec_cwd_and_program_through_a_proc_fd_stay_inside() {
    let env = Env::new("execcwd");
    let (c, _b) = env.run_container(&sh("exec sleep 1000"));
    for trick in FD_TRICKS {
        let out = env.run(&[
            "exec",
            "--cwd",
            trick,
            &c.id,
            "sh",
            "-c",
            "echo cwd=$(pwd -P) $(stat -c %d:%i .)",
        ]);
        let printed = out.stdout.clone();
        inside_or_refused(out, &printed, "cwd", rootfs());
        // The program itself, reached through the fd: must be a rootfs file.
        let prog = format!("{trick}/../../../../../bin/busybox");
        let out = env.run(&["exec", &c.id, &prog, "sh", "-c", "readlink /proc/self/exe"]);
        if out.status.success() {
            let exe = out.stdout.trim().to_string();
            assert!(
                rootfs().join(exe.trim_start_matches('/')).exists(),
                "{prog} ran {exe:?}, not a file of the rootfs"
            );
        } else {
            out.fails_with(&["args[0]|exec"]);
        }
    }
}

// ---------------------------------------------------------------------------
// CVE-2021-30465, CVE-2019-19921: mount destinations through symlinks

fn dir_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces `name` in the rootfs copy by a symlink to `target`.
fn plant(rootfs: &RootfsCopy, name: &str, target: &str) {
    let p = rootfs.path().join(name);
    match fs::symlink_metadata(&p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&p).unwrap(),
        Ok(_) => fs::remove_file(&p).unwrap(),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, &p).unwrap();
}

#[test]
fn symlinked_mount_destinations_stay_inside_the_rootfs() {
    let env = Env::exclusive("symlinks");
    let victim = TempDir::new("victim");
    let bind_src = TempDir::new("bindsrc");
    fs::write(bind_src.path().join("from-the-bind"), "x").unwrap();
    let victim_abs = victim.path().to_str().unwrap().to_string();
    let up = "../../../../../../../..";
    // (symlink in the rootfs, its target, extra mount)
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("proc", "/".into(), None),
        ("proc", up.into(), None),
        ("dev", "/".into(), None),
        ("dev", format!("{up}{victim_abs}"), None),
        ("sys", up.into(), None),
        ("sys", victim_abs.clone(), None),
        (
            "mnt",
            victim_abs.clone(),
            Some(
                json!({"destination": "/mnt/x", "type": "bind", "source": bind_src.path(), "options": ["rbind"]}),
            ),
        ),
        (
            "target",
            format!("{up}{victim_abs}"),
            Some(
                json!({"destination": "/target", "type": "bind", "source": bind_src.path(), "options": ["rbind", "ro"]}),
            ),
        ),
        (
            "target",
            "/".into(),
            Some(json!({"destination": "/target/etc", "type": "tmpfs", "source": "tmpfs"})),
        ),
    ];
    for (name, target, extra) in cases {
        let what = format!("/{name} -> {target}");
        let rootfs = RootfsCopy::new();
        plant(&rootfs, name, &target);
        let host_root = dir_names(Path::new("/"));
        let victim_before = dir_names(victim.path());
        let snapshot = HostSnapshot::take(&[]);

        let mut config = sh("echo ran; ls /mnt/x /target 2>/dev/null");
        with_rootfs(&mut config, rootfs.path());
        if let Some(m) = extra {
            config["mounts"].as_array_mut().unwrap().push(m);
        }
        let bundle = Bundle::new(&config);
        let c = Container::new(&env.id());
        let out = env.create_args(&["--bundle", bundle.arg(), &c.id], None, &c.out);
        if out.status.success() {
            env.start(&c.id).ok();
            env.wait_status(&c.id, "stopped");
            env.delete(&c.id).ok();
        } else {
            out.fails_with(&[]);
            env.assert_gone(&c.id);
        }

        snapshot.assert_unchanged_below(&[rootfs.path(), victim.path()], &what);
        assert_eq!(
            dir_names(Path::new("/")),
            host_root,
            "{what}: host / changed"
        );
        assert_eq!(
            dir_names(victim.path()),
            victim_before,
            "{what}: host dir changed"
        );
        assert!(
            mounts_under(victim.path()).is_empty(),
            "{what}: mount on the host dir"
        );
        assert!(
            mounts_under(rootfs.path()).is_empty(),
            "{what}: mount left on the rootfs"
        );
    }
}

/// Dangling symlinks at mount destinations, as images ship them
/// (`/etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf`, where
/// engines bind their own file): what is missing is made at the link's
/// target inside the rootfs, as runc does, and never on the host.
#[test]
fn dangling_symlink_destinations_are_made_inside_the_rootfs() {
    let env = Env::exclusive("dangling");
    let victim = TempDir::new("danglingvictim");
    let victim_abs = victim.path().to_str().unwrap().to_string();
    let source = TempDir::new("danglingsrc");
    fs::write(source.path().join("resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    let rootfs = RootfsCopy::new();
    plant(
        &rootfs,
        "etc/resolv.conf",
        "../run/systemd/resolve/stub-resolv.conf",
    );
    plant(&rootfs, "target", &format!("{victim_abs}/made"));
    let host_root = dir_names(Path::new("/"));
    let snapshot = HostSnapshot::take(&[]);

    let mut config = sh("cat /etc/resolv.conf; echo fs=$(stat -f -c %T /target/)");
    with_rootfs(&mut config, rootfs.path());
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/etc/resolv.conf", "type": "bind",
        "source": source.path().join("resolv.conf"), "options": ["rbind", "ro"]}));
    mounts.push(json!({"destination": "/target", "type": "tmpfs", "source": "tmpfs"}));
    let (c, _b) = env.run_container(&config);
    let out = c.wait_line_starting("fs=");
    assert!(
        out.contains("nameserver 192.0.2.1"),
        "not the bound file: {out:?}"
    );
    assert_eq!(c.value("fs"), "tmpfs", "no tmpfs on /target: {out:?}");
    env.wait_status(&c.id, "stopped");
    env.delete(&c.id).ok();

    assert!(rootfs
        .path()
        .join("run/systemd/resolve/stub-resolv.conf")
        .is_file());
    assert!(rootfs
        .path()
        .join(victim_abs.trim_start_matches('/'))
        .join("made")
        .is_dir());
    assert!(dir_names(victim.path()).is_empty(), "made in the host dir");
    assert_eq!(dir_names(Path::new("/")), host_root, "host / changed");
    snapshot.assert_unchanged_below(&[rootfs.path(), victim.path()], "dangling links");
}

// ---------------------------------------------------------------------------
// Masked and read-only paths with CAP_SYS_ADMIN

const MASKED: [&str; 10] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];
const READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[test]
fn masked_and_readonly_paths_hold_with_cap_sys_admin() {
    let env = Env::new("masked");
    let mut caps: Vec<&str> = DEFAULT_CAPS.to_vec();
    caps.extend(["CAP_SYS_ADMIN", "CAP_SYS_RAWIO"]);
    // Every write below is harmless if it went through: 'h' only prints sysrq
    // help to the kernel log, and the hostname is the container's (uts ns).
    let mut config = sh("echo capeff=$(grep CapEff /proc/self/status | cut -f2); \
         echo kcore=$(head -c 64 /proc/kcore | wc -c); \
         if echo h > /proc/sysrq-trigger; then echo sysrq=written; else echo sysrq=refused; fi; \
         if echo hutch-rw > /proc/sys/kernel/hostname; then echo sys=written; else echo sys=refused; fi; \
         echo firmware=$(ls -A /sys/firmware | wc -l); \
         echo done");
    with_caps(&mut config, &caps);
    config["linux"]["maskedPaths"] = json!(MASKED);
    config["linux"]["readonlyPaths"] = json!(READONLY);
    let (c, _b) = env.run_container(&config);
    c.wait_line("done");
    let capeff = u64::from_str_radix(&c.value("capeff"), 16).unwrap();
    assert!(
        capeff & (1 << 21) != 0,
        "CAP_SYS_ADMIN is not effective: {capeff:x}"
    );
    assert_eq!(c.value("kcore"), "0", "/proc/kcore is readable");
    assert_eq!(
        c.value("sysrq"),
        "refused",
        "/proc/sysrq-trigger is writable"
    );
    assert_eq!(c.value("sys"), "refused", "/proc/sys is writable");
    assert_eq!(c.value("firmware"), "0", "/sys/firmware is not masked");
}

// ---------------------------------------------------------------------------
// Device nodes swapped for symlinks while they are made

/// A rootfs may be shared with a running container, which can swap a device
/// node hutch just made for a symlink to a host file. Nothing done to the
/// node after mknod may follow that link (a chmod by name made the host file
/// world-writable). The debug build stops after each mknod
/// (HUTCH_TEST_PAUSE_AT=device-node-made); the swap happens there.
#[test]
fn a_device_node_swapped_for_a_symlink_leaves_the_host_file_alone() {
    let env = Env::new("devswap");
    let rootfs = RootfsCopy::new();
    let victim = TempDir::new("devvictim");
    let target = victim.path().join("secret");
    fs::write(&target, "secret").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    let mut config = sh("true");
    with_rootfs(&mut config, rootfs.path());
    // The rootfs's own /dev (no tmpfs on it), where the host can reach the
    // nodes; and no PID namespace, whose init would ignore its own SIGSTOP.
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|n| n["type"] != "pid");
    let bundle = Bundle::new(&config);
    let scratch = TempDir::new("devswap");
    let id = env.id();
    let mut cmd = env.command(&["create", "--bundle", bundle.arg(), &id]);
    cmd.env("HUTCH_TEST_PAUSE_AT", "device-node-made")
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(scratch.path().join("out")).unwrap())
        .stderr(fs::File::create(scratch.path().join("err")).unwrap());
    let mut create = cmd.spawn().unwrap();
    let mut init = wait_stopped_child(create.id());
    let paused = init.is_some();
    if paused {
        // The first node made is /dev/null.
        let node = rootfs.path().join("dev/null");
        fs::remove_file(&node).unwrap();
        std::os::unix::fs::symlink(&target, &node).unwrap();
    }
    // Let the init go on past every later node too.
    let finished = poll(WAIT, || {
        if let Some(pid) = init.take().or_else(|| stopped_child(create.id())) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGCONT,
            );
        }
        create.try_wait().unwrap().is_some()
    });
    if !finished {
        let _ = create.kill();
        let _ = create.wait();
    }
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600, "the host file's mode changed");
    assert_eq!(fs::read_to_string(&target).unwrap(), "secret");
    env.delete_force(&id).ok();
    env.assert_gone(&id);
}

/// tmpcopyup copies a directory of the image, which a running container may
/// share, into the new tmpfs: an entry swapped for a symlink to a host file
/// after hutch looked at it must not be read through (hutch still sees the
/// host's tree then). The debug build stops after each lstat
/// (HUTCH_TEST_PAUSE_AT=copyup-stat); the swap happens there.
#[test]
fn tmpcopyup_of_an_entry_swapped_for_a_symlink_copies_no_host_file() {
    let env = Env::new("copyswap");
    let rootfs = RootfsCopy::new();
    let secret = TempDir::new("copysecret");
    let target = secret.path().join("secret");
    fs::write(&target, "host-secret").unwrap();
    fs::create_dir(rootfs.path().join("copied")).unwrap();
    fs::write(rootfs.path().join("copied/f"), "image-file").unwrap();
    let mut config = sh("cat /copied/f; echo; echo done");
    with_rootfs(&mut config, rootfs.path());
    config["mounts"].as_array_mut().unwrap().push(json!(
        {"destination": "/copied", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}
    ));
    // No PID namespace: its init would ignore its own SIGSTOP.
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|n| n["type"] != "pid");
    let bundle = Bundle::new(&config);
    let c = Container::new(&env.id());
    let mut cmd = env.command(&["create", "--bundle", bundle.arg(), &c.id]);
    cmd.env("HUTCH_TEST_PAUSE_AT", "copyup-stat")
        .stdout(fs::OpenOptions::new().append(true).open(&c.out).unwrap())
        .stderr(fs::OpenOptions::new().append(true).open(&c.out).unwrap());
    let mut create = cmd.spawn().unwrap();
    let stopped = wait_stopped_child(create.id());
    let paused = stopped.is_some();
    if let Some(init) = stopped {
        let entry = rootfs.path().join("copied/f");
        fs::remove_file(&entry).unwrap();
        std::os::unix::fs::symlink(&target, &entry).unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(init),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
    let finished = poll(WAIT, || create.try_wait().unwrap().is_some());
    if !finished {
        let _ = create.kill();
    }
    let created = create.wait().unwrap().success();
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    if created {
        env.start(&c.id).ok();
        c.wait_line("done");
    }
    assert!(
        !c.output().contains("host-secret"),
        "a host file was copied in: {:?}",
        c.output()
    );
    env.delete_force(&c.id).ok();
    env.assert_gone(&c.id);
}

/// linux.devices paths through planted symlinks: a node lands inside the
/// rootfs or not at all, and a refusal names the field.
#[test]
fn device_paths_through_symlinks_stay_inside_the_rootfs() {
    let env = Env::new("devlink");
    let victim = TempDir::new("devlinkvictim");
    let victim_abs = victim.path().to_str().unwrap().to_string();
    let host_root = dir_names(Path::new("/"));
    // Through ".." and to a host directory the rootfs lacks: resolved, and
    // made, in the rootfs.
    let rootfs = RootfsCopy::new();
    plant(&rootfs, "up", "../../../../../../..");
    plant(&rootfs, "host", &victim_abs);
    let mut config = sh("ls /evil; ls /host/evil2");
    with_rootfs(&mut config, rootfs.path());
    config["linux"]["devices"] = json!([
        {"path": "/up/evil", "type": "c", "major": 1, "minor": 3},
        {"path": "/host/evil2", "type": "c", "major": 1, "minor": 3}
    ]);
    let (c, _b) = env.run_container(&config);
    c.wait_line("/host/evil2");
    assert!(rootfs.path().join("evil").exists());
    let inside = rootfs.path().join(victim_abs.trim_start_matches('/'));
    assert!(inside.join("evil2").exists());
    // Under a regular file: refused, naming the device.
    let rootfs = RootfsCopy::new();
    fs::write(rootfs.path().join("file"), "").unwrap();
    let mut config = sh("true");
    with_rootfs(&mut config, rootfs.path());
    config["linux"]["devices"] =
        json!([{"path": "/file/evil", "type": "c", "major": 1, "minor": 3}]);
    let bundle = Bundle::new(&config);
    let id = env.id();
    env.run(&["create", "--bundle", bundle.arg(), &id])
        .fails_with(&["linux.devices /file/evil"]);
    env.assert_gone(&id);
    assert!(
        dir_names(victim.path()).is_empty(),
        "a node in the host dir"
    );
    assert_eq!(dir_names(Path::new("/")), host_root, "host / changed");
}

// --- Mounts acted on by fd (issue 15 item 2) ---
//
// A rootfs shared with a running container (a "neighbour") can have any of
// its directories renamed, and a symlink put in their place, while hutch
// builds it. Each test stops the init right after a mount is attached at
// its destination (HUTCH_TEST_PAUSE_AT=mount-attached:DEST, debug build)
// or after /dev/console is checked (console-checked), swaps that path from
// the host as the neighbour would, and lets the init go on: what hutch does
// there afterwards must still land on what it made and checked, or create
// must fail with one clear line.

/// Unmounted (lazily) on drop: a host mount a test made under one of its
/// temporary directories, gone before the directory is removed.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        use nix::mount::{mount, MsFlags};
        fs::create_dir_all(at).unwrap();
        mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1m"),
        )
        .unwrap_or_else(|e| panic!("mount tmpfs on {at:?}: {e}"));
        let m = HostMount(at.to_path_buf());
        // Shared: what the host mounts below it reaches the mounts that are
        // its slaves (the container's binds of it, unless made private).
        mount(
            None::<&str>,
            at,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )
        .unwrap_or_else(|e| panic!("mount --make-shared {at:?}: {e}"));
        m
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// `create` of `bundle` with the init stopping at `step`; `at_pause` runs
/// while it is stopped, then it goes on. Returns whether it paused and
/// create's result (its stderr captured); the container writes to `c.out`.
fn create_paused(
    env: &Env,
    c: &Container,
    bundle: &Bundle,
    step: &str,
    at_pause: impl FnOnce(),
) -> (bool, Output) {
    let scratch = TempDir::new("pausederr");
    let err = scratch.path().join("stderr");
    let mut cmd = env.command(&["create", "--bundle", bundle.arg(), &c.id]);
    cmd.env("HUTCH_TEST_PAUSE_AT", step)
        .stdin(std::process::Stdio::null())
        .stdout(fs::OpenOptions::new().append(true).open(&c.out).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    let mut create = cmd.spawn().unwrap();
    let stopped = wait_stopped_child(create.id());
    let paused = stopped.is_some();
    if let Some(init) = stopped {
        at_pause();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(init),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
    if !poll(WAIT, || create.try_wait().unwrap().is_some()) {
        let _ = create.kill();
    }
    let status = create.wait().unwrap();
    let out = Output {
        what: format!("{cmd:?}"),
        status,
        stdout: String::new(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    };
    (paused, out)
}

/// A config on `rootfs` without a PID namespace (its init would ignore its
/// own SIGSTOP), running `script`.
fn pausable(rootfs: &RootfsCopy, script: &str) -> Value {
    let mut config = sh(script);
    with_rootfs(&mut config, rootfs.path());
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|n| n["type"] != "pid");
    config
}

/// The neighbour's move: `name` in the rootfs renamed to `name.old`, and in
/// its place a symlink to `to` (a directory if `to` is None).
fn swap(rootfs: &RootfsCopy, name: &str, to: Option<&str>) {
    let p = rootfs.path().join(name);
    fs::rename(&p, rootfs.path().join(format!("{name}.old"))).unwrap();
    match to {
        Some(t) => std::os::unix::fs::symlink(t, &p).unwrap(),
        None => {
            fs::create_dir(&p).unwrap();
            if name == "proc" {
                // /proc/self/... still works for the runtime, through the
                // real procfs: a runtime using /proc/self/fd paths in its
                // later steps does not stumble, and masks by path find
                // nothing to mask.
                std::os::unix::fs::symlink("/proc.old/self", p.join("self")).unwrap();
            }
        }
    }
}

/// Runs a container whose /vol is a bind of a host directory with
/// `options`, swapping /vol as soon as the bind is attached. The container
/// tries to write through the bind wherever it ended up; returns the names
/// written in the host directory and in its submount `sub` (None when
/// create failed, which must then say why in one line).
fn bind_swapped_after_attach(
    options: &[&str],
    to: Option<&str>,
) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let env = Env::new("bindswap");
    let rootfs = RootfsCopy::new();
    fs::create_dir(rootfs.path().join("vol")).unwrap();
    let host = TempDir::new("bindswapvol");
    fs::write(host.path().join("data"), "host data").unwrap();
    let sub = HostMount::tmpfs(&host.path().join("sub"));
    let mut config = pausable(
        &rootfs,
        "for d in /vol.old /vol.old/sub /vol /vol/sub; do touch $d/pwned 2>/dev/null; done; \
         cat /vol.old/data; echo; echo done",
    );
    config["mounts"].as_array_mut().unwrap().push(json!(
        {"destination": "/vol", "type": "bind", "source": host.path(), "options": options}
    ));
    let bundle = Bundle::new(&config);
    let c = Container::new(&env.id());
    let (paused, out) = create_paused(&env, &c, &bundle, "mount-attached:/vol", || {
        swap(&rootfs, "vol", to)
    });
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    let what = format!("{options:?}, /vol swapped for {to:?}");
    let written = if out.status.success() {
        env.start(&c.id).ok();
        let printed = c.wait_line("done");
        assert!(
            printed.contains("host data"),
            "{what}: the bind is not at /vol.old: {printed:?}"
        );
        env.wait_status(&c.id, "stopped");
        env.delete(&c.id).ok();
        Some((dir_names(host.path()), dir_names(&host.path().join("sub"))))
    } else {
        out.fails_with(&["mounts["]);
        env.assert_gone(&c.id);
        None
    };
    assert!(
        mounts_under(rootfs.path()).is_empty(),
        "{what}: mount left on the rootfs"
    );
    drop(sub);
    assert!(
        mounts_under(host.path()).is_empty(),
        "{what}: mount left on the host dir"
    );
    written
}

/// `ro` on a bind used to be a remount of whatever the destination path
/// named afterwards: swapped for a symlink to another mount (/dev/shm), that one
/// became read-only and the host directory stayed writable.
#[test]
fn a_read_only_bind_swapped_after_attaching_stays_read_only() {
    for to in [Some("/dev/shm"), Some("/"), None] {
        if let Some((top, _)) = bind_swapped_after_attach(&["rbind", "ro"], to) {
            assert!(
                !top.contains("pwned"),
                "ro bind, /vol swapped for {to:?}: the container wrote in the host dir"
            );
        }
    }
}

/// The same for `rro` (mount_setattr AT_RECURSIVE), which must reach the
/// submounts the rbind brought along.
#[test]
fn a_recursively_read_only_bind_swapped_after_attaching_stays_read_only() {
    for to in [Some("/dev/shm"), None] {
        if let Some((top, sub)) = bind_swapped_after_attach(&["rbind", "rro"], to) {
            assert!(
                !top.contains("pwned") && !sub.contains("pwned"),
                "rro bind, /vol swapped for {to:?}: the container wrote in the host dir \
                 ({top:?}) or its submount ({sub:?})"
            );
        }
    }
}

/// Propagation used to be set on whatever the destination path named: a
/// bind meant to be private stayed a slave of the host's mount, receiving
/// what the host mounts in the volume afterwards.
#[test]
fn propagation_of_a_bind_swapped_after_attaching_lands_on_the_bind() {
    let env = Env::new("propswap");
    let rootfs = RootfsCopy::new();
    fs::create_dir(rootfs.path().join("vol")).unwrap();
    let dir = TempDir::new("propswapvol");
    let host = HostMount::tmpfs(&dir.path().join("vol"));
    let mut config = pausable(
        &rootfs,
        "grep ' /vol.old ' /proc/self/mountinfo | sed 's/^/vol=/'; echo done",
    );
    // Slave of the host from the start: a bind is a slave of the host's
    // mount unless its own propagation says otherwise.
    config["linux"]["rootfsPropagation"] = json!("slave");
    config["mounts"].as_array_mut().unwrap().push(json!(
        {"destination": "/vol", "type": "bind", "source": host.0, "options": ["bind", "private"]}
    ));
    let bundle = Bundle::new(&config);
    let c = Container::new(&env.id());
    let (paused, out) = create_paused(&env, &c, &bundle, "mount-attached:/vol", || {
        swap(&rootfs, "vol", Some("/dev/shm"))
    });
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    if out.status.success() {
        env.start(&c.id).ok();
        c.wait_line("done");
        let line = c.value("vol");
        // Optional fields (shared:N, master:N) come before the " - ".
        let (head, _) = line.split_once(" - ").unwrap_or((&line, ""));
        assert!(
            !head.contains("master:") && !head.contains("shared:"),
            "the bind asked to be private is not: {line:?}"
        );
        env.wait_status(&c.id, "stopped");
        env.delete(&c.id).ok();
    } else {
        out.fails_with(&["mounts["]);
        env.assert_gone(&c.id);
    }
    assert!(mounts_under(rootfs.path()).is_empty());
    drop(host);
    assert!(mounts_under(dir.path()).is_empty());
}

/// maskedPaths and readonlyPaths used to be applied by path once the root
/// was switched: a /proc moved away after procfs was mounted on it (and a
/// directory in its place) left that procfs unmasked, reachable at its new
/// name, and every mask silently skipped. Now the masks go on the
/// procfs hutch mounted, by fd, and create fails because /proc is no
/// longer it.
#[test]
fn masks_apply_to_the_procfs_hutch_made_even_when_proc_is_swapped() {
    for to in [None, Some("/dev")] {
        let env = Env::new("procswap");
        let rootfs = RootfsCopy::new();
        let mut caps: Vec<&str> = DEFAULT_CAPS.to_vec();
        caps.extend(["CAP_SYS_ADMIN", "CAP_SYS_RAWIO"]);
        let mut config = pausable(
            &rootfs,
            "for p in /proc /proc.old; do \
               echo kcore$p=$(head -c 64 $p/kcore 2>/dev/null | wc -c); \
               if echo hutch-rw 2>/dev/null > $p/sys/kernel/hostname; then echo sys$p=written; \
               else echo sys$p=refused; fi; \
             done; echo done",
        );
        with_caps(&mut config, &caps);
        config["linux"]["maskedPaths"] = json!(MASKED);
        config["linux"]["readonlyPaths"] = json!(READONLY);
        let bundle = Bundle::new(&config);
        let c = Container::new(&env.id());
        let (paused, out) = create_paused(&env, &c, &bundle, "mount-attached:/proc", || {
            swap(&rootfs, "proc", to)
        });
        assert!(
            paused,
            "the init never reached its pause point (release build?)"
        );
        if out.status.success() {
            env.start(&c.id).ok();
            c.wait_line("done");
            for p in ["/proc", "/proc.old"] {
                assert_ne!(
                    c.value(&format!("kcore{p}")),
                    "64",
                    "/proc swapped for {to:?}: {p}/kcore is readable"
                );
                assert_eq!(
                    c.value(&format!("sys{p}")),
                    "refused",
                    "/proc swapped for {to:?}: {p}/sys is writable"
                );
            }
            env.wait_status(&c.id, "stopped");
            env.delete(&c.id).ok();
        } else {
            out.fails_with(&[
                "linux.readonlyPaths|linux.maskedPaths",
                "/proc is no longer",
            ]);
            env.assert_gone(&c.id);
        }
        assert!(mounts_under(rootfs.path()).is_empty());
    }
}

/// linux.sysctl used to be written by path after the switch of root: with
/// /proc swapped for a directory of the neighbour's, the value went into a
/// file there and the container ran without it. Now each key is written
/// beneath the procfs hutch mounted, and create fails as /proc is no
/// longer it.
#[test]
fn sysctls_go_to_the_procfs_hutch_made_even_when_proc_is_swapped() {
    let env = Env::new("sysctlswap");
    let rootfs = RootfsCopy::new();
    let mut config = pausable(&rootfs, "echo name=$(uname -n); echo done");
    config["linux"]["sysctl"] = json!({"kernel.hostname": "set-by-sysctl"});
    let bundle = Bundle::new(&config);
    let c = Container::new(&env.id());
    let (paused, out) = create_paused(&env, &c, &bundle, "mount-attached:/proc", || {
        swap(&rootfs, "proc", None);
        fs::create_dir_all(rootfs.path().join("proc/sys/kernel")).unwrap();
    });
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    if out.status.success() {
        env.start(&c.id).ok();
        c.wait_line("done");
        assert_eq!(
            c.value("name"),
            "set-by-sysctl",
            "linux.sysctl kernel.hostname was not applied"
        );
        env.wait_status(&c.id, "stopped");
        env.delete(&c.id).ok();
    } else {
        out.fails_with(&["linux.sysctl kernel.hostname", "/proc is no longer"]);
        env.assert_gone(&c.id);
    }
    assert!(mounts_under(rootfs.path()).is_empty());
}

/// With a terminal the pty is bound on /dev/console. That used to be a
/// check of the path (no symlink, no directory), then a mount by path: a
/// /dev shared with a running container (no tmpfs on it) could have
/// /dev/console swapped for a symlink in between, and the pty went over
/// the file it named. Now the checked file is the fd the pty is attached
/// onto (debug builds stop at HUTCH_TEST_PAUSE_AT=console-checked).
#[test]
fn a_console_swapped_for_a_symlink_after_the_check_binds_nothing_else() {
    let env = Env::new("consoleswap");
    let rootfs = RootfsCopy::new();
    let console = ConsoleSocket::new();
    let mut config = pausable(&rootfs, "sleep 1000");
    config["process"]["terminal"] = json!(true);
    // The rootfs's own /dev, which the neighbour can reach.
    let mounts = config["mounts"].as_array_mut().unwrap();
    mounts.retain(|m| m["destination"] != "/dev");
    let bundle = Bundle::new(&config);
    let c = Container::new(&env.id());
    let scratch = TempDir::new("consoleerr");
    let mut cmd = env.command(&[
        "create",
        "--console-socket",
        console.arg(),
        "--bundle",
        bundle.arg(),
        &c.id,
    ]);
    cmd.env("HUTCH_TEST_PAUSE_AT", "console-checked")
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(scratch.path().join("out")).unwrap())
        .stderr(fs::File::create(scratch.path().join("err")).unwrap());
    let mut create = cmd.spawn().unwrap();
    let stopped = wait_stopped_child(create.id());
    let paused = stopped.is_some();
    if let Some(init) = stopped {
        let node = rootfs.path().join("dev/console");
        fs::rename(&node, rootfs.path().join("dev/console.old")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &node).unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(init),
            nix::sys::signal::Signal::SIGCONT,
        );
    }
    if !poll(WAIT, || create.try_wait().unwrap().is_some()) {
        let _ = create.kill();
    }
    let created = create.wait().unwrap().success();
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    if created {
        let _master = console.recv_master();
        let pid = env.pid(&c.id);
        let mounted = fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        assert!(
            !mounted
                .lines()
                .any(|l| l.split(' ').nth(4) == Some("/etc/passwd")),
            "the pty was bound over /etc/passwd:\n{mounted}"
        );
        env.delete_force(&c.id).ok();
    } else {
        let err = fs::read_to_string(scratch.path().join("err")).unwrap_or_default();
        assert!(err.contains("/dev/console"), "create failed: {err:?}");
        env.assert_gone(&c.id);
    }
    assert!(mounts_under(rootfs.path()).is_empty());
}
