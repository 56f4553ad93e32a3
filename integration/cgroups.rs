//! cgroup integration tests: placement, limits written and enforced, the
//! `cgroup` mount, clean-up; on whatever cgroup layout the host has (v1 or
//! hybrid here, v2 in hack/vm-test).

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;

/// A config running `script` in cgroup `path` with `resources`.
fn config(script: &str, path: &str, resources: Value) -> Value {
    let mut c = sh(script);
    c["linux"]["cgroupsPath"] = json!(path);
    c["linux"]["resources"] = resources;
    c
}

/// `script`, then `ready`, then idle with sh as the init.
fn idle_after(script: &str) -> String {
    format!("{script}; echo ready; while :; do sleep 1000; done")
}

/// An absolute cgroup path unique to this container.
fn path_for(id: &str) -> String {
    format!("/{id}")
}

/// Every hierarchy of a /proc/PID/cgroup text ends in `path`. On a hybrid
/// host the container is not placed in the (empty) v2 tree: its "0::" line
/// is not ours to check.
fn assert_all_in(proc_cgroup: &str, path: &str, who: &str) {
    let lines: Vec<&str> = proc_cgroup
        .lines()
        .filter(|l| cgroup_v2() || !l.starts_with("0::"))
        .collect();
    assert!(!lines.is_empty(), "{who}: nothing read: {proc_cgroup:?}");
    for l in lines {
        assert!(l.ends_with(path), "{who} outside {path}: {l}");
    }
}

fn with_cgroup_mount(mut c: Value, options: &[&str]) -> Value {
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": options,
    }));
    c
}

#[test]
fn init_is_in_its_cgroup_with_limits_written() {
    let env = Env::new("cg-limits");
    let id = env.id();
    let path = path_for(&id);
    let resources = json!({
        "memory": { "limit": 64 << 20, "reservation": 32 << 20, "swappiness": 10 },
        "cpu": { "shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0" },
        "pids": { "limit": 30 },
    });
    let bundle = Bundle::new(&config(
        &idle_after("cat /proc/self/cgroup"),
        &path,
        resources,
    ));
    let c = env.create(&id, &bundle);
    // Placed before it runs anything: already in every hierarchy when created.
    let pid = env.pid(&id);
    for d in cgroup_dirs(&path) {
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap();
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "init {pid} not in {d:?}: {procs:?}"
        );
    }
    env.start(&id).ok();
    let out = c.wait_line("ready");
    assert!(
        out.contains(&path),
        "/proc/self/cgroup inside lacks {path}: {out}"
    );
    if cgroup_v2() {
        assert_eq!(cgroup_read("", &path, "memory.max"), (64 << 20).to_string());
        assert_eq!(cgroup_read("", &path, "memory.low"), (32 << 20).to_string());
        // shares 512 -> weight 1 + (510 * 9999) / 262142, as runc converts.
        assert_eq!(cgroup_read("", &path, "cpu.weight"), "20");
        assert_eq!(cgroup_read("", &path, "cpu.max"), "50000 100000");
    } else {
        let mem = |f| cgroup_read("memory", &path, f);
        assert_eq!(mem("memory.limit_in_bytes"), (64 << 20).to_string());
        assert_eq!(mem("memory.soft_limit_in_bytes"), (32 << 20).to_string());
        assert_eq!(mem("memory.swappiness"), "10");
        let cpu = |f| cgroup_read("cpu", &path, f);
        assert_eq!(cpu("cpu.shares"), "512");
        assert_eq!(cpu("cpu.cfs_quota_us"), "50000");
        assert_eq!(cpu("cpu.cfs_period_us"), "100000");
    }
    assert_eq!(cgroup_read("cpuset", &path, "cpuset.cpus"), "0");
    assert_eq!(cgroup_read("cpuset", &path, "cpuset.mems"), "0");
    assert_eq!(cgroup_read("pids", &path, "pids.max"), "30");

    env.delete_force(&id).ok();
    assert_no_cgroup(&path);
    env.assert_gone(&id);
}

