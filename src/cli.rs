//! The command line, runc's: global flags before or after the verb, options
//! before or after the container ID.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "hutch",
    about = "hutch: an OCI container runtime",
    long_about = "hutch runs OCI bundles (a config.json and a root filesystem) as containers.\n\
                  Its command line is runc's, so containerd, podman and friends can use it as is.",
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Directory for container state (use a tmpfs)
    #[arg(long, global = true, default_value = "/run/hutch", value_name = "DIR")]
    pub root: PathBuf,
    /// Write logs to FILE (errors also go to stderr)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd to manage cgroups
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create a container from a bundle; its process waits for `start`
    Create {
        /// Path to the bundle directory (holding config.json)
        #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// Write the container init's host PID to FILE
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Unix socket that receives the terminal's master fd
        #[arg(long = "console-socket", value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// Use MS_MOVE and chroot instead of pivot_root (for ramdisks)
        #[arg(long = "no-pivot")]
        no_pivot: bool,
        /// Do not create a new session keyring (hutch never does)
        #[arg(long = "no-new-keyring")]
        no_new_keyring: bool,
        /// Pass N extra fds (3 .. 3+N-1) to the container's process
        #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
        preserve_fds: u32,
        /// Container ID
        id: String,
    },
    /// Run the user's program of a created container
    Start { id: String },
    /// Print the OCI state of a container as JSON
    State { id: String },
    /// Send a signal (name or number, default TERM) to the container's init
    Kill {
        /// Signal every process of the container
        #[arg(short = 'a', long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// List the containers under --root
    List {
        /// Output format: table or json
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Print only the IDs
        #[arg(short = 'q', long)]
        quiet: bool,
    },
    /// Delete a container and its state
    Delete {
        /// Kill the container first if it is still running
        #[arg(short = 'f', long)]
        force: bool,
        id: String,
    },
}
