//! Config fuzzing (proptest): the seeds of the runtime-spec's own schema tests
//! (../shared/oci-runtime-spec/schema/test/config), mutated in their JSON
//! structure and in their bytes, go through everything `create` checks before
//! it touches the system. None may panic, and every rejection must be one
//! non-empty line.
//!
//! `cargo test fuzz` runs a few hundred cases; `hack/fuzz` runs the ignored
//! `fuzz_config_for_a_while` for HUTCH_FUZZ_SECS seconds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxNamespaceType;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

use crate::commands::create;
use crate::error::Result;
use crate::linux::{mount_options, namespaces};
use crate::spec;

/// Everything `create` checks from the config alone. Namespace paths are not
/// opened (a fuzzed path could name any host file), only their types counted.
fn check(bytes: &[u8]) -> Result<()> {
    let spec = spec::parse(bytes)?;
    spec::validate(&spec)?;
    create::reject_unsupported(&spec)?;
    let listed: Vec<LinuxNamespaceType> = spec
        .linux()
        .iter()
        .flat_map(|l| l.namespaces().iter().flatten())
        .map(|n| n.typ())
        .collect();
    create::check(&spec, |t| listed.contains(&t))?;
    for m in spec.mounts().iter().flatten() {
        mount_options::parse(m.options().as_deref().unwrap_or(&[]));
    }
    namespaces::time_offsets(&spec)?;
    if let Some(l) = spec.linux() {
        if let Some(maps) = l.uid_mappings() {
            namespaces::id_map("linux.uidMappings", maps)?;
        }
        if let Some(maps) = l.gid_mappings() {
            namespaces::id_map("linux.gidMappings", maps)?;
        }
    }
    Ok(())
}

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/oci-runtime-spec/schema/test/config")
}

/// The seed configs; a minimal one of our own when shared/ is not there.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["good", "bad"] {
        let Ok(dir) = std::fs::read_dir(seed_dir().join(sub)) else {
            continue;
        };
        let mut files: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            if let Ok(b) = std::fs::read(&f) {
                out.push(b);
            }
        }
    }
    if out.is_empty() {
        out.push(
            br#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},"args":["sh"]},
                "root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"mount"}]}}"#
                .to_vec(),
        );
    }
    out
}

/// Object keys: some the spec knows, one it does not.
fn keys() -> impl Strategy<Value = String> {
    proptest::sample::select(vec![
        "type",
        "path",
        "source",
        "destination",
        "options",
        "uid",
        "gid",
        "size",
        "hard",
        "soft",
        "args",
        "cwd",
        "bounding",
        "effective",
        "bogus",
    ])
    .prop_map(String::from)
}

/// What may replace a node: odd scalars, strings the runtime treats
/// specially, and small containers of those.
fn values() -> impl Strategy<Value = Value> {
    let strings = prop_oneof![
        Just(String::new()),
        Just("/".to_string()),
        Just("..".to_string()),
        Just("/proc/self/fd/3".to_string()),
        Just("a\nb".to_string()),
        Just("nul\0byte".to_string()),
        Just("x".repeat(5000)),
        Just("CAP_SYS_ADMIN".to_string()),
        Just("pid".to_string()),
        Just("user".to_string()),
        Just("bind".to_string()),
        Just("rbind".to_string()),
        Just("RLIMIT_NOFILE".to_string()),
        Just("net.ipv4.ip_forward".to_string()),
        Just("2.0.0".to_string()),
        proptest::collection::vec(any::<char>(), 0..12).prop_map(|v| v.into_iter().collect()),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(-1)),
        any::<f64>().prop_map(Value::from),
        strings.prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((keys(), inner), 0..4)
                .prop_map(|kv| { Value::Object(kv.into_iter().collect()) }),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the n-th node (pre-order, modulo the node count) by a value.
    Replace(usize, Value),
    Remove(usize),
    /// Append a copy of an array's first element (duplicates: namespaces, rlimits...).
    Duplicate(usize),
    /// Overwrite a byte of the serialized text.
    Byte(usize, u8),
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let one = prop_oneof![
        4 => (any::<usize>(), values()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => any::<usize>().prop_map(Mutation::Remove),
        1 => any::<usize>().prop_map(Mutation::Duplicate),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
    ];
    proptest::collection::vec(one, 1..5)
}

fn count(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count).sum(),
        Value::Object(o) => o.values().map(count).sum(),
        _ => 0,
    }
}

