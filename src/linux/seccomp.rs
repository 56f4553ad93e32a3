//! `linux.seccomp`, compiled with libseccomp.
//!
//! The filter is built by `create` before cloning, so every bad name or value
//! fails there; the init only loads it, as late as it can before execve.
//! libseccomp resolves syscall names for every listed architecture, which
//! the default profiles of podman and containerd rely on; names unknown to
//! this libseccomp are skipped, as runc and crun do, since those profiles
//! list syscalls newer than many hosts.
//!
//! A filter with `SCMP_ACT_NOTIFY` rules is loaded with a listener
//! (SECCOMP_FILTER_FLAG_NEW_LISTENER); the process that loads it hands the
//! listener fd to the runtime, which sends it to the agent at
//! `listenerPath` (seccomp_listener.rs) before the process may go on.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction as A, LinuxSeccompArg, LinuxSeccompFilterFlag as F,
    LinuxSeccompOperator as Op,
};

use super::capabilities::CapPlan;
use crate::bail;
use crate::error::{Error, Result};

const FIELD: &str = "linux.seccomp";

/// What `hutch features` reports (features-linux.md).
pub const ACTIONS: [&str; 9] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];
pub const OPERATORS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];
pub const ARCHS: [&str; 20] = [
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];
pub const KNOWN_FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// The syscall the loading process hands the listener fd over with, once
/// the filter is on: notifying it would wait for an agent that cannot have
/// the fd yet (runc refuses `write`, its own handover, for the same reason).
const HANDOVER_SYSCALL: &str = "sendmsg";

/// A compiled filter, ready to load in the init.
pub struct Filter {
    ctx: ScmpFilterContext,
    listener: Option<Listener>,
}

/// Where the listener fd of a filter with notify rules goes.
pub struct Listener {
    /// linux.seccomp.listenerPath: an AF_UNIX SOCK_STREAM socket on the host.
    pub path: PathBuf,
    /// linux.seccomp.listenerMetadata, passed on as is.
    pub metadata: Option<String>,
}

fn err(what: impl std::fmt::Display, e: libseccomp::error::SeccompError) -> Error {
    Error::new(format!("{what}: {e}"))
}

/// The name config.json uses for a value of an oci-spec enum.
fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn action(field: &str, a: A, errno: Option<u32>) -> Result<ScmpAction> {
    // config-linux.md: an errno with an action that returns none is an error.
    if let (Some(n), false) = (errno, matches!(a, A::ScmpActErrno | A::ScmpActTrace)) {
        bail!(
            "{field}: errnoRet {n} given, but {} returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)",
            json_name(&a)
        );
    }
    let errno = errno.map_or(Ok(libc::EPERM), i32::try_from);
    let errno = errno.map_err(|_| Error::new(format!("{field}: errnoRet is out of range")))?;
    Ok(match a {
        A::ScmpActKill | A::ScmpActKillThread => ScmpAction::KillThread,
        A::ScmpActKillProcess => ScmpAction::KillProcess,
        A::ScmpActTrap => ScmpAction::Trap,
        A::ScmpActErrno => ScmpAction::Errno(errno),
        A::ScmpActTrace => ScmpAction::Trace(u16::try_from(errno).map_err(|_| {
            Error::new(format!(
                "{field}: errnoRet {errno} does not fit a trace message"
            ))
        })?),
        A::ScmpActLog => ScmpAction::Log,
        A::ScmpActAllow => ScmpAction::Allow,
        A::ScmpActNotify => ScmpAction::Notify,
    })
}

fn condition(field: &str, a: &LinuxSeccompArg) -> Result<ScmpArgCompare> {
    if a.index() > 5 {
        bail!(
            "{field}: index {} is out of range: syscalls have arguments 0 to 5",
            a.index()
        );
    }
    let (op, datum) = match a.op() {
        Op::ScmpCmpNe => (ScmpCompareOp::NotEqual, a.value()),
        Op::ScmpCmpLt => (ScmpCompareOp::Less, a.value()),
        Op::ScmpCmpLe => (ScmpCompareOp::LessOrEqual, a.value()),
        Op::ScmpCmpEq => (ScmpCompareOp::Equal, a.value()),
        Op::ScmpCmpGe => (ScmpCompareOp::GreaterEqual, a.value()),
        Op::ScmpCmpGt => (ScmpCompareOp::Greater, a.value()),
        // value is the mask, valueTwo what the masked argument must equal.
        Op::ScmpCmpMaskedEq => (
            ScmpCompareOp::MaskedEqual(a.value()),
            a.value_two().unwrap_or(0),
        ),
    };
    Ok(ScmpArgCompare::new(a.index() as u32, op, datum))
}

