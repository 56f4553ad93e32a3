//! Escape attempts: each test runs the attack of a known runc CVE against real
//! containers and checks from the host that it failed.

mod common;

use common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
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

// --- Files written as root (issue 15 item 3) ---

/// `create` of a new ID by a creator whose pid is known beforehand (`sh`
/// stops itself, then execs the runtime), with containers named as that
/// creator's temporary directory once was (`.new-<pid>`), and as a dead
/// creator's: they keep their state through the create and through
/// `delete --force` of an ID that does not exist (which looks for the
/// temporary directories of dead creators).
#[test]
fn containers_named_like_temporary_directories_keep_their_state() {
    let env = Env::new("tmpname");
    let bundle = Bundle::new(&spec(&["sleep", "1000"]));
    let id = env.id();
    let mut creator = Command::new("sh")
        .args(["-c", r#"kill -STOP $$; exec "$@""#, "sh"])
        .arg(env.bin())
        .arg("--root")
        .arg(env.root())
        .args(["create", "--bundle", bundle.arg(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = creator.id() as i32;
    assert!(
        poll(WAIT, || proc_state(pid) == Some('T')),
        "the creator never stopped"
    );
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let p = c.id();
        c.wait().unwrap();
        p
    };
    let victims = [format!(".new-{pid}"), format!(".new-{dead}")];
    for v in &victims {
        env.track(v);
        env.create(v, &bundle);
        env.start(v).ok();
    }
    let inits: Vec<i32> = victims.iter().map(|v| env.pid(v)).collect();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    let finished = poll(WAIT, || creator.try_wait().unwrap().is_some());
    if !finished {
        let _ = creator.kill();
    }
    let created = creator.wait().unwrap().success();
    env.delete_force(&format!("{id}-missing")).ok();
    let kept: Vec<bool> = victims
        .iter()
        .zip(&inits)
        .map(|(v, init)| {
            let state = env.run(&["state", v]);
            let state: Value = serde_json::from_str(&state.stdout).unwrap_or_default();
            state["pid"] == *init
        })
        .collect();
    // A victim whose state was wiped is no longer env's to clean up.
    for (k, init) in kept.iter().zip(&inits) {
        if !k {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*init),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    assert!(created, "create of {id} failed");
    assert_eq!(kept, [true, true], "state lost of {victims:?}");
    assert_eq!(env.status(&id), "created");
    for v in &victims {
        assert_eq!(env.status(v), "running", "{v}");
    }
    // The runtime's own temporary names are no IDs.
    env.run(&[
        "create",
        "--bundle",
        bundle.arg(),
        "~new-1-0123456789abcdef",
    ])
    .fails_with(&["invalid container ID"]);
}

/// runc lists IDs that begin with '.' (its `list` reads every directory).
#[test]
fn list_shows_ids_that_begin_with_a_dot() {
    let env = Env::new("dotlist");
    let bundle = Bundle::new(&spec(&["sleep", "1000"]));
    let id = format!(".{}", env.id());
    env.track(&id);
    env.create(&id, &bundle);
    let quiet = env.run(&["list", "-q"]).ok().stdout;
    assert_eq!(quiet.lines().collect::<Vec<_>>(), [id.as_str()]);
    let json = env.run(&["list", "--format", "json"]).ok().stdout;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["id"], id.as_str(), "{json}");
    assert_eq!(json[0]["status"], "created", "{json}");
}

/// A directory anyone can write (mode 0777), as a less trusted user may
/// share the one of a --pid-file, and a host file elsewhere to protect.
fn shared_dir_and_victim(name: &str) -> (TempDir, TempDir, PathBuf) {
    let dir = TempDir::new(name);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let victim_dir = TempDir::new(&format!("{name}victim"));
    let victim = victim_dir.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    (dir, victim_dir, victim)
}

/// `--pid-file` of `create` and `exec` in a directory where symlinks to a
/// host file sit at the final name and at every temporary name a runtime
/// would foresee (hutch's old `<stem>.hutch-tmp`, runc's `.<name>`): the
/// host file is unchanged, the pid file is a file holding the right PID,
/// and no temporary file is left.
#[test]
fn pid_files_never_write_through_planted_symlinks() {
    let env = Env::new("pidlink");
    let (dir, _victim_dir, victim) = shared_dir_and_victim("pidlink");
    let names = [
        "init.pid",
        "init.hutch-tmp",
        ".init.pid",
        "exec-pid",
        "exec-pid.hutch-tmp",
        ".exec-pid",
    ];
    for n in names {
        std::os::unix::fs::symlink(&victim, dir.path().join(n)).unwrap();
    }
    let read_pid = |name: &str| -> i32 {
        let p = dir.path().join(name);
        assert!(
            fs::symlink_metadata(&p).unwrap().is_file(),
            "{p:?} is not a file"
        );
        fs::read_to_string(&p).unwrap().parse().unwrap()
    };
    let bundle = Bundle::new(&sh("echo ready; exec sleep 1000"));
    let id = env.id();
    let c = Container::new(&id);
    let init_pid = dir.path().join("init.pid");
    let args = [
        "--bundle",
        bundle.arg(),
        "--pid-file",
        init_pid.to_str().unwrap(),
        &id,
    ];
    let created = env.create_args(&args, None, &c.out);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    created.ok();
    assert_eq!(read_pid("init.pid"), env.pid(&id));
    env.start(&id).ok();
    c.wait_line("ready");
    let exec_pid = dir.path().join("exec-pid");
    let exec_pid = exec_pid.to_str().unwrap();
    env.run(&["exec", "-d", "--pid-file", exec_pid, &id, "sleep", "1000"])
        .ok();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let pid = read_pid("exec-pid");
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(cmdline.starts_with("sleep\0"), "{pid} runs {cmdline:?}");
    let left: BTreeSet<String> = dir_names(dir.path());
    let planted: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(left, planted, "temporary files left");
}

/// The same while another user of the directory races every create: it keeps
/// symlinks to the host file at the names a runtime would foresee, and
/// replaces every file that appears by one (the temporary file included,
/// between its creation and its rename). A create may fail then, but the
/// host file must never be written.
#[test]
fn pid_files_written_while_symlinks_are_planted_leave_the_victim_alone() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    const CREATES: usize = 25;
    let env = Env::new("pidrace");
    let (dir, _victim_dir, victim) = shared_dir_and_victim("pidrace");
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let (dir, victim, stop) = (dir.path().to_path_buf(), victim.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut planted = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for n in 0..CREATES {
                    for name in [format!("{n}.hutch-tmp"), format!(".{n}.pid")] {
                        if std::os::unix::fs::symlink(&victim, dir.join(name)).is_ok() {
                            planted += 1;
                        }
                    }
                }
                for e in fs::read_dir(&dir).unwrap().flatten() {
                    let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
                    if !is_link && fs::remove_file(e.path()).is_ok() {
                        let _ = std::os::unix::fs::symlink(&victim, e.path());
                        planted += 1;
                    }
                }
            }
            planted
        })
    };
    let bundle = Bundle::new(&spec(&["true"]));
    let mut made = 0;
    for n in 0..CREATES {
        let id = env.id();
        let out = TempDir::new("pidraceout");
        let pid_file = dir.path().join(format!("{n}.pid"));
        let args = [
            "--bundle",
            bundle.arg(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ];
        if env
            .create_args(&args, None, &out.path().join("out"))
            .status
            .success()
        {
            made += 1;
        }
        env.delete_force(&id).ok();
    }
    stop.store(true, Ordering::Relaxed);
    let planted = attacker.join().unwrap();
    assert_eq!(
        fs::read_to_string(&victim).unwrap(),
        "precious",
        "written through a symlink ({made} of {CREATES} creates succeeded)"
    );
    assert!(
        planted > CREATES,
        "the attacker planted only {planted} links"
    );
}

/// `--log` in a directory others can write: a symlink planted at its name
/// is not followed (the host file stays as it was) and a FIFO there is an
/// error, not a hang; a symlink in a directory only root can write (here
/// `/dev/stderr`) still is followed.
#[test]
fn log_file_never_written_through_a_planted_symlink() {
    let env = Env::new("loglink");
    let (dir, _victim_dir, victim) = shared_dir_and_victim("loglink");
    let link = dir.path().join("log.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    for log in [&link, &fifo] {
        let log = log.to_str().unwrap();
        env.run(&["--log", log, "--log-format", "json", "kill", "nope"])
            .fails_with(&[&format!("--log {log}")]);
    }
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let out = env.run(&[
        "--log",
        "/dev/stderr",
        "--log-format",
        "json",
        "kill",
        "nope",
    ]);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains(r#""level":"error""#) && out.stderr.contains("nope"),
        "{out:#?}"
    );
}

/// `--console-socket` at a name in a shared directory where another user
/// put their own listener: that user gets no terminal (the container's
/// process) and create says why.
#[test]
fn a_console_socket_of_another_user_gets_no_terminal() {
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    use std::time::{Duration, Instant};
    let env = Env::new("consolepeer");
    let (dir, _victim_dir, _victim) = shared_dir_and_victim("consolepeer");
    let sock = dir.path().join("console.sock");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let attacker = std::thread::spawn({
        let sock = sock.clone();
        move || -> usize {
            // SAFETY: the raw syscall changes this thread's credentials
            // only (glibc's setresuid would change every thread's).
            let rc = unsafe { libc::syscall(libc::SYS_setresuid, 65534, 65534, 65534) };
            assert_eq!(rc, 0, "setresuid: {}", std::io::Error::last_os_error());
            let listener = UnixListener::bind(&sock).unwrap();
            listener.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            let deadline = Instant::now() + WAIT;
            loop {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        let mut buf = [0u8; 64];
                        return conn.read(&mut buf).unwrap_or(0);
                    }
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("no connection to the attacker's socket: {e}"),
                }
            }
        }
    });
    ready_rx.recv().unwrap();
    let mut config = spec(&["sh"]);
    config["process"]["terminal"] = json!(true);
    let bundle = Bundle::new(&config);
    let id = env.id();
    let sock = sock.to_str().unwrap();
    let out = TempDir::new("consolepeerout");
    let args = ["--console-socket", sock, "--bundle", bundle.arg(), &id];
    let created = env.create_args(&args, None, &out.path().join("out"));
    let received = attacker.join().unwrap();
    created.fails_with(&[&format!("--console-socket {sock}"), "uid 65534"]);
    assert_eq!(received, 0, "the attacker's listener got the terminal");
    env.assert_gone(&id);
}

