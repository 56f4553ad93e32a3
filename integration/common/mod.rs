//! Shared harness for hutch's integration tests.
//!
//! The tests run the real runtime binary as root against real containers.
//! `HUTCH_TEST_RUNTIME` overrides the binary under test (e.g. `/usr/sbin/runc`
//! to check the tests themselves), `HUTCH_TEST_ROOTFS` the busybox rootfs the
//! containers run from (default `target/test-rootfs`, built by `hack/mkrootfs`
//! when missing).
// Each test binary uses its own part of the harness.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long one runtime invocation may take before the test gives up on it.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for something a container is expected to do.
pub const WAIT: Duration = Duration::from_secs(10);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", std::process::id())
}

// ---------------------------------------------------------------------------
// Global state of the host: tests that compare snapshots of host-wide state
// (mountinfo, the process table) take the exclusive lock so that the other
// tests of this binary cannot change that state under them.

static HOST: RwLock<()> = RwLock::new(());

pub enum HostLock {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// For tests that only touch their own containers.
pub fn shared() -> HostLock {
    HostLock::Shared(HOST.read().unwrap_or_else(|e| e.into_inner()))
}

/// For tests that snapshot host-wide state.
pub fn exclusive() -> HostLock {
    HostLock::Exclusive(HOST.write().unwrap_or_else(|e| e.into_inner()))
}

// ---------------------------------------------------------------------------
// Paths

/// The runtime binary under test.
pub fn runtime() -> PathBuf {
    match std::env::var_os("HUTCH_TEST_RUNTIME") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_hutch")),
    }
}

/// The shared busybox rootfs, built once if missing.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = match std::env::var_os("HUTCH_TEST_ROOTFS") {
            Some(p) => PathBuf::from(p),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-rootfs"),
        };
        assert!(
            dir.is_absolute(),
            "HUTCH_TEST_ROOTFS must be absolute: {dir:?}"
        );
        if !dir.join("bin/sh").exists() {
            build_rootfs(&dir);
        }
        assert!(dir.join("bin/sh").exists(), "no bin/sh in rootfs {dir:?}");
        dir
    })
}

/// Runs `hack/mkrootfs` into a scratch dir and renames it into place, under a
/// file lock so that concurrent test binaries build it only once.
fn build_rootfs(dir: &Path) {
    let parent = dir.parent().expect("rootfs has a parent");
    fs::create_dir_all(parent).unwrap();
    let lock = File::create(dir.with_extension("lock")).unwrap();
    lock.lock().unwrap();
    if dir.join("bin/sh").exists() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/mkrootfs");
    assert!(
        script.exists(),
        "{dir:?} is missing and there is no {script:?} to build it; set HUTCH_TEST_ROOTFS"
    );
    let scratch = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let status = Command::new(&script).arg(&scratch).status().unwrap();
    assert!(status.success(), "{script:?} {scratch:?} failed: {status}");
    let _ = fs::remove_dir_all(dir);
    fs::rename(&scratch, dir).unwrap();
}

// ---------------------------------------------------------------------------
// The conformance inspector (integration/inspector)

/// Where the inspector lives inside the test rootfs.
pub const INSPECTOR: &str = "/usr/bin/hutch-inspect";

/// Builds the inspector (statically linked, so it runs in any rootfs) and
/// installs it in the test rootfs at `INSPECTOR`, once per test binary.
pub fn inspector() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = manifest.join("target/inspector");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        let triple = triple.as_str();
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--release",
            "--quiet",
            "--offline",
            "--target",
            triple,
        ])
        .arg("--manifest-path")
        .arg(manifest.join("integration/inspector/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
        let status = run_bounded(&mut cmd, Duration::from_secs(300));
        assert!(status.success(), "building the inspector failed: {status}");
        let built = target_dir.join(triple).join("release/hutch-inspector");
        let dest = rootfs().join(INSPECTOR.trim_start_matches('/'));
        let new = fs::read(&built).unwrap();
        if fs::read(&dest).ok().as_ref() != Some(&new) {
            // Other test binaries may be running containers from this rootfs:
            // replace the file atomically.
            let tmp = dest.with_extension(format!("tmp-{}", std::process::id()));
            fs::create_dir_all(dest.parent().unwrap()).unwrap();
            fs::copy(&built, &tmp).unwrap();
            fs::rename(&tmp, &dest).unwrap();
        }
    });
    INSPECTOR
}

