//! `run`, `exec`, terminals, fd passing and JSON logs, against real
//! containers, observed from inside the container and from the host.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

/// Script that prints `ready` and idles with sh as the init.
const IDLE: &str = "echo ready; while :; do sleep 1000; done";

/// The exit code of `hutch run`/`exec` (panics if it was killed itself).
#[track_caller]
fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("runtime killed by {:?}: {out:#?}", out.status.signal()))
}

/// `hutch run` of `config` with a fresh ID; output captured.
fn run(env: &Env, config: &Value, extra: &[&str]) -> (String, Output) {
    let bundle = Bundle::new(config);
    let id = env.id();
    let mut args = vec!["run", "--bundle", bundle.arg()];
    args.extend_from_slice(extra);
    args.push(&id);
    let out = env.run(&args);
    (id, out)
}

/// Makes `fds` (target fd, file) the child's fds at exec, without
/// close-on-exec, as a client passing them would.
fn with_fds(cmd: &mut Command, fds: Vec<(i32, File)>) {
    // SAFETY: only dup2 (async-signal-safe) runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for (target, f) in &fds {
                // dup2 onto itself is a no-op that keeps close-on-exec.
                let r = if f.as_raw_fd() == *target {
                    libc::fcntl(*target, libc::F_SETFD, 0)
                } else {
                    libc::dup2(f.as_raw_fd(), *target)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

fn file_with(text: &str) -> (TempDir, File) {
    let dir = TempDir::new("fdfile");
    let p = dir.path().join("f");
    fs::write(&p, text).unwrap();
    let f = File::open(&p).unwrap();
    (dir, f)
}

// ---------------------------------------------------------------------------
// run

#[test]
fn run_exits_with_the_containers_code_and_removes_its_state() {
    let env = Env::new("runcode");
    let (id, out) = run(&env, &sh("echo hello-from-run"), &[]);
    assert_eq!(code(&out), 0, "{out:#?}");
    assert_eq!(out.stdout, "hello-from-run\n", "{out:#?}");
    env.assert_gone(&id);

    let (id, out) = run(&env, &sh("exit 7"), &[]);
    assert_eq!(code(&out), 7, "{out:#?}");
    env.assert_gone(&id);

    // Killed from outside: the init of a PID namespace is immune to
    // SIGKILL from inside it.
    let dir = TempDir::new("runkill");
    let out_file = dir.path().join("out");
    let bundle = Bundle::new(&sh(IDLE));
    let id = env.id();
    let mut cmd = env.command(&["run", "--bundle", bundle.arg(), &id]);
    cmd.stdout(File::create(&out_file).unwrap());
    let mut child = cmd.spawn().unwrap();
    assert!(poll(WAIT, || fs::read_to_string(&out_file)
        .unwrap_or_default()
        .contains("ready")));
    env.kill(&id, Some("KILL")).ok();
    let status = wait_child(&mut child, "hutch run after kill KILL");
    assert_eq!(status.code(), Some(128 + 9), "killed by SIGKILL");
    env.assert_gone(&id);
}

/// With hooks at start, `run` starts the way `start` does: the poststart hook
/// runs once the program is running, and sees the state say so.
#[test]
fn run_runs_the_poststart_hook_on_the_running_container() {
    let env = Env::new("runhook");
    let dir = TempDir::new("runhook");
    let seen = dir.path().join("poststart.json");
    let mut config = sh("echo program-ran");
    config["hooks"] = json!({
        "poststart": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {}", seen.display())]
        }]
    });
    let (id, out) = run(&env, &config, &[]);
    assert_eq!(code(&out), 0, "{out:#?}");
    assert_eq!(out.stdout, "program-ran\n", "{out:#?}");
    let st: Value = serde_json::from_str(&fs::read_to_string(&seen).unwrap()).unwrap();
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "running", "{st}");
    env.assert_gone(&id);
}

/// Waits `WAIT` for `child` to exit; kills it and panics if it does not.
#[track_caller]
fn wait_child(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let mut status = None;
    poll(WAIT, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what}: did not exit");
    })
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let env = Env::new("runkeep");
    let (id, out) = run(&env, &sh("exit 3"), &["--keep"]);
    assert_eq!(code(&out), 3, "{out:#?}");
    assert_eq!(env.status(&id), "stopped");
    env.delete(&id).ok();
    env.assert_gone(&id);
}

