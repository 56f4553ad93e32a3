//! process.execCPUAffinity: the CPUs a process added by `exec` runs on.
//! `initial` holds for the runtime while it moves the process into the
//! container's cgroup, `final` is set on the process right before its
//! execve. Not for the container's init (config.md).

use oci_spec::runtime::ExecCPUAffinity;

use crate::bail;
use crate::error::{Context, Result};

/// CONFIG_NR_CPUS can be at most 8192: a list past that is a mistake, and
/// must not make us allocate a huge mask.
const MAX_CPUS: u32 = 8192;

/// A CPU mask as sched_setaffinity takes it: bit N of word N/64 is CPU N.
#[derive(Debug, PartialEq, Eq)]
pub struct CpuSet(Vec<u64>);

/// Both lists, parsed. Empty ones are dropped when config.json is read
/// (`oci_compat`): "the kernel decides".
#[derive(Debug, Default)]
pub struct Plan {
    pub initial: Option<CpuSet>,
    pub last: Option<CpuSet>,
}

pub fn plan(a: &ExecCPUAffinity) -> Result<Plan> {
    let parse = |name: &str, list: &Option<String>| {
        list.as_deref()
            .map(|l| parse(l).with_context(|| format!("process.execCPUAffinity.{name} {l:?}")))
            .transpose()
    };
    Ok(Plan {
        initial: parse("initial", a.initial())?,
        last: parse("final", a.cpu_affinity_final())?,
    })
}

/// "0-3,7": CPUs 0, 1, 2, 3 and 7.
pub fn parse(list: &str) -> Result<CpuSet> {
    let mut words: Vec<u64> = Vec::new();
    for part in list.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| {
            s.parse::<u32>()
                .ok()
                .filter(|n| *n < MAX_CPUS)
                .ok_or_else(|| {
                    crate::error::Error::new(format!(
                        "{s:?} is not a CPU number (0 to {})",
                        MAX_CPUS - 1
                    ))
                })
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            bail!("range {part:?} runs backwards");
        }
        let need = hi as usize / 64 + 1;
        if words.len() < need {
            words.resize(need, 0);
        }
        for cpu in lo..=hi {
            words[cpu as usize / 64] |= 1 << (cpu % 64);
        }
    }
    if words.is_empty() {
        bail!("no CPU listed");
    }
    Ok(CpuSet(words))
}

/// Run the calling process on these CPUs only.
pub fn apply(set: &CpuSet, what: &str) -> Result<()> {
    crate::linux::sys::sched_setaffinity(&set.0)
        .with_context(|| format!("process.execCPUAffinity.{what}: sched_setaffinity"))?;
    Ok(())
}

/// The runtime kept off one CPU for a while: `restore` (or drop) puts back
/// its mask.
pub struct SteppedAside(Option<nix::sched::CpuSet>);

/// The runtime goes on working side by side with the init it just cloned
/// (making the v1 cgroup while the init builds its namespaces and mounts).
/// Linux mostly places a new child on its parent's CPU and runs it first,
/// and an idle CPU does not take either at once: with `perf sched` on a
/// 2-CPU VM the two took turns on one CPU while the other idled, 1-3 ms of
/// waiting in most creates. If the calling process runs on
/// `child_cpu`, it moves to its other allowed CPUs until `restore`; the
/// init's mask is never touched. Best effort: a failure leaves ours as is.
pub fn step_aside(child_cpu: Option<usize>) -> SteppedAside {
    use nix::sched::{sched_getaffinity, sched_getcpu, sched_setaffinity, CpuSet};
    let me = nix::unistd::Pid::from_raw(0);
    let Some(cpu) = child_cpu.filter(|c| sched_getcpu().ok() == Some(*c)) else {
        return SteppedAside(None);
    };
    let Ok(mine) = sched_getaffinity(me) else {
        return SteppedAside(None);
    };
    let mut others = mine;
    if others.unset(cpu).is_err() {
        return SteppedAside(None);
    }
    let any_other = (0..CpuSet::count()).any(|c| others.is_set(c).unwrap_or(false));
    if !any_other || sched_setaffinity(me, &others).is_err() {
        return SteppedAside(None);
    }
    SteppedAside(Some(mine))
}

impl SteppedAside {
    /// Back on all the CPUs we had; only the first call does anything.
    pub fn restore(&mut self) -> Result<()> {
        if let Some(mine) = self.0.take() {
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &mine)
                .context("sched_setaffinity back to the runtime's CPUs")?;
        }
        Ok(())
    }
}

impl Drop for SteppedAside {
    fn drop(&mut self) {
        // On an error path: the runtime is on its way out.
        let _ = self.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepping_aside_leaves_the_cpu_and_comes_back() {
        use nix::sched::{sched_getaffinity, sched_getcpu};
        let me = nix::unistd::Pid::from_raw(0);
        let before = sched_getaffinity(me).expect("getaffinity");
        let allowed = (0..nix::sched::CpuSet::count())
            .filter(|c| before.is_set(*c).unwrap_or(false))
            .count();
        if allowed < 2 {
            eprintln!("one CPU allowed: nothing to step aside to");
            return;
        }
        let cpu = sched_getcpu().expect("getcpu");
        let mut aside = step_aside(Some(cpu));
        let during = sched_getaffinity(me).expect("getaffinity");
        assert!(
            !during.is_set(cpu).expect("is_set"),
            "still allowed on {cpu}"
        );
        assert_ne!(
            sched_getcpu().expect("getcpu"),
            cpu,
            "still running on {cpu}"
        );
        aside.restore().expect("restore");
        assert_eq!(sched_getaffinity(me).expect("getaffinity"), before);
        // Another CPU than ours: nothing changes.
        let other = (0..nix::sched::CpuSet::count())
            .find(|c| *c != sched_getcpu().unwrap_or(*c) && before.is_set(*c).unwrap_or(false))
            .expect("another CPU");
        drop(step_aside(Some(other)));
        drop(step_aside(None));
        assert_eq!(sched_getaffinity(me).expect("getaffinity"), before);
        // Dropped unrestored: back too.
        drop(step_aside(Some(sched_getcpu().expect("getcpu"))));
        assert_eq!(sched_getaffinity(me).expect("getaffinity"), before);
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse("0-3,7").unwrap(), CpuSet(vec![0b1000_1111]));
        assert_eq!(parse("65").unwrap(), CpuSet(vec![0, 0b10]));
        assert_eq!(parse("1,1-2").unwrap(), CpuSet(vec![0b110]));
        for bad in ["3-1", "", "a", "1-", "-1", "8192", "0-99999999999", "1,,2"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
