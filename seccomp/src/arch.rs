//! The architectures vrun compiles filters for: their audit arch (what the kernel puts in
//! seccomp_data.arch), syscall table and argument width. All are little-endian, so an
//! argument's low word is at offset 16 + 8*i and its high word 4 bytes later.

use crate::profile::Arch;
use crate::tables;

pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub(crate) const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
pub(crate) const AUDIT_ARCH_ARM: u32 = 0x4000_0028;
pub(crate) const AUDIT_ARCH_RISCV64: u32 = 0xc000_00f3;
/// x32 shares x86_64's audit arch; its syscall numbers carry this bit.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

pub(crate) struct ArchInfo {
    pub arch: Arch,
    pub audit: u32,
    /// (name, number), sorted by name.
    pub table: &'static [(&'static str, u32)],
    /// Arguments are 32 bits wide: only the low word is compared, as libseccomp does.
    pub args32: bool,
}

pub const SUPPORTED: [Arch; 6] = [
    Arch::X86_64,
    Arch::X86,
    Arch::X32,
    Arch::Aarch64,
    Arch::Arm,
    Arch::Riscv64,
];

pub(crate) fn info(arch: Arch) -> Option<ArchInfo> {
    let (audit, table, args32) = match arch {
        Arch::X86_64 => (AUDIT_ARCH_X86_64, tables::X86_64, false),
        Arch::X32 => (AUDIT_ARCH_X86_64, tables::X32, true),
        Arch::X86 => (AUDIT_ARCH_I386, tables::X86, true),
        Arch::Aarch64 => (AUDIT_ARCH_AARCH64, tables::AARCH64, false),
        Arch::Arm => (AUDIT_ARCH_ARM, tables::ARM, true),
        Arch::Riscv64 => (AUDIT_ARCH_RISCV64, tables::RISCV64, false),
        _ => return None,
    };
    Some(ArchInfo {
        arch,
        audit,
        table,
        args32,
    })
}

/// The architecture vrun itself was built for: always in the filter, as libseccomp's
/// native arch is.
pub fn native() -> Arch {
    if cfg!(target_arch = "x86_64") {
        Arch::X86_64
    } else if cfg!(target_arch = "aarch64") {
        Arch::Aarch64
    } else if cfg!(target_arch = "x86") {
        Arch::X86
    } else if cfg!(target_arch = "arm") {
        Arch::Arm
    } else {
        Arch::Riscv64
    }
}

impl ArchInfo {
    pub fn number(&self, name: &str) -> Option<u32> {
        self.table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| self.table[i].1)
    }

    /// The highest syscall number the table knows: above it lies what the kernel added
    /// after this table (answered with ENOSYS, as runc does, so that libcs fall back).
    pub fn max_number(&self) -> u32 {
        self.table
            .iter()
            .map(|(_, n)| *n)
            .filter(|n| *n < 0x000f_0000 || *n >= X32_SYSCALL_BIT)
            .max()
            .unwrap_or(0)
    }
}