/// On v1 the cgroup is made while the init builds its mounts, and the init
/// moves itself in afterwards (without hooks, once its root is finished):
/// the hooks that run before pivot_root must already find it there, in
/// every hierarchy; a createContainer hook (run by the init, in the
/// container's namespaces) must run in it.
#[test]
fn hooks_find_the_init_in_its_cgroup() {
    let env = Env::new("cg-hooks");
    let id = env.id();
    let path = path_for(&id);
    let out = TempDir::new("cg-hooks-out");
    let hook = |name: &str| {
        // The state on stdin carries the init's pid.
        let script = format!(
            "pid={STATE_PID}; cat /proc/$pid/cgroup > {}/{name}",
            out.path().display()
        );
        json!([{ "path": "/bin/sh", "args": ["sh", "-c", script] }])
    };
    let mut c = config("true", &path, json!({ "pids": { "limit": 100 } }));
    c["hooks"] = json!({ "prestart": hook("prestart"), "createRuntime": hook("createRuntime") });
    let bundle = Bundle::new(&c);
    env.create(&id, &bundle);
    for name in ["prestart", "createRuntime"] {
        let seen = fs::read_to_string(out.path().join(name)).unwrap();
        assert_all_in(&seen, &path, &format!("the init, seen by the {name} hook"));
    }
    env.delete_force(&id).ok();
    assert_no_cgroup(&path);

    // Alone: the init would otherwise enter its cgroup only after it.
    let script = format!(
        "cat /proc/self/cgroup > {}/createContainer",
        out.path().display()
    );
    c["hooks"] =
        json!({ "createContainer": [{ "path": "/bin/sh", "args": ["sh", "-c", script] }] });
    let bundle = Bundle::new(&c);
    env.create(&id, &bundle);
    let seen = fs::read_to_string(out.path().join("createContainer")).unwrap();
    assert_all_in(&seen, &path, "a createContainer hook");
    env.delete_force(&id).ok();
    assert_no_cgroup(&path);
}

/// On v1, create makes the cgroup while the init it cloned sets up, and
/// moves itself off the init's CPU for that while (cpu_affinity::step_aside).
/// Neither the hooks the runtime runs nor the init keep anything of it: they
/// run on the CPUs the runtime was given. Several creates, as the runtime
/// steps aside only when the kernel put the init on its CPU (most of the
/// time on this 2-CPU VM). On one CPU there is nothing to see.
#[test]
fn hooks_and_the_init_run_on_the_runtimes_cpus() {
    let env = Env::new("cg-cpus");
    let out = TempDir::new("cg-cpus-out");
    let allowed = |status: &str| {
        cpus_allowed(status).unwrap_or_else(|| panic!("no Cpus_allowed_list in {status:?}"))
    };
    let ours = allowed(&fs::read_to_string("/proc/self/status").unwrap());
    for _ in 0..8 {
        let id = env.id();
        let path = path_for(&id);
        let hook = |name: &str| {
            let script = format!("cat /proc/self/status > {}/{name}", out.path().display());
            json!([{ "path": "/bin/sh", "args": ["sh", "-c", script] }])
        };
        let mut c = config("true", &path, json!({}));
        c["hooks"] =
            json!({ "prestart": hook("prestart"), "createRuntime": hook("createRuntime") });
        let bundle = Bundle::new(&c);
        env.create(&id, &bundle);
        let init = fs::read_to_string(format!("/proc/{}/status", env.pid(&id))).unwrap();
        env.delete_force(&id).ok();
        assert_no_cgroup(&path);
        assert_eq!(allowed(&init), ours, "the container init's CPUs");
        for name in ["prestart", "createRuntime"] {
            let seen = fs::read_to_string(out.path().join(name)).unwrap();
            assert_eq!(allowed(&seen), ours, "the {name} hook's CPUs");
        }
    }
}

/// A tmpcopyup fills a tmpfs with the image's files: those pages are the
/// container's memory, charged to its cgroup even though the init copies
/// them before its set-up is done.
#[test]
fn tmpcopyup_pages_are_charged_to_the_container() {
    let env = Env::new("cg-copyup");
    let id = env.id();
    let path = path_for(&id);
    let image = RootfsCopy::new();
    let srv = image.path().join("srv");
    fs::create_dir_all(&srv).unwrap();
    const SIZE: usize = 24 << 20;
    fs::write(srv.join("big"), vec![7u8; SIZE]).unwrap();
    let mut c = config("true", &path, json!({ "memory": { "limit": 512 << 20 } }));
    c["root"] = json!({ "path": image.path() });
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/srv", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "size=64m"]
    }));
    let bundle = Bundle::new(&c);
    env.create(&id, &bundle);
    let used: usize = if cgroup_v2() {
        cgroup_read("", &path, "memory.current")
    } else {
        cgroup_read("memory", &path, "memory.usage_in_bytes")
    }
    .parse()
    .unwrap();
    env.delete_force(&id).ok();
    assert_no_cgroup(&path);
    assert!(
        used >= SIZE,
        "the container's cgroup holds {used} bytes, less than the {SIZE} copied into its tmpfs"
    );
}