/// A `--root` that someone else can write (mode 0777, or owned by another
/// user) would let them plant or swap the containers' state: `create`
/// refuses it, naming it, and makes nothing there. A missing one is made
/// with mode 0700.
#[test]
fn create_refuses_a_root_others_can_write() {
    let env = Env::new("sharedroot");
    let bundle = Bundle::new(&spec(&["true"]));
    let roots = TempDir::new("sharedroot");
    let world = roots.path().join("world");
    fs::create_dir(&world).unwrap();
    fs::set_permissions(&world, fs::Permissions::from_mode(0o777)).unwrap();
    let other = roots.path().join("other");
    fs::create_dir(&other).unwrap();
    fs::set_permissions(&other, fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&other, Some(65534), None).unwrap();
    for root in [&world, &other] {
        let id = env.id();
        let r = root.to_str().unwrap();
        let out = TempDir::new("sharedrootout");
        let args = ["--root", r, "create", "--bundle", bundle.arg(), &id];
        let created = run_runtime(None, &args, None, Out::File(&out.path().join("out")));
        let _ = run_runtime(
            None,
            &["--root", r, "delete", "--force", &id],
            None,
            Out::Capture,
        );
        created.fails_with(&[&format!("--root {r}"), "others than root"]);
        assert!(dir_names(root).is_empty(), "{r}: {:?}", dir_names(root));
    }
    let fresh = roots.path().join("fresh/root");
    let id = env.id();
    let r = fresh.to_str().unwrap();
    let out = TempDir::new("sharedrootout");
    let args = ["--root", r, "create", "--bundle", bundle.arg(), &id];
    run_runtime(None, &args, None, Out::File(&out.path().join("out"))).ok();
    run_runtime(
        None,
        &["--root", r, "delete", "--force", &id],
        None,
        Out::Capture,
    )
    .ok();
    let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o700);
}

