//! process.scheduler: the scheduling policy and attributes of the
//! container's process, set with sched_setattr(2) before it runs.

use oci_spec::runtime::{LinuxSchedulerFlag as Flag, LinuxSchedulerPolicy as Policy, Scheduler};

use crate::bail;
use crate::error::{Context, Result};
use crate::linux::sys::{self, SchedAttr};

/// The flags as config.md names them, and their bits (<linux/sched.h>).
/// oci-spec 0.10 spells two of them otherwise: `oci_compat` renames them.
pub const FLAGS: [(&str, Flag, u64); 7] = [
    ("SCHED_FLAG_RESET_ON_FORK", Flag::SchedResetOnFork, 0x01),
    ("SCHED_FLAG_RECLAIM", Flag::SchedFlagReclaim, 0x02),
    ("SCHED_FLAG_DL_OVERRUN", Flag::SchedFlagDLOverrun, 0x04),
    ("SCHED_FLAG_KEEP_POLICY", Flag::SchedFlagKeepPolicy, 0x08),
    ("SCHED_FLAG_KEEP_PARAMS", Flag::SchedFlagKeepParams, 0x10),
    (
        "SCHED_FLAG_UTIL_CLAMP_MIN",
        Flag::SchedFlagUtilClampMin,
        0x20,
    ),
    (
        "SCHED_FLAG_UTIL_CLAMP_MAX",
        Flag::SchedFlagUtilClampMax,
        0x40,
    ),
];

/// The variant of a flag named as config.md names it.
pub fn flag_by_name(name: &str) -> Option<Flag> {
    FLAGS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, f, _)| *f)
}

fn flag_entry(f: Flag) -> (&'static str, u64) {
    FLAGS
        .iter()
        .find(|(_, v, _)| *v == f)
        .map(|(n, _, b)| (*n, *b))
        .unwrap_or(("?", 0))
}

/// The sched_attr to set, checked: what the kernel would refuse with a bare
/// EINVAL, or silently clamp (nice), is refused here naming the field.
pub fn attr(s: &Scheduler) -> Result<SchedAttr> {
    let policy = *s.policy();
    let (number, name) = match policy {
        Policy::SchedOther => (libc::SCHED_OTHER, "SCHED_OTHER"),
        Policy::SchedFifo => (libc::SCHED_FIFO, "SCHED_FIFO"),
        Policy::SchedRr => (libc::SCHED_RR, "SCHED_RR"),
        Policy::SchedBatch => (libc::SCHED_BATCH, "SCHED_BATCH"),
        Policy::SchedIdle => (libc::SCHED_IDLE, "SCHED_IDLE"),
        Policy::SchedDeadline => (libc::SCHED_DEADLINE, "SCHED_DEADLINE"),
        Policy::SchedIso => {
            bail!("process.scheduler.policy SCHED_ISO: Linux does not implement SCHED_ISO")
        }
    };
    let fair = matches!(
        policy,
        Policy::SchedOther | Policy::SchedBatch | Policy::SchedIdle
    );
    let realtime = matches!(policy, Policy::SchedFifo | Policy::SchedRr);
    let deadline = policy == Policy::SchedDeadline;

    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        bail!("process.scheduler.nice {nice}: expected -20 to 19");
    }
    if nice != 0 && !fair {
        bail!("process.scheduler.nice {nice}: {name} takes no nice value (SCHED_OTHER, SCHED_BATCH and SCHED_IDLE do)");
    }
    let priority = s.priority().unwrap_or(0);
    if realtime && !(1..=99).contains(&priority) {
        bail!("process.scheduler.priority {priority}: {name} needs a priority from 1 to 99");
    }
    if !realtime && priority != 0 {
        bail!("process.scheduler.priority {priority}: {name} takes no priority (SCHED_FIFO and SCHED_RR do)");
    }

    let runtime = s.runtime().unwrap_or(0);
    let dl = s.deadline().unwrap_or(0);
    let period = s.period().unwrap_or(0);
    if !deadline && (runtime, dl, period) != (0, 0, 0) {
        bail!(
            "process.scheduler.runtime/deadline/period: only SCHED_DEADLINE takes them, not {name}"
        );
    }
    if deadline {
        // sched(7): 1024 <= runtime <= deadline <= period (0: the deadline).
        if runtime < 1024 {
            bail!("process.scheduler.runtime {runtime}: SCHED_DEADLINE needs at least 1024 ns");
        }
        if dl < runtime {
            bail!("process.scheduler.deadline {dl}: must be at least the runtime ({runtime})");
        }
        if period != 0 && period < dl {
            bail!("process.scheduler.period {period}: must be 0 or at least the deadline ({dl})");
        }
    }

    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        let (fname, bit) = flag_entry(*f);
        match f {
            Flag::SchedFlagUtilClampMin | Flag::SchedFlagUtilClampMax => bail!(
                "process.scheduler.flags {fname}: not supported (the spec gives no clamp value to set)"
            ),
            Flag::SchedFlagReclaim | Flag::SchedFlagDLOverrun if !deadline => {
                bail!("process.scheduler.flags {fname}: only for SCHED_DEADLINE, not {name}")
            }
            _ => flags |= bit,
        }
    }
    Ok(SchedAttr {
        policy: number as u32,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline: dl,
        period,
        ..Default::default()
    })
}

