//! Everything that talks to the kernel about containers.

pub mod capabilities;
pub mod cgroupfs;
pub mod copyup;
pub mod cpu_affinity;
pub mod devices;
pub mod idmap;
pub mod ioprio;
pub mod memory_policy;
pub mod mount_options;
pub mod namespaces;
pub mod net_devices;
pub mod netlink;
pub mod personality;
pub mod pidfd;
pub mod procfs;
pub mod resolve;
pub mod rlimits;
pub mod rootfs;
pub mod scheduler;
pub mod sealed_exe;
pub mod seccomp;
pub mod seccomp_listener;
pub mod signal;
pub mod sys;
pub mod sysctl;
pub mod user;
