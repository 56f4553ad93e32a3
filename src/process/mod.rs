//! Creating the container's init: the parent side (`spawn`), the typed channel
//! between the two, and the init itself.

pub mod channel;
pub mod exec;
pub mod init;
pub mod program;
pub mod spawn;
pub mod terminal;
pub mod tty_proxy;
pub mod wait;