/// The listener fields, checked: Some when the profile uses SCMP_ACT_NOTIFY.
fn listener(s: &LinuxSeccomp) -> Result<Option<Listener>> {
    let path = s
        .listener_path()
        .as_deref()
        .filter(|p| !p.as_os_str().is_empty());
    let metadata = s.listener_metadata().as_deref().filter(|m| !m.is_empty());
    if metadata.is_some() && path.is_none() {
        bail!("{FIELD}.listenerMetadata: set without {FIELD}.listenerPath, which it is sent to");
    }
    if s.default_action() == A::ScmpActNotify {
        // Every syscall would wait for an agent, the handover of its fd too.
        bail!(
            "{FIELD}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action \
             (the listener fd is handed over with a syscall); list the syscalls to notify"
        );
    }
    let rules = s.syscalls().as_deref().unwrap_or(&[]);
    let Some(i) = rules.iter().position(|r| r.action() == A::ScmpActNotify) else {
        // listenerPath is ignored when nothing notifies (config-linux.md).
        return Ok(None);
    };
    let Some(path) = path else {
        bail!(
            "{FIELD}.listenerPath: required by SCMP_ACT_NOTIFY ({FIELD}.syscalls[{i}]): \
             the agent's unix socket to send the listener fd to"
        );
    };
    check_listener_path(path)?;
    Ok(Some(Listener {
        path: path.to_path_buf(),
        metadata: metadata.map(str::to_string),
    }))
}

fn check_listener_path(p: &Path) -> Result<()> {
    // Connected to by `create` and by every `exec`, from wherever they run.
    if !p.is_absolute() {
        bail!(
            "{FIELD}.listenerPath {}: expected an absolute path",
            p.display()
        );
    }
    // sun_path holds 108 bytes with the final NUL.
    if p.as_os_str().len() > 107 {
        bail!(
            "{FIELD}.listenerPath {}: longer than a unix socket address allows (107 bytes)",
            p.display()
        );
    }
    Ok(())
}