/// `spec` in a directory others can write: a symlink planted at
/// config.json, dangling (it would create the file it names) or not, is
/// refused as an existing file and nothing is written through it.
#[test]
fn spec_never_writes_through_a_planted_symlink() {
    let (dir, victim_dir, victim) = shared_dir_and_victim("speclink");
    let config = dir.path().join("config.json");
    let bundle = dir.path().to_str().unwrap();
    let absent = victim_dir.path().join("absent");
    for target in [&absent, &victim] {
        let _ = fs::remove_file(&config);
        std::os::unix::fs::symlink(target, &config).unwrap();
        run_runtime(None, &["spec", "--bundle", bundle], None, Out::Capture)
            .fails_with(&["config.json already exists"]);
    }
    assert!(
        !absent.exists(),
        "spec created {absent:?} through a symlink"
    );
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
}

// --- The program exec'd is the one checked, with no runtime fd open (issue 15 item 2) ---

/// A rootfs copy with `/x/sh`, busybox (it runs as `sh` by its name): a
/// copy, or with `link` a symlink to it as in most images; and `/y`, a
/// script that says SWAPPED. The attacks below put a symlink to `/y` where
/// `/x/sh` was once hutch has checked it.
fn swappable_rootfs(link: bool) -> RootfsCopy {
    let rootfs = RootfsCopy::new();
    let prog = rootfs.path().join("x/sh");
    fs::create_dir(rootfs.path().join("x")).unwrap();
    if link {
        std::os::unix::fs::symlink("/bin/busybox", &prog).unwrap();
    } else {
        fs::copy(rootfs.path().join("bin/busybox"), &prog).unwrap();
    }
    fs::write(rootfs.path().join("y"), "#!/bin/sh\necho SWAPPED\n").unwrap();
    fs::set_permissions(rootfs.path().join("y"), fs::Permissions::from_mode(0o755)).unwrap();
    rootfs
}

