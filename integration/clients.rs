//! Real clients with the runtime under test: podman (through conmon),
//! containerd's `ctr` (runc shim v2, the path of Kubernetes' CRI) and docker
//! (dockerd started here with its own data root and socket). They exec the
//! runtime with runc's command line and parse what it prints.
//!
//! Every client gets its own state directories, its own cgroup parent and no
//! network (`--network none`: no bridge, veth or iptables rule on the host),
//! and is torn down at the end of its test: containers removed, daemons
//! stopped, cgroups and directories gone. A client that is not installed is
//! skipped with a message on the terminal (not only in captured output).
//!
//! `HUTCH_TEST_RUNTIME=/usr/sbin/runc` runs the same scenarios with runc, to
//! tell a hutch failure from a limit of the machine (docs/clients.md).

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// A message that reaches the terminal even while the harness captures
/// the test's output.
fn say(msg: &str) {
    if let Ok(mut tty) = fs::OpenOptions::new().write(true).open("/dev/stderr") {
        let _ = writeln!(tty, "{msg}");
    }
}

/// Whether all of `bins` exist; if not, says which test is skipped and why.
fn installed(test: &str, bins: &[&str]) -> bool {
    let missing: Vec<&str> = bins
        .iter()
        .copied()
        .filter(|b| !Path::new(b).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    say(&format!(
        "SKIPPED clients::{test}: {} not installed (hack/test installs them from Debian)",
        missing.join(", ")
    ));
    false
}

/// The runtime under test, absolute (clients exec it from elsewhere).
fn runtime_path() -> PathBuf {
    fs::canonicalize(runtime()).expect("runtime binary")
}

/// The test rootfs as a plain tar (for `podman import`, `docker import`),
/// built once per test binary under target/.
fn rootfs_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/clients");
        fs::create_dir_all(&dir).unwrap();
        let tar = dir.join(format!("busybox-{}.tar", std::process::id()));
        let status = Command::new("tar")
            .arg("-C")
            .arg(rootfs())
            .args(["--owner=0", "--group=0", "-cf"])
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success(), "tar of the rootfs failed");
        tar
    })
}

/// Removes the tar when the test binary's last client is gone; the tar is
/// per process, so a stale one of an earlier run is removed here too.
fn remove_old_tars() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/clients");
    let mine = format!("busybox-{}.tar", std::process::id());
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("busybox-") && name != mine {
            let _ = fs::remove_file(e.path());
        }
    }
}

const IMAGE: &str = "localhost/busybox:test";

/// Runs a client command bounded by `limit`, capturing its output; stdin is
/// an open pipe nobody writes to (a terminal-less client sees no EOF).
fn client(mut cmd: Command, limit: Duration) -> Output {
    let dir = TempDir::new("client-io");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdin(Stdio::piped())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap());
    let what = format!("{cmd:?}");
    let status = run_bounded(&mut cmd, limit);
    Output {
        what,
        status,
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    }
}

const LIMIT: Duration = Duration::from_secs(60);

/// containerd's runc shim (under ctr and under docker) keeps sockets, fifos
/// and runc state in /run/containerd whatever the daemon's own dirs. While
/// a client of this binary is alive it holds one of these; the last one
/// removes /run/containerd if it was not there before the first.
struct RunContainerd;

static RUN_CONTAINERD: std::sync::Mutex<(usize, bool)> = std::sync::Mutex::new((0, false));

impl RunContainerd {
    fn hold() -> RunContainerd {
        let mut g = RUN_CONTAINERD.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            g.1 = Path::new("/run/containerd").exists();
        }
        g.0 += 1;
        RunContainerd
    }
}

impl Drop for RunContainerd {
    fn drop(&mut self) {
        let mut g = RUN_CONTAINERD.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        if g.0 == 0 && !g.1 {
            let run = Path::new("/run/containerd");
            for sub in ["s", "fifo", "runc"] {
                let _ = fs::remove_dir(run.join(sub));
            }
            let _ = fs::remove_dir(run);
        }
    }
}

