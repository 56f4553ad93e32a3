//! The syscalls std does not wrap, each a thin function with a `// SAFETY:`
//! line: the only unsafe code of the inspector.

use std::io;

/// personality(0xffffffff): the current persona, unchanged.
pub fn personality() -> io::Result<u64> {
    // SAFETY: 0xffffffff only queries; no memory is passed.
    let ret = unsafe { libc::personality(0xffff_ffff) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret as u64)
}

/// uname(2)'s machine field ("x86_64", or "i686" under PER_LINUX32).
pub fn machine() -> io::Result<String> {
    // SAFETY: utsname is plain bytes, so all-zero is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname for the whole call.
    if unsafe { libc::uname(&mut u) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let bytes: Vec<u8> = u
        .machine
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The kernel's struct sched_attr, version 1 (with the utilization clamps).
#[repr(C)]
#[derive(Default)]
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

/// sched_getattr(2) of the calling thread.
pub fn sched_getattr() -> io::Result<SchedAttr> {
    let mut attr = SchedAttr::default();
    // SAFETY: `attr` is a writable SchedAttr whose size is passed along; the
    // kernel writes at most that many bytes.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as u32,
            0u32,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(attr)
}

/// ioprio_get(IOPRIO_WHO_PROCESS, 0): the calling process's I/O priority.
pub fn ioprio() -> io::Result<u32> {
    const IOPRIO_WHO_PROCESS: i32 = 1;
    // SAFETY: integer arguments only.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret as u32)
}

/// get_mempolicy(2) of the calling thread: the mode with its flags, and the
/// nodes of its nodemask (1024 bits: the most a kernel has).
pub fn mempolicy() -> io::Result<(i32, Vec<u32>)> {
    let mut mode: libc::c_int = 0;
    let mut mask = [0 as libc::c_ulong; 1024 / 64];
    // SAFETY: `mode` and `mask` are writable for the call; maxnode (1024)
    // is the number of bits `mask` holds; addr and flags are 0 (the policy
    // of the thread).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            mask.as_mut_ptr(),
            1024 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let nodes = (0..1024u32)
        .filter(|&n| mask[(n / 64) as usize] & (1 << (n % 64)) != 0)
        .collect();
    Ok((mode, nodes))
}

/// clock_gettime(2) of `clock`, as (seconds, nanoseconds).
pub fn clock(clock: libc::clockid_t) -> io::Result<(i64, i64)> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the whole call.
    if unsafe { libc::clock_gettime(clock, &mut ts) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((ts.tv_sec, ts.tv_nsec))
}
