//! Conformance: each Linux field of config.json, proven from inside the
//! container. Every test writes a config that sets one field, runs the
//! inspector (integration/inspector) as the container's process and compares
//! its report with the config; bad values must fail `create` with one clear
//! line and leave nothing behind.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

// ---------------------------------------------------------------------------
// Harness

/// `config` with the inspector as its process, run to completion; its report.
#[track_caller]
fn inspect(env: &Env, mut config: Value, args: &[&str]) -> Value {
    let mut argv = vec![inspector()];
    argv.extend_from_slice(args);
    config["process"]["args"] = json!(argv);
    let (c, _bundle) = env.run_container(&config);
    env.wait_status(&c.id, "stopped");
    report_of(&c)
}

#[track_caller]
fn report_of(c: &Container) -> Value {
    let out = c.output();
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report from the inspector in {}: {out:?}", c.id));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad report ({e}): {line}"))
}

/// The default test config running the inspector (args filled in by `inspect`).
fn base() -> Value {
    spec(&["true"])
}

fn status<'a>(r: &'a Value, key: &str) -> &'a str {
    r["status"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status: {}", r["status"]))
}

/// The mount whose mount point is `point` (the topmost, if stacked).
#[track_caller]
fn mount<'a>(r: &'a Value, point: &str) -> &'a Value {
    r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["mount_point"] == point)
        .unwrap_or_else(|| panic!("no mount on {point}: {:#}", r["mounts"]))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn has_options(m: &Value, want: &[&str]) -> bool {
    let opts = strings(&m["options"]);
    want.iter().all(|w| opts.contains(w))
}

#[track_caller]
fn path<'a>(r: &'a Value, p: &str) -> &'a Value {
    let v = &r["paths"][p];
    assert!(v.is_object(), "no probe of {p}: {}", r["paths"]);
    v
}

/// `create` of `config` must fail with one line holding every token, and
/// leave no state directory, process or mount behind.
#[track_caller]
fn rejects(name: &str, config: &Value, tokens: &[&str]) {
    let env = Env::exclusive(name);
    let id = env.id();
    let bundle = Bundle::new(config);
    let root = env.root().to_str().unwrap().to_string();
    let snapshot = HostSnapshot::take(&[&id, &root]);
    let out = TempDir::new("bad");
    env.create_args(
        &["--bundle", bundle.arg(), &id],
        None,
        &out.path().join("out"),
    )
    .fails_with(tokens);
    assert!(
        !env.state_dir(&id).exists(),
        "{:?} left behind",
        env.state_dir(&id)
    );
    env.run(&["state", &id]).fails_with(&["does not exist"]);
    snapshot.assert_unchanged(&format!("after the failed create of {name}"));
    let cgroups = cgroups_named(&id);
    assert!(cgroups.is_empty(), "cgroups of {id} left: {cgroups:?}");
}

const CAPS: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Bit mask of capability names ("CAP_" prefix optional).
fn mask(names: &[&str]) -> u64 {
    names
        .iter()
        .map(|n| {
            let n = n.trim_start_matches("CAP_");
            let i = CAPS
                .iter()
                .position(|c| *c == n)
                .unwrap_or_else(|| panic!("unknown cap {n}"));
            1u64 << i
        })
        .fold(0, |a, b| a | b)
}

#[track_caller]
fn cap_set(r: &Value, key: &str) -> u64 {
    u64::from_str_radix(status(r, key), 16).unwrap()
}

fn caps_json(names: &[&str]) -> Value {
    json!(names.iter().map(|n| format!("CAP_{n}")).collect::<Vec<_>>())
}

/// A process in new namespaces of `flags` (unshare(1) options), alive until
/// dropped: its /proc/PID/ns files are namespaces to join by path.
struct NsHolder(Child);

impl NsHolder {
    fn new(flags: &[&str]) -> NsHolder {
        let child = Command::new("unshare")
            .args(flags)
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare");
        let pid = child.id();
        // Wait until unshare has exec'd sleep (its namespaces are then final).
        let ok = poll(WAIT, || {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
        });
        assert!(ok, "unshare {flags:?} did not start");
        NsHolder(child)
    }

    fn path(&self, kind: &str) -> String {
        format!("/proc/{}/ns/{kind}", self.0.id())
    }

    fn link(&self, kind: &str) -> String {
        ns(&self.0.id().to_string(), kind)
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------
// process

#[test]
fn process_user_uid_gid_groups_umask() {
    let env = Env::new("user");
    let mut c = base();
    c["process"]["user"] = json!({
        "uid": 1000, "gid": 1001, "additionalGids": [10, 20, 1001], "umask": 23
    });
    let r = inspect(&env, c, &[]);
    assert_eq!(status(&r, "Uid"), "1000\t1000\t1000\t1000");
    assert_eq!(status(&r, "Gid"), "1001\t1001\t1001\t1001");
    assert_eq!(status(&r, "Groups"), "10 20 1001");
    assert_eq!(status(&r, "Umask"), "0027");
}

#[test]
fn process_user_without_additional_gids_has_no_groups() {
    let env = Env::new("nogroups");
    let mut c = base();
    c["process"]["user"] = json!({ "uid": 0, "gid": 0 });
    let r = inspect(&env, c, &[]);
    assert_eq!(status(&r, "Uid"), "0\t0\t0\t0");
    assert_eq!(status(&r, "Groups"), "");
    // runc's default umask when the config names none.
    assert_eq!(status(&r, "Umask"), "0022");
}

#[test]
fn process_env_and_cwd() {
    let env = Env::new("envcwd");
    let mut c = base();
    c["process"]["env"] = json!(["PATH=/bin", "A=1", "SPACED=two words", "EMPTY="]);
    c["process"]["cwd"] = json!("/etc");
    let r = inspect(&env, c, &["--path", "."]);
    let mut seen = strings(&r["env"]);
    seen.sort();
    assert_eq!(seen, ["A=1", "EMPTY=", "PATH=/bin", "SPACED=two words"]);
    assert_eq!(r["cwd"], "/etc");
}

#[test]
fn process_cwd_that_does_not_exist_is_created() {
    let env = Env::new("cwdnew");
    let mut c = base();
    let dir = format!("/tmp/cwd-{}/a/b", std::process::id());
    c["process"]["cwd"] = json!(dir);
    let r = inspect(&env, c, &[]);
    assert_eq!(r["cwd"], dir.as_str());
}

#[test]
fn process_args_reach_the_program() {
    let env = Env::new("args");
    let r = inspect(&env, base(), &["--sysctl", "kernel.ostype"]);
    assert_eq!(
        strings(&r["args"]),
        [INSPECTOR, "--sysctl", "kernel.ostype"]
    );
}

#[test]
fn process_capabilities_non_root() {
    let env = Env::new("caps");
    let mut c = base();
    c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    c["process"]["capabilities"] = json!({
        "bounding": caps_json(&["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID"]),
        "permitted": caps_json(&["CHOWN", "KILL", "SETUID"]),
        "effective": caps_json(&["CHOWN", "KILL"]),
        "inheritable": caps_json(&["CHOWN", "KILL"]),
        "ambient": caps_json(&["KILL"]),
    });
    let r = inspect(&env, c, &[]);
    assert_eq!(
        cap_set(&r, "CapBnd"),
        mask(&["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID"])
    );
    assert_eq!(cap_set(&r, "CapInh"), mask(&["CHOWN", "KILL"]));
    // execve by a non-root user without file capabilities: permitted and
    // effective become the ambient set (capabilities(7)).
    assert_eq!(cap_set(&r, "CapAmb"), mask(&["KILL"]));
    assert_eq!(cap_set(&r, "CapPrm"), mask(&["KILL"]));
    assert_eq!(cap_set(&r, "CapEff"), mask(&["KILL"]));
}

#[test]
fn process_capabilities_root() {
    let env = Env::new("capsroot");
    let mut c = base();
    let set = caps_json(&["CHOWN", "NET_RAW", "AUDIT_WRITE"]);
    c["process"]["capabilities"] = json!({
        "bounding": set, "permitted": set, "effective": set, "inheritable": [], "ambient": []
    });
    let r = inspect(&env, c, &[]);
    let want = mask(&["CHOWN", "NET_RAW", "AUDIT_WRITE"]);
    for key in ["CapBnd", "CapPrm", "CapEff"] {
        assert_eq!(cap_set(&r, key), want, "{key}");
    }
    assert_eq!(cap_set(&r, "CapInh"), 0);
    assert_eq!(cap_set(&r, "CapAmb"), 0);
}

#[test]
fn process_capabilities_empty_drops_everything() {
    let env = Env::new("capsnone");
    let mut c = base();
    c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    c["process"]["capabilities"] = json!({
        "bounding": [], "permitted": [], "effective": [], "inheritable": [], "ambient": []
    });
    let r = inspect(&env, c, &[]);
    for key in ["CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"] {
        assert_eq!(cap_set(&r, key), 0, "{key}");
    }
}

#[test]
fn process_rlimits() {
    let env = Env::new("rlimits");
    let mut c = base();
    c["process"]["rlimits"] = json!([
        { "type": "RLIMIT_NOFILE", "soft": 123, "hard": 456 },
        { "type": "RLIMIT_CORE", "soft": 0, "hard": 0 },
        { "type": "RLIMIT_NPROC", "soft": 1000, "hard": 2000 },
        { "type": "RLIMIT_STACK", "soft": 8388608, "hard": 18446744073709551615u64 },
    ]);
    let r = inspect(&env, c, &[]);
    assert_eq!(r["rlimits"]["RLIMIT_NOFILE"], json!([123, 456]));
    assert_eq!(r["rlimits"]["RLIMIT_CORE"], json!([0, 0]));
    assert_eq!(r["rlimits"]["RLIMIT_NPROC"], json!([1000, 2000]));
    assert_eq!(r["rlimits"]["RLIMIT_STACK"], json!([8388608, u64::MAX]));
}

#[test]
fn process_no_new_privileges() {
    let env = Env::new("nnp");
    for (set, want) in [(true, "1"), (false, "0")] {
        let mut c = base();
        c["process"]["noNewPrivileges"] = json!(set);
        let r = inspect(&env, c, &[]);
        assert_eq!(status(&r, "NoNewPrivs"), want, "noNewPrivileges {set}");
    }
}

#[test]
fn process_oom_score_adj() {
    let env = Env::new("oom");
    let mut c = base();
    c["process"]["oomScoreAdj"] = json!(432);
    let r = inspect(&env, c, &[]);
    assert_eq!(r["oom_score_adj"], "432");
}

#[test]
fn rejects_an_unknown_capability() {
    let mut c = base();
    c["process"]["capabilities"] = json!({ "bounding": ["CAP_CHOWN", "CAP_BOGUS"] });
    rejects("badcap", &c, &["capabilities", "CAP_BOGUS"]);
}

#[test]
fn rejects_an_unknown_rlimit_type() {
    let mut c = base();
    c["process"]["rlimits"] = json!([{ "type": "RLIMIT_BOGUS", "soft": 1, "hard": 1 }]);
    rejects("badrlimit", &c, &["process.rlimits", "RLIMIT_BOGUS"]);
}

#[test]
fn rejects_a_soft_rlimit_above_hard() {
    let mut c = base();
    c["process"]["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "soft": 10, "hard": 5 }]);
    rejects("softhard", &c, &["RLIMIT_NOFILE", "soft", "hard"]);
}

// ---------------------------------------------------------------------------
// root, mounts, masked and read-only paths

#[test]
fn root_readonly() {
    let env = Env::new("rootro");
    let mut c = base();
    c["root"]["readonly"] = json!(true);
    let r = inspect(&env, c, &["--path", "/tmp", "--path", "/dev/shm"]);
    assert!(has_options(mount(&r, "/"), &["ro"]), "{}", mount(&r, "/"));
    assert_eq!(path(&r, "/tmp")["write"], "EROFS");
    assert_eq!(path(&r, "/tmp")["read"], "ok");
    // Mounts on top of the root keep their own mode.
    assert_eq!(path(&r, "/dev/shm")["write"], "ok");
}

#[test]
fn root_writable_by_default() {
    let env = Env::new("rootrw");
    let r = inspect(&env, base(), &["--path", "/tmp"]);
    assert!(has_options(mount(&r, "/"), &["rw"]), "{}", mount(&r, "/"));
    assert_eq!(path(&r, "/tmp")["write"], "ok");
}

/// A host directory holding `file` with `content`.
fn host_dir(file: &str, content: &str) -> TempDir {
    let d = TempDir::new("src");
    fs::write(d.path().join(file), content).unwrap();
    d
}

#[test]
fn mount_bind_dir_read_only_with_flags_to_a_new_destination() {
    let env = Env::new("bindro");
    let src = host_dir("hello", "from the host");
    let mut c = base();
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/new/deep/ro", "type": "bind", "source": src.path(),
        "options": ["bind", "ro", "nosuid", "nodev", "noexec"]
    }));
    let r = inspect(
        &env,
        c,
        &["--path", "/new/deep/ro/hello", "--path", "/new/deep/ro"],
    );
    let m = mount(&r, "/new/deep/ro");
    assert!(has_options(m, &["ro", "nosuid", "nodev", "noexec"]), "{m}");
    let f = path(&r, "/new/deep/ro/hello");
    assert_eq!(f["content"], "from the host");
    assert_eq!(f["write"], "EROFS");
    assert_eq!(path(&r, "/new/deep/ro")["write"], "EROFS");
    assert!(!rootfs().join("new").exists() || rootfs().join("new/deep/ro").is_dir());
}