/// Removes cgroup `rel` (and what is below it) in every hierarchy, waiting
/// for exiting processes (conmon, shims) to leave it.
fn remove_cgroup_tree(rel: &str) {
    let tops: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(rel.trim_start_matches('/')))
        .collect();
    let gone = poll(WAIT, || {
        for top in tops.iter().filter(|t| t.is_dir()) {
            remove_dirs_below(top);
        }
        tops.iter().all(|t| !t.exists())
    });
    if !gone && !std::thread::panicking() {
        panic!("cgroup {rel} still in use after the client stopped");
    }
}

fn remove_dirs_below(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_dirs_below(&e.path());
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Asserts no mount of the host lies under `dir` (a client's state).
#[track_caller]
fn assert_no_mounts_under(dir: &Path) {
    let d = dir.to_string_lossy().into_owned();
    let left: Vec<String> = mountinfo().into_iter().filter(|l| l.contains(&d)).collect();
    assert!(left.is_empty(), "mounts left under {d}: {left:#?}");
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

// ---------------------------------------------------------------------------
// podman

/// One podman with its own storage, run root, tmpdir and cgroup parent.
struct Podman {
    dir: TempDir,
    cgroup_parent: String,
    conf: PathBuf,
}

impl Podman {
    fn new(test: &str) -> Option<Podman> {
        if !installed(test, &["/usr/bin/podman", "/usr/bin/conmon"]) {
            return None;
        }
        let dir = TempDir::new("podman");
        // podman passes --log-format json --log FILE (and shows that file's
        // last error) only to runtimes named in runtime_supports_json.
        let name = runtime_path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let conf = dir.path().join("containers.conf");
        fs::write(
            &conf,
            format!("[engine]\nruntime_supports_json = [\"{name}\", \"runc\", \"crun\"]\n"),
        )
        .unwrap();
        let p = Podman {
            cgroup_parent: format!(
                "/hutch-it-podman-{}",
                dir.path().file_name().unwrap().to_string_lossy()
            ),
            dir,
            conf,
        };
        let out = p.run(&["import", rootfs_tar().to_str().unwrap(), IMAGE]);
        assert!(out.status.success(), "podman import: {out:#?}");
        Some(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new("/usr/bin/podman");
        cmd.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs"])
            // No systemd here: cgroupfs is the only manager that can work.
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .arg("--runtime")
            .arg(runtime_path())
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        client(self.cmd(args), LIMIT)
    }

    /// `podman run ARGS` with the options every container here needs:
    /// no network, our cgroup parent, rlimits this machine allows (root
    /// cannot raise RLIMIT_NOFILE/NPROC above 20000 here, and containers.conf
    /// asks for 1048576).
    fn run_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "run",
            "--network",
            "none",
            "--cgroup-parent",
            &self.cgroup_parent,
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        args.extend_from_slice(extra);
        args
    }

    fn container(&self, extra: &[&str]) -> Output {
        self.run(&self.run_args(extra))
    }

    fn inspect(&self, name: &str, format: &str) -> String {
        self.run(&["inspect", "--format", format, name])
            .ok()
            .stdout
            .trim()
            .to_string()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force", "--time", "0"]);
        remove_cgroup_tree(&self.cgroup_parent);
        if !std::thread::panicking() {
            assert_no_mounts_under(self.dir.path());
        }
        remove_old_tars();
    }
}

#[test]
fn podman_run_rm_with_output_and_exit_codes() {
    let Some(p) = Podman::new("podman_run_rm_with_output_and_exit_codes") else {
        return;
    };
    let out = p
        .container(&["--rm", IMAGE, "echo", "hello from podman"])
        .ok();
    assert_eq!(out.stdout, "hello from podman\n");
    let out = p.container(&["--rm", IMAGE, "sh", "-c", "echo to-stderr >&2; exit 7"]);
    assert_eq!(code(&out), 7, "{out:#?}");
    assert!(out.stderr.contains("to-stderr"), "{out:#?}");
    // A program that is not there: podman shows the runtime's error.
    // podman maps the runtime's error text to 127 and 126, as docker does.
    let out = p.container(&["--rm", IMAGE, "/no/such/program"]);
    assert_eq!(code(&out), 127, "{out:#?}");
    assert!(out.stderr.contains("/no/such/program"), "{out:#?}");
    let out = p.container(&["--rm", IMAGE, "no-such-program"]);
    assert_eq!(code(&out), 127, "{out:#?}");
    let out = p.container(&["--rm", IMAGE, "/etc/passwd"]);
    assert_eq!(code(&out), 126, "{out:#?}");
    let left = p.run(&["ps", "--all", "--quiet"]).ok();
    assert_eq!(left.stdout, "", "--rm left containers");
}

#[test]
fn podman_run_options_reach_the_container() {
    let Some(p) = Podman::new("podman_run_options_reach_the_container") else {
        return;
    };
    let vol = TempDir::new("podman-vol");
    fs::write(vol.path().join("from-host"), "host-data").unwrap();
    let bind = format!("{}:/data", vol.path().display());
    let out = p
        .container(&[
            "--rm",
            "--hostname",
            "podhost",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "--user",
            "1000:1000",
            "-v",
            &bind,
            IMAGE,
            "sh",
            "-c",
            "echo host=$(hostname); echo foo=$FOO; echo cwd=$(pwd); echo id=$(id -u):$(id -g); \
             echo data=$(cat /data/from-host)",
        ])
        .ok();
    for line in [
        "host=podhost",
        "foo=bar",
        "cwd=/tmp",
        "id=1000:1000",
        "data=host-data",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "no {line:?}: {out:#?}"
        );
    }
    // Written inside, seen on the host.
    fs::set_permissions(
        vol.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    p.container(&[
        "--rm",
        "-v",
        &bind,
        IMAGE,
        "sh",
        "-c",
        "echo inside > /data/from-container",
    ])
    .ok();
    assert_eq!(
        fs::read_to_string(vol.path().join("from-container")).unwrap(),
        "inside\n"
    );
    // --read-only: / refuses writes, the tmpfs podman adds (tmpcopyup) take them.
    let out = p.container(&[
        "--rm",
        "--read-only",
        IMAGE,
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo root=rw || echo root=ro; \
         touch /tmp/y && echo tmp=rw; ls /etc/passwd >/dev/null && echo etc=ok",
    ]);
    let out = out.ok();
    for line in ["root=ro", "tmp=rw", "etc=ok"] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "no {line:?}: {out:#?}"
        );
    }
}

#[test]
fn podman_detached_stop_and_rm() {
    let Some(p) = Podman::new("podman_detached_stop_and_rm") else {
        return;
    };
    // A container that exits on SIGTERM: stop returns at once, code 3.
    p.container(&[
        "-d",
        "--name",
        "polite",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got-term; exit 3' TERM; echo up; sleep 1000 & wait",
    ])
    .ok();
    assert!(poll(WAIT, || p
        .run(&["logs", "polite"])
        .stdout
        .contains("up")));
    assert_eq!(p.inspect("polite", "{{.State.Status}}"), "running");
    p.run(&["stop", "--time", "30", "polite"]).ok();
    assert_eq!(p.inspect("polite", "{{.State.ExitCode}}"), "3");
    assert!(p.run(&["logs", "polite"]).stdout.contains("got-term"));
    // One that ignores it (sh as PID 1 without a trap): SIGKILL after the timeout.
    p.container(&["-d", "--name", "stubborn", IMAGE, "sleep", "1000"])
        .ok();
    p.run(&["stop", "--time", "1", "stubborn"]).ok();
    assert_eq!(p.inspect("stubborn", "{{.State.ExitCode}}"), "137");
    p.run(&["rm", "polite", "stubborn"]).ok();
    assert_eq!(p.run(&["ps", "--all", "--quiet"]).ok().stdout, "");
}

#[test]
fn podman_exec_and_top() {
    let Some(p) = Podman::new("podman_exec_and_top") else {
        return;
    };
    p.container(&["-d", "--name", "box", IMAGE, "sleep", "1000"])
        .ok();
    let out = p
        .run(&[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/etc",
            "--user",
            "1000",
            "box",
            "sh",
            "-c",
            "echo x=$X cwd=$(pwd) uid=$(id -u) pid1=$(cat /proc/1/comm)",
        ])
        .ok();
    assert_eq!(out.stdout, "x=1 cwd=/etc uid=1000 pid1=sleep\n");
    let out = p.run(&["exec", "box", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3, "{out:#?}");
    let out = p.run(&["exec", "box", "/no/such/program"]);
    assert_eq!(code(&out), 127, "{out:#?}");
    let out = p.run(&["exec", "box", "/etc/passwd"]);
    assert_eq!(code(&out), 126, "{out:#?}");
    let out = p.run(&["top", "box", "pid", "args"]).ok();
    assert!(
        out.stdout.lines().any(|l| l.contains("sleep 1000")),
        "{out:#?}"
    );
}

#[test]
fn podman_pause_unpause_and_kill_signal() {
    let Some(p) = Podman::new("podman_pause_unpause_and_kill_signal") else {
        return;
    };
    p.container(&[
        "-d",
        "--name",
        "box",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got-usr1' USR1; echo up; while :; do sleep 1 & wait; done",
    ])
    .ok();
    assert!(poll(WAIT, || p.run(&["logs", "box"]).stdout.contains("up")));
    p.run(&["pause", "box"]).ok();
    assert_eq!(p.inspect("box", "{{.State.Status}}"), "paused");
    let pid: i32 = p.inspect("box", "{{.State.Pid}}").parse().unwrap();
    assert_eq!(proc_state(pid), Some('D'), "a paused init is frozen (D)");
    p.run(&["unpause", "box"]).ok();
    assert_eq!(p.inspect("box", "{{.State.Status}}"), "running");
    p.run(&["kill", "--signal", "USR1", "box"]).ok();
    assert!(
        poll(WAIT, || p.run(&["logs", "box"]).stdout.contains("got-usr1")),
        "SIGUSR1 never reached the trap"
    );
    p.run(&["kill", "box"]).ok();
    assert!(poll(WAIT, || p.inspect("box", "{{.State.Status}}") == "exited"));
}

#[test]
fn podman_memory_and_pids_limits_are_applied() {
    let Some(p) = Podman::new("podman_memory_and_pids_limits_are_applied") else {
        return;
    };
    p.container(&[
        "-d",
        "--name",
        "box",
        "--memory",
        "64m",
        "--pids-limit",
        "20",
        IMAGE,
        "sleep",
        "1000",
    ])
    .ok();
    let pid = p.inspect("box", "{{.State.Pid}}");
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path_of = |controller: &str| -> String {
        cgroup
            .lines()
            .find_map(|l| {
                let mut f = l.splitn(3, ':');
                let (_, c, p) = (f.next()?, f.next()?, f.next()?);
                c.split(',').any(|x| x == controller).then(|| p.to_string())
            })
            .unwrap_or_else(|| panic!("no {controller} in {cgroup}"))
    };
    let mem = path_of("memory");
    assert!(
        mem.starts_with(&p.cgroup_parent),
        "{mem} is not under {}",
        p.cgroup_parent
    );
    assert_eq!(
        cgroup_read("memory", &mem, "memory.limit_in_bytes"),
        (64 << 20).to_string()
    );
    assert_eq!(cgroup_read("pids", &path_of("pids"), "pids.max"), "20");
    // Enforced: no room for 30 more processes.
    let out = p.run(&[
        "exec",
        "box",
        "sh",
        "-c",
        "for i in $(seq 30); do sleep 100 & done; echo started",
    ]);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        all.contains("can't fork"),
        "30 processes fit under pids-limit 20: {out:#?}"
    );
}

#[test]
fn podman_run_it_through_a_terminal() {
    let Some(p) = Podman::new("podman_run_it_through_a_terminal") else {
        return;
    };
    if !installed("podman_run_it_through_a_terminal", &["/usr/bin/script"]) {
        return;
    }
    // podman sends the window size to conmon, which sets it on the pty,
    // while the container starts: once in a loaded CI run `stty size` ran
    // first and saw 0x0 (busybox then fails). That ordering is the
    // clients'; wait (up to 5 s) for the size conmon sets, then print it.
    let script = "tty; i=0; until stty size >/dev/null 2>&1 || [ $i -ge 50 ]; \
                  do sleep 0.1; i=$((i+1)); done; stty size; exit 5";
    let args = p.run_args(&["--rm", "-it", IMAGE, "sh", "-c", script]);
    let line = p.cmd(&args);
    let mut shell = format!("stty rows 25 cols 90; exec {:?}", line.get_program());
    for a in line.get_args() {
        shell.push_str(&format!(" '{}'", a.to_string_lossy()));
    }
    let mut cmd = Command::new("/usr/bin/script");
    cmd.env("CONTAINERS_CONF", &p.conf)
        .args(["-qec", &shell, "/dev/null"]);
    let out = client(cmd, LIMIT);
    assert_eq!(code(&out), 5, "{out:#?}");
    assert!(out.stdout.contains("/dev/pts/0"), "{out:#?}");
    assert!(
        out.stdout.contains("25 90"),
        "terminal size not passed: {out:#?}"
    );
}

/// The host's limit, shown rather than hidden: containers.conf asks for
/// RLIMIT_NOFILE 1048576, which root cannot raise to on this machine
/// (hard limit 20000, no CAP_SYS_RESOURCE); runc fails the same way.
#[test]
fn podman_default_rlimits_need_a_host_that_allows_them() {
    let Some(p) = Podman::new("podman_default_rlimits_need_a_host_that_allows_them") else {
        return;
    };
    let hard = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard: u64 = String::from_utf8_lossy(&hard.stdout)
        .trim()
        .parse()
        .unwrap_or(u64::MAX);
    let out = p.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--cgroup-parent",
        &p.cgroup_parent,
        IMAGE,
        "true",
    ]);
    if hard >= 1048576 {
        assert!(out.status.success(), "{out:#?}");
        return;
    }
    say(&format!(
        "NOTE clients::podman_default_rlimits: this host caps RLIMIT_NOFILE at {hard}; \
         podman's default 1048576 fails (use --ulimit nofile=1024:1024, see docs/clients.md)"
    ));
    assert!(!out.status.success(), "{out:#?}");
    assert!(
        out.stderr.contains("RLIMIT_NOFILE") || out.stderr.contains("rlimit"),
        "{out:#?}"
    );
}

