//! linux.memoryPolicy: the NUMA memory policy of the container's processes
//! (set_mempolicy(2)). Set by the init before execve and by `exec` for the
//! processes it adds: a task's policy is inherited by its children, but an
//! exec'd process is not a child of the init.

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::bail;
use crate::error::{Context, Result};

/// <linux/mempolicy.h>
const MPOL_DEFAULT: i32 = 0;
const MPOL_PREFERRED: i32 = 1;
const MPOL_BIND: i32 = 2;
const MPOL_INTERLEAVE: i32 = 3;
const MPOL_LOCAL: i32 = 4;
const MPOL_PREFERRED_MANY: i32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: i32 = 6;
const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;

/// For `hutch features`: every mode and flag config-linux.md names.
pub const MODES: [&str; 7] = [
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];
pub const FLAGS: [&str; 3] = [
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// The largest node count a kernel can be built with (NODES_SHIFT 10).
const MAX_NODES: usize = 1024;
const WORD: usize = libc::c_ulong::BITS as usize;

/// What set_mempolicy(2) gets: the mode with its flags, and the nodemask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub mode: i32,
    pub mask: Vec<libc::c_ulong>,
}

impl Policy {
    fn nodes(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.mask.len() * WORD).filter(|n| self.mask[n / WORD] & (1 << (n % WORD)) != 0)
    }
}

/// The policy to set, checked against the rules of set_mempolicy(2) before
/// anything is created: the kernel's EINVAL would name nothing.
pub fn policy(p: &LinuxMemoryPolicy) -> Result<Policy> {
    let mode = p.mode();
    let nodes = p.nodes().as_deref().unwrap_or("");
    let mask = parse_nodes(nodes).with_context(|| format!("linux.memoryPolicy.nodes {nodes:?}"))?;
    let empty = mask.is_empty();
    let flags = p.flags().as_deref().unwrap_or(&[]);
    let has = |f: MemoryPolicyFlagType| flags.contains(&f);
    let (relative, fixed) = (
        has(MemoryPolicyFlagType::MpolFRelativeNodes),
        has(MemoryPolicyFlagType::MpolFStaticNodes),
    );
    if relative && fixed {
        bail!(
            "linux.memoryPolicy.flags: MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES exclude each other"
        );
    }
    let base = match mode {
        MemoryPolicyModeType::MpolDefault => MPOL_DEFAULT,
        MemoryPolicyModeType::MpolPreferred => MPOL_PREFERRED,
        MemoryPolicyModeType::MpolBind => MPOL_BIND,
        MemoryPolicyModeType::MpolInterleave => MPOL_INTERLEAVE,
        MemoryPolicyModeType::MpolLocal => MPOL_LOCAL,
        MemoryPolicyModeType::MpolPreferredMany => MPOL_PREFERRED_MANY,
        MemoryPolicyModeType::MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
    };
    match base {
        MPOL_DEFAULT | MPOL_LOCAL if !empty => {
            bail!("linux.memoryPolicy.nodes {nodes:?}: {mode} takes no nodes")
        }
        // Without nodes MPOL_PREFERRED means local allocation.
        MPOL_DEFAULT | MPOL_LOCAL | MPOL_PREFERRED if empty && (relative || fixed) => bail!(
            "linux.memoryPolicy.flags: MPOL_F_RELATIVE_NODES/MPOL_F_STATIC_NODES need nodes, and {mode} has none"
        ),
        MPOL_DEFAULT | MPOL_LOCAL | MPOL_PREFERRED => {}
        _ if empty => bail!("linux.memoryPolicy.nodes: {mode} needs at least one node"),
        _ => {}
    }
    let mut flag_bits = 0;
    for f in flags {
        flag_bits |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => {
                if base != MPOL_BIND && base != MPOL_PREFERRED_MANY {
                    bail!(
                        "linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING goes with MPOL_BIND or MPOL_PREFERRED_MANY, not {mode}"
                    );
                }
                MPOL_F_NUMA_BALANCING
            }
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    Ok(Policy {
        mode: base | flag_bits,
        mask,
    })
}

/// "0-3,7" as a nodemask; "" is no node. Trailing zero words are dropped.
fn parse_nodes(list: &str) -> Result<Vec<libc::c_ulong>> {
    let mut mask: Vec<libc::c_ulong> = Vec::new();
    if list.is_empty() {
        return Ok(mask);
    }
    let num = |s: &str| -> Result<usize> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            bail!("expected a comma-separated list of node numbers and ranges such as 0-3,7");
        }
        match s.parse::<usize>() {
            Ok(n) if n < MAX_NODES => Ok(n),
            _ => bail!(
                "node {s} is beyond the largest a kernel has ({})",
                MAX_NODES - 1
            ),
        }
    };
    for part in list.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            bail!("range {part} runs backwards");
        }
        for n in lo..=hi {
            if mask.len() <= n / WORD {
                mask.resize(n / WORD + 1, 0);
            }
            mask[n / WORD] |= 1 << (n % WORD);
        }
    }
    Ok(mask)
}