#[test]
fn mount_bind_file_to_a_new_destination() {
    let env = Env::new("bindfile");
    let src = host_dir("f", "file content");
    let mut c = base();
    let dest = format!("/etc/hutch-bound-{}", std::process::id());
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": dest, "type": "bind", "source": src.path().join("f"),
        "options": ["rbind", "rw"]
    }));
    let r = inspect(&env, c, &["--path", &dest]);
    let f = path(&r, &dest);
    assert_eq!(f["type"], "file");
    assert_eq!(f["content"], "file content");
    assert_eq!(f["write"], "ok");
    // The file made to mount over is in the rootfs, not anywhere else.
    let made = rootfs().join(dest.trim_start_matches('/'));
    assert!(made.is_file(), "{made:?}");
    let _ = fs::remove_file(made);
}

#[test]
fn mount_rbind_carries_submounts_and_bind_does_not() {
    let env = Env::exclusive("rbind");
    let src = WithSubmount::new();
    fs::write(src.path().join("sub/inner"), "on the submount").unwrap();
    let mut c = base();
    for (dest, opt) in [("/rb", "rbind"), ("/b", "bind")] {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "bind", "source": src.path(), "options": [opt]
        }));
    }
    let r = inspect(
        &env,
        c,
        &["--path", "/rb/sub/inner", "--path", "/b/sub/inner"],
    );
    assert_eq!(path(&r, "/rb/sub/inner")["content"], "on the submount");
    assert_eq!(path(&r, "/b/sub/inner")["exists"], false);
}

/// A host directory with a tmpfs mounted on its `sub`, unmounted on drop.
struct WithSubmount {
    dir: TempDir,
}

impl WithSubmount {
    fn new() -> WithSubmount {
        let dir = host_dir("top", "x");
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16k", "hutch-sub"])
            .arg(&sub)
            .status()
            .unwrap();
        assert!(ok.success());
        WithSubmount { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The per-mount options of the submount as the host sees it.
    fn host_options(&self) -> String {
        let point = self.path().join("sub");
        let point = point.to_str().unwrap();
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let line = info
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(point))
            .unwrap_or_else(|| panic!("{point} not mounted on the host"));
        line.split(' ').nth(5).unwrap().to_string()
    }
}

impl Drop for WithSubmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path().join("sub")).status();
    }
}

/// The atime mode mountinfo shows: "relatime", "noatime" or, when neither is
/// listed, "strictatime".
fn atime(m: &Value) -> &'static str {
    let opts = strings(&m["options"]);
    if opts.contains(&"noatime") {
        "noatime"
    } else if opts.contains(&"relatime") {
        "relatime"
    } else {
        "strictatime"
    }
}

#[test]
fn mount_recursive_options_reach_submounts() {
    let env = Env::exclusive("rro");
    let src = WithSubmount::new();
    let host_before = src.host_options();
    let mut c = base();
    for (dest, opts) in [
        (
            "/rec",
            json!([
                "rbind",
                "rro",
                "rnosuid",
                "rnodev",
                "rnoexec",
                "rnoatime",
                "rnodiratime",
                "rnosymfollow"
            ]),
        ),
        // Non-recursive flags stop at the top mount.
        (
            "/top",
            json!(["rbind", "ro", "nosuid", "noatime", "nosymfollow"]),
        ),
        // Later options win; the atime options are one mode.
        (
            "/later",
            json!([
                "rbind",
                "rro",
                "rnoexec",
                "rnosymfollow",
                "rrw",
                "rsymfollow",
                "rnoatime",
                "rstrictatime"
            ]),
        ),
        ("/rel", json!(["rbind", "rnoatime", "ratime"])),
    ] {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "bind", "source": src.path(), "options": opts
        }));
    }
    let r = inspect(
        &env,
        c,
        &[
            "--path",
            "/rec/sub",
            "--path",
            "/top/sub",
            "--path",
            "/later/sub",
        ],
    );
    for point in ["/rec", "/rec/sub"] {
        let m = mount(&r, point);
        assert!(
            has_options(
                m,
                &[
                    "ro",
                    "nosuid",
                    "nodev",
                    "noexec",
                    "noatime",
                    "nodiratime",
                    "nosymfollow"
                ]
            ),
            "{point}: {m}"
        );
    }
    assert_eq!(path(&r, "/rec/sub")["write"], "EROFS");

    let top = mount(&r, "/top");
    assert!(
        has_options(top, &["ro", "nosuid", "noatime", "nosymfollow"]),
        "{top}"
    );
    let top_sub = mount(&r, "/top/sub");
    assert!(has_options(top_sub, &["rw", "relatime"]), "{top_sub}");
    assert!(!has_options(top_sub, &["nosuid"]), "{top_sub}");
    assert!(!has_options(top_sub, &["nosymfollow"]), "{top_sub}");
    assert_eq!(path(&r, "/top/sub")["write"], "ok");

    for point in ["/later", "/later/sub"] {
        let m = mount(&r, point);
        assert!(has_options(m, &["rw", "noexec"]), "{point}: {m}");
        assert!(!has_options(m, &["nosymfollow"]), "{point}: {m}");
        assert_eq!(atime(m), "strictatime", "{point}: {m}");
        assert_eq!(atime(mount(&r, &point.replace("later", "rel"))), "relatime");
    }
    assert_eq!(path(&r, "/later/sub")["write"], "ok");

    // The container's copies changed, not the host's mounts.
    assert_eq!(src.host_options(), host_before);
}

#[test]
fn rejects_a_flag_without_a_recursive_form() {
    let src = host_dir("f", "x");
    let mut c = base();
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/x", "type": "bind", "source": src.path(), "options": ["rbind", "rsync"]
    }));
    rejects(
        "rsync",
        &c,
        &["mounts[6].options", "\"rsync\"", "no recursive form"],
    );
}

#[test]
fn mount_tmpfs_with_mode_and_size() {
    let env = Env::new("tmpfs");
    let mut c = base();
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "mode=1770", "size=1m", "uid=5", "gid=6"]
    }));
    let r = inspect(&env, c, &["--path", "/scratch"]);
    let m = mount(&r, "/scratch");
    assert_eq!(m["fstype"], "tmpfs");
    assert!(has_options(m, &["nosuid", "nodev"]), "{m}");
    let sup = strings(&m["super_options"]);
    assert!(sup.contains(&"size=1024k"), "{m}");
    let p = path(&r, "/scratch");
    assert_eq!(p["mode"], 0o1770);
    assert_eq!(p["uid"], 5);
    assert_eq!(p["gid"], 6);
}

#[test]
fn mount_propagation_options() {
    let env = Env::new("mprop");
    let mut c = base();
    for (dest, opt) in [
        ("/p-shared", "shared"),
        ("/p-unbindable", "unbindable"),
        ("/p-private", "private"),
    ] {
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [opt]
        }));
    }
    let r = inspect(&env, c, &[]);
    let opt = |p| strings(&mount(&r, p)["optional"]).join(" ");
    assert!(
        opt("/p-shared").starts_with("shared:"),
        "{}",
        opt("/p-shared")
    );
    assert_eq!(opt("/p-unbindable"), "unbindable");
    assert_eq!(opt("/p-private"), "");
}

#[test]
fn masked_paths() {
    let env = Env::new("masked");
    let dir = host_dir("secret", "do not read");
    let file = host_dir("secret", "do not read either");
    let mut c = base();
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(json!({ "destination": "/data", "type": "bind", "source": dir.path(), "options": ["bind"] }));
    mounts.push(json!({ "destination": "/data2", "type": "bind", "source": file.path(), "options": ["bind"] }));
    c["linux"]["maskedPaths"] = json!(["/data", "/data2/secret", "/proc/keys", "/does/not/exist"]);
    let r = inspect(
        &env,
        c,
        &[
            "--path",
            "/data",
            "--path",
            "/data2/secret",
            "--path",
            "/proc/keys",
            "--path",
            "/does/not/exist",
        ],
    );
    let d = path(&r, "/data");
    assert_eq!(d["entries"], 0);
    assert_eq!(d["write"], "EROFS");
    // A masked file is /dev/null.
    let f = path(&r, "/data2/secret");
    assert_eq!(f["type"], "chr");
    assert_eq!(
        (f["major"].as_u64(), f["minor"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(f["read"], "ok");
    assert_eq!(path(&r, "/proc/keys")["type"], "chr");
    assert_eq!(path(&r, "/proc/keys")["major"], 1);
    assert_eq!(path(&r, "/proc/keys")["minor"], 3);
    assert_eq!(path(&r, "/does/not/exist")["exists"], false);
}

#[test]
fn readonly_paths() {
    let env = Env::new("readonly");
    let dir = host_dir("f", "x");
    let mut c = base();
    c["mounts"].as_array_mut().unwrap().push(
        json!({ "destination": "/data", "type": "bind", "source": dir.path(), "options": ["bind"] }),
    );
    c["linux"]["readonlyPaths"] = json!(["/data", "/proc/sys", "/does/not/exist"]);
    let r = inspect(
        &env,
        c,
        &[
            "--path",
            "/data",
            "--path",
            "/data/f",
            "--path",
            "/proc/sys/kernel/hostname",
        ],
    );
    assert_eq!(path(&r, "/data")["write"], "EROFS");
    assert_eq!(path(&r, "/data/f")["write"], "EROFS");
    assert_eq!(path(&r, "/data/f")["content"], "x");
    assert_eq!(path(&r, "/proc/sys/kernel/hostname")["write"], "EROFS");
    assert_eq!(path(&r, "/proc/sys/kernel/hostname")["read"], "ok");
    assert!(has_options(mount(&r, "/proc/sys"), &["ro"]));
}

#[test]
fn rejects_a_mount_option_the_kernel_refuses() {
    let mut c = base();
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["bogus-option"]
    }));
    rejects(
        "badmountopt",
        &c,
        &["mounts[6]", "/scratch", "bogus-option"],
    );
}

