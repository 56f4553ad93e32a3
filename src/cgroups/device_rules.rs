//! `linux.resources.devices` worked through as the cgroup v1 devices
//! controller works through devices.allow and devices.deny: a default (allow
//! or deny everything) and a list of exceptions to it. Every container starts
//! from denying every device, as in runc: a config without rules gets the
//! default list only. cgroup v2 has no such
//! files, so hutch computes the end state here and hands it to an eBPF
//! program (devices_v2.rs); `validate` uses the same walk on v1 and v2 to
//! refuse rule lists the kernel would silently read otherwise than written.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::resources::DEFAULT_DEVICE_RULES;
use crate::bail;
use crate::error::Result;

/// Access bits, with the values of the kernel's BPF_DEVCG_ACC_*.
pub const MKNOD: u32 = 1;
pub const READ: u32 = 2;
pub const WRITE: u32 = 4;
pub const ALL: u32 = MKNOD | READ | WRITE;

/// Device kinds, with the values of the kernel's BPF_DEVCG_DEV_*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Block = 1,
    Char = 2,
}

/// One exception to the default: kind, major and minor (None: any), access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

impl Exception {
    fn same_key(&self, o: &Exception) -> bool {
        self.kind == o.kind && self.major == o.major && self.minor == o.minor
    }

    /// Whether some device matches both.
    fn overlaps(&self, o: &Exception) -> bool {
        let num = |a: Option<u32>, b: Option<u32>| a.is_none() || b.is_none() || a == b;
        self.kind == o.kind && num(self.major, o.major) && num(self.minor, o.minor)
    }

    #[cfg(test)]
    fn covers(&self, kind: Kind, major: u32, minor: u32) -> bool {
        self.kind == kind
            && self.major.is_none_or(|m| m == major)
            && self.minor.is_none_or(|m| m == minor)
    }
}

impl std::fmt::Display for Exception {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        let kind = match self.kind {
            Kind::Block => 'b',
            Kind::Char => 'c',
        };
        let access: String = [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')]
            .iter()
            .filter(|(bit, _)| self.access & bit != 0)
            .map(|(_, c)| *c)
            .collect();
        write!(f, "{kind} {}:{} {access}", num(self.major), num(self.minor))
    }
}

/// A rule: "a" (every device), or one exception's worth.
#[derive(Clone, Copy, Debug)]
enum Target {
    All,
    One(Exception),
}

/// The end state of a rule list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRules {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

impl DeviceRules {
    /// What a rule list is applied to: no device at all.
    fn deny_all() -> DeviceRules {
        DeviceRules {
            default_allow: false,
            exceptions: Vec::new(),
        }
    }

    #[cfg(test)]
    fn allow_all() -> DeviceRules {
        DeviceRules {
            default_allow: true,
            exceptions: Vec::new(),
        }
    }

    /// One rule, as the v1 kernel applies it: "a" resets; a rule of the
    /// default's polarity takes access away from the exception with exactly
    /// its key; the other polarity adds to that exception. With `strict`,
    /// a rule that only partly matches an existing exception is refused: the
    /// kernel would leave that exception as it is, which is not what the list
    /// says (a deny of c 1:3 after an allow of c 1:*, say).
    fn apply(&mut self, allow: bool, target: Target, strict: bool) -> Result<(), String> {
        let rule = match target {
            Target::All => {
                *self = DeviceRules {
                    default_allow: allow,
                    exceptions: Vec::new(),
                };
                return Ok(());
            }
            Target::One(r) => r,
        };
        if allow != self.default_allow {
            match self.exceptions.iter_mut().find(|e| e.same_key(&rule)) {
                Some(e) => e.access |= rule.access,
                None => self.exceptions.push(rule),
            }
            return Ok(());
        }
        if strict {
            if let Some(e) = self
                .exceptions
                .iter()
                .find(|e| !e.same_key(&rule) && e.overlaps(&rule) && e.access & rule.access != 0)
            {
                return Err(format!(
                    "\"{rule}\" overlaps the earlier rule \"{e}\" without matching it exactly, and \
                     device rules cannot be split or merged (cgroup v1 would ignore this one); \
                     give rules that match exactly"
                ));
            }
        }
        for e in self.exceptions.iter_mut().filter(|e| e.same_key(&rule)) {
            e.access &= !rule.access;
        }
        self.exceptions.retain(|e| e.access != 0);
        Ok(())
    }

