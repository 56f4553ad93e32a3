//! Running from a sealed in-memory copy of our own binary (runc's answer to
//! CVE-2019-5736), for the commands whose processes enter a live container.
//!
//! A process that enters a container (`exec`) is still hutch's image until its
//! execve. Non-dumpable stops most of the container from opening its
//! /proc/PID/exe, but not a process holding CAP_SYS_PTRACE in the host's user
//! namespace: that one could keep the file open and rewrite hutch on the host
//! once we exit. Re-executed from a sealed memfd, /proc/PID/exe is the memfd,
//! which no one can write. It costs a copy of the binary, so only the commands
//! that need it pay.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};

use crate::error::{Context, Error, Result};

const NAME: &str = "hutch-sealed";

/// Whether we already run from the sealed copy.
fn sealed() -> bool {
    std::fs::read_link("/proc/self/exe")
        .map(|p| p.to_string_lossy().starts_with(&format!("/memfd:{NAME}")))
        .unwrap_or(false)
}

/// Re-exec from a sealed memfd copy unless we already are one; returns only
/// when there is nothing to do.
pub fn ensure() -> Result<()> {
    if sealed() {
        return Ok(());
    }
    let mut src = File::open("/proc/self/exe").context("opening /proc/self/exe")?;
    let fd = memfd_create(NAME, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
        .context("memfd_create for a sealed copy of hutch")?;
    let mut dst = File::from(fd);
    std::io::copy(&mut src, &mut dst).context("copying hutch into the memfd")?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(dst.as_fd(), FcntlArg::F_ADD_SEALS(seals)).context("sealing the memfd copy")?;
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.into_encoded_bytes()))
        .collect::<Result<_, _>>()
        .map_err(|_| Error::new("NUL byte in the command line"))?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()
        .map_err(|_| Error::new("NUL byte in the environment"))?;
    nix::unistd::fexecve(dst.as_fd(), &args, &env).context("re-executing from the sealed copy")?;
    Ok(())
}