#[test]
fn rejects_a_missing_bind_source() {
    let mut c = base();
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/x", "type": "bind", "source": "/hutch/does/not/exist", "options": ["bind"]
    }));
    rejects("bindsrc", &c, &["mounts[6]", "/hutch/does/not/exist"]);
}

/// A shared bind mount of the test rootfs on the host, unmounted on drop:
/// a root whose propagation the container can be a peer or slave of.
struct SharedRoot(TempDir);

impl SharedRoot {
    fn new() -> SharedRoot {
        let d = TempDir::new("sharedroot");
        let sh = |args: &[&str]| {
            let ok = Command::new("mount")
                .args(args)
                .arg(d.path())
                .status()
                .unwrap();
            assert!(ok.success(), "mount {args:?}");
        };
        sh(&["--bind", rootfs().to_str().unwrap()]);
        sh(&["--make-shared"]);
        SharedRoot(d)
    }
}

impl Drop for SharedRoot {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn rootfs_propagation() {
    let env = Env::exclusive("rootprop");
    let shared = SharedRoot::new();
    for (value, want) in [
        ("private", ""),
        ("shared", "shared:"),
        ("slave", "master:"),
        ("unbindable", "unbindable"),
    ] {
        let mut c = base();
        c["root"]["path"] = json!(shared.0.path());
        c["linux"]["rootfsPropagation"] = json!(value);
        let r = inspect(&env, c, &[]);
        let opt = strings(&mount(&r, "/")["optional"]).join(" ");
        if want.is_empty() {
            assert_eq!(opt, "", "rootfsPropagation {value}");
        } else {
            assert!(opt.contains(want), "rootfsPropagation {value}: {opt:?}");
        }
        if value != "shared" {
            assert!(
                !opt.contains("shared:"),
                "rootfsPropagation {value}: {opt:?}"
            );
        }
    }
}

#[test]
fn rejects_an_unknown_rootfs_propagation() {
    let mut c = base();
    c["linux"]["rootfsPropagation"] = json!("sideways");
    rejects("badprop", &c, &["rootfsPropagation", "sideways"]);
}

// ---------------------------------------------------------------------------
// devices

#[test]
fn default_devices_and_links() {
    let env = Env::new("defdev");
    let devs = [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ];
    let mut args = Vec::new();
    for (n, _, _) in devs {
        args.push("--path".to_string());
        args.push(format!("/dev/{n}"));
    }
    for n in ["fd", "stdin", "stdout", "stderr", "ptmx"] {
        args.push("--path".to_string());
        args.push(format!("/dev/{n}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = inspect(&env, base(), &args);
    for (n, major, minor) in devs {
        let p = path(&r, &format!("/dev/{n}"));
        assert_eq!(p["type"], "chr", "/dev/{n}: {p}");
        assert_eq!(
            (p["major"].as_u64(), p["minor"].as_u64()),
            (Some(major), Some(minor)),
            "/dev/{n}"
        );
        assert_eq!(p["mode"], 0o666, "/dev/{n}");
    }
    for (n, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ] {
        let p = path(&r, &format!("/dev/{n}"));
        assert_eq!(p["type"], "link", "/dev/{n}");
        assert_eq!(p["target"], target, "/dev/{n}");
    }
}

#[test]
fn linux_devices() {
    let env = Env::new("devices");
    let mut c = base();
    c["linux"]["devices"] = json!([
        { "path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 1001 },
        { "path": "/dev/sub/dir/myzero", "type": "c", "major": 1, "minor": 5 },
        { "path": "/dev/myloop", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600 },
        { "path": "/dev/myfifo", "type": "p", "fileMode": 0o620 }
    ]);
    let r = inspect(
        &env,
        c,
        &[
            "--path",
            "/dev/mynull",
            "--path",
            "/dev/sub/dir/myzero",
            "--path",
            "/dev/myloop",
            "--path",
            "/dev/myfifo",
        ],
    );
    let p = path(&r, "/dev/mynull");
    assert_eq!(p["type"], "chr");
    assert_eq!(
        (p["major"].as_u64(), p["minor"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(p["mode"], 0o640);
    assert_eq!(
        (p["uid"].as_u64(), p["gid"].as_u64()),
        (Some(1000), Some(1001))
    );
    let p = path(&r, "/dev/sub/dir/myzero");
    assert_eq!(p["type"], "chr");
    assert_eq!(
        (p["major"].as_u64(), p["minor"].as_u64()),
        (Some(1), Some(5))
    );
    let p = path(&r, "/dev/myloop");
    assert_eq!(p["type"], "blk");
    assert_eq!(
        (p["major"].as_u64(), p["minor"].as_u64()),
        (Some(7), Some(0))
    );
    assert_eq!(p["mode"], 0o600);
    let p = path(&r, "/dev/myfifo");
    assert_eq!(p["type"], "fifo");
    assert_eq!(p["mode"], 0o620);
}

#[test]
fn rejects_a_device_outside_dev_by_dotdot_stays_in_rootfs() {
    // A device path with ".." is resolved inside the rootfs, never the host.
    let env = Env::new("devdotdot");
    let mut c = base();
    let name = format!("hutch-dev-{}", std::process::id());
    c["linux"]["devices"] = json!([
        { "path": format!("/dev/../../../../tmp/{name}"), "type": "c", "major": 1, "minor": 3 }
    ]);
    let p = format!("/tmp/{name}");
    let r = inspect(&env, c, &["--path", &p]);
    assert_eq!(path(&r, &p)["type"], "chr");
    assert!(!Path::new(&p).exists(), "device made on the host");
    let _ = fs::remove_file(rootfs().join(format!("tmp/{name}")));
}

// ---------------------------------------------------------------------------
// sysctl, hostname, domainname

#[test]
fn linux_sysctl() {
    let env = Env::new("sysctl");
    let mut c = base();
    c["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "net.ipv4.ping_group_range": "0 2147483647",
        "kernel.shmmax": "123456789",
        "kernel.msgmax": "9999",
    });
    let r = inspect(
        &env,
        c,
        &[
            "--sysctl",
            "net.ipv4.ip_forward",
            "--sysctl",
            "net.ipv4.ping_group_range",
            "--sysctl",
            "kernel.shmmax",
            "--sysctl",
            "kernel.msgmax",
        ],
    );
    assert_eq!(r["sysctl"]["net.ipv4.ip_forward"], "1");
    assert_eq!(r["sysctl"]["net.ipv4.ping_group_range"], "0\t2147483647");
    assert_eq!(r["sysctl"]["kernel.shmmax"], "123456789");
    assert_eq!(r["sysctl"]["kernel.msgmax"], "9999");
    let host = fs::read_to_string("/proc/sys/kernel/msgmax").unwrap();
    assert_ne!(host.trim(), "9999", "the host's sysctl changed");
}

#[test]
fn rejects_a_sysctl_that_is_not_namespaced() {
    let mut c = base();
    c["linux"]["sysctl"] = json!({ "kernel.panic": "5" });
    rejects(
        "sysctlhost",
        &c,
        &["linux.sysctl", "kernel.panic", "namespaced"],
    );
}

#[test]
fn rejects_a_sysctl_without_its_namespace() {
    let mut c = base();
    c["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "pid" }]);
    c["hostname"] = json!(null);
    c["linux"]["sysctl"] = json!({ "net.ipv4.ip_forward": "1" });
    rejects(
        "sysctlnons",
        &c,
        &["linux.sysctl", "net.ipv4.ip_forward", "network"],
    );
}

#[test]
fn rejects_an_unknown_sysctl() {
    let mut c = base();
    c["linux"]["sysctl"] = json!({ "net.ipv4.hutch_bogus": "1" });
    rejects("sysctlbogus", &c, &["linux.sysctl", "net.ipv4.hutch_bogus"]);
}

#[test]
fn hostname_and_domainname() {
    let env = Env::new("uts");
    let mut c = base();
    c["hostname"] = json!("box");
    c["domainname"] = json!("example.org");
    let r = inspect(&env, c, &[]);
    assert_eq!(r["hostname"], "box");
    assert_eq!(r["domainname"], "example.org");
}

#[test]
fn rejects_a_hostname_without_uts_namespace() {
    let mut c = base();
    c["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "pid" }]);
    c["hostname"] = json!("box");
    rejects("nouts", &c, &["hostname", "uts"]);
}

// ---------------------------------------------------------------------------
// namespaces

#[test]
fn joins_namespaces_by_path() {
    let env = Env::new("nsjoin");
    let holder = NsHolder::new(&["--net", "--uts", "--ipc"]);
    let mut c = base();
    c["hostname"] = json!(null);
    c["linux"]["namespaces"] = json!([
        { "type": "mount" },
        { "type": "pid" },
        { "type": "network", "path": holder.path("net") },
        { "type": "uts", "path": holder.path("uts") },
        { "type": "ipc", "path": holder.path("ipc") },
    ]);
    let r = inspect(&env, c, &[]);
    assert_eq!(r["ns"]["net"], holder.link("net"));
    assert_eq!(r["ns"]["uts"], holder.link("uts"));
    assert_eq!(r["ns"]["ipc"], holder.link("ipc"));
    assert_ne!(r["ns"]["pid"], ns("self", "pid"));
}

#[test]
fn rejects_a_namespace_path_of_the_wrong_type() {
    let holder = NsHolder::new(&["--uts"]);
    let mut c = base();
    c["linux"]["namespaces"] = json!([
        { "type": "mount" }, { "type": "uts" }, { "type": "network", "path": holder.path("uts") }
    ]);
    rejects(
        "nswrong",
        &c,
        &["linux.namespaces", "not a network namespace"],
    );
    c["linux"]["namespaces"][2]["path"] = json!("/etc/hostname");
    rejects(
        "nsfile",
        &c,
        &["linux.namespaces", "/etc/hostname", "not a namespace"],
    );
    c["linux"]["namespaces"][2]["path"] = json!("/hutch/no/such/ns");
    rejects("nsmissing", &c, &["linux.namespaces", "/hutch/no/such/ns"]);
}

/// `c` in a new user namespace mapping 0-65535 to host 100000-165535.
/// sysfs cannot be mounted in a user namespace that does not own the netns
/// it would show: keep to the mounts a rootless container can make.
fn in_user_namespace(mut c: Value) -> Value {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "user" }));
    c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["type"] != "sysfs");
    c
}

#[test]
fn user_namespace_with_mappings() {
    let env = Env::new("userns");
    let c = in_user_namespace(base());
    let r = inspect(&env, c, &["--path", "/proc/self/uid_map"]);
    assert_eq!(status(&r, "Uid"), "0\t0\t0\t0");
    let map: Vec<String> = path(&r, "/proc/self/uid_map")["content"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(map, ["0", "100000", "65536"]);
    assert_ne!(r["ns"]["user"], ns("self", "user"));
}

// ---------------------------------------------------------------------------
// mounts[].uidMappings/gidMappings, options idmap/ridmap

/// A host directory with a file owned by 0:0 and one by 5:5.
fn owned_files() -> TempDir {
    let d = TempDir::new("idmap");
    for (name, id) in [("root", 0), ("five", 5)] {
        let p = d.path().join(name);
        fs::write(&p, name).unwrap();
        std::os::unix::fs::chown(&p, Some(id), Some(id)).unwrap();
    }
    d
}

fn owner(r: &Value, p: &str) -> (u64, u64) {
    let v = path(r, p);
    (v["uid"].as_u64().unwrap(), v["gid"].as_u64().unwrap())
}

#[test]
fn idmapped_bind_mount_with_its_own_mappings() {
    let env = Env::new("idmap");
    let src = owned_files();
    let mut c = base();
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt", "type": "bind", "source": src.path(),
        "options": ["bind", "idmap"],
        "uidMappings": [{ "containerID": 0, "hostID": 1000, "size": 1 }],
        "gidMappings": [{ "containerID": 0, "hostID": 2000, "size": 1 }]
    }));
    let r = inspect(&env, c, &["--path", "/mnt/root", "--path", "/mnt/five"]);
    assert_eq!(owner(&r, "/mnt/root"), (1000, 2000), "0:0 on disk, mapped");
    assert_eq!(
        owner(&r, "/mnt/five"),
        (65534, 65534),
        "5:5 is outside the map"
    );
    let host = fs::metadata(src.path().join("root")).unwrap();
    assert_eq!((host.uid(), host.gid()), (0, 0), "the host's view changed");
}

/// `idmap` alone in a container with a user namespace: the container's own
/// mappings, so files root owns on the host are root's inside, where a
/// plain bind shows them as nobody's.
#[test]
fn idmap_option_takes_the_containers_mappings() {
    let env = Env::new("idmapns");
    let src = owned_files();
    let mut c = in_user_namespace(base());
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(json!({
        "destination": "/mnt", "type": "bind", "source": src.path(),
        "options": ["rbind", "ridmap"]
    }));
    mounts.push(json!({
        "destination": "/home", "type": "bind", "source": src.path(),
        "options": ["bind"]
    }));
    let r = inspect(
        &env,
        c,
        &[
            "--path",
            "/mnt/root",
            "--path",
            "/mnt/five",
            "--path",
            "/home/root",
        ],
    );
    assert_eq!(owner(&r, "/mnt/root"), (0, 0));
    assert_eq!(owner(&r, "/mnt/five"), (5, 5));
    assert_eq!(owner(&r, "/home/root"), (65534, 65534));
}

/// A tmpfs mounted on the host for one test, unmounted at drop.
struct HostTmpfs(std::path::PathBuf);

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// With `rbind`, `ridmap` maps the submounts too; `idmap` maps the top
/// mount only, and the submounts still come along.
#[test]
fn ridmap_maps_the_submounts_too() {
    let env = Env::new("ridmap");
    let src = owned_files();
    let sub = src.path().join("sub");
    fs::create_dir(&sub).unwrap();
    run_bounded_output(
        Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(&sub),
    );
    let _tmpfs = HostTmpfs(sub.clone());
    fs::write(sub.join("f"), "f").unwrap();
    let map = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
    let report = |opt: &str| {
        let mut c = base();
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/mnt", "type": "bind", "source": src.path(),
            "options": ["rbind", opt], "uidMappings": map, "gidMappings": map
        }));
        inspect(&env, c, &["--path", "/mnt/root", "--path", "/mnt/sub/f"])
    };
    let r = report("ridmap");
    assert_eq!(owner(&r, "/mnt/root"), (1000, 1000));
    assert_eq!(owner(&r, "/mnt/sub/f"), (1000, 1000), "submount not mapped");
    let r = report("idmap");
    assert_eq!(owner(&r, "/mnt/root"), (1000, 1000));
    assert_eq!(
        owner(&r, "/mnt/sub/f"),
        (0, 0),
        "submount mapped without ridmap"
    );
}

