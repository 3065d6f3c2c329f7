//! The cgroup v2 device controller: a BPF_PROG_TYPE_CGROUP_DEVICE program built from the
//! device rules, loaded and attached to the container's cgroup. Hand-built (a few dozen
//! instructions) rather than through a BPF crate: the program is tiny, and this keeps vrun free
//! of a BPF toolchain and loader library.
//!
//! Semantics as runc's devicefilter: the rules are checked last to first, the first one that
//! matches decides (so later rules override earlier ones, as writes to v1's devices.allow /
//! devices.deny do), and a request no rule matches is denied.

use std::os::fd::AsRawFd;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::sys;

/// One eBPF instruction, as the kernel's struct bpf_insn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8, // dst in the low nibble, src in the high nibble
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | (dst & 0xf),
            off,
            imm,
        }
    }

    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.code;
        b[1] = self.regs;
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }
}

const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K: u8 = 0x57;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JNE_K: u8 = 0x55; // if dst != imm goto pc + off
const JMP_EXIT: u8 = 0x95;

// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }, access_type =
// (access << 16) | type
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// The access bits of a rule; characters other than r, w and m are ignored (see `validate`).
fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| match c {
        'm' => bits | ACC_MKNOD,
        'r' => bits | ACC_READ,
        'w' => bits | ACC_WRITE,
        _ => bits,
    })
}

/// Looks at device rules the way `apply` will use them. Characters other than r, w and m in
/// an access string are ignored with a warning naming the rule, not refused: runc takes them
/// on v1 (its tests and some generated configs carry forms like "rwa"), and a config that
/// runs under runc should run here.
pub fn validate(rules: &[LinuxDeviceCgroup]) -> Result<()> {
    for (i, r) in rules.iter().enumerate() {
        let access = r.access().as_deref().unwrap_or("rwm");
        if let Some(c) = access.chars().find(|c| !matches!(c, 'r' | 'w' | 'm')) {
            tracing::warn!(
                "linux.resources.devices[{i}].access: {c:?} is not one of r, w, m: ignored"
            );
        }
    }
    Ok(())
}

