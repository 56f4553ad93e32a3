//! Where the oci-spec crate (0.10) departs from config.md, config.json is put
//! right before the crate reads it, so that every config the spec allows
//! loads, and means what the spec says:
//!
//! - `process.scheduler.flags`: the crate spells SCHED_FLAG_RESET_ON_FORK
//!   and SCHED_FLAG_DL_OVERRUN otherwise, so configs that use the spec's
//!   names fail to parse. They are renamed to the crate's spelling; any other
//!   name (the crate's own spelling included) is refused.
//! - `process.execCPUAffinity`: the schema allows spaces and empty lists
//!   ("If omitted or empty, runtime SHOULD NOT change process' CPU
//!   affinity"), the crate refuses both. Spaces and empty elements are
//!   dropped, and an empty list removed.
//! - `process.ioPriority.class` is required by the schema; the crate would
//!   default it to IOPRIO_CLASS_BE.
//!
//! Only configs that hold one of these fields pay for it (a reparse as a
//! serde_json::Value): `needed` looks for their names first.

use serde_json::Value;

use crate::bail;
use crate::error::Result;
use crate::linux::scheduler;

const FIELDS: [&[u8]; 3] = [b"\"scheduler\"", b"\"execCPUAffinity\"", b"\"ioPriority\""];

/// Whether `bytes` may hold a field this module fixes (one pass, looking
/// only where a string starts).
pub fn needed(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'"')
        .any(|(i, _)| FIELDS.iter().any(|f| bytes[i..].starts_with(f)))
}

/// Fix a `process` object; `prefix` is how errors name it ("process." in
/// config.json, "" in an `exec --process` file).
pub fn process(p: &mut Value, prefix: &str) -> Result<()> {
    if let Some(flags) = p
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"))
        .and_then(Value::as_array_mut)
    {
        for (i, f) in flags.iter_mut().enumerate() {
            let Some(flag) = f.as_str().and_then(scheduler::flag_by_name) else {
                let names: Vec<&str> = scheduler::FLAGS.iter().map(|(n, _, _)| *n).collect();
                bail!(
                    "{prefix}scheduler.flags[{i}] {f}: expected one of {}",
                    names.join(", ")
                );
            };
            *f = serde_json::to_value(flag).map_err(|e| crate::error::Error::new(e.to_string()))?;
        }
    }
    if let Some(a) = p.get_mut("execCPUAffinity").and_then(Value::as_object_mut) {
        for key in ["initial", "final"] {
            let Some(Value::String(list)) = a.get(key) else {
                continue;
            };
            let tidy: Vec<String> = list
                .split(',')
                .map(|part| part.replace(' ', ""))
                .filter(|part| !part.is_empty())
                .collect();
            if tidy.is_empty() {
                a.remove(key);
            } else {
                a.insert(key.to_string(), Value::String(tidy.join(",")));
            }
        }
    }
    if let Some(io) = p.get("ioPriority").and_then(Value::as_object) {
        if !io.contains_key("class") {
            bail!("{prefix}ioPriority.class: missing, expected IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Process;

    fn fixed(json: &str) -> Result<Process> {
        assert!(needed(json.as_bytes()));
        let mut v: Value = serde_json::from_str(json).unwrap();
        process(&mut v, "process.")?;
        Ok(serde_json::from_value(v).unwrap())
    }

    const BASE: &str = r#""cwd":"/","user":{"uid":0,"gid":0},"args":["sh"]"#;

    #[test]
    fn spec_names_of_scheduler_flags_load() {
        let p = fixed(&format!(
            r#"{{{BASE},"scheduler":{{"policy":"SCHED_DEADLINE","flags":["SCHED_FLAG_RESET_ON_FORK","SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_KEEP_PARAMS"]}}}}"#
        ))
        .unwrap();
        let flags = p.scheduler().as_ref().unwrap().flags().clone().unwrap();
        assert_eq!(flags.len(), 3);
        for bad in ["SCHED_RESET_ON_FORK", "SCHED_FLAG_BOGUS"] {
            let e = fixed(&format!(
                r#"{{{BASE},"scheduler":{{"policy":"SCHED_OTHER","flags":["{bad}"]}}}}"#
            ))
            .unwrap_err();
            assert!(e.to_string().contains("process.scheduler.flags[0]"), "{e}");
        }
    }

    #[test]
    fn cpu_lists_as_the_schema_allows() {
        let p = fixed(&format!(
            r#"{{{BASE},"execCPUAffinity":{{"initial":" 0 - 1, ,3","final":""}}}}"#
        ))
        .unwrap();
        let a = p.exec_cpu_affinity().as_ref().unwrap();
        assert_eq!(a.initial().as_deref(), Some("0-1,3"));
        assert_eq!(a.cpu_affinity_final(), &None);
    }

    #[test]
    fn io_priority_needs_a_class() {
        let e = fixed(&format!(r#"{{{BASE},"ioPriority":{{"priority":3}}}}"#)).unwrap_err();
        assert!(e.to_string().contains("process.ioPriority.class"), "{e}");
        let p = fixed(&format!(
            r#"{{{BASE},"ioPriority":{{"class":"IOPRIO_CLASS_IDLE"}}}}"#
        ))
        .unwrap();
        assert_eq!(p.io_priority().unwrap().priority(), 0);
    }

    #[test]
    fn other_configs_are_left_alone() {
        assert!(!needed(br#"{"process":{"args":["sh"],"cwd":"/"}}"#));
    }
}
