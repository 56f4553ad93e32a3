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
pub mod list;
pub mod run;
