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

#[cfg(test)]
mod tests {
    use super::*;

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
