//! Signal names and numbers as people and clients give them: "TERM",
//! "SIGTERM", "sigkill", "9", "RTMIN+3".

use crate::bail;
use crate::error::Result;

const NAMES: [(&str, i32); 31] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("SYS", libc::SIGSYS),
];

/// A signal name (TERM, SIGTERM, sigterm, RTMIN+1) or number. 0, as runc
/// takes it, sends nothing and only checks the process is there.
pub fn parse(s: &str) -> Result<i32> {
    let max = libc::SIGRTMAX();
    if let Ok(n) = s.parse::<i32>() {
        if (0..=max).contains(&n) {
            return Ok(n);
        }
        bail!("unknown signal {s:?}: numbers run from 0 to {max}");
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(*n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Option<i32> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let n = base + sign * off;
        (libc::SIGRTMIN()..=max).contains(&n).then_some(n)
    };
    let found = if let Some(rest) = name.strip_prefix("RTMIN") {
        rest.strip_prefix('+')
            .or((rest.is_empty()).then_some(""))
            .and_then(|r| rt(libc::SIGRTMIN(), r, 1))
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rest.strip_prefix('-')
            .or((rest.is_empty()).then_some(""))
            .and_then(|r| rt(max, r, -1))
    } else {
        None
    };
    match found {
        Some(n) => Ok(n),
        None => bail!("unknown signal {s:?}: expected a name like TERM or SIGKILL, or a number"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("TERM").ok(), Some(15));
        assert_eq!(parse("SIGTERM").ok(), Some(15));
        assert_eq!(parse("sigkill").ok(), Some(9));
        assert_eq!(parse("9").ok(), Some(9));
        assert_eq!(parse("0").ok(), Some(0));
        assert_eq!(parse("RTMIN+1").ok(), Some(libc::SIGRTMIN() + 1));
        assert_eq!(parse("SIGRTMAX").ok(), Some(libc::SIGRTMAX()));
        for bad in ["", "65", "-1", "FOO", "SIGFOO", "RTMIN+99"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
