//! One error type for the whole runtime: a message that grows context as it
//! travels up ("create c1: mount proc on /proc: EPERM"), printed as one line.

use std::fmt;

#[derive(Debug)]
pub struct Error {
    msg: String,
    /// The errno of the failing syscall, kept so callers can branch on it.
    errno: Option<nix::errno::Errno>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(msg: impl Into<String>) -> Self {
        Error {
            msg: msg.into(),
            errno: None,
        }
    }

    pub fn errno(&self) -> Option<nix::errno::Errno> {
        self.errno
    }

    /// Prefix this error with what we were doing.
    pub fn context(self, what: impl fmt::Display) -> Self {
        Error {
            msg: format!("{what}: {}", self.msg),
            errno: self.errno,
        }
    }
}

/// `s` with control characters escaped: an error quoting a hostile value
/// (a JSON string holding a newline) must still be one line on stderr.
pub fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error {
            msg: e.to_string(),
            errno: e.raw_os_error().map(nix::errno::Errno::from_raw),
        }
    }
}

impl From<nix::Error> for Error {
    fn from(e: nix::Error) -> Self {
        Error {
            msg: format!("{e:?}: {}", e.desc()),
            errno: Some(e),
        }
    }
}

/// `bail!("...")`: return early with a formatted error.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::new(format!($($arg)*)))
    };
}

/// Attach context to any error that converts into ours.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(what))
    }
    fn with_context<D: fmt::Display, F: FnOnce() -> D>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}
