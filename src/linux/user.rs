//! `process.user`: groups, gid, uid and umask of the container's process.

use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use crate::error::{Context, Result};

/// (uid_t)-1 is no ID: setresuid(2) takes it as "leave unchanged", so a
/// uid of 4294967295 would run the process as the runtime's own user, root.
pub fn check(user: &User) -> Result<()> {
    const NONE: u32 = u32::MAX;
    if user.uid() == NONE {
        crate::bail!("process.user.uid {NONE} is (uid_t)-1, not a user ID");
    }
    if user.gid() == NONE {
        crate::bail!("process.user.gid {NONE} is (gid_t)-1, not a group ID");
    }
    if user.additional_gids().iter().flatten().any(|g| *g == NONE) {
        crate::bail!("process.user.additionalGids: {NONE} is (gid_t)-1, not a group ID");
    }
    Ok(())
}

pub fn apply(user: &User, keep_caps: bool) -> Result<()> {
    check(user)?;
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    // setgroups is refused in a user namespace whose setgroups file says "deny";
    // only an explicit list is worth failing for.
    if let Err(e) = setgroups(&groups) {
        if !groups.is_empty() {
            return Err(
                crate::error::Error::from(e).context("process.user.additionalGids: setgroups")
            );
        }
    }
    if keep_caps {
        nix::sys::prctl::set_keepcaps(true).context("prctl(PR_SET_KEEPCAPS)")?;
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid)
        .with_context(|| format!("process.user.gid {}: setresgid", user.gid()))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid)
        .with_context(|| format!("process.user.uid {}: setresuid", user.uid()))?;
    if keep_caps {
        nix::sys::prctl::set_keepcaps(false).context("prctl(PR_SET_KEEPCAPS, 0)")?;
    }
    if let Some(mask) = user.umask() {
        umask(Mode::from_bits_truncate(mask));
    }
    Ok(())
}
