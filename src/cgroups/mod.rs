//! Control groups: where a container's processes live and what limits them.
//!
//! hutch writes the cgroup files itself rather than using a crate: the work
//! is plain file writes, and the crates on offer (`cgroups-rs`, youki's
//! `libcgroups`) bring large dependency trees, read far more files than a
//! create needs, and pin their own oci-spec and nix versions.
//!
//! The host's layout is detected at run time with one statfs: cgroup v2
//! (unified) at /sys/fs/cgroup, or v1 hierarchies (possibly with an empty v2
//! tree at /sys/fs/cgroup/unified: "hybrid", which we treat as v1). A
//! container's cgroup is recorded in its state as a [`Cgroup`]: the version
//! and the directories, so later commands need no detection at all.

mod device_rules;
mod devices_v2;
mod resources;
pub mod stats;
mod sub;
mod tree;
mod v1;
mod v2;

use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources, Spec};
use serde::{Deserialize, Serialize};

use crate::bail;
use crate::error::{Context, Error, Result};

pub use resources::validate;
pub use sub::Sub;

const ROOT: &str = "/sys/fs/cgroup";
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V1,
    V2,
}

/// One directory of a container's cgroup: on v2 the only one, on v1 one per
/// hierarchy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dir {
    /// The hierarchy's controllers as mounted ("cpu,cpuacct", "name=systemd");
    /// empty on v2.
    #[serde(default)]
    pub controllers: String,
    /// Where the hierarchy is mounted (v1), e.g. /sys/fs/cgroup/cpu.
    #[serde(default)]
    pub mount: PathBuf,
    /// The container's directory in it.
    pub path: PathBuf,
    /// `path` was there before `create`: reused (as runc does), but not
    /// ours to remove (runtime.md: only what `create` made is deleted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub existed: bool,
    /// The topmost parent `create` had to make on the way to `path`;
    /// `delete` removes the parents up to it, those left empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_parent: Option<PathBuf>,
}

impl Dir {
    fn has(&self, controller: &str) -> bool {
        self.controllers.split(',').any(|c| c == controller)
    }
}

/// A container's cgroup as recorded in its state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cgroup {
    pub version: Version,
    pub dirs: Vec<Dir>,
}

/// The host's cgroup layout.
pub fn detect() -> Result<Version> {
    let fs = nix::sys::statfs::statfs(ROOT).with_context(|| format!("statfs {ROOT}"))?;
    if fs.filesystem_type().0 as i64 == CGROUP2_SUPER_MAGIC {
        Ok(Version::V2)
    } else {
        Ok(Version::V1)
    }
}

/// The cgroup path a config asks for, as a path below a hierarchy's root
/// (absolute) or below our own cgroup (relative). Without one it is `/<id>`,
/// as crun's (and runc's, run from the root cgroup): no shared parent that
/// every container's create and delete would make and remove again (a v1
/// memory cgroup costs about half a millisecond to make).
pub fn wanted(spec: &Spec, id: &str) -> Result<PathBuf> {
    let given = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref());
    let Some(p) = given.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(Path::new("/").join(id));
    };
    let s = p.to_string_lossy();
    if !p.is_absolute() && s.split(':').count() == 3 {
        bail!(
            "linux.cgroupsPath {s:?}: the systemd form slice:prefix:name needs systemd to manage cgroups, \
             and hutch does not support that; give a path such as /machine/{id}"
        );
    }
    for c in p.components() {
        match c {
            Component::RootDir | Component::Normal(_) => {}
            Component::CurDir => {}
            _ => bail!("linux.cgroupsPath {s:?}: \"..\" is not allowed"),
        }
    }
    if p.components().all(|c| c == Component::RootDir) {
        bail!("linux.cgroupsPath {s:?}: the root cgroup cannot be a container's cgroup");
    }
    Ok(p.clone())
}

/// Lines of /proc/self/cgroup: (hierarchy controllers, path).
fn own_cgroups() -> Result<Vec<(String, String)>> {
    let text =
        crate::linux::procfs::read("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _id = it.next()?;
            let ctl = it.next()?.to_string();
            let path = it.next()?.to_string();
            Some((ctl, path))
        })
        .collect())
}