#[test]
fn run_detach_returns_with_the_container_running() {
    let env = Env::new("rundetach");
    let bundle = Bundle::new(&sh(IDLE));
    let id = env.id();
    let c = TempDir::new("detach-out");
    let out_file = c.path().join("out");
    let out = run_runtime(
        Some(env.root()),
        &["run", "--detach", "--bundle", bundle.arg(), &id],
        None,
        Out::File(&out_file),
    )
    .ok();
    assert!(out.stderr.is_empty(), "{out:#?}");
    assert_eq!(env.status(&id), "running");
    assert!(poll(WAIT, || fs::read_to_string(&out_file)
        .unwrap_or_default()
        .contains("ready")));
    let pid = env.pid(&id);
    assert!(alive(pid));
    env.kill(&id, Some("KILL")).ok();
    env.wait_status(&id, "stopped");
    env.delete(&id).ok();
    env.assert_gone(&id);
}

#[test]
fn run_forwards_signals_to_the_container() {
    let env = Env::new("runsig");
    let dir = TempDir::new("runsig");
    let out_file = dir.path().join("out");
    let bundle = Bundle::new(&sh(
        "trap 'echo got-usr1; exit 42' USR1; echo ready; sleep 1000 & wait",
    ));
    let id = env.id();
    let mut cmd = env.command(&["run", "--bundle", bundle.arg(), &id]);
    cmd.stdout(File::create(&out_file).unwrap())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().unwrap();
    let ready = poll(WAIT, || {
        fs::read_to_string(&out_file)
            .unwrap_or_default()
            .contains("ready")
    });
    assert!(ready, "container never got ready");
    // Started in the message that let the init go on: no exec fifo left.
    assert_eq!(env.status(&id), "running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let status = wait_child(&mut child, "hutch run did not exit after SIGUSR1");
    let out = fs::read_to_string(&out_file).unwrap();
    assert_eq!(status.code(), Some(42), "output {out:?}");
    assert!(out.contains("got-usr1"), "trap did not run: {out:?}");
    env.assert_gone(&id);
}

// ---------------------------------------------------------------------------
// exec

const NS_KINDS: [&str; 8] = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"];

#[test]
fn exec_joins_every_namespace_of_the_container() {
    let env = Env::new("execns");
    let mut config = sh(IDLE);
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "cgroup" }));
    let (c, _b) = env.run_container(&config);
    c.wait_line("ready");
    let init = env.pid(&c.id).to_string();
    let script = NS_KINDS
        .iter()
        .map(|k| format!("echo {k}=$(readlink /proc/self/ns/{k})"))
        .collect::<Vec<_>>()
        .join("; ");
    let out = env.run(&["exec", &c.id, "sh", "-c", &script]).ok();
    for kind in NS_KINDS {
        let inside = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{kind}=")))
            .unwrap_or_else(|| panic!("no {kind} in {out:#?}"));
        assert_eq!(
            inside,
            ns(&init, kind),
            "exec's {kind} namespace is not the init's"
        );
    }
    // The container's own namespaces really are not the host's.
    for kind in ["cgroup", "ipc", "mnt", "net", "pid", "uts"] {
        assert_ne!(ns(&init, kind), ns("self", kind), "{kind}");
    }
    // And the exec'd process is in the container's PID namespace.
    let out = env
        .run(&["exec", &c.id, "sh", "-c", "echo $$; cat /proc/1/comm"])
        .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.get(1), Some(&"sh"), "{out:#?}");
    assert!(lines[0].parse::<u32>().unwrap() < 100, "{out:#?}");
}

#[test]
fn exec_exits_with_the_process_code() {
    let env = Env::new("execcode");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let out = env.run(&["exec", &c.id, "sh", "-c", "echo out; exit 5"]);
    assert_eq!(code(&out), 5, "{out:#?}");
    assert_eq!(out.stdout, "out\n");
    let out = env.run(&["exec", &c.id, "sh", "-c", "kill -9 $$"]);
    assert_eq!(code(&out), 128 + 9, "{out:#?}");
    let out = env.run(&["exec", &c.id, "true"]);
    assert_eq!(code(&out), 0, "{out:#?}");
    let out = env.run(&["exec", &c.id, "sh", "-c", "exit 1"]);
    assert_eq!(code(&out), 1, "{out:#?}");
    // What never started exits 255, as runc's exec: not a code the process
    // could have given.
    let out = env.run(&["exec", &c.id, "/no/such/program"]);
    assert_eq!(code(&out), 255, "{out:#?}");
    out.fails_with(&["/no/such/program", "no such file or directory"]);
    // The init is untouched by it all.
    assert_eq!(env.status(&c.id), "running");
}

