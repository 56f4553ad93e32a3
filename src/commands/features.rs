//! `hutch features`: what this build implements (features.md,
//! features-linux.md), fixed at compile time as the spec asks.

use serde_json::json;

use crate::error::{Error, Result};
use crate::linux::{memory_policy, mount_options, seccomp};

pub fn run() -> Result<()> {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let mut caps = caps;
    caps.sort();
    let out = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": super::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options::KNOWN,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS,
                "operators": seccomp::OPERATORS,
                "archs": seccomp::ARCHS,
                "knownFlags": seccomp::KNOWN_FLAGS,
                // WAIT_KILLABLE_RECV needs libseccomp 2.6.
                "supportedFlags": &seccomp::KNOWN_FLAGS[..3]
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "netDevices": {"enabled": true},
            "memoryPolicy": {
                "modes": memory_policy::MODES,
                "flags": memory_policy::FLAGS
            },
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": {
            "io.github.hutch.version": env!("CARGO_PKG_VERSION")
        }
    });
    let text = serde_json::to_string_pretty(&out).map_err(|e| Error::new(e.to_string()))?;
    super::out(&text);
    Ok(())
}