/// `base` (a host directory) joined with the wanted path, relative paths
/// being taken below `own` (our own cgroup in that hierarchy).
fn join(base: &Path, own: &str, wanted: &Path) -> PathBuf {
    let rel = |p: &Path| -> PathBuf {
        p.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .collect()
    };
    if wanted.is_absolute() {
        base.join(rel(wanted))
    } else {
        base.join(rel(Path::new(own))).join(rel(wanted))
    }
}

impl Cgroup {
    /// Where the container's cgroup directories will be, refusing ones that
    /// other processes already use. Nothing is made yet: the plan is recorded
    /// first, so that `delete --force` finds the directories of a creator
    /// killed while making them.
    pub fn plan(version: Version, wanted: &Path) -> Result<Cgroup> {
        let own = own_cgroups()?;
        let dirs = match version {
            Version::V2 => {
                let own2 = own
                    .iter()
                    .find(|(c, _)| c.is_empty())
                    .map(|(_, p)| p.as_str())
                    .unwrap_or("/");
                vec![Dir {
                    controllers: String::new(),
                    mount: PathBuf::from(ROOT),
                    path: join(Path::new(ROOT), own2, wanted),
                    existed: false,
                    made_parent: None,
                }]
            }
            Version::V1 => v1::dirs(&own, wanted)?,
        };
        let mut dirs = dirs;
        for d in &mut dirs {
            d.existed = d.path.exists();
            // An ID such as "tasks" or "cgroup.procs" names a control file
            // of the parent, not a cgroup.
            if d.existed && !d.path.is_dir() {
                bail!(
                    "linux.cgroupsPath: {} is a control file, not a cgroup (without a cgroupsPath the path is /<container ID>)",
                    d.path.display()
                );
            }
            d.made_parent = d
                .path
                .ancestors()
                .skip(1)
                .take_while(|p| p.starts_with(&d.mount) && *p != d.mount && !p.exists())
                .last()
                .map(Path::to_path_buf);
        }
        // Another container's processes in there would share our limits and
        // die with our `delete`.
        for d in dirs.iter().filter(|d| d.existed) {
            let mut busy = Vec::new();
            tree::pids(&d.path, &mut busy)?;
            if !busy.is_empty() {
                bail!(
                    "linux.cgroupsPath: cgroup {} is already in use by {} process(es)",
                    d.path.display(),
                    busy.len()
                );
            }
        }
        Ok(Cgroup { version, dirs })
    }

    /// Make the planned directories (and their parents); a directory that
    /// already exists is reused, as runc does.
    pub fn make(&self) -> Result<()> {
        for d in &self.dirs {
            let result = match self.version {
                Version::V1 => v1::make_dir(d),
                Version::V2 => v2::make_dir(&d.path),
            };
            if let Err(e) = result {
                let _ = self.remove();
                return Err(e.context(format!("linux.cgroupsPath: creating {}", d.path.display())));
            }
        }
        Ok(())
    }

    /// Whether the init is cloned straight into the cgroup (v2,
    /// CLONE_INTO_CGROUP), which must then exist before the clone. On v1 the
    /// cgroup is made while the cloned init builds its namespaces and root
    /// filesystem, and the init moves itself in (open_v1_tasks) before
    /// anything of the container runs.
    pub fn made_before_clone(&self) -> bool {
        self.version == Version::V2
    }