/// Set it on the calling process (inherited by what it execs).
pub fn apply(s: &Scheduler) -> Result<()> {
    let a = attr(s)?;
    sys::sched_setattr(&a)
        .with_context(|| format!("process.scheduler (policy {:?}): sched_setattr", s.policy()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Scheduler {
        serde_json::from_str(json).unwrap()
    }

    fn err(json: &str) -> String {
        attr(&sched(json)).unwrap_err().to_string()
    }

    #[test]
    fn builds_the_kernel_attributes() {
        let a = attr(&sched(r#"{"policy":"SCHED_BATCH","nice":7}"#)).unwrap();
        assert_eq!((a.policy, a.nice, a.priority), (3, 7, 0));
        let a = attr(&sched(r#"{"policy":"SCHED_FIFO","priority":10}"#)).unwrap();
        assert_eq!((a.policy, a.priority), (1, 10));
        let a = attr(&sched(
            r#"{"policy":"SCHED_DEADLINE","runtime":10000000,"deadline":30000000,"period":30000000,"flags":["SCHED_RESET_ON_FORK","SCHED_FLAG_RECLAIM"]}"#,
        ))
        .unwrap();
        assert_eq!((a.policy, a.flags), (6, 0x03));
        assert_eq!(
            (a.runtime, a.deadline, a.period),
            (10_000_000, 30_000_000, 30_000_000)
        );
    }

    #[test]
    fn refuses_what_the_kernel_would_not_take() {
        assert!(err(r#"{"policy":"SCHED_ISO"}"#).contains("SCHED_ISO"));
        assert!(err(r#"{"policy":"SCHED_OTHER","nice":20}"#).contains("process.scheduler.nice"));
        assert!(err(r#"{"policy":"SCHED_FIFO","nice":-5,"priority":1}"#).contains("nice"));
        assert!(err(r#"{"policy":"SCHED_RR"}"#).contains("process.scheduler.priority 0"));
        assert!(err(r#"{"policy":"SCHED_FIFO","priority":100}"#).contains("priority 100"));
        assert!(err(r#"{"policy":"SCHED_OTHER","priority":1}"#).contains("priority 1"));
        assert!(err(r#"{"policy":"SCHED_OTHER","runtime":1}"#).contains("SCHED_DEADLINE"));
        assert!(
            err(r#"{"policy":"SCHED_DEADLINE","runtime":5,"deadline":10}"#).contains("runtime 5")
        );
        assert!(
            err(r#"{"policy":"SCHED_DEADLINE","runtime":2000,"deadline":1500}"#)
                .contains("deadline 1500")
        );
        assert!(
            err(r#"{"policy":"SCHED_DEADLINE","runtime":2000,"deadline":3000,"period":2500}"#)
                .contains("period 2500")
        );
        // (oci-spec's spelling of SCHED_FLAG_DL_OVERRUN, see oci_compat)
        assert!(
            err(r#"{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_D_L_OVERRUN"]}"#)
                .contains("SCHED_FLAG_DL_OVERRUN")
        );
        assert!(
            err(r#"{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_UTIL_CLAMP_MAX"]}"#)
                .contains("clamp")
        );
    }

    #[test]
    fn every_flag_maps_both_ways() {
        for (name, f, _) in FLAGS {
            assert_eq!(flag_by_name(name), Some(f));
            assert_eq!(flag_entry(f).0, name);
        }
        assert_eq!(flag_by_name("SCHED_RESET_ON_FORK"), None);
    }
}
