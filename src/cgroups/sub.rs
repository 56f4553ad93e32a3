//! `exec --cgroup [CONTROLLER[,CONTROLLER]:]PATH`: put the exec'd process in
//! an existing sub-cgroup of the container's, as runc does (a container that
//! manages its own cgroups, systemd in it say, wants its services there).
//!
//! The container made those directories and can rename them while we look:
//! each is opened beneath the container's own cgroup directory with
//! openat2(RESOLVE_BENEATH), never by a path built from what it named, and
//! `..` is refused outright.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;

use super::{Dir, Version};
use crate::bail;
use crate::error::{Context, Error, Result};

/// The parsed `--cgroup` arguments; empty: the container's own cgroup.
#[derive(Default, Debug)]
pub struct Sub {
    /// A PATH given without controllers: every hierarchy.
    all: Option<PathBuf>,
    /// CONTROLLER:PATH pairs (v1).
    by_controller: Vec<(String, PathBuf)>,
}

impl Sub {
    /// runc's rules: a bare PATH only on its own; each controller at most
    /// once; PATH relative to the container's cgroup.
    pub fn parse(args: &[String], version: Version, dirs: &[Dir]) -> Result<Sub> {
        let mut sub = Sub::default();
        for a in args {
            let bad = |why: &str| Error::new(format!("--cgroup {a:?}: {why}"));
            let (controllers, path) = match a.split_once(':') {
                None if args.len() > 1 => {
                    return Err(bad(
                        "a PATH without CONTROLLER: prefix must be the only --cgroup",
                    ))
                }
                None => (None, a.as_str()),
                Some((c, p)) => (Some(c), p),
            };
            let path = relative(path).ok_or_else(|| {
                bad("expected a path inside the container's cgroup (no \"..\", not empty)")
            })?;
            let Some(controllers) = controllers else {
                sub.all = Some(path);
                continue;
            };
            for c in controllers.split(',') {
                if c.is_empty() {
                    return Err(bad("empty controller name"));
                }
                if sub.by_controller.iter().any(|(k, _)| k == c) {
                    return Err(bad(&format!("controller {c} named more than once")));
                }
                if version == Version::V1 && !dirs.iter().any(|d| d.has(c)) {
                    return Err(bad(&format!(
                        "the container has no cgroup v1 hierarchy with controller {c}"
                    )));
                }
                sub.by_controller.push((c.to_string(), path.clone()));
            }
        }
        if version == Version::V2 {
            // One tree: controllers may be named (as runc allows), but all
            // must lead to the same place.
            let mut paths = sub.by_controller.drain(..).map(|(_, p)| p);
            if let Some(first) = paths.next() {
                if paths.any(|p| p != first) {
                    bail!("--cgroup: cgroup v2 has a single tree, expected one PATH for all controllers");
                }
                sub.all = Some(first);
            }
        }
        Ok(sub)
    }

    /// Where in `d` the process goes; None: `d` itself.
    fn for_dir(&self, d: &Dir) -> Option<&Path> {
        self.by_controller
            .iter()
            .find(|(c, _)| d.has(c))
            .map(|(_, p)| p.as_path())
            .or(self.all.as_deref())
    }

    /// Open `name` ("" for the directory itself) in the sub-cgroup of `d`
    /// this names, beneath `d`; or in `d` by its path when none is named.
    pub(super) fn open(&self, d: &Dir, name: &str, flags: OFlag) -> Result<File> {
        let what = |p: &Path| format!("opening cgroup {}", p.join(name).display());
        let Some(rel) = self.for_dir(d) else {
            let p = d.path.join(name);
            return nix::fcntl::open(&p, flags | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
                .map(File::from)
                .with_context(|| what(&d.path));
        };
        let base = nix::fcntl::open(
            &d.path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .with_context(|| what(&d.path))?;
        let target = rel.join(name);
        crate::linux::resolve::open_beneath(base.as_fd(), &target, flags)
            .map(File::from)
            .with_context(|| format!("--cgroup: {}", what(&d.path.join(rel))))
    }
}

/// `path` as a relative path of plain names (a leading '/' means the
/// container's cgroup, as in runc); None with ".." or nothing in it.
fn relative(path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(n) => out.push(n),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(controllers: &str) -> Dir {
        Dir {
            controllers: controllers.into(),
            mount: PathBuf::new(),
            path: PathBuf::from(format!("/sys/fs/cgroup/{controllers}/c")),
            existed: false,
            made_parent: None,
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_runc_forms() {
        let dirs = [dir("pids"), dir("cpu,cpuacct"), dir("memory")];
        let s = Sub::parse(&args(&["/a/b"]), Version::V1, &dirs).unwrap();
        assert_eq!(s.for_dir(&dirs[0]), Some(Path::new("a/b")));
        let s = Sub::parse(&args(&["pids,cpu:x", "memory:y"]), Version::V1, &dirs).unwrap();
        assert_eq!(s.for_dir(&dirs[0]), Some(Path::new("x")));
        assert_eq!(s.for_dir(&dirs[1]), Some(Path::new("x")));
        assert_eq!(s.for_dir(&dirs[2]), Some(Path::new("y")));
        let s = Sub::parse(&args(&["pids:x"]), Version::V1, &dirs).unwrap();
        assert_eq!(s.for_dir(&dirs[2]), None);
    }

    #[test]
    fn refuses_what_runc_refuses_and_dot_dot() {
        let dirs = [dir("pids")];
        for (a, why) in [
            (&["x", "pids:y"][..], "only --cgroup"),
            (&["../x"][..], "\"..\""),
            (&["a/../../x"][..], "\"..\""),
            (&["/"][..], "not empty"),
            (&[":x"][..], "empty controller"),
            (&["pids:x", "pids:y"][..], "more than once"),
            (&["bogus:x"][..], "controller bogus"),
        ] {
            let e = Sub::parse(&args(a), Version::V1, &dirs)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{a:?}: {e}");
        }
        let e = Sub::parse(&args(&["pids:x", "memory:y"]), Version::V2, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("single tree"), "{e}");
    }
}