/// Replace `/x/sh` of `rootfs` by a symlink to `/y`.
fn swap_program(rootfs: &Path) {
    let prog = rootfs.join("x/sh");
    fs::remove_file(&prog).unwrap();
    std::os::unix::fs::symlink("/y", &prog).unwrap();
}

/// SIGCONT to `pid`.
fn resume(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGCONT,
    );
}

/// A startContainer hook runs container code after `create` checked
/// `args[0]` and before the init's execve: it swaps the program for a
/// symlink (to a script here; to `/proc/self/fd/N` of a runtime fd in runc
/// CVE-2024-21626). What runs must be what was checked.
#[test]
fn a_program_swapped_by_a_start_container_hook_is_not_run() {
    for link in [false, true] {
        swapped_by_a_hook(link);
    }
}

fn swapped_by_a_hook(link: bool) {
    let env = Env::new("hookswap");
    let rootfs = swappable_rootfs(link);
    let mut config = spec(&["/x/sh", "-c", "echo ORIGINAL"]);
    with_rootfs(&mut config, rootfs.path());
    config["hooks"] = json!({"startContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", "rm /x/sh && ln -s /y /x/sh"],
    }]});
    let bundle = Bundle::new(&config);
    let c = env.create(&env.id(), &bundle);
    env.start(&c.id).ok();
    env.wait_status(&c.id, "stopped");
    assert!(
        fs::symlink_metadata(rootfs.path().join("x/sh"))
            .unwrap()
            .is_symlink(),
        "the hook did not run"
    );
    let out = c.output();
    assert!(
        out.contains("ORIGINAL") && !out.contains("SWAPPED"),
        "the init exec'd the swapped program (/x/sh a symlink: {link}): {out:?}"
    );
}

/// During `exec`, any process of the container can swap the program between
/// hutch's check and its execve. The debug build stops the exec'd process
/// right before its execve (HUTCH_TEST_PAUSE_AT=program-exec); the swap
/// happens there.
#[test]
fn a_program_swapped_during_exec_is_not_run() {
    for link in [false, true] {
        swapped_during_exec(link);
    }
}

