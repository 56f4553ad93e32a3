//! Lifecycle integration tests: create/start/state/kill/delete of real
//! containers, as root, observed from inside the container and from the host.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Container script that prints `key=value` lines, then `ready`, then idles
/// (sh stays the init).
fn report_then_idle(report: &str) -> Value {
    sh(&format!(
        "{report}; echo ready; while :; do sleep 1000; done"
    ))
}

const NAMESPACES: [&str; 5] = ["uts", "ipc", "mnt", "pid", "net"];

/// Shell that prints each namespace link as seen inside, e.g. `uts=uts:[...]`.
fn ns_report() -> String {
    let kinds = NAMESPACES.join(" ");
    format!("for n in {kinds}; do echo \"$n=$(readlink /proc/self/ns/$n)\"; done")
}

fn host_hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn pids(list: &str) -> Vec<u32> {
    list.split_whitespace()
        .map(|p| p.parse().unwrap_or_else(|_| panic!("not a pid {p:?}")))
        .collect()
}

// ---------------------------------------------------------------------------
// What the process inside sees

#[test]
fn init_is_pid_1_and_proc_shows_only_the_container() {
    let env = Env::new("pid1");
    let (c, _b) = env.run_container(&report_then_idle(
        "sleep 1000 & echo bg=$!; echo pid=$$; echo comm=$(cat /proc/1/comm); \
         echo proc=$(ls /proc | grep -E '^[0-9]+$'); \
         echo ps=$(ps -o pid | grep -E '^ *[0-9]+ *$')",
    ));
    c.wait_line("ready");
    assert_eq!(c.value("pid"), "1");
    assert_eq!(
        c.value("comm"),
        "sh",
        "/proc/1 inside is not the container's init"
    );
    let bg: u32 = c.value("bg").parse().unwrap();
    for key in ["proc", "ps"] {
        let seen = pids(&c.value(key));
        assert!(
            seen.contains(&1) && seen.contains(&bg),
            "{key} inside lacks init or its child {bg}: {seen:?}"
        );
        // sh, sleep and the few processes of the $(...) pipeline only.
        assert!(
            seen.len() <= 8 && seen.iter().all(|&p| p < 50),
            "{key} inside shows foreign processes: {seen:?}"
        );
    }
    let host_pid = env.pid(&c.id);
    assert_ne!(host_pid, 1);
    let comm = fs::read_to_string(format!("/proc/{host_pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "sh", "state's pid is not the container's init");
}

#[test]
fn hostname_is_set_inside_and_host_keeps_its_own() {
    let env = Env::new("uts");
    let host_before = host_hostname();
    let name = format!("hutch-uts-{}", std::process::id());
    assert_ne!(name, host_before);
    let mut config =
        report_then_idle("echo host=$(hostname); echo kernel=$(cat /proc/sys/kernel/hostname)");
    config["hostname"] = json!(name);
    let (c, _b) = env.run_container(&config);
    c.wait_line("ready");
    assert_eq!(c.value("host"), name);
    assert_eq!(c.value("kernel"), name);
    assert_eq!(host_hostname(), host_before, "host's hostname changed");
}

/// Runs a container printing its namespace links; asserts what it reports
/// matches the host's view of its init, and returns (inside, init pid).
fn container_namespaces(env: &Env, config: Value) -> (Vec<(String, String)>, i32, Container) {
    let (c, _b) = env.run_container(&config);
    c.wait_line("ready");
    let pid = env.pid(&c.id);
    let inside: Vec<_> = NAMESPACES
        .iter()
        .map(|kind| {
            let seen = c.value(kind);
            assert_eq!(
                seen,
                ns(&pid.to_string(), kind),
                "{kind}: inside view differs from the host's /proc/{pid}/ns"
            );
            (kind.to_string(), seen)
        })
        .collect();
    (inside, pid, c)
}

#[test]
fn namespaces_differ_from_the_hosts() {
    let env = Env::new("ns");
    let (inside, _, _c) = container_namespaces(&env, report_then_idle(&ns_report()));
    for (kind, seen) in inside {
        assert_ne!(seen, ns("self", &kind), "{kind} namespace is the host's");
    }
}

#[test]
fn network_namespace_is_the_hosts_when_not_requested() {
    let env = Env::new("nonet");
    let mut config = report_then_idle(&ns_report());
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "network");
    let (inside, _, _c) = container_namespaces(&env, config);
    for (kind, seen) in inside {
        if kind == "net" {
            assert_eq!(
                seen,
                ns("self", &kind),
                "net namespace unshared though not asked"
            );
        } else {
            assert_ne!(seen, ns("self", &kind), "{kind} namespace is the host's");
        }
    }
}

#[test]
fn two_containers_run_at_once_apart() {
    let env = Env::new("two");
    let run = |name: &str| {
        let mut config = report_then_idle(&format!("echo host=$(hostname); {}", ns_report()));
        config["hostname"] = json!(name);
        let (inside, pid, c) = container_namespaces(&env, config);
        assert_eq!(c.value("host"), name);
        (inside, pid, c)
    };
    let (ns_a, pid_a, a) = run("first");
    let (ns_b, pid_b, b) = run("second");
    assert_ne!(a.id, b.id);
    assert_ne!(pid_a, pid_b);
    for ((kind, x), (_, y)) in ns_a.iter().zip(&ns_b) {
        assert_ne!(x, y, "both containers share their {kind} namespace");
    }
    assert_eq!(env.status(&a.id), "running");
    assert_eq!(env.status(&b.id), "running");
    assert!(alive(pid_a) && alive(pid_b));
}

// ---------------------------------------------------------------------------
// The host's mounts

#[test]
fn host_mountinfo_is_untouched_through_the_lifecycle() {
    let env = Env::exclusive("mounts");
    let before = mountinfo();
    let bundle = Bundle::new(&report_then_idle("mount >/dev/null"));
    let c = env.create(&env.id(), &bundle);
    assert_mountinfo(&before, "after create");
    env.start(&c.id).ok();
    c.wait_line("ready");
    assert_mountinfo(&before, "while running");
    env.kill(&c.id, Some("KILL")).ok();
    env.wait_status(&c.id, "stopped");
    env.delete(&c.id).ok();
    assert_mountinfo(&before, "after delete");
}

// ---------------------------------------------------------------------------
// State

#[test]
fn state_follows_every_transition() {
    let env = Env::new("states");
    let bundle = Bundle::new(&sh("echo started; exec sleep 1000"));
    let id = env.id();
    let c = env.create(&id, &bundle);

    let state = env.state(&id);
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["bundle"], bundle.arg(), "{state}");
    assert!(
        state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
        "{state}"
    );
    let pid = env.pid(&id);
    assert!(
        alive(pid),
        "created container's pid {pid} is not alive on the host"
    );
    // The user's program has not run yet: no output, not exec'd.
    let busybox = fs::metadata(rootfs().join("bin/busybox")).unwrap();
    let exe = fs::metadata(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        (exe.dev(), exe.ino()) != (busybox.dev(), busybox.ino()),
        "the user's program was exec'd before start"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(c.output(), "", "the user's program ran before start");
    assert_eq!(env.status(&id), "created");

    env.start(&id).ok();
    assert_eq!(env.status(&id), "running");
    c.wait_line("started");
    assert_eq!(env.pid(&id), pid, "pid changed across start");

    env.kill(&id, Some("KILL")).ok();
    env.wait_status(&id, "stopped");
    assert!(!alive(pid));

    env.delete(&id).ok();
    env.assert_gone(&id);
}

#[test]
fn state_is_stopped_once_the_program_exits() {
    let env = Env::new("exits");
    let (c, _b) = env.run_container(&sh("echo bye"));
    env.wait_status(&c.id, "stopped");
    assert_eq!(c.output(), "bye\n");
    env.delete(&c.id).ok();
    env.assert_gone(&c.id);
}

#[test]
fn relative_bundle_is_recorded_absolute() {
    let env = Env::new("relbundle");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let id = env.id();
    let out = bundle.path().join("out");
    let name = bundle.path().file_name().unwrap().to_str().unwrap();
    env.create_args(&["--bundle", name, &id], bundle.path().parent(), &out)
        .ok();
    assert_eq!(env.state(&id)["bundle"], bundle.arg());
}

#[test]
fn bundle_defaults_to_the_current_directory() {
    let env = Env::new("cwdbundle");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let id = env.id();
    let out = bundle.path().join("out");
    env.create_args(&[&id], Some(bundle.path()), &out).ok();
    assert_eq!(env.state(&id)["bundle"], bundle.arg());
    env.start(&id).ok();
    assert_eq!(env.status(&id), "running");
}

#[test]
fn pid_file_holds_the_init_pid() {
    let env = Env::new("pidfile");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let id = env.id();
    let pid_file = bundle.path().join("init.pid");
    let out = bundle.path().join("out");
    env.create_args(
        &[
            "--bundle",
            bundle.arg(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            &id,
        ],
        None,
        &out,
    )
    .ok();
    let written = fs::read_to_string(&pid_file).unwrap();
    assert_eq!(
        written.trim().parse::<i32>().ok(),
        Some(env.pid(&id)),
        "pid file {written:?}"
    );
}

#[test]
fn options_go_before_or_after_the_id() {
    let env = Env::new("optorder");
    let bundle = Bundle::new(&sh("echo hello; exec sleep 1000"));
    let dir = TempDir::new("optorder");
    let b = bundle.arg();
    for (n, form) in ["before", "after", "mixed"].iter().enumerate() {
        let id = env.id();
        let pid_file = dir.path().join(format!("{n}.pid"));
        let p = pid_file.to_str().unwrap();
        let args: Vec<&str> = match *form {
            "before" => vec!["--bundle", b, "--pid-file", p, &id],
            "after" => vec![&id, "--bundle", b, "--pid-file", p],
            _ => vec!["-b", b, &id, "--pid-file", p],
        };
        let out = dir.path().join(format!("{n}.out"));
        env.create_args(&args, None, &out).ok();
        let state = env.state(&id);
        assert_eq!(state["bundle"], b, "{form}: {state}");
        let written = fs::read_to_string(&pid_file).unwrap();
        assert_eq!(written.trim(), env.pid(&id).to_string(), "{form}");
    }
}

// ---------------------------------------------------------------------------
// kill

/// Starts containers (one per signal) that trap `trapped` and report it, and
/// returns them once each has set its trap.
fn trapping(env: &Env, trapped: &str, action: &str, n: usize) -> Vec<(Container, Bundle)> {
    let script = format!(
        "trap 'echo got-{trapped}{action}' {trapped}; echo ready; while :; do sleep 0.05; done"
    );
    let all: Vec<_> = (0..n).map(|_| env.run_container(&sh(&script))).collect();
    for (c, _) in &all {
        c.wait_line("ready");
    }
    all
}

#[test]
fn kill_sends_term_by_name_number_and_default() {
    let env = Env::new("term");
    let signals = [Some("TERM"), Some("SIGTERM"), Some("15"), None];
    let containers = trapping(&env, "TERM", "; exit 0", signals.len());
    for ((c, _), signal) in containers.iter().zip(signals) {
        env.kill(&c.id, signal).ok();
        c.wait_line("got-TERM");
        env.wait_status(&c.id, "stopped");
    }
}

#[test]
fn kill_sends_usr1_by_name_and_number() {
    let env = Env::new("usr1");
    let containers = trapping(&env, "USR1", "", 1);
    let c = &containers[0].0;
    let number = libc::SIGUSR1.to_string();
    for (n, signal) in ["USR1", "SIGUSR1", &number].into_iter().enumerate() {
        env.kill(&c.id, Some(signal)).ok();
        c.wait_lines("got-USR1", n + 1);
        assert_eq!(env.status(&c.id), "running", "after {signal}");
    }
}

#[test]
fn kill_sends_kill_by_name_and_number() {
    let env = Env::new("sigkill");
    for signal in ["KILL", "SIGKILL", "9"] {
        let (c, _b) = env.run_container(&spec(&["sleep", "1000"]));
        let pid = env.pid(&c.id);
        env.kill(&c.id, Some(signal)).ok();
        env.wait_status(&c.id, "stopped");
        assert!(poll(WAIT, || !alive(pid)), "{signal}: pid {pid} survived");
    }
}

#[test]
fn kill_rejects_an_unknown_signal() {
    let env = Env::new("badsig");
    let (c, _b) = env.run_container(&spec(&["sleep", "1000"]));
    for signal in ["FOO", "SIGFOO", "999"] {
        env.kill(&c.id, Some(signal)).fails_with(&["signal"]);
    }
    assert_eq!(env.status(&c.id), "running");
}

/// Signal 0 is runc's liveness probe: it succeeds while the container runs,
/// delivers nothing, and fails once it has stopped.
#[test]
fn kill_with_signal_0_only_checks_the_container_runs() {
    let env = Env::new("sig0");
    let (c, _b) = env.run_container(&sh("trap 'echo got-signal' USR1 TERM; echo ready; \
         while :; do sleep 1; done"));
    c.wait_line("ready");
    env.kill(&c.id, Some("0")).ok();
    env.run(&["kill", "--all", &c.id, "0"]).ok();
    assert_eq!(env.status(&c.id), "running");
    env.kill(&c.id, Some("KILL")).ok();
    env.wait_status(&c.id, "stopped");
    assert!(!c.output().contains("got-signal"), "{}", c.output());
    env.kill(&c.id, Some("0")).fails_with(&["not running"]);
}

#[test]
fn kill_of_a_stopped_container_fails() {
    let env = Env::new("killstopped");
    let (c, _b) = env.run_container(&sh("true"));
    env.wait_status(&c.id, "stopped");
    env.kill(&c.id, Some("KILL")).fails_with(&["not running"]);
}

/// After the container's init died, a new unrelated process given the same
/// PID must survive `kill` and `delete --force`, and state says stopped.
/// Runs in a private PID namespace to force the reuse (see pid-reuse.sh).
#[test]
fn kill_spares_a_process_that_reused_the_init_pid() {
    let _lock = shared();
    let root = TempDir::new("reuse-root");
    let scratch = TempDir::new("reuse");
    let bundle = Bundle::new(&spec(&["sleep", "1000"]));
    let id = format!("reuse-{}", std::process::id());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/pid-reuse.sh");
    let log = scratch.path().join("log");
    let status = run_bounded(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", "bash"])
            .arg(&script)
            .env("RUNTIME", runtime())
            .env("ROOT", root.path())
            .env("BUNDLE", bundle.path())
            .env("ID", &id)
            .env("SCRATCH", scratch.path())
            .stdin(std::process::Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(scratch.path().join("stderr")).unwrap()),
        Duration::from_secs(30),
    );
    let log = fs::read_to_string(&log).unwrap();
    let stderr = fs::read_to_string(scratch.path().join("stderr")).unwrap();
    let report = format!("{status}\n{log}\nstderr: {stderr}");
    let value = |key: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key}= in report: {report}"))
            .to_string()
    };
    assert!(
        status.success() && value("done") == "1",
        "scenario failed: {report}"
    );
    assert_eq!(value("reused"), value("pid"), "{report}");
    assert!(
        matches!(value("after_kill").as_str(), "S" | "R"),
        "kill hit the process that reused the pid: {report}"
    );
    assert_ne!(
        value("kill_rc"),
        "0",
        "kill of a dead container succeeded: {report}"
    );
    assert!(
        value("kill_err").to_lowercase().contains("not running"),
        "kill's error does not say not running: {report}"
    );
    assert_eq!(value("status"), "stopped", "{report}");
    assert_eq!(value("delete_rc"), "0", "{report}");
    assert!(
        matches!(value("after_delete").as_str(), "S" | "R"),
        "delete --force hit the process that reused the pid: {report}"
    );
}