#[test]
fn exec_user_cwd_env_and_caps() {
    let env = Env::new("execopts");
    let mut config = sh(IDLE);
    let chown = json!(["CAP_CHOWN"]);
    config["process"]["capabilities"] = json!({
        "bounding": chown, "effective": chown, "permitted": chown, "inheritable": chown,
    });
    config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("FOO=from-config"));
    let (c, _b) = env.run_container(&config);
    c.wait_line("ready");
    let report = "echo id=$(id -u):$(id -g); echo cwd=$(pwd); echo foo=$FOO; echo bar=$BAR; \
                  echo capeff=$(grep CapEff /proc/self/status | cut -f2)";
    let value = |out: &Output, key: &str| -> String {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {out:#?}"))
            .to_string()
    };
    // Defaults: the config's process.
    let out = env.run(&["exec", &c.id, "sh", "-c", report]).ok();
    assert_eq!(value(&out, "id"), "0:0");
    assert_eq!(value(&out, "cwd"), "/");
    assert_eq!(value(&out, "foo"), "from-config");
    assert_eq!(value(&out, "capeff"), "0000000000000001");

    let out = env
        .run(&[
            "exec",
            "--user",
            "1000:1001",
            "--cwd",
            "/tmp",
            "--env",
            "FOO=over",
            "--env",
            "BAR=new",
            &c.id,
            "sh",
            "-c",
            report,
        ])
        .ok();
    assert_eq!(value(&out, "id"), "1000:1001");
    assert_eq!(value(&out, "cwd"), "/tmp");
    assert_eq!(value(&out, "foo"), "over");
    assert_eq!(value(&out, "bar"), "new");
    assert_eq!(
        value(&out, "capeff"),
        "0000000000000000",
        "non-root keeps no caps"
    );

    // --cap adds to the config's sets (CAP_NET_ADMIN is bit 12).
    let out = env
        .run(&["exec", "--cap", "CAP_NET_ADMIN", &c.id, "sh", "-c", report])
        .ok();
    assert_eq!(value(&out, "capeff"), "0000000000001001");

    env.run(&["exec", "--user", "x", &c.id, "true"])
        .fails_with(&["--user", "uid"]);
    env.run(&["exec", "--cap", "CAP_NOPE", &c.id, "true"])
        .fails_with(&["CAP_NOPE"]);
}

#[test]
fn exec_process_file() {
    let env = Env::new("execproc");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let dir = TempDir::new("process");
    let file = dir.path().join("process.json");
    fs::write(
        &file,
        json!({
            "terminal": false,
            "user": { "uid": 123, "gid": 456 },
            "args": ["sh", "-c", "echo $(id -u):$(id -g) $(pwd) $HELLO; exit 9"],
            "env": ["PATH=/bin:/sbin", "HELLO=world"],
            "cwd": "/etc"
        })
        .to_string(),
    )
    .unwrap();
    let out = env.run(&["exec", "--process", file.to_str().unwrap(), &c.id]);
    assert_eq!(code(&out), 9, "{out:#?}");
    assert_eq!(out.stdout, "123:456 /etc world\n");

    fs::write(&file, r#"{"cwd": "/", "args": 3}"#).unwrap();
    let out = env.run(&["exec", "--process", file.to_str().unwrap(), &c.id]);
    assert!(!out.status.success());
}

#[test]
fn exec_detach_writes_the_pid_file() {
    let env = Env::new("execdetach");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let dir = TempDir::new("pidfile");
    let pid_file = dir.path().join("exec.pid");
    let out = run_runtime(
        Some(env.root()),
        &[
            "exec",
            "-d",
            "--pid-file",
            pid_file.to_str().unwrap(),
            &c.id,
            "sh",
            "-c",
            "echo exec-started; sleep 1000",
        ],
        None,
        Out::File(&c.out),
    )
    .ok();
    assert!(out.stderr.is_empty(), "{out:#?}");
    c.wait_line("exec-started");
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid), "pid file names no live process: {pid}");
    let init = env.pid(&c.id).to_string();
    assert_eq!(ns(&pid.to_string(), "pid"), ns(&init, "pid"));
    assert_eq!(ns(&pid.to_string(), "mnt"), ns(&init, "mnt"));
    env.delete_force(&c.id).ok();
    assert!(
        poll(WAIT, || !alive(pid)),
        "exec'd process outlived the container"
    );
}