// ---------------------------------------------------------------------------
// containerd and ctr

/// A containerd of our own (own root, state, socket), stopped on drop.
struct Containerd {
    dir: TempDir,
    daemon: std::process::Child,
    namespace: String,
    _run: RunContainerd,
}

impl Containerd {
    fn new(test: &str) -> Option<Containerd> {
        let bins = [
            "/usr/bin/containerd",
            "/usr/bin/ctr",
            "/usr/bin/containerd-shim-runc-v2",
        ];
        if !installed(test, &bins) {
            return None;
        }
        let dir = TempDir::new("containerd");
        let d = dir.path();
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{sock}\"\n[ttrpc]\n  address = \"{sock}.ttrpc\"\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = d.join("containerd.sock").display(),
        );
        fs::write(d.join("config.toml"), config).unwrap();
        let log = fs::File::create(d.join("containerd.log")).unwrap();
        let daemon = Command::new("/usr/bin/containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let c = Containerd {
            namespace: format!("hutch-it-{}", d.file_name().unwrap().to_string_lossy()),
            dir,
            daemon,
            _run: RunContainerd::hold(),
        };
        let up = poll(Duration::from_secs(20), || {
            c.ctr(&["version"]).status.success()
        });
        assert!(up, "containerd did not come up: {}", c.log());
        let archive = oci_archive(c.dir.path());
        c.ctr(&["image", "import", archive.to_str().unwrap()]).ok();
        Some(c)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("containerd.log")).unwrap_or_default()
    }

    fn ctr(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("/usr/bin/ctr");
        cmd.arg("--address")
            .arg(self.dir.path().join("containerd.sock"))
            .args(["--namespace", &self.namespace])
            .args(args);
        client(cmd, LIMIT)
    }

    /// `ctr run --runc-binary RUNTIME ARGS...`
    fn run(&self, args: &[&str]) -> Output {
        let rt = runtime_path();
        let mut full = vec!["run", "--runc-binary", rt.to_str().unwrap()];
        full.extend_from_slice(args);
        self.ctr(&full)
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let tasks = self.ctr(&["task", "ls", "--quiet"]).stdout;
        for t in tasks.lines() {
            let _ = self.ctr(&["task", "kill", "--signal", "KILL", t]);
            poll(WAIT, || self.ctr(&["task", "rm", t]).status.success());
        }
        for c in self.ctr(&["container", "ls", "--quiet"]).stdout.lines() {
            let _ = self.ctr(&["container", "rm", c]);
        }
        let _ = self.ctr(&["image", "rm", IMAGE]);
        let _ = self.ctr(&["namespace", "rm", &self.namespace]);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.daemon.wait();
        // The runc shim keeps runtime state here, whatever containerd's root.
        let _ = fs::remove_dir(Path::new("/run/containerd/runc").join(&self.namespace));
        // ctr's default cgroupsPath is /NAMESPACE/ID.
        remove_cgroup_tree(&self.namespace);
        if !std::thread::panicking() {
            assert_no_mounts_under(self.dir.path());
        }
        remove_old_tars();
    }
}

