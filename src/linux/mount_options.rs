//! Turning a mount's `options` array into mount(2) flags, propagation flags,
//! recursive mount_setattr(2) attributes and the filesystem-specific data
//! string, as runc does.

use nix::mount::MsFlags;

use crate::bail;
use crate::error::Result;

/// The `r*` options (config.md, "AT_RECURSIVE options"): mount_setattr(2)
/// attributes set and cleared on a mount and every mount below it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recursive {
    pub set: u64,
    pub clear: u64,
}

#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount(2) call itself.
    pub flags: MsFlags,
    /// Flags a bind mount needs in a second, remount call (ro, nosuid...).
    pub clear: MsFlags,
    /// MS_SHARED / MS_SLAVE / MS_PRIVATE / MS_UNBINDABLE, possibly with MS_REC.
    pub propagation: MsFlags,
    /// Comma-joined options the filesystem interprets (mode=755, size=64k...).
    pub data: String,
    /// runc extension: copy the destination's content into the new tmpfs.
    pub tmpcopyup: bool,
    /// `rro`, `rnosuid`...: applied with mount_setattr(AT_RECURSIVE) once
    /// the mount is made.
    pub recursive: Recursive,
    /// `idmap` (Some(false)) or `ridmap` (Some(true), recursive): the mount
    /// is idmapped (src/linux/idmap.rs); never passed to mount(2).
    pub idmap: Option<bool>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: MsFlags::empty(),
            data: String::new(),
            tmpcopyup: false,
            recursive: Recursive::default(),
            idmap: None,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Every option name we recognise (for `hutch features`); a test keeps it in
/// step with `parse`.
pub const KNOWN: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "idmap",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "ridmap",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

pub fn parse<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let opt = opt.as_ref();
        if let Some((set, flag)) = flag_of(opt) {
            if set {
                o.flags |= flag;
                o.clear.remove(flag);
            } else {
                o.flags.remove(flag);
                o.clear |= flag;
            }
        } else if let Some((set, clear)) = recursive_of(opt) {
            // Later options win, as for the flags above.
            o.recursive.set = (o.recursive.set & !clear) | set;
            o.recursive.clear = (o.recursive.clear & !set) | clear;
        } else if let Some(p) = propagation_of(opt) {
            o.propagation |= p;
        } else if opt == "tmpcopyup" {
            o.tmpcopyup = true;
        } else if opt == "idmap" || opt == "ridmap" {
            o.idmap = Some(opt == "ridmap");
        } else {
            if !o.data.is_empty() {
                o.data.push(',');
            }
            o.data.push_str(opt);
        }
    }
    o
}

