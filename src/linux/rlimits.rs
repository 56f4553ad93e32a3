//! `process.rlimits`.

use oci_spec::runtime::{PosixRlimit, PosixRlimitType as T};

use crate::error::{Error, Result};

fn resource(t: T) -> libc::__rlimit_resource_t {
    match t {
        T::RlimitCpu => libc::RLIMIT_CPU,
        T::RlimitFsize => libc::RLIMIT_FSIZE,
        T::RlimitData => libc::RLIMIT_DATA,
        T::RlimitStack => libc::RLIMIT_STACK,
        T::RlimitCore => libc::RLIMIT_CORE,
        T::RlimitRss => libc::RLIMIT_RSS,
        T::RlimitNproc => libc::RLIMIT_NPROC,
        T::RlimitNofile => libc::RLIMIT_NOFILE,
        T::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        T::RlimitAs => libc::RLIMIT_AS,
        T::RlimitLocks => libc::RLIMIT_LOCKS,
        T::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        T::RlimitNice => libc::RLIMIT_NICE,
        T::RlimitRtprio => libc::RLIMIT_RTPRIO,
        T::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Checked before cloning: soft above hard, or a type listed twice.
pub fn validate(limits: &[PosixRlimit]) -> Result<()> {
    let mut seen = Vec::new();
    for l in limits {
        let name = serde_json::to_string(&l.typ()).unwrap_or_default();
        if l.soft() > l.hard() {
            return Err(Error::new(format!(
                "process.rlimits {name}: soft limit {} is above hard limit {}",
                l.soft(),
                l.hard()
            )));
        }
        if seen.contains(&name) {
            return Err(Error::new(format!(
                "process.rlimits {name}: listed more than once"
            )));
        }
        seen.push(name);
    }
    Ok(())
}

pub fn apply(limits: &[PosixRlimit]) -> Result<()> {
    for l in limits {
        let r = crate::linux::sys::setrlimit(resource(l.typ()), l.soft(), l.hard());
        if let Err(e) = r {
            let name = serde_json::to_string(&l.typ()).unwrap_or_default();
            return Err(Error::from(e).context(format!(
                "process.rlimits {name} (soft {}, hard {})",
                l.soft(),
                l.hard()
            )));
        }
    }
    Ok(())
}
