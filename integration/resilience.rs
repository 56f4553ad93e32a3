//! Crashes, races and load: `create` killed at each step, many commands on one
//! container at once, hundreds of containers, and a --root that cannot be
//! written. Each test checks what is left on the host afterwards.

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

/// The steps of `create` where a debug build stops itself when
/// HUTCH_TEST_PAUSE_AT names them (src/testpoint.rs), in order.
/// "state-dir-unpublished": the directory exists under its temporary name
/// (`~new-<pid>-<random>`), locked and naming the ID, not yet renamed to it.
/// "cgroup-made" (v1 only): the cgroup is made and configured while the init
/// sets up, and not yet sent to it.
const STEPS: [&str; 7] = [
    "state-dir-unpublished",
    "state-dir",
    "cloned",
    "cgroup-made",
    "rootfs-ready",
    "before-state",
    "waiting-for-start",
];

/// Spawns `cmd` with its output in `scratch`.
fn spawn_quiet(mut cmd: Command, scratch: &Path, name: &str) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(fs::File::create(scratch.join(format!("{name}.out"))).unwrap())
        .stderr(fs::File::create(scratch.join(format!("{name}.err"))).unwrap())
        .spawn()
        .unwrap()
}

#[test]
fn create_killed_at_each_step_leaves_nothing_after_delete_force() {
    let env = Env::exclusive("crash");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let scratch = TempDir::new("crash");
    for step in STEPS {
        if step == "cgroup-made" && cgroup_v2() {
            continue;
        }
        let snapshot = HostSnapshot::take(&[]);
        let id = env.id();
        let mut cmd = env.command(&["create", "--bundle", bundle.arg(), &id]);
        cmd.env("HUTCH_TEST_PAUSE_AT", step);
        let mut create = spawn_quiet(cmd, scratch.path(), step);
        let pid = create.id() as i32;
        let paused = poll(WAIT, || proc_state(pid) == Some('T'));
        if !paused {
            let _ = create.kill();
            panic!("{step}: create never reached its pause point (is this a release build?)");
        }
        // From "cloned" on, the init exists next to the paused create.
        let mut others = runtime_processes(&[]);
        others.retain(|p, _| *p != pid && alive(*p));
        assert_eq!(
            others.is_empty(),
            step.starts_with("state-dir"),
            "{step}: processes {others:?}"
        );
        if step == "cgroup-made" {
            // Made, so that delete --force has something to remove.
            assert!(!cgroups_named(&id).is_empty(), "{step}: no cgroup made");
        }
        if step == "state-dir-unpublished" {
            // The directory of a creator still alive is its own.
            env.delete_force(&id).ok();
            let prefix = format!("~new-{pid}-");
            let tmp: Vec<_> = fs::read_dir(env.root())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect();
            assert!(
                tmp.len() == 1 && tmp[0].join(".id").exists(),
                "{step}: delete --force removed {prefix}* of a live create: {tmp:?}"
            );
            // Named in its .id, but not a container yet.
            let listed = env.run(&["list", "-q"]).ok().stdout;
            assert!(!listed.contains(&id), "{step}: list shows {id}: {listed}");
        }
        create.kill().unwrap();
        create.wait().unwrap();

        let state = env.run(&["state", &id]);
        if step == "waiting-for-start" {
            // State is on disk and the init waits for start: that is "created".
            let state: serde_json::Value = serde_json::from_str(&state.ok().stdout).unwrap();
            assert_eq!(state["status"], "created", "{step}: {state}");
            let init = state["pid"].as_i64().unwrap() as i32;
            assert!(alive(init), "{step}: the init {init} is gone");
        } else if step == "state-dir-unpublished" {
            // Not published: no such container yet.
            state.fails_with(&["does not exist"]);
        } else {
            // No state: a clear error, and the init (if cloned) exits by itself.
            state.fails_with(&["creation did not finish"]);
            let mut left = Default::default();
            let gone = poll(WAIT, || {
                left = runtime_processes(&[]);
                left.retain(|p, _| alive(*p));
                left.is_empty()
            });
            assert!(gone, "{step}: the init outlived create: {left:?}");
        }
        env.delete_force(&id).ok();
        env.assert_gone(&id);
        let left: Vec<_> = fs::read_dir(env.root())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "{step}: left in --root: {left:?}");
        snapshot.assert_unchanged_below(&[], &format!("after create was killed at {step}"));
    }
}

