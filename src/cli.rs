//! The command line, runc's: global flags before or after the verb, options
//! before or after the container ID.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Create(CreateArgs),
    /// Create, start and wait for a container; exit with its exit code
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container is started
        #[arg(short = 'd', long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
    },
    /// Run another process in a running container
    Exec {
        /// JSON file with the process to run (an OCI `process` object)
        #[arg(short = 'p', long = "process", value_name = "FILE")]
        process: Option<PathBuf>,
        /// Allocate a terminal (needs --console-socket)
        #[arg(short = 't', long)]
        tty: bool,
        /// Unix socket that receives the terminal's master fd
        #[arg(long = "console-socket", value_name = "PATH")]
        console_socket: Option<PathBuf>,
        /// Working directory in the container
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// Set an environment variable (KEY=VALUE), repeatable
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// UID[:GID] to run as
        #[arg(short = 'u', long)]
        user: Option<String>,
        /// Additional group, repeatable
        #[arg(short = 'g', long = "additional-gids")]
        additional_gids: Vec<u32>,
        /// Add a capability, repeatable
        #[arg(short = 'c', long = "cap")]
        cap: Vec<String>,
        /// Set no_new_privs for the process
        #[arg(long = "no-new-privs")]
        no_new_privs: bool,
        /// Return once the process is started
        #[arg(short = 'd', long)]
        detach: bool,
        /// Write the process's host PID to FILE
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Pass N extra fds (3 .. 3+N-1) to the process
        #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
        preserve_fds: u32,
        /// Container ID
        id: String,
        /// Command and its arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
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
    /// Print the features this build implements, as JSON
    Features,
    /// Write a starting config.json into the bundle directory
    Spec {
        /// Bundle directory to write config.json into
        #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// Make a spec for a rootless container
        #[arg(long)]
        rootless: bool,
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

#[derive(Args)]
pub struct CreateArgs {
    /// Path to the bundle directory (holding config.json)
    #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
    pub bundle: PathBuf,
    /// Write the container init's host PID to FILE
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the terminal's master fd
    #[arg(long = "console-socket", value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for ramdisks)
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring (hutch never does)
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the container's process
    #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
    pub preserve_fds: u32,
    /// Container ID
    pub id: String,
}

impl CreateArgs {
    pub fn to_create(&self) -> crate::commands::create::Create {
        crate::commands::create::Create {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            pid_file: self.pid_file.clone(),
            console_socket: self.console_socket.clone(),
            no_pivot: self.no_pivot,
            preserve_fds: self.preserve_fds,
        }
    }
}
