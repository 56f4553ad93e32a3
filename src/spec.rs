//! Loading config.json once, into checked types, with errors that name the
//! file, the JSON field and what was expected.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};
use serde_json::Value;

use crate::bail;
use crate::error::{Context, Error, Result};
use crate::oci_compat;

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
    let bytes = read_json_file(&path)?;
    let mut spec = parse(&bytes).with_context(|| path.display())?;
    absolutize(&mut spec);
    validate(&spec)
        .and_then(|()| validate_runnable(&spec))
        .with_context(|| path.display())?;

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

/// Far above any real config (a full seccomp profile is ~60 KiB), low enough
/// that a runaway file is refused at once instead of parsed for seconds.
pub const MAX_JSON_FILE: u64 = 16 << 20;

/// Reads a JSON file given to hutch (config.json, --process, --resources).
/// Only a regular file: a FIFO would block the open and the read forever, a
/// device or a directory is a mistake. O_NONBLOCK keeps the open of a FIFO
/// from waiting for a writer; the fstat then refuses it.
pub fn read_json_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let meta = f
        .metadata()
        .with_context(|| format!("reading {}", path.display()))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        bail!("{} is {what}, expected a regular file", path.display());
    }
    if meta.len() > MAX_JSON_FILE {
        bail!(
            "{} is {} bytes, expected at most {} (16 MiB)",
            path.display(),
            meta.len(),
            MAX_JSON_FILE
        );
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // take(): the file may grow between the fstat and the read.
    f.take(MAX_JSON_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_JSON_FILE {
        bail!(
            "{} grew beyond {MAX_JSON_FILE} bytes while read",
            path.display()
        );
    }
    Ok(bytes)
}

/// JSON must be UTF-8 (RFC 8259) and hutch's documents are objects. serde
/// checks neither where it skips a value, and it takes `[]` for a struct.
fn check_json_document(bytes: &[u8]) -> Result<()> {
    if let Err(e) = std::str::from_utf8(bytes) {
        bail!(
            "not valid UTF-8 (byte {} of the file), expected JSON text",
            e.valid_up_to()
        );
    }
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        None => bail!("empty, expected a JSON object"),
        Some(_) => bail!("malformed JSON: expected an object {{...}} at the top"),
    }
}

/// JSON syntax errors carry line and column; type errors carry the field path.
pub fn parse(bytes: &[u8]) -> Result<Spec> {
    check_json_document(bytes)?;
    if !oci_compat::needed(bytes) {
        return from_slice(bytes);
    }
    let mut v: Value = deserialize(&mut serde_json::Deserializer::from_slice(bytes))?;
    if let Some(p) = v.get_mut("process") {
        oci_compat::process(p, "process.")?;
    }
    deserialize(v)
}

/// Any other JSON object hutch reads (update --resources), with the same
/// checks and error messages as config.json.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    check_json_document(bytes)?;
    deserialize(&mut serde_json::Deserializer::from_slice(bytes))
}

/// An `exec --process` file: a config.json `process` object alone.
pub fn parse_process(bytes: &[u8]) -> Result<Process> {
    check_json_document(bytes)?;
    if !oci_compat::needed(bytes) {
        return from_slice(bytes);
    }
    let mut v: Value = deserialize(&mut serde_json::Deserializer::from_slice(bytes))?;
    oci_compat::process(&mut v, "")?;
    deserialize(v)
}

/// Plain serde_json first; only a config that fails is read again with path
/// tracking, for an error that names the field. The tracking wrapper doubles
/// the deserialisation code (~400 KiB of the binary): kept off the path of a
/// good config, those pages are never touched (peak RSS).
fn from_slice<'de, T: serde::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(_) => deserialize(&mut serde_json::Deserializer::from_slice(bytes)),
    }
}

fn deserialize<'de, T, D>(de: D) -> Result<T>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // serde quotes the offending value as it is, newlines included.
        let what = plain_words(crate::error::one_line(&inner.to_string()));
        let path = crate::error::one_line(&path);
        if inner.is_syntax() || inner.is_eof() {
            Error::new(format!("malformed JSON: {what}"))
        } else if path == "." {
            // Well-formed, but a field of the top object is missing or wrong.
            Error::new(what)
        } else {
            Error::new(format!("field {path}: {what}"))
        }
    })
}