/// `create` killed while its init builds the rootfs, a step that can take
/// long (many mounts, copy-ups) and in which the init does not read its
/// channel: the init must die with `create` rather than carry on with no
/// state naming it (`delete --force` then waited on its cgroup forever).
#[test]
fn create_killed_while_the_init_builds_the_rootfs_takes_the_init_along() {
    let env = Env::exclusive("orphan");
    let mut config = sh("exec sleep 1000");
    // A PID namespace's init ignores its own SIGSTOP, which the pause point
    // raises: this init stays in the host's PID namespace.
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    let bundle = Bundle::new(&config);
    let scratch = TempDir::new("orphan");
    let id = env.id();
    let mut cmd = env.command(&["create", "--bundle", bundle.arg(), &id]);
    cmd.env("HUTCH_TEST_PAUSE_AT", "building-rootfs");
    let mut create = spawn_quiet(cmd, scratch.path(), "create");
    let init = wait_stopped_child(create.id());
    create.kill().unwrap();
    create.wait().unwrap();
    let init = init.expect("the init never reached its pause point (release build?)");
    let gone = poll(WAIT, || !alive(init));
    if !gone {
        // Leave nothing behind, whatever the verdict.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(init),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(gone, "the init {init} outlived the create that was killed");
    env.delete_force(&id).ok();
    env.assert_gone(&id);
}

// ---------------------------------------------------------------------------
// Races

/// Runs each command line at once (one thread each), returns their outputs
/// in order.
fn all_at_once(env: &Env, lines: Vec<Vec<String>>) -> Vec<Output> {
    let (bin, root) = (env.bin().to_path_buf(), env.root().to_path_buf());
    let handles: Vec<_> = lines
        .into_iter()
        .map(|args| {
            let (bin, root) = (bin.clone(), root.clone());
            thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                run_runtime_at(&bin, Some(&root), &args, None, Out::Capture)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn line(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn fifty_creates_of_one_id_make_one_container() {
    let env = Env::exclusive("same-id");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let id = env.id();
    let outs = all_at_once(
        &env,
        (0..50)
            .map(|_| line(&["create", "--bundle", bundle.arg(), &id]))
            .collect(),
    );
    let (won, lost): (Vec<_>, Vec<_>) = outs.into_iter().partition(|o| o.status.success());
    assert_eq!(won.len(), 1, "winners: {won:#?}");
    for o in lost {
        o.fails_with(&["already exists"]);
    }
    assert_eq!(env.status(&id), "created");
    env.start(&id).ok();
    assert_eq!(env.status(&id), "running");
    env.delete_force(&id).ok();
    env.assert_gone(&id);
    let left: Vec<_> = fs::read_dir(env.root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in --root: {left:?}");
}

#[test]
fn kill_delete_and_state_racing_never_corrupt_state() {
    let env = Env::exclusive("race");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    for _ in 0..5 {
        let id = env.id();
        let c = env.create(&id, &bundle);
        env.start(&c.id).ok();
        let mut lines = Vec::new();
        for i in 0..24 {
            lines.push(match i % 6 {
                0 => line(&["kill", &id, "KILL"]),
                1 => line(&["delete", "--force", &id]),
                2 => line(&["delete", &id]),
                _ => line(&["state", &id]),
            });
        }
        for o in all_at_once(&env, lines) {
            if o.status.success() {
                if o.what.contains("\"state\"") {
                    let v: serde_json::Value = serde_json::from_str(&o.stdout)
                        .unwrap_or_else(|e| panic!("state is not JSON ({e}): {o:#?}"));
                    assert!(
                        ["running", "stopped"].contains(&v["status"].as_str().unwrap_or("")),
                        "{v}"
                    );
                }
            } else {
                // Losing a race is a clean, named failure, never a corrupt file.
                o.fails_with(&["does not exist|not running|not stopped"]);
            }
        }
        // Someone's delete --force won: the container is gone for good.
        env.assert_gone(&id);
    }
}

/// The number of fds this test process has open.
fn my_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn two_hundred_containers_twenty_at_a_time_leak_nothing() {
    let env = Env::exclusive("stress");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let snapshot = HostSnapshot::take(&[]);
    let fds_before = my_fds();
    let ids: Vec<String> = (0..200).map(|_| env.id()).collect();
    let (bin, root, b) = (
        env.bin().to_path_buf(),
        env.root().to_path_buf(),
        bundle.arg().to_string(),
    );
    let workers: Vec<_> = ids
        .chunks(10)
        .map(|chunk| {
            let (bin, root, b, chunk) = (bin.clone(), root.clone(), b.clone(), chunk.to_vec());
            thread::spawn(move || {
                let run =
                    |args: &[&str]| run_runtime_at(&bin, Some(&root), args, None, Out::Capture);
                for id in &chunk {
                    run(&["create", "--bundle", &b, id]).ok();
                    run(&["start", id]).ok();
                    assert!(run(&["state", id]).ok().stdout.contains("\"running\""));
                    run(&["kill", id, "KILL"]).ok();
                    let stopped = poll(WAIT, || {
                        run(&["state", id]).ok().stdout.contains("\"stopped\"")
                    });
                    assert!(stopped, "{id} never stopped");
                    run(&["delete", id]).ok();
                }
            })
        })
        .collect();
    assert_eq!(workers.len(), 20);
    for w in workers {
        w.join().unwrap();
    }
    let left: Vec<_> = fs::read_dir(env.root())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left in --root: {left:?}");
    snapshot.assert_unchanged_below(&[], "after 200 containers");
    let fds_after = my_fds();
    assert_eq!(fds_before, fds_after, "fds of the test process");
}

/// Images link with ".." (`/var/run -> ../run`), and the kernel refuses such a
/// walk under RESOLVE_IN_ROOT (EAGAIN, "retry") when anything on the host was
/// renamed meanwhile. Other containers starting make that common; here a
/// thread renames without pause while containers get a mount and a cwd
/// through such a link: every one must start.
#[test]
fn dot_dot_links_in_the_rootfs_resolve_while_the_host_renames() {
    let env = Env::new("dotdot");
    let rootfs = RootfsCopy::new();
    fs::create_dir_all(rootfs.path().join("run/a/b")).unwrap();
    fs::remove_dir_all(rootfs.path().join("var/run")).ok();
    std::os::unix::fs::symlink(
        "../run/a/b/../../../run/a/b/../..",
        rootfs.path().join("var/run"),
    )
    .unwrap();
    let mut config = sh("cd /var/run/a && pwd -P");
    config["root"]["path"] = serde_json::json!(rootfs.path());
    config["process"]["cwd"] = serde_json::json!("/var/run/a/b");
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!(
            {"destination": "/var/run/secrets/x", "type": "tmpfs", "source": "tmpfs"}
        ));
    let bundle = Bundle::new(&config);

    let scratch = TempDir::new("renames");
    let (a, b) = (scratch.path().join("a"), scratch.path().join("b"));
    fs::write(&a, "").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let stop = stop.clone();
        thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fs::rename(&a, &b).unwrap();
                fs::rename(&b, &a).unwrap();
            }
        })
    };
    let outs: Vec<Output> = (0..20)
        .map(|_| {
            let id = env.id();
            let out = env.run(&["run", "--bundle", bundle.arg(), &id]);
            env.run(&["delete", "--force", &id]);
            out
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    renamer.join().unwrap();
    for out in outs {
        assert_eq!(out.ok().stdout.trim(), "/run/a");
    }
}

// ---------------------------------------------------------------------------
// A --root that cannot be written

/// Runs `script` in a private mount namespace (util-linux unshare: mounts made
/// there never reach the host) with $DIR set to `dir` and $HUTCH the runtime.
fn in_private_mounts(env: &Env, dir: &Path, script: &str) -> Output {
    let err = TempDir::new("err");
    let err_path = err.path().join("stderr");
    let out_path = err.path().join("stdout");
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script])
        .env("DIR", dir)
        .env("HUTCH", env.bin())
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap());
    let status = run_bounded(&mut cmd, Duration::from_secs(20));
    Output {
        what: format!("{cmd:?}"),
        status,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

#[test]
fn a_read_only_or_full_root_is_a_clear_error() {
    let env = Env::new("rofs");
    let bundle = Bundle::new(&sh("exec sleep 1000"));
    let dir = TempDir::new("rofs");
    let create = format!(
        "\"$HUTCH\" --root \"$DIR/state\" create --bundle {} c1",
        bundle.arg()
    );
    let cases = [
        (
            "read-only, no root yet",
            format!("mount -t tmpfs -o ro tmpfs \"$DIR\" && {create}"),
            "read-only file system",
        ),
        (
            "read-only, root exists",
            format!(
                "mount -t tmpfs tmpfs \"$DIR\" && mkdir \"$DIR/state\" && \
                 mount -o remount,ro \"$DIR\" && {create}"
            ),
            "read-only file system",
        ),
        (
            "full",
            format!(
                "mount -t tmpfs -o size=64k tmpfs \"$DIR\" && mkdir \"$DIR/state\" && \
                 {{ dd if=/dev/zero of=\"$DIR/fill\" bs=4k 2>/dev/null; true; }} && \
                 {{ {create}; rc=$?; echo left=$(ls -A \"$DIR/state\"); exit $rc; }}"
            ),
            "no space left on device",
        ),
    ];
    for (what, script, error) in cases {
        let out = in_private_mounts(&env, dir.path(), &script);
        let left = out.stdout.clone();
        out.fails_with(&[error, "c1"]);
        if what == "full" {
            assert_eq!(left.trim(), "left=", "{what}: left in --root");
        }
        assert!(
            mounts_under(dir.path()).is_empty(),
            "{what}: mount reached the host"
        );
        assert!(
            fs::read_dir(dir.path()).unwrap().next().is_none(),
            "{what}: wrote to the host dir under the mount"
        );
    }
}

// ---------------------------------------------------------------------------
// A container that nests its own cgroups deeper than PATH_MAX

/// Levels of the chain a deep container makes below its cgroup, each named
/// "level": 12 KB of path, three times PATH_MAX, so that no absolute path
/// reaches the deepest (and a walk holding one fd per level would need 2000).
const DEPTH: usize = 2000;

/// A container allowed to manage its cgroups (a cgroup namespace and a
/// read-write `cgroup` mount, as podman gives systemd containers) that
/// nests DEPTH levels below its cgroup, in its tree on v2 and in the pids,
/// memory, name=systemd and freezer hierarchies on v1, moves `sleep {tag}`
/// into the deepest level of each, freezes that deepest level itself
/// (on v1 SIGKILL waits until a frozen task is thawed), prints "ready" and
/// idles as `sleep 1000`. ash's `cd -P` reads the new cwd back with getcwd,
/// which beyond PATH_MAX climbs the whole chain: 20 `cd`s of 100 levels
/// each rather than 2000 of one.
fn deep_config(tag: u32) -> serde_json::Value {
    let script = format!(
        r#"c=level; i=1; while [ $i -lt 100 ]; do c=$c/level; i=$((i+1)); done
deep() {{ cd -P "/sys/fs/cgroup/$1" && n=0 && while [ $n -lt {chunks} ]; do mkdir -p $c && cd -P $c || return 1; n=$((n+1)); done; }}
sleep {tag} & s=$!
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    (deep . && echo $s >cgroup.procs && echo 1 >cgroup.freeze) || {{ echo "nesting failed"; exit 1; }}
else
    for h in pids memory systemd freezer; do
        [ -d /sys/fs/cgroup/$h ] || continue
        (deep $h && echo $s >cgroup.procs && {{ [ $h != freezer ] || echo FROZEN >freezer.state; }}) ||
            {{ echo "nesting in $h failed"; exit 1; }}
    done
fi
echo ready
exec sleep 1000"#,
        chunks = DEPTH / 100
    );
    let mut c = sh(&script);
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "cgroup"}));
    c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "rw"],
    }));
    c
}