/// runc's `exec --ignore-paused`: the exec into a frozen container goes on
/// (its process runs once the container is resumed); without it, refused.
#[test]
fn exec_ignore_paused_runs_once_the_container_is_resumed() {
    let env = Env::new("execpaused");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    env.run(&["pause", &c.id]).ok();
    env.run(&["exec", &c.id, "true"])
        .fails_with(&["paused", "--ignore-paused"]);
    let exec = {
        let (root, id) = (env.root().to_path_buf(), c.id.clone());
        std::thread::spawn(move || {
            let args = [
                "exec",
                "--ignore-paused",
                &id,
                "sh",
                "-c",
                "echo ran; exit 3",
            ];
            run_runtime(Some(&root), &args, None, Out::Capture)
        })
    };
    env.run(&["resume", &c.id]).ok();
    let out = exec.join().unwrap();
    assert_eq!(code(&out), 3, "{out:#?}");
    assert_eq!(out.stdout, "ran\n");
    assert_eq!(env.status(&c.id), "running");
}

/// AppArmor and SELinux labels hutch cannot apply are refused for an exec'd
/// process too, whether from --process or from runc's --apparmor and
/// --process-label: never a process run without the confinement asked for.
#[test]
fn exec_refuses_apparmor_and_selinux_labels() {
    let env = Env::new("execlabels");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let dir = TempDir::new("labels");
    let file = dir.path().join("process.json");
    let marker = "/dev/shm/exec-ran";
    let mut process = json!({
        "user": { "uid": 0, "gid": 0 },
        "args": ["touch", marker],
        "cwd": "/",
        "apparmorProfile": "hutch-test-profile",
    });
    fs::write(&file, process.to_string()).unwrap();
    env.run(&["exec", "--process", file.to_str().unwrap(), &c.id])
        .fails_with(&["apparmorProfile"]);
    process.as_object_mut().unwrap().remove("apparmorProfile");
    process["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
    fs::write(&file, process.to_string()).unwrap();
    env.run(&["exec", "--process", file.to_str().unwrap(), &c.id])
        .fails_with(&["selinuxLabel"]);
    env.run(&[
        "exec",
        "--apparmor",
        "hutch-test-profile",
        &c.id,
        "touch",
        marker,
    ])
    .fails_with(&["apparmor"]);
    env.run(&[
        "exec",
        "--process-label",
        "system_u:system_r:container_t:s0",
        &c.id,
        "touch",
        marker,
    ])
    .fails_with(&["selinux"]);
    let ran = env.run(&["exec", &c.id, "test", "-e", marker]);
    assert_eq!(code(&ran), 1, "a refused exec ran: {ran:#?}");
}

#[test]
fn exec_into_a_stopped_or_missing_container_fails_clearly() {
    let env = Env::new("execstopped");
    let (c, _b) = env.run_container(&sh("exit 0"));
    env.wait_status(&c.id, "stopped");
    let out = env.run(&["exec", &c.id, "true"]);
    assert_eq!(code(&out), 255, "{out:#?}");
    out.fails_with(&[&c.id, "stopped|not running"]);
    let out = env.run(&["exec", "no-such-container", "true"]);
    assert_eq!(code(&out), 255, "{out:#?}");
    out.fails_with(&["no-such-container", "does not exist"]);
}

// ---------------------------------------------------------------------------
// File descriptors

/// The open fds of `pid`, as the host sees them.
fn host_fds(pid: i32) -> Vec<i32> {
    let mut fds: Vec<i32> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    fds.sort();
    fds
}

/// Creates and starts `config` with `fds` passed to `create`; returns the
/// container once it printed `ready`.
fn create_with_fds(
    env: &Env,
    config: &Value,
    extra: &[&str],
    fds: Vec<(i32, File)>,
) -> (Container, Bundle) {
    let bundle = Bundle::new(config);
    let c = Container::new(&env.id());
    let mut args = vec!["create", "--bundle", bundle.arg()];
    args.extend_from_slice(extra);
    args.push(&c.id);
    let mut cmd = env.command(&args);
    with_fds(&mut cmd, fds);
    capture(cmd, Out::File(&c.out)).ok();
    env.start(&c.id).ok();
    c.wait_line("ready");
    (c, bundle)
}

#[test]
fn preserve_fds_passes_fd_3_and_nothing_else() {
    let env = Env::new("preserve");
    let config = sh(&format!("echo fd3=$(cat <&3); {IDLE}"));
    let (_d, secret) = file_with("the-secret");
    let (c, _b) = create_with_fds(&env, &config, &["--preserve-fds", "1"], vec![(3, secret)]);
    assert_eq!(c.value("fd3"), "the-secret");
    assert_eq!(host_fds(env.pid(&c.id)), [0, 1, 2, 3]);

    // The same fd 3, not asked for: it stays outside.
    let (_d, secret) = file_with("the-secret");
    let (c, _b) = create_with_fds(&env, &config, &[], vec![(3, secret)]);
    assert_eq!(c.value("fd3"), "");
    assert_eq!(host_fds(env.pid(&c.id)), [0, 1, 2]);
}

#[test]
fn no_host_fd_leaks_into_the_container() {
    let env = Env::new("fdleak");
    // fds 3, 5 and 9 open without close-on-exec in the runtime's caller.
    let strays = || {
        [3, 5, 9]
            .into_iter()
            .map(|fd| (fd, file_with("x").1))
            .collect()
    };
    let (c, _b) = create_with_fds(&env, &sh(IDLE), &[], strays());
    assert_eq!(
        host_fds(env.pid(&c.id)),
        [0, 1, 2],
        "the init has foreign fds"
    );
    let inside = env.run(&["exec", &c.id, "ls", "/proc/1/fd"]).ok().stdout;
    assert_eq!(
        inside.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2"]
    );

    let dir = TempDir::new("fdleak");
    let pid_file = dir.path().join("pid");
    let args = [
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &c.id,
        "sleep",
        "1000",
    ];
    let mut cmd = env.command(&args);
    with_fds(&mut cmd, strays());
    capture(cmd, Out::File(&c.out)).ok();
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(
        host_fds(pid),
        [0, 1, 2],
        "an exec'd process has foreign fds"
    );
}

// ---------------------------------------------------------------------------
// Terminals

fn terminal_spec(args: &[&str]) -> Value {
    let mut config = spec(args);
    config["process"]["terminal"] = json!(true);
    config["process"]["consoleSize"] = json!({ "height": 33, "width": 101 });
    config
}

/// Writes `input` to the master and reads until `until` shows up.
fn talk(master: &std::os::fd::OwnedFd, input: &str, until: &str) -> String {
    let mut f = File::from(master.try_clone().unwrap());
    f.write_all(input.as_bytes()).unwrap();
    read_pty_until(master, |s| s.contains(until))
}

/// As the clients do it: create with --console-socket, then start.
#[test]
fn create_with_a_terminal_over_the_console_socket() {
    let env = Env::new("tty");
    let console = ConsoleSocket::new();
    let bundle = Bundle::new(&terminal_spec(&["sh"]));
    let c = Container::new(&env.id());
    env.create_args(
        &[
            "--console-socket",
            console.arg(),
            "--bundle",
            bundle.arg(),
            &c.id,
        ],
        None,
        &c.out,
    )
    .ok();
    let master = console.recv_master();
    env.start(&c.id).ok();
    let seen = talk(
        &master,
        "echo T=$(tty); echo S=$(stty size); \
         echo CONS=$(awk '$5==\"/dev/console\"{print $4}' /proc/self/mountinfo); echo DONE=$((40+2))\n",
        "DONE=42",
    );
    assert!(seen.contains("T=/dev/pts/0"), "tty inside: {seen:?}");
    // config-linux.md: the pty is bind-mounted on /dev/console.
    assert!(seen.contains("CONS=/0"), "/dev/console: {seen:?}");
    assert!(
        seen.contains("S=33 101"),
        "consoleSize not applied: {seen:?}"
    );
    assert!(!seen.contains('\0'), "NUL bytes on the terminal: {seen:?}");
    assert_eq!(c.output(), "", "the terminal's output went elsewhere too");
    let _ = talk(&master, "exit 4\n", "never");
    env.wait_status(&c.id, "stopped");
}

#[test]
fn exec_with_a_terminal() {
    let env = Env::new("exectty");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let console = ConsoleSocket::new();
    let dir = TempDir::new("exectty");
    let pid_file = dir.path().join("pid");
    let mut cmd = env.command(&[
        "exec",
        "--detach",
        "--tty",
        "--console-socket",
        console.arg(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &c.id,
        "sh",
    ]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let master = console.recv_master();
    let status = wait_child(&mut child, "hutch exec --detach --tty");
    assert!(status.success());
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let seen = talk(&master, "echo T=$(tty) DONE=$((40+2))\n", "DONE=42");
    assert!(seen.contains("T=/dev/pts/"), "{seen:?}");
    let _ = talk(&master, "exit 6\n", "never");
    assert!(poll(WAIT, || !alive(pid)), "exec'd shell did not exit");

    // A detached terminal without a socket has no one to go to.
    env.run(&["exec", "--detach", "--tty", &c.id, "true"])
        .fails_with(&["--console-socket"]);
}

/// Without --console-socket, a foreground `run` keeps the terminal and
/// copies between it and its own stdio, as `runc run` does.
#[test]
fn run_in_the_foreground_proxies_its_own_terminal() {
    let env = Env::new("runtty");
    let bundle = Bundle::new(&terminal_spec(&["sh"]));
    let id = env.id();
    let mut cmd = env.command(&["run", "--bundle", bundle.arg(), &id]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"echo T=$(tty) S=$(stty size); \
              echo CONS=$(awk '$5==\"/dev/console\"{print $4}' /proc/self/mountinfo); exit 7\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let seen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert!(seen.contains("T=/dev/pts/0"), "{seen:?}");
    // Our stdin is a pipe, so consoleSize holds.
    assert!(seen.contains("S=33 101"), "{seen:?}");
    assert!(seen.contains("CONS=/0"), "{seen:?}");
    env.assert_gone(&id);

    // Detached, nothing would read the terminal: refused, nothing left.
    let id = env.id();
    env.run(&["run", "--detach", "--bundle", bundle.arg(), &id])
        .fails_with(&["--console-socket"]);
    env.assert_gone(&id);
}

#[test]
fn exec_in_the_foreground_proxies_its_own_terminal() {
    let env = Env::new("exectty2");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let out = env.run(&["exec", "--tty", &c.id, "sh", "-c", "echo T=$(tty); exit 5"]);
    assert_eq!(code(&out), 5, "{out:?}");
    let seen = &out.stdout;
    assert!(seen.contains("T=/dev/pts/"), "{seen:?}");
    // exec's terminal is its own: /dev/console stays the init's business.
    assert!(!seen.contains("not a tty"), "{seen:?}");
}

// ---------------------------------------------------------------------------
// --log FILE --log-format json

#[track_caller]
fn json_lines(path: &std::path::Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            for key in ["level", "msg", "time"] {
                assert!(v[key].is_string(), "no {key} in {l:?}");
            }
            v
        })
        .collect()
}

#[test]
fn json_log_ends_with_the_error() {
    let env = Env::new("jsonlog");
    let dir = TempDir::new("jsonlog");
    let log = dir.path().join("log.json");
    let log_arg = log.to_str().unwrap();
    // A failure: the last line is the error.
    let mut bad = sh("true");
    bad["process"]["args"] = json!(["/no/such/program"]);
    let bundle = Bundle::new(&bad);
    let id = env.id();
    let out = env.run(&[
        "--log",
        log_arg,
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.arg(),
        &id,
    ]);
    let out = out.fails_with(&["/no/such/program"]);
    let lines = json_lines(&log);
    let last = lines
        .last()
        .unwrap_or_else(|| panic!("empty log; {out:#?}"));
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"].as_str().unwrap().contains("/no/such/program"),
        "{last}"
    );
    env.assert_gone(&id);

    // Later commands append; --debug adds debug lines, all JSON.
    let (c, _b) = env.run_container(&sh(IDLE));
    env.run(&[
        "--log",
        log_arg,
        "--log-format",
        "json",
        "--debug",
        "state",
        &c.id,
    ])
    .ok();
    let out = env.run(&["--log", log_arg, "--log-format", "json", "kill", "nope"]);
    assert!(!out.status.success());
    let lines = json_lines(&log);
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(lines.last().unwrap()["msg"]
        .as_str()
        .unwrap()
        .contains("nope"));
}

// ---------------------------------------------------------------------------
// Mount options the clients' configs use

/// podman --read-only mounts tmpfs with `tmpcopyup` on /tmp, /run, /var/tmp:
/// the tmpfs starts with a copy of the image's directory.
#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_directory_underneath() {
    let env = Env::new("copyup");
    let image = TempDir::new("copyup-rootfs");
    let root = image.path().join("rootfs");
    // A rootfs of our own: the shared one must not get files in /srv.
    let status = Command::new("cp")
        .args(["-a", rootfs().to_str().unwrap(), root.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let srv = root.join("srv");
    fs::create_dir_all(srv.join("sub")).unwrap();
    fs::write(srv.join("sub/file"), "from-the-image").unwrap();
    std::os::unix::fs::symlink("sub/file", srv.join("link")).unwrap();
    std::os::unix::fs::chown(srv.join("sub"), Some(1234), Some(5678)).unwrap();
    fs::set_permissions(
        srv.join("sub"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();

    let mut config = sh(
        "echo fs=$(stat -f -c %T /srv); echo file=$(cat /srv/link); \
         echo sub=$(stat -c %u:%g:%a /srv/sub); echo new > /srv/new && echo write=ok",
    );
    config["root"] = json!({ "path": root, "readonly": true });
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/srv", "type": "tmpfs", "source": "tmpfs",
        "options": ["rw", "nosuid", "nodev", "tmpcopyup", "mode=755"]
    }));
    // Root reads through sub/ (1234:5678, 0750) only with this capability,
    // which a config without capabilities does not get.
    let dac = json!(["CAP_DAC_OVERRIDE"]);
    config["process"]["capabilities"] =
        json!({"bounding": dac, "effective": dac, "permitted": dac});
    let (_, out) = run(&env, &config, &[]);
    assert_eq!(code(&out), 0, "{out:#?}");
    for line in [
        "fs=tmpfs",
        "file=from-the-image",
        "sub=1234:5678:750",
        "write=ok",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == line),
            "no {line:?}: {out:#?}"
        );
    }
    // The image itself is untouched.
    assert!(!srv.join("new").exists());

    let mut bad = sh("true");
    bad["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/srv", "type": "bind", "source": "/tmp",
        "options": ["rbind", "tmpcopyup"]
    }));
    let (_, out) = run(&env, &bad, &[]);
    out.fails_with(&["mounts[6]", "tmpcopyup", "tmpfs"]);
}

