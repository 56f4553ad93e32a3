//! The user's program: looked up once, held by the fd that was checked, and
//! exec'd through that fd.
//!
//! Between the look-up and the execve, container code can run (a
//! startContainer hook, another process of the container during `exec`) and
//! swap `args[0]` for a symlink, to `/proc/self/fd/N` of a runtime fd above
//! all (runc CVE-2024-21626). Exec'ing by path again would follow it; exec'ing
//! the checked fd (execveat AT_EMPTY_PATH) cannot.

use std::ffi::CString;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstat, FileStat};
use nix::unistd::execveat;

use crate::bail;
use crate::error::{Error, Result};
use crate::linux::resolve;

pub struct Program {
    /// Where it was found, as execvp would name it: errors quote it, and a
    /// script is exec'd by it.
    path: CString,
    /// The directory `path` names, resolved and held: the execve goes through
    /// it, so no directory on the way can be swapped.
    dir: OwnedFd,
    /// The last component of `path`, in `dir`: exec'd by this name, the
    /// program's comm is what runc's would be (`sleep`, not `busybox`).
    name: CString,
    /// The last component is a symlink (busybox's applets, python3): the
    /// execve follows it again.
    link: bool,
    /// O_PATH, close-on-exec: the file whose type and mode were checked.
    file: OwnedFd,
    /// Its device and inode.
    id: (u64, u64),
}

/// A mode the kernel would exec: a regular file with an x bit.
fn executable(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0
}

fn id_of(st: &FileStat) -> (u64, u64) {
    (st.st_dev, st.st_ino)
}

/// The file `name` in `dir` resolves to, following symlinks but never a
/// magic link: an `args[0]` of `/proc/self/fd/N/..` must not reach a host
/// directory through an fd the runtime holds.
fn open_at(dir: &OwnedFd, name: &Path) -> nix::Result<(OwnedFd, FileStat)> {
    let fd = resolve::open_no_magiclinks_at(dir, name)?;
    let st = fstat(&fd)?;
    Ok((fd, st))
}

/// What a candidate path is: its directory and last component, the file it
/// resolves to and whether that last component is a symlink.
fn look(p: &Path) -> nix::Result<(Program, FileStat)> {
    let name = p.file_name().ok_or(Errno::EISDIR)?;
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ if p.is_absolute() => Path::new("/"),
        _ => Path::new("."),
    };
    let dir = resolve::open_no_magiclinks(parent)?;
    let (file, st) = open_at(&dir, Path::new(name))?;
    let link = nix::sys::stat::fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?.st_mode
        & libc::S_IFMT
        == libc::S_IFLNK;
    let cstr = |b: &[u8]| CString::new(b).map_err(|_| Errno::EINVAL);
    let prog = Program {
        path: cstr(p.as_os_str().as_bytes())?,
        dir,
        name: cstr(name.as_bytes())?,
        link,
        file,
        id: id_of(&st),
    };
    Ok((prog, st))
}

impl Program {
    /// Resolve args[0] as execvp would, against the container's PATH, so a
    /// missing program fails `create`, not silently after `start`. The errors
    /// end as runc's do ("no such file or directory", "permission denied",
    /// "executable file not found in $PATH"): podman and docker map those
    /// words to the exit codes 127 and 126.
    pub fn find(arg0: &str, env: &[String]) -> Result<Program> {
        if arg0.contains('/') {
            let (prog, st) = match look(Path::new(arg0)) {
                Ok(f) => f,
                // "/", "x/..": a directory by its very name.
                Err(Errno::EISDIR) => bail!("process.args[0] {arg0:?} is a directory, expected an executable file: permission denied"),
                Err(e) => bail!(
                    "process.args[0] {arg0:?} in the container: {}",
                    e.desc().to_lowercase()
                ),
            };
            return match st.st_mode & libc::S_IFMT {
                _ if executable(&st) => Ok(prog),
                libc::S_IFDIR => {
                    bail!("process.args[0] {arg0:?} is a directory, expected an executable file: permission denied")
                }
                libc::S_IFREG => {
                    bail!("process.args[0] {arg0:?} is not executable (no x permission bit): permission denied")
                }
                _ => bail!("process.args[0] {arg0:?} is not a regular file: permission denied"),
            };
        }
        let path_var = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        for dir in path_var.split(':').filter(|d| !d.is_empty()) {
            if let Ok((prog, st)) = look(&Path::new(dir).join(arg0)) {
                if executable(&st) {
                    return Ok(prog);
                }
            }
        }
        bail!("process.args[0] {arg0:?}: executable file not found in $PATH ({path_var})")
    }

    /// The fds the caller must keep open until `exec`.
    pub fn fds(&self) -> [RawFd; 2] {
        [self.dir.as_raw_fd(), self.file.as_raw_fd()]
    }

    /// Replace the process with the program; returns only on failure.
    ///
    /// By its name in the directory that was resolved, once that name is
    /// shown to still be the file that was checked (not a symlink to it when
    /// it was none). Swapped meanwhile, the checked file is exec'd through
    /// its fd: its comm is then its own name (or, before Linux 6.14, the fd
    /// number), a price only an attack pays.
    ///
    /// A script cannot run through a close-on-exec directory fd (its
    /// interpreter would be handed `/dev/fd/N/name`, gone by then, and `$0`
    /// would be wrong anyway): the kernel says ENOENT, and then it is exec'd
    /// by its path. Its interpreter is looked up by path in any case, as with
    /// every runtime; what keeps that from reaching the host is that no
    /// runtime fd but these is open by now (sys::close_from_except).
    pub fn exec(&self, argv: &[CString], env: &[CString]) -> Error {
        let what = || format!("exec {:?}", self.path);
        let fail = |e: Errno| Error::from(e).context(what());
        let still = if self.link {
            open_at(
                &self.dir,
                Path::new(OsStr::from_bytes(self.name.as_bytes())),
            )
            .map(|(_, st)| id_of(&st))
        } else {
            nix::sys::stat::fstatat(
                &self.dir,
                self.name.as_c_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .map(|st| id_of(&st))
        };
        if still != Ok(self.id) {
            let Err(e) = execveat(self.file.as_fd(), c"", argv, env, AtFlags::AT_EMPTY_PATH);
            return fail(e);
        }
        let follow = if self.link {
            AtFlags::empty()
        } else {
            AtFlags::AT_SYMLINK_NOFOLLOW
        };
        match execveat(self.dir.as_fd(), &self.name, argv, env, follow) {
            Err(Errno::ENOENT) => {}
            Err(e) => return fail(e),
        }
        let Err(e) = nix::unistd::execve(&self.path, argv, env);
        fail(e)
    }
}
