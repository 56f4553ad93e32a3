//! The five capability sets of `process.capabilities`, with the caps crate.
//!
//! Closed by default, as in runc: a set the config does not list is empty,
//! and a process without `capabilities` at all gets five empty sets. Left
//! as they were, root's full bounding set would give every capability back
//! at execve.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};
use crate::linux::sys;

fn convert(field: &str, set: &Option<Capabilities>) -> Result<CapsHashSet> {
    let mut out = HashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let cap = Cap::from_str(&name).map_err(|_| {
            Error::new(format!(
                "{field}: capability {name} is not known to this host"
            ))
        })?;
        out.insert(cap);
    }
    Ok(out)
}

/// Checked once before cloning, so a bad name fails `create` up front.
#[derive(Default)]
pub struct CapPlan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    inheritable: CapsHashSet,
    permitted: CapsHashSet,
    ambient: CapsHashSet,
}

/// The sets for `process.capabilities`; None (no such object) is no
/// capability at all.
pub fn plan(caps: Option<&LinuxCapabilities>) -> Result<CapPlan> {
    let Some(c) = caps else {
        return Ok(CapPlan::default());
    };
    Ok(CapPlan {
        bounding: convert("process.capabilities.bounding", c.bounding())?,
        effective: convert("process.capabilities.effective", c.effective())?,
        inheritable: convert("process.capabilities.inheritable", c.inheritable())?,
        permitted: convert("process.capabilities.permitted", c.permitted())?,
        ambient: convert("process.capabilities.ambient", c.ambient())?,
    })
}

fn err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::new(format!("{what}: {e}"))
}

/// "CAP_MKNOD" for 27; a number the caps crate does not know by its number.
fn cap_name(n: u32) -> String {
    caps::all()
        .into_iter()
        .find(|c| u32::from(c.index()) == n)
        .map_or_else(|| format!("capability number {n}"), |c| c.to_string())
}

impl CapPlan {
    /// Without a user namespace of its own the container can only get
    /// capabilities hutch holds: one it lacks (a host that took it from
    /// root) fails `create` here, by name, rather than `capset` after
    /// `create` has returned.
    pub fn check_held(&self) -> Result<()> {
        let sets = [
            ("bounding", &self.bounding),
            ("effective", &self.effective),
            ("inheritable", &self.inheritable),
            ("permitted", &self.permitted),
            ("ambient", &self.ambient),
        ];
        if sets.iter().all(|(_, s)| s.is_empty()) {
            return Ok(());
        }
        let held = caps::read(None, CapSet::Permitted)
            .map_err(|e| err("reading hutch's own permitted capabilities", e))?;
        for (name, set) in sets {
            let mut missing: Vec<String> = set
                .iter()
                .filter(|c| !held.contains(c))
                .map(|c| c.to_string())
                .collect();
            if !missing.is_empty() {
                missing.sort();
                return Err(Error::new(format!(
                    "process.capabilities.{name}: {} not held by hutch itself on this host, so the container cannot have it",
                    missing.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub fn effective_has(&self, cap: Cap) -> bool {
        self.effective.contains(&cap)
    }

    /// Whether the switch to `uid` must keep the permitted set
    /// (PR_SET_KEEPCAPS): only for a non-root user who is to keep some.
    pub fn keep_across_setuid(&self, uid: u32) -> bool {
        uid != 0 && !self.permitted.is_empty()
    }

    /// Step 1, while still root: shrink the bounding set (needs CAP_SETPCAP).
    /// Walked by number up to the kernel's last capability (PR_CAPBSET_READ
    /// says EINVAL past it), so one newer than the caps crate goes too.
    pub fn apply_bounding(&self) -> Result<()> {
        let keep = self.bounding.iter().fold(0u64, |m, c| m | c.bitmask());
        for n in 0..64u32 {
            let held = match sys::capbset_read(n) {
                Ok(h) => h,
                Err(Errno::EINVAL) => break,
                Err(e) => {
                    return Err(Error::from(e).context(format!(
                        "process.capabilities.bounding: prctl(PR_CAPBSET_READ) of {}",
                        cap_name(n)
                    )))
                }
            };
            if held && keep & (1 << n) == 0 {
                sys::capbset_drop(n).map_err(|e| {
                    Error::from(e).context(format!(
                        "process.capabilities.bounding: dropping {}: prctl(PR_CAPBSET_DROP)",
                        cap_name(n)
                    ))
                })?;
            }
        }
        Ok(())
    }

    /// Step 2, after the uid switch (done with PR_SET_KEEPCAPS when
    /// `keep_across_setuid`): the other sets, exactly as listed.
    pub fn apply_rest(&self) -> Result<()> {
        // capset(2) wants effective within permitted at every step: shrink
        // effective first, then permitted.
        caps::set(None, CapSet::Effective, &self.effective)
            .map_err(|e| err("process.capabilities.effective: capset", e))?;
        caps::set(None, CapSet::Permitted, &self.permitted)
            .map_err(|e| err("process.capabilities.permitted: capset", e))?;
        caps::set(None, CapSet::Inheritable, &self.inheritable)
            .map_err(|e| err("process.capabilities.inheritable: capset", e))?;
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| err("process.capabilities.ambient: clearing", e))?;
        for cap in &self.ambient {
            // The kernel only admits caps that are permitted and inheritable.
            if self.permitted.contains(cap) && self.inheritable.contains(cap) {
                caps::raise(None, CapSet::Ambient, *cap)
                    .map_err(|e| err("process.capabilities.ambient: raising", e))?;
            }
        }
        Ok(())
    }
}