// ---------------------------------------------------------------------------
// Temporary directories

/// A directory removed (recursively) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(unique(&format!("hutch-it-{prefix}")));
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Bundles

/// A runc-default-like spec running `args`, without capabilities, rlimits,
/// seccomp or cgroups.
pub fn spec(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/"
        },
        "root": { "path": rootfs(), "readonly": false },
        "hostname": "hutch-test",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            }
        ],
        "linux": {
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" }
            ]
        }
    })
}

/// Shell, for a hook's script: the container's pid, from the state JSON the
/// hook reads on its stdin (runtime.md), e.g. `kill -KILL {STATE_PID}`.
pub const STATE_PID: &str = r#"$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')"#;

/// `spec(["sh", "-c", script])`.
pub fn sh(script: &str) -> Value {
    spec(&["sh", "-c", script])
}

/// A bundle directory holding a config.json.
pub struct Bundle {
    dir: TempDir,
}

impl Bundle {
    pub fn new(config: &Value) -> Bundle {
        Bundle::raw(&serde_json::to_string_pretty(config).unwrap())
    }

    /// A bundle whose config.json is exactly `text`.
    pub fn raw(text: &str) -> Bundle {
        let dir = TempDir::new("bundle");
        fs::write(dir.path().join("config.json"), text).unwrap();
        Bundle { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn arg(&self) -> &str {
        self.path().to_str().unwrap()
    }
}

// ---------------------------------------------------------------------------
// Running the runtime

/// The result of one runtime invocation.
#[derive(Debug)]
pub struct Output {
    #[allow(dead_code)] // shown through Debug in failure messages
    pub what: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    #[track_caller]
    pub fn ok(self) -> Output {
        assert!(self.status.success(), "expected success: {self:#?}");
        self
    }

    /// Asserts a failure with exactly one line on stderr that contains every
    /// token, case-insensitively; a token "a|b" is satisfied by either.
    #[track_caller]
    pub fn fails_with(self, tokens: &[&str]) -> Output {
        assert!(!self.status.success(), "expected failure: {self:#?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one error line on stderr: {self:#?}"
        );
        let line = lines[0].to_lowercase();
        for token in tokens {
            assert!(
                token.split('|').any(|t| line.contains(&t.to_lowercase())),
                "error line lacks {token:?}: {self:#?}"
            );
        }
        self
    }
}

/// Where a runtime invocation's stdout goes.
pub enum Out<'a> {
    /// Captured into `Output::stdout`.
    Capture,
    /// Appended to this file (a container's stdout and stderr).
    File(&'a Path),
}

/// The runtime with `--root ROOT` (if a root is given) and `args`, stdin
/// from /dev/null, for callers that need to adjust it (fds, environment).
pub fn runtime_command(root: Option<&Path>, args: &[&str]) -> Command {
    runtime_command_at(&runtime(), root, args)
}

/// `runtime_command` with another runtime binary.
pub fn runtime_command_at(bin: &Path, root: Option<&Path>, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    if let Some(root) = root {
        cmd.arg("--root").arg(root);
    }
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// Runs the runtime with `args` (after `--root ROOT` if a root is given),
/// stdout and stderr in files rather than pipes so a container that inherits
/// them cannot make us wait, bounded by `COMMAND_TIMEOUT`.
pub fn run_runtime(root: Option<&Path>, args: &[&str], cwd: Option<&Path>, out: Out) -> Output {
    run_runtime_at(&runtime(), root, args, cwd, out)
}

/// `run_runtime` with another runtime binary (e.g. a copy the test may lose).
pub fn run_runtime_at(
    bin: &Path,
    root: Option<&Path>,
    args: &[&str],
    cwd: Option<&Path>,
    out: Out,
) -> Output {
    let mut cmd = runtime_command_at(bin, root, args);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    capture(cmd, out)
}

/// Runs `cmd` bounded by `COMMAND_TIMEOUT`, stdout and stderr in files.
pub fn capture(mut cmd: Command, out: Out) -> Output {
    let scratch = TempDir::new("io");
    let out_path = match out {
        Out::Capture => scratch.path().join("stdout"),
        Out::File(p) => p.to_path_buf(),
    };
    let err_path = scratch.path().join("stderr");
    let append = |p: &Path| {
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap()
    };
    cmd.stdout(append(&out_path)).stderr(append(&err_path));
    let what = format!("{cmd:?}");
    let status = run_bounded(&mut cmd, COMMAND_TIMEOUT);
    let stdout = match out {
        Out::Capture => fs::read_to_string(&out_path).unwrap_or_default(),
        Out::File(_) => String::new(),
    };
    Output {
        what,
        status,
        stdout,
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Runs `cmd` to completion; kills it and panics after `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> ExitStatus {
    let what = format!("{cmd:?}");
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// One test's runtime state: its own `--root`, its own container IDs, all of
/// which are force-deleted on drop.
pub struct Env {
    root: TempDir,
    bin: PathBuf,
    name: String,
    ids: std::cell::RefCell<Vec<String>>,
    _lock: HostLock,
}

impl Env {
    /// An environment sharing the host with other tests.
    pub fn new(name: &str) -> Env {
        Env::with_lock(name, shared())
    }

    /// An environment that has the host to itself (for host-wide snapshots).
    pub fn exclusive(name: &str) -> Env {
        Env::with_lock(name, exclusive())
    }

    fn with_lock(name: &str, lock: HostLock) -> Env {
        rootfs();
        Env {
            root: TempDir::new("root"),
            bin: runtime(),
            name: name.to_string(),
            ids: Default::default(),
            _lock: lock,
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The runtime binary this Env runs.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs every command of this Env with the runtime binary at `bin`.
    pub fn with_runtime(mut self, bin: &Path) -> Env {
        self.bin = bin.to_path_buf();
        self
    }

    /// `hutch --root ROOT ARGS...` as a Command, for tests that spawn the
    /// runtime themselves (to race it or kill it midway).
    pub fn command(&self, args: &[&str]) -> Command {
        runtime_command_at(&self.bin, Some(self.root()), args)
    }

    /// A fresh container ID, force-deleted when the Env drops.
    pub fn id(&self) -> String {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{}-{}-{n}", self.name, std::process::id());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// The runtime's state directory for `id`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root().join(id)
    }

    /// `hutch --root ROOT ARGS...`, output captured.
    pub fn run(&self, args: &[&str]) -> Output {
        run_runtime_at(&self.bin, Some(self.root()), args, None, Out::Capture)
    }

    /// Records `id` (named by the caller) for deletion when the Env drops.
    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// `hutch --root ROOT create ARGS...` with the container's stdout and
    /// stderr going to `out`.
    pub fn create_args(&self, args: &[&str], cwd: Option<&Path>, out: &Path) -> Output {
        let mut full = vec!["create"];
        full.extend_from_slice(args);
        run_runtime_at(&self.bin, Some(self.root()), &full, cwd, Out::File(out))
    }

    /// Creates `id` from `bundle`; the container writes to a file in a fresh
    /// scratch dir.
    #[track_caller]
    pub fn create(&self, id: &str, bundle: &Bundle) -> Container {
        let c = Container::new(id);
        self.create_args(&["--bundle", bundle.arg(), id], None, &c.out)
            .ok();
        c
    }

    /// Creates and starts `id` from a bundle running `config`.
    #[track_caller]
    pub fn run_container(&self, config: &Value) -> (Container, Bundle) {
        let bundle = Bundle::new(config);
        let c = self.create(&self.id(), &bundle);
        self.start(&c.id).ok();
        (c, bundle)
    }

    pub fn start(&self, id: &str) -> Output {
        self.run(&["start", id])
    }

    pub fn kill(&self, id: &str, signal: Option<&str>) -> Output {
        match signal {
            Some(s) => self.run(&["kill", id, s]),
            None => self.run(&["kill", id]),
        }
    }

    /// `state ID`, parsed, asserting it succeeded and names `id`.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]).ok();
        let state: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state is not JSON ({e}): {out:#?}"));
        assert_eq!(state["id"], id, "state names another ID: {state}");
        state
    }

    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The host PID of `id`'s init from its state, asserted > 0.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i32 {
        let state = self.state(id);
        let pid = state["pid"].as_i64().unwrap_or(0);
        assert!(pid > 0, "state has no pid: {state}");
        pid as i32
    }

    /// Polls `state` until it reports `status`.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut last = String::new();
        let reached = poll(WAIT, || {
            last = self.status(id);
            last == status
        });
        assert!(reached, "{id} never became {status}, last status {last:?}");
    }

    pub fn delete(&self, id: &str) -> Output {
        self.run(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.run(&["delete", "--force", id])
    }

    /// Asserts that `id` is gone: `state` fails and its state dir is removed.
    #[track_caller]
    pub fn assert_gone(&self, id: &str) {
        self.run(&["state", id]).fails_with(&["does not exist"]);
        assert!(
            !self.state_dir(id).exists(),
            "{:?} left behind",
            self.state_dir(id)
        );
        let cgroups = cgroups_named(id);
        assert!(cgroups.is_empty(), "cgroups of {id} left: {cgroups:?}");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Never panics (a panic while unwinding aborts every test): and if the
        // Env's own binary is broken (a test may attack it), the real one cleans up.
        for id in self.ids.borrow().iter() {
            for bin in [&self.bin, &runtime()] {
                let deleted = Command::new(bin)
                    .arg("--root")
                    .arg(self.root())
                    .args(["delete", "--force", id])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                if deleted.is_ok_and(|s| s.success()) {
                    break;
                }
            }
        }
    }
}

/// A created container: its ID and the host file its stdout/stderr go to.
pub struct Container {
    pub id: String,
    pub out: PathBuf,
    _scratch: TempDir,
}

impl Container {
    pub fn new(id: &str) -> Container {
        let scratch = TempDir::new("out");
        let out = scratch.path().join("out");
        File::create(&out).unwrap();
        Container {
            id: id.to_string(),
            out,
            _scratch: scratch,
        }
    }

    /// Everything the container wrote so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Polls the output until it has `n` lines equal to `line`; returns it.
    #[track_caller]
    pub fn wait_lines(&self, line: &str, n: usize) -> String {
        let mut out = String::new();
        let seen = poll(WAIT, || {
            out = self.output();
            out.lines().filter(|l| *l == line).count() >= n
        });
        assert!(
            seen,
            "{} never printed {line:?} x{n}; output: {out:?}",
            self.id
        );
        out
    }

    /// Polls the output until it has a line `line`; returns it.
    #[track_caller]
    pub fn wait_line(&self, line: &str) -> String {
        self.wait_lines(line, 1)
    }

    /// Polls the output until it has a line starting with `prefix`; returns it all.
    #[track_caller]
    pub fn wait_line_starting(&self, prefix: &str) -> String {
        let mut out = String::new();
        let seen = poll(WAIT, || {
            out = self.output();
            out.lines().any(|l| l.starts_with(prefix))
        });
        assert!(
            seen,
            "{} never printed {prefix:?}...; output: {out:?}",
            self.id
        );
        out
    }

    /// The value of the first `key=value` line of the output.
    #[track_caller]
    pub fn value(&self, key: &str) -> String {
        let out = self.output();
        let prefix = format!("{key}=");
        out.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key}= in output of {}: {out:?}", self.id))
            .to_string()
    }
}

/// Polls `f` every 10ms until it holds or `timeout` passes.
pub fn poll(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// The host's view

/// The host's mount table, as a set of lines.
pub fn mountinfo() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[track_caller]
pub fn assert_mountinfo(before: &BTreeSet<String>, when: &str) {
    let now = mountinfo();
    let gained: Vec<_> = now.difference(before).collect();
    let lost: Vec<_> = before.difference(&now).collect();
    assert!(
        gained.is_empty() && lost.is_empty(),
        "host mountinfo changed {when}: gained {gained:#?}, lost {lost:#?}"
    );
}

/// The namespace link of `pid` ("self" or a number) for `kind`.
pub fn ns(pid: &str, kind: &str) -> String {
    let link = format!("/proc/{pid}/ns/{kind}");
    fs::read_link(&link)
        .unwrap_or_else(|e| panic!("readlink {link}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// The state letter of `/proc/PID/stat`, None if there is no such process.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.trim_start().chars().next()
}

/// The first child of process `parent` if it is stopped (state T): a
/// debug-build init halted at the point `HUTCH_TEST_PAUSE_AT` names.
pub fn stopped_child(parent: u32) -> Option<i32> {
    let kids = fs::read_to_string(format!("/proc/{parent}/task/{parent}/children")).ok()?;
    let pid: i32 = kids.split_whitespace().next()?.parse().ok()?;
    (proc_state(pid) == Some('T')).then_some(pid)
}

/// `stopped_child`, waited for up to `WAIT`.
pub fn wait_stopped_child(parent: u32) -> Option<i32> {
    let mut init = None;
    poll(WAIT, || {
        init = stopped_child(parent);
        init.is_some()
    });
    init
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    !matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

/// Processes that look like the runtime or mention any of `needles` in
/// their command line: pid -> command line.
pub fn runtime_processes(needles: &[&str]) -> BTreeMap<i32, String> {
    let exe = fs::canonicalize(runtime()).unwrap_or_else(|_| runtime());
    let me = std::process::id() as i32;
    let mut found = BTreeMap::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let is_runtime = fs::read_link(entry.path().join("exe"))
            .map(|p| p.to_string_lossy().trim_end_matches(" (deleted)") == exe.to_string_lossy())
            .unwrap_or(false);
        if is_runtime || needles.iter().any(|n| cmdline.contains(n)) {
            found.insert(pid, cmdline);
        }
    }
    found
}

/// Host-wide state that a failed command must leave as it found it.
pub struct HostSnapshot {
    mounts: BTreeSet<String>,
    procs: BTreeMap<i32, String>,
    needles: Vec<String>,
}

impl HostSnapshot {
    /// Needs the exclusive host lock (`Env::exclusive`) to be meaningful.
    pub fn take(needles: &[&str]) -> HostSnapshot {
        HostSnapshot {
            mounts: mountinfo(),
            procs: runtime_processes(needles),
            needles: needles.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Like `assert_unchanged`, but with other tests of other processes on the
    /// host: mount changes below the temp dir count only below `ours`.
    #[track_caller]
    pub fn assert_unchanged_below(&self, ours: &[&Path], when: &str) {
        let tmp = std::env::temp_dir();
        let relevant = |line: &&String| {
            let mp = Path::new(line.split(' ').nth(4).unwrap_or("/"));
            !mp.starts_with(&tmp) || ours.iter().any(|o| mp.starts_with(o))
        };
        let now = mountinfo();
        let gained: Vec<_> = now.difference(&self.mounts).filter(relevant).collect();
        let lost: Vec<_> = self.mounts.difference(&now).filter(relevant).collect();
        assert!(
            gained.is_empty() && lost.is_empty(),
            "host mountinfo changed {when}: gained {gained:#?}, lost {lost:#?}"
        );
        self.assert_no_processes_left(when);
    }

    #[track_caller]
    fn assert_no_processes_left(&self, when: &str) {
        let needles: Vec<&str> = self.needles.iter().map(String::as_str).collect();
        let mut left = BTreeMap::new();
        let clean = poll(Duration::from_secs(2), || {
            left = runtime_processes(&needles);
            left.retain(|pid, _| !self.procs.contains_key(pid) && alive(*pid));
            left.is_empty()
        });
        assert!(clean, "runtime processes left {when}: {left:#?}");
    }

    /// Asserts no mounts changed and no runtime process was left behind
    /// (allowing a moment for exiting children to disappear).
    #[track_caller]
    pub fn assert_unchanged(&self, when: &str) {
        assert_mountinfo(&self.mounts, when);
        self.assert_no_processes_left(when);
    }
}

// ---------------------------------------------------------------------------
// Private rootfs copies

/// Mount points at or below `dir`, from the host's mount table.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    mountinfo()
        .iter()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|mp| *mp == dir || mp.starts_with(&format!("{dir}/")))
        .collect()
}

/// A test's own copy of the busybox rootfs, for tests that plant symlinks or
/// binaries in it. On drop it is removed only if nothing is mounted below it:
/// never delete through a mount.
pub struct RootfsCopy {
    dir: PathBuf,
}

impl RootfsCopy {
    pub fn new() -> RootfsCopy {
        let dir = std::env::temp_dir().join(unique("hutch-it-rootfs"));
        let status = Command::new("cp")
            .arg("-a")
            .arg(rootfs())
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "copying the rootfs: {status}");
        RootfsCopy { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RootfsCopy {
    fn drop(&mut self) {
        let left = mounts_under(&self.dir);
        if left.is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            // Leave it rather than delete through a mount; the test's own
            // assertions (or this line) say what went wrong.
            eprintln!("leaving {:?}: mounts below it: {left:?}", self.dir);
        }
    }
}

// ---------------------------------------------------------------------------
// Terminals: the client's end of --console-socket

/// A listening `--console-socket`, as containerd's shim or conmon makes one.
pub struct ConsoleSocket {
    _dir: TempDir,
    path: PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> ConsoleSocket {
        let dir = TempDir::new("console");
        let path = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        ConsoleSocket {
            _dir: dir,
            path,
            listener,
        }
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Accepts the runtime's connection (within `WAIT`) and receives the pty
    /// master it sends with SCM_RIGHTS.
    #[track_caller]
    pub fn recv_master(&self) -> std::os::fd::OwnedFd {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        use std::os::fd::{AsRawFd, FromRawFd};
        let mut conn = None;
        let accepted = poll(WAIT, || match self.listener.accept() {
            Ok((s, _)) => {
                conn = Some(s);
                true
            }
            Err(_) => false,
        });
        assert!(accepted, "nobody connected to the console socket");
        let conn = conn.unwrap();
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(WAIT)).unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<UnixAddr>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .expect("recvmsg on the console socket");
        let mut fd = None;
        for c in msg.cmsgs().expect("control messages") {
            if let ControlMessageOwned::ScmRights(fds) = c {
                assert_eq!(fds.len(), 1, "expected one fd, got {fds:?}");
                // SAFETY: the kernel just installed this fd in our table for us.
                fd = Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) });
            }
        }
        fd.expect("no SCM_RIGHTS fd on the console socket")
    }
}

/// Reads from a pty master until the text read so far satisfies `done`, or
/// `WAIT` passes; returns everything read.
pub fn read_pty_until(master: &std::os::fd::OwnedFd, done: impl Fn(&str) -> bool) -> String {
    use nix::poll::{PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while !done(&String::from_utf8_lossy(&got)) && Instant::now() < deadline {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let mut buf = [0u8; 1024];
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(_) => break, // EIO: the slave side is closed
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

// ---------------------------------------------------------------------------
// cgroups, as the host sees them

/// Cgroup directories named `name` at most three levels below
/// /sys/fs/cgroup (hierarchy, parent, container), whatever the runtime.
pub fn cgroups_named(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name() == name {
                out.push(e.path());
            } else if depth > 1 {
                walk(&e.path(), name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), name, 3, &mut out);
    out
}

/// Whether the host has cgroup v2 alone at /sys/fs/cgroup.
pub fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The host directory of cgroup `path` (absolute, as in `linux.cgroupsPath`)
/// for `controller` ("memory", "pids"...; ignored on v2).
pub fn cgroup_dir(controller: &str, path: &str) -> PathBuf {
    let rel = path.trim_start_matches('/');
    if cgroup_v2() {
        Path::new("/sys/fs/cgroup").join(rel)
    } else {
        Path::new("/sys/fs/cgroup").join(controller).join(rel)
    }
}

/// A cgroup file, trimmed; panics if it cannot be read.
#[track_caller]
pub fn cgroup_read(controller: &str, path: &str, file: &str) -> String {
    let p = cgroup_dir(controller, path).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("reading {p:?}: {e}"))
        .trim()
        .to_string()
}

/// Every directory of cgroup `path` on the host (one per v1 hierarchy).
pub fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    if cgroup_v2() {
        return vec![Path::new("/sys/fs/cgroup").join(rel)];
    }
    fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        // Hybrid hosts' empty v2 tree holds no containers.
        .filter(|e| e.file_name() != "unified" && e.path().join("cgroup.procs").exists())
        .map(|e| e.path().join(rel))
        .collect()
}

/// Asserts no directory of cgroup `path` is left on the host.
#[track_caller]
pub fn assert_no_cgroup(path: &str) {
    let left: Vec<_> = cgroup_dirs(path)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    assert!(left.is_empty(), "cgroup {path} left behind: {left:?}");
}

/// PIDs in cgroup.procs of `path` for `controller`.
pub fn cgroup_pids(controller: &str, path: &str) -> Vec<i32> {
    fs::read_to_string(cgroup_dir(controller, path).join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// runc's default capability set, which runtime-tools' generator also puts
/// in all five sets: no CAP_SYS_PTRACE, no CAP_SYS_ADMIN.
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The Cpus_allowed_list of a /proc/PID/status text ("0-1").
pub fn cpus_allowed(status: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}
