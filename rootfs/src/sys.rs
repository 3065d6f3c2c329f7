//! openat2 and mount_setattr, which nix 0.29 does not wrap. Every `unsafe` block of the crate
//! is here.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2) with RESOLVE_IN_ROOT: `path` is resolved as if `root` were "/", so neither
/// ".." nor an absolute symlink can leave it.
pub fn openat2_in_root(
    root: BorrowedFd,
    path: &str,
    flags: i32,
    mode: u32,
) -> Result<OwnedFd, Errno> {
    openat2(
        root,
        path,
        flags,
        mode,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

/// openat2(2) with the given RESOLVE_* flags; the fd is close-on-exec.
pub fn openat2(
    dir: BorrowedFd,
    path: &str,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    let root = dir;
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: `c` and `how` outlive the call; the size passed is the struct's own.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if ret >= 0 {
            // SAFETY: the kernel returned a new fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) });
        }
        match Errno::last() {
            // openat2 asks for a retry when a rename raced the lookup.
            Errno::EAGAIN => continue,
            e => return Err(e),
        }
    }
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount at `fd`, recursively when asked: how the recursive options
/// (rro, rnosuid, ...) are applied to a whole tree at once.
pub fn mount_setattr(fd: BorrowedFd, recursive: bool, set: u64, clear: u64) -> Result<(), Errno> {
    mount_setattr_raw(
        fd,
        recursive,
        &MountAttr {
            attr_set: set,
            attr_clr: clear,
            propagation: 0,
            userns_fd: 0,
        },
    )
}

/// Makes a detached mount (open_tree(OPEN_TREE_CLONE)) idmapped with the mapping of the
/// user namespace `userns` is open on (MOUNT_ATTR_IDMAP); recursively over its submounts
/// with `recursive`.
pub fn mount_setattr_idmap(
    fd: BorrowedFd,
    recursive: bool,
    userns: BorrowedFd,
) -> Result<(), Errno> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    mount_setattr_raw(
        fd,
        recursive,
        &MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: userns.as_raw_fd() as u64,
        },
    )
}

fn mount_setattr_raw(fd: BorrowedFd, recursive: bool, attr: &MountAttr) -> Result<(), Errno> {
    let empty = c"";
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: `attr` and the empty path outlive the call; size is the struct's own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
pub const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
pub const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
pub const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

fn new_fd(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// A filesystem context of the new mount API (fsopen): configured key by key, so that no
/// option string has to fit in a page.
pub struct FsContext(OwnedFd);

impl FsContext {
    pub fn open(fstype: &str) -> Result<FsContext, Errno> {
        let name = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
        // SAFETY: the name is NUL-terminated and outlives the call.
        new_fd(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })
            .map(FsContext)
    }

    fn config(
        &self,
        cmd: libc::c_uint,
        key: Option<&str>,
        value: Option<&str>,
    ) -> Result<(), Errno> {
        let key = key
            .map(CString::new)
            .transpose()
            .map_err(|_| Errno::EINVAL)?;
        let value = value
            .map(CString::new)
            .transpose()
            .map_err(|_| Errno::EINVAL)?;
        // SAFETY: key and value are NUL-terminated (or null) and outlive the call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                self.0.as_raw_fd(),
                cmd,
                key.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
                value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr()),
                0,
            )
        };
        Errno::result(ret).map(drop)
    }

    /// fsconfig(FSCONFIG_SET_STRING, key, value).
    pub fn set(&self, key: &str, value: &str) -> Result<(), Errno> {
        self.config(FSCONFIG_SET_STRING, Some(key), Some(value))
    }

    /// Creates the superblock and returns a detached mount of it with `attrs`
    /// (MOUNT_ATTR_*).
    pub fn mount(self, attrs: libc::c_uint) -> Result<OwnedFd, Errno> {
        self.config(FSCONFIG_CMD_CREATE, None, None)?;
        // SAFETY: the context is configured and open.
        new_fd(unsafe {
            libc::syscall(
                libc::SYS_fsmount,
                self.0.as_raw_fd(),
                FSMOUNT_CLOEXEC,
                attrs,
            )
        })
    }
}

