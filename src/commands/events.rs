//! `hutch events`: JSON lines in runc's shape. `--stats` prints one stats
//! event; otherwise stats every --interval (and once at once, so a reader
//! knows it is watching) and an "oom" event whenever the OOM killer strikes,
//! until the container stops.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{cgroup_of, Global};
use crate::bail;
use crate::cgroups::stats;
use crate::error::{Context, Result};
use crate::state::{ContainerDir, Status};

pub fn run(g: &Global, id: &str, once: bool, interval: &str) -> Result<()> {
    let interval = parse_duration(interval)?;
    // No lock held while watching: that would block delete.
    let state = {
        let dir = ContainerDir::open_existing(&g.root, id, false)?;
        let state = dir.load_existing()?;
        if dir.status(&state) == Status::Stopped {
            bail!("container {id} is not running");
        }
        state
    };
    let cg = cgroup_of(&state, "watch")?;
    let emit = |kind: &str, data: Option<serde_json::Value>| -> Result<()> {
        let ev = Event { kind, id, data };
        let line = serde_json::to_string(&ev)
            .map_err(|e| crate::error::Error::new(format!("encoding an event: {e}")))?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|_| out.flush())
            .context("writing events")
    };
    if once {
        return emit("stats", Some(stats::collect(cg)));
    }
    let mut ooms = stats::oom_kills(cg);
    emit("stats", Some(stats::collect(cg)))?;
    let mut next = Instant::now() + interval;
    loop {
        let alive = state.init.is_alive();
        let now = stats::oom_kills(cg);
        for _ in ooms..now {
            emit("oom", None)?;
        }
        ooms = now;
        if !alive {
            return Ok(());
        }
        if Instant::now() >= next {
            emit("stats", Some(stats::collect(cg)))?;
            next += interval;
        }
        std::thread::sleep(Duration::from_millis(50).min(interval));
    }
}

/// One line of output, its keys in runc's order.
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

/// "5s", "500ms", "1m", "2" (seconds).
fn parse_duration(s: &str) -> Result<Duration> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = match num.parse() {
        Ok(n) if n > 0.0 => n,
        _ => bail!("--interval {s:?}: expected a positive duration like 5s or 500ms"),
    };
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("--interval {s:?}: unknown unit {unit:?} (ms, s, m, h)"),
    };
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_duration("500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_duration("2").ok(), Some(Duration::from_secs(2)));
        for bad in ["", "0s", "5x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
