//! Loading config.json once, into checked types, with errors that name the
//! file, the JSON field and what was expected.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::bail;
use crate::error::{Context, Error, Result};

/// A validated config with the paths resolved against the bundle.
pub struct Config {
    pub spec: Spec,
    /// Absolute bundle directory.
    pub bundle: PathBuf,
    /// Absolute rootfs directory.
    pub rootfs: PathBuf,
    /// SHA-256 of the config.json bytes, recorded so later commands can tell
    /// whether the bundle changed under a live container.
    pub digest: String,
}

pub fn load(bundle: &Path) -> Result<Config> {
    let bundle = fs::canonicalize(bundle)
        .with_context(|| format!("bundle directory {}", bundle.display()))?;
    if !bundle.is_dir() {
        bail!("bundle {} is not a directory", bundle.display());
    }
    let path = bundle.join("config.json");
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let spec = parse(&bytes).with_context(|| path.display())?;
    validate(&spec).with_context(|| path.display())?;

    let root = spec.root().as_ref().ok_or_else(|| {
        Error::new(format!(
            "{}: root: missing, expected an object with \"path\"",
            path.display()
        ))
    })?;
    let rootfs = bundle.join(root.path());
    let rootfs = fs::canonicalize(&rootfs)
        .with_context(|| format!("{}: root.path {}", path.display(), rootfs.display()))?;
    if !rootfs.is_dir() {
        bail!(
            "{}: root.path {} is not a directory",
            path.display(),
            rootfs.display()
        );
    }
    Ok(Config {
        spec,
        bundle,
        rootfs,
        digest: crate::digest::sha256_hex(&bytes),
    })
}

/// JSON syntax errors carry line and column; type errors carry the field path.
pub fn parse(bytes: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde quotes the offending value as it is, newlines included.
        let what = crate::error::one_line(&inner.to_string());
        let path = crate::error::one_line(&path);
        if inner.is_syntax() || inner.is_eof() || path == "." {
            Error::new(format!("malformed JSON: {what}"))
        } else {
            Error::new(format!("field {path}: {what}"))
        }
    })
}

pub fn validate(spec: &Spec) -> Result<()> {
    let version = spec.version();
    let major = version.split('.').next().unwrap_or("");
    if major != "1" {
        bail!("ociVersion {version:?} is not supported: expected 1.x.y");
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::new("process: missing, expected an object"))?;
    match process.args() {
        Some(args) if !args.is_empty() => {}
        _ => bail!("process.args: missing or empty, expected at least the program to run"),
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd {:?} must be an absolute path", process.cwd());
    }
    if let Some(linux) = spec.linux() {
        let mut seen = HashSet::new();
        for ns in linux.namespaces().iter().flatten() {
            if !seen.insert(ns.typ()) {
                bail!(
                    "linux.namespaces: type {:?} is listed more than once",
                    ns_name(ns.typ())
                );
            }
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            bail!(
                "mounts[{i}].destination {:?} must be an absolute path",
                m.destination()
            );
        }
    }
    Ok(())
}

/// The name config.json uses for a namespace type.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        match parse(json.as_bytes()).and_then(|s| validate(&s)) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn names_the_field_of_a_type_error() {
        let e = err(r#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":"sh"}}"#);
        assert!(e.contains("process.args"), "{e}");
    }

    #[test]
    fn reports_line_of_a_syntax_error() {
        let e = err("{\n\"ociVersion\": \"1.0.2\",\n}");
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn quoted_values_keep_the_error_on_one_line() {
        // Found by src/fuzz.rs: serde quotes the bad value, newline and all.
        let e = err(
            r#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},"args":["sh"]},"linux":{"namespaces":[{"type":"a\nb"}]}}"#,
        );
        assert!(!e.contains('\n') && e.contains("a\\nb"), "{e}");
    }

    #[test]
    fn refuses_other_major_versions() {
        let e = err(
            r#"{"ociVersion":"2.0.0","process":{"cwd":"/","user":{"uid":0,"gid":0},"args":["sh"]}}"#,
        );
        assert!(e.contains("ociVersion"), "{e}");
    }

    #[test]
    fn refuses_duplicate_and_unknown_namespaces() {
        let base = r#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},"args":["sh"]},"linux":{"namespaces":"#;
        let e = err(&format!(r#"{base}[{{"type":"pid"}},{{"type":"pid"}}]}}}}"#));
        assert!(e.contains("more than once"), "{e}");
        let e = err(&format!(r#"{base}[{{"type":"bogus"}}]}}}}"#));
        assert!(e.contains("linux.namespaces"), "{e}");
    }
}
