//! Device rules on cgroup v2, which has no devices.allow: the kernel asks an
//! eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup,
//! once per mknod or open of a device node, and allows it if it returns 1.
//!
//! The program is generated from the end state of the rules (device_rules):
//! one block of instructions per exception, then the default. Its input is
//! the kernel's `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }`, access_type being (access << 16) | kind.

use std::os::fd::{AsFd, OwnedFd};

use oci_spec::runtime::LinuxDeviceCgroup;

use super::device_rules::{self, DeviceRules, ALL};
use super::Cgroup;
use crate::bail;
use crate::error::{Context, Error, Result};
use crate::linux::sys;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

impl Insn {
    /// The kernel's layout: opcode, dst and src registers in one byte (dst
    /// in the low nibble on little-endian), offset, immediate.
    fn encode(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            self.dst | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }
}

// Opcodes used (linux/bpf_common.h, linux/bpf.h): class | operation | source.
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
const ALU32_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X: dst = (u32)src
const ALU32_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K: dst &= imm
const ALU32_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K: dst >>= imm
const ALU64_MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K: dst = imm
const JMP32_JNE_K: u8 = 0x56; // BPF_JMP32 | BPF_JNE | BPF_K: if (u32)dst != imm goto +off
const JMP32_JNE_X: u8 = 0x5e; // BPF_JMP32 | BPF_JNE | BPF_X: if (u32)dst != (u32)src goto +off
const JMP32_JEQ_K: u8 = 0x16; // BPF_JMP32 | BPF_JEQ | BPF_K: if (u32)dst == imm goto +off
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT: return r0