/// Check and compile `linux.seccomp`.
pub fn build(s: &LinuxSeccomp) -> Result<Filter> {
    let listener = listener(s)?;
    let mut notifies = false;
    let default = action(
        &format!("{FIELD}.defaultAction"),
        s.default_action(),
        s.default_errno_ret(),
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| err(FIELD, e))?;
    // libseccomp would set no_new_privs on load; that is the config's call
    // (process.noNewPrivileges), not ours.
    ctx.set_ctl_nnp(false).map_err(|e| err(FIELD, e))?;
    for arch in s.architectures().iter().flatten() {
        let name = json_name(arch);
        let a = ScmpArch::from_str(&name).map_err(|_| {
            Error::new(format!(
                "{FIELD}.architectures: {name:?} is not an architecture libseccomp knows"
            ))
        })?;
        match ctx.add_arch(a) {
            Ok(_) => {}
            // Already there (the native one always is).
            Err(e) if e.errno() == Some(libseccomp::error::SeccompErrno::EEXIST) => {}
            Err(e) => return Err(err(format!("{FIELD}.architectures: {name}"), e)),
        }
    }
    for flag in s.flags().iter().flatten() {
        let r = match flag {
            F::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            F::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            F::SeccompFilterFlagSpecAllow => ctx.set_ctl_ssb(true),
            F::SeccompFilterFlagWaitKillableRecv => ctx.set_ctl_waitkill(true),
        };
        r.map_err(|e| err(format!("{FIELD}.flags: {}", json_name(flag)), e))?;
    }
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let field = format!("{FIELD}.syscalls[{i}]");
        let act = action(&field, rule.action(), rule.errno_ret())?;
        let args = rule.args().as_deref().unwrap_or(&[]);
        let conds = args
            .iter()
            .enumerate()
            .map(|(j, a)| condition(&format!("{field}.args[{j}]"), a))
            .collect::<Result<Vec<_>>>()?;
        // A rule that does what the default does is redundant, and
        // libseccomp refuses it.
        if act == default {
            continue;
        }
        if rule.names().is_empty() {
            bail!("{field}.names: empty, expected at least one syscall name");
        }
        if act == ScmpAction::Notify && rule.names().iter().any(|n| n == HANDOVER_SYSCALL) {
            bail!(
                "{field}: SCMP_ACT_NOTIFY on {HANDOVER_SYSCALL}: the process hands the \
                 listener fd over with {HANDOVER_SYSCALL}(2) once the filter is on"
            );
        }
        // libseccomp ANDs the conditions of one rule, but allows one per
        // argument: several on the same argument become one rule each (OR),
        // as runc does.
        let mut seen = HashSet::new();
        let split = args.iter().any(|a| !seen.insert(a.index()));
        for (j, name) in rule.names().iter().enumerate() {
            // A well-formed name libseccomp does not know is skipped (profiles
            // list syscalls newer than the library); anything else is a typo.
            if !is_syscall_name(name) {
                bail!(
                    "{field}.names[{j}]: {name:?} is not a syscall name \
                     (expected lower-case letters, digits and _)"
                );
            }
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                log::debug!("{field}: skipping syscall {name:?}, unknown to libseccomp");
                continue;
            };
            let added = if split {
                conds
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, nr, &[*c]).map(|_| ()))
            } else {
                ctx.add_rule_conditional(act, nr, &conds).map(|_| ())
            };
            added.map_err(|e| err(format!("{field}: syscall {name}"), e))?;
            notifies |= act == ScmpAction::Notify;
        }
    }
    Ok(Filter {
        ctx,
        // No listener when every notified name was unknown: nothing notifies.
        listener: listener.filter(|_| notifies),
    })
}

/// What every Linux syscall name looks like: `[a-z_][a-z0-9_]*`.
fn is_syscall_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// When a process loads the filter, relative to dropping its privileges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadAt {
    /// Before capabilities and user change: loading needs no_new_privs or
    /// CAP_SYS_ADMIN, and the program will have neither. The filter must
    /// allow what follows, as in runc.
    BeforeDrop,
    /// Right after: a filter with a listener, whose fd the runtime must pass
    /// to the agent before it returns (before `create` does, for the init).
    AfterDrop,
    /// Last, right before execve, so that as few of the runtime's syscalls
    /// as possible go through it.
    BeforeExecve,
}

impl Filter {
    /// Where to load it, for a process with these settings.
    pub fn load_at(&self, no_new_privs: bool, caps: &CapPlan) -> LoadAt {
        let late = no_new_privs || caps.effective_has(caps::Capability::CAP_SYS_ADMIN);
        match (late, self.listener.is_some()) {
            (false, _) => LoadAt::BeforeDrop,
            (true, true) => LoadAt::AfterDrop,
            (true, false) => LoadAt::BeforeExecve,
        }
    }

    /// The agent to hand the listener fd to, if the filter notifies.
    pub fn listener(&self) -> Option<&Listener> {
        self.listener.as_ref()
    }