fn swapped_during_exec(link: bool) {
    let env = Env::new("execswap");
    let rootfs = swappable_rootfs(link);
    let mut config = sh("exec sleep 1000");
    with_rootfs(&mut config, rootfs.path());
    let (c, _b) = env.run_container(&config);
    let scratch = TempDir::new("execswap");
    let mut cmd = env.command(&["exec", &c.id, "/x/sh", "-c", "echo ORIGINAL"]);
    cmd.env("HUTCH_TEST_PAUSE_AT", "program-exec")
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(scratch.path().join("out")).unwrap())
        .stderr(fs::File::create(scratch.path().join("err")).unwrap());
    let mut exec = cmd.spawn().unwrap();
    let child = wait_stopped_child(exec.id());
    if child.is_some() {
        swap_program(rootfs.path());
    }
    if let Some(pid) = child {
        resume(pid);
    }
    let status = run_bounded_child(&mut exec);
    assert!(
        child.is_some(),
        "the exec'd process never reached its pause point (release build?)"
    );
    let out = fs::read_to_string(scratch.path().join("out")).unwrap();
    let err = fs::read_to_string(scratch.path().join("err")).unwrap();
    assert!(
        status.success() && out.contains("ORIGINAL") && !out.contains("SWAPPED"),
        "exec ran the swapped program or failed (/x/sh a symlink: {link}, {status}): {out:?} {err:?}"
    );
}

/// Wait up to 20 s for a spawned runtime command.
fn run_bounded_child(child: &mut std::process::Child) -> std::process::ExitStatus {
    let mut status = None;
    poll(std::time::Duration::from_secs(20), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            child.wait().unwrap()
        }
    }
}

/// What the fds ≥ 3 of a process stopped right before its execve are: each
/// must be the program's own file or its directory in the rootfs (`program`,
/// by device and inode), a socket (hutch's channel) or, for the init, its
/// error file in the state directory (regular, not executable) and its exec
/// fifo. Anything else is a runtime fd that the kernel would still walk
/// through when it resolves the program's interpreter by path (`#!/proc/self/fd/N/..`,
/// PT_INTERP), close-on-exec or not.
fn assert_only_expected_fds(pid: i32, program: &Path, state_dir: Option<&Path>) {
    let ours = [dev_ino(program), dev_ino(program.parent().unwrap())];
    let errlog = state_dir.map(|d| dev_ino(&d.join("init.err")));
    for fd in fds_of(pid).into_iter().filter(|&fd| fd >= 3) {
        let link = format!("/proc/{pid}/fd/{fd}");
        let target = fs::read_link(&link).unwrap_or_default();
        if target.to_string_lossy().starts_with("socket:") {
            continue;
        }
        let st = fs::metadata(&link).unwrap_or_else(|e| panic!("stat {link}: {e}"));
        let id = (st.dev(), st.ino());
        // The exec fifo, which the execve closes to tell `start`: a FIFO
        // cannot be walked through or exec'd.
        if st.file_type().is_fifo() {
            continue;
        }
        assert!(
            ours.contains(&id) || Some(id) == errlog && st.is_file() && st.mode() & 0o111 == 0,
            "fd {fd} of pid {pid} is open at its execve: {target:?} (a directory: {})",
            st.is_dir()
        );
    }
}

#[test]
fn no_runtime_fd_is_open_when_the_program_is_exec_d() {
    let env = Env::new("execfds");
    let rootfs = swappable_rootfs(false);
    let program = rootfs.path().join("x/sh");
    // No PID namespace: its init would ignore its own SIGSTOP.
    let mut config = spec(&["/x/sh", "-c", "exec sleep 1000"]);
    with_rootfs(&mut config, rootfs.path());
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|n| n["type"] != "pid");
    let bundle = Bundle::new(&config);
    let id = env.id();
    let scratch = TempDir::new("execfds");
    let mut cmd = env.command(&["create", "--bundle", bundle.arg(), &id]);
    cmd.env("HUTCH_TEST_PAUSE_AT", "program-exec")
        .stdin(std::process::Stdio::null())
        .stdout(fs::File::create(scratch.path().join("out")).unwrap())
        .stderr(fs::File::create(scratch.path().join("err")).unwrap());
    let mut create = cmd.spawn().unwrap();
    assert!(run_bounded_child(&mut create).success(), "create failed");
    env.track(&id);
    let init = env.pid(&id);
    // start returns once the program is exec'd: after the pause.
    let mut start = env
        .command(&["start", &id])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let paused = poll(WAIT, || proc_state(init) == Some('T'));
    if paused {
        assert_only_expected_fds(init, &program, Some(&env.state_dir(&id)));
        resume(init);
    }
    assert!(run_bounded_child(&mut start).success(), "start failed");
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    assert_eq!(env.status(&id), "running");

    // And a process exec'd into it.
    let mut cmd = env.command(&["exec", &id, "/x/sh", "-c", "true"]);
    cmd.env("HUTCH_TEST_PAUSE_AT", "program-exec")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut exec = cmd.spawn().unwrap();
    let child = wait_stopped_child(exec.id());
    if let Some(pid) = child {
        assert_only_expected_fds(pid, &program, None);
        resume(pid);
    }
    let status = run_bounded_child(&mut exec);
    assert!(
        child.is_some(),
        "the exec'd process never reached its pause point (release build?)"
    );
    assert!(status.success(), "exec failed: {status}");
    env.delete_force(&id).ok();
    env.assert_gone(&id);
}

