//! Logs: env_logger for people, and `--log FILE --log-format json` for the
//! JSON lines containerd and podman read (`{"level":..,"msg":..,"time":..}`).
//! With neither --log, --debug nor RUST_LOG, warnings and errors go to stderr
//! as one plain line each (no env_logger: it costs start-up time).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct JsonLogger {
    file: Mutex<File>,
    level: LevelFilter,
}

impl Log for JsonLogger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            Level::Error => "error",
            Level::Warn => "warning",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        };
        let line = serde_json::json!({
            "level": level,
            "msg": r.args().to_string(),
            "time": crate::time::now_rfc3339(),
        });
        if let Ok(mut f) = self.file.lock() {
            // One write per line, so concurrent hutch processes never interleave.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }

    fn flush(&self) {}
}

/// Set up logging; returns whether a log file receives errors.
pub fn init(log_file: Option<&Path>, json: bool, debug: bool) -> Result<bool, String> {
    let level = if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    };
    if let Some(path) = log_file {
        let file = open_log(path).map_err(|e| format!("--log {}: {e}", path.display()))?;
        if json {
            let logger = JsonLogger {
                file: Mutex::new(file),
                level,
            };
            log::set_boxed_logger(Box::new(logger)).map_err(|e| e.to_string())?;
            log::set_max_level(level);
        } else {
            env_logger::Builder::new()
                .filter_level(level)
                .parse_default_env()
                .target(env_logger::Target::Pipe(Box::new(file)))
                .init();
        }
        return Ok(true);
    }
    if debug || std::env::var_os("RUST_LOG").is_some() {
        let level = if debug {
            LevelFilter::Debug
        } else {
            LevelFilter::Warn
        };
        env_logger::Builder::new()
            .filter_level(level)
            .parse_default_env()
            .init();
    } else if log::set_logger(&StderrWarnings).is_ok() {
        log::set_max_level(LevelFilter::Warn);
    }
    Ok(false)
}

/// The --log file, whose directory someone less trusted may write. A
/// symlink at its name is followed only where no one else could have
/// planted it: a directory owned by us or root that no group or other may
/// write (`/dev/stderr` works; a link in /tmp or a shared directory is
/// refused rather than appended through). O_NONBLOCK: a FIFO planted there
/// fails the open instead of hanging it. Hard links are the kernel's to stop
/// (fs.protected_hardlinks).
fn open_log(path: &Path) -> std::io::Result<File> {
    use nix::fcntl::{openat, OFlag};
    use nix::sys::stat::Mode;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_APPEND | OFlag::O_NONBLOCK;
    match OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .custom_flags((flags | OFlag::O_NOFOLLOW).bits())
        .open(path)
    {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {}
        opened => return opened,
    }
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) if !d.as_os_str().is_empty() => (d, n),
        (_, Some(n)) => (Path::new("."), n),
        _ => return Err(std::io::Error::from_raw_os_error(libc::ELOOP)),
    };
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_PATH | OFlag::O_DIRECTORY).bits())
        .open(dir)?;
    let meta = dir.metadata()?;
    let ours = meta.uid() == 0 || meta.uid() == nix::unistd::geteuid().as_raw();
    if !ours || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(
            "a symlink in a directory others can write: not followed",
        ));
    }
    let fd = openat(
        &dir,
        name,
        flags | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )?;
    Ok(File::from(fd))
}

/// What a `log::warn!` says must reach someone (e.g. a resource field that
/// this host's cgroups ignore): stderr, as runc's warnings do.
struct StderrWarnings;

impl Log for StderrWarnings {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= Level::Warn
    }

    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            let what = if r.level() == Level::Error {
                "error"
            } else {
                "warning"
            };
            eprintln!("hutch: {what}: {}", r.args());
        }
    }

    fn flush(&self) {}
}