    /// Whether a device access is allowed, by the kernel's v1 logic: with
    /// default deny an exception must grant all of it; with default allow no
    /// exception may touch any of it. The reference the eBPF program is
    /// tested against.
    #[cfg(test)]
    pub fn allows(&self, kind: Kind, major: u32, minor: u32, access: u32) -> bool {
        let mut matching = self
            .exceptions
            .iter()
            .filter(|e| e.covers(kind, major, minor));
        if self.default_allow {
            !matching.any(|e| e.access & access != 0)
        } else {
            matching.any(|e| access & !e.access == 0)
        }
    }
}

/// A config rule as a target, or what is wrong with it (the field and why).
fn target(r: &LinuxDeviceCgroup) -> std::result::Result<Target, String> {
    let num = |what: &str, n: Option<i64>| -> std::result::Result<Option<u32>, String> {
        match n {
            None | Some(-1) => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| format!("{what} {n}: expected 0 to 4294967295, or -1 for any")),
        }
    };
    let access = match r.access().as_deref().filter(|a| !a.is_empty()) {
        None => ALL,
        Some(a) => {
            let mut bits = 0;
            for c in a.chars() {
                bits |= match c {
                    'm' => MKNOD,
                    'r' => READ,
                    'w' => WRITE,
                    _ => return Err(format!("access {a:?}: expected letters from \"rwm\"")),
                };
            }
            bits
        }
    };
    let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => return Ok(Target::All),
        LinuxDeviceType::B => Kind::Block,
        LinuxDeviceType::C => Kind::Char,
        _ => return Err("type: expected \"a\", \"b\" or \"c\"".into()),
    };
    Ok(Target::One(Exception {
        kind,
        major: num("major", r.major())?,
        minor: num("minor", r.minor())?,
        access,
    }))
}