#[test]
fn rejects_bad_idmapped_mounts() {
    let src = owned_files();
    let with = |m: Value| {
        let mut c = base();
        c["mounts"].as_array_mut().unwrap().push(m);
        c
    };
    let map = json!([{ "containerID": 0, "hostID": 1000, "size": 1 }]);
    let n = base()["mounts"].as_array().unwrap().len();
    rejects(
        "idmaphalf",
        &with(
            json!({ "destination": "/mnt", "type": "bind", "source": src.path(),
            "options": ["bind", "idmap"], "uidMappings": map }),
        ),
        &[
            &format!("mounts[{n}].uidMappings/gidMappings"),
            "without the other",
        ],
    );
    rejects(
        "idmapnons",
        &with(
            json!({ "destination": "/mnt", "type": "bind", "source": src.path(),
            "options": ["bind", "idmap"] }),
        ),
        &[&format!("mounts[{n}].options"), "no user namespace"],
    );
    rejects(
        "idmaptmpfs",
        &with(
            json!({ "destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
            "options": ["idmap"], "uidMappings": map, "gidMappings": map }),
        ),
        &[&format!("mounts[{n}]"), "bind mounts only"],
    );
    rejects(
        "idmapzero",
        &with(
            json!({ "destination": "/mnt", "type": "bind", "source": src.path(),
            "options": ["bind", "idmap"], "uidMappings": map,
            "gidMappings": [{ "containerID": 0, "hostID": 1000, "size": 0 }] }),
        ),
        &[&format!("mounts[{n}].gidMappings"), "size"],
    );
    rejects(
        "idmapmissing",
        &with(
            json!({ "destination": "/mnt", "type": "bind", "source": "/hutch/no/such/dir",
            "options": ["bind", "idmap"], "uidMappings": map, "gidMappings": map }),
        ),
        &[&format!("mounts[{n}]"), "/hutch/no/such/dir", "open_tree"],
    );
}

#[test]
fn rejects_a_zero_or_negative_id_mapping_size() {
    let mut c = base();
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "user" }));
    c["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 10 }]);
    c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 0 }]);
    rejects("mapzero", &c, &["linux.uidMappings", "size"]);
    c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": -1 }]);
    rejects("mapneg", &c, &["linux.uidMappings", "size"]);
}

#[test]
fn host_view_of_a_config_with_many_fields() {
    // Sanity of the harness itself: the report's pid namespace is not the
    // host's, and the container's /proc/1 is the inspector.
    let env = Env::new("harness");
    let r = inspect(&env, base(), &["--path", "/proc/1/exe"]);
    assert_eq!(r["pid"], 1);
    assert_ne!(r["ns"]["mnt"], ns("self", "mnt"));
    let exe = fs::metadata(rootfs().join(INSPECTOR.trim_start_matches('/'))).unwrap();
    assert!(exe.mode() & 0o111 != 0);
}

// ---------------------------------------------------------------------------
// seccomp

fn with_seccomp(profile: Value) -> Value {
    let mut c = base();
    c["linux"]["seccomp"] = profile;
    c
}

#[test]
fn seccomp_denies_a_syscall_with_its_errno() {
    let env = Env::new("seccompdeny");
    let c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" },
            { "names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 }
        ]
    }));
    let r = inspect(&env, c, &["--mkdir", "/tmp/denied:755"]);
    assert_eq!(r["mkdir"]["/tmp/denied:755"], "EPERM");
    assert_eq!(status(&r, "Seccomp"), "2");
    // Without noNewPrivileges the filter was loaded with CAP_SYS_ADMIN, and
    // no_new_privs stays off.
    assert_eq!(status(&r, "NoNewPrivs"), "0");
}

#[test]
fn seccomp_errno_ret_and_no_new_privileges() {
    let env = Env::new("seccomperrno");
    let mut c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13 }]
    }));
    c["process"]["noNewPrivileges"] = json!(true);
    c["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    let r = inspect(&env, c, &["--mkdir", "/tmp/denied:755"]);
    assert_eq!(r["mkdir"]["/tmp/denied:755"], "EACCES");
    assert_eq!(status(&r, "Seccomp"), "2");
    assert_eq!(status(&r, "NoNewPrivs"), "1");
}

#[test]
fn seccomp_argument_conditions() {
    let env = Env::new("seccompargs");
    // mkdir(path, mode): arg 1; mkdirat(dirfd, path, mode): arg 2.
    let c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            { "names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
              "args": [{ "index": 1, "value": 0o700, "op": "SCMP_CMP_EQ" }] },
            { "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO",
              "args": [{ "index": 2, "value": 0o700, "op": "SCMP_CMP_EQ" }] },
            // Masked: no bits for group and others at all.
            { "names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 1, "value": 0o077, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }] },
            { "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
              "args": [{ "index": 2, "value": 0o077, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }] }
        ]
    }));
    let r = inspect(
        &env,
        c,
        &[
            "--mkdir",
            "/tmp/a:700",
            "--mkdir",
            "/tmp/b:755",
            "--mkdir",
            "/tmp/c:500",
        ],
    );
    assert_eq!(r["mkdir"]["/tmp/a:700"], "EPERM");
    assert_eq!(r["mkdir"]["/tmp/b:755"], "ok");
    assert_eq!(r["mkdir"]["/tmp/c:500"], "EACCES");
}

/// The OCI profile podman would generate from its default seccomp.json for
/// `caps` on this architecture (containers/common's conversion: archMap to
/// architectures, includes/excludes by arch and capability resolved).
fn podman_profile(raw: &Value, caps: &[&str]) -> Value {
    // includes/excludes name arches as Go does.
    let (arch, goarch) = match std::env::consts::ARCH {
        "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
        "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
        other => panic!("no podman arch name for {other}"),
    };
    let mut arches = vec![json!(arch)];
    for m in raw["archMap"].as_array().unwrap() {
        if m["architecture"] == arch {
            arches.extend(m["subArchitectures"].as_array().unwrap().iter().cloned());
        }
    }
    let has_cap = |c: &str| caps.contains(&c.trim_start_matches("CAP_"));
    let mut syscalls = Vec::new();
    for s in raw["syscalls"].as_array().unwrap() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        let arch_ok = |list: &Value| strings(list).contains(&goarch);
        if inc["arches"].is_array() && !arch_ok(&inc["arches"]) {
            continue;
        }
        if inc["caps"].is_array() && !strings(&inc["caps"]).iter().all(|c| has_cap(c)) {
            continue;
        }
        if exc["arches"].is_array() && arch_ok(&exc["arches"]) {
            continue;
        }
        if exc["caps"].is_array() && strings(&exc["caps"]).iter().any(|c| has_cap(c)) {
            continue;
        }
        let mut rule = json!({ "names": s["names"], "action": s["action"] });
        for k in ["args", "errnoRet"] {
            if !s[k].is_null() {
                rule[k] = s[k].clone();
            }
        }
        syscalls.push(rule);
    }
    json!({
        "defaultAction": raw["defaultAction"],
        "defaultErrnoRet": raw["defaultErrnoRet"],
        "architectures": arches,
        "syscalls": syscalls,
    })
}

const PODMAN_CAPS: [&str; 11] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

#[test]
fn seccomp_podman_default_profile() {
    let file = "/usr/share/containers/seccomp.json";
    let Ok(text) = fs::read_to_string(file) else {
        println!("skipped: no {file} (Debian package golang-github-containers-common)");
        return;
    };
    let raw: Value = serde_json::from_str(&text).unwrap();
    let profile = podman_profile(&raw, &PODMAN_CAPS);
    let names: usize = profile["syscalls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["names"].as_array().unwrap().len())
        .sum();
    assert!(names > 300, "only {names} syscall names in the profile");
    let env = Env::new("podman");
    let set = caps_json(&PODMAN_CAPS);
    for nnp in [false, true] {
        let mut c = with_seccomp(profile.clone());
        c["process"]["capabilities"] = json!({
            "bounding": set, "permitted": set, "effective": set
        });
        c["process"]["noNewPrivileges"] = json!(nnp);
        let r = inspect(&env, c.clone(), &["--mkdir", "/tmp/ok:755"]);
        assert_eq!(status(&r, "Seccomp"), "2", "noNewPrivileges {nnp}");
        assert_eq!(r["mkdir"]["/tmp/ok:755"], "ok");
        // A shell, its fork and exec work under it.
        c["process"]["args"] = json!(["sh", "-c", "echo ok; (echo sub) | cat"]);
        let (ct, _b) = env.run_container(&c);
        env.wait_status(&ct.id, "stopped");
        assert_eq!(ct.output(), "ok\nsub\n", "noNewPrivileges {nnp}");
    }
}

#[test]
fn rejects_a_bad_seccomp_action() {
    let c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_BOGUS" }]
    }));
    rejects(
        "seccompact",
        &c,
        &["linux.seccomp.syscalls[0].action", "SCMP_ACT_BOGUS"],
    );
}

