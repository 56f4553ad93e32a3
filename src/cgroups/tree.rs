//! Walking a container's cgroup tree by directory fds.
//!
//! A container given a cgroup namespace and a writable `cgroup` mount (as
//! podman gives systemd containers) makes its own sub-cgroups, as many and
//! as deep as it likes: 2000 levels named "level" are 12 KB of path, three
//! times PATH_MAX. No absolute path reaches the bottom of such a tree (the
//! kernel answers ENAMETOOLONG), and a recursive walk holding one open
//! directory per level needs 2000 fds. So every walk of a container's tree
//! (the PIDs for `ps`, `kill --all` and `delete`, the rmdirs of `delete`,
//! the thaw of v1 sub-cgroups) goes by single names relative to the fd of
//! the directory it is in. It holds that one fd, and for a moment one more
//! (to list the directory, read a file in it, or climb to its parent), and
//! climbs back with "..", checking that it lands where it came from. What it
//! keeps per level is in memory: the name, and the subdirectories not yet
//! visited.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{open, openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::bail;
use crate::error::{one_line, Error, Result};

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// One directory on the way down from the root.
struct Level {
    /// Its name in its parent (empty for the root).
    name: OsString,
    /// st_dev and st_ino: ".." must climb back to exactly this directory.
    id: (u64, u64),
    /// Subdirectories not visited yet.
    pending: Vec<OsString>,
    /// A sub-cgroup of it could not be removed, so it cannot be either.
    blocked: bool,
}

/// Where a walk is: the fd of the current directory and the levels above.
struct Cursor<'a> {
    root: &'a Path,
    fd: OwnedFd,
    /// stack[0] is the root, the last the current directory.
    stack: Vec<Level>,
}