// ---------------------------------------------------------------------------
// start and delete

#[test]
fn start_twice_fails() {
    let env = Env::new("start2");
    let (c, _b) = env.run_container(&spec(&["sleep", "1000"]));
    env.start(&c.id).fails_with(&["cannot start"]);
    assert_eq!(env.status(&c.id), "running");
    env.kill(&c.id, Some("KILL")).ok();
    env.wait_status(&c.id, "stopped");
    env.start(&c.id).fails_with(&["cannot start"]);
    assert_eq!(env.status(&c.id), "stopped");
}

#[test]
fn delete_of_a_stopped_container() {
    let env = Env::new("delstopped");
    let (c, _b) = env.run_container(&sh("true"));
    env.wait_status(&c.id, "stopped");
    env.delete(&c.id).ok();
    env.assert_gone(&c.id);
}

#[test]
fn delete_of_a_created_container_needs_kill_or_force() {
    // runtime.md: a container that is not stopped is left alone, with an
    // error; `created` is not `stopped` (the OCI validation suite's `delete`).
    let env = Env::new("delcreated");
    let bundle = Bundle::new(&sh("echo started"));
    let c = env.create(&env.id(), &bundle);
    let pid = env.pid(&c.id);
    env.delete(&c.id).fails_with(&["not stopped", "created"]);
    assert_eq!(env.status(&c.id), "created");
    assert!(alive(pid), "init {pid} died of a refused delete");
    env.kill(&c.id, Some("KILL")).ok();
    env.wait_status(&c.id, "stopped");
    env.delete(&c.id).ok();
    env.assert_gone(&c.id);
    assert!(poll(WAIT, || !alive(pid)), "init {pid} survived delete");
    assert_eq!(c.output(), "", "the user's program ran");

    let c = env.create(&env.id(), &bundle);
    let pid = env.pid(&c.id);
    env.delete_force(&c.id).ok();
    env.assert_gone(&c.id);
    assert!(
        poll(WAIT, || !alive(pid)),
        "init {pid} survived delete --force"
    );
    assert_eq!(c.output(), "", "the user's program ran");
}