    /// The directory holding `controller`'s files (any directory on v2).
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        match self.version {
            Version::V2 => self.dirs.first().map(|d| d.path.as_path()),
            Version::V1 => self
                .dirs
                .iter()
                .find(|d| d.has(controller))
                .map(|d| d.path.as_path()),
        }
    }

    /// A directory whose cgroup.procs lists the container's processes.
    fn any_dir(&self) -> Option<&Path> {
        self.dir("pids")
            .or_else(|| self.dir("freezer"))
            .or_else(|| self.dirs.first().map(|d| d.path.as_path()))
    }

    /// A new container's `linux.resources` (already validated), and its
    /// device rules even without any: every device but the default ones
    /// is denied, as in runc.
    pub fn apply_new(&self, r: Option<&LinuxResources>) -> Result<()> {
        if let Some(r) = r {
            self.apply_limits(r)?;
        }
        self.apply_devices(r.and_then(|r| r.devices().as_deref()).unwrap_or(&[]))
    }

    /// `update`: the limits `r` gives; device rules, if it has any, replace
    /// the container's (from a deny of every device again, defaults after).
    pub fn apply(&self, r: &LinuxResources) -> Result<()> {
        self.apply_limits(r)?;
        match r.devices().as_deref().filter(|d| !d.is_empty()) {
            Some(d) => self.apply_devices(d),
            None => Ok(()),
        }
    }

    fn apply_limits(&self, r: &LinuxResources) -> Result<()> {
        match self.version {
            Version::V1 => v1::apply(self, r),
            Version::V2 => v2::apply(self, r),
        }
    }

    fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<()> {
        match self.version {
            Version::V1 => v1::apply_devices(self, rules),
            Version::V2 => devices_v2::apply(self, rules),
        }
    }

    /// The cgroup v2 directory to clone the init into.
    pub fn v2_dir(&self) -> Option<&Path> {
        (self.version == Version::V2)
            .then(|| self.dirs.first().map(|d| d.path.as_path()))
            .flatten()
    }

    /// What to say when clone3 with CLONE_INTO_CGROUP fails with `e`.
    pub fn clone_into_context(&self, what: &str, e: nix::errno::Errno) -> String {
        use nix::errno::Errno;
        let dir = self.v2_dir().unwrap_or(Path::new("?")).display();
        let why = match e {
            Errno::EAGAIN => ", whose pids.max leaves no room for another process",
            Errno::EBUSY | Errno::EOPNOTSUPP => {
                ", which cannot hold processes (it has controllers enabled for children, or a \
                 threaded cgroup above it)"
            }
            _ => "",
        };
        format!("{what} into cgroup {dir}{why}")
    }

    /// The v2 directory opened for CLONE_INTO_CGROUP (the sub-cgroup `sub`
    /// names, for `exec --cgroup`); None on v1.
    pub fn open_v2_dir(&self, sub: &Sub) -> Result<Option<fs::File>> {
        if self.version != Version::V2 {
            return Ok(None);
        }
        let Some(d) = self.dirs.first() else {
            return Ok(None);
        };
        sub.open(
            d,
            "",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
        )
        .map(Some)
    }

    /// The `tasks` file of every v1 hierarchy (none on v2, which uses
    /// CLONE_INTO_CGROUP), opened by the runtime for the process it clones
    /// (or is about to): that process moves itself in with `join_self`.
    /// `sub`: the sub-cgroups `exec --cgroup` names.
    ///
    /// Why not write its pid to cgroup.procs from here: moving another
    /// process takes the kernel's global cgroup_threadgroup_rwsem for
    /// writing, which waits out an RCU grace period (~10 ms measured here,
    /// most of a `run`). A single-threaded process moving itself through
    /// `tasks` with "0" takes no such lock. The kernel checks the
    /// credentials the file was opened with, the runtime's, so this works
    /// from inside a new user namespace too.
    pub fn open_v1_tasks(&self, sub: &Sub) -> Result<Vec<fs::File>> {
        if self.version != Version::V1 {
            return Ok(Vec::new());
        }
        self.dirs
            .iter()
            .map(|d| sub.open(d, "tasks", nix::fcntl::OFlag::O_WRONLY))
            .collect()
    }
}

/// In the cloned process, before it runs anything of the container: move
/// ourselves into the cgroups whose `tasks` files the runtime opened
/// (Cgroup::open_v1_tasks). Single-threaded, so the thread is the process.
/// (Generic over the fd type: `exec` inherits Files, `create`'s init gets
/// OwnedFds over its channel.)
pub fn join_self<F: std::os::fd::AsFd>(tasks: &[F]) -> Result<()> {
    for f in tasks {
        nix::unistd::write(f, b"0")
            .context("joining the container's cgroup (writing 0 to a v1 tasks file)")?;
    }
    Ok(())
}

impl Cgroup {
    /// PIDs of every process in the cgroup and its sub-cgroups, each once,
    /// however deep the container nested them (see tree.rs).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut out = Vec::new();
        if let Some(d) = self.any_dir() {
            tree::pids(d, &mut out)?;
        }
        // A process moving between sub-cgroups during the walk may be read twice.
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    pub fn is_frozen(&self) -> bool {
        match self.version {
            Version::V1 => v1::is_frozen(self),
            Version::V2 => v2::is_frozen(self),
        }
    }

