//! process.ioPriority: the I/O scheduling class and level of the
//! container's process (ioprio_set(2)), inherited by its children.

use oci_spec::runtime::{IOPriorityClass, LinuxIOPriority};

use crate::bail;
use crate::error::{Context, Result};

/// The ioprio value to set: class in bits 13 and up, level below.
pub fn value(p: &LinuxIOPriority) -> Result<u16> {
    let class: u16 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        bail!("process.ioPriority.priority {level}: expected 0 (highest) to 7 (lowest)");
    }
    Ok((class << 13) | level as u16)
}

pub fn apply(p: &LinuxIOPriority) -> Result<()> {
    let v = value(p)?;
    crate::linux::sys::ioprio_set(v).with_context(|| {
        format!(
            "process.ioPriority {} {}: ioprio_set",
            p.class(),
            p.priority()
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prio(json: &str) -> LinuxIOPriority {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn class_and_level() {
        let v = value(&prio(r#"{"class":"IOPRIO_CLASS_IDLE","priority":4}"#)).unwrap();
        assert_eq!(v, (3 << 13) | 4);
        let v = value(&prio(r#"{"class":"IOPRIO_CLASS_RT","priority":0}"#)).unwrap();
        assert_eq!(v, 1 << 13);
        let e = value(&prio(r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#)).unwrap_err();
        assert!(
            e.to_string().contains("process.ioPriority.priority 8"),
            "{e}"
        );
        assert!(value(&prio(r#"{"class":"IOPRIO_CLASS_BE","priority":-1}"#)).is_err());
    }
}