#[test]
fn delete_of_a_running_container_needs_force() {
    let env = Env::new("delrunning");
    let (c, _b) = env.run_container(&spec(&["sleep", "1000"]));
    let pid = env.pid(&c.id);
    env.delete(&c.id).fails_with(&["not stopped"]);
    assert_eq!(env.status(&c.id), "running");
    assert!(alive(pid));
    assert!(env.state_dir(&c.id).exists());
    env.delete_force(&c.id).ok();
    assert!(
        !alive(pid),
        "init {pid} alive after delete --force returned"
    );
    env.assert_gone(&c.id);
}

#[test]
fn delete_force_of_an_unknown_id_succeeds() {
    let env = Env::new("delunknown");
    env.delete_force(&env.id()).ok();
}

// ---------------------------------------------------------------------------
// Bad input

#[test]
fn commands_on_an_unknown_id_fail() {
    let env = Env::new("unknown");
    let id = env.id();
    for args in [
        vec!["state", &id],
        vec!["start", &id],
        vec!["kill", &id],
        vec!["kill", &id, "KILL"],
        vec!["delete", &id],
    ] {
        env.run(&args).fails_with(&[&id, "does not exist"]);
    }
    assert!(!env.state_dir(&id).exists());
}

/// Runs `create` with `args` (which name `id`), asserts it fails with
/// `tokens` and leaves no trace: no state dir, no state, no runtime process,
/// no mount.
#[track_caller]
fn create_fails_cleanly(env: &Env, id: &str, args: &[&str], tokens: &[&str]) {
    let root = env.root().to_str().unwrap();
    let snapshot = HostSnapshot::take(&[id, root]);
    // An ID like ".." names a directory that exists anyway.
    let existed = env.state_dir(id).exists();
    let out = TempDir::new("bad");
    env.create_args(args, None, &out.path().join("out"))
        .fails_with(tokens);
    assert!(
        existed || !env.state_dir(id).exists(),
        "{:?} left behind",
        env.state_dir(id)
    );
    let _ = env.run(&["state", id]).fails_with(&[]);
    snapshot.assert_unchanged(&format!("after failed create {args:?}"));
}

