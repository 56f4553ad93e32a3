//! `process.user`: groups, gid, uid and umask of the container's process.

use nix::sys::stat::{umask, Mode};
use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use crate::error::{Context, Result};

pub fn apply(user: &User, keep_caps: bool) -> Result<()> {
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
