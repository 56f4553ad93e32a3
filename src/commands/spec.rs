//! `hutch spec`: write a starting config.json, like `runc spec`.

use std::path::Path;

use crate::bail;
use crate::error::{Context, Result};

pub fn run(bundle: &Path, rootless: bool) -> Result<()> {
    if rootless {
        bail!("--rootless: rootless containers are not supported yet");
    }
    use std::io::Write;
    let path = bundle.join("config.json");
    let text = default_config();
    // O_EXCL: anything at that name, a symlink someone planted there
    // (dangling or not) included, is left alone and never followed.
    let mut file = match std::fs::File::create_new(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} already exists; remove it first", path.display())
        }
        Err(e) => {
            return Err(crate::error::Error::from(e).context(format!("creating {}", path.display())))
        }
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// runc's default spec (`runc spec` of runc 1.1, tabs and key order
/// included, so that diffs against it are empty): a read-only root, three
/// capabilities, a deny-all device rule, a read-only cgroup mount. Only the
/// version and the hostname differ. As with runc, `terminal` is true: a
/// foreground `hutch run` gives an interactive shell; `create` needs
/// --console-socket for it.
const TEMPLATE: &str = include_str!("spec.json");

pub fn default_config() -> String {
    TEMPLATE.replace("@OCI_VERSION@", super::state::OCI_VERSION)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_template_is_a_valid_config() {
        let text = super::default_config();
        let spec = crate::spec::parse(text.as_bytes()).expect("spec.json parses");
        crate::spec::validate(&spec).expect("spec.json is valid");
        assert_eq!(spec.version(), crate::commands::state::OCI_VERSION);
    }
}
