//! The command lines that clients send most (containerd's shim, conmon,
//! harnesses: create, run, start, state, kill, delete with their usual
//! options, and exec of a --process file, as a shim runs every exec probe),
//! parsed without clap. clap builds its parser and matches for
//! every call: ~0.45 ms of a `run`, half of a `state`, most of it page
//! faults and allocations on a cold start. Anything this does not know
//! exactly (help, `--`, repeated or clustered flags, values that start with
//! '-', other verbs) is left to clap, so errors and help stay clap's; a
//! property test checks that what this accepts, clap reads the same way.

use std::ffi::OsString;
use std::path::PathBuf;

use super::{Cli, Command, CreateArgs};
use super::{
    DEFAULT_BUNDLE, DEFAULT_LOG_FORMAT, DEFAULT_ROOT, DEFAULT_ROOTLESS, LOG_FORMATS, ROOTLESS,
};

/// None: not a line this knows; ask clap.
pub fn parse(args: impl Iterator<Item = OsString>) -> Option<Cli> {
    let args: Vec<String> = args.map(|a| a.into_string().ok()).collect::<Option<_>>()?;
    let mut g = Globals::default();
    let mut i = 0;
    // Global options, then the verb.
    let verb = loop {
        let a = args.get(i)?;
        i += 1;
        if !a.starts_with('-') {
            break a.as_str();
        }
        let (name, inline) = split(a);
        if name == "--rootless" {
            let v = value(&args, &mut i, inline)?;
            if !ROOTLESS.contains(&v) || g.rootless.replace(v).is_some() {
                return None;
            }
        } else if !g.take(name, inline, &args, &mut i)? {
            return None;
        }
    };
    let mut o = VerbOptions::default();
    let mut positional: Vec<&str> = Vec::new();
    while let Some(a) = args.get(i) {
        i += 1;
        // After exec's ID comes its command, where clap's reading of
        // options and values is its own.
        if verb == "exec" && !positional.is_empty() {
            return None;
        }
        if !a.starts_with('-') {
            positional.push(a);
            continue;
        }
        let (name, inline) = split(a);
        if g.take(name, inline, &args, &mut i)? || o.take(verb, name, inline, &args, &mut i)? {
            continue;
        }
        return None;
    }
    let command = o.command(verb, &positional)?;
    Some(Cli {
        root: g
            .root
            .map_or_else(|| PathBuf::from(DEFAULT_ROOT), PathBuf::from),
        log: g.log.map(PathBuf::from),
        log_format: g.log_format.unwrap_or(DEFAULT_LOG_FORMAT).to_string(),
        debug: g.debug,
        criu: g.criu.map(PathBuf::from),
        rootless: g.rootless.unwrap_or(DEFAULT_ROOTLESS).to_string(),
        systemd_cgroup: g.systemd_cgroup,
        version: false,
        command: Some(command),
    })
}

/// `--name=value` into its parts; anything else as is.
fn split(a: &str) -> (&str, Option<&str>) {
    match a.split_once('=') {
        Some((n, v)) if n.starts_with("--") => (n, Some(v)),
        _ => (a, None),
    }
}

/// An option's value: inline, or the next argument. Empty values and values
/// that look like options are clap's to judge.
fn value<'a>(args: &'a [String], i: &mut usize, inline: Option<&'a str>) -> Option<&'a str> {
    let v = match inline {
        Some(v) => v,
        None => {
            let v = args.get(*i)?;
            *i += 1;
            v.as_str()
        }
    };
    (!v.is_empty() && !v.starts_with('-')).then_some(v)
}

/// A flag takes no inline value; a repeated one is clap's to judge.
fn flag(slot: &mut bool, inline: Option<&str>) -> Option<bool> {
    if inline.is_some() || std::mem::replace(slot, true) {
        return None;
    }
    Some(true)
}

/// A value option, given once.
fn set<'a>(
    slot: &mut Option<&'a str>,
    args: &'a [String],
    i: &mut usize,
    inline: Option<&'a str>,
) -> Option<bool> {
    let v = value(args, i, inline)?;
    if slot.replace(v).is_some() {
        return None;
    }
    Some(true)
}

#[derive(Default)]
struct Globals<'a> {
    root: Option<&'a str>,
    log: Option<&'a str>,
    log_format: Option<&'a str>,
    debug: bool,
    criu: Option<&'a str>,
    rootless: Option<&'a str>,
    systemd_cgroup: bool,
}

