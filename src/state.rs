//! The state directory: one directory per container under `--root`, guarded by
//! an flock on the directory itself, with state.json written atomically.
//!
//! A container directory appears under its final name only once its creator
//! holds the lock (made under a temporary name, locked, then renamed), so any
//! other command that gets the lock and finds no state.json knows the creator
//! died, and `delete --force` may clean it up.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::linux::pidfd::ProcessIdentity;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// The exec fifo once `start` (or `run`) has let the init go on, until the
/// program is exec'd: the container is still "created" meanwhile.
pub const EXEC_STARTING: &str = "exec.starting";
/// Where the init writes why it failed after `create` returned (a
/// startContainer hook, exec), for `start` to report.
pub const INIT_ERROR: &str = "init.err";
/// The cgroup a creator is about to make, written before it makes it: a
/// creator killed before state.json exists leaves this for `delete --force`.
pub const CGROUP_PLAN: &str = "cgroup.json";

/// What hutch remembers about a container between invocations.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// The container's init: PID plus what proves it is still the same process.
    pub init: ProcessIdentity,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    pub config_digest: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// Whether the container has a PID namespace of its own (then killing the
    /// init kills everything in it).
    #[serde(default)]
    pub own_pid_ns: bool,
    /// The container's cgroup (none for containers made before hutch had them).
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::Cgroup>,
    /// config.json's hooks as they were at create: later edits of the
    /// bundle must not change the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// process.capabilities as it was at create: what an `exec --process`
    /// without capabilities gets, as in runc (none: no capability).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<oci_spec::runtime::LinuxCapabilities>,
    /// linux.seccomp as it was at create, for processes `exec` adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// linux.personality as it was at create, for processes `exec` adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
    /// linux.memoryPolicy as it was at create, for processes `exec` adds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_policy: Option<oci_spec::runtime::LinuxMemoryPolicy>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    /// Alive but frozen (`pause`).
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// IDs as runc accepts them, bounded so they stay a reasonable file name.
pub fn validate_id(id: &str) -> Result<()> {
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b));
    if id.is_empty() || id.len() > 1024 || !ok_chars || id == "." || id == ".." {
        bail!(
            "invalid container ID {:?}: expected 1 to 1024 characters from [A-Za-z0-9_.+-], not \".\" or \"..\"",
            truncate(id, 80)
        );
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Directory name for an ID: the ID itself, or for IDs too long to be a file
/// name, a digest prefixed with '~' (never a valid ID character, so no clash).
fn dir_name(id: &str) -> String {
    if id.len() <= 200 {
        id.to_string()
    } else {
        format!(
            "~{}",
            crate::digest::sha256_hex(id.as_bytes()).trim_start_matches("sha256:")
        )
    }
}

/// What the name of a directory not yet published starts with: '~' is no ID
/// character, so no container can be named like one, and "new-" is no
/// digest (see `dir_name`).
const UNPUBLISHED: &str = "~new-";

/// `~new-<pid>-<random>`: the pid for `remove_unpublished` to tell a dead
/// creator, the random part so that no one can foresee the name, nor a
/// creator of the same pid (another PID namespace, or a dead one's leftover)
/// meet it.
fn unpublished_name(pid: u32) -> String {
    format!("{UNPUBLISHED}{pid}-{:016x}", nonce())
}

/// A 64-bit value no other process can predict: SipHash under std's random
/// keys (read from the kernel once per thread; each RandomState differs).
pub fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// A locked container directory. The lock is released on drop.
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    _lock: Flock<File>,
}

fn lock(path: &Path, exclusive: bool) -> Result<Option<Flock<File>>> {
    let dir = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            let root = path.parent().unwrap_or(path);
            bail!("--root {} is not a directory", root.display())
        }
        Err(e) => return Err(Error::from(e).context(format!("opening {}", path.display()))),
    };
    let arg = if exclusive {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    let locked = Flock::lock(dir, arg)
        .map_err(|(_, e)| Error::from(e).context(format!("locking {}", path.display())))?;
    // The previous holder may have deleted the directory while we waited.
    let meta = locked.metadata().context("fstat of state directory")?;
    if meta.nlink() == 0 {
        return Ok(None);
    }
    Ok(Some(locked))
}