/// oci-spec's own wording for an unknown capability ("no variant for
/// CAP_BOGUS (converted to BOGUS)") in the user's terms. The rest of serde's
/// messages already say what was found and what was expected.
fn plain_words(what: String) -> String {
    let Some(rest) = what.strip_prefix("no variant for ") else {
        return what;
    };
    let name = rest.split(" (converted to ").next().unwrap_or(rest);
    let at = rest.find(" at line ").map_or("", |i| &rest[i..]);
    format!("unknown capability {name:?}, expected a name like \"CAP_CHOWN\" (capabilities(7)){at}")
}

/// config-linux.md and config.md want absolute paths in maskedPaths,
/// readonlyPaths and mount destinations; runc takes relative ones as
/// relative to the container's `/`, with a warning, and configs in the wild
/// rely on it. hutch does the same, before anything else reads them. (They
/// are resolved beneath the rootfs like any other: `../x` is `/x`.)
fn absolutize(spec: &mut Spec) {
    fn fix(field: &str, p: &mut String) {
        if !p.starts_with('/') {
            let abs = format!("/{p}");
            log::warn!("{field} {p:?} is not an absolute path: taken as {abs:?}");
            *p = abs;
        }
    }
    if let Some(linux) = spec.linux_mut() {
        for (i, p) in linux.masked_paths_mut().iter_mut().flatten().enumerate() {
            fix(&format!("linux.maskedPaths[{i}]"), p);
        }
        for (i, p) in linux.readonly_paths_mut().iter_mut().flatten().enumerate() {
            fix(&format!("linux.readonlyPaths[{i}]"), p);
        }
    }
    for (i, m) in spec.mounts_mut().iter_mut().flatten().enumerate() {
        if !m.destination().is_absolute() {
            let abs = Path::new("/").join(m.destination());
            log::warn!(
                "mounts[{i}].destination {:?} is not an absolute path: taken as {:?}",
                m.destination(),
                abs
            );
            m.set_destination(abs);
        }
    }
}