/// The state `rules` leave, applied after a deny of every device and before
/// hutch's default rules (as runc does both), each rule's error naming its
/// index.
pub fn compute(rules: &[LinuxDeviceCgroup]) -> Result<DeviceRules> {
    let mut state = DeviceRules::deny_all();
    for (i, r) in rules.iter().enumerate() {
        let t = target(r).map_err(|e| format!("linux.resources.devices[{i}].{e}"));
        let t = match t {
            Ok(t) => t,
            Err(e) => bail!("{e}"),
        };
        if let Err(e) = state.apply(r.allow(), t, true) {
            bail!("linux.resources.devices[{i}]: {e}");
        }
    }
    for (t, major, minor, access) in DEFAULT_DEVICE_RULES {
        let num = |s: &str| s.parse::<u32>().ok();
        let rule = Exception {
            kind: if t == 'b' { Kind::Block } else { Kind::Char },
            major: num(major),
            minor: num(minor),
            access: access
                .chars()
                .map(|c| match c {
                    'm' => MKNOD,
                    'r' => READ,
                    _ => WRITE,
                })
                .fold(0, |a, b| a | b),
        };
        // Never refused: where the config's own rules are wider, they win,
        // as they do on v1.
        let _ = state.apply(true, Target::One(rule), false);
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("rules json")
    }

    /// No rules: the default list and nothing else, as in runc.
    #[test]
    fn no_rules_leave_only_the_defaults() {
        let s = compute(&[]).unwrap();
        assert!(!s.default_allow);
        for (major, minor) in [
            (1, 3),
            (1, 5),
            (1, 7),
            (1, 8),
            (1, 9),
            (5, 0),
            (5, 2),
            (10, 200),
        ] {
            assert!(s.allows(Kind::Char, major, minor, ALL), "c {major}:{minor}");
        }
        assert!(s.allows(Kind::Char, 136, 7, READ | WRITE));
        assert!(s.allows(Kind::Block, 8, 0, MKNOD));
        assert!(s.allows(Kind::Char, 1, 11, MKNOD));
        // kmsg, mem, the host's console, a disk.
        assert!(!s.allows(Kind::Char, 1, 11, READ));
        assert!(!s.allows(Kind::Char, 1, 1, READ));
        assert!(!s.allows(Kind::Char, 5, 1, WRITE));
        assert!(!s.allows(Kind::Block, 8, 0, READ));
    }

    #[test]
    fn deny_all_then_allow_a_list() {
        let s = compute(&rules(
            r#"[{"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]"#,
        ))
        .unwrap();
        assert!(!s.default_allow);
        assert!(s.allows(Kind::Char, 10, 200, READ | WRITE));
        assert!(s.allows(Kind::Char, 1, 11, READ));
        assert!(!s.allows(Kind::Char, 1, 11, WRITE));
        assert!(!s.allows(Kind::Char, 1, 11, READ | WRITE));
        assert!(!s.allows(Kind::Block, 8, 0, READ));
        // hutch's defaults: /dev/null and friends, mknod of anything.
        assert!(s.allows(Kind::Char, 1, 3, READ | WRITE));
        assert!(s.allows(Kind::Char, 136, 5, READ | WRITE));
        assert!(s.allows(Kind::Block, 8, 0, MKNOD));
        assert!(!s.allows(Kind::Char, 4, 0, READ));
    }

    #[test]
    fn allow_all_then_deny_some() {
        let s = compute(&rules(
            r#"[{"allow": true},
                {"allow": false, "type": "b", "major": 8, "access": "w"},
                {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rw"}]"#,
        ))
        .unwrap();
        assert!(s.default_allow);
        assert!(s.allows(Kind::Block, 8, 1, READ));
        assert!(!s.allows(Kind::Block, 8, 1, WRITE));
        assert!(!s.allows(Kind::Block, 8, 1, READ | WRITE));
        assert!(!s.allows(Kind::Char, 1, 11, READ));
        assert!(s.allows(Kind::Char, 1, 11, MKNOD));
        assert!(s.allows(Kind::Char, 4, 0, READ | WRITE));
    }

    #[test]
    fn later_rules_take_access_back_and_a_resets() {
        let s = compute(&rules(
            r#"[{"allow": false},
                {"allow": true, "type": "c", "major": 4, "minor": 0, "access": "rw"},
                {"allow": false, "type": "c", "major": 4, "minor": 0, "access": "w"}]"#,
        ))
        .unwrap();
        assert!(s.allows(Kind::Char, 4, 0, READ));
        assert!(!s.allows(Kind::Char, 4, 0, WRITE));
        let s = compute(&rules(
            r#"[{"allow": false},
                {"allow": true, "type": "c", "major": 4, "minor": 0},
                {"allow": true, "type": "a"}]"#,
        ))
        .unwrap();
        assert_eq!(s, DeviceRules::allow_all());
        // -1 is a wildcard, as runc reads it.
        let s = compute(&rules(
            r#"[{"allow": false}, {"allow": true, "type": "c", "major": 4, "minor": -1, "access": "r"}]"#,
        ))
        .unwrap();
        assert!(s.allows(Kind::Char, 4, 7, READ));
    }

    #[test]
    fn refuses_rules_the_kernel_would_not_honour() {
        for (json, index) in [
            // A hole in an earlier wildcard allow.
            (
                r#"[{"allow": false}, {"allow": true, "type": "c", "major": 1},
                    {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]"#,
                "devices[2]",
            ),
            // A wildcard deny over an earlier narrower allow.
            (
                r#"[{"allow": false}, {"allow": true, "type": "c", "major": 1, "minor": 3},
                    {"allow": false, "type": "c", "major": 1}]"#,
                "devices[2]",
            ),
            (
                r#"[{"allow": true, "type": "c", "major": 4294967296}]"#,
                "devices[0].major",
            ),
            (
                r#"[{"allow": true, "type": "c", "minor": -2}]"#,
                "devices[0].minor",
            ),
            (r#"[{"allow": true, "access": "rx"}]"#, "devices[0].access"),
            (r#"[{"allow": true, "type": "p"}]"#, "devices[0].type"),
        ] {
            let e = compute(&rules(json)).expect_err(json).to_string();
            assert!(e.contains(index), "{json}: {e}");
        }
        // Disjoint access is fine.
        compute(&rules(
            r#"[{"allow": false}, {"allow": true, "type": "c", "major": 1, "access": "r"},
                {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}]"#,
        ))
        .unwrap();
    }
}