/// An OCI image archive of the test rootfs (one uncompressed layer), for
/// `ctr image import`, written under `dir`.
fn oci_archive(dir: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let layout = dir.join("oci");
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| -> (String, usize) {
        let digest = format!("{:x}", Sha256::digest(bytes));
        fs::write(blobs.join(&digest), bytes).unwrap();
        (format!("sha256:{digest}"), bytes.len())
    };
    let layer = fs::read(rootfs_tar()).unwrap();
    let (layer_digest, layer_size) = put(&layer);
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": { "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"] },
        "rootfs": { "type": "layers", "diff_ids": [layer_digest] },
    });
    let (config_digest, config_size) = put(config.to_string().as_bytes());
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config_digest, "size": config_size },
        "layers": [{ "mediaType": "application/vnd.oci.image.layer.v1.tar",
                     "digest": layer_digest, "size": layer_size }],
    });
    let (manifest_digest, manifest_size) = put(manifest.to_string().as_bytes());
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": manifest_size,
            "platform": { "architecture": "amd64", "os": "linux" },
            "annotations": { "io.containerd.image.name": IMAGE,
                             "org.opencontainers.image.ref.name": "test" },
        }],
    });
    fs::write(layout.join("index.json"), index.to_string()).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let archive = dir.join("image.tar");
    let status = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    archive
}

