//! Pause points for fault-injection tests: in debug builds only, a process
//! whose environment has `HUTCH_TEST_PAUSE_AT=<step>` stops itself (SIGSTOP)
//! when it reaches that step, so a test can SIGKILL it exactly there. Release
//! builds compile every call to nothing.

/// Stop here if the test asked for `step`.
#[cfg(debug_assertions)]
pub fn pause_at(step: &str) {
    if std::env::var_os("HUTCH_TEST_PAUSE_AT").is_some_and(|v| v == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn pause_at(_step: &str) {}

/// Stop here if the test asked for `step:PATH` (e.g. `mount-attached:/proc`):
/// one step of many alike, by the path it is about.
#[cfg(debug_assertions)]
pub fn pause_at_path(step: &str, path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let Some(v) = std::env::var_os("HUTCH_TEST_PAUSE_AT") else {
        return;
    };
    let v = v.as_bytes();
    let p = path.as_os_str().as_bytes();
    if v.len() == step.len() + 1 + p.len()
        && v.starts_with(step.as_bytes())
        && v[step.len()] == b':'
        && v.ends_with(p)
    {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn pause_at_path(_step: &str, _path: &std::path::Path) {}
