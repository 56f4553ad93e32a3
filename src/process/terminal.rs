//! `process.terminal`: a pty made inside the container's own devpts, whose
//! master goes to the client over `--console-socket` (SCM_RIGHTS, as runc
//! sends it) and whose slave becomes the process's stdio and controlling tty.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::linux::sys;

/// In the runtime, before cloning: connect to the client's socket (a host path).
pub fn connect_socket(path: &Path) -> Result<OwnedFd> {
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("socket for --console-socket")?;
    let addr =
        UnixAddr::new(path).with_context(|| format!("--console-socket {}", path.display()))?;
    connect(fd.as_raw_fd(), &addr).map_err(|e| {
        use std::os::unix::fs::FileTypeExt;
        // connect(2) to a plain file says ECONNREFUSED, which reads like a
        // client that went away.
        match std::fs::metadata(path) {
            Ok(m) if !m.file_type().is_socket() => Error::new(format!(
                "--console-socket {}: not a Unix socket",
                path.display()
            )),
            _ => {
                Error::from(e).context(format!("connecting to --console-socket {}", path.display()))
            }
        }
    })?;
    // Whoever listens gets the terminal, that is the container's process:
    // a less trusted user who can write the socket's directory could have
    // put their own listener (or a symlink to it) at that name.
    let peer = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)
        .with_context(|| format!("SO_PEERCRED of --console-socket {}", path.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if peer.uid() != 0 && peer.uid() != me {
        bail!(
            "--console-socket {}: its listener runs as uid {}, neither root nor uid {me}: not handing it the terminal",
            path.display(),
            peer.uid()
        );
    }
    Ok(fd)
}

/// In the container, after its /dev/pts is mounted: make the pty, hand the
/// master to the client, take the slave as stdio and controlling terminal.
/// Returns the slave's path.
pub fn setup(socket: &OwnedFd, size: Option<(u16, u16)>) -> Result<String> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .context("opening /dev/ptmx in the container (is /dev/pts mounted?)")?;
    grantpt(&master).context("grantpt")?;
    unlockpt(&master).context("unlockpt")?;
    let name = ptsname_r(&master).context("ptsname")?;
    let slave = nix::fcntl::open(
        name.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .with_context(|| format!("opening {name}"))?;
    if let Some((rows, cols)) = size {
        sys::set_winsize(&slave, rows, cols).context("process.consoleSize: TIOCSWINSZ")?;
    }
    let fds = [master.as_raw_fd()];
    sendmsg::<UnixAddr>(
        socket.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .context("sending the terminal master over --console-socket")?;
    drop(master);
    nix::unistd::dup2_stdin(slave.as_fd()).context("dup2 of the terminal to stdin")?;
    nix::unistd::dup2_stdout(slave.as_fd()).context("dup2 of the terminal to stdout")?;
    nix::unistd::dup2_stderr(slave.as_fd()).context("dup2 of the terminal to stderr")?;
    sys::set_controlling_tty(&slave).map_err(|e| Error::from(e).context("TIOCSCTTY"))?;
    Ok(name)
}

/// config-linux.md: with a terminal, the pty is bind-mounted on /dev/console
/// (we are in the container's root already: paths cannot leave it). The
/// file is opened once, without following a symlink, checked, and the pty
/// attached onto that fd: a rootfs shared with a running container cannot
/// swap it for a symlink between the check and the mount.
pub fn bind_console(pty: &str) -> Result<()> {
    use crate::linux::mount_fd::MountFd;
    use crate::linux::resolve::{open_in_root, open_no_magiclinks, Create};
    use nix::errno::Errno;
    use nix::sys::stat::{fstat, Mode};
    const CONSOLE: &str = "/dev/console";
    let root = nix::fcntl::open(
        "/",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .context("opening the root")?;
    let dev = open_in_root(&root, Path::new("/dev"), Create::Nothing, false)?;
    match nix::fcntl::openat(
        &dev,
        "console",
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    ) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err(Error::from(e).context(format!("creating {CONSOLE} for the terminal")))
        }
    }
    let target = nix::fcntl::openat(
        &dev,
        "console",
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("opening {CONSOLE}"))?;
    let kind = fstat(&target).context("fstat /dev/console")?.st_mode & libc::S_IFMT;
    if kind == libc::S_IFLNK || kind == libc::S_IFDIR {
        // The image's own link or directory would redirect the mount.
        bail!("{CONSOLE} in the rootfs is a symlink or directory: cannot bind the terminal on it")
    }
    crate::testpoint::pause_at("console-checked");
    let tty = open_no_magiclinks(Path::new(pty)).with_context(|| format!("opening {pty}"))?;
    MountFd::bind_fd(tty.as_fd(), false)
        .and_then(|m| m.attach(target.as_fd()))
        .with_context(|| format!("bind mount of {pty} on {CONSOLE}"))
}
