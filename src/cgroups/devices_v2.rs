//! Device rules on cgroup v2, which has no devices.allow: the kernel asks an
//! eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup.

use oci_spec::runtime::LinuxDeviceCgroup;

use super::Cgroup;
use crate::bail;
use crate::error::Result;

pub fn apply(_cg: &Cgroup, _rules: &[LinuxDeviceCgroup]) -> Result<()> {
    bail!("linux.resources.devices: device rules on cgroup v2 need an eBPF device program, which hutch does not load yet")
}