// Registers: r1 holds the context on entry; r2..r5 what is read from it;
// r1 is reused as scratch once they are read; r0 is the verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const KIND: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// The program for `rules`: each exception returns the opposite of the
/// default when it applies; no exception applying returns the default.
pub fn program(rules: &DeviceRules) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, KIND, R1, 0, 0),
        insn(ALU32_MOV_X, ACCESS, KIND, 0, 0),
        insn(ALU32_AND_K, KIND, 0, 0, 0xffff),
        insn(ALU32_RSH_K, ACCESS, 0, 0, 16),
        insn(LDX_MEM_W, MAJOR, R1, 4, 0),
        insn(LDX_MEM_W, MINOR, R1, 8, 0),
    ];
    let verdict = |allow: bool| i32::from(allow);
    for e in &rules.exceptions {
        // Jumps to "next" are patched once the block's length is known.
        let mut block = vec![insn(JMP32_JNE_K, KIND, 0, 0, e.kind as i32)];
        if e.access != ALL {
            block.push(insn(ALU32_MOV_X, R1, ACCESS, 0, 0));
            block.push(insn(ALU32_AND_K, R1, 0, 0, e.access as i32));
            if rules.default_allow {
                // A deny exception applies if it touches any of the access.
                block.push(insn(JMP32_JEQ_K, R1, 0, 0, 0));
            } else {
                // An allow exception applies only if it grants all of it.
                block.push(insn(JMP32_JNE_X, R1, ACCESS, 0, 0));
            }
        }
        if let Some(major) = e.major {
            // Compared as 32 bits: the immediate's bit pattern is the number.
            block.push(insn(JMP32_JNE_K, MAJOR, 0, 0, major as i32));
        }
        if let Some(minor) = e.minor {
            block.push(insn(JMP32_JNE_K, MINOR, 0, 0, minor as i32));
        }
        block.push(insn(ALU64_MOV_K, R0, 0, 0, verdict(!rules.default_allow)));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code & 0x07 == 0x06 {
                // A jump lands relative to the instruction after it.
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU64_MOV_K, R0, 0, 0, verdict(rules.default_allow)));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Replace the device program of the container's cgroup with one for
/// `rules` (already validated). The new program is attached before the old
/// ones are detached: meanwhile both must allow, never neither.
pub fn apply(cg: &Cgroup, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    const FIELD: &str = "linux.resources.devices";
    let state = device_rules::compute(rules)?;
    let Some(dir) = cg.v2_dir() else {
        bail!("no cgroup v2 directory recorded");
    };
    let cgroup =
        std::fs::File::open(dir).with_context(|| format!("{FIELD}: opening {}", dir.display()))?;
    let old = sys::bpf_prog_query_device(cgroup.as_fd()).map_err(|e| {
        Error::from(e).context(format!(
            "{FIELD}: listing the device programs of {}",
            dir.display()
        ))
    })?;
    let code: Vec<[u8; 8]> = program(&state).into_iter().map(Insn::encode).collect();
    let prog = load(&code)?;
    sys::bpf_prog_attach_device(cgroup.as_fd(), prog.as_fd()).map_err(|e| {
        Error::from(e).context(format!(
            "{FIELD}: attaching the device program to {}",
            dir.display()
        ))
    })?;
    for id in old {
        let detached = sys::bpf_prog_get_fd_by_id(id)
            .and_then(|fd| sys::bpf_prog_detach_device(cgroup.as_fd(), fd.as_fd()));
        if let Err(e) = detached {
            return Err(Error::from(e).context(format!(
                "{FIELD}: detaching the previous device program (id {id}) from {}",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// BPF_PROG_LOAD; on failure, once more with the verifier's log, whose last
/// line says what it did not like.
fn load(code: &[[u8; 8]]) -> Result<OwnedFd> {
    const FIELD: &str = "linux.resources.devices";
    match sys::bpf_prog_load_device(code, None) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = sys::bpf_prog_load_device(code, Some(&mut log));
            let text = String::from_utf8_lossy(&log);
            let last = text
                .trim_end_matches('\0')
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string();
            let why = if last.is_empty() {
                String::new()
            } else {
                format!(" (verifier: {last})")
            };
            Err(Error::from(e).context(format!(
                "{FIELD}: loading the eBPF device program{why}; cgroup v2 needs one for device rules"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::device_rules::{Kind, MKNOD, READ, WRITE};

    /// Runs the instructions `program` emits on one input, as the kernel's
    /// interpreter would.
    fn run(p: &[Insn], kind: Kind, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s) = (i.dst as usize, i.src as usize);
            pc += 1;
            let jump = |pc: &mut usize| *pc = (*pc as isize + i.off as isize) as usize;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(s, 1, "loads only from the context");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU32_MOV_X => r[d] = r[s] & 0xffff_ffff,
                ALU32_AND_K => r[d] = (r[d] as u32 & i.imm as u32) as u64,
                ALU32_RSH_K => r[d] = (r[d] as u32 >> i.imm) as u64,
                ALU64_MOV_K => r[d] = i.imm as i64 as u64,
                JMP32_JNE_K if r[d] as u32 != i.imm as u32 => jump(&mut pc),
                JMP32_JNE_X if r[d] as u32 != r[s] as u32 => jump(&mut pc),
                JMP32_JEQ_K if r[d] as u32 == i.imm as u32 => jump(&mut pc),
                JMP32_JNE_K | JMP32_JNE_X | JMP32_JEQ_K => {}
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            assert!(pc < p.len(), "ran off the end");
        }
    }

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("rules json")
    }

    /// The program decides as the kernel's v1 logic would, for every kind,
    /// access combination and a spread of numbers, including ones above 2^31.
    #[test]
    fn program_agrees_with_the_rules() {
        for json in [
            r#"[{"allow": false},
                {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"},
                {"allow": true, "type": "b", "major": 4294967295, "access": "rw"},
                {"allow": true, "type": "b", "minor": 3000000000, "access": "w"}]"#,
            r#"[{"allow": true},
                {"allow": false, "type": "b", "major": 8, "access": "w"},
                {"allow": false, "type": "c", "major": 1, "minor": 11, "access": "rw"},
                {"allow": false, "type": "c", "minor": 4294967295, "access": "m"}]"#,
            r#"[{"allow": false}]"#,
            r#"[{"allow": true}]"#,
        ] {
            let state = device_rules::compute(&rules(json)).unwrap();
            let p = program(&state);
            let numbers = [0u32, 1, 3, 5, 8, 10, 11, 136, 200, 3_000_000_000, u32::MAX];
            for kind in [Kind::Block, Kind::Char] {
                for access in 1..=(MKNOD | READ | WRITE) {
                    for &major in &numbers {
                        for &minor in &numbers {
                            let want = u64::from(state.allows(kind, major, minor, access));
                            let got = run(&p, kind, access, major, minor);
                            assert_eq!(
                                got, want,
                                "{json}: {kind:?} {major}:{minor} access {access}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// The kernel loads the program, attaches it, enforces it on a process in
    /// the cgroup, and a second `apply` replaces it. Runs wherever a cgroup2
    /// tree is mounted (hybrid hosts have an empty one at
    /// /sys/fs/cgroup/unified, whose cgroups also carry device programs).
    #[test]
    fn the_kernel_enforces_the_program_and_apply_replaces_it() {
        use std::path::{Path, PathBuf};
        use std::process::Command;
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let Some(base) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.subtree_control").exists())
        else {
            eprintln!("skipped: no cgroup2 tree mounted");
            return;
        };
        struct Gone(PathBuf);
        impl Drop for Gone {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let dir = base.join(format!("hutch-devtest-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let _gone = Gone(dir.clone());
        let cg = Cgroup {
            version: crate::cgroups::Version::V2,
            dirs: vec![crate::cgroups::Dir {
                controllers: String::new(),
                mount: base.to_path_buf(),
                path: dir.clone(),
                existed: true,
                made_parent: None,
            }],
        };
        // A shell in the cgroup opens /dev/null (a default rule allows it)
        // and /dev/kmsg (c 1:11) for reading.
        let opens_kmsg = || {
            let script = format!(
                "echo $$ > {}/cgroup.procs && : </dev/null && : </dev/kmsg",
                dir.display()
            );
            Command::new("/bin/sh")
                .args(["-c", &script])
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
                .success()
        };
        assert!(opens_kmsg(), "kmsg not readable before any program");
        apply(&cg, &rules(r#"[{"allow": false}]"#)).unwrap();
        assert!(!opens_kmsg(), "kmsg readable with every device denied");
        apply(
            &cg,
            &rules(r#"[{"allow": false}, {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]"#),
        )
        .unwrap();
        assert!(
            opens_kmsg(),
            "kmsg still denied: the first program is still attached"
        );
        let f = std::fs::File::open(&dir).unwrap();
        assert_eq!(sys::bpf_prog_query_device(f.as_fd()).unwrap().len(), 1);
    }

    #[test]
    fn encodes_as_the_kernel_lays_out_struct_bpf_insn() {
        let i = insn(JMP32_JNE_X, 1, 3, -2, 0x1234_5678);
        assert_eq!(i.encode(), [0x5e, 0x31, 0xfe, 0xff, 0x78, 0x56, 0x34, 0x12]);
    }
}