/// A bundle from `config` that `create` must refuse with `tokens`.
#[track_caller]
fn rejects_bundle(name: &str, bundle: Bundle, tokens: &[&str]) {
    let env = Env::exclusive(name);
    let id = env.id();
    create_fails_cleanly(&env, &id, &["--bundle", bundle.arg(), &id], tokens);
}

#[test]
fn create_rejects_malformed_json() {
    let text = "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {\n    \"args\": [\"sh\"\n";
    rejects_bundle("badjson", Bundle::raw(text), &["config.json", "line"]);
}

#[test]
fn create_rejects_args_of_the_wrong_type() {
    let mut config = spec(&["sh"]);
    config["process"]["args"] = json!("sh");
    rejects_bundle("badtype", Bundle::new(&config), &["process.args"]);
}

#[test]
fn create_rejects_a_missing_rootfs() {
    let mut config = spec(&["sh"]);
    config["root"]["path"] = json!(format!("/nonexistent-rootfs-{}", std::process::id()));
    rejects_bundle("norootfs", Bundle::new(&config), &["root.path|rootfs"]);
}

#[test]
fn create_rejects_an_unknown_namespace_type() {
    let mut config = spec(&["sh"]);
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "bogus" }));
    rejects_bundle("badns", Bundle::new(&config), &["linux.namespaces"]);
}

#[test]
fn create_rejects_a_namespace_listed_twice() {
    let mut config = spec(&["sh"]);
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "uts" }));
    rejects_bundle(
        "dupns",
        Bundle::new(&config),
        &["linux.namespaces", "more than once"],
    );
}

#[test]
fn create_rejects_an_unsupported_oci_version() {
    let mut config = spec(&["sh"]);
    config["ociVersion"] = json!("2.0.0");
    rejects_bundle("ociversion", Bundle::new(&config), &["ociVersion"]);
}

/// A bundle whose config.json is replaced by what `make` puts at its path.
fn bundle_with_config(make: impl FnOnce(&Path)) -> Bundle {
    let bundle = Bundle::new(&spec(&["sh"]));
    let path = bundle.path().join("config.json");
    fs::remove_file(&path).unwrap();
    make(&path);
    bundle
}

#[test]
fn create_rejects_a_config_json_that_is_a_directory() {
    let bundle = bundle_with_config(|p| fs::create_dir(p).unwrap());
    rejects_bundle(
        "cfgdir",
        bundle,
        &["config.json", "directory", "regular file"],
    );
}

#[test]
fn create_rejects_a_config_json_that_is_a_fifo_without_blocking() {
    let bundle = bundle_with_config(|p| {
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    });
    // Should hutch block on the FIFO, a writer that opens and closes it
    // lets it go on, to an error that lacks "FIFO": the test fails, not hangs.
    let fifo = bundle.path().join("config.json");
    let _unblock = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(10));
        let _ = fs::OpenOptions::new().write(true).open(fifo);
    });
    rejects_bundle("cfgfifo", bundle, &["config.json", "FIFO", "regular file"]);
}