#[test]
fn default_path_is_the_id_and_delete_removes_it() {
    let env = Env::new("cg-default");
    let (c, _b) = env.run_container(&sh(&idle_after("cat /proc/self/cgroup")));
    let out = c.wait_line("ready");
    let path = format!("/{}", c.id);
    assert!(out.contains(&path), "not in {path}: {out}");
    let pid = env.pid(&c.id);
    assert!(cgroup_pids("pids", &path).contains(&pid));
    env.delete_force(&c.id).ok();
    assert_no_cgroup(&path);
}

/// The default path is the ID, so an ID that names a control file of the
/// hierarchy's root is refused before anything is written to it.
#[test]
fn an_id_naming_a_control_file_is_refused() {
    let env = Env::new("cg-ctlfile");
    let bundle = Bundle::new(&sh("true"));
    let other = if cgroup_v2() {
        "cgroup.controllers"
    } else {
        "tasks"
    };
    for id in ["cgroup.procs", other] {
        let c = Container::new(id);
        env.create_args(&["--bundle", bundle.arg(), id], None, &c.out)
            .fails_with(&["linux.cgroupsPath", id, "control file"]);
        env.assert_gone(id);
    }
}

#[test]
fn parents_made_for_the_path_go_with_the_container() {
    let env = Env::new("cg-parents");
    let id = env.id();
    let top = path_for(&id);
    let path = format!("{top}/a/b");
    let bundle = Bundle::new(&config(
        &idle_after("true"),
        &path,
        json!({"pids": {"limit": 9}}),
    ));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    assert_eq!(cgroup_read("pids", &path, "pids.max"), "9");
    assert!(cgroup_pids("pids", &path).contains(&env.pid(&id)));
    env.delete_force(&id).ok();
    assert_no_cgroup(&top);
}

#[test]
fn relative_path_is_below_the_callers_cgroup() {
    let env = Env::new("cg-rel");
    let id = env.id();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let own_pids = own
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, p) = (f.next()?, f.next()?, f.next()?);
            let hit = if cgroup_v2() {
                ctl.is_empty()
            } else {
                ctl.split(',').any(|c| c == "pids")
            };
            hit.then(|| p.to_string())
        })
        .expect("own pids cgroup");
    let expected = format!("{}/{id}", own_pids.trim_end_matches('/'));
    let bundle = Bundle::new(&config(
        &idle_after("true"),
        &id,
        json!({"pids": {"limit": 9}}),
    ));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    assert_eq!(cgroup_read("pids", &expected, "pids.max"), "9");
    assert!(cgroup_pids("pids", &expected).contains(&env.pid(&id)));
    env.delete_force(&id).ok();
    assert_no_cgroup(&expected);
}

#[test]
fn over_the_pids_limit_cannot_fork() {
    let env = Env::new("cg-pids");
    let id = env.id();
    let path = path_for(&id);
    // sh gives up at the first failed fork: do the forking in a child sh,
    // which with the init and two sleeps fills the limit of 4.
    let script =
        idle_after("sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 1000 & echo started=$i; done' 2>&1");
    let bundle = Bundle::new(&config(&script, &path, json!({"pids": {"limit": 4}})));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    let out = c.wait_line("ready");
    assert!(
        out.contains("can't fork"),
        "no fork failure reported: {out}"
    );
    let started = out.lines().filter(|l| l.starts_with("started=")).count();
    assert_eq!(started, 2, "forks past the limit succeeded: {out}");
    let procs = cgroup_pids("pids", &path);
    assert!(procs.len() <= 4, "cgroup holds {procs:?}, limit 4");
    env.delete_force(&id).ok();
    assert_no_cgroup(&path);
}

#[test]
fn memory_hog_over_the_limit_is_oom_killed() {
    let env = Env::new("cg-oom");
    let id = env.id();
    let path = path_for(&id);
    // dd's 64 MiB buffer cannot fit in 16 MiB (swap included).
    let script = idle_after("dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd=$?");
    let resources = json!({"memory": {"limit": 16 << 20, "swap": 16 << 20}});
    let bundle = Bundle::new(&config(&script, &path, resources));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    assert_eq!(c.value("dd"), "137", "dd was not SIGKILLed");
    let kills = if cgroup_v2() {
        cgroup_read("", &path, "memory.events")
    } else {
        cgroup_read("memory", &path, "memory.oom_control")
    };
    let n: u64 = kills
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(n >= 1, "no OOM kill recorded: {kills}");
    env.delete_force(&id).ok();
}