/// Starts a deep container (`deep_config`) and waits until it is ready:
/// its ID, its init and its deep process (host PIDs).
fn start_deep(env: &Env, tag: u32) -> (Container, Bundle, i32, i32) {
    let bundle = Bundle::new(&deep_config(tag));
    let c = env.create(&env.id(), &bundle);
    env.start(&c.id).ok();
    let ready = poll(Duration::from_secs(120), || {
        c.output().lines().any(|l| l == "ready") || env.status(&c.id) != "running"
    });
    assert!(
        ready && c.output().lines().any(|l| l == "ready"),
        "{} never got ready: {:?}",
        c.id,
        c.output()
    );
    let init = env.pid(&c.id);
    let wanted = format!("sleep {tag}");
    let deep: Vec<i32> = runtime_processes(&[&wanted])
        .into_iter()
        .filter(|(_, cmd)| cmd.trim() == wanted)
        .map(|(p, _)| p)
        .collect();
    assert_eq!(deep.len(), 1, "processes `{wanted}`: {deep:?}");
    let deep = deep[0];
    // Deeper than any absolute path can reach.
    let cgroups = fs::read_to_string(format!("/proc/{deep}/cgroup")).unwrap_or_default();
    let longest = cgroups.lines().map(str::len).max().unwrap_or(0);
    assert!(
        longest > 4096,
        "{wanted} is not deeper than PATH_MAX: {longest} bytes"
    );
    (c, bundle, init, deep)
}

