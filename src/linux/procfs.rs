//! Reading what /proc says about a process.

use std::fs;

/// The fields of /proc/PID/stat we rely on.
pub struct ProcStat {
    /// Field 3: R, S, D, Z, X, T...
    pub state: char,
    /// Field 22: start time in clock ticks since boot. With the PID it names a
    /// process uniquely enough to tell a recycled PID apart.
    pub start_time: u64,
    /// Field 39: the CPU it last ran on (or, not yet run, will run on).
    pub cpu: Option<usize>,
    /// Field 9: the kernel's PF_* flags of the process.
    pub flags: u64,
}

/// PF_EXITING: the process is in do_exit (for a PID namespace's init, it
/// may stay there a while, reaping the rest of its namespace).
const PF_EXITING: u64 = 0x4;

impl ProcStat {
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Whether `pid` is on its way out: in do_exit already, or with a SIGKILL
/// pending, which the kernel also queues to every thread of a process a
/// fatal signal was sent to. Pending is read first: a SIGKILL leaves the
/// thread's set as the thread starts to exit, so a process is caught in one
/// read or the other.
pub fn exiting(pid: i32) -> bool {
    const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);
    let pending = read(format!("/proc/{pid}/status")).is_ok_and(|text| {
        text.lines()
            .filter_map(|l| {
                l.strip_prefix("SigPnd:")
                    .or_else(|| l.strip_prefix("ShdPnd:"))
            })
            .any(|v| u64::from_str_radix(v.trim(), 16).is_ok_and(|m| m & SIGKILL_BIT != 0))
    });
    pending || stat(pid).is_some_and(|s| s.flags & PF_EXITING != 0)
}

/// Read a file of /proc or /sys, whose size stat(2) reports as 0 or 4096:
/// fs::read_to_string would stat it, then start from a 32-byte probe and
/// double, a dozen read(2)s for a /proc/self/mountinfo. One page of room
/// first (read_to_end reads straight into spare room).
pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut s = String::with_capacity(4096);
    fs::File::open(path)?.read_to_string(&mut s)?;
    Ok(s)
}

/// Parse /proc/PID/stat; None when the process does not exist.
pub fn stat(pid: i32) -> Option<ProcStat> {
    let text = read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // comm (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // after field 3 (state) come fields 4..; field 9 is the 6th of those,
    // field 22 the 19th.
    let flags = fields.nth(5)?.parse().ok()?;
    let start_time = fields.nth(12)?.parse().ok()?;
    let cpu = fields.nth(16).and_then(|f| f.parse().ok());
    Some(ProcStat {
        state,
        start_time,
        cpu,
        flags,
    })
}

/// Inode of a namespace of a process (/proc/PID/ns/KIND), e.g. to tell whether
/// two processes share a PID namespace.
pub fn ns_inode(pid: i32, kind: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|m| m.ino())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_comm() {
        let line =
            "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100";
        let s = parse_stat(line).expect("parse");
        assert_eq!(s.state, 'S');
        assert_eq!(s.start_time, 987654);
        assert_eq!(s.flags, 4194560);
        assert_eq!(s.cpu, None, "a line cut short has no field 39");
    }

    #[test]
    fn own_stat_is_alive() {
        let s = stat(std::process::id() as i32).expect("self");
        assert!(!s.is_dead());
        assert!(s.start_time > 0);
        let cpu = s.cpu.expect("field 39");
        assert!(cpu < 8192, "cpu {cpu}");
        assert!(!exiting(std::process::id() as i32));
    }

    #[test]
    fn read_gets_all_of_files_longer_than_a_page() {
        // Over 4096 bytes, in more than one read(2).
        let long = read("/proc/self/smaps").expect("smaps");
        assert!(long.len() > 4096, "{} bytes", long.len());
        assert!(long.ends_with('\n'));
        let path = std::env::temp_dir().join(format!("hutch-procfs-{}", std::process::id()));
        let text = "x".repeat(10_000) + "end";
        fs::write(&path, &text).expect("write");
        let got = read(&path);
        let _ = fs::remove_file(&path);
        assert_eq!(got.expect("read"), text);
        assert!(read("/proc/self/no-such-file").is_err());
    }
}
