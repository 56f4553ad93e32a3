//! `hutch spec`: write a starting config.json, like `runc spec`.

use std::path::Path;

use serde_json::json;

use crate::bail;
use crate::error::{Context, Result};

pub fn run(bundle: &Path, rootless: bool) -> Result<()> {
    if rootless {
        bail!("--rootless: rootless containers are not supported yet");
    }
    use std::io::Write;
    let path = bundle.join("config.json");
    let text = serde_json::to_string_pretty(&default_config())
        .map_err(|e| crate::error::Error::new(e.to_string()))?;
    // O_EXCL: anything at that name, a symlink someone planted there
    // (dangling or not) included, is left alone and never followed.
    let mut file = match std::fs::File::create_new(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} already exists; remove it first", path.display())
        }
        Err(e) => {
            return Err(crate::error::Error::from(e).context(format!("creating {}", path.display())))
        }
    };
    file.write_all((text + "\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// runc's default spec, minus what hutch does not implement yet. As with
/// runc, `terminal` is true: a foreground `hutch run` then gives an
/// interactive shell; `create` needs --console-socket for it.
pub fn default_config() -> serde_json::Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": super::state::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "hutch",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}