impl<'a> Globals<'a> {
    /// Some(true): taken; Some(false): not a global option; None: ask clap.
    fn take(
        &mut self,
        name: &str,
        inline: Option<&'a str>,
        args: &'a [String],
        i: &mut usize,
    ) -> Option<bool> {
        match name {
            "--root" => set(&mut self.root, args, i, inline),
            "--log" => set(&mut self.log, args, i, inline),
            "--criu" => set(&mut self.criu, args, i, inline),
            "--log-format" => {
                let taken = set(&mut self.log_format, args, i, inline)?;
                self.log_format
                    .is_some_and(|f| LOG_FORMATS.contains(&f))
                    .then_some(taken)
            }
            "--debug" => flag(&mut self.debug, inline),
            "--systemd-cgroup" => flag(&mut self.systemd_cgroup, inline),
            _ => Some(false),
        }
    }
}

#[derive(Default)]
struct VerbOptions<'a> {
    bundle: Option<&'a str>,
    pid_file: Option<&'a str>,
    console_socket: Option<&'a str>,
    preserve_fds: Option<&'a str>,
    process: Option<&'a str>,
    tty: bool,
    no_pivot: bool,
    no_new_keyring: bool,
    detach: bool,
    keep: bool,
    no_subreaper: bool,
    all: bool,
    force: bool,
}

impl<'a> VerbOptions<'a> {
    /// As Globals::take, for the options of `verb`.
    fn take(
        &mut self,
        verb: &str,
        name: &str,
        inline: Option<&'a str>,
        args: &'a [String],
        i: &mut usize,
    ) -> Option<bool> {
        let creates = verb == "create" || verb == "run";
        let starts = creates || verb == "exec";
        match name {
            "-b" if inline.is_none() && creates => set(&mut self.bundle, args, i, None),
            "--bundle" if creates => set(&mut self.bundle, args, i, inline),
            "--pid-file" if starts => set(&mut self.pid_file, args, i, inline),
            "--console-socket" if starts => set(&mut self.console_socket, args, i, inline),
            "--preserve-fds" if starts => set(&mut self.preserve_fds, args, i, inline),
            "--no-pivot" if creates => flag(&mut self.no_pivot, inline),
            "--no-new-keyring" if creates => flag(&mut self.no_new_keyring, inline),
            "-d" | "--detach" if verb == "run" || verb == "exec" => flag(&mut self.detach, inline),
            "-p" if inline.is_none() && verb == "exec" => set(&mut self.process, args, i, None),
            "--process" if verb == "exec" => set(&mut self.process, args, i, inline),
            "-t" | "--tty" if verb == "exec" => flag(&mut self.tty, inline),
            "--keep" if verb == "run" => flag(&mut self.keep, inline),
            "--no-subreaper" if verb == "run" => flag(&mut self.no_subreaper, inline),
            "-a" | "--all" if verb == "kill" => flag(&mut self.all, inline),
            "-f" | "--force" if verb == "delete" => flag(&mut self.force, inline),
            _ => None,
        }
    }