/// Nodes the host does not have are refused: the kernel would quietly drop
/// them or, for some modes, fail with an EINVAL naming nothing. Relative
/// nodes are offsets into the allowed set, not node numbers: not checked.
pub fn check_host(p: &LinuxMemoryPolicy, policy: &Policy) -> Result<()> {
    if policy.mode & MPOL_F_RELATIVE_NODES != 0 || policy.mask.is_empty() {
        return Ok(());
    }
    const ONLINE: &str = "/sys/devices/system/node/online";
    let text = std::fs::read_to_string(ONLINE).with_context(|| {
        format!("linux.memoryPolicy: reading {ONLINE} (a kernel without NUMA?)")
    })?;
    let online = parse_nodes(text.trim()).with_context(|| format!("{ONLINE} {text:?}"))?;
    let has = |n: usize| {
        online
            .get(n / WORD)
            .is_some_and(|w| w & (1 << (n % WORD)) != 0)
    };
    if let Some(n) = policy.nodes().find(|&n| !has(n)) {
        bail!(
            "linux.memoryPolicy.nodes {:?}: node {n} is not online on this host (online: {})",
            p.nodes().as_deref().unwrap_or(""),
            text.trim()
        );
    }
    Ok(())
}

/// Set it for the calling thread; it holds across fork and execve.
pub fn apply(p: &LinuxMemoryPolicy) -> Result<()> {
    let policy = policy(p)?;
    crate::linux::sys::set_mempolicy(policy.mode, &policy.mask).with_context(|| {
        format!(
            "linux.memoryPolicy {} nodes {:?}: set_mempolicy",
            p.mode(),
            p.nodes().as_deref().unwrap_or("")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> LinuxMemoryPolicy {
        serde_json::from_str(json).unwrap()
    }

    fn err(json: &str) -> String {
        policy(&parse(json)).unwrap_err().to_string()
    }

    #[test]
    fn node_lists() {
        assert_eq!(parse_nodes("").unwrap(), Vec::<libc::c_ulong>::new());
        assert_eq!(parse_nodes("0").unwrap(), vec![1]);
        assert_eq!(parse_nodes("0-3,7").unwrap(), vec![0x8f]);
        assert_eq!(parse_nodes("64").unwrap(), vec![0, 1]);
        assert_eq!(parse_nodes("1023").unwrap().len(), 1024 / WORD);
        for bad in [
            ",", "0,", "-1", "1-", "3-1", "a", "0 ", " 0", "1024", "0-1024", "1--2",
        ] {
            assert!(parse_nodes(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn features_names_parse() {
        for m in MODES {
            serde_json::from_str::<MemoryPolicyModeType>(&format!("{m:?}")).unwrap();
        }
        for f in FLAGS {
            serde_json::from_str::<MemoryPolicyFlagType>(&format!("{f:?}")).unwrap();
        }
    }

    #[test]
    fn modes_and_flags() {
        let p = policy(&parse(
            r#"{"mode":"MPOL_INTERLEAVE","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}"#,
        ))
        .unwrap();
        assert_eq!(p.mode, MPOL_INTERLEAVE | MPOL_F_STATIC_NODES);
        assert_eq!(p.nodes().collect::<Vec<_>>(), vec![0]);
        let p = policy(&parse(r#"{"mode":"MPOL_LOCAL"}"#)).unwrap();
        assert_eq!((p.mode, p.mask.len()), (MPOL_LOCAL, 0));
        policy(&parse(r#"{"mode":"MPOL_PREFERRED"}"#)).unwrap();
        policy(&parse(
            r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_NUMA_BALANCING"]}"#,
        ))
        .unwrap();

        assert!(err(r#"{"mode":"MPOL_BIND"}"#).contains("needs at least one node"));
        assert!(err(r#"{"mode":"MPOL_DEFAULT","nodes":"0"}"#).contains("takes no nodes"));
        assert!(err(r#"{"mode":"MPOL_LOCAL","nodes":"0"}"#).contains("takes no nodes"));
        assert!(err(r#"{"mode":"MPOL_BIND","nodes":"0-x"}"#).contains("linux.memoryPolicy.nodes"));
        assert!(err(
            r#"{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#
        )
        .contains("exclude each other"));
        assert!(
            err(r#"{"mode":"MPOL_INTERLEAVE","nodes":"0","flags":["MPOL_F_NUMA_BALANCING"]}"#)
                .contains("MPOL_F_NUMA_BALANCING")
        );
        assert!(
            err(r#"{"mode":"MPOL_PREFERRED","flags":["MPOL_F_STATIC_NODES"]}"#)
                .contains("need nodes")
        );
        assert!(serde_json::from_str::<LinuxMemoryPolicy>(r#"{"mode":"MPOL_NOPE"}"#).is_err());
        assert!(serde_json::from_str::<LinuxMemoryPolicy>(
            r#"{"mode":"MPOL_BIND","flags":["MPOL_F_NOPE"]}"#
        )
        .is_err());
    }
}