/// (true, F): the option sets F; (false, F): it clears F.
fn flag_of(opt: &str) -> Option<(bool, MsFlags)> {
    use MsFlags as F;
    Some(match opt {
        "defaults" => (true, F::empty()),
        "ro" => (true, F::MS_RDONLY),
        "rw" => (false, F::MS_RDONLY),
        "nosuid" => (true, F::MS_NOSUID),
        "suid" => (false, F::MS_NOSUID),
        "nodev" => (true, F::MS_NODEV),
        "dev" => (false, F::MS_NODEV),
        "noexec" => (true, F::MS_NOEXEC),
        "exec" => (false, F::MS_NOEXEC),
        "sync" => (true, F::MS_SYNCHRONOUS),
        "async" => (false, F::MS_SYNCHRONOUS),
        "dirsync" => (true, F::MS_DIRSYNC),
        "remount" => (true, F::MS_REMOUNT),
        "mand" => (true, F::MS_MANDLOCK),
        "nomand" => (false, F::MS_MANDLOCK),
        "atime" => (false, F::MS_NOATIME),
        "noatime" => (true, F::MS_NOATIME),
        "diratime" => (false, F::MS_NODIRATIME),
        "nodiratime" => (true, F::MS_NODIRATIME),
        "relatime" => (true, F::MS_RELATIME),
        "norelatime" => (false, F::MS_RELATIME),
        "strictatime" => (true, F::MS_STRICTATIME),
        "nostrictatime" => (false, F::MS_STRICTATIME),
        "lazytime" => (true, F::MS_LAZYTIME),
        "nolazytime" => (false, F::MS_LAZYTIME),
        "iversion" => (true, F::MS_I_VERSION),
        "noiversion" => (false, F::MS_I_VERSION),
        "silent" => (true, F::MS_SILENT),
        "loud" => (false, F::MS_SILENT),
        "acl" => (true, F::MS_POSIXACL),
        "noacl" => (false, F::MS_POSIXACL),
        "nosymfollow" => (true, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "symfollow" => (false, F::from_bits_retain(libc::MS_NOSYMFOLLOW)),
        "bind" => (true, F::MS_BIND),
        "rbind" => (true, F::MS_BIND | F::MS_REC),
        _ => return None,
    })
}

/// (attributes to set, attributes to clear) of a recursive option.
///
/// The atime attributes are one three-valued field in mount_setattr(2)
/// (MOUNT_ATTR__ATIME): setting any mode means clearing the whole field, so
/// each atime option names the mode it leaves. `ratime` and `rnostrictatime`
/// ("not noatime", "not strictatime") go back to the kernel's default,
/// relatime; `rnorelatime` to the mode that is not relative, strictatime.
/// (runc clears a single atime bit for those three, which the kernel refuses
/// for `ratime` and `rnostrictatime` and ignores for `rnorelatime`.)
fn recursive_of(opt: &str) -> Option<(u64, u64)> {
    use libc::{
        MOUNT_ATTR_NOATIME as NOATIME, MOUNT_ATTR_NODEV as NODEV,
        MOUNT_ATTR_NODIRATIME as NODIRATIME, MOUNT_ATTR_NOEXEC as NOEXEC,
        MOUNT_ATTR_NOSUID as NOSUID, MOUNT_ATTR_NOSYMFOLLOW as NOSYMFOLLOW,
        MOUNT_ATTR_RDONLY as RDONLY, MOUNT_ATTR_RELATIME as RELATIME,
        MOUNT_ATTR_STRICTATIME as STRICTATIME, MOUNT_ATTR__ATIME as ATIME,
    };
    Some(match opt {
        "rro" => (RDONLY, 0),
        "rrw" => (0, RDONLY),
        "rnosuid" => (NOSUID, 0),
        "rsuid" => (0, NOSUID),
        "rnodev" => (NODEV, 0),
        "rdev" => (0, NODEV),
        "rnoexec" => (NOEXEC, 0),
        "rexec" => (0, NOEXEC),
        "rnodiratime" => (NODIRATIME, 0),
        "rdiratime" => (0, NODIRATIME),
        "rnosymfollow" => (NOSYMFOLLOW, 0),
        "rsymfollow" => (0, NOSYMFOLLOW),
        "rnoatime" => (NOATIME, ATIME),
        "rstrictatime" | "rnorelatime" => (STRICTATIME, ATIME),
        "rrelatime" | "ratime" | "rnostrictatime" => (RELATIME, ATIME),
        _ => return None,
    })
}

/// What the config can get wrong in options without the kernel noticing:
/// an `r` form of a flag that has no recursive form would otherwise be
/// passed on as filesystem data, which a bind mount silently ignores.
pub fn validate<S: AsRef<str>>(mount: usize, options: &[S]) -> Result<()> {
    for opt in options {
        let opt = opt.as_ref();
        if let Some(base) = opt.strip_prefix('r') {
            let known = flag_of(opt).is_some()
                || recursive_of(opt).is_some()
                || propagation_of(opt).is_some();
            if !known && flag_of(base).is_some() {
                bail!(
                    "mounts[{mount}].options {opt:?}: \"{base}\" has no recursive form (recursive options: {})",
                    RECURSIVE.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// The recursive options, for messages.
const RECURSIVE: &[&str] = &[
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnoatime",
    "ratime",
    "rrelatime",
    "rnorelatime",
    "rstrictatime",
    "rnostrictatime",
    "rnodiratime",
    "rdiratime",
    "rnosymfollow",
    "rsymfollow",
];

pub fn propagation_of(opt: &str) -> Option<MsFlags> {
    use MsFlags as F;
    Some(match opt {
        "private" => F::MS_PRIVATE,
        "rprivate" => F::MS_PRIVATE | F::MS_REC,
        "shared" => F::MS_SHARED,
        "rshared" => F::MS_SHARED | F::MS_REC,
        "slave" => F::MS_SLAVE,
        "rslave" => F::MS_SLAVE | F::MS_REC,
        "unbindable" => F::MS_UNBINDABLE,
        "runbindable" => F::MS_UNBINDABLE | F::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_flags_propagation_and_data() {
        let o = parse(&[
            "nosuid",
            "strictatime",
            "mode=755",
            "size=65536k",
            "rslave",
            "ro",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME | MsFlags::MS_RDONLY
        );
        assert_eq!(o.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.is_bind());
    }

    #[test]
    fn known_list_matches_the_parser() {
        for opt in KNOWN {
            assert!(
                flag_of(opt).is_some()
                    || propagation_of(opt).is_some()
                    || recursive_of(opt).is_some()
                    || matches!(*opt, "tmpcopyup" | "idmap" | "ridmap"),
                "{opt} listed but not parsed"
            );
        }
        for opt in RECURSIVE {
            assert!(recursive_of(opt).is_some(), "{opt}");
            assert!(KNOWN.contains(opt), "{opt} not in KNOWN");
        }
    }

    #[test]
    fn recursive_options_set_and_clear_attributes() {
        let o = parse(&["rbind", "rro", "rnosuid", "rnoexec", "rnoatime"]);
        assert!(o.is_bind());
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(o.data.is_empty());
        let r = o.recursive;
        assert_eq!(
            r.set,
            libc::MOUNT_ATTR_RDONLY
                | libc::MOUNT_ATTR_NOSUID
                | libc::MOUNT_ATTR_NOEXEC
                | libc::MOUNT_ATTR_NOATIME
        );
        assert_eq!(r.clear, libc::MOUNT_ATTR__ATIME);
        // The later option wins, bit by bit.
        let r = parse(&["rro", "rnosuid", "rrw"]).recursive;
        assert_eq!(r.set, libc::MOUNT_ATTR_NOSUID);
        assert_eq!(r.clear, libc::MOUNT_ATTR_RDONLY);
        let r = parse(&["rnoatime", "ratime"]).recursive;
        assert_eq!((r.set, r.clear), (0, libc::MOUNT_ATTR__ATIME));
        assert_eq!(parse(&["ro"]).recursive, Recursive::default());
    }

    #[test]
    fn a_flag_without_a_recursive_form_is_refused() {
        let e = validate(3, &["rbind", "rsync"]).unwrap_err();
        assert!(e.to_string().contains("mounts[3].options \"rsync\""), "{e}");
        for ok in [
            "rbind",
            "rro",
            "rw",
            "ro",
            "relatime",
            "remount",
            "rslave",
            "rsize=8192",
        ] {
            validate(0, &[ok]).unwrap();
        }
    }

    #[test]
    fn later_options_win() {
        let o = parse(&["rbind", "ro", "rw"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
    }
}