/// Make --root (mode 0700), or check the one that exists: whoever else can
/// write it controls every container's state (plants directories and
/// state.json, renames them), so one owned by another user or writable by
/// group or others is refused. No syscall more than creating it recursively
/// took: mkdir, and a stat when it exists.
fn ensure_root(root: &Path) -> Result<()> {
    let made = match fs::DirBuilder::new().mode(0o700).create(root) {
        Ok(()) => return Ok(()),
        // Its parents too; it may exist by now, made by another create.
        Err(e) if e.kind() == ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = made {
        // Checked only on failure: no extra stat on the create path.
        if root.exists() && !root.is_dir() {
            bail!("--root {} is not a directory", root.display());
        }
        return Err(Error::from(e).context(format!("creating state root {}", root.display())));
    }
    let meta = fs::metadata(root).with_context(|| format!("stat of --root {}", root.display()))?;
    if !meta.is_dir() {
        bail!("--root {} is not a directory", root.display());
    }
    let owner = meta.uid();
    if (owner != 0 && owner != nix::unistd::geteuid().as_raw()) || meta.mode() & 0o022 != 0 {
        bail!(
            "--root {}: owned by uid {owner} with mode {:o}: others than root could change the containers' state (make it root's, not writable by group or others)",
            root.display(),
            meta.mode() & 0o7777
        );
    }
    Ok(())
}

impl ContainerDir {
    /// Make and lock the directory of a new container; fails if the ID exists.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        ensure_root(root)?;
        let path = root.join(dir_name(id));
        if path.exists() {
            bail!("container {id} already exists");
        }
        let tmp = root.join(unpublished_name(std::process::id()));
        fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        // Nothing of a failed create may stay behind, not even the temporary dir.
        let prepared = (|| {
            let locked = match lock(&tmp, true)? {
                Some(l) => l,
                None => bail!(
                    "state directory {} vanished while locking it",
                    tmp.display()
                ),
            };
            fs::write(tmp.join(".id"), id)
                .with_context(|| format!("writing {}/.id", tmp.display()))?;
            crate::testpoint::pause_at("state-dir-unpublished");
            Ok(locked)
        })();
        let locked = match prepared {
            Ok(l) => l,
            Err(e) => {
                let _ = fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        // rename(2) refuses to replace a non-empty directory, and a container's
        // directory is never empty once published: exactly one creator wins.
        if let Err(e) = fs::rename(&tmp, &path) {
            let _ = fs::remove_dir_all(&tmp);
            if matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY)) {
                bail!("container {id} already exists");
            }
            return Err(Error::from(e).context(format!("publishing {}", path.display())));
        }
        Ok(ContainerDir {
            id: id.to_string(),
            path,
            _lock: locked,
        })
    }

    /// Lock an existing container's directory; None if there is no such container.
    pub fn open(root: &Path, id: &str, exclusive: bool) -> Result<Option<Self>> {
        validate_id(id)?;
        let path = root.join(dir_name(id));
        Ok(lock(&path, exclusive)?.map(|l| ContainerDir {
            id: id.to_string(),
            path,
            _lock: l,
        }))
    }

    /// Like `open`, but a missing container is an error.
    pub fn open_existing(root: &Path, id: &str, exclusive: bool) -> Result<Self> {
        match Self::open(root, id, exclusive)? {
            Some(d) => Ok(d),
            None => bail!("container {id} does not exist"),
        }
    }

    /// The fd holding the lock, for a forked child to close (never unlock).
    pub fn lock_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self._lock.as_raw_fd()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Read state.json; Ok(None) while the creator has not written it yet (or died first).
    pub fn load(&self) -> Result<Option<State>> {
        let p = self.file(STATE_FILE);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::from(e).context(format!("reading {}", p.display()))),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::new(format!("{}: corrupt state: {e}", p.display())))
    }

    /// Like `load`, but a container still being created (or whose creator died)
    /// is an error naming that.
    pub fn load_existing(&self) -> Result<State> {
        match self.load()? {
            Some(s) => Ok(s),
            None => bail!(
                "container {} has no state yet: its creation did not finish (delete --force removes it)",
                self.id
            ),
        }
    }

    /// Write state.json atomically: a reader sees the old or the new file, never half.
    pub fn save(&self, state: &State) -> Result<()> {
        let tmp = self.file(".state.json.tmp");
        let bytes = serde_json::to_vec(state).map_err(|e| Error::new(e.to_string()))?;
        fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
        crate::testpoint::pause_at("before-state");
        let dst = self.file(STATE_FILE);
        fs::rename(&tmp, &dst).with_context(|| format!("renaming to {}", dst.display()))
    }

    /// Record the cgroup about to be made (see CGROUP_PLAN).
    pub fn record_cgroup_plan(&self, cg: &crate::cgroups::Cgroup) -> Result<()> {
        let p = self.file(CGROUP_PLAN);
        let bytes = serde_json::to_vec(cg).map_err(|e| Error::new(e.to_string()))?;
        fs::write(&p, bytes).with_context(|| format!("writing {}", p.display()))
    }

    /// The cgroup a creator planned; None if it got no further than that.
    pub fn cgroup_plan(&self) -> Option<crate::cgroups::Cgroup> {
        let bytes = fs::read(self.file(CGROUP_PLAN)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Live status: computed from the process itself, never trusted from disk.
    pub fn status(&self, state: &State) -> Status {
        if !state.init.is_alive() {
            return Status::Stopped;
        }
        if state.cgroup.as_ref().is_some_and(|c| c.is_frozen()) {
            return Status::Paused;
        }
        if self.file(EXEC_FIFO).exists() || self.starting() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Started, and the program not exec'd yet: the init still holds the
    /// fifo (a reader: opening it to write succeeds). Asked of the fifo, not
    /// of the name alone, which a `start` killed while waiting leaves behind.
    fn starting(&self) -> bool {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(self.file(EXEC_STARTING))
            .is_ok()
    }

    /// Remove the directory (we still hold the lock; waiters see nlink == 0).
    pub fn remove(self) -> Result<()> {
        fs::remove_dir_all(&self.path).with_context(|| format!("removing {}", self.path.display()))
    }
}

/// The temporary directories (`~new-<pid>-*`) of creators of `id` killed
/// before they published it: `delete --force` of that ID removes them, so
/// that a create killed at any point leaves nothing in --root. A directory
/// is only taken when its creator's pid is gone and nobody holds its lock
/// (a creator locks it right after mkdir). One without `.id` yet is taken
/// too: its creator died before naming it. Failures only warn.
pub fn remove_unpublished(root: &Path, id: &str) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(UNPUBLISHED))
            .and_then(|n| n.split_once('-'))
            .and_then(|(p, _)| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if !gone {
            continue;
        }
        let path = entry.path();
        match fs::read(path.join(".id")) {
            Ok(named) if named != id.as_bytes() => continue,
            Err(e) if e.kind() != ErrorKind::NotFound => continue,
            _ => {}
        }
        let Ok(dir) = File::open(&path) else { continue };
        let Ok(_locked) = Flock::lock(dir, FlockArg::LockExclusiveNonblock) else {
            continue;
        };
        if let Err(e) = fs::remove_dir_all(&path) {
            log::warn!(
                "removing {} of a create of {id} that died: {e}",
                path.display()
            );
        }
    }
}