    /// Install the filter on the calling thread (needs no_new_privs or
    /// CAP_SYS_ADMIN); returns its listener fd if it notifies.
    pub fn load(&self) -> Result<Option<OwnedFd>> {
        self.ctx
            .load()
            .map_err(|e| err(format!("{FIELD}: loading the filter"), e))?;
        if self.listener.is_none() {
            return Ok(None);
        }
        let raw = self
            .ctx
            .get_notify_fd()
            .map_err(|e| err(format!("{FIELD}: the listener fd of the filter"), e))?;
        crate::linux::sys::own_seccomp_notify_fd(raw)
            .map(Some)
            .map_err(|e| Error::from(e).context(format!("{FIELD}: the listener fd")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_json(json: &str) -> Result<Filter> {
        let s: LinuxSeccomp = serde_json::from_str(json).expect("parse");
        build(&s)
    }

    #[test]
    fn compiles_rules_with_conditions_and_skips_unknown_names() {
        build_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
                "flags":["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls":[
                  {"names":["mkdir","hutch_no_such_syscall"],"action":"SCMP_ACT_ERRNO","errnoRet":13},
                  {"names":["personality"],"action":"SCMP_ACT_ERRNO",
                   "args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"},{"index":0,"value":9,"op":"SCMP_CMP_EQ"}]},
                  {"names":["clone"],"action":"SCMP_ACT_ERRNO",
                   "args":[{"index":0,"value":2114060288,"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}]},
                  {"names":["getpid"],"action":"SCMP_ACT_ALLOW"}
                ]}"#,
        )
        .expect("build");
    }

    #[test]
    fn every_listed_arch_is_known_to_libseccomp() {
        for a in ARCHS {
            ScmpArch::from_str(a).unwrap_or_else(|_| panic!("{a}"));
        }
    }

    #[test]
    fn refuses_bad_values_naming_the_field() {
        let e = build_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        )
        .err()
        .expect("index 6 accepted")
        .to_string();
        assert!(e.contains("linux.seccomp.syscalls[0].args[0]"), "{e}");
    }

    fn refused(json: &str, tokens: &[&str]) {
        let e = build_json(json).err().expect("accepted").to_string();
        for t in tokens {
            assert!(e.contains(t), "{t:?} not in {e:?}");
        }
    }

    #[test]
    fn tells_a_typo_from_a_syscall_libseccomp_does_not_know() {
        refused(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["MKDIR"],"action":"SCMP_ACT_ERRNO"}]}"#,
            &[
                "linux.seccomp.syscalls[0].names[0]",
                "\"MKDIR\"",
                "not a syscall name",
            ],
        );
        for bad in ["", "1open", "open-at", "mkdir "] {
            assert!(!is_syscall_name(bad), "{bad:?}");
        }
        for good in [
            "mkdir",
            "_sysctl",
            "epoll_wait",
            "pidfd_send_signal",
            "fchmodat2",
        ] {
            assert!(is_syscall_name(good), "{good:?}");
        }
    }

    #[test]
    fn checks_the_listener_fields() {
        refused(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            &[
                "linux.seccomp.listenerPath",
                "syscalls[0]",
                "SCMP_ACT_NOTIFY",
            ],
        );
        refused(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerMetadata":"x"}"#,
            &["linux.seccomp.listenerMetadata", "listenerPath"],
        );
        refused(
            r#"{"defaultAction":"SCMP_ACT_NOTIFY","listenerPath":"/run/agent.sock"}"#,
            &["linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY"],
        );
        refused(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
                "syscalls":[{"names":["mkdir","sendmsg"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            &["linux.seccomp.syscalls[0]", "sendmsg"],
        );
        refused(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"agent.sock",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
            &["linux.seccomp.listenerPath", "absolute"],
        );
        let long = format!("/{}", "a".repeat(107));
        refused(
            &format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"{long}",
                    "syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}}]}}"#
            ),
            &["linux.seccomp.listenerPath", "107"],
        );
        let f = build_json(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","listenerMetadata":"m",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .expect("build");
        let l = f.listener().expect("a listener");
        assert_eq!(l.path, Path::new("/run/agent.sock"));
        assert_eq!(l.metadata.as_deref(), Some("m"));
        // Late, after the drop, for a program that keeps CAP_SYS_ADMIN or
        // has no_new_privs; before it otherwise.
        let none = CapPlan::default();
        let caps: oci_spec::runtime::LinuxCapabilities =
            serde_json::from_str(r#"{"effective": ["CAP_SYS_ADMIN"]}"#).expect("caps");
        let admin = super::super::capabilities::plan(Some(&caps)).expect("plan");
        assert_eq!(f.load_at(false, &admin), LoadAt::AfterDrop);
        assert_eq!(f.load_at(false, &none), LoadAt::BeforeDrop);
        assert_eq!(f.load_at(true, &none), LoadAt::AfterDrop);
        // Ignored when nothing notifies; nothing to hand over when every
        // notified name is unknown.
        for json in [
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"relative"}"#,
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
                "syscalls":[{"names":["hutch_no_such_syscall"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        ] {
            let f = build_json(json).expect("build");
            assert!(f.listener().is_none());
            assert_eq!(f.load_at(false, &admin), LoadAt::BeforeExecve);
        }
    }
}