#[test]
fn create_rejects_a_config_json_that_is_a_device() {
    let bundle = bundle_with_config(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap());
    rejects_bundle("cfgdev", bundle, &["config.json", "device"]);
}

#[test]
fn create_rejects_a_huge_config_json() {
    let bundle = bundle_with_config(|p| {
        fs::File::create(p).unwrap().set_len(1 << 30).unwrap();
    });
    rejects_bundle("cfghuge", bundle, &["config.json", "bytes", "at most"]);
}

#[test]
fn create_rejects_a_config_json_that_is_not_utf8() {
    let mut text = serde_json::to_vec(&spec(&["sh"])).unwrap();
    // An invalid byte inside a value serde skips: an unknown field.
    let at = text.len() - 1;
    text.splice(at..at, b",\"x-hutch\":\"\xff\"".iter().copied());
    let bundle = bundle_with_config(|p| fs::write(p, &text).unwrap());
    rejects_bundle("cfgutf8", bundle, &["config.json", "UTF-8"]);
}

#[test]
fn create_rejects_a_config_json_that_is_not_an_object() {
    rejects_bundle("cfgarray", Bundle::raw("[]"), &["config.json", "object"]);
    rejects_bundle("cfgempty", Bundle::raw(" \n"), &["config.json", "empty"]);
}

/// runc runs a config without ociVersion (config.md requires it), and
/// takes relative maskedPaths, readonlyPaths and mount destinations as
/// relative to `/`, with a warning: configs in the wild rely on both.
#[test]
fn runs_configs_runc_accepts_without_oci_version_or_with_relative_paths() {
    let env = Env::new("relpaths");
    let mut config = sh(
        "echo scratch=$(grep -c ' /scratch tmpfs' /proc/self/mounts); \
         echo masked=$(cat /etc/hostname | wc -c); \
         touch /bin/x 2>/dev/null; echo ro=$?; echo ready",
    );
    config.as_object_mut().unwrap().remove("ociVersion");
    config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "scratch", "type": "tmpfs", "source": "tmpfs"
    }));
    config["linux"]["maskedPaths"] = json!(["etc/hostname"]);
    config["linux"]["readonlyPaths"] = json!(["bin"]);
    let bundle = Bundle::new(&config);
    let c = Container::new(&env.id());
    let out = env
        .create_args(&["--bundle", bundle.arg(), &c.id], None, &c.out)
        .ok();
    for warned in [
        "mounts[",
        "linux.maskedPaths[0] \"etc/hostname\"",
        "linux.readonlyPaths[0] \"bin\"",
    ] {
        assert!(
            out.stderr.contains(warned) && out.stderr.contains("not an absolute path"),
            "no warning for {warned}: {:?}",
            out.stderr
        );
    }
    env.start(&c.id).ok();
    c.wait_line("ready");
    assert_eq!(c.value("scratch"), "1", "mounts[].destination \"scratch\"");
    assert_eq!(c.value("masked"), "0", "maskedPaths \"etc/hostname\"");
    assert_ne!(c.value("ro"), "0", "readonlyPaths \"bin\" was writable");
    env.wait_status(&c.id, "stopped");
}

#[test]
fn create_names_why_args0_cannot_run() {
    // The last words are runc's, which clients map to exit codes (podman,
    // docker: 126 for "permission denied", 127 for the other two).
    for (arg0, why, words) in [
        ("/etc", "is a directory", "permission denied"),
        ("/etc/passwd", "not executable", "permission denied"),
        ("/dev/null", "not a regular file", "permission denied"),
        (
            "/no-such-program",
            "in the container",
            "no such file or directory",
        ),
        (
            "no-such-program",
            "$PATH",
            "executable file not found in $PATH",
        ),
    ] {
        rejects_bundle(
            "arg0",
            Bundle::new(&spec(&[arg0])),
            &["process.args[0]", arg0, why, words],
        );
    }
}

#[test]
fn a_root_that_is_a_file_is_named() {
    let dir = TempDir::new("rootfile");
    let file = dir.path().join("root");
    fs::write(&file, "").unwrap();
    let bundle = Bundle::new(&spec(&["true"]));
    for args in [
        vec!["create", "--bundle", bundle.arg(), "rootfile"],
        vec!["list"],
        vec!["state", "rootfile"],
        vec!["delete", "--force", "rootfile"],
    ] {
        run_runtime(Some(&file), &args, None, Out::Capture)
            .fails_with(&["--root", "not a directory"]);
    }
    assert_eq!(
        fs::read(&file).unwrap(),
        b"",
        "the file under --root changed"
    );
}

#[test]
fn an_unwritable_pid_file_is_named_and_leaves_nothing() {
    let env = Env::exclusive("badpidfile");
    let id = env.id();
    let bundle = Bundle::new(&spec(&["sh"]));
    let dir = TempDir::new("pidfile");
    let missing = dir.path().join("no-such-dir/pid");
    let is_dir = dir.path().join("pid");
    fs::create_dir(&is_dir).unwrap();
    for pid_file in [&missing, &is_dir] {
        let p = pid_file.to_str().unwrap();
        let args = ["--bundle", bundle.arg(), "--pid-file", p, &id];
        create_fails_cleanly(&env, &id, &args, &["--pid-file", &format!("{p}:")]);
    }
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "a temporary pid file was left: {left:?}");
}