// CTR_OUTPUT_RACE: ctr (containerd 1.6) opens its end of each output fifo
// in a goroutine (containerd/fifo with O_NONBLOCK) and, once the process has
// exited, cancels that open if the goroutine has not yet recorded it; what
// the process wrote is then dropped. A process that prints and exits within
// milliseconds lost its output now and then on a loaded machine: 2 of 10
// runs with hutch under a CPU hog, 0 of 10 with runc, which takes longer to
// start the process and so leaves ctr's goroutine more time. The exit code
// always arrived. As far as we can tell this is ctr's race, not the
// runtime's, so these tests let the process live a moment before it exits.
#[test]
fn ctr_run_rm_with_output_and_exit_code() {
    let Some(c) = Containerd::new("ctr_run_rm_with_output_and_exit_code") else {
        return;
    };
    let out = c.run(&[
        "--rm",
        IMAGE,
        "t1",
        "sh",
        "-c",
        // The sleep: see CTR_OUTPUT_RACE.
        "echo hello from ctr; sleep 0.3; exit 4",
    ]);
    assert_eq!(code(&out), 4, "{out:#?}");
    assert_eq!(out.stdout, "hello from ctr\n", "{out:#?}");
    assert_eq!(
        c.ctr(&["container", "ls", "--quiet"]).ok().stdout,
        "",
        "--rm left it"
    );
}