#[test]
fn exec_refuses_a_relative_cwd_and_starts_nothing() {
    let env = Env::new("execrelcwd");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let pids = || env.run(&["ps", "--format", "json", &c.id]).ok().stdout;
    let before = pids();
    env.run(&["exec", "--cwd", "tmp", &c.id, "true"])
        .fails_with(&["--cwd", "\"tmp\"", "absolute"]);

    let dir = TempDir::new("process");
    let file = dir.path().join("process.json");
    fs::write(
        &file,
        json!({ "user": { "uid": 0, "gid": 0 }, "args": ["true"], "cwd": "etc" }).to_string(),
    )
    .unwrap();
    env.run(&["exec", "--process", file.to_str().unwrap(), &c.id])
        .fails_with(&["--process", "cwd", "absolute"]);
    // A missing field is not a JSON syntax error.
    fs::write(&file, r#"{"args": ["true"], "cwd": "/"}"#).unwrap();
    let out = env
        .run(&["exec", "--process", file.to_str().unwrap(), &c.id])
        .fails_with(&["--process", "missing field `user`"]);
    assert!(!out.stderr.contains("malformed"), "{out:#?}");
    assert_eq!(pids(), before, "a refused exec left a process");
}

#[test]
fn ps_passes_on_only_the_first_line_of_a_ps_error() {
    let env = Env::new("psbadopt");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    env.run(&["ps", &c.id, "-o", "pid,no-such-column"])
        .fails_with(&["ps -o pid,no-such-column", "no-such-column"]);
}

#[test]
fn update_names_a_bad_resources_file_and_changes_nothing() {
    let env = Env::new("updatebad");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let before = env.state(&c.id);
    let dir = TempDir::new("resources");
    let file = dir.path().join("r.json");
    let f = file.to_str().unwrap();
    // stdin is /dev/null here: an empty document.
    env.run(&["update", "-r", "-", &c.id])
        .fails_with(&["--resources -", "empty"]);
    fs::write(&file, "[]").unwrap();
    env.run(&["update", "-r", f, &c.id])
        .fails_with(&["--resources", f, "object"]);
    fs::write(&file, r#"{"pids": {"limit": "many"}}"#).unwrap();
    env.run(&["update", "-r", f, &c.id])
        .fails_with(&["--resources", "pids.limit"]);
    env.run(&["update", "-r", dir.path().to_str().unwrap(), &c.id])
        .fails_with(&["--resources", "directory"]);
    assert_eq!(env.state(&c.id), before);
}

#[test]
fn exec_refuses_uid_and_gid_minus_one() {
    let env = Env::new("execuidneg");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    let pids = || env.run(&["ps", "--format", "json", &c.id]).ok().stdout;
    let before = pids();
    for (args, field) in [
        (vec!["-u", "4294967295"], "uid"),
        (vec!["-u", "0:4294967295"], "gid"),
        (vec!["-g", "4294967295"], "additionalGids"),
    ] {
        let mut argv = vec!["exec"];
        argv.extend(args);
        argv.extend([c.id.as_str(), "id"]);
        env.run(&argv).fails_with(&[field, "4294967295"]);
    }
    assert_eq!(pids(), before, "a refused exec left a process");
}

// --- issue 16: exec --ignore-paused and the container's lock ---

/// An exec into a paused container waits for its frozen process without
/// holding the container's lock: `resume` (which takes it) goes through,
/// and the exec finishes.
#[test]
fn resume_is_not_blocked_by_an_exec_waiting_in_the_paused_container() {
    let env = Env::new("execfrozen");
    let (c, _b) = env.run_container(&sh(IDLE));
    c.wait_line("ready");
    env.run(&["pause", &c.id]).ok();
    let scratch = TempDir::new("execfrozen");
    let out = scratch.path().join("out");
    let mut cmd = env.command(&["exec", "--ignore-paused", &c.id, "sh", "-c", "echo ran"]);
    cmd.stdout(File::create(&out).unwrap())
        .stderr(File::create(scratch.path().join("err")).unwrap());
    let mut exec = cmd.spawn().unwrap();
    // Its process is in the frozen cgroup (the freezer's on v1): exec waits
    // for it to run.
    let children = format!("/proc/{0}/task/{0}/children", exec.id());
    let frozen_in = |pid: &str| {
        fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|t| {
            t.lines().any(|l| {
                (l.starts_with("0::") || l.contains("freezer")) && l.contains(c.id.as_str())
            })
        })
    };
    let placed = poll(WAIT, || {
        fs::read_to_string(&children)
            .is_ok_and(|t| t.split_whitespace().next().is_some_and(frozen_in))
    });
    // With the lock held by exec, resume never returns: both are killed
    // then, so that the Env can clean up.
    let mut resume = env.command(&["resume", &c.id]).spawn().unwrap();
    let done = |p: &mut std::process::Child| {
        let mut status = None;
        poll(WAIT, || {
            status = p.try_wait().unwrap();
            status.is_some()
        });
        if status.is_none() {
            let _ = p.kill();
            let _ = p.wait();
        }
        status
    };
    let resumed = done(&mut resume);
    let execed = done(&mut exec);
    assert!(placed, "the exec'd process never got into the cgroup");
    assert!(resumed.is_some_and(|s| s.success()), "resume: {resumed:?}");
    assert!(execed.is_some_and(|s| s.success()), "exec: {execed:?}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "ran\n");
    assert_eq!(env.status(&c.id), "running");
}