/// The init killed while create waits on it (here by a prestart hook; in
/// life most often the OOM killer under a tiny memory limit, which is not
/// deterministic since most of set-up is done before the init enters its
/// cgroup): create says how it died, with the OOM hint, not "broken pipe".
#[test]
fn an_init_killed_during_set_up_says_how() {
    let mut config = spec(&["sh"]);
    let kill = format!("kill -KILL {STATE_PID}");
    config["hooks"] = json!({ "prestart": [{ "path": "/bin/sh", "args": ["sh", "-c", kill] }] });
    rejects_bundle(
        "killedinit",
        Bundle::new(&config),
        &["init was killed by SIGKILL during set-up", "memory.limit"],
    );
}

#[test]
fn create_rejects_a_hostname_longer_than_the_kernel_takes() {
    let mut config = spec(&["sh"]);
    config["hostname"] = json!("h".repeat(65));
    rejects_bundle(
        "longhost",
        Bundle::new(&config),
        &["hostname", "65 bytes", "at most 64"],
    );
}

#[test]
fn a_console_socket_that_is_not_a_socket_is_named() {
    let env = Env::exclusive("notsocket");
    let id = env.id();
    let mut config = spec(&["sh"]);
    config["process"]["terminal"] = json!(true);
    let bundle = Bundle::new(&config);
    let dir = TempDir::new("console");
    let file = dir.path().join("console.sock");
    fs::write(&file, "").unwrap();
    let f = file.to_str().unwrap();
    let args = ["--bundle", bundle.arg(), "--console-socket", f, &id];
    create_fails_cleanly(
        &env,
        &id,
        &args,
        &["--console-socket", f, "not a Unix socket"],
    );
}

#[test]
fn create_rejects_uid_and_gid_minus_one() {
    // setresuid(-1, ...) changes nothing: the process would run as root.
    for (user, field) in [
        (
            json!({ "uid": 4294967295u32, "gid": 0 }),
            "process.user.uid",
        ),
        (
            json!({ "uid": 1000, "gid": 4294967295u32 }),
            "process.user.gid",
        ),
        (
            json!({ "uid": 1000, "gid": 1000, "additionalGids": [4294967295u32] }),
            "process.user.additionalGids",
        ),
    ] {
        let mut config = spec(&["sh"]);
        config["process"]["user"] = user;
        rejects_bundle("uidneg", Bundle::new(&config), &[field, "4294967295"]);
    }
}

#[test]
fn create_rejects_a_missing_bundle() {
    let env = Env::exclusive("nobundle");
    let id = env.id();
    let missing = format!("/nonexistent-bundle-{}", std::process::id());
    create_fails_cleanly(&env, &id, &["--bundle", &missing, &id], &["bundle"]);
}

#[test]
fn create_rejects_invalid_ids() {
    let env = Env::exclusive("badid");
    let bundle = Bundle::new(&spec(&["sh"]));
    for id in ["bad/id", "..", "../escape", "with space"] {
        create_fails_cleanly(
            &env,
            id,
            &["--bundle", bundle.arg(), id],
            &["invalid container id"],
        );
    }
    let left: Vec<_> = fs::read_dir(env.root())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "root has entries after invalid ids: {left:?}"
    );
}

#[test]
fn create_rejects_a_duplicate_id() {
    let env = Env::exclusive("dupid");
    let bundle = Bundle::new(&sh("echo started; exec sleep 1000"));
    let c = env.create(&env.id(), &bundle);
    let pid = env.pid(&c.id);
    let root = env.root().to_str().unwrap();
    let snapshot = HostSnapshot::take(&[&c.id, root]);
    let out = TempDir::new("dup");
    env.create_args(
        &["--bundle", bundle.arg(), &c.id],
        None,
        &out.path().join("out"),
    )
    .fails_with(&["already exists"]);
    snapshot.assert_unchanged("after a duplicate create");
    // The first container is intact and still works.
    assert_eq!(env.status(&c.id), "created");
    assert_eq!(env.pid(&c.id), pid);
    env.start(&c.id).ok();
    c.wait_line("started");
    assert_eq!(
        fs::read_to_string(out.path().join("out")).unwrap_or_default(),
        ""
    );
}

// ---------------------------------------------------------------------------
// The CLI itself

#[test]
fn version_and_help_succeed() {
    let version = run_runtime(None, &["--version"], None, Out::Capture).ok();
    assert!(!version.stdout.trim().is_empty(), "{version:#?}");
    let help = run_runtime(None, &["--help"], None, Out::Capture).ok();
    for command in ["create", "start", "state", "kill", "delete"] {
        assert!(
            help.stdout.contains(command),
            "help lacks {command}: {help:#?}"
        );
    }
}