/// A name that cannot be a syscall is a typo and refused; a well-formed one
/// this libseccomp does not know is skipped (seccomp_denies_* cover that).
#[test]
fn rejects_a_malformed_seccomp_syscall_name() {
    let c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir", "open at"], "action": "SCMP_ACT_ERRNO" }]
    }));
    rejects(
        "seccompname",
        &c,
        &[
            "linux.seccomp.syscalls[0].names[1]",
            "\"open at\"",
            "not a syscall name",
        ],
    );
}

/// config-linux.md: errnoRet with an action that returns no errno "MUST
/// print an error and fail".
#[test]
fn rejects_an_errno_ret_on_an_action_without_one() {
    let c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_LOG", "errnoRet": 5 }]
    }));
    rejects(
        "seccompnoerrno",
        &c,
        &["linux.seccomp.syscalls[0]", "errnoRet 5", "SCMP_ACT_LOG"],
    );
    let c = with_seccomp(json!({ "defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1 }));
    rejects(
        "seccompnoerrno2",
        &c,
        &[
            "linux.seccomp.defaultAction",
            "errnoRet 1",
            "SCMP_ACT_ALLOW",
        ],
    );
}

#[test]
fn rejects_a_bad_seccomp_architecture() {
    let c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]
    }));
    rejects(
        "seccomparch",
        &c,
        &["linux.seccomp.architectures", "SCMP_ARCH_PDP11"],
    );
}

#[test]
fn rejects_a_bad_seccomp_argument_index() {
    let c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO",
                       "args": [{ "index": 7, "value": 1, "op": "SCMP_CMP_EQ" }] }]
    }));
    rejects(
        "seccompidx",
        &c,
        &["linux.seccomp.syscalls[0].args[0]", "index 7"],
    );
}

// ---------------------------------------------------------------------------
// hooks

/// A hook running `script` with /bin/sh (the host's, or the container's for
/// startContainer), with HOOKVAR=`name` in its environment.
fn hook(name: &str, script: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", script],
        "env": [format!("HOOKVAR={name}")],
    })
}

/// A hook that records its stdin, environment and mount namespace in `dir`
/// as NAME.json, NAME.env, NAME.mnt and appends NAME to `order`.
fn recording_hook(dir: &str, name: &str) -> Value {
    hook(
        name,
        &format!(
            "cat > {dir}/{name}.json; tr '\\0' ' ' < /proc/self/environ > {dir}/{name}.env; \
             readlink /proc/self/ns/mnt > {dir}/{name}.mnt; echo {name} >> {dir}/order"
        ),
    )
}

fn read_json(p: &Path) -> Value {
    let text = fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p:?} ({e}): {text}"))
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn hooks_run_in_order_with_state_env_and_namespaces() {
    let env = Env::new("hooks");
    let out = TempDir::new("hooks");
    let d = out.path().to_str().unwrap().to_string();
    let mut c = spec(&["sh", "-c", "while :; do sleep 1000; done"]);
    c["annotations"] = json!({ "org.example.hook": "yes" });
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/hookout", "type": "bind", "source": d, "options": ["bind"]
    }));
    c["hooks"] = json!({
        "prestart": [recording_hook(&d, "prestart")],
        "createRuntime": [recording_hook(&d, "createRuntime")],
        "createContainer": [recording_hook(&d, "createContainer")],
        "startContainer": [recording_hook("/hookout", "startContainer")],
        "poststart": [recording_hook(&d, "poststart")],
        "poststop": [recording_hook(&d, "poststop")],
    });
    let bundle = Bundle::new(&c);
    let id = env.id();
    let ct = env.create(&id, &bundle);
    let order = out.path().join("order");
    assert_eq!(
        lines(&order),
        ["prestart", "createRuntime", "createContainer"]
    );
    let pid = env.pid(&id);
    let host_mnt = ns("self", "mnt");
    let container_mnt = ns(&pid.to_string(), "mnt");
    for name in ["prestart", "createRuntime", "createContainer"] {
        let st = read_json(&out.path().join(format!("{name}.json")));
        assert_eq!(st["id"], id.as_str(), "{name}: {st}");
        // createContainer runs in the init, mid-set-up (runc: "creating");
        // prestart and createRuntime once the environment exists ("created").
        let want_status = if name == "createContainer" {
            "creating"
        } else {
            "created"
        };
        assert_eq!(st["status"], want_status, "{name}: {st}");
        assert_eq!(st["bundle"], bundle.arg(), "{name}: {st}");
        assert_eq!(st["annotations"]["org.example.hook"], "yes", "{name}");
        // Only the hook's own env, nothing of hutch's.
        let env_line = fs::read_to_string(out.path().join(format!("{name}.env"))).unwrap();
        assert_eq!(
            env_line.trim(),
            format!("HOOKVAR={name}"),
            "{name}: environment"
        );
        let mnt = fs::read_to_string(out.path().join(format!("{name}.mnt"))).unwrap();
        let want = if name == "createContainer" {
            &container_mnt
        } else {
            &host_mnt
        };
        assert_eq!(mnt.trim(), want, "{name}: mount namespace");
        // The pid as the hook's namespace sees it.
        let want_pid = if name == "createContainer" { 1 } else { pid };
        assert_eq!(st["pid"], want_pid, "{name}: {st}");
    }

    env.start(&id).ok();
    let all = lines(&order);
    assert_eq!(all[3..], ["startContainer", "poststart"]);
    let st = read_json(&out.path().join("startContainer.json"));
    assert_eq!(
        (st["status"].as_str(), st["pid"].as_i64()),
        (Some("created"), Some(1))
    );
    let mnt = fs::read_to_string(out.path().join("startContainer.mnt")).unwrap();
    assert_eq!(mnt.trim(), container_mnt);
    let st = read_json(&out.path().join("poststart.json"));
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"], pid);
    assert_eq!(env.status(&id), "running");

    env.kill(&id, Some("KILL")).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    assert_eq!(lines(&order).last().map(String::as_str), Some("poststop"));
    let st = read_json(&out.path().join("poststop.json"));
    assert_eq!(st["status"], "stopped");
    env.assert_gone(&ct.id);
}

#[test]
fn failing_create_hooks_fail_create_and_run_poststop() {
    for point in ["prestart", "createRuntime", "createContainer"] {
        let out = TempDir::new("hookfail");
        let d = out.path().to_str().unwrap();
        let mut c = base();
        c["hooks"] = json!({
            point: [hook(point, "echo boom from $HOOKVAR >&2; exit 3")],
            "poststop": [recording_hook(d, "poststop")],
        });
        rejects(
            &format!("hook-{}", point.to_lowercase()),
            &c,
            &[
                &format!("hooks.{point}[0]"),
                "/bin/sh",
                &format!("boom from {point}"),
            ],
        );
        assert_eq!(lines(&out.path().join("order")), ["poststop"], "{point}");
    }
}

#[test]
fn a_hook_past_its_timeout_fails_create() {
    let mut c = base();
    c["hooks"] = json!({
        "createRuntime": [{ "path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1 }]
    });
    rejects("hooktimeout", &c, &["hooks.createRuntime[0]", "timed out"]);
}

#[test]
fn rejects_bad_hook_values() {
    let mut c = base();
    c["hooks"] = json!({ "prestart": [{ "path": "bin/true" }] });
    rejects("hookrel", &c, &["hooks.prestart[0].path", "absolute"]);
    c["hooks"] = json!({ "poststart": [{ "path": "/bin/true", "timeout": 0 }] });
    rejects(
        "hookzero",
        &c,
        &["hooks.poststart[0].timeout", "greater than zero"],
    );
    c["hooks"] = json!({ "createRuntime": [{ "path": "/hutch/no/such/hook" }] });
    rejects(
        "hookmissing",
        &c,
        &["hooks.createRuntime[0]", "/hutch/no/such/hook"],
    );
}

#[test]
fn failing_start_hooks_fail_start_and_stop_the_container() {
    let env = Env::new("hookstart");
    for point in ["startContainer", "poststart"] {
        let out = TempDir::new("hookstart");
        let d = out.path().to_str().unwrap();
        let mut c = spec(&["sh", "-c", "while :; do sleep 1000; done"]);
        c["hooks"] = json!({
            point: [hook(point, "echo boom from $HOOKVAR >&2; exit 4")],
            "poststop": [recording_hook(d, "poststop")],
        });
        let bundle = Bundle::new(&c);
        let id = env.id();
        env.create(&id, &bundle);
        env.start(&id)
            .fails_with(&[&id, point, &format!("boom from {point}")]);
        env.wait_status(&id, "stopped");
        env.delete(&id).ok();
        env.assert_gone(&id);
        assert_eq!(lines(&out.path().join("order")), ["poststop"], "{point}");
    }
}

#[test]
fn a_failing_poststop_hook_only_warns() {
    let env = Env::new("hookpoststop");
    let out = TempDir::new("hookpoststop");
    let d = out.path().to_str().unwrap();
    let mut c = base();
    c["process"]["args"] = json!(["true"]);
    c["hooks"] = json!({
        "poststop": [hook("first", "exit 1"), recording_hook(d, "second")],
    });
    let (ct, _b) = env.run_container(&c);
    env.wait_status(&ct.id, "stopped");
    let del = env.delete(&ct.id).ok();
    assert!(
        del.stderr.contains("warning") && del.stderr.contains("hooks.poststop[0]"),
        "{del:#?}"
    );
    env.assert_gone(&ct.id);
    assert_eq!(lines(&out.path().join("order")), ["second"]);
}

#[test]
fn features_list_seccomp_and_hooks() {
    let out = run_runtime(None, &["features"], None, Out::Capture).ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        strings(&f["hooks"]),
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let s = &f["linux"]["seccomp"];
    assert_eq!(s["enabled"], true);
    for a in [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_LOG",
        // With a listener (integration/seccomp_notify.rs).
        "SCMP_ACT_NOTIFY",
    ] {
        assert!(strings(&s["actions"]).contains(&a), "{a}");
    }
    assert_eq!(strings(&s["operators"]).len(), 7);
    assert!(strings(&s["archs"]).contains(&"SCMP_ARCH_X86_64"));
}

#[test]
fn seccomp_holds_for_exec_processes_too() {
    let env = Env::new("seccompexec");
    let mut c = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO" }]
    }));
    c["process"]["args"] = json!(["sh", "-c", "while :; do sleep 1000; done"]);
    let (ct, _b) = env.run_container(&c);
    let out = env
        .run(&["exec", &ct.id, inspector(), "--mkdir", "/tmp/denied:755"])
        .ok();
    let r: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(r["mkdir"]["/tmp/denied:755"], "EPERM");
    assert_eq!(status(&r, "Seccomp"), "2");
}

#[test]
fn rejects_a_domainname_without_uts_namespace() {
    let mut c = base();
    c["linux"]["namespaces"] = json!([{ "type": "mount" }, { "type": "pid" }]);
    c["hostname"] = json!(null);
    c["domainname"] = json!("example.org");
    rejects("nodomainuts", &c, &["domainname", "uts"]);
}

