//! The five capability sets of `process.capabilities`, with the caps crate.

use std::collections::HashSet;
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

fn convert(field: &str, set: &Option<Capabilities>) -> Result<Option<CapsHashSet>> {
    let Some(set) = set else { return Ok(None) };
    let mut out = HashSet::new();
    for c in set {
        let name = format!("CAP_{c}");
        let cap = Cap::from_str(&name).map_err(|_| {
            Error::new(format!(
                "{field}: capability {name} is not known to this host"
            ))
        })?;
        out.insert(cap);
    }
    Ok(Some(out))
}

/// Checked once before cloning, so a bad name fails `create` up front.
pub struct CapPlan {
    bounding: Option<CapsHashSet>,
    effective: Option<CapsHashSet>,
    inheritable: Option<CapsHashSet>,
    permitted: Option<CapsHashSet>,
    ambient: Option<CapsHashSet>,
}

pub fn plan(caps: Option<&LinuxCapabilities>) -> Result<Option<CapPlan>> {
    let Some(c) = caps else { return Ok(None) };
    Ok(Some(CapPlan {
        bounding: convert("process.capabilities.bounding", c.bounding())?,
        effective: convert("process.capabilities.effective", c.effective())?,
        inheritable: convert("process.capabilities.inheritable", c.inheritable())?,
        permitted: convert("process.capabilities.permitted", c.permitted())?,
        ambient: convert("process.capabilities.ambient", c.ambient())?,
    }))
}

fn err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::new(format!("{what}: {e}"))
}

impl CapPlan {
    /// Without a user namespace of its own the container can only get
    /// capabilities hutch holds: one it lacks (a host that took it from
    /// root) fails `create` here, by name, rather than `capset` after
    /// `create` has returned.
    pub fn check_held(&self) -> Result<()> {
        let held = caps::read(None, CapSet::Permitted)
            .map_err(|e| err("reading hutch's own permitted capabilities", e))?;
        let sets = [
            ("bounding", &self.bounding),
            ("effective", &self.effective),
            ("inheritable", &self.inheritable),
            ("permitted", &self.permitted),
            ("ambient", &self.ambient),
        ];
        for (name, set) in sets {
            let mut missing: Vec<String> = set
                .iter()
                .flatten()
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
        self.effective.as_ref().is_some_and(|e| e.contains(&cap))
    }

    /// Step 1, while still root: shrink the bounding set (needs CAP_SETPCAP).
    pub fn apply_bounding(&self) -> Result<()> {
        let Some(keep) = &self.bounding else {
            return Ok(());
        };
        for cap in caps::all() {
            if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| err("dropping bounding capability", e))?;
            }
        }
        Ok(())
    }

    /// Step 2, after the uid switch (done with PR_SET_KEEPCAPS): the other sets.
    /// Unlisted sets become empty, as runc does.
    pub fn apply_rest(&self) -> Result<()> {
        let empty = CapsHashSet::new();
        let permitted = self.permitted.as_ref().unwrap_or(&empty);
        let effective = self.effective.as_ref().unwrap_or(&empty);
        let inheritable = self.inheritable.as_ref().unwrap_or(&empty);
        // capset(2) wants effective within permitted at every step: shrink
        // effective first, then permitted.
        caps::set(None, CapSet::Effective, effective)
            .map_err(|e| err("setting effective capabilities", e))?;
        caps::set(None, CapSet::Permitted, permitted)
            .map_err(|e| err("setting permitted capabilities", e))?;
        caps::set(None, CapSet::Inheritable, inheritable)
            .map_err(|e| err("setting inheritable capabilities", e))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| err("clearing ambient capabilities", e))?;
        if let Some(ambient) = &self.ambient {
            for cap in ambient {
                // The kernel only admits caps that are permitted and inheritable.
                if permitted.contains(cap) && inheritable.contains(cap) {
                    caps::raise(None, CapSet::Ambient, *cap)
                        .map_err(|e| err("raising ambient capability", e))?;
                }
            }
        }
        Ok(())
    }
}
