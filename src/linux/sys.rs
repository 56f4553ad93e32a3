//! The few raw syscalls nix does not wrap. Every `unsafe` block of the runtime
//! lives here, each as a thin function with a `// SAFETY:` line.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

/// Kernel `struct clone_args` (clone3(2)), version 0 layout plus set_tid/cgroup.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// What clone3 returned: we are the child, or the parent with the child's pid and pidfd.
pub enum Forked {
    Child,
    Parent { pid: i32, pidfd: OwnedFd },
}

/// fork(2) with namespace flags, returning a pidfd for the child (CLONE_PIDFD),
/// so the parent holds a handle that can never point at a recycled PID.
///
/// `cgroup_fd`, when given, places the child in that cgroup v2 directory before
/// it runs a single instruction (CLONE_INTO_CGROUP).
pub fn clone3(ns_flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, Errno> {
    const CLONE_PIDFD: u64 = 0x1000;
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs {
        flags: ns_flags | CLONE_PIDFD,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: without CLONE_VM the child gets a copy of our address space, as with
    // fork(2); `args` and `pidfd` outlive the call. hutch is single-threaded, so
    // no lock can be held by a thread that does not exist in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent {
            pid: pid as i32,
            // SAFETY: the kernel wrote a fresh pidfd that nobody else owns.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// pidfd_open(2): a handle on the process that has `pid` right now.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the fd was just created by the kernel and is ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2): signal exactly the process the pidfd refers to.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> Result<(), Errno> {
    // SAFETY: integer arguments only; a null siginfo means "as kill(2) would".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Mark every fd from `first` upwards close-on-exec, so nothing of the runtime
/// leaks into the container's program.
pub fn cloexec_from(first: u32) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: close_range with the CLOEXEC flag only changes fd flags.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// _exit(2): leave the forked child without running the parent's atexit
/// handlers or flushing buffers that belong to the parent.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// NS_GET_NSTYPE: the CLONE_NEW* type of a namespace fd, None if `f` is not one.
pub fn ns_type(f: &impl AsRawFd) -> Option<i32> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: NS_GET_NSTYPE takes no argument and only returns an integer.
    let ret = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE) };
    (ret >= 0).then_some(ret)
}

/// setrlimit(2) with the raw resource number (nix's enum misses some).
pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> Result<(), Errno> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid rlimit that lives across the call.
    let ret = unsafe { libc::setrlimit(resource, &lim) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// setdomainname(2) (nix has sethostname only).
pub fn setdomainname(name: &str) -> Result<(), Errno> {
    // SAFETY: the pointer and length describe `name`'s bytes for the whole call.
    let ret = unsafe { libc::setdomainname(name.as_ptr() as *const libc::c_char, name.len()) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// TIOCSCTTY: make `tty` the controlling terminal of our (new) session.
pub fn set_controlling_tty(tty: &impl AsRawFd) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument (0: do not steal); no memory is passed.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// TIOCSWINSZ: the terminal size the process starts with.
pub fn set_winsize(tty: &impl AsRawFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize that outlives the call; the kernel only reads it.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Before execve: unblock every signal (`run` blocks some to forward them)
/// and give SIGPIPE back its default action (Rust's runtime ignores it, and an
/// ignored signal would stay ignored in the container's program).
pub fn reset_signals() {
    use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
    let _ = SigSet::empty().thread_set_mask();
    // SAFETY: SIG_DFL installs no handler code; nothing runs in signal context.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// mount_setattr(2) with AT_RECURSIVE on the mount `mnt` is the root of (an
/// fd opened on it after mounting): `set` and `clear` apply to it and every
/// mount below it.
pub fn mount_setattr_recursive(mnt: &impl AsRawFd, set: u64, clear: u64) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is a NUL-terminated empty string (AT_EMPTY_PATH: the fd
    // itself), `attr` is a valid mount_attr that outlives the call and its size
    // is passed with it; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// personality(2): set the execution domain; returns the previous one.
pub fn personality(persona: libc::c_ulong) -> Result<i32, Errno> {
    // SAFETY: an integer argument only; no memory is passed.
    let ret = unsafe { libc::personality(persona) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(ret)
}

/// The kernel's struct sched_attr, version 1 (with the utilization clamps,
/// which libc's lacks).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
    pub util_min: u32,
    pub util_max: u32,
}

/// sched_setattr(2) on the calling thread (hutch is single-threaded: the process).
pub fn sched_setattr(attr: &SchedAttr) -> Result<(), Errno> {
    let mut attr = *attr;
    attr.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `attr` is a valid sched_attr whose `size` says how much the
    // kernel may read; it outlives the call.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, prio): the calling process's I/O priority.
pub fn ioprio_set(prio: u16) -> Result<(), Errno> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    // SAFETY: integer arguments only.
    let ret =
        unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, i32::from(prio)) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// sched_setaffinity(2) of the calling thread to the CPUs set in `mask`
/// (bit N of word N/64 is CPU N), which may be of any length.
pub fn sched_setaffinity(mask: &[u64]) -> Result<(), Errno> {
    // SAFETY: the pointer and byte length describe `mask` exactly; the kernel
    // only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of_val(mask),
            mask.as_ptr(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// TIOCGWINSZ: a terminal's (rows, cols).
pub fn get_winsize(tty: &impl AsRawFd) -> Result<(u16, u16), Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid, writable winsize that outlives the call.
    let ret = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok((ws.ws_row, ws.ws_col))
}

/// Receive one fd sent with SCM_RIGHTS on a unix socket (the terminal master
/// a container's init sends, as it would to a --console-socket).
pub fn recv_fd(sock: &impl AsRawFd) -> Result<OwnedFd, Errno> {
    let mut buf = [0u8; 4096];
    recv_with_fd(sock, &mut buf)?.1.ok_or(Errno::EBADMSG)
}

/// recvmsg(2) of one message into `buf`, with the fds it carries
/// (SCM_RIGHTS) owned: the first is returned, any other closed. Returns the
/// length of the message (0: the peer is gone).
pub fn recv_with_fd(
    sock: &impl AsRawFd,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::io::IoSliceMut;
    let mut iov = [IoSliceMut::new(buf)];
    // Room for a few, so that a peer sending more cannot leave some
    // unowned (MSG_CTRUNC would drop them without telling us their numbers).
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut first = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in our table for this
                // message; nothing else owns it.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                if first.is_none() {
                    first = Some(fd);
                }
            }
        }
    }
    Ok((msg.bytes, first))
}

/// Own the seccomp listener fd that libseccomp got from seccomp(2) when it
/// loaded a filter with a notify action (seccomp_notify_fd(3)).
pub fn own_seccomp_notify_fd(raw: RawFd) -> Result<OwnedFd, Errno> {
    if raw < 0 {
        return Err(Errno::EBADF);
    }
    // SAFETY: `raw` is the open fd seccomp(2) returned to libseccomp, owned by
    // no Rust object. libseccomp keeps its number only for its own notify
    // calls, which hutch never makes in the process that loaded the filter,
    // and closes it only in seccomp_reset(NULL), which hutch never calls.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}