/// Exec'd through the directory it was found in, a program still looks as
/// it would exec'd by path: a symlinked applet's comm is its own name, and
/// a script gets its path as $0 (run by path once the kernel refuses it
/// through a close-on-exec fd).
#[test]
fn programs_keep_their_comm_and_scripts_their_path() {
    let env = Env::new("progname");
    let rootfs = swappable_rootfs(true);
    fs::write(
        rootfs.path().join("x/script"),
        "#!/bin/sh\necho \"zero=$0 comm=$(cat /proc/$$/comm) args=$*\"\n",
    )
    .unwrap();
    fs::set_permissions(
        rootfs.path().join("x/script"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut config = spec(&["/x/script", "a", "b"]);
    with_rootfs(&mut config, rootfs.path());
    let (c, _b) = env.run_container(&config);
    env.wait_status(&c.id, "stopped");
    assert_eq!(c.output(), "zero=/x/script comm=script args=a b\n");
    let mut config = sh("exec sleep 1000");
    with_rootfs(&mut config, rootfs.path());
    let (c, _b) = env.run_container(&config);
    let out = env
        .run(&[
            "exec",
            &c.id,
            "/x/sh",
            "-c",
            "cat /proc/1/comm; read c </proc/$$/comm; echo $c",
        ])
        .ok();
    assert_eq!(out.stdout, "sleep\nsh\n");
    let out = env.run(&["exec", &c.id, "/x/script", "c"]).ok();
    assert_eq!(out.stdout, "zero=/x/script comm=script args=c\n");
}

// --- Capabilities and devices default closed (issue 15 item 1) ---

/// Shell: the five capability sets of the shell itself (read with builtins
/// only, so no execve changes them) as `CapXxx=HEX` lines, then whether a
/// program it runs can make a device node (CAP_MKNOD) in its /dev.
const CAP_REPORT: &str = "while read -r k v; do case $k in Cap*) echo \"${k%:}=$v\";; esac; \
    done </proc/self/status; \
    if mknod /dev/hutch-null c 1 3 2>/dev/null; then echo mknod=ok; else echo mknod=refused; fi";

const NO_CAPS: &str = "0000000000000000";

/// The `key=value` lines of `out`.
fn report(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every set empty and no mknod, as runc gives.
#[track_caller]
fn assert_no_capability(out: &str, what: &str) {
    let r = report(out);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            r.get(set).map(String::as_str),
            Some(NO_CAPS),
            "{what}: {set}; output {out:?}"
        );
    }
    assert_eq!(
        r.get("mknod").map(String::as_str),
        Some("refused"),
        "{what}: {out:?}"
    );
}

/// The container's process as CAP_REPORT sees it.
fn container_caps(env: &Env, config: &Value) -> String {
    let mut config = config.clone();
    config["process"]["args"] = json!(["sh", "-c", format!("{CAP_REPORT}; echo done")]);
    let (c, _b) = env.run_container(&config);
    c.wait_line("done")
}

/// No process.capabilities at all (bundles that predate them, hand-written
/// configs): root in the container used to keep every capability, mknod
/// and all. Now none, as in runc.
#[test]
fn caps_none_without_process_capabilities() {
    let env = Env::new("capsabsent");
    let config = sh("true");
    assert!(config["process"].get("capabilities").is_none());
    let out = container_caps(&env, &config);
    assert_no_capability(&out, "no process.capabilities");
}

/// `"capabilities": {}` (podman --cap-drop ALL): an absent list is an empty
/// set. The bounding set used to stay full, so root regained everything at
/// execve.
#[test]
fn caps_none_with_an_empty_capabilities_object() {
    let env = Env::new("capsempty");
    let mut config = sh("true");
    config["process"]["capabilities"] = json!({});
    let out = container_caps(&env, &config);
    assert_no_capability(&out, "capabilities {}");
}

/// Only effective and permitted listed: the bounding set is empty, so root's
/// execve keeps nothing of them (as in runc), and above all not the rest.
#[test]
fn caps_bounding_empty_when_only_effective_and_permitted_are_listed() {
    let env = Env::new("capsnobnd");
    let mut config = sh("true");
    config["process"]["capabilities"] = json!({
        "effective": ["CAP_MKNOD", "CAP_KILL"],
        "permitted": ["CAP_MKNOD", "CAP_KILL"],
    });
    let out = container_caps(&env, &config);
    assert_eq!(
        report(&out).get("CapBnd").map(String::as_str),
        Some(NO_CAPS),
        "{out:?}"
    );
    assert_no_capability(&out, "effective and permitted only");
}

/// An exec'd process: with a --process file without capabilities, and
/// with the container's own process, it gets the container's sets (as
/// runc), which are none when the config lists none; never all of them.
#[test]
fn caps_of_exec_follow_the_container_and_default_closed() {
    let env = Env::new("capsexec");
    let files = TempDir::new("capsexec");
    let process = files.path().join("process.json");
    fs::write(
        &process,
        json!({
            "args": ["sh", "-c", CAP_REPORT],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        })
        .to_string(),
    )
    .unwrap();
    let process = process.to_str().unwrap();
    let exec = |args: &[&str]| env.run(args).ok().stdout;

    // A container without process.capabilities.
    let (c, _b) = env.run_container(&spec(&["sleep", "1000"]));
    env.wait_status(&c.id, "running");
    let out = exec(&["exec", "--process", process, &c.id]);
    assert_no_capability(&out, "exec --process without capabilities");
    let out = exec(&["exec", &c.id, "sh", "-c", CAP_REPORT]);
    assert_no_capability(&out, "exec of the container's process");
    env.delete_force(&c.id).ok();

    // A container with CAP_KILL (bit 5) only: so is the exec'd process.
    let mut config = spec(&["sleep", "1000"]);
    with_caps(&mut config, &["CAP_KILL"]);
    let (c, _b) = env.run_container(&config);
    env.wait_status(&c.id, "running");
    let out = exec(&["exec", "--process", process, &c.id]);
    let r = report(&out);
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(
            r.get(set).map(String::as_str),
            Some("0000000000000020"),
            "{set}: {out:?}"
        );
    }
    assert_eq!(
        r.get("mknod").map(String::as_str),
        Some("refused"),
        "{out:?}"
    );
    env.delete_force(&c.id).ok();
}