/// The program for `rules` (already validated).
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<Insn> {
    let mut p = vec![
        Insn::new(LDX_MEM_W, 2, 1, 0, 0),        // r2 = access_type
        Insn::new(ALU64_AND_K, 2, 0, 0, 0xffff), // r2 = type
        Insn::new(LDX_MEM_W, 3, 1, 0, 0),        // r3 = access_type
        Insn::new(ALU64_RSH_K, 3, 0, 0, 16),     // r3 = access
        Insn::new(LDX_MEM_W, 4, 1, 4, 0),        // r4 = major
        Insn::new(LDX_MEM_W, 5, 1, 8, 0),        // r5 = minor
    ];
    for rule in rules.iter().rev() {
        let mut checks: Vec<Vec<Insn>> = Vec::new();
        match rule.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::B => checks.push(vec![Insn::new(JMP_JNE_K, 2, 0, 0, DEV_BLOCK)]),
            LinuxDeviceType::C | LinuxDeviceType::U => {
                checks.push(vec![Insn::new(JMP_JNE_K, 2, 0, 0, DEV_CHAR)])
            }
            _ => {}
        }
        let access = access_bits(rule.access().as_deref().unwrap_or("rwm"));
        if access != ACC_MKNOD | ACC_READ | ACC_WRITE {
            // the access asked for must be within the rule's: (asked & !rule) == 0
            checks.push(vec![
                Insn::new(ALU64_MOV_X, 1, 3, 0, 0),
                Insn::new(ALU64_AND_K, 1, 0, 0, !access & 7),
                Insn::new(JMP_JNE_K, 1, 0, 0, 0),
            ]);
        }
        if let Some(major) = rule.major().filter(|m| *m >= 0) {
            checks.push(vec![Insn::new(JMP_JNE_K, 4, 0, 0, major as i32)]);
        }
        if let Some(minor) = rule.minor().filter(|m| *m >= 0) {
            checks.push(vec![Insn::new(JMP_JNE_K, 5, 0, 0, minor as i32)]);
        }
        let unconditional = checks.is_empty();
        let mut block: Vec<Insn> = checks.into_iter().flatten().collect();
        block.push(Insn::new(ALU64_MOV_K, 0, 0, 0, rule.allow() as i32));
        block.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
        // every failed check jumps past the end of this rule's block
        let len = block.len();
        for (i, insn) in block.iter_mut().enumerate() {
            if insn.code == JMP_JNE_K {
                insn.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
        if unconditional {
            // This rule matches everything: nothing after it can run, and the verifier
            // refuses unreachable instructions.
            return p;
        }
    }
    p.push(Insn::new(ALU64_MOV_K, 0, 0, 0, 0)); // no rule matched: deny
    p.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// Loads the program for `rules` and attaches it to the cgroup directory `dir`, in place of
/// the device programs already there: those of a container sharing the cgroup (one
/// `cgroupsPath` for many), or of this one before an `update`. The new one is attached
/// before the old ones are detached, so the processes already in the cgroup never meet a
/// moment without their rules, and a shared cgroup keeps one program, not one a container
/// (the kernel allows 64).
pub fn attach(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    validate(rules)?;
    let code: Vec<u8> = program(rules)
        .into_iter()
        .flat_map(Insn::to_bytes)
        .collect();
    let prog = match sys::bpf_load_device_program(&code) {
        Ok(p) => p,
        // An unprivileged caller (rootless, in a cgroup systemd delegated to it) may not load
        // BPF programs: EPERM, which `Cgroup::apply` reads as such.
        Err((nix::errno::Errno::EPERM, _))
            if !nix::unistd::geteuid().is_root() || crate::in_user_namespace() =>
        {
            return Err(Error::Sys {
                what: "load the eBPF device filter (linux.resources.devices)".into(),
                source: nix::errno::Errno::EPERM,
            })
        }
        Err((e, log)) => {
            return Err(Error::Invalid(format!(
                "load the eBPF device filter (linux.resources.devices): {e}{log}"
            )))
        }
    };
    let cg = std::fs::File::open(dir).map_err(|e| Error::Io {
        what: format!("open {}", dir.display()),
        source: e,
    })?;
    let before = sys::bpf_attached_device_programs(cg.as_raw_fd()).unwrap_or_default();
    sys::bpf_attach_device_program(cg.as_raw_fd(), prog.as_raw_fd()).map_err(|e| Error::Sys {
        what: format!("attach the eBPF device filter to {}", dir.display()),
        source: e,
    })?;
    for id in before {
        // A program detached meanwhile by another container is fine.
        if let Ok(old) = sys::bpf_program_by_id(id) {
            let _ = sys::bpf_detach_device_program(cg.as_raw_fd(), old.as_raw_fd());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::rule;

    /// Runs the program the way the kernel would, on (type, access, major, minor).
    fn eval(p: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> i64 {
        let mut r = [0i64; 11];
        let ctx = [(access << 16) | typ, major, minor];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            match i.code {
                LDX_MEM_W => r[dst] = ctx[(i.off / 4) as usize] as i64,
                ALU64_AND_K => r[dst] &= i.imm as i64,
                ALU64_RSH_K => r[dst] >>= i.imm,
                ALU64_MOV_K => r[dst] = i.imm as i64,
                ALU64_MOV_X => r[dst] = r[src],
                JMP_JNE_K if r[dst] != i.imm as i64 => pc += i.off as usize,
                JMP_JNE_K => {}
                JMP_EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn later_rules_win_and_nothing_matching_is_denied() {
        let rules = vec![
            rule(false, LinuxDeviceType::A, None, None, "rwm"),
            rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"),
            rule(true, LinuxDeviceType::B, None, None, "m"),
            rule(true, LinuxDeviceType::C, Some(136), None, "rw"),
        ];
        let p = program(&rules);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 1); // null
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ, 1, 11), 0); // kmsg: only the deny-all matches
        assert_eq!(eval(&p, DEV_BLOCK, ACC_MKNOD, 8, 0), 1); // mknod of any block device
        assert_eq!(eval(&p, DEV_BLOCK, ACC_READ, 8, 0), 0); // but not reading it
        assert_eq!(eval(&p, DEV_CHAR, ACC_WRITE, 136, 4), 1); // a pty
        assert_eq!(eval(&p, DEV_CHAR, ACC_MKNOD, 136, 4), 0); // no mknod for ptys: access subset
        assert_eq!(eval(&program(&[]), DEV_CHAR, ACC_READ, 1, 3), 0);
        let allow_all = program(&[rule(true, LinuxDeviceType::A, None, None, "rwm")]);
        assert_eq!(eval(&allow_all, DEV_BLOCK, ACC_READ, 8, 0), 1);
        // nothing follows an unconditional rule: the kernel refuses unreachable instructions
        assert_eq!(allow_all.len(), 6 + 2);
        // the config's leading deny-all is the last block, with no default deny after it
        let p = program(&rules);
        assert_eq!(
            &p[p.len() - 2..],
            &[
                Insn::new(ALU64_MOV_K, 0, 0, 0, 0),
                Insn::new(JMP_EXIT, 0, 0, 0, 0)
            ]
        );
        assert_eq!(p.iter().filter(|i| i.code == JMP_EXIT).count(), rules.len());
    }

    #[test]
    fn unknown_access_characters_are_ignored() {
        let rules = [rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwa")];
        assert!(validate(&rules).is_ok());
        let p = program(&rules);
        assert_eq!(eval(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(eval(&p, DEV_CHAR, ACC_WRITE, 1, 3), 1);
        assert_eq!(eval(&p, DEV_CHAR, ACC_MKNOD, 1, 3), 0);
    }
}
