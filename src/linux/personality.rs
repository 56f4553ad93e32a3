//! linux.personality: the execution domain of the container's processes
//! (personality(2)). The spec names two domains and no flags.

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use crate::bail;
use crate::error::{Context, Result};

/// <linux/personality.h>
const PER_LINUX: libc::c_ulong = 0x0000;
const PER_LINUX32: libc::c_ulong = 0x0008;

/// The persona to set, checked before anything is created.
pub fn persona(p: &LinuxPersonality) -> Result<libc::c_ulong> {
    if let Some(flags) = p.flags().as_deref().filter(|f| !f.is_empty()) {
        bail!(
            "linux.personality.flags {flags:?}: personality flags are not supported (config-linux.md defines none)"
        );
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    })
}

/// Set it for the calling process; it holds across execve.
pub fn apply(p: &LinuxPersonality) -> Result<()> {
    let persona = persona(p)?;
    crate::linux::sys::personality(persona).with_context(|| {
        format!(
            "linux.personality {}: personality({persona:#x})",
            p.domain()
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> LinuxPersonality {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn domains_and_flags() {
        assert_eq!(persona(&parse(r#"{"domain":"LINUX"}"#)).unwrap(), 0);
        assert_eq!(persona(&parse(r#"{"domain":"LINUX32"}"#)).unwrap(), 8);
        assert_eq!(
            persona(&parse(r#"{"domain":"LINUX","flags":[]}"#)).unwrap(),
            0
        );
        let e = persona(&parse(
            r#"{"domain":"LINUX","flags":["ADDR_NO_RANDOMIZE"]}"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("linux.personality.flags"), "{e}");
        assert!(serde_json::from_str::<LinuxPersonality>(r#"{"domain":"LINUX64"}"#).is_err());
    }
}