/// The runtime with `args` under an RLIMIT_NOFILE of 64: a walk holding
/// one fd per level would fail.
fn with_few_fds(env: &Env, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "ulimit -n 64 && exec \"$@\"", "sh"])
        .arg(env.bin())
        .arg("--root")
        .arg(env.root())
        .args(args)
        .stdin(Stdio::null());
    capture(cmd, Out::Capture)
}

/// Nothing of container `id` is left: no state, no cgroup directory in any
/// hierarchy.
#[track_caller]
fn assert_deep_gone(env: &Env, id: &str) {
    env.assert_gone(id);
    assert_no_cgroup(&format!("/{id}"));
}

#[test]
fn ps_kill_all_and_delete_force_win_over_cgroups_nested_2000_deep() {
    let env = Env::new("deep");

    // ps lists every process, the deep one too; kill --all kills them all.
    let (c, _bundle, init, deep) = start_deep(&env, 314_159);
    let out = with_few_fds(&env, &["ps", "--format", "json", &c.id]).ok();
    let pids: Vec<i32> = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("ps --format json: {e}: {out:#?}"));
    assert!(
        pids.contains(&init) && pids.contains(&deep),
        "ps lists {pids:?}, without the init {init} or the deep {deep}"
    );
    let out = with_few_fds(&env, &["ps", &c.id]).ok();
    assert!(out.stdout.contains("sleep 314159"), "ps: {}", out.stdout);
    with_few_fds(&env, &["kill", "--all", &c.id, "KILL"]).ok();
    assert!(
        poll(WAIT, || !alive(init) && !alive(deep)),
        "kill --all KILL left the init {init} alive ({}) or the deep {deep} ({})",
        alive(init),
        alive(deep)
    );
    env.wait_status(&c.id, "stopped");
    with_few_fds(&env, &["delete", &c.id]).ok();
    assert_deep_gone(&env, &c.id);

    // delete --force of one running, its deep process frozen by itself.
    let (c, _bundle, init, deep) = start_deep(&env, 271_828);
    let t = std::time::Instant::now();
    with_few_fds(&env, &["delete", "--force", &c.id]).ok();
    eprintln!(
        "delete --force of a container with {DEPTH} nested cgroups: {:?}",
        t.elapsed()
    );
    assert!(
        !alive(init) && !alive(deep),
        "delete --force left the init {init} alive ({}) or the deep {deep} ({})",
        alive(init),
        alive(deep)
    );
    assert_deep_gone(&env, &c.id);
}

