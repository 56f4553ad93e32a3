//! hutch: an OCI container runtime. This file only parses and dispatches.

mod cgroups;
mod cli;
mod commands;
mod digest;
mod error;
#[cfg(test)]
mod fuzz;
mod hooks;
mod linux;
mod logging;
mod oci_compat;
mod process;
mod spec;
mod state;
mod testpoint;
mod time;

use cli::{Cli, Command};
use commands::Global;

fn main() {
    let cli = match cli::parse() {
        Ok(c) => c,
        Err(e) => usage_error(e),
    };
    if cli.version {
        // runc's lines: version, commit, spec, libseccomp.
        let seccomp = libseccomp::ScmpVersion::current()
            .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
            .unwrap_or_else(|_| "unknown".to_string());
        println!(
            "hutch version {}\ncommit: {}\nspec: {}\nlibseccomp: {seccomp}",
            env!("CARGO_PKG_VERSION"),
            env!("HUTCH_COMMIT"),
            commands::state::OCI_VERSION
        );
        return;
    }
    let logs_to_file = match logging::init(cli.log.as_deref(), cli.log_format == "json", cli.debug)
    {
        Ok(f) => f,
        Err(e) => fail(&e, false, 1),
    };
    let Some(command) = cli.command else {
        // As runc: the help, on stdout, and success.
        print_help();
        return;
    };
    let g = Global { root: cli.root };
    if cli.systemd_cgroup {
        fail(
            "--systemd-cgroup: systemd cgroup management is not supported yet",
            logs_to_file,
            1,
        );
    }
    let result = match &command {
        Command::Create(args) => {
            commands::create::run(&g, &args.to_create()).map_err(|e| naming(e, "create", &args.id))
        }
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper: _,
        } => {
            let r = commands::run::Run {
                create: create.to_create(),
                detach: *detach,
                keep: *keep,
            };
            match commands::run::run(&g, &r) {
                Ok(code) => std::process::exit(code),
                Err(e) => Err(naming(e, "run", &create.id)),
            }
        }
        Command::Exec {
            process,
            tty,
            console_socket,
            cwd,
            env,
            user,
            additional_gids,
            cap,
            no_new_privs,
            apparmor,
            process_label,
            ignore_paused,
            detach,
            pid_file,
            preserve_fds,
            cgroup,
            id,
            command,
        } => {
            let e = commands::exec::Exec {
                id: id.clone(),
                process_file: process.clone(),
                args: command.clone(),
                tty: *tty,
                console_socket: console_socket.clone(),
                cwd: cwd.clone(),
                env: env.clone(),
                user: user.clone(),
                additional_gids: additional_gids.clone(),
                caps: cap.clone(),
                no_new_privs: *no_new_privs,
                apparmor: apparmor.clone(),
                process_label: process_label.clone(),
                ignore_paused: *ignore_paused,
                detach: *detach,
                pid_file: pid_file.clone(),
                preserve_fds: *preserve_fds,
                cgroups: cgroup.clone(),
            };
            match commands::exec::run(&g, &e) {
                Ok(code) => std::process::exit(code),
                // 255, as runc's: a process may well exit 1 itself.
                Err(err) => fail(&naming(err, "exec", id).to_string(), logs_to_file, 255),
            }
        }
        Command::Start { id } => commands::start::run(&g, id),
        Command::State { id } => commands::state::run(&g, id),
        Command::Kill { all, id, signal } => commands::kill::run(&g, id, signal.as_deref(), *all),
        Command::Features => commands::features::run(),
        Command::Spec { bundle, rootless } => commands::spec::run(bundle, *rootless),
        Command::List { format, quiet } => commands::list::run(&g, format, *quiet),
        Command::Delete { force, id } => commands::delete::run(&g, id, *force),
        Command::Pause { id } => commands::pause::run(&g, id, true),
        Command::Resume { id } => commands::pause::run(&g, id, false),
        Command::Ps {
            format,
            id,
            ps_args,
        } => commands::ps::run(&g, id, format, ps_args),
        Command::Events {
            stats,
            interval,
            id,
        } => commands::events::run(&g, id, *stats, interval),
        Command::Update(u) => commands::update::run(&g, u),
    };
    if let Err(e) = result {
        fail(&e.to_string(), logs_to_file, 1);
    }
}

/// `e` with "VERB ID: " in front, unless it names the container already:
/// each container is named once ("cannot exec in container d1", not
/// "exec d1: cannot exec in container d1").
fn naming(e: error::Error, verb: &str, id: &str) -> error::Error {
    let text = e.to_string();
    let named = text
        .split(|c: char| c.is_whitespace() || c == ':' || c == '"')
        .any(|w| w == id);
    if named {
        e
    } else {
        e.context(format!("{verb} {id}"))
    }
}

/// One line on stderr (and the log file, where clients look for it), and
/// exit with `code`. "error" in it, as runc's: clients and test harnesses
/// look for that word.
fn fail(msg: &str, logs_to_file: bool, code: i32) -> ! {
    let msg = &error::one_line(msg);
    if logs_to_file {
        log::error!("{msg}");
    }
    eprintln!("hutch: error: {msg}");
    std::process::exit(code);
}

/// clap's help and version go out as they are; usage errors become one line.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    // A bare `hutch`: the help on stdout and success, as runc.
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand && verb_given().is_none() {
        print_help();
        std::process::exit(0);
    }
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        std::process::exit(
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                2
            } else {
                0
            },
        );
    }
    let text = e.render().to_string();
    // The message, and the indented lines under it (the missing arguments),
    // on one line; the usage clap adds after a blank line stays out.
    let mut lines = text.lines().take_while(|l| !l.trim().is_empty());
    let first = lines.next().unwrap_or("invalid usage");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let rest: Vec<&str> = lines.map(str::trim).collect();
    let msg = if rest.is_empty() {
        first.to_string()
    } else {
        format!("{} {}", first, rest.join(", "))
    };
    let help = match verb_given() {
        Some(verb) => format!("hutch {verb} --help"),
        None => "hutch --help".to_string(),
    };
    eprintln!("hutch: error: {msg} (see '{help}')");
    std::process::exit(2);
}

fn print_help() {
    use clap::CommandFactory;
    let _ = Cli::command().print_help();
}

/// The verb on the command line, if it names one, for the help to point at.
fn verb_given() -> Option<String> {
    use clap::CommandFactory;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if ["--root", "--log", "--log-format", "--criu", "--rootless"].contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Cli::command().find_subcommand(&a).map(|_| a);
        }
    }
    None
}
