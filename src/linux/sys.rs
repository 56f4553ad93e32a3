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

/// Close every fd from `first` on but those in `keep` (sorted in place;
/// negative entries ignored). Unlike close-on-exec this takes effect now:
/// an execve resolves the interpreter of a script or an ELF while the
/// close-on-exec fds are still open.
pub fn close_from_except(first: u32, keep: &mut [RawFd]) -> Result<(), Errno> {
    let close_range = |lo: u32, hi: u32| {
        // SAFETY: close_range only closes fds; nothing of ours in [lo, hi] is
        // used after this (the callers exec or exit).
        let ret = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) };
        if ret < 0 {
            return Err(Errno::last());
        }
        Ok(())
    };
    keep.sort_unstable();
    let mut lo = first;
    for &k in keep.iter() {
        let Ok(k) = u32::try_from(k) else { continue };
        if k < lo {
            continue;
        }
        if k > lo {
            close_range(lo, k - 1)?;
        }
        lo = k.saturating_add(1);
    }
    close_range(lo, u32::MAX)
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

/// mount_setattr(2) on the mount `mnt` is the root of (a mount fd, or an fd
/// opened on a mount's root): `set` and `clear` are MOUNT_ATTR_* bits,
/// `propagation` one of MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE or 0;
/// with `recursive`, for every mount below it too.
pub fn mount_setattr(
    mnt: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> Result<(), Errno> {
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a NUL-terminated empty string (AT_EMPTY_PATH: the fd
    // itself), `attr` is a valid mount_attr that outlives the call and its size
    // is passed with it; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// open_tree(2) OPEN_TREE_CLONE of what `fd` refers to (AT_EMPTY_PATH): a
/// detached bind of it (with the mounts below it when `recursive`),
/// close-on-exec.
pub fn open_tree_clone_fd(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let mut flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is a NUL-terminated empty string (the fd itself); the
    // kernel only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a fresh fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// statx(2) of what `fd` refers to (AT_EMPTY_PATH): (mount id, inode).
pub fn mount_id_and_inode(fd: BorrowedFd<'_>) -> Result<(u64, u64), Errno> {
    let mut st = std::mem::MaybeUninit::<libc::statx>::zeroed();
    // SAFETY: the path is a NUL-terminated empty string (the fd itself) and
    // `st` is a writable statx buffer that outlives the call.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_MNT_ID | libc::STATX_INO,
            st.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: statx succeeded, so the kernel filled the buffer (and it was
    // zeroed before, so every byte is initialised either way).
    let st = unsafe { st.assume_init() };
    if st.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Errno::ENOSYS);
    }
    Ok((st.stx_mnt_id, st.stx_ino))
}

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at
/// `path` (and of the mounts below it when `recursive`), close-on-exec.
pub fn open_tree_clone(path: &std::ffi::CStr, recursive: bool) -> Result<OwnedFd, Errno> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: `path` is NUL-terminated and outlives the call; the kernel only
    // reads it.
    let ret = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a fresh fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// mount_setattr(2) MOUNT_ATTR_IDMAP on the detached mount `mnt` (and the
/// mounts below it when `recursive`): its ids are mapped through `userns`.
pub fn mount_setattr_idmap(
    mnt: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> Result<(), Errno> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr = libc::mount_attr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a NUL-terminated empty string (AT_EMPTY_PATH: the
    // fd itself), `attr` is a valid mount_attr that outlives the call and its
    // size is passed with it; the kernel only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// move_mount(2) of the detached mount `mnt` onto the directory or file
/// `onto` (both by fd: MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH).
pub fn move_mount_onto(mnt: BorrowedFd<'_>, onto: BorrowedFd<'_>) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: both paths are NUL-terminated empty strings (the fds
    // themselves); the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            onto.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// fsopen(2), close-on-exec: a context for a new superblock of `fstype`.
pub fn fsopen(fstype: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    // SAFETY: `fstype` is NUL-terminated and outlives the call; the kernel
    // only reads it.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a fresh fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// fsconfig(2) FSCONFIG_SET_STRING: `key=value` on a superblock context.
pub fn fsconfig_set_string(
    ctx: BorrowedFd<'_>,
    key: &std::ffi::CStr,
    value: &std::ffi::CStr,
) -> Result<(), Errno> {
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    // SAFETY: both strings are NUL-terminated and outlive the call; the
    // kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// fsconfig(2) FSCONFIG_SET_FLAG: a bare `key` on a superblock context.
pub fn fsconfig_set_flag(ctx: BorrowedFd<'_>, key: &std::ffi::CStr) -> Result<(), Errno> {
    const FSCONFIG_SET_FLAG: libc::c_uint = 0;
    // SAFETY: `key` is NUL-terminated and outlives the call; no value is
    // passed (NULL, as the command takes none); the kernel only reads.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_FLAG,
            key.as_ptr(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// fsconfig(2) FSCONFIG_CMD_CREATE, then fsmount(2): the configured
/// superblock as a detached mount (close-on-exec) with `attrs`
/// (libc::MOUNT_ATTR_*, the u64s of mount_setattr; fsmount takes them as an
/// unsigned int), attached nowhere.
pub fn fsmount_new(ctx: BorrowedFd<'_>, attrs: u64) -> Result<OwnedFd, Errno> {
    let attrs = libc::c_uint::try_from(attrs).map_err(|_| Errno::EINVAL)?;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: no key or value is passed (NULL, as the command takes none).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a fresh fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// prctl(PR_CAPBSET_READ): whether capability number `cap` is in the
/// calling thread's bounding set; EINVAL past the kernel's last capability.
pub fn capbset_read(cap: u32) -> Result<bool, Errno> {
    // SAFETY: integer arguments only; no memory is passed.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_READ, libc::c_ulong::from(cap), 0, 0, 0) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(ret == 1)
}

/// prctl(PR_CAPBSET_DROP): take capability number `cap` out of the calling
/// thread's bounding set (needs CAP_SETPCAP).
pub fn capbset_drop(cap: u32) -> Result<(), Errno> {
    // SAFETY: integer arguments only; no memory is passed.
    let ret = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
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

/// set_mempolicy(2): the calling thread's NUMA memory policy, inherited
/// by its children and kept across execve. `mask` holds `mask.len() * 64`
/// node bits; the kernel reads one bit fewer than `maxnode` says, hence +1.
pub fn set_mempolicy(mode: libc::c_int, mask: &[libc::c_ulong]) -> Result<(), Errno> {
    let maxnode = (mask.len() * libc::c_ulong::BITS as usize + 1) as libc::c_ulong;
    let ptr = if mask.is_empty() {
        std::ptr::null()
    } else {
        mask.as_ptr()
    };
    // SAFETY: `ptr` is null or points at `mask`, which holds the maxnode - 1
    // bits the kernel reads and outlives the call; nothing is written.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
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

/// recvmsg(2) of one message into `buf`, with the first fd it carries
/// (SCM_RIGHTS) owned and any other closed. Returns the length of the
/// message (0: the peer is gone).
pub fn recv_with_fd(
    sock: &impl AsRawFd,
    buf: &mut [u8],
) -> Result<(usize, Option<OwnedFd>), Errno> {
    let (n, fds) = recv_with_fds(sock, buf)?;
    Ok((n, fds.into_iter().next()))
}

/// recvmsg(2) of one message into `buf`, with every fd it carries
/// (SCM_RIGHTS) owned, in the order sent. Room is made for
/// [`MAX_FDS_PER_MESSAGE`]: a peer sending more has them dropped by the
/// kernel (MSG_CTRUNC), which is reported as EMSGSIZE.
pub fn recv_with_fds(sock: &impl AsRawFd, buf: &mut [u8]) -> Result<(usize, Vec<OwnedFd>), Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::io::IoSliceMut;
    let mut iov = [IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS_PER_MESSAGE]);
    let msg = recvmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut owned = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just installed `fd` in our table for this
                // message; nothing else owns it.
                owned.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err(Errno::EMSGSIZE);
    }
    Ok((msg.bytes, owned))
}

/// The most fds one message on our sockets may carry: a cgroup v1 host has
/// at most about fifteen hierarchies, each a `tasks` file (Message::Cgroup).
pub const MAX_FDS_PER_MESSAGE: usize = 32;

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

// --- bpf(2), for cgroup v2 device programs (cgroups/devices_v2.rs) -----------
//
// Each command takes a `union bpf_attr`; the kernel reads `size` bytes of it
// and treats the rest as zero. The structs below are the parts we use, with
// any padding spelled out as fields so that no uninitialised byte is passed.

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Programs of the cgroup's ancestors still run, and several may be attached.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `bpf_attr` for BPF_PROG_LOAD, up to `expected_attach_type`.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `bpf_attr` for BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `bpf_attr` for BPF_PROG_QUERY, up to `prog_cnt`.
#[repr(C)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    pad: u32,
}

/// `bpf_attr` for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with one of the attr structs above; returns the syscall's result.
///
/// # Safety
/// `attr` must be one of the `#[repr(C)]` structs above, matching `cmd`,
/// and every pointer stored in it must be valid for the call.
unsafe fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: the caller guarantees `attr` is a bpf_attr prefix for `cmd`;
    // the kernel reads and writes at most size_of::<T>() bytes of it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(ret)
}

/// BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program (8-byte `struct
/// bpf_insn`s); with `log`, the verifier writes what it checked there.
pub fn bpf_prog_load_device(code: &[[u8; 8]], log: Option<&mut [u8]>) -> Result<OwnedFd, Errno> {
    // The license only matters to programs calling GPL-only helpers; ours calls none.
    const LICENSE: &[u8] = b"Apache-2.0\0";
    let mut name = [0u8; 16];
    name[..9].copy_from_slice(b"hutch_dev");
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(code.len()).map_err(|_| Errno::E2BIG)?,
        insns: code.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_LOAD layout; `code`, LICENSE and the log
    // buffer (with its length) outlive the call, which only reads the first
    // two and writes within the third.
    let fd = unsafe { bpf(BPF_PROG_LOAD, &mut attr)? };
    // SAFETY: on success the kernel returned a new fd that only we hold.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_PROG_ATTACH of a device program to a cgroup directory, alongside any
/// already there (BPF_F_ALLOW_MULTI: all of them must allow).
pub fn bpf_prog_attach_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_ATTACH layout and holds no pointers.
    unsafe { bpf(BPF_PROG_ATTACH, &mut attr) }.map(|_| ())
}

/// BPF_PROG_DETACH of one device program from a cgroup directory.
pub fn bpf_prog_detach_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_DETACH layout and holds no pointers.
    unsafe { bpf(BPF_PROG_DETACH, &mut attr) }.map(|_| ())
}

/// BPF_PROG_QUERY: the ids of the device programs attached to the cgroup
/// directory itself (not those inherited from its ancestors).
pub fn bpf_prog_query_device(cgroup: BorrowedFd<'_>) -> Result<Vec<u32>, Errno> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        query_flags: 0,
        attach_flags: 0,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        pad: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_QUERY layout; `ids` has room for
    // `prog_cnt` ids and outlives the call.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr)? };
    ids.truncate((attr.prog_cnt as usize).min(ids.len()));
    Ok(ids)
}

/// BPF_PROG_GET_FD_BY_ID: a handle on a loaded program, to detach it.
pub fn bpf_prog_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = GetFdAttr {
        prog_id: id,
        next_id: 0,
        open_flags: 0,
    };
    // SAFETY: `attr` is the BPF_PROG_GET_FD_BY_ID layout and holds no pointers.
    let fd = unsafe { bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)? };
    // SAFETY: on success the kernel returned a new fd that only we hold.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Make `cmd` spawn by fork and exec rather than posix_spawn. glibc's
/// posix_spawn uses clone3 and falls back to clone only on ENOSYS; under a
/// seccomp filter that denies clone3 with EPERM (docker-era profiles, the
/// OCI validation suite's) it fails. fork uses clone.
pub fn spawn_by_fork(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure does nothing, so it is safe to run between fork
    // and exec.
    unsafe {
        cmd.pre_exec(|| Ok(()));
    }
}