/// Apply `f` to the n-th node in pre-order and its parent container.
fn at(v: &mut Value, n: &mut usize, f: &mut dyn FnMut(&mut Value) -> bool) -> bool {
    if *n == 0 {
        return f(v);
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|c| at(c, n, f)),
        Value::Object(o) => o.values_mut().any(|c| at(c, n, f)),
        _ => false,
    }
}

/// Removes the n-th node from its parent (n counted among non-root nodes).
fn remove(v: &mut Value, n: &mut usize) -> bool {
    match v {
        Value::Array(a) => {
            for i in 0..a.len() {
                if *n == 0 {
                    a.remove(i);
                    return true;
                }
                *n -= 1;
                if remove(&mut a[i], n) {
                    return true;
                }
            }
            false
        }
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                if *n == 0 {
                    o.remove(&k);
                    return true;
                }
                *n -= 1;
                if o.get_mut(&k).is_some_and(|c| remove(c, n)) {
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

fn mutate(seed: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    let mut json: Option<Value> = serde_json::from_slice(seed).ok();
    for m in muts {
        match (m, json.as_mut()) {
            (Mutation::Byte(i, b), _) => {
                if let Some(v) = json.take() {
                    bytes = serde_json::to_vec(&v).unwrap_or_default();
                }
                if !bytes.is_empty() {
                    let i = i % bytes.len();
                    bytes[i] = *b;
                }
            }
            (Mutation::Replace(i, new), Some(v)) => {
                let mut n = i % count(v);
                at(v, &mut n, &mut |node| {
                    *node = new.clone();
                    true
                });
            }
            (Mutation::Remove(i), Some(v)) => {
                let mut n = i % count(v);
                remove(v, &mut n);
            }
            (Mutation::Duplicate(i), Some(v)) => {
                let mut n = i % count(v);
                at(v, &mut n, &mut |node| match node {
                    Value::Array(a) if !a.is_empty() => {
                        a.push(a[0].clone());
                        true
                    }
                    _ => false,
                });
            }
            (_, None) => {}
        }
    }
    match json {
        Some(v) => serde_json::to_vec(&v).unwrap_or_default(),
        None => bytes,
    }
}

fn one_case(seeds: &[Vec<u8>], (i, muts): (usize, Vec<Mutation>)) -> Result<(), TestCaseError> {
    let text = mutate(&seeds[i % seeds.len()], &muts);
    if let Err(e) = check(&text) {
        let msg = e.to_string();
        prop_assert!(
            !msg.trim().is_empty() && !msg.contains('\n'),
            "rejection is not one line: {msg:?}\nconfig: {}",
            String::from_utf8_lossy(&text)
        );
    }
    Ok(())
}

fn run(cases: u32) {
    let seeds = seeds();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (any::<usize>(), mutations());
    if let Err(e) = runner.run(&strategy, |input| one_case(&seeds, input)) {
        panic!("{e}");
    }
}

#[test]
fn every_seed_passes_or_is_rejected_in_one_line() {
    for (i, seed) in seeds().iter().enumerate() {
        if let Err(e) = check(seed) {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "seed {i}: {msg:?}");
        }
    }
}

#[test]
fn fuzz_config() {
    run(300);
}

/// hack/fuzz: as long as HUTCH_FUZZ_SECS says (default 60), fresh cases each round.
#[test]
#[ignore]
fn fuzz_config_for_a_while() {
    let secs = std::env::var("HUTCH_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let until = Instant::now() + Duration::from_secs(secs);
    let mut rounds = 0u64;
    while Instant::now() < until {
        run(1000);
        rounds += 1;
    }
    eprintln!("fuzz: {rounds} rounds of 1000 configs, no panic, every rejection one line");
}