/// No linux.resources.devices: a container that may make device nodes
/// (CAP_MKNOD) can open the default devices (/dev/null) but not one it
/// made for another: /dev/kmsg's c 1:11, or the host's console c 5:1
/// (no longer in the default list, as in runc). Was "a *:* rwm". Both are
/// opened for writing, which asks for no capability (reading kmsg wants
/// CAP_SYSLOG): only the device cgroup can refuse.
#[test]
fn devices_outside_the_default_list_are_denied_without_device_rules() {
    let env = Env::new("devclosed");
    let script = "mknod /dev/hutch-kmsg c 1 11 && echo mknod=ok; \
        mknod /dev/hutch-console c 5 1; \
        e=$( (: >/dev/hutch-kmsg) 2>&1) && echo kmsg=open || echo \"kmsg=$e\"; \
        e=$( (: >/dev/hutch-console) 2>&1) && echo console=open || echo \"console=$e\"; \
        e=$( (echo x >/dev/null) 2>&1) && echo null=ok || echo \"null=$e\"; \
        echo done";
    let mut no_resources = sh(script);
    with_caps(&mut no_resources, &["CAP_MKNOD"]);
    let mut other_resources = no_resources.clone();
    other_resources["linux"]["resources"] = json!({"pids": {"limit": 100}, "devices": []});
    for (what, config) in [
        ("no linux.resources", no_resources),
        ("resources without devices", other_resources),
    ] {
        let (c, _b) = env.run_container(&config);
        let out = c.wait_line("done");
        let r = report(&out);
        assert_eq!(
            r.get("mknod").map(String::as_str),
            Some("ok"),
            "{what}: {out:?}"
        );
        assert_eq!(
            r.get("null").map(String::as_str),
            Some("ok"),
            "{what}: {out:?}"
        );
        for dev in ["kmsg", "console"] {
            let v = r.get(dev).cloned().unwrap_or_default();
            assert!(
                v.to_lowercase().contains("not permitted"),
                "{what}: {dev} not refused with EPERM: {out:?}"
            );
        }
        env.delete_force(&c.id).ok();
    }
}

