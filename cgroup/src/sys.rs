//! The bpf(2) calls of the v2 device controller, which nix does not wrap. Every `unsafe` block
//! of the crate is here.

#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// BPF_PROG_LOAD of a cgroup device program (`code`: struct bpf_insn, 8 bytes each). On failure
/// returns the errno and the verifier's log.
pub fn bpf_load_device_program(code: &[u8]) -> Result<OwnedFd, (Errno, String)> {
    let license = c"Apache";
    let mut log = vec![0u8; 64 * 1024];
    // union bpf_attr, BPF_PROG_LOAD part: prog_type, insn_cnt, insns, license, log_level,
    // log_size, log_buf (the rest stays zero).
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_CGROUP_DEVICE.to_ne_bytes());
    attr[4..8].copy_from_slice(&((code.len() / 8) as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(code.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&1u32.to_ne_bytes());
    attr[28..32].copy_from_slice(&(log.len() as u32).to_ne_bytes());
    attr[32..40].copy_from_slice(&(log.as_mut_ptr() as u64).to_ne_bytes());
    // SAFETY: attr is a valid bpf_attr for BPF_PROG_LOAD; every pointer in it (code, license,
    // log) refers to memory that outlives the call, with the lengths given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            attr.as_ptr(),
            attr.len() as u32,
        )
    };
    if fd < 0 {
        let errno = Errno::last();
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)])
            .trim()
            .to_string();
        return Err((
            errno,
            if text.is_empty() {
                String::new()
            } else {
                format!(" (verifier: {text})")
            },
        ));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_PROG_ATTACH of a device program to a cgroup directory fd, allowing the programs of
/// ancestors (and others) to keep applying too.
pub fn bpf_attach_device_program(cgroup: RawFd, prog: RawFd) -> Result<(), Errno> {
    let mut attr = [0u8; 32];
    attr[0..4].copy_from_slice(&(cgroup as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    attr[12..16].copy_from_slice(&BPF_F_ALLOW_MULTI.to_ne_bytes());
    // SAFETY: attr is a valid bpf_attr for BPF_PROG_ATTACH holding only integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            attr.as_ptr(),
            attr.len() as u32,
        )
    };
    Errno::result(ret).map(drop)
}

/// The ids of the device programs attached to a cgroup directory fd (its own, not its
/// ancestors'), up to 64 (the kernel's limit per cgroup and attach type).
pub fn bpf_attached_device_programs(cgroup: RawFd) -> Result<Vec<u32>, Errno> {
    let mut ids = [0u32; 64];
    // union bpf_attr, query part: target_fd, attach_type, query_flags, attach_flags,
    // prog_ids (a pointer), prog_cnt (in: room, out: count).
    let mut attr = [0u8; 40];
    attr[0..4].copy_from_slice(&(cgroup as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    attr[16..24].copy_from_slice(&(ids.as_mut_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&(ids.len() as u32).to_ne_bytes());
    // SAFETY: attr is a valid bpf_attr for BPF_PROG_QUERY; prog_ids points to `ids`, which
    // has room for prog_cnt entries and outlives the call; the kernel writes prog_cnt back
    // into attr.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_QUERY,
            attr.as_mut_ptr(),
            attr.len() as u32,
        )
    };
    Errno::result(ret)?;
    let mut count = [0u8; 4];
    count.copy_from_slice(&attr[24..28]);
    let n = (u32::from_ne_bytes(count) as usize).min(ids.len());
    Ok(ids[..n].to_vec())
}

/// BPF_PROG_GET_FD_BY_ID: an fd for an attached program, to detach it with.
pub fn bpf_program_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&id.to_ne_bytes());
    // SAFETY: attr is a valid bpf_attr for BPF_PROG_GET_FD_BY_ID holding only integers.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_GET_FD_BY_ID,
            attr.as_ptr(),
            attr.len() as u32,
        )
    };
    Errno::result(fd)?;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_PROG_DETACH of one device program from a cgroup directory fd.
pub fn bpf_detach_device_program(cgroup: RawFd, prog: RawFd) -> Result<(), Errno> {
    let mut attr = [0u8; 32];
    attr[0..4].copy_from_slice(&(cgroup as u32).to_ne_bytes());
    attr[4..8].copy_from_slice(&(prog as u32).to_ne_bytes());
    attr[8..12].copy_from_slice(&BPF_CGROUP_DEVICE.to_ne_bytes());
    // SAFETY: attr is a valid bpf_attr for BPF_PROG_DETACH holding only integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_DETACH,
            attr.as_ptr(),
            attr.len() as u32,
        )
    };
    Errno::result(ret).map(drop)
}