/// What the schema (schema/config-schema.json) demands of any config, Linux
/// or not, beyond the types serde already checks.
pub fn validate(spec: &Spec) -> Result<()> {
    let version = spec.version();
    // Required by config.md, but runc runs configs without it (hand-written
    // ones, older generators): so does hutch. One that is there must be 1.x.
    let major = version.split('.').next().unwrap_or("");
    if !version.is_empty() && major != "1" {
        bail!("ociVersion {version:?} is not supported: expected 1.x.y");
    }
    for (name, present) in [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
    ] {
        if present {
            bail!("{name}: this config is for another platform; hutch runs Linux containers");
        }
    }
    // sethostname(2) says only EINVAL past HOST_NAME_MAX.
    for (field, name) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if let Some(n) = name.as_deref().filter(|n| n.len() > 64) {
            bail!("{field}: {} bytes, expected at most 64", n.len());
        }
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
        // config-linux.md: "The values MUST be absolute paths in the
        // container namespace."
        for (field, paths) in [
            ("maskedPaths", linux.masked_paths()),
            ("readonlyPaths", linux.readonly_paths()),
        ] {
            for (i, p) in paths.iter().flatten().enumerate() {
                if !p.starts_with('/') {
                    bail!("linux.{field}[{i}] {p:?} must be an absolute path");
                }
            }
        }
        let hugepages = linux
            .resources()
            .as_ref()
            .and_then(|r| r.hugepage_limits().as_deref())
            .unwrap_or(&[]);
        for (i, h) in hugepages.iter().enumerate() {
            if !is_page_size(h.page_size()) {
                bail!(
                    "linux.resources.hugepageLimits[{i}].pageSize {:?}: expected a size like 2MB or 1GB",
                    h.page_size()
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

/// The schema's pattern for hugepage sizes: ^[1-9][0-9]*[KMG]B$.
fn is_page_size(s: &str) -> bool {
    let Some(num) = s
        .strip_suffix("KB")
        .or_else(|| s.strip_suffix("MB"))
        .or_else(|| s.strip_suffix("GB"))
    else {
        return false;
    };
    !num.is_empty() && !num.starts_with('0') && num.bytes().all(|b| b.is_ascii_digit())
}

/// What `create` needs on top of a valid config: a process to run.
fn validate_runnable(spec: &Spec) -> Result<()> {
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
    crate::linux::user::check(process.user())
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
        match parse(json.as_bytes()).and_then(|s| validate(&s).and_then(|()| validate_runnable(&s)))
        {
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

    #[test]
    fn unknown_capabilities_are_named_in_plain_words() {
        let e = err(
            r#"{"ociVersion":"1.0.2","process":{"cwd":"/","args":["sh"],"capabilities":{"bounding":["CAP_BOGUS"]}}}"#,
        );
        assert!(e.contains("process.capabilities.bounding[0]"), "{e}");
        assert!(e.contains("unknown capability \"CAP_BOGUS\""), "{e}");
        assert!(!e.contains("variant") && !e.contains("converted"), "{e}");
    }

    #[test]
    fn refuses_relative_masked_and_readonly_paths() {
        let base = r#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},"args":["sh"]},"linux":"#;
        for field in ["maskedPaths", "readonlyPaths"] {
            let e = err(&format!(
                r#"{base}{{"{field}":["/proc/kcore","rel/path"]}}}}"#
            ));
            assert!(e.contains(&format!("linux.{field}[1]")), "{e}");
            assert!(e.contains("absolute"), "{e}");
        }
    }

    /// The spec's own samples (shared/oci-runtime-spec/schema/test/config),
    /// found beside the repository as CI lays it out.
    fn samples(kind: &str) -> Option<Vec<PathBuf>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/oci-runtime-spec/schema/test/config")
            .join(kind);
        let Ok(entries) = fs::read_dir(&dir) else {
            println!("skipped: no schema samples at {}", dir.display());
            return None;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        Some(files)
    }

    fn is_linux_sample(p: &Path) -> bool {
        let name = p.file_name().unwrap().to_string_lossy();
        !name.starts_with("freebsd-") && !name.starts_with("zos-")
    }

    #[test]
    fn accepts_the_good_linux_schema_samples() {
        let Some(files) = samples("good") else { return };
        let mut checked = 0;
        for f in files.iter().filter(|f| is_linux_sample(f)) {
            let bytes = fs::read(f).unwrap();
            let mut spec = parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            if !spec.version().starts_with("1.") {
                // spec-example.json still says 0.5.0-dev: hutch refuses
                // that by name; everything else in it must pass.
                let e = validate(&spec).expect_err("a pre-1.0 ociVersion accepted");
                assert!(e.to_string().contains("ociVersion"), "{e}");
                spec.set_version("1.0.0".into());
            }
            validate(&spec).unwrap_or_else(|e| panic!("{}: refused: {e}", f.display()));
            // Those with a process are runnable as they are.
            if spec.process().is_some() {
                validate_runnable(&spec).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            }
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} good Linux samples found");
    }

    #[test]
    fn refuses_the_bad_schema_samples_naming_the_field() {
        let Some(files) = samples("bad") else { return };
        assert!(!files.is_empty());
        for f in &files {
            let bytes = fs::read(f).unwrap();
            let e = match parse(&bytes)
                .and_then(|s| validate(&s).and_then(|()| validate_runnable(&s)))
            {
                Ok(_) => panic!("{}: accepted", f.display()),
                Err(e) => e.to_string(),
            };
            let name = f.file_name().unwrap().to_string_lossy();
            let want = match name.as_ref() {
                "invalid-json.json" => "malformed JSON",
                "linux-hugepage.json" => "linux.resources.hugepageLimits[0].pageSize",
                "linux-netdevice.json" => "linux.netDevices",
                "linux-rdma.json" => "linux.resources.rdma",
                // FreeBSD's section is unknown to a Linux runtime; what
                // refuses it is the missing process.
                _ => "",
            };
            assert!(e.contains(want), "{}: {e}", f.display());
            assert!(
                !e.contains('\n'),
                "{}: more than one line: {e}",
                f.display()
            );
        }
    }

    #[test]
    fn page_sizes() {
        for ok in ["2MB", "64KB", "1GB", "16MB"] {
            assert!(is_page_size(ok), "{ok}");
        }
        for bad in ["64kB", "0MB", "MB", "2mb", "2 MB", "2M"] {
            assert!(!is_page_size(bad), "{bad}");
        }
    }
}