#[test]
fn ctr_task_exec_and_kill() {
    let Some(c) = Containerd::new("ctr_task_exec_and_kill") else {
        return;
    };
    c.run(&["--detach", IMAGE, "t2", "sleep", "1000"]).ok();
    let out = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        "t2",
        "sh",
        "-c",
        // The sleep: see CTR_OUTPUT_RACE.
        "echo exec-ok; sleep 0.3; exit 2",
    ]);
    assert_eq!(code(&out), 2, "{out:#?}");
    assert_eq!(out.stdout, "exec-ok\n", "{out:#?}");
    // ctr task ls: "t2  PID  RUNNING"
    let status = |c: &Containerd| {
        c.ctr(&["task", "ls"])
            .stdout
            .lines()
            .find(|l| l.starts_with("t2 "))
            .map(|l| l.split_whitespace().last().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(status(&c), "RUNNING");
    c.ctr(&["task", "kill", "--signal", "KILL", "t2"]).ok();
    assert!(poll(WAIT, || status(&c) == "STOPPED"), "task never stopped");
    c.ctr(&["task", "rm", "t2"]).ok();
    c.ctr(&["container", "rm", "t2"]).ok();
}

// ---------------------------------------------------------------------------
// docker

/// A dockerd of our own (own data root, exec root, socket; no bridge, no
/// iptables), with the runtime under test added as "hutch"; stopped on drop.
struct Docker {
    dir: TempDir,
    daemon: std::process::Child,
    cgroup_parent: String,
    _run: RunContainerd,
}

impl Docker {
    fn new(test: &str) -> Option<Docker> {
        if !installed(test, &["/usr/sbin/dockerd", "/usr/bin/docker"]) {
            return None;
        }
        let dir = TempDir::new("docker");
        let d = dir.path();
        fs::write(d.join("daemon.json"), "{}").unwrap();
        let cgroup_parent = format!(
            "/hutch-it-docker-{}",
            d.file_name().unwrap().to_string_lossy()
        );
        let log = fs::File::create(d.join("dockerd.log")).unwrap();
        let daemon = Command::new("/usr/sbin/dockerd")
            .arg("--data-root")
            .arg(d.join("root"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--host")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .args(["--storage-driver", "vfs"])
            .args(["--cgroup-parent", &cgroup_parent])
            .arg("--add-runtime")
            .arg(format!("hutch={}", runtime_path().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let dk = Docker {
            dir,
            daemon,
            cgroup_parent,
            _run: RunContainerd::hold(),
        };
        let up = poll(Duration::from_secs(30), || {
            dk.docker(&["version"]).status.success()
        });
        assert!(up, "dockerd did not come up: {}", dk.log());
        dk.docker(&["import", rootfs_tar().to_str().unwrap(), IMAGE])
            .ok();
        Some(dk)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("/usr/bin/docker");
        cmd.env("DOCKER_CONFIG", self.dir.path().join("client"))
            .arg("--host")
            .arg(format!(
                "unix://{}",
                self.dir.path().join("docker.sock").display()
            ))
            .args(args);
        client(cmd, LIMIT)
    }

    /// `docker run --runtime hutch --network none ARGS...`
    fn run(&self, args: &[&str]) -> Output {
        let mut full = vec!["run", "--runtime", "hutch", "--network", "none"];
        full.extend_from_slice(args);
        self.docker(&full)
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "--all", "--quiet"]).stdout;
        for id in ids.lines() {
            let _ = self.docker(&["rm", "--force", id]);
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.daemon.wait();
        remove_cgroup_tree(&self.cgroup_parent);
        if !std::thread::panicking() {
            assert_no_mounts_under(self.dir.path());
        }
        remove_old_tars();
    }
}

#[test]
fn docker_run_exec_and_stop() {
    let Some(d) = Docker::new("docker_run_exec_and_stop") else {
        return;
    };
    let out = d.run(&["--rm", IMAGE, "sh", "-c", "echo hello from docker; exit 6"]);
    assert_eq!(code(&out), 6, "{out:#?}");
    assert_eq!(out.stdout, "hello from docker\n");
    // docker maps the runtime's error text to 127 and 126.
    let out = d.run(&["--rm", IMAGE, "/no/such/program"]);
    assert_eq!(code(&out), 127, "{out:#?}");
    let out = d.run(&["--rm", IMAGE, "/etc/passwd"]);
    assert_eq!(code(&out), 126, "{out:#?}");

    d.run(&["--detach", "--name", "box", IMAGE, "sleep", "1000"])
        .ok();
    let out = d.docker(&[
        "exec",
        "box",
        "sh",
        "-c",
        "echo exec-ok $(cat /proc/1/comm); exit 2",
    ]);
    assert_eq!(code(&out), 2, "{out:#?}");
    assert_eq!(out.stdout, "exec-ok sleep\n");
    d.docker(&["stop", "--time", "1", "box"]).ok();
    let out = d
        .docker(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "box",
        ])
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "exited 137",
        "sleep ignores SIGTERM: killed after 1s"
    );
    d.docker(&["rm", "box"]).ok();
}