#[test]
fn usage_errors_are_one_line_exit_2_and_point_at_the_verb_help() {
    let env = Env::new("usage");
    for (args, tokens, help) in [
        (vec!["kill"], vec!["<ID>"], "hutch kill --help"),
        (
            vec!["run", "--bogus", "x"],
            vec!["--bogus"],
            "hutch run --help",
        ),
        (
            vec!["create", "--bundle"],
            vec!["--bundle"],
            "hutch create --help",
        ),
        (vec!["state", "a", "b"], vec!["'b'"], "hutch state --help"),
        (vec!["no-such-verb"], vec!["no-such-verb"], "'hutch --help'"),
        (
            vec!["--bogus", "list"],
            vec!["--bogus"],
            "hutch list --help",
        ),
    ] {
        let mut tokens = tokens;
        tokens.push(help);
        let out = env.run(&args).fails_with(&tokens);
        assert_eq!(out.status.code(), Some(2), "{out:#?}");
    }
    // Nothing was created under --root by a command line that did not parse.
    let left: Vec<_> = fs::read_dir(env.root())
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

/// `state` and `list` laid out as runc's: state's keys in runc's order, and
/// the list table's columns aligned however long the IDs (containerd's are
/// 64 characters).
#[test]
fn state_and_list_have_runcs_layout() {
    let env = Env::new("layout");
    let bundle = Bundle::new(&spec(&["sleep", "1000"]));
    let long = format!("{}-{}", env.id(), "x".repeat(64));
    env.track(&long);
    let _a = env.create(&long, &bundle);
    let _b = env.create(&env.id(), &bundle);
    let out = env.run(&["state", &long]).ok();
    let keys: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  \"")?.split('"').next())
        .collect();
    let runc = [
        "ociVersion",
        "id",
        "pid",
        "status",
        "bundle",
        "rootfs",
        "created",
        "owner",
    ];
    assert_eq!(keys[..runc.len()], runc, "{}", out.stdout);

    let out = env.run(&["list"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let header = lines[0];
    for column in ["PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        let at = header.find(column).unwrap();
        for row in &lines[1..] {
            let (before, cell) = (&row[at - 1..at], &row[at..at + 1]);
            assert!(
                before == " " && cell != " ",
                "{column} not aligned:\n{}",
                out.stdout
            );
        }
    }
}

/// Flags runc's clients pass that mean nothing to hutch are taken, not
/// refused: go-runc adds `--criu PATH` and `--rootless BOOL` before the verb
/// when configured, and `run --no-subreaper` is runc's.
#[test]
fn runc_client_flags_are_accepted() {
    let env = Env::new("clientflags");
    let bundle = Bundle::new(&sh("exit 4"));
    let id = env.id();
    let out = env.run(&[
        "--criu",
        "/usr/sbin/criu",
        "--rootless",
        "false",
        "run",
        "--no-subreaper",
        "--bundle",
        bundle.arg(),
        &id,
    ]);
    assert_eq!(out.status.code(), Some(4), "{out:#?}");
    env.assert_gone(&id);
    for rootless in ["true", "false", "auto"] {
        env.run(&["--rootless", rootless, "list", "-q"]).ok();
    }
    env.run(&["--rootless", "maybe", "list"])
        .fails_with(&["maybe"]);
}

#[test]
fn verb_help_reads_well() {
    for verb in [
        "create", "start", "run", "exec", "state", "kill", "delete", "list", "ps", "events",
        "pause", "resume", "update", "spec", "features",
    ] {
        let out = run_runtime(None, &[verb, "--help"], None, Out::Capture).ok();
        let first = out.stdout.lines().next().unwrap_or("");
        assert!(!first.is_empty(), "{verb} --help has no summary: {out:#?}");
        assert!(
            out.stdout.contains(&format!("Usage: hutch {verb}")),
            "{out:#?}"
        );
        assert!(out.stderr.is_empty(), "{out:#?}");
        // Every argument says what it is; --root and friends stand apart.
        assert!(
            !out.stdout.lines().any(|l| l.trim() == "<ID>"),
            "{verb}: <ID> undocumented: {}",
            out.stdout
        );
        assert!(out.stdout.contains("Global options:"), "{}", out.stdout);
    }
}

#[test]
fn user_namespace_maps_root_to_an_unprivileged_host_uid() {
    let env = Env::new("userns");
    let mut config = report_then_idle(
        "echo uid=$(id -u); echo map=$(cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'); \
         echo user=$(readlink /proc/self/ns/user)",
    );
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    let (c, _b) = env.run_container(&config);
    c.wait_line("ready");
    assert_eq!(c.value("uid"), "0", "root inside the user namespace");
    assert_eq!(c.value("map"), "0 200000 65536");
    assert_ne!(
        c.value("user"),
        ns("self", "user"),
        "user namespace is the host's"
    );
    // The host sees the init as the mapped, unprivileged uid.
    let pid = env.pid(&c.id);
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == "200000"),
        "{uid_line}"
    );
}

#[test]
fn user_namespace_without_mappings_is_refused() {
    let env = Env::new("usernomap");
    let mut config = spec(&["true"]);
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let bundle = Bundle::new(&config);
    let id = env.id();
    env.run(&["create", "--bundle", bundle.arg(), &id])
        .fails_with(&["linux.uidMappings"]);
    env.assert_gone(&id);
}

#[test]
fn spec_writes_a_config_that_runs_with_its_capabilities_and_limits() {
    let env = Env::new("spec");
    let dir = TempDir::new("specbundle");
    run_runtime(
        None,
        &["spec", "--bundle", dir.path().to_str().unwrap()],
        None,
        Out::Capture,
    )
    .ok();
    let text = fs::read_to_string(dir.path().join("config.json")).unwrap();
    let mut config: Value = serde_json::from_str(&text).unwrap();
    // A second `spec` must not overwrite it.
    run_runtime(
        None,
        &["spec", "--bundle", dir.path().to_str().unwrap()],
        None,
        Out::Capture,
    )
    .fails_with(&["already exists"]);
    assert_eq!(config["process"]["terminal"], true, "as runc spec");
    // runc's defaults, in runc's order: diffs against `runc spec` show
    // only what differs.
    let order: Vec<usize> = [
        "\"ociVersion\"",
        "\"process\"",
        "\"root\"",
        "\"hostname\"",
        "\"mounts\"",
        "\"linux\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} missing")))
    .collect();
    assert!(order.is_sorted(), "keys not in runc's order: {text}");
    assert_eq!(
        config["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}])
    );
    assert!(
        config["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "cgroup" && m["destination"] == "/sys/fs/cgroup"),
        "no cgroup mount: {text}"
    );
    config["process"]["terminal"] = json!(false);
    config["root"]["path"] = json!(rootfs());
    config["process"]["args"] = json!([
        "sh",
        "-c",
        "echo eff=$(grep CapEff /proc/self/status | cut -f2); echo nofile=$(ulimit -n); \
         echo nnp=$(grep NoNewPrivs /proc/self/status | cut -f2); touch /x 2>/dev/null; echo rofs=$?; \
         echo cg=$(grep -c ' /sys/fs/cgroup' /proc/self/mounts); echo ready"
    ]);
    let (c, _b) = env.run_container(&config);
    c.wait_line("ready");
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29) only.
    assert_eq!(c.value("eff"), "0000000020000420");
    assert_eq!(c.value("nofile"), "1024");
    assert_eq!(c.value("nnp"), "1");
    assert_ne!(c.value("rofs"), "0", "root.readonly: / was writable");
    assert_ne!(c.value("cg"), "0", "the cgroup mount is missing");
}