    fn command(&self, verb: &str, positional: &[&str]) -> Option<Command> {
        let preserve_fds = || match self.preserve_fds {
            Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => n.parse().ok(),
            Some(_) => None,
            None => Some(0),
        };
        let id = || match positional {
            [id] => Some(id.to_string()),
            _ => None,
        };
        let create = || -> Option<CreateArgs> {
            Some(CreateArgs {
                bundle: PathBuf::from(self.bundle.unwrap_or(DEFAULT_BUNDLE)),
                pid_file: self.pid_file.map(PathBuf::from),
                console_socket: self.console_socket.map(PathBuf::from),
                no_pivot: self.no_pivot,
                no_new_keyring: self.no_new_keyring,
                preserve_fds: preserve_fds()?,
                id: id()?,
            })
        };
        Some(match verb {
            "create" => Command::Create(create()?),
            "run" => Command::Run {
                create: create()?,
                detach: self.detach,
                keep: self.keep,
                no_subreaper: self.no_subreaper,
            },
            // The shape shims use: the process in a file, no command.
            "exec" => Command::Exec {
                process: Some(PathBuf::from(self.process?)),
                tty: self.tty,
                console_socket: self.console_socket.map(PathBuf::from),
                cwd: None,
                env: Vec::new(),
                user: None,
                additional_gids: Vec::new(),
                cap: Vec::new(),
                no_new_privs: false,
                apparmor: None,
                process_label: None,
                ignore_paused: false,
                detach: self.detach,
                pid_file: self.pid_file.map(PathBuf::from),
                preserve_fds: preserve_fds()?,
                cgroup: Vec::new(),
                id: id()?,
                command: Vec::new(),
            },
            "start" => Command::Start { id: id()? },
            "state" => Command::State { id: id()? },
            "delete" => Command::Delete {
                force: self.force,
                id: id()?,
            },
            "kill" => match positional {
                [id] => Command::Kill {
                    all: self.all,
                    id: id.to_string(),
                    signal: None,
                },
                [id, sig] => Command::Kill {
                    all: self.all,
                    id: id.to_string(),
                    signal: Some(sig.to_string()),
                },
                _ => return None,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;

    fn fast(line: &[&str]) -> Option<Cli> {
        parse(line.iter().map(OsString::from))
    }

    fn clap(line: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("hutch").chain(line.iter().copied()))
    }

    /// The lines clients send take the fast path, and read as clap reads them.
    #[test]
    fn client_lines_are_parsed_without_clap() {
        // containerd's runc shim: its global options, then each call.
        const SHIM: &[&str] = &[
            "--root",
            "/run/containerd/runc/k8s.io",
            "--log",
            "/run/x/log.json",
            "--log-format",
            "json",
        ];
        let shim_calls: &[&[&str]] = &[
            &[
                "create",
                "--bundle",
                "/run/x",
                "--pid-file",
                "/run/x/init.pid",
                "--console-socket",
                "/tmp/pty.sock",
                "c1",
            ],
            &["start", "c1"],
            &[
                "exec",
                "--process",
                "/tmp/p1",
                "--detach",
                "--pid-file",
                "/run/x/e1.pid",
                "c1",
            ],
            &["kill", "c1", "9"],
            &["kill", "--all", "c1", "15"],
            &["delete", "--force", "c1"],
        ];
        let shim_lines: Vec<Vec<&str>> = shim_calls.iter().map(|c| [SHIM, c].concat()).collect();
        let lines: &[&[&str]] = &[
            // conmon (podman)
            &[
                "--root=/run/runc",
                "--systemd-cgroup",
                "create",
                "--bundle",
                "/b",
                "--pid-file",
                "/b/pidfile",
                "--no-new-keyring",
                "c2",
            ],
            &["--root=/run/runc", "state", "c2"],
            // people and harnesses: options after the ID, short forms
            &["create", "c3", "--bundle", "/b"],
            &["create", "c3", "-b", "/b", "--preserve-fds", "2"],
            &["run", "-d", "--bundle=/b", "c3", "--debug"],
            &["run", "--keep", "-b", "/b", "c3"],
            &["--debug", "run", "--no-subreaper", "--no-pivot", "c3"],
            &["delete", "-f", "c3"],
            &["kill", "-a", "c3", "KILL"],
            &["exec", "-t", "--console-socket", "/s", "-p", "/p", "c3"],
            &["exec", "-d", "--preserve-fds", "1", "--process=/p", "c3"],
            &["state", "c3", "--root", "/r", "--log-format=text"],
            &["--rootless", "false", "--criu", "/c", "start", "c3"],
            // empty IDs and signals are the verbs' to refuse, as after clap
            &["state", ""],
            &["kill", "c3", ""],
        ];
        for line in shim_lines
            .iter()
            .map(Vec::as_slice)
            .chain(lines.iter().copied())
        {
            let f = fast(line).unwrap_or_else(|| panic!("not on the fast path: {line:?}"));
            let c = clap(line).unwrap_or_else(|e| panic!("clap refuses {line:?}: {e}"));
            assert_eq!(f, c, "{line:?}");
        }
    }

    /// What clap should judge or print never takes the fast path.
    #[test]
    fn the_rest_is_left_to_clap() {
        let lines: &[&[&str]] = &[
            &[],
            &["--help"],
            &["create", "--help"],
            &["-v"],
            &["--version"],
            &["list"],
            &["exec", "c1", "ls"],
            &["exec", "-p", "/p", "c1", "ls"],
            &["exec", "-p", "/p", "c1", "--detach"],
            &["exec", "c1"],
            &["exec", "--process", "/p", "--user", "1", "c1"],
            &["create"],
            &["create", "a", "b"],
            &["state", "c1", "--", "x"],
            &["kill", "c1", "-9"],
            &["delete", "-fa", "c1"],
            &["create", "-b/b", "c1"],
            &["create", "--bundle=", "c1"],
            &["--root", "create", "c1"],
            &["--root", "/a", "--root", "/b", "state", "c1"],
            &["--debug=true", "state", "c1"],
            &["--log-format", "xml", "state", "c1"],
            &["--rootless", "maybe", "state", "c1"],
            &["state", "--rootless", "true", "c1"],
            &["create", "--preserve-fds", "+1", "c1"],
            &["create", "--preserve-fds", "99999999999", "c1"],
            &["start", "--bundle", "/b", "c1"],
            &["run", "--force", "c1"],
        ];
        for line in lines {
            assert_eq!(fast(line), None, "{line:?}");
        }
    }

    const WORDS: &[&str] = &[
        "create",
        "run",
        "start",
        "state",
        "kill",
        "delete",
        "list",
        "exec",
        "c1",
        "KILL",
        "9",
        "-9",
        "/b",
        "",
        "-",
        "--",
        "-b",
        "-bx",
        "--bundle",
        "--bundle=/b",
        "--bundle=",
        "--root",
        "--root=/r",
        "--log",
        "--log-format",
        "json",
        "text",
        "xml",
        "--log-format=json",
        "--debug",
        "--debug=1",
        "--criu",
        "--systemd-cgroup",
        "--rootless",
        "true",
        "auto",
        "--pid-file",
        "--console-socket",
        "--no-pivot",
        "--no-new-keyring",
        "--preserve-fds",
        "3",
        "+3",
        "-d",
        "--detach",
        "--keep",
        "--no-subreaper",
        "-a",
        "--all",
        "-f",
        "--force",
        "-fa",
        "-h",
        "--help",
        "-v",
        "--version",
        "-p",
        "--process",
        "-t",
        "--tty",
        "ls",
    ];

    /// Lines shaped as clients write them (globals, a verb, its options and
    /// IDs in any order), with a few wrong words mixed in: many take the
    /// fast path, and each reads as clap reads it.
    #[test]
    fn agrees_with_clap_on_likely_lines() {
        // Whole options (with their values) as units, and some broken ones.
        const GLOBALS: &[&[&str]] = &[
            &["--root", "/r"],
            &["--root=/r"],
            &["--log", "/l"],
            &["--log-format", "json"],
            &["--log-format=text"],
            &["--debug"],
            &["--criu", "/c"],
            &["--systemd-cgroup"],
            &["--rootless", "false"],
            &["--root"],
            &["--log-format", "yaml"],
        ];
        const VERBS: &[&str] = &[
            "create", "run", "start", "state", "kill", "delete", "exec", "exec", "list",
        ];
        const AFTER: &[&[&str]] = &[
            &["c1"],
            &["c2"],
            &["KILL"],
            &["9"],
            &["-b", "/b"],
            &["--bundle", "/b"],
            &["--bundle=/b"],
            &["--pid-file", "/p"],
            &["--console-socket", "/s"],
            &["--no-pivot"],
            &["--no-new-keyring"],
            &["--preserve-fds", "2"],
            &["-d"],
            &["--detach"],
            &["--keep"],
            &["--no-subreaper"],
            &["-a"],
            &["--all"],
            &["-f"],
            &["--force"],
            &["--root", "/r2"],
            &["--debug"],
            &["--log-format", "json"],
            &["-x"],
            &["--"],
            &["-b"],
            &["-9"],
            &["-p", "/p"],
            &["--process", "/p"],
            &["--process=/p"],
            &["-t"],
            &["--tty"],
            &["ls"],
            &["--user", "1"],
            &["-e", "A=1"],
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut taken = 0;
        for _ in 0..100_000 {
            let mut line: Vec<&str> = Vec::new();
            for _ in 0..next(4) {
                line.extend(GLOBALS[next(GLOBALS.len())]);
            }
            line.push(VERBS[next(VERBS.len())]);
            for _ in 0..next(6) {
                line.extend(AFTER[next(AFTER.len())]);
            }
            if let Some(f) = fast(&line) {
                taken += 1;
                match clap(&line) {
                    Ok(c) => assert_eq!(f, c, "{line:?}"),
                    Err(e) => panic!("fast path took {line:?}, clap refuses it: {e}"),
                }
            }
        }
        assert!(
            taken > 1000,
            "only {taken} of 100000 lines took the fast path"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Whatever the fast path accepts, clap accepts and reads the same.
        #[test]
        fn agrees_with_clap(line in proptest::collection::vec(proptest::sample::select(WORDS), 0..9)) {
            if let Some(f) = fast(&line) {
                match clap(&line) {
                    Ok(c) => prop_assert_eq!(f, c, "{:?}", line),
                    Err(e) => prop_assert!(false, "fast path took {:?}, clap refuses it: {}", line, e),
                }
            }
        }
    }
}