#[test]
fn rejects_id_mappings_without_a_user_namespace() {
    let mut c = base();
    c["linux"]["uidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 10 }]);
    rejects("mapnouserns", &c, &["linux.uidMappings", "user namespace"]);
}

#[test]
fn features_list_every_mount_option_and_namespace_create_applies() {
    let out = run_runtime(None, &["features"], None, Out::Capture).ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap();
    let mut namespaces = strings(&f["linux"]["namespaces"]);
    namespaces.sort();
    assert_eq!(
        namespaces,
        ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"]
    );
    let opts = strings(&f["mountOptions"]);
    for o in [
        "rro",
        "rrw",
        "rnosuid",
        "rsuid",
        "rnodev",
        "rdev",
        "rnoexec",
        "rexec",
        "rnoatime",
        "ratime",
        "rrelatime",
        "rnorelatime",
        "rstrictatime",
        "rnostrictatime",
        "rnodiratime",
        "rdiratime",
        "rnosymfollow",
        "rsymfollow",
        "nosymfollow",
        "symfollow",
        "tmpcopyup",
        "idmap",
        "ridmap",
    ] {
        assert!(opts.contains(&o), "{o} missing from {opts:?}");
    }
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
}

// ---------------------------------------------------------------------------
// linux.personality

/// A running container from `config` (its process replaced by a long sleep)
/// and the inspector's report from `exec` of it.
#[track_caller]
fn exec_report(env: &Env, mut config: Value, exec_args: &[&str]) -> Value {
    config["process"]["args"] = json!(["sh", "-c", "while :; do sleep 1000; done"]);
    let (ct, _b) = env.run_container(&config);
    let mut args = vec!["exec"];
    args.extend_from_slice(exec_args);
    args.extend_from_slice(&[&ct.id, inspector()]);
    let out = env.run(&args).ok();
    serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("bad report from exec ({e}): {out:#?}"))
}

#[test]
fn linux_personality() {
    let env = Env::new("persona");
    let host = run_bounded_output(Command::new("uname").arg("-m"));
    let mut c = base();
    c["linux"]["personality"] = json!({ "domain": "LINUX32" });
    let r = inspect(&env, c.clone(), &[]);
    assert_eq!(r["personality"], 8, "PER_LINUX32");
    if host == "x86_64" {
        assert_eq!(r["machine"], "i686");
    }
    // Processes exec adds share the container's personality.
    let r = exec_report(&env, c.clone(), &[]);
    assert_eq!(r["personality"], 8, "PER_LINUX32 for exec");

    c["linux"]["personality"] = json!({ "domain": "LINUX", "flags": [] });
    let r = inspect(&env, c, &[]);
    assert_eq!(r["personality"], 0);
    assert_eq!(r["machine"], host.as_str());
}

#[test]
fn rejects_a_bad_personality() {
    let mut c = base();
    c["linux"]["personality"] = json!({ "domain": "LINUX64" });
    rejects(
        "personadomain",
        &c,
        &["linux.personality.domain", "LINUX64"],
    );
    c["linux"]["personality"] = json!({ "domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"] });
    rejects(
        "personaflags",
        &c,
        &[
            "linux.personality.flags",
            "ADDR_NO_RANDOMIZE",
            "not supported",
        ],
    );
}

// ---------------------------------------------------------------------------
// linux.memoryPolicy

const MPOL_PREFERRED: u64 = 1;
const MPOL_BIND: u64 = 2;
const MPOL_INTERLEAVE: u64 = 3;
const MPOL_LOCAL: u64 = 4;
const MPOL_F_STATIC_NODES: u64 = 1 << 15;

#[test]
fn linux_memory_policy() {
    let env = Env::new("mempol");
    let policy = |r: &Value| {
        let m = &r["mempolicy"];
        (m["mode"].as_u64(), m["flags"].as_u64(), m["nodes"].clone())
    };
    // Without the field: the host's default, whatever hutch's own is.
    let r = inspect(&env, base(), &[]);
    assert_eq!(
        policy(&r),
        (Some(0), Some(0), json!([])),
        "{}",
        r["mempolicy"]
    );

    let mut c = base();
    c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_INTERLEAVE", "nodes": "0" });
    let r = inspect(&env, c.clone(), &[]);
    assert_eq!(policy(&r), (Some(MPOL_INTERLEAVE), Some(0), json!([0])));
    // Processes exec adds are not the init's children: set for them too.
    let r = exec_report(&env, c, &[]);
    assert_eq!(
        policy(&r),
        (Some(MPOL_INTERLEAVE), Some(0), json!([0])),
        "exec"
    );

    let mut c = base();
    c["linux"]["memoryPolicy"] =
        json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"] });
    let r = inspect(&env, c, &[]);
    assert_eq!(
        policy(&r),
        (Some(MPOL_BIND), Some(MPOL_F_STATIC_NODES), json!([0]))
    );

    let mut c = base();
    c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_PREFERRED", "nodes": "0" });
    let r = inspect(&env, c, &[]);
    assert_eq!(policy(&r), (Some(MPOL_PREFERRED), Some(0), json!([0])));

    let mut c = base();
    c["linux"]["memoryPolicy"] = json!({ "mode": "MPOL_LOCAL" });
    let r = inspect(&env, c, &[]);
    assert_eq!(policy(&r), (Some(MPOL_LOCAL), Some(0), json!([])));
}

#[test]
fn rejects_a_bad_memory_policy() {
    let with = |p: Value| {
        let mut c = base();
        c["linux"]["memoryPolicy"] = p;
        c
    };
    rejects(
        "mpolmode",
        &with(json!({ "mode": "MPOL_NOPE", "nodes": "0" })),
        &["linux.memoryPolicy.mode", "MPOL_NOPE"],
    );
    rejects(
        "mpolflag",
        &with(json!({ "mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NOPE"] })),
        &["linux.memoryPolicy.flags", "MPOL_F_NOPE"],
    );
    rejects(
        "mpolsyntax",
        &with(json!({ "mode": "MPOL_BIND", "nodes": "0-" })),
        &["linux.memoryPolicy.nodes", "\"0-\"", "0-3,7"],
    );
    rejects(
        "mpolbackwards",
        &with(json!({ "mode": "MPOL_BIND", "nodes": "3-1" })),
        &["linux.memoryPolicy.nodes", "backwards"],
    );
    rejects(
        "mpolnonodes",
        &with(json!({ "mode": "MPOL_BIND" })),
        &["linux.memoryPolicy.nodes", "MPOL_BIND", "at least one node"],
    );
    rejects(
        "mpollocalnodes",
        &with(json!({ "mode": "MPOL_LOCAL", "nodes": "0" })),
        &["linux.memoryPolicy.nodes", "MPOL_LOCAL", "no nodes"],
    );
    rejects(
        "mpolflags",
        &with(json!({ "mode": "MPOL_BIND", "nodes": "0",
            "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"] })),
        &["linux.memoryPolicy.flags", "exclude each other"],
    );
    // A node the host lacks: the first one past those online.
    let online = fs::read_to_string("/sys/devices/system/node/online").unwrap();
    let last: u32 = online
        .trim()
        .rsplit([',', '-'])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let missing = (last + 1).to_string();
    rejects(
        "mpolhost",
        &with(json!({ "mode": "MPOL_INTERLEAVE", "nodes": format!("0,{missing}") })),
        &[
            "linux.memoryPolicy.nodes",
            &format!("node {missing} is not online"),
        ],
    );
}

// ---------------------------------------------------------------------------
// linux.netDevices

/// A veth pair made on the host for one test (this kernel has no dummy
/// driver); `moved` is the end a config moves into a container. Whatever is
/// left of it is deleted at drop.
struct Veth {
    moved: String,
    peer: String,
}

impl Veth {
    fn new(tag: &str) -> Veth {
        // Device names have at most 15 bytes.
        let n = std::process::id() % 10_000;
        let v = Veth {
            moved: format!("hutch{tag}{n}a"),
            peer: format!("hutch{tag}{n}b"),
        };
        ip(&[
            "link", "add", &v.moved, "type", "veth", "peer", "name", &v.peer,
        ]);
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for d in [&self.moved, &self.peer] {
            if on_host(d) {
                let _ = Command::new("ip").args(["link", "del", d]).status();
            }
        }
    }
}

#[track_caller]
fn ip(args: &[&str]) {
    run_bounded_output(Command::new("ip").args(args));
}

fn on_host(dev: &str) -> bool {
    Path::new("/sys/class/net").join(dev).exists()
}

