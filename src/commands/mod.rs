//! One file per CLI verb.

pub mod create;
pub mod delete;
pub mod kill;
pub mod start;
pub mod state;

use std::path::PathBuf;

/// Flags every command sees.
pub struct Global {
    pub root: PathBuf,
}
pub mod exec;
pub mod features;
pub mod list;
pub mod run;
pub mod spec;

/// Print to stdout; a reader that went away (`hutch list | head`) is not an
/// error worth a panic.
pub fn out(text: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o
        .write_all(text.as_bytes())
        .and_then(|_| o.write_all(b"\n"));
}