#[test]
fn features_lists_what_is_implemented() {
    let out = run_runtime(None, &["features"], None, Out::Capture).ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    let ns = f["linux"]["namespaces"].as_array().unwrap();
    for kind in ["pid", "mount", "uts", "ipc", "network", "user", "cgroup"] {
        assert!(ns.iter().any(|n| n == kind), "{kind} missing from {ns:?}");
    }
    let opts = f["mountOptions"].as_array().unwrap();
    assert!(opts.iter().any(|o| o == "rbind"));
}

// --- issue 16: kill then delete ---

/// Spins on every CPU until dropped: the race tests below need the killed
/// init to take its time dying, as it does on a loaded machine.
struct CpuHog {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuHog {
    fn new() -> CpuHog {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        CpuHog { stop, threads }
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// `kill ID KILL` then `delete ID` at once: the init is dying (reaping its
/// PID namespace first), not stopped yet, and delete must wait for it
/// rather than fail with "not stopped".
#[test]
fn delete_right_after_kill_waits_for_the_dying_init() {
    let env = Env::new("killdel");
    let bundle = Bundle::new(&sh("sleep 1000 & sleep 1000 & sleep 1000 & wait"));
    let _hog = CpuHog::new();
    for _ in 0..30 {
        let id = env.id();
        let _c = env.create(&id, &bundle);
        env.start(&id).ok();
        env.kill(&id, Some("KILL")).ok();
        env.delete(&id).ok();
        env.assert_gone(&id);
    }
}

/// A container that was sent a signal it survives is not stopped: the error
/// says so without telling the user to kill it, which they just did.
#[test]
fn delete_of_a_container_that_survived_kill_says_how_to_force_it() {
    let env = Env::new("killsurv");
    let (c, _b) = env.run_container(&sh(
        "trap 'echo got' TERM; echo ready; while :; do sleep 1; done",
    ));
    c.wait_line("ready");
    env.kill(&c.id, Some("TERM")).ok();
    c.wait_line("got");
    let out = env
        .delete(&c.id)
        .fails_with(&[&c.id, "not stopped", "running", "--force"]);
    assert!(!out.stderr.contains("kill it"), "{out:#?}");
    assert_eq!(env.status(&c.id), "running");
}

// --- issue 16: start returns once the program is exec'd ---

/// `start` returns once the init has exec'd the program: a signal sent
/// right after must reach the program, never the init still running
/// hutch's code. The init is held stopped (SIGSTOP) when `start` comes:
/// `start` must not return while it is.
#[test]
fn start_returns_once_the_program_is_exec_d() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let env = Env::new("startexec");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let hutch = fs::metadata(env.bin()).unwrap();
    let is_hutch = |pid: i32| {
        fs::metadata(format!("/proc/{pid}/exe"))
            .is_ok_and(|m| (m.dev(), m.ino()) == (hutch.dev(), hutch.ino()))
    };
    let id = env.id();
    let _c = env.create(&id, &bundle);
    let pid = env.pid(&id);
    kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
    assert!(poll(WAIT, || proc_state(pid) == Some('T')));
    let mut start = env
        .command(&["start", &id])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Not an assertion of time: a start that returns at all while the init
    // is stopped returned before the execve.
    let mut early = None;
    poll(Duration::from_secs(1), || {
        early = start.try_wait().unwrap();
        early.is_some()
    });
    let returned_early = early.is_some() && is_hutch(pid);
    kill(Pid::from_raw(pid), Signal::SIGCONT).unwrap();
    let mut status = early;
    poll(WAIT, || {
        status = start.try_wait().unwrap();
        status.is_some()
    });
    if status.is_none() {
        let _ = start.kill();
        let _ = start.wait();
    }
    assert!(
        !returned_early,
        "start returned while the init had not exec'd"
    );
    assert!(status.is_some_and(|s| s.success()), "start: {status:?}");
    assert!(!is_hutch(pid), "start returned before the execve");
    assert_eq!(env.status(&id), "running");
}

// --- issue 16: no command, --version ---

/// As runc: `hutch` with no command (global flags or not) prints the help
/// on stdout and succeeds; `--version` names the commit and libseccomp.
#[test]
fn no_command_prints_help_and_version_names_commit_and_libseccomp() {
    for args in [vec![], vec!["--debug"]] {
        let out = run_runtime(None, &args, None, Out::Capture).ok();
        assert!(out.stdout.contains("Usage: hutch"), "{out:#?}");
        assert!(out.stdout.contains("create"), "{out:#?}");
        // exec works in a created container too (as runc's).
        assert!(out.stdout.contains("running or created"), "{out:#?}");
        assert!(out.stderr.is_empty(), "{out:#?}");
    }
    let v = run_runtime(None, &["--version"], None, Out::Capture).ok();
    let lines: Vec<&str> = v.stdout.lines().collect();
    assert!(lines[0].starts_with("hutch version "), "{v:#?}");
    let commit = lines.iter().find_map(|l| l.strip_prefix("commit: "));
    assert!(
        commit.is_some_and(|c| c.len() >= 40 && c[..40].bytes().all(|b| b.is_ascii_hexdigit())),
        "{v:#?}"
    );
    let seccomp = lines.iter().find_map(|l| l.strip_prefix("libseccomp: "));
    assert!(seccomp.is_some_and(|s| s.split('.').count() == 3), "{v:#?}");
}