#[test]
fn linux_net_devices_move_rename_and_keep_addresses() {
    let env = Env::new("netdev");
    let veth = Veth::new("nd");
    // Permanent addresses of global scope go along (config-linux.md); one
    // of link scope does not.
    ip(&["addr", "add", "10.199.7.1/24", "dev", &veth.moved]);
    ip(&["addr", "add", "fd00:199::1/64", "dev", &veth.moved, "nodad"]);
    ip(&[
        "addr",
        "add",
        "10.199.8.1/24",
        "dev",
        &veth.moved,
        "scope",
        "link",
    ]);

    let mut c = sh("while :; do sleep 1000; done");
    c["linux"]["netDevices"] = json!({ veth.moved.clone(): { "name": "ctr0" } });
    let (ct, _b) = env.run_container(&c);
    assert!(!on_host(&veth.moved), "{} still on the host", veth.moved);
    assert!(!on_host("ctr0"), "ctr0 on the host");

    let inside = |cmd: &str| env.run(&["exec", &ct.id, "sh", "-c", cmd]).ok().stdout;
    let link = inside("ip -o link show ctr0");
    let flags = link.split(['<', '>']).nth(1).unwrap_or("");
    assert!(flags.split(',').any(|f| f == "UP"), "not up: {link}");
    let addrs = inside("ip -o addr show dev ctr0");
    assert!(addrs.contains("inet 10.199.7.1/24"), "{addrs}");
    assert!(addrs.contains("inet6 fd00:199::1/64"), "{addrs}");
    assert!(
        !addrs.contains("10.199.8.1"),
        "a link-scope address moved: {addrs}"
    );
    let host_name = env
        .run(&["exec", &ct.id, "ip", "link", "show", &veth.moved])
        .status;
    assert!(
        !host_name.success(),
        "{} is there under its host name",
        veth.moved
    );

    // delete moves nothing back (config-linux.md): the namespace goes,
    // and with it the veth end, and so its peer on the host. That happens
    // in the kernel's own time after the last process is gone.
    env.run(&["delete", "--force", &ct.id]).ok();
    env.assert_gone(&ct.id);
    let gone = (0..100).any(|_| {
        let g = !on_host(&veth.peer);
        if !g {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        g
    });
    assert!(
        gone,
        "{} outlived the container's network namespace",
        veth.peer
    );
    assert!(
        !on_host(&veth.moved) && !on_host("ctr0"),
        "the device came back"
    );
}

#[test]
fn linux_net_devices_without_a_name_keep_theirs() {
    let env = Env::new("netdevkeep");
    let veth = Veth::new("nk");
    let mut c = sh("while :; do sleep 1000; done");
    c["linux"]["netDevices"] = json!({ veth.moved.clone(): {} });
    let (ct, _b) = env.run_container(&c);
    let link = env
        .run(&["exec", &ct.id, "ip", "-o", "link", "show", &veth.moved])
        .ok()
        .stdout;
    assert!(link.contains(&format!("{}@", veth.moved)), "{link}");
    assert!(!on_host(&veth.moved));
}

/// Into a network namespace linux.namespaces joins by path: the device
/// stays there after delete, the namespace being someone else's.
#[test]
fn linux_net_devices_into_a_joined_namespace() {
    let env = Env::new("netdevjoin");
    let veth = Veth::new("nj");
    let ns = format!("hutch-it-{}", std::process::id());
    ip(&["netns", "add", &ns]);
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _ns = Netns(ns.clone());
    let mut c = sh("while :; do sleep 1000; done");
    c["linux"]["namespaces"] = json!([
        { "type": "pid" }, { "type": "mount" }, { "type": "uts" }, { "type": "ipc" },
        { "type": "network", "path": format!("/run/netns/{ns}") }
    ]);
    c["linux"]["netDevices"] = json!({ veth.moved.clone(): { "name": "joined0" } });
    let (ct, _b) = env.run_container(&c);
    let link = env
        .run(&["exec", &ct.id, "ip", "-o", "link", "show", "joined0"])
        .ok()
        .stdout;
    assert!(link.contains("joined0@"), "{link}");
    env.run(&["delete", "--force", &ct.id]).ok();
    let there =
        run_bounded_output(Command::new("ip").args(["-n", &ns, "-o", "link", "show", "joined0"]));
    assert!(there.contains("joined0@"), "{there}");
    assert!(!on_host(&veth.moved));
}

#[test]
fn rejects_bad_net_devices() {
    let veth = Veth::new("nr");
    let with = |devs: Value| {
        let mut c = base();
        c["linux"]["netDevices"] = devs;
        c
    };
    rejects(
        "netdevmissing",
        &with(json!({ "hutchnone0": {} })),
        &["linux.netDevices", "hutchnone0", "no network device"],
    );
    let mut c = with(json!({ veth.moved.clone(): {} }));
    c["linux"]["namespaces"] = json!([{ "type": "pid" }, { "type": "mount" }, { "type": "uts" }]);
    rejects(
        "netdevnons",
        &c,
        &["linux.netDevices", "no network namespace"],
    );
    let mut c = with(json!({ veth.moved.clone(): {} }));
    c["linux"]["namespaces"][1] = json!({ "type": "network", "path": "/proc/self/ns/net" });
    rejects("netdevhostns", &c, &["linux.netDevices", "is the host's"]);
    rejects(
        "netdevbadname",
        &with(json!({ veth.moved.clone(): { "name": "a/b" } })),
        &["linux.netDevices", "\"a/b\"", "'/'"],
    );
    rejects(
        "netdevlongname",
        &with(json!({ veth.moved.clone(): { "name": "a_name_too_long0" } })),
        &["linux.netDevices", "1 to 15 bytes"],
    );
    // The namespace has its lo: the kernel refuses, and nothing moved.
    rejects(
        "netdevexists",
        &with(json!({ veth.moved.clone(): { "name": "lo" } })),
        &["linux.netDevices", "\"lo\"", "already"],
    );
    assert!(
        on_host(&veth.moved),
        "{} lost by a failed create",
        veth.moved
    );
    // A create that fails after the move gives the device back, under its
    // own name and with its address.
    ip(&["addr", "add", "10.199.9.1/24", "dev", &veth.moved]);
    let mut c = with(json!({ veth.moved.clone(): { "name": "ctr1" } }));
    c["process"]["args"] = json!(["/nonexistent"]);
    rejects("netdevlate", &c, &["process.args[0]", "/nonexistent"]);
    let addrs =
        run_bounded_output(Command::new("ip").args(["-o", "addr", "show", "dev", &veth.moved]));
    assert!(
        addrs.contains("inet 10.199.9.1/24"),
        "not back as it was: {addrs:?}"
    );
    assert!(!on_host("ctr1"));
}

/// A host command's stdout, trimmed.
fn run_bounded_output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

// ---------------------------------------------------------------------------
// process.scheduler, process.ioPriority, process.execCPUAffinity

const SCHED_FIFO: u64 = 1;
const SCHED_BATCH: u64 = 3;
const SCHED_IDLE: u64 = 5;
const SCHED_DEADLINE: u64 = 6;
const SCHED_FLAG_RESET_ON_FORK: u64 = 1;

/// Whether real-time policies need real-time time of the cpu cgroup
/// (CONFIG_RT_GROUP_SCHED on cgroup v1): then a new cgroup has none.
fn rt_group_sched() -> bool {
    Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()
}

/// `c` in a cgroup of its own right under the root, given real-time time
/// when the kernel asks for it, so SCHED_FIFO and SCHED_RR are allowed.
fn with_rt_time(mut c: Value, name: &str) -> Value {
    if rt_group_sched() {
        c["linux"]["cgroupsPath"] = json!(format!("/hutch-rt-{name}-{}", std::process::id()));
        c["linux"]["resources"] =
            json!({ "cpu": { "realtimeRuntime": 10000, "realtimePeriod": 1000000 } });
    }
    c
}

#[test]
fn process_scheduler_fair_policies_nice_and_flags() {
    let env = Env::new("schedfair");
    let mut c = base();
    c["process"]["scheduler"] = json!({
        "policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]
    });
    let r = inspect(&env, c.clone(), &[]);
    assert_eq!(r["sched"]["policy"], SCHED_BATCH, "{}", r["sched"]);
    assert_eq!(r["sched"]["nice"], 7);
    assert_eq!(
        r["sched"]["flags"].as_u64().unwrap() & SCHED_FLAG_RESET_ON_FORK,
        SCHED_FLAG_RESET_ON_FORK
    );
    // exec without --process runs the config's process: the same scheduling.
    let r = exec_report(&env, c.clone(), &[]);
    assert_eq!(r["sched"]["policy"], SCHED_BATCH, "exec: {}", r["sched"]);
    assert_eq!(r["sched"]["nice"], 7);

    c["process"]["scheduler"] = json!({ "policy": "SCHED_IDLE" });
    let r = inspect(&env, c, &[]);
    assert_eq!(r["sched"]["policy"], SCHED_IDLE, "{}", r["sched"]);
    assert_eq!(r["sched"]["nice"], 0, "nice defaults to 0");
}

#[test]
fn process_scheduler_fifo_and_deadline() {
    let env = Env::new("schedrt");
    let mut c = with_rt_time(base(), "fifo");
    c["process"]["scheduler"] = json!({ "policy": "SCHED_FIFO", "priority": 10 });
    let r = inspect(&env, c, &[]);
    assert_eq!(r["sched"]["policy"], SCHED_FIFO, "{}", r["sched"]);
    assert_eq!(r["sched"]["priority"], 10);

    let mut c = base();
    c["process"]["scheduler"] = json!({
        "policy": "SCHED_DEADLINE", "runtime": 10_000_000, "deadline": 30_000_000,
        "period": 30_000_000, "flags": ["SCHED_FLAG_RESET_ON_FORK"]
    });
    let r = inspect(&env, c, &[]);
    let s = &r["sched"];
    assert_eq!(s["policy"], SCHED_DEADLINE, "{s}");
    assert_eq!(
        (&s["runtime"], &s["deadline"], &s["period"]),
        (&json!(10_000_000), &json!(30_000_000), &json!(30_000_000)),
        "{s}"
    );
}

#[test]
fn exec_process_scheduler_from_its_process_file() {
    let env = Env::new("schedexec");
    let dir = TempDir::new("proc");
    let file = dir.path().join("process.json");
    let process = json!({
        "cwd": "/", "user": { "uid": 0, "gid": 0 }, "args": [inspector()],
        "env": ["PATH=/usr/bin:/bin"],
        "scheduler": { "policy": "SCHED_BATCH", "nice": 3 },
        "ioPriority": { "class": "IOPRIO_CLASS_BE", "priority": 6 }
    });
    fs::write(&file, process.to_string()).unwrap();
    let r = exec_report(&env, base(), &["--process", file.to_str().unwrap()]);
    assert_eq!(r["sched"]["policy"], SCHED_BATCH, "{}", r["sched"]);
    assert_eq!(r["sched"]["nice"], 3);
    assert_eq!(r["ioprio"], json!({ "class": 2, "level": 6 }));
}

#[test]
fn rejects_bad_scheduler_values() {
    let bad = [
        (
            json!({ "policy": "SCHED_FOO" }),
            vec!["process.scheduler.policy", "SCHED_FOO"],
        ),
        (
            json!({ "policy": "SCHED_ISO" }),
            vec!["process.scheduler.policy", "SCHED_ISO"],
        ),
        (json!({ "nice": 1 }), vec!["process.scheduler", "policy"]),
        (
            json!({ "policy": "SCHED_OTHER", "nice": 40 }),
            vec!["process.scheduler.nice 40"],
        ),
        (
            json!({ "policy": "SCHED_FIFO" }),
            vec!["process.scheduler.priority 0", "SCHED_FIFO"],
        ),
        (
            json!({ "policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_BOGUS"] }),
            vec!["process.scheduler.flags[0]", "SCHED_FLAG_BOGUS"],
        ),
        (
            json!({ "policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 1000 }),
            vec!["process.scheduler.deadline 1000"],
        ),
    ];
    for (i, (sched, tokens)) in bad.into_iter().enumerate() {
        let mut c = base();
        c["process"]["scheduler"] = sched;
        rejects(&format!("badsched{i}"), &c, &tokens);
    }
}

#[test]
fn a_scheduler_the_kernel_refuses_fails_create_and_leaves_nothing() {
    if !rt_group_sched() {
        println!("skipped: real-time policies need no cgroup time on this kernel");
        return;
    }
    // Without real-time time in its cpu cgroup, the kernel refuses SCHED_RR.
    let mut c = base();
    c["process"]["scheduler"] = json!({ "policy": "SCHED_RR", "priority": 5 });
    rejects(
        "schedeperm",
        &c,
        &["process.scheduler", "sched_setattr", "EPERM"],
    );
}

#[test]
fn process_io_priority() {
    let env = Env::new("ioprio");
    for (class, level, want) in [
        ("IOPRIO_CLASS_BE", 3, 2),
        ("IOPRIO_CLASS_RT", 1, 1),
        ("IOPRIO_CLASS_IDLE", 0, 3),
    ] {
        let mut c = base();
        c["process"]["ioPriority"] = json!({ "class": class, "priority": level });
        let r = inspect(&env, c, &[]);
        assert_eq!(
            r["ioprio"],
            json!({ "class": want, "level": level }),
            "{class}"
        );
    }
}

#[test]
fn rejects_bad_io_priorities() {
    let bad = [
        (
            json!({ "class": "IOPRIO_CLASS_FOO", "priority": 1 }),
            vec!["process.ioPriority.class", "IOPRIO_CLASS_FOO"],
        ),
        (
            json!({ "class": "IOPRIO_CLASS_BE", "priority": 8 }),
            vec!["process.ioPriority.priority 8"],
        ),
        (
            json!({ "priority": 2 }),
            vec!["process.ioPriority.class", "missing"],
        ),
    ];
    for (i, (io, tokens)) in bad.into_iter().enumerate() {
        let mut c = base();
        c["process"]["ioPriority"] = io;
        rejects(&format!("badioprio{i}"), &c, &tokens);
    }
}

/// The CPUs a process may run on, from the inspector's report.
fn cpus(r: &Value) -> &str {
    status(r, "Cpus_allowed_list")
}

fn online_cpus() -> String {
    fs::read_to_string("/sys/devices/system/cpu/online")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn exec_cpu_affinity_final_holds_for_exec_not_for_the_init() {
    if online_cpus() == "0" {
        println!("skipped: one CPU");
        return;
    }
    let env = Env::new("affinity");
    let mut c = base();
    c["process"]["execCPUAffinity"] = json!({ "final": "1" });
    // Not for the container's init (config.md).
    let r = inspect(&env, c.clone(), &[]);
    assert_eq!(cpus(&r), online_cpus());
    // exec without --process runs the config's process, affinity and all.
    let r = exec_report(&env, c.clone(), &[]);
    assert_eq!(cpus(&r), "1");
    // Empty means the kernel decides (the schema allows it; oci-spec did not).
    c["process"]["execCPUAffinity"] = json!({ "initial": "", "final": "" });
    let r = exec_report(&env, c, &[]);
    assert_eq!(cpus(&r), online_cpus());
}

#[test]
fn exec_cpu_affinity_initial_is_the_runtimes_until_the_final_one() {
    if online_cpus() == "0" {
        println!("skipped: one CPU");
        return;
    }
    let env = Env::new("affinityinit");
    let mut c = base();
    c["process"]["args"] = json!(["sh", "-c", "while :; do sleep 1000; done"]);
    let (ct, _b) = env.run_container(&c);
    let dir = TempDir::new("proc");
    let file = dir.path().join("process.json");
    let process = |aff: Value, args: Value| {
        json!({
            "cwd": "/", "user": { "uid": 0, "gid": 0 }, "args": args,
            "env": ["PATH=/usr/bin:/bin"], "execCPUAffinity": aff
        })
        .to_string()
    };
    // The runtime process (hutch exec, which waits for the process) runs on
    // the initial CPUs; the process itself on the final ones.
    fs::write(
        &file,
        process(
            json!({ "initial": "1", "final": "0" }),
            json!(["sleep", "1000"]),
        ),
    )
    .unwrap();
    let mut exec = env
        .command(&["exec", "--process", file.to_str().unwrap(), &ct.id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let parent = exec.id();
    let children = format!("/proc/{parent}/task/{parent}/children");
    let mut child = String::new();
    let started = poll(WAIT, || {
        child = fs::read_to_string(&children)
            .unwrap_or_default()
            .trim()
            .to_string();
        !child.is_empty()
    });
    let allowed = |pid: &str| {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        cpus_allowed(&status).unwrap_or_default()
    };
    let runtime_cpus = allowed(&parent.to_string());
    // The process has exec'd once its command line is sleep's.
    let mut process_cpus = String::new();
    let execd = poll(WAIT, || {
        let cmd = fs::read(format!("/proc/{child}/cmdline")).unwrap_or_default();
        process_cpus = allowed(&child);
        cmd.starts_with(b"sleep")
    });
    let _ = Command::new("kill").args(["-KILL", &child]).status();
    let _ = exec.wait();
    assert!(started && execd, "the exec'd process never ran");
    assert_eq!(runtime_cpus, "1", "hutch exec's CPUs");
    assert_eq!(process_cpus, "0", "the process's CPUs");

    // A CPU the machine lacks: exec fails naming the field; nothing is added.
    let ps = || {
        let out = env.run(&["ps", "--format", "json", &ct.id]).ok();
        serde_json::from_str::<Vec<i64>>(out.stdout.trim()).unwrap()
    };
    let before = ps();
    fs::write(
        &file,
        process(json!({ "initial": "4000" }), json!(["true"])),
    )
    .unwrap();
    env.run(&["exec", "--process", file.to_str().unwrap(), &ct.id])
        .fails_with(&["process.execCPUAffinity.initial", "sched_setaffinity"]);
    fs::write(&file, process(json!({ "final": "4000" }), json!(["true"]))).unwrap();
    env.run(&["exec", "--process", file.to_str().unwrap(), &ct.id])
        .fails_with(&["process.execCPUAffinity.final", "sched_setaffinity"]);
    assert_eq!(ps(), before, "processes left in the container");
}

#[test]
fn rejects_bad_cpu_lists() {
    for (i, (list, tokens)) in [
        ("0-a", vec!["process.execCPUAffinity.final", "0-a"]),
        (
            "3-1",
            vec!["process.execCPUAffinity.final", "3-1", "backwards"],
        ),
        ("0-99999", vec!["process.execCPUAffinity.final", "99999"]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = base();
        c["process"]["execCPUAffinity"] = json!({ "final": list });
        rejects(&format!("badcpus{i}"), &c, &tokens);
    }
}

// ---------------------------------------------------------------------------
// time namespace, linux.timeOffsets

/// CLOCK_MONOTONIC and CLOCK_BOOTTIME on the host, in nanoseconds, read by
/// the inspector itself (run on the host) so both sides read them alike.
fn host_clocks() -> (i128, i128) {
    let bin = rootfs().join(inspector().trim_start_matches('/'));
    let out = Command::new(bin).output().unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    (nanos(&r, "monotonic"), nanos(&r, "boottime"))
}

#[track_caller]
fn nanos(r: &Value, clock: &str) -> i128 {
    let v = &r["clocks"][clock];
    let (Some(s), Some(ns)) = (v[0].as_i64(), v[1].as_i64()) else {
        panic!("no {clock} clock in the report: {}", r["clocks"]);
    };
    i128::from(s) * 1_000_000_000 + i128::from(ns)
}

/// /proc/self/timens_offsets as (clock, secs, nanosecs) lines.
fn timens_offsets(r: &Value) -> Vec<String> {
    r["timens_offsets"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The container's clocks were read between two reads of the host's: each
/// must be the host's plus its offset, within that window.
#[track_caller]
fn assert_clocks(r: &Value, before: (i128, i128), after: (i128, i128), mono: i128, boot: i128) {
    let m = nanos(r, "monotonic");
    let b = nanos(r, "boottime");
    assert!(
        (before.0 + mono..=after.0 + mono).contains(&m),
        "monotonic {m} not within [{}, {}]",
        before.0 + mono,
        after.0 + mono
    );
    assert!(
        (before.1 + boot..=after.1 + boot).contains(&b),
        "boottime {b} not within [{}, {}]",
        before.1 + boot,
        after.1 + boot
    );
}

fn with_time_ns(mut c: Value) -> Value {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "time" }));
    c
}

const YEAR: i128 = 365 * 24 * 3600;
const WEEK: i128 = 7 * 24 * 3600;
const SEC: i128 = 1_000_000_000;

#[test]
fn time_namespace_with_offsets() {
    let env = Env::new("timens");
    let mut c = with_time_ns(base());
    c["linux"]["timeOffsets"] = json!({
        "monotonic": { "secs": YEAR as i64, "nanosecs": 5 },
        "boottime": { "secs": WEEK as i64 }
    });
    // Hooks run after the init is cloned: in the runtime's time namespace.
    let hooks = TempDir::new("timenshooks");
    let rec = |name: &str| {
        hook(
            name,
            &format!(
                "readlink /proc/self/ns/time > {0}/{name}; readlink /proc/self/ns/time_for_children >> {0}/{name}",
                hooks.path().display()
            ),
        )
    };
    let mut hooked = c.clone();
    hooked["hooks"] = json!({ "createRuntime": [rec("createRuntime")] });
    let before = host_clocks();
    let r = inspect(&env, hooked, &[]);
    let after = host_clocks();
    assert_ne!(r["ns"]["time"], ns("self", "time"));
    let host = ns("self", "time");
    assert_eq!(
        lines(&hooks.path().join("createRuntime")),
        [host.clone(), host.clone()]
    );
    assert_eq!(
        timens_offsets(&r),
        [format!("monotonic {YEAR} 5"), format!("boottime {WEEK} 0")]
    );
    assert_clocks(&r, before, after, YEAR * SEC + 5, WEEK * SEC);

    // exec joins the container's time namespace: the same clocks.
    let before = host_clocks();
    let r = exec_report(&env, c, &[]);
    let after = host_clocks();
    assert_ne!(r["ns"]["time"], ns("self", "time"));
    assert_clocks(&r, before, after, YEAR * SEC + 5, WEEK * SEC);
}

#[test]
fn time_namespace_without_offsets() {
    let env = Env::new("timens0");
    let r = inspect(&env, with_time_ns(base()), &[]);
    assert_ne!(r["ns"]["time"], ns("self", "time"));
    assert_eq!(timens_offsets(&r), ["monotonic 0 0", "boottime 0 0"]);
}

#[test]
fn time_namespace_with_offsets_and_a_user_namespace() {
    let env = Env::new("timensuser");
    let mut c = in_user_namespace(with_time_ns(base()));
    c["linux"]["timeOffsets"] = json!({ "boottime": { "secs": -5, "nanosecs": 999_999_999 } });
    let before = host_clocks();
    let r = inspect(&env, c, &[]);
    let after = host_clocks();
    assert_ne!(r["ns"]["user"], ns("self", "user"));
    assert_eq!(
        timens_offsets(&r),
        ["monotonic 0 0", "boottime -5 999999999"]
    );
    assert_clocks(&r, before, after, 0, -5 * SEC + 999_999_999);
}

#[test]
fn joins_a_time_namespace_by_path() {
    let env = Env::new("timensjoin");
    // unshare(1) without --fork: the namespace is its time_for_children,
    // which nothing has entered yet.
    let holder = NsHolder::new(&["--time", "--monotonic", "1000"]);
    let mut c = base();
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "time", "path": holder.path("time_for_children") }));
    let before = host_clocks();
    let r = inspect(&env, c, &[]);
    let after = host_clocks();
    assert_eq!(r["ns"]["time"], holder.link("time_for_children"));
    assert_eq!(timens_offsets(&r), ["monotonic 1000 0", "boottime 0 0"]);
    assert_clocks(&r, before, after, 1000 * SEC, 0);
}

#[test]
fn rejects_bad_time_offsets() {
    let offsets = json!({ "monotonic": { "secs": 10 } });
    let mut c = base();
    c["linux"]["timeOffsets"] = offsets.clone();
    rejects(
        "timensnone",
        &c,
        &["linux.timeOffsets", "no time namespace"],
    );

    let holder = NsHolder::new(&["--time"]);
    let mut c = base();
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "time", "path": holder.path("time_for_children") }));
    c["linux"]["timeOffsets"] = offsets;
    rejects("timenspath", &c, &["linux.timeOffsets", "joined by path"]);

    for (i, (o, tokens)) in [
        (
            json!({ "realtime": { "secs": 1 } }),
            vec!["linux.timeOffsets.realtime", "monotonic and boottime"],
        ),
        (
            json!({ "boottime": { "secs": 1, "nanosecs": 1_000_000_000u32 } }),
            vec!["linux.timeOffsets.boottime.nanosecs"],
        ),
        // The kernel refuses a clock that would start below zero.
        (
            json!({ "monotonic": { "secs": -1_000_000_000_000i64 } }),
            vec!["linux.timeOffsets", "timens_offsets", "out of range"],
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = with_time_ns(base());
        c["linux"]["timeOffsets"] = o;
        rejects(&format!("timensbad{i}"), &c, &tokens);
    }
}

