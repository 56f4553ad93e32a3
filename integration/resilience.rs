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
const STEPS: [&str; 5] = [
    "state-dir",
    "cloned",
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
            step == "state-dir",
            "{step}: processes {others:?}"
        );
        create.kill().unwrap();
        create.wait().unwrap();

        let state = env.run(&["state", &id]);
        if step == "waiting-for-start" {
            // State is on disk and the init waits for start: that is "created".
            let state: serde_json::Value = serde_json::from_str(&state.ok().stdout).unwrap();
            assert_eq!(state["status"], "created", "{step}: {state}");
            let init = state["pid"].as_i64().unwrap() as i32;
            assert!(alive(init), "{step}: the init {init} is gone");
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