impl<'a> Cursor<'a> {
    /// At `root`, its subdirectories listed; None if it does not exist.
    fn open(root: &'a Path) -> Result<Option<Cursor<'a>>> {
        let at = |what: &str, e: Errno| {
            Error::from(e).context(format!("{what} cgroup {}", root.display()))
        };
        let fd = match open(root, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(at("opening", e)),
        };
        let st = fstat(&fd).map_err(|e| at("fstat of", e))?;
        let pending = subdirs(fd.as_fd()).map_err(|e| at("listing", e))?;
        Ok(Some(Cursor {
            root,
            fd,
            stack: vec![Level {
                name: OsString::new(),
                id: (st.st_dev, st.st_ino),
                pending,
                blocked: false,
            }],
        }))
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn depth(&self) -> usize {
        self.stack.len().saturating_sub(1)
    }

    /// The next subdirectory of the current one still to visit.
    fn next_pending(&mut self) -> Option<OsString> {
        self.stack.last_mut().and_then(|l| l.pending.pop())
    }

    /// Into subdirectory `name` of the current directory, listing it; false
    /// if it is gone (removed since it was listed). On an error the cursor
    /// stays where it was.
    fn descend(&mut self, name: OsString) -> Result<bool> {
        let fd = match openat(&self.fd, name.as_os_str(), dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(false),
            Err(e) => return Err(self.error_at(&name, "opening", e)),
        };
        let st = fstat(&fd).map_err(|e| self.error_at(&name, "fstat of", e))?;
        // Only root can mount on a cgroup, and a walk that is to rmdir
        // what it finds stays on the cgroup file system it started on.
        let dev = self.stack.first().map_or(st.st_dev, |l| l.id.0);
        if st.st_dev != dev {
            bail!(
                "cgroup {}: another file system is mounted there",
                self.here_child(&name)
            );
        }
        let pending = match subdirs(fd.as_fd()) {
            Ok(p) => p,
            Err(e) => return Err(self.error_at(&name, "listing", e)),
        };
        self.fd = fd;
        self.stack.push(Level {
            name,
            id: (st.st_dev, st.st_ino),
            pending,
            blocked: false,
        });
        Ok(true)
    }

    /// Back to the parent of the current directory: the level left, or None
    /// at the root (which the walk never climbs above).
    fn ascend(&mut self) -> Result<Option<Level>> {
        let Some(want) = self.depth().checked_sub(1).map(|i| self.stack[i].id) else {
            return Ok(None);
        };
        let parent = openat(&self.fd, "..", dir_flags(), Mode::empty())
            .map_err(|e| self.error("opening the parent of", e))?;
        let st = fstat(&parent).map_err(|e| self.error("fstat of the parent of", e))?;
        if (st.st_dev, st.st_ino) != want {
            bail!(
                "cgroup {}: \"..\" is not the directory the walk came from",
                self.here()
            );
        }
        self.fd = parent;
        Ok(self.stack.pop())
    }

    /// On to the next directory, depth first (a directory's subdirectories
    /// before its siblings); false once the whole tree has been seen.
    fn advance(&mut self) -> Result<bool> {
        loop {
            match self.next_pending() {
                Some(name) => {
                    if self.descend(name)? {
                        return Ok(true);
                    }
                }
                None => {
                    if self.ascend()?.is_none() {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Mark the current directory as one that cannot be removed.
    fn block(&mut self) {
        if let Some(l) = self.stack.last_mut() {
            l.blocked = true;
        }
    }

    fn names(&self) -> impl Iterator<Item = &OsStr> {
        self.stack.iter().skip(1).map(|l| l.name.as_os_str())
    }

    /// The current directory, for messages.
    fn here(&self) -> String {
        describe(self.root, self.names())
    }

    /// Subdirectory `name` of the current directory, for messages.
    fn here_child(&self, name: &OsStr) -> String {
        describe(self.root, self.names().chain([name]))
    }

    fn error(&self, what: &str, e: Errno) -> Error {
        Error::from(e).context(format!("{what} cgroup {}", self.here()))
    }

    fn error_at(&self, name: &OsStr, what: &str, e: Errno) -> Error {
        Error::from(e).context(format!("{what} cgroup {}", self.here_child(name)))
    }
}

/// A directory `names` below `root`, shortened when deep: the root, the
/// first two and the last two names, and how many levels down it is.
fn describe<'n>(root: &Path, names: impl Iterator<Item = &'n OsStr>) -> String {
    let names: Vec<&OsStr> = names.collect();
    let mut s = root.display().to_string();
    let mut push = |n: &OsStr| {
        s.push('/');
        s.push_str(&n.to_string_lossy());
    };
    const SHOWN: usize = 6;
    if names.len() <= SHOWN {
        names.iter().for_each(|n| push(n));
    } else {
        names[..2].iter().for_each(|n| push(n));
        push(OsStr::new("..."));
        names[names.len() - 2..].iter().for_each(|n| push(n));
        s.push_str(&format!(
            " ({} levels below {})",
            names.len(),
            root.display()
        ));
    }
    one_line(&s)
}

/// The names of the subdirectories of `dir`.
fn subdirs(dir: BorrowedFd<'_>) -> nix::Result<Vec<OsString>> {
    let mut d = Dir::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let name = e.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let is_dir = match e.file_type() {
            Some(t) => t == Type::Directory,
            None => fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| {
                SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
            }),
        };
        if is_dir {
            out.push(OsStr::from_bytes(name.to_bytes()).to_os_string());
        }
    }
    Ok(out)
}

fn errno_of(e: std::io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// The content of file `name` in `dir`.
fn read_at(dir: BorrowedFd<'_>, name: &str) -> nix::Result<String> {
    let fd = openat(dir, name, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    let mut s = String::with_capacity(4096);
    File::from(fd).read_to_string(&mut s).map_err(errno_of)?;
    Ok(s)
}

/// Write `value` to file `name` in `dir`, in one write(2).
fn write_at(dir: BorrowedFd<'_>, name: &str, value: &str) -> nix::Result<()> {
    let fd = openat(dir, name, OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    File::from(fd).write_all(value.as_bytes()).map_err(errno_of)
}

/// `visit` every directory of the tree at `root`: the root first, each
/// directory before its subdirectories. A tree that does not exist has no
/// directory to visit. An error of `visit` ends the walk, naming the
/// directory.
pub fn for_each(root: &Path, mut visit: impl FnMut(BorrowedFd<'_>) -> Result<()>) -> Result<()> {
    let Some(mut c) = Cursor::open(root)? else {
        return Ok(());
    };
    loop {
        visit(c.fd()).map_err(|e| e.context(format!("cgroup {}", c.here())))?;
        if !c.advance()? {
            return Ok(());
        }
    }
}

/// Add the PIDs in every cgroup.procs of the tree at `root` to `out`.
pub fn pids(root: &Path, out: &mut Vec<i32>) -> Result<()> {
    for_each(root, |dir| {
        match read_at(dir, "cgroup.procs") {
            Ok(text) => out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
            // Removed while we walk (its last task gone): nobody in it.
            Err(Errno::ENOENT | Errno::ENODEV) => {}
            Err(e) => return Err(Error::from(e).context("reading cgroup.procs")),
        }
        Ok(())
    })
}

/// cgroup v1: thaw every cgroup of the freezer tree at `root` that froze
/// itself (freezer.self_freezing 1), parents first. There a frozen task
/// dies of SIGKILL only once thawed, and thawing a cgroup leaves those of
/// its sub-cgroups that were frozen on their own frozen: a container
/// freezing one of its own sub-cgroups would otherwise keep its tasks, and
/// with them the cgroup, alive after `delete --force`.
pub fn thaw_v1(root: &Path) -> Result<()> {
    for_each(root, |dir| match read_at(dir, "freezer.self_freezing") {
        Ok(s) if s.trim() == "0" => Ok(()),
        Ok(_) => write_at(dir, "freezer.state", "THAWED")
            .map_err(|e| Error::from(e).context("writing THAWED to freezer.state")),
        Err(Errno::ENOENT | Errno::ENODEV) => Ok(()),
        Err(e) => Err(Error::from(e).context("reading freezer.self_freezing")),
    })
}

/// How long `remove` may wait, in all, for cgroups whose last tasks are
/// still leaving, and how many times it may walk again below a cgroup
/// that got new sub-cgroups meanwhile.
struct Patience {
    wait_left: Duration,
    rewalks_left: u32,
}

enum Rmdir {
    Removed,
    /// Refused because it has sub-cgroups made since it was listed.
    HasSubdirs,
}

/// rmdir cgroup `name` of `parent`. EBUSY means tasks still in it (exiting
/// ones leave within moments: retried, sleeping from `patience`) or
/// sub-cgroups (made since it was listed: the caller walks it again).
fn rmdir_at(parent: BorrowedFd<'_>, name: &OsStr, patience: &mut Patience) -> nix::Result<Rmdir> {
    const STEP: Duration = Duration::from_millis(10);
    loop {
        match unlinkat(parent, name, UnlinkatFlags::RemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => return Ok(Rmdir::Removed),
            Err(Errno::EBUSY) => {
                let has_subdirs = openat(parent, name, dir_flags(), Mode::empty())
                    .and_then(|fd| subdirs(fd.as_fd()))
                    .is_ok_and(|s| !s.is_empty());
                if has_subdirs && patience.rewalks_left > 0 {
                    patience.rewalks_left -= 1;
                    return Ok(Rmdir::HasSubdirs);
                }
                if patience.wait_left < STEP {
                    return Err(Errno::EBUSY);
                }
                patience.wait_left -= STEP;
                std::thread::sleep(STEP);
            }
            Err(e) => return Err(e),
        }
    }
}

/// rmdir the cgroup `root` and every sub-cgroup below it, deepest first.
/// A cgroup whose last tasks are still exiting refuses for a moment
/// (EBUSY): retried, for at most `wait` in all. One that got new
/// sub-cgroups meanwhile (a container racing us) is walked again, a bounded
/// number of times. What cannot be removed is left, with its ancestors,
/// and the error names the first such cgroup and how many are left. A root
/// that does not exist is no error.
pub fn remove(root: &Path, wait: Duration) -> Result<()> {
    // Most often empty: one rmdir, and a walk only when it is refused.
    match std::fs::remove_dir(root) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let (Some(parent_path), Some(root_name)) = (root.parent(), root.file_name()) else {
        bail!("cgroup {}: not a cgroup directory", root.display());
    };
    let parent = open(parent_path, dir_flags(), Mode::empty())
        .map_err(|e| Error::from(e).context(format!("opening cgroup {}", parent_path.display())))?;
    let Some(mut c) = Cursor::open(root)? else {
        return Ok(());
    };
    let mut patience = Patience {
        wait_left: wait,
        rewalks_left: 1000,
    };
    let mut first_error: Option<Error> = None;
    let mut left = 0usize;
    loop {
        if let Some(name) = c.next_pending() {
            if let Err(e) = c.descend(name) {
                first_error.get_or_insert(e);
                // Not entered: it stays, and so does everything above it.
                left += 1;
                c.block();
            }
            continue;
        }
        match c.ascend()? {
            Some(done) if done.blocked => {
                left += 1;
                c.block();
            }
            Some(done) => match rmdir_at(c.fd(), &done.name, &mut patience) {
                Ok(Rmdir::Removed) => {}
                Ok(Rmdir::HasSubdirs) => {
                    // Back down for them; a failure to enter blocks it here.
                    if let Err(e) = c.descend(done.name) {
                        first_error.get_or_insert(e);
                        left += 1;
                        c.block();
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(c.error_at(&done.name, "removing", e));
                    left += 1;
                    c.block();
                }
            },
            // Everything below the root is done: now the root itself.
            None => {
                if c.stack.first().is_some_and(|l| l.blocked) {
                    left += 1;
                    break;
                }
                match rmdir_at(parent.as_fd(), root_name, &mut patience) {
                    Ok(Rmdir::Removed) => break,
                    Ok(Rmdir::HasSubdirs) => {
                        let more = subdirs(c.fd()).map_err(|e| c.error("listing", e))?;
                        if let Some(l) = c.stack.first_mut() {
                            l.pending = more;
                        }
                    }
                    Err(e) => {
                        first_error.get_or_insert(
                            Error::from(e).context(format!("removing cgroup {}", root.display())),
                        );
                        left += 1;
                        break;
                    }
                }
            }
        }
    }
    match first_error {
        None => Ok(()),
        Some(e) => Err(Error::new(format!(
            "{e} ({left} cgroup director{} left at {})",
            if left == 1 { "y" } else { "ies" },
            root.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_deep_directories_briefly() {
        let root = Path::new("/sys/fs/cgroup/pids/c1");
        let two = [OsStr::new("a"), OsStr::new("b")];
        assert_eq!(
            describe(root, two.into_iter()),
            "/sys/fs/cgroup/pids/c1/a/b"
        );
        let deep: Vec<OsString> = (0..2000).map(|i| OsString::from(format!("l{i}"))).collect();
        assert_eq!(
            describe(root, deep.iter().map(OsString::as_os_str)),
            "/sys/fs/cgroup/pids/c1/l0/l1/.../l1998/l1999 (2000 levels below /sys/fs/cgroup/pids/c1)"
        );
        let odd = [OsStr::new("a\nb")];
        assert_eq!(
            describe(root, odd.into_iter()),
            "/sys/fs/cgroup/pids/c1/a\\nb"
        );
    }
}