// --- issue 16: hooks without env ---

/// A hook without `env` is not run with an empty environment: one run by
/// the runtime (prestart, poststart) gets the runtime's, one run by the
/// init (startContainer) the container process's, as runc's init has it.
#[test]
fn hooks_without_env_get_the_runtime_or_the_process_environment() {
    let env = Env::new("hookenv");
    let out = TempDir::new("hookenv");
    let d = out.path().to_str().unwrap();
    let mut c = spec(&["sh", "-c", "cat /dev/shm/start.env; echo done"]);
    c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FROM_PROCESS=yes"]);
    let record = |name: &str, dir: &str| {
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("env > {dir}/{name}.env")],
        })
    };
    c["hooks"] = json!({
        "prestart": [record("prestart", d)],
        "startContainer": [record("start", "/dev/shm")],
        "poststart": [record("poststart", d)],
    });
    let bundle = Bundle::new(&c);
    let id = env.id();
    let ct = Container::new(&id);
    let mut cmd = env.command(&["create", "--bundle", bundle.arg(), &id]);
    cmd.env("FROM_RUNTIME", "yes");
    let created = capture(cmd, Out::File(&ct.out));
    env.track(&id);
    created.ok();
    let mut cmd = env.command(&["start", &id]);
    cmd.env("FROM_RUNTIME", "yes");
    capture(cmd, Out::Capture).ok();
    let seen = ct.wait_line("done");
    assert!(
        seen.lines().any(|l| l == "FROM_PROCESS=yes"),
        "startContainer: {seen:?}"
    );
    assert!(!seen.contains("FROM_RUNTIME"), "startContainer: {seen:?}");
    for name in ["prestart", "poststart"] {
        let text = fs::read_to_string(out.path().join(format!("{name}.env"))).unwrap();
        assert!(
            text.lines().any(|l| l == "FROM_RUNTIME=yes"),
            "{name}: {text:?}"
        );
    }
}