/// A cgroup hutch cannot walk or remove (here a tmpfs mounted on one of
/// the container's sub-cgroups, in a private mount namespace that `delete`
/// runs in): `delete --force` fails naming it and what is left, with the
/// container killed, thawed and its state kept; once the mount is gone a
/// `delete` removes the rest.
#[test]
fn delete_force_that_cannot_finish_leaves_the_container_thawed_and_names_what_is_left() {
    let env = Env::new("stuck");
    let script = "for h in pids memory; do [ ! -d /sys/fs/cgroup/$h ] || mkdir -p /sys/fs/cgroup/$h/a/b; done; \
                  [ ! -e /sys/fs/cgroup/cgroup.controllers ] || mkdir -p /sys/fs/cgroup/a/b; \
                  echo ready; exec sleep 1000";
    let mut config = sh(script);
    config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"type": "cgroup"}));
    config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "rw"],
        }));
    // The pids tree is walked while the container is frozen (to kill), the
    // memory tree (v1) only to be removed.
    let mut cases = vec![(
        "pids",
        vec![
            "another file system is mounted there",
            "its init was sent SIGKILL",
            "kept",
        ],
    )];
    if !cgroup_v2() {
        cases.push((
            "memory",
            vec![
                "another file system is mounted there",
                "3 cgroup directories left",
                "state is kept",
            ],
        ));
    }
    for (hierarchy, words) in cases {
        let (c, _bundle) = env.run_container(&config);
        c.wait_line("ready");
        let init = env.pid(&c.id);
        let path = format!("/{}", c.id);
        let stuck = cgroup_dir(hierarchy, &format!("{path}/a/b"));
        let script = format!(
            "mount -t tmpfs tmpfs \"$DIR\" && exec \"$HUTCH\" --root {} delete --force {}",
            env.root().display(),
            c.id
        );
        let out = in_private_mounts(&env, &stuck, &script);
        let mut tokens = vec![c.id.as_str(), "a/b"];
        tokens.extend(words.iter().copied());
        out.fails_with(&tokens);
        assert!(
            poll(WAIT, || !alive(init)),
            "{hierarchy}: the init {init} lives on"
        );
        // (Removed already, where only another tree is stuck.)
        let (file, thawed) = if cgroup_v2() {
            (cgroup_dir("", &path).join("cgroup.freeze"), "0")
        } else {
            (cgroup_dir("freezer", &path).join("freezer.state"), "THAWED")
        };
        let thawed = fs::read_to_string(&file).map_or(true, |s| s.trim() == thawed);
        assert!(thawed, "{hierarchy}: the container was left frozen");
        assert!(env.state_dir(&c.id).exists(), "{hierarchy}: state removed");
        assert_eq!(env.status(&c.id), "stopped");
        env.delete(&c.id).ok();
        assert_deep_gone(&env, &c.id);
    }
}
