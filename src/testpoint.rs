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