/// Attaches a detached mount (from [`FsContext::mount`]) at `target`.
pub fn move_mount_to(mount: &OwnedFd, target: &std::path::Path) -> Result<(), Errno> {
    use std::os::unix::ffi::OsStrExt;
    let target = CString::new(target.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: both paths are NUL-terminated and outlive the call; mount is open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

const OPEN_TREE_CLONE: u32 = 1;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// open_tree(2) with OPEN_TREE_CLONE: a detached copy of the mount at `path` (with the mounts
/// under it when `recursive`), which [`move_mount_fd`] can attach in another mount namespace.
pub fn open_tree_clone(path: &std::path::Path, recursive: bool) -> Result<OwnedFd, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: the path is NUL-terminated and outlives the call.
    new_fd(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) })
}

/// Attaches a detached mount on the file or directory `target` is open on (O_PATH), with
/// no path lookup on either side.
pub fn move_mount_fd(mount: BorrowedFd, target: BorrowedFd) -> Result<(), Errno> {
    // SAFETY: the empty paths are NUL-terminated statics; both fds are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop)
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
pub const LO_FLAGS_AUTOCLEAR: u32 = 4;

#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// LOOP_CTL_GET_FREE on /dev/loop-control: the number of a free loop device.
pub fn loop_get_free(control: &OwnedFd) -> Result<u32, Errno> {
    // SAFETY: this ioctl takes no argument.
    let ret = unsafe { libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE as _) };
    Errno::result(ret).map(|n| n as u32)
}

/// LOOP_CONFIGURE: backs the loop device `dev` with `backing`, with `flags` (LO_FLAGS_*).
pub fn loop_configure(dev: &OwnedFd, backing: &OwnedFd, flags: u32) -> Result<(), Errno> {
    let config = LoopConfig {
        fd: backing.as_raw_fd() as u32,
        block_size: 0,
        info: LoopInfo64 {
            lo_device: 0,
            lo_inode: 0,
            lo_rdevice: 0,
            lo_offset: 0,
            lo_sizelimit: 0,
            lo_number: 0,
            lo_encrypt_type: 0,
            lo_encrypt_key_size: 0,
            lo_flags: flags,
            lo_file_name: [0; 64],
            lo_crypt_name: [0; 64],
            lo_encrypt_key: [0; 32],
            lo_init: [0; 2],
        },
        reserved: [0; 8],
    };
    // SAFETY: the kernel reads one struct loop_config, which LoopConfig mirrors.
    let ret = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            LOOP_CONFIGURE as _,
            &config as *const LoopConfig,
        )
    };
    Errno::result(ret).map(drop)
}

/// openat(dir, name, O_RDONLY|O_CLOEXEC).
pub fn open_readonly_in(dir: &OwnedFd, name: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    // SAFETY: name is NUL-terminated and outlives the call; dir is open.
    new_fd(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    } as libc::c_long)
}

/// The mount id of the mount `fd` is on (statx STATX_MNT_ID), and whether `fd` is the root
/// of that mount (STATX_ATTR_MOUNT_ROOT).
pub fn mount_id(fd: BorrowedFd) -> Result<(u64, bool), Errno> {
    const STATX_MNT_ID: u32 = 0x1000;
    const STATX_ATTR_MOUNT_ROOT: u64 = 0x2000;
    // SAFETY: statx is plain data; an all-zero value is valid.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the empty path with AT_EMPTY_PATH names `fd` itself; `st` outlives the call.
    let ret = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            STATX_MNT_ID,
            &mut st,
        )
    };
    Errno::result(ret)?;
    if st.stx_mask & STATX_MNT_ID == 0 {
        return Err(Errno::ENOSYS);
    }
    Ok((
        st.stx_mnt_id,
        st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT != 0
            && st.stx_attributes & STATX_ATTR_MOUNT_ROOT != 0,
    ))
}

/// openat(dir, name, flags, mode) as an owned fd (O_CLOEXEC added).
pub fn openat_fd(
    dir: BorrowedFd,
    name: &std::ffi::CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> Result<OwnedFd, Errno> {
    // SAFETY: name is NUL-terminated and outlives the call; dir is open.
    new_fd(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    } as libc::c_long)
}
