//! `hutch features`: what this build implements (features.md,
//! features-linux.md), fixed at compile time as the spec asks.

use serde_json::json;

use crate::error::{Error, Result};
use crate::linux::mount_options;

pub fn run() -> Result<()> {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    let mut caps = caps;
    caps.sort();
    let out = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": super::state::OCI_VERSION,
        "hooks": [],
        "mountOptions": mount_options::KNOWN,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": false, "v2": false, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "io.github.hutch.version": env!("CARGO_PKG_VERSION")
        }
    });
    let text = serde_json::to_string_pretty(&out).map_err(|e| Error::new(e.to_string()))?;
    super::out(&text);
    Ok(())
}