/// `update -r` with device rules that do not start with a rule for all
/// devices: they replace the container's set, from a deny of everything
/// again, rather than add to whatever the cgroup allowed (a fresh v1 cgroup
/// allows all). kmsg gets opened for writing; the host's console stays shut.
#[test]
fn device_rules_from_update_start_from_deny_all_too() {
    let env = Env::new("devupdate");
    let mut config = sh(
        "mknod /dev/hutch-kmsg c 1 11 && mknod /dev/hutch-console c 5 1 && \
         echo ready; exec sleep 1000",
    );
    with_caps(&mut config, &["CAP_MKNOD"]);
    let (c, _b) = env.run_container(&config);
    c.wait_line("ready");
    let opens = |dev: &str| {
        env.run(&["exec", &c.id, "sh", "-c", &format!(": >/dev/{dev}")])
            .status
            .success()
    };
    assert!(!opens("hutch-kmsg"), "kmsg open before any rule");
    let files = TempDir::new("devupdate");
    let file = files.path().join("r.json");
    let rules = json!({"devices": [
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}
    ]});
    fs::write(&file, rules.to_string()).unwrap();
    env.run(&["update", "-r", file.to_str().unwrap(), &c.id])
        .ok();
    assert!(opens("hutch-kmsg"), "update did not allow c 1:11 w");
    assert!(!opens("hutch-console"), "update opened the host's console");
    assert!(opens("null"), "update shut /dev/null");
    env.delete_force(&c.id).ok();
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

/// process.oomScoreAdj likewise: written by path, it went into the
/// neighbour's file when /proc was swapped, and the init kept its score.
#[test]
fn oom_score_adj_goes_to_the_procfs_hutch_made_even_when_proc_is_swapped() {
    let env = Env::new("oomswap");
    let rootfs = RootfsCopy::new();
    let mut config = pausable(
        &rootfs,
        "echo adj=$(cat /proc.old/self/oom_score_adj); echo done",
    );
    config["process"]["oomScoreAdj"] = json!(123);
    let bundle = Bundle::new(&config);
    let c = Container::new(&env.id());
    let planted = rootfs.path().join("proc/self/oom_score_adj");
    let (paused, out) = create_paused(&env, &c, &bundle, "mount-attached:/proc", || {
        swap(&rootfs, "proc", None);
        // A real directory, not swap's symlink to the moved procfs: a
        // write by path lands in the neighbour's file.
        fs::remove_file(planted.parent().unwrap()).unwrap();
        fs::create_dir(planted.parent().unwrap()).unwrap();
        fs::write(&planted, "neighbour's").unwrap();
    });
    assert!(
        paused,
        "the init never reached its pause point (release build?)"
    );
    assert_eq!(
        fs::read_to_string(&planted).unwrap(),
        "neighbour's",
        "process.oomScoreAdj went into the neighbour's file"
    );
    if out.status.success() {
        env.start(&c.id).ok();
        c.wait_line("done");
        assert_eq!(c.value("adj"), "123", "process.oomScoreAdj was not applied");
        env.wait_status(&c.id, "stopped");
        env.delete(&c.id).ok();
    } else {
        out.fails_with(&["process.oomScoreAdj", "/proc is no longer"]);
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
