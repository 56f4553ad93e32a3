//! The command line, runc's: global flags before or after the verb, options
//! before or after the container ID.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod fast;

/// The command line of this process: the common lines of clients and shims
/// through `fast`, everything else (help, errors, the rarer verbs) through
/// clap.
pub fn parse() -> Result<Cli, clap::Error> {
    match fast::parse(std::env::args_os().skip(1)) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse(),
    }
}

/// The heading of the options every verb takes.
const GLOBAL: &str = "Global options";

// Defaults and accepted values, for clap and for `fast` alike.
const DEFAULT_ROOT: &str = "/run/hutch";
const DEFAULT_LOG_FORMAT: &str = "text";
const LOG_FORMATS: [&str; 2] = ["text", "json"];
const DEFAULT_ROOTLESS: &str = "auto";
const ROOTLESS: [&str; 3] = ["true", "false", "auto"];
const DEFAULT_BUNDLE: &str = ".";

#[derive(Parser, Debug, PartialEq)]
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
    #[arg(long, global = true, default_value = DEFAULT_ROOT, value_name = "DIR", help_heading = GLOBAL)]
    pub root: PathBuf,
    /// Write logs to FILE (errors also go to stderr)
    #[arg(long, global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long = "log-format", global = true, default_value = DEFAULT_LOG_FORMAT, value_parser = LOG_FORMATS, help_heading = GLOBAL)]
    pub log_format: String,
    /// Log debug messages
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub debug: bool,
    /// Path to criu (accepted for runc's clients; hutch has no checkpoint/restore)
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub criu: Option<PathBuf>,
    /// Ignore cgroup permission errors: true, false or auto (accepted for
    /// runc's clients; hutch runs as root, where there are none)
    // Before the verb only, as in runc: `spec --rootless` is another flag.
    #[arg(long, default_value = DEFAULT_ROOTLESS, value_parser = ROOTLESS, value_name = "BOOL", help_heading = GLOBAL)]
    pub rootless: String,
    /// Use systemd to manage cgroups (not supported yet: refused)
    #[arg(long = "systemd-cgroup", global = true, help_heading = GLOBAL)]
    pub systemd_cgroup: bool,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Deferred: each verb's arguments are built only when that verb is parsed
// (building all of them was a third of the instructions of a `create`).
#[derive(Subcommand, Debug, PartialEq)]
#[command(defer = true)]
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
        /// Do not become a subreaper (hutch never does)
        #[arg(long = "no-subreaper")]
        no_subreaper: bool,
    },
    /// Run another process in a running or created container
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
        /// AppArmor profile for the process (refused: hutch has no AppArmor)
        #[arg(long, value_name = "PROFILE")]
        apparmor: Option<String>,
        /// SELinux label for the process (refused: hutch has no SELinux)
        #[arg(long = "process-label", value_name = "LABEL")]
        process_label: Option<String>,
        /// Allow exec in a paused container (it goes on once the container is resumed)
        #[arg(long = "ignore-paused")]
        ignore_paused: bool,
        /// Return once the process is started
        #[arg(short = 'd', long)]
        detach: bool,
        /// Write the process's host PID to FILE
        #[arg(long = "pid-file", value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Pass N extra fds (3 .. 3+N-1) to the process
        #[arg(long = "preserve-fds", default_value_t = 0, value_name = "N")]
        preserve_fds: u32,
        /// Run the process in an existing sub-cgroup of the container's:
        /// [CONTROLLER[,CONTROLLER]:]PATH, repeatable (one per controller)
        #[arg(long = "cgroup", value_name = "[CONTROLLER:]PATH")]
        cgroup: Vec<String>,
        /// Container ID
        id: String,
        /// Command and its arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Run the user's program of a created container
    Start {
        /// Container ID
        id: String,
    },
    /// Print the OCI state of a container as JSON
    State {
        /// Container ID
        id: String,
    },
    /// Send a signal (name or number, default TERM) to the container's init
    Kill {
        /// Signal every process of the container
        #[arg(short = 'a', long)]
        all: bool,
        /// Container ID
        id: String,
        /// Signal name (KILL, SIGKILL) or number (9); default TERM
        signal: Option<String>,
    },
    /// Print the features this build implements, as JSON
    Features,
    /// Write a starting config.json into the bundle directory
    Spec {
        /// Bundle directory to write config.json into
        #[arg(short = 'b', long, default_value = ".", value_name = "DIR")]
        bundle: PathBuf,
        /// Make a spec for a rootless container (not supported yet: refused)
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
    /// Freeze every process of a container
    Pause {
        /// Container ID
        id: String,
    },
    /// Thaw a paused container
    Resume {
        /// Container ID
        id: String,
    },
    /// List the processes of a container (through ps(1) for the table)
    Ps {
        /// Output format: table or json (PIDs only)
        #[arg(short = 'f', long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        /// Container ID
        id: String,
        /// Arguments for ps(1) (default -ef)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Print a container's resource usage and OOM events as JSON lines
    Events {
        /// Print the statistics once and exit
        #[arg(long)]
        stats: bool,
        /// Time between statistics (5s, 500ms, 1m)
        #[arg(long, default_value = "5s", value_name = "DURATION")]
        interval: String,
        /// Container ID
        id: String,
    },
    /// Change the resource limits of a running container
    Update(Update),
    /// Delete a container and its state
    Delete {
        /// Kill the container first if it is still running
        #[arg(short = 'f', long)]
        force: bool,
        /// Container ID
        id: String,
    },
}

#[derive(Args, Debug, PartialEq)]
pub struct CreateArgs {
    /// Path to the bundle directory (holding config.json)
    #[arg(short = 'b', long, default_value = DEFAULT_BUNDLE, value_name = "DIR")]
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

#[derive(Args, Debug, PartialEq)]
pub struct Update {
    /// A JSON file of linux.resources ("-" for stdin); flags are then refused
    #[arg(short = 'r', long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with k/m/g suffix; -1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1 for none)
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for none)
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to run on (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for none)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10 to 1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Container ID
    pub id: String,
}