#[test]
fn cgroup_mount_shows_only_the_containers_cgroup_read_only() {
    let env = Env::new("cg-mount");
    let id = env.id();
    let path = path_for(&id);
    let (pids_dir, mem_file) = if cgroup_v2() {
        ("/sys/fs/cgroup", "/sys/fs/cgroup/memory.max")
    } else {
        (
            "/sys/fs/cgroup/pids",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        )
    };
    let script = idle_after(&format!(
        "echo max=$(cat {pids_dir}/pids.max); echo mem=$(cat {mem_file}); \
         echo procs=$(cat {pids_dir}/cgroup.procs | wc -l); \
         echo subdirs=$(find {pids_dir} -mindepth 1 -type d | wc -l); \
         if echo 5 > {pids_dir}/pids.max; then echo write=ok; else echo write=refused; fi"
    ));
    let resources = json!({"pids": {"limit": 12}, "memory": {"limit": 48 << 20}});
    let conf = with_cgroup_mount(
        config(&script, &path, resources),
        &["nosuid", "noexec", "nodev", "relatime", "ro"],
    );
    let bundle = Bundle::new(&conf);
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    assert_eq!(c.value("max"), "12");
    assert_eq!(c.value("mem"), (48 << 20).to_string());
    // Only the container's own cgroup: its processes, no host sub-cgroups.
    let procs: usize = c.value("procs").parse().unwrap();
    assert!((1..=6).contains(&procs), "procs={procs}");
    assert_eq!(c.value("subdirs"), "0");
    assert_eq!(c.value("write"), "refused");
    assert_eq!(cgroup_read("pids", &path, "pids.max"), "12");
    env.delete_force(&id).ok();
    assert_no_cgroup(&path);
}

