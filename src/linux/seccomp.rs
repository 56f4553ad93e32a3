//! `linux.seccomp`, compiled with libseccomp.
//!
//! The filter is built by `create` before cloning, so every bad name or value
//! fails there; the init only loads it, as late as it can before execve.
//! libseccomp resolves syscall names for every listed architecture, which
//! the default profiles of podman and containerd rely on; names unknown to
//! this libseccomp are skipped, as runc and crun do, since those profiles
//! list syscalls newer than many hosts.

use std::collections::HashSet;
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
pub const ACTIONS: [&str; 8] = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
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

/// A compiled filter, ready to load in the init.
pub struct Filter {
    ctx: ScmpFilterContext,
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
        A::ScmpActNotify => {
            bail!("{field}: SCMP_ACT_NOTIFY (a seccomp listener) is not supported by hutch yet")
        }
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

/// Check and compile `linux.seccomp`.
pub fn build(s: &LinuxSeccomp) -> Result<Filter> {
    if s.listener_path().is_some() {
        bail!("{FIELD}.listenerPath: seccomp listeners are not supported by hutch yet");
    }
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
        // libseccomp ANDs the conditions of one rule, but allows one per
        // argument: several on the same argument become one rule each (OR),
        // as runc does.
        let mut seen = HashSet::new();
        let split = args.iter().any(|a| !seen.insert(a.index()));
        for name in rule.names() {
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
        }
    }
    Ok(Filter { ctx })
}

/// Whether to load the filter last, right before execve: possible when the
/// program has no_new_privs or keeps CAP_SYS_ADMIN (loading needs one of
/// them). Otherwise it is loaded before privileges are dropped and must
/// allow what follows, as in runc.
pub fn load_late(no_new_privs: bool, uid: u32, caps: Option<&CapPlan>) -> bool {
    no_new_privs
        || match caps {
            Some(c) => c.effective_has(caps::Capability::CAP_SYS_ADMIN),
            // Unchanged sets: root keeps everything, setuid to others clears them.
            None => uid == 0,
        }
}

impl Filter {
    /// Install the filter on the calling thread: needs no_new_privs or
    /// CAP_SYS_ADMIN.
    pub fn load(&self) -> Result<()> {
        self.ctx
            .load()
            .map_err(|e| err(format!("{FIELD}: loading the filter"), e))
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
        let e = build_json(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)
            .err()
            .expect("notify accepted")
            .to_string();
        assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
    }
}