/// All container IDs under a root (for `list`).
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            bail!("--root {} is not a directory", root.display())
        }
        Err(e) => return Err(Error::from(e).context(format!("reading {}", root.display()))),
    };
    let mut ids = Vec::new();
    for entry in entries.flatten() {
        // IDs may start with '.' (runc lists them too). A directory not yet
        // published names its ID in `.id` too, but under a name that is not
        // that ID's: such are skipped, whatever their name.
        let Ok(id) = fs::read_to_string(entry.path().join(".id")) else {
            continue;
        };
        if entry.file_name().as_encoded_bytes() == dir_name(&id).as_bytes() {
            ids.push(id);
        }
    }
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_3+4", &"x".repeat(1024)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "ü", &"x".repeat(1025)] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unpublished_names_are_no_ids() {
        let a = unpublished_name(42);
        assert!(a.starts_with("~new-42-"), "{a}");
        assert!(validate_id(&a).is_err(), "{a}");
        assert_ne!(a, unpublished_name(42));
        // Nor the name of a long ID's directory.
        assert!(!dir_name(&"z".repeat(300)).starts_with(UNPUBLISHED));
    }

    #[test]
    fn long_ids_get_short_dir_names() {
        assert_eq!(dir_name("abc"), "abc");
        let long = "y".repeat(1024);
        assert!(dir_name(&long).len() < 100);
        assert!(dir_name(&long).starts_with('~'));
    }
}