#[test]
fn cgroup_namespace_roots_the_container_at_its_cgroup() {
    let env = Env::new("cg-ns");
    let id = env.id();
    let path = path_for(&id);
    let script = idle_after(
        "echo self=$(grep -c ':/$' /proc/self/cgroup); echo lines=$(wc -l < /proc/self/cgroup); \
         mkdir /sys/fs/cgroup/pids/sub 2>/dev/null || mkdir /sys/fs/cgroup/sub; echo made=$?",
    );
    let mut conf = with_cgroup_mount(
        config(&script, &path, json!({"pids": {"limit": 20}})),
        &["nosuid", "noexec", "nodev", "rw"],
    );
    conf["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
    let bundle = Bundle::new(&conf);
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    // Every hierarchy shows the container's cgroup as "/".
    assert_eq!(c.value("self"), c.value("lines"));
    assert_eq!(
        c.value("made"),
        "0",
        "a rw cgroup mount lets it make sub-cgroups"
    );
    assert!(cgroup_dir("pids", &path).join("sub").is_dir());
    // delete removes the sub-cgroup it made as well.
    env.delete_force(&id).ok();
    assert_no_cgroup(&path);
}

#[test]
fn systemd_cgroup_paths_are_refused() {
    let env = Env::new("cg-systemd");
    let id = env.id();
    let bundle = Bundle::new(&config("true", "system.slice:hutch:x", json!({})));
    let c = Container::new(&id);
    env.create_args(&["--bundle", bundle.arg(), &id], None, &c.out)
        .fails_with(&["linux.cgroupsPath", "systemd"]);
    env.assert_gone(&id);
    env.run(&["--systemd-cgroup", "state", &id])
        .fails_with(&["systemd"]);
}

#[test]
fn bad_values_are_refused_and_leave_nothing() {
    let env = Env::exclusive("cg-bad");
    let mut cases = vec![
        (
            json!({"memory": {"limit": -5}}),
            vec!["linux.resources.memory.limit", "-5"],
        ),
        (
            json!({"pids": {"limit": -7}}),
            vec!["linux.resources.pids.limit"],
        ),
        (
            json!({"cpu": {"cpus": "0-4095"}}),
            vec!["linux.resources.cpu.cpus", "does not exist"],
        ),
        (
            json!({"cpu": {"mems": "7"}}),
            vec!["linux.resources.cpu.mems"],
        ),
        (
            json!({"memory": {"limit": 100 << 20, "swap": 50 << 20}}),
            vec!["memory.swap"],
        ),
        // A hole in an earlier wildcard rule: v1 would silently keep c 1:3.
        (
            json!({"devices": [
                {"allow": false},
                {"allow": true, "type": "c", "major": 1, "access": "rw"},
                {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
            ]}),
            vec!["linux.resources.devices[2]", "overlaps"],
        ),
        // Accepted by the checks, refused by the kernel (quota < 1ms): the
        // cgroup made before that must go too.
        (
            json!({"cpu": {"quota": 500, "period": 100000}}),
            vec!["linux.resources.cpu.quota"],
        ),
    ];
    if cgroup_v2() {
        cases.push((
            json!({"unified": {"memory.bogus": "1"}}),
            vec!["unified", "memory.bogus"],
        ));
    } else {
        cases.push((
            json!({"unified": {"memory.high": "1"}}),
            vec!["unified", "v2"],
        ));
    }
    let snapshot = HostSnapshot::take(&[]);
    for (resources, tokens) in cases {
        let id = env.id();
        // Below a parent the create makes: that must go too.
        let path = format!("{}/sub", path_for(&id));
        let bundle = Bundle::new(&config("true", &path, resources.clone()));
        let c = Container::new(&id);
        env.create_args(&["--bundle", bundle.arg(), &id], None, &c.out)
            .fails_with(&tokens);
        env.assert_gone(&id);
        assert_no_cgroup(&path_for(&id));
    }
    snapshot.assert_unchanged("after refused creates");
}

#[test]
fn a_cgroup_in_use_is_refused() {
    let env = Env::new("cg-busy");
    let id = env.id();
    let path = path_for(&id);
    let bundle = Bundle::new(&config(&idle_after("true"), &path, json!({})));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    let other = env.id();
    let out = Container::new(&other);
    env.create_args(&["--bundle", bundle.arg(), &other], None, &out.out)
        .fails_with(&["cgroupsPath", "in use"]);
    env.assert_gone(&other);
    // The first container is untouched.
    assert!(cgroup_pids("pids", &path).contains(&env.pid(&id)));
}

/// A container counting upwards on its stdout, one number a line.
fn counter(env: &Env, resources: Value) -> (Container, Bundle, String) {
    let id = env.id();
    let path = path_for(&id);
    let script = "echo ready; i=0; while :; do i=$((i+1)); echo $i; sleep 0.01; done";
    let bundle = Bundle::new(&config(script, &path, resources));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    (c, bundle, path)
}

fn last_count(c: &Container) -> u64 {
    c.output()
        .lines()
        .rev()
        .find_map(|l| l.parse().ok())
        .unwrap_or(0)
}

#[test]
fn pause_freezes_and_resume_thaws() {
    let env = Env::new("cg-pause");
    let (c, _b, path) = counter(&env, json!({}));
    assert!(poll(WAIT, || last_count(&c) > 3), "counter never ran");
    env.run(&["pause", &c.id]).ok();
    assert_eq!(env.status(&c.id), "paused");
    let frozen = last_count(&c);
    // Running, it counts ~100 a second; frozen, not once.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(last_count(&c), frozen, "the counter advanced while paused");
    if !cgroup_v2() {
        assert_eq!(cgroup_read("freezer", &path, "freezer.state"), "FROZEN");
    }
    env.run(&["pause", &c.id]).fails_with(&["paused"]);
    env.run(&["resume", &c.id]).ok();
    assert_eq!(env.status(&c.id), "running");
    assert!(
        poll(WAIT, || last_count(&c) > frozen + 5),
        "the counter did not resume"
    );
    env.run(&["resume", &c.id]).fails_with(&["running"]);
    env.delete_force(&c.id).ok();
    assert_no_cgroup(&path);
}

#[test]
fn kill_and_delete_force_work_on_a_paused_container() {
    let env = Env::new("cg-pkill");
    let (c, _b, path) = counter(&env, json!({}));
    env.run(&["pause", &c.id]).ok();
    env.kill(&c.id, Some("KILL")).ok();
    env.wait_status(&c.id, "stopped");
    env.delete(&c.id).ok();
    assert_no_cgroup(&path);

    let (c, _b, path) = counter(&env, json!({}));
    env.run(&["pause", &c.id]).ok();
    let pid = env.pid(&c.id);
    env.delete(&c.id).fails_with(&["paused"]);
    env.delete_force(&c.id).ok();
    assert!(!alive(pid), "init {pid} survived delete --force");
    assert_no_cgroup(&path);
    env.assert_gone(&c.id);
}

#[test]
fn ps_lists_the_containers_processes() {
    let env = Env::new("cg-ps");
    let id = env.id();
    let path = path_for(&id);
    let bundle = Bundle::new(&config(
        &idle_after("sleep 1001 & sleep 1002 & true"),
        &path,
        json!({}),
    ));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    // The idle loop's sleep may start a moment after "ready".
    let four = || cgroup_pids("pids", &path).len() == 4;
    assert!(poll(WAIT, four), "{:?}", cgroup_pids("pids", &path));
    let mut expected = cgroup_pids("pids", &path);
    expected.sort();
    assert_eq!(expected.len(), 4, "init, two sleeps and the idle sleep");
    assert!(expected.contains(&env.pid(&id)));
    let out = env.run(&["ps", "--format", "json", &id]).ok();
    let mut listed: Vec<i32> = serde_json::from_str(&out.stdout).unwrap();
    listed.sort();
    assert_eq!(listed, expected);
    let out = env.run(&["ps", &id, "-o", "pid,args"]).ok();
    let mut lines = out.stdout.lines();
    assert!(lines.next().unwrap().contains("PID"), "{}", out.stdout);
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4, "{}", out.stdout);
    assert!(rows.iter().any(|r| r.contains("sleep 1001")));
    assert!(rows.iter().any(|r| r.contains("sleep 1002")));
    for p in &expected {
        assert!(
            rows.iter()
                .any(|r| r.split_whitespace().next() == Some(&p.to_string())),
            "{p} missing: {}",
            out.stdout
        );
    }
}

#[test]
fn kill_all_signals_every_process_of_the_cgroup() {
    let env = Env::new("cg-killall");
    let id = env.id();
    let path = path_for(&id);
    // No PID namespace: the init's death alone would leave the sleeps.
    let mut conf = config(
        &idle_after("sleep 1001 & sleep 1002 & true"),
        &path,
        json!({}),
    );
    conf["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    let bundle = Bundle::new(&conf);
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    // The idle loop's sleep may start a moment after "ready".
    let four = || cgroup_pids("pids", &path).len() == 4;
    assert!(poll(WAIT, four), "{:?}", cgroup_pids("pids", &path));
    let before = cgroup_pids("pids", &path);
    assert_eq!(before.len(), 4);
    env.run(&["kill", "--all", &id, "KILL"]).ok();
    assert!(
        poll(WAIT, || cgroup_pids("pids", &path).is_empty()),
        "left in the cgroup: {:?}",
        cgroup_pids("pids", &path)
    );
    for p in before {
        assert!(!alive(p), "{p} survived kill --all");
    }
    env.delete(&id).ok();
    assert_no_cgroup(&path);
}

#[test]
fn update_changes_the_limits() {
    let env = Env::new("cg-update");
    let (c, _b, path) = counter(&env, json!({"pids": {"limit": 20}}));
    env.run(&[
        "update",
        "--memory",
        "100m",
        "--memory-swap",
        "200m",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "33",
        &c.id,
    ])
    .ok();
    assert_eq!(cgroup_read("pids", &path, "pids.max"), "33");
    assert_eq!(cgroup_read("cpuset", &path, "cpuset.cpus"), "0");
    if cgroup_v2() {
        assert_eq!(
            cgroup_read("", &path, "memory.max"),
            (100 << 20).to_string()
        );
        assert_eq!(
            cgroup_read("", &path, "memory.swap.max"),
            (100 << 20).to_string()
        );
        assert_eq!(cgroup_read("", &path, "cpu.max"), "20000 100000");
    } else {
        assert_eq!(
            cgroup_read("memory", &path, "memory.limit_in_bytes"),
            (100 << 20).to_string()
        );
        assert_eq!(
            cgroup_read("memory", &path, "memory.memsw.limit_in_bytes"),
            (200 << 20).to_string()
        );
        assert_eq!(cgroup_read("cpu", &path, "cpu.shares"), "256");
        assert_eq!(cgroup_read("cpu", &path, "cpu.cfs_quota_us"), "20000");
    }
    let r = TempDir::new("res");
    let file = r.path().join("r.json");
    fs::write(
        &file,
        r#"{"pids": {"limit": 44}, "memory": {"limit": 157286400, "swap": 209715200}}"#,
    )
    .unwrap();
    env.run(&["update", "-r", file.to_str().unwrap(), &c.id])
        .ok();
    assert_eq!(cgroup_read("pids", &path, "pids.max"), "44");

    env.run(&["update", "--pids-limit", "-5", &c.id])
        .fails_with(&["pids.limit", "-5"]);
    env.run(&["update", "--cpuset-cpus", "0-4095", &c.id])
        .fails_with(&["cpu.cpus"]);
    assert_eq!(cgroup_read("pids", &path, "pids.max"), "44");
    assert_eq!(cgroup_read("cpuset", &path, "cpuset.cpus"), "0");
}

#[test]
fn events_reports_stats_and_oom_kills() {
    let env = Env::new("cg-events");
    let id = env.id();
    let path = path_for(&id);
    let script = idle_after("dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo dd=$?");
    let resources = json!({"memory": {"limit": 16 << 20, "swap": 16 << 20}, "pids": {"limit": 50}});
    let bundle = Bundle::new(&config(&script, &path, resources));
    let c = env.create(&id, &bundle);

    let out = env.run(&["events", "--stats", &id]).ok();
    let ev: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 16 << 20);
    assert_eq!(ev["data"]["pids"]["limit"], 50);
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    // runc's shape: type, id, data in that order (line readers match on the
    // prefix), and every controller's key, hugetlb empty where it is absent.
    let prefix = format!(r#"{{"type":"stats","id":"{id}","data":"#);
    assert!(out.stdout.starts_with(&prefix), "{}", out.stdout);
    for key in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(ev["data"][key].is_object(), "no {key}: {}", out.stdout);
    }

    // Watch, then run the hog.
    let scratch = TempDir::new("events");
    let log = scratch.path().join("events");
    let mut watch = std::process::Command::new(runtime())
        .args([
            "--root",
            env.root().to_str().unwrap(),
            "events",
            "--interval",
            "1h",
            &id,
        ])
        .stdout(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    assert!(
        poll(WAIT, || fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("\"stats\"")),
        "events printed nothing"
    );
    env.start(&id).ok();
    c.wait_line("ready");
    assert_eq!(c.value("dd"), "137");
    assert!(
        poll(WAIT, || fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("\"oom\"")),
        "no oom event: {}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    // It stops with the container.
    env.kill(&id, Some("KILL")).ok();
    let status = {
        let mut s = None;
        poll(WAIT, || {
            s = watch.try_wait().unwrap();
            s.is_some()
        });
        s
    };
    if status.is_none() {
        let _ = watch.kill();
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "events did not end: {status:?}"
    );
    let text = fs::read_to_string(&log).unwrap();
    for line in text.lines() {
        let ev: Value = serde_json::from_str(line).unwrap();
        assert_eq!(ev["id"], id.as_str(), "{line}");
    }
    let oom: Value =
        serde_json::from_str(text.lines().find(|l| l.contains("\"oom\"")).unwrap()).unwrap();
    assert_eq!(oom, json!({"type": "oom", "id": id}));
}

#[test]
fn exec_joins_the_containers_cgroup() {
    let env = Env::new("cg-exec");
    let (c, _b, path) = counter(&env, json!({"pids": {"limit": 20}}));
    let out = env.run(&["exec", &c.id, "cat", "/proc/self/cgroup"]).ok();
    assert_all_in(&out.stdout, &path, "the exec'd process");
    env.run(&["pause", &c.id]).ok();
    env.run(&["exec", &c.id, "true"]).fails_with(&["paused"]);
    env.run(&["resume", &c.id]).ok();
}

/// `exec --cgroup` (runc's): the process starts in a sub-cgroup the
/// container's cgroup already has (made by systemd in it, say); a path
/// leading out of the container's cgroup, or missing, is refused and
/// nothing runs.
#[test]
fn exec_cgroup_starts_the_process_in_a_sub_cgroup() {
    let env = Env::new("cg-execsub");
    let (c, _b, path) = counter(&env, json!({"pids": {"limit": 20}}));
    for d in cgroup_dirs(&path) {
        fs::create_dir(d.join("sub")).unwrap();
        // A v1 cpuset child starts with no CPUs: nothing could join it.
        // (v2 children inherit the effective set.)
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if cgroup_v2() {
                break;
            }
            if let Ok(v) = fs::read_to_string(d.join(f)) {
                fs::write(d.join("sub").join(f), v).unwrap();
            }
        }
    }
    let sub = format!("{path}/sub");
    let out = env
        .run(&["exec", "--cgroup", "sub", &c.id, "cat", "/proc/self/cgroup"])
        .ok();
    assert_all_in(&out.stdout, &sub, "exec --cgroup sub");
    if !cgroup_v2() {
        // One controller's sub-cgroup; the others stay the container's.
        let out = env
            .run(&[
                "exec",
                "--cgroup",
                "pids:/sub",
                &c.id,
                "cat",
                "/proc/self/cgroup",
            ])
            .ok();
        for l in out.stdout.lines().filter(|l| !l.starts_with("0::")) {
            let want = if l.split(':').nth(1) == Some("pids") {
                &sub
            } else {
                &path
            };
            assert!(l.ends_with(want.as_str()), "expected {want}: {l}");
        }
    }
    let escape = format!("../{}", c.id);
    for (arg, tokens) in [
        (escape.as_str(), &["--cgroup", "\"..\""][..]),
        ("missing", &["--cgroup", "missing"][..]),
        ("bogus:sub", &["--cgroup", "bogus"][..]),
    ] {
        if cgroup_v2() && arg.starts_with("bogus") {
            continue;
        }
        let out = env
            .run(&["exec", "--cgroup", arg, &c.id, "sh", "-c", "echo RAN"])
            .fails_with(tokens);
        assert!(!out.stdout.contains("RAN"), "{arg}: the process ran");
    }
    env.run(&["delete", "--force", &c.id]).ok();
    assert_no_cgroup(&path);
}

/// docker sends `"blockIO": {"weight": 0}` for "no weight": runc skips zero
/// weights and so must we (the kernel refuses 0).
#[test]
fn zero_blkio_weights_mean_unset() {
    let env = Env::new("cg-blkio0");
    let id = env.id();
    let path = path_for(&id);
    let resources = json!({
        "blockIO": { "weight": 0, "leafWeight": 0,
                     "weightDevice": [{ "major": 8, "minor": 0, "weight": 0, "leafWeight": 0 }] },
    });
    let bundle = Bundle::new(&config(&idle_after("true"), &path, resources));
    let c = env.create(&id, &bundle);
    env.start(&id).ok();
    c.wait_line("ready");
    env.delete_force(&id).ok();
    assert_no_cgroup(&path);
}

/// Tries to open `dev` for reading and for writing; prints `NAME_r=` and
/// `NAME_w=` lines: "ok", or the shell's error.
fn probe(dev: &str, name: &str) -> String {
    format!(
        "for m in r w; do if [ $m = r ]; then e=$( (: <{dev}) 2>&1); else e=$( (: >{dev}) 2>&1); fi; \
         if [ $? = 0 ]; then echo {name}_$m=ok; else echo \"{name}_$m=$e\"; fi; done"
    )
}

/// What podman and containerd send: deny everything, then allow a list.
/// Allowed devices open, others fail with EPERM; access letters count; the
/// default rules keep /dev/null usable; `update` replaces the rules. On v1
/// through devices.allow/deny, on v2 (hack/vm-test) through an eBPF program.
#[test]
fn device_rules_deny_all_then_allow_a_list() {
    let env = Env::new("cg-dev");
    let script = idle_after(&format!(
        "{}; {}",
        probe("/dev/kmsg", "kmsg"),
        probe("/dev/null", "null")
    ));
    let container = |rules: Value| {
        let id = env.id();
        let path = path_for(&id);
        let mut conf = config(&script, &path, json!({ "devices": rules }));
        // The node exists in every container; the rules decide its use.
        conf["linux"]["devices"] = json!([
            {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o600}
        ]);
        // Reading kmsg also wants CAP_SYSLOG (dmesg_restrict), which a
        // config without capabilities no longer gets.
        let syslog = json!(["CAP_SYSLOG"]);
        conf["process"]["capabilities"] =
            json!({"bounding": syslog, "effective": syslog, "permitted": syslog});
        let bundle = Bundle::new(&conf);
        let c = env.create(&id, &bundle);
        env.start(&id).ok();
        c.wait_line("ready");
        (c, bundle, path)
    };
    let denied = |v: String| {
        assert!(
            v.to_lowercase().contains("not permitted"),
            "expected EPERM: {v}"
        );
    };

    // /dev/kmsg (c 1:11) allowed for reading only.
    let (c, _b, path) = container(json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"},
    ]));
    assert_eq!(c.value("kmsg_r"), "ok");
    denied(c.value("kmsg_w"));
    assert_eq!(c.value("null_r"), "ok");
    assert_eq!(c.value("null_w"), "ok");
    env.delete_force(&c.id).ok();
    assert_no_cgroup(&path);

    // Not in the list: denied, though the node is there.
    let (c, _b, path) = container(json!([{"allow": false, "access": "rwm"}]));
    denied(c.value("kmsg_r"));
    denied(c.value("kmsg_w"));
    assert_eq!(c.value("null_w"), "ok");
    let reads_kmsg = |c: &Container| {
        env.run(&["exec", &c.id, "sh", "-c", ": </dev/kmsg"])
            .status
            .success()
    };
    assert!(!reads_kmsg(&c));
    // update -r replaces the rules: now it may read it.
    let r = TempDir::new("dev-res");
    let file = r.path().join("r.json");
    let allow = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"},
    ]});
    fs::write(&file, allow.to_string()).unwrap();
    env.run(&["update", "-r", file.to_str().unwrap(), &c.id])
        .ok();
    assert!(reads_kmsg(&c), "update did not allow c 1:11 r");
    env.delete_force(&c.id).ok();
    assert_no_cgroup(&path);
}

/// A field the host ignores is said on stderr, not dropped in silence.
#[test]
fn an_ignored_resource_field_is_warned_about_on_stderr() {
    let env = Env::new("cg-warn");
    let id = env.id();
    let c = config(
        "true",
        &path_for(&id),
        json!({ "memory": { "limit": 67108864, "kernel": 67108864 } }),
    );
    let bundle = Bundle::new(&c);
    let out = env.run(&["run", "--bundle", bundle.arg(), &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stderr
            .contains("hutch: warning: linux.resources.memory.kernel is ignored"),
        "{out:?}"
    );
    env.assert_gone(&id);
}