    pub fn freeze(&self, frozen: bool) -> Result<()> {
        match self.version {
            Version::V1 => v1::freeze(self, frozen),
            Version::V2 => v2::freeze(self, frozen),
        }
    }

    /// Freeze the container (best effort: without a freezer it runs on)
    /// until the guard returned is thawed or dropped: whatever fails while
    /// it is held, the container is not left paused.
    pub fn hold_frozen(&self) -> Frozen<'_> {
        if let Err(e) = self.freeze(true) {
            log::debug!("freezing before SIGKILL: {e}");
        }
        Frozen {
            cg: self,
            held: true,
        }
    }

    /// Thaw whatever would keep a SIGKILLed task alive: the container's
    /// cgroup if frozen and, on v1, every sub-cgroup the container froze
    /// itself (cgroup v2 delivers fatal signals to frozen tasks; v1 only
    /// once they are thawed).
    pub fn thaw_for_kill(&self) -> Result<()> {
        if self.is_frozen() {
            self.freeze(false)?;
        }
        match (self.version, self.dir("freezer")) {
            (Version::V1, Some(d)) => tree::thaw_v1(d),
            _ => Ok(()),
        }
    }

    /// Remove the container's directories (and any it made inside them,
    /// however deep), waiting briefly for exiting processes to leave.
    /// Directories that are already gone are fine; the error names what is
    /// left.
    pub fn remove(&self) -> Result<()> {
        let mut first_err = None;
        for d in &self.dirs {
            if d.existed {
                continue;
            }
            if let Err(e) = tree::remove(&d.path, Duration::from_secs(5)) {
                first_err.get_or_insert(e);
            }
            if let Some(top) = &d.made_parent {
                // Deepest first; a parent still holding another container's
                // cgroup refuses, and is kept.
                for p in d.path.ancestors().skip(1) {
                    if !p.starts_with(top) || fs::remove_dir(p).is_err() {
                        break;
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// A container frozen by `Cgroup::hold_frozen`, thawed (as `thaw_for_kill`
/// thaws) when this is thawed or dropped.
pub struct Frozen<'a> {
    cg: &'a Cgroup,
    held: bool,
}

impl Frozen<'_> {
    /// Thaw now, saying so if it fails.
    pub fn thaw(mut self) -> Result<()> {
        self.held = false;
        self.cg.thaw_for_kill()
    }
}

impl Drop for Frozen<'_> {
    /// On an error path: thaw, and if even that fails, say so.
    fn drop(&mut self) {
        if self.held {
            if let Err(e) = self.cg.thaw_for_kill() {
                log::warn!("the container stays frozen: {e}");
            }
        }
    }
}

/// mkdir -p that tolerates a concurrent `delete` removing an empty parent
/// (one another container's create made) between our mkdirs.
fn mkdir_all(path: &Path) -> Result<()> {
    for _ in 0..100 {
        match fs::create_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let parent = path
                    .parent()
                    .ok_or_else(|| Error::new("cgroup path has no parent"))?;
                mkdir_all(parent)?;
            }
            Err(e) => return Err(Error::from(e).context(format!("mkdir {}", path.display()))),
        }
    }
    bail!("mkdir {}: its parent keeps vanishing", path.display())
}

/// Write one cgroup file, naming the config field in the error.
fn write(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    let p = dir.join(file);
    fs::write(&p, value).map_err(|e| {
        // cgroupfs answers EACCES, not ENOENT, for a file it does not have.
        let why = if e.kind() == ErrorKind::NotFound || !p.exists() {
            "this host's kernel has no such file (controller or feature not available)".to_string()
        } else {
            e.to_string()
        };
        Error::new(format!(
            "{field}: writing {value:?} to {}: {why}",
            p.display()
        ))
    })
}

fn read_trim(p: &Path) -> Option<String> {
    crate::linux::procfs::read(p)
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_absolute_and_relative_paths() {
        let base = Path::new("/sys/fs/cgroup/memory");
        assert_eq!(
            join(base, "/user/1", Path::new("/a/b")),
            Path::new("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(
            join(base, "/user/1", Path::new("a/b")),
            Path::new("/sys/fs/cgroup/memory/user/1/a/b")
        );
        assert_eq!(
            join(base, "/", Path::new("./c")),
            Path::new("/sys/fs/cgroup/memory/c")
        );
    }
}
