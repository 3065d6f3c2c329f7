//! /dev inside the container: the default devices every container gets, `linux.devices`, and
//! the standard symlinks.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::error::{Context, Error, Result};
use crate::resolve::{fd_path, Root};

/// A device node to create.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub path: String,
    pub kind: char,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices runtime-spec says every container has.
pub fn default_devices() -> Vec<Device> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(path, major, minor)| Device {
        path: path.into(),
        kind: 'c',
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// `linux.devices`, checked: the path must be under /dev, the type one of c, b, u, p.
pub fn from_spec(list: &[LinuxDevice]) -> Result<Vec<Device>> {
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            let path = d.path().to_string_lossy().into_owned();
            if !path.starts_with("/dev/") {
                return Err(Error::Invalid(format!(
                    "linux.devices[{i}]: path {path:?} is not under /dev"
                )));
            }
            // (the lexical meaning of `..` would put the node elsewhere in the rootfs)
            if d.path()
                .components()
                .any(|c| c == std::path::Component::ParentDir)
            {
                return Err(Error::Invalid(format!(
                    "linux.devices[{i}].path: {path:?} leaves /dev"
                )));
            }
            let kind = match d.typ() {
                LinuxDeviceType::C | LinuxDeviceType::U => 'c',
                LinuxDeviceType::B => 'b',
                LinuxDeviceType::P => 'p',
                LinuxDeviceType::A => {
                    return Err(Error::Invalid(format!(
                        "linux.devices[{i}] ({path}): type \"a\" is not a device node type"
                    )))
                }
            };
            if d.major() < 0 || d.minor() < 0 {
                return Err(Error::Invalid(format!(
                    "linux.devices[{i}] ({path}): negative major or minor number"
                )));
            }
            Ok(Device {
                path,
                kind,
                major: d.major() as u64,
                minor: d.minor() as u64,
                mode: d.file_mode().unwrap_or(0o666) & 0o7777,
                uid: d.uid().unwrap_or(0),
                gid: d.gid().unwrap_or(0),
            })
        })
        .collect()
}

/// Creates the device nodes. In a user namespace mknod is refused, and the host's device is
/// bind-mounted onto an empty file instead (as runc does).
pub fn create(root: &Root, devices: &[Device]) -> Result<()> {
    for d in devices {
        let (dir, name) = root.parent_of(Path::new(&d.path))?;
        let kind = match d.kind {
            'b' => SFlag::S_IFBLK,
            'p' => SFlag::S_IFIFO,
            _ => SFlag::S_IFCHR,
        };
        let dev = nix::sys::stat::makedev(d.major, d.minor);
        // Replace whatever the image has there: the config decides what this device is.
        let _ = nix::unistd::unlinkat(
            Some(dir.as_raw_fd()),
            name.as_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        match mknodat(
            Some(dir.as_raw_fd()),
            name.as_str(),
            kind,
            Mode::from_bits_truncate(d.mode),
            dev,
        ) {
            Ok(()) => {
                let node = root
                    .open_path(d.path.trim_start_matches('/'))
                    .context(|| format!("open device {}", d.path))?;
                chown_by_path(&node, d.uid, d.gid)
                    .context(|| format!("chown device {}", d.path))?;
                chmod_by_path(&node, d.mode).context(|| format!("chmod device {}", d.path))?;
            }
            Err(Errno::EPERM) => {
                let target = root.create_file(Path::new(&d.path), 0o000)?;
                if !Path::new(&d.path).exists() {
                    return Err(Error::Invalid(format!("cannot create device {} in a user namespace: no such device on the host to bind", d.path)));
                }
                mount(
                    Some(d.path.as_str()),
                    fd_path(target.as_fd()).as_str(),
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
                .context(|| format!("bind-mount device {} from the host", d.path))?;
            }
            Err(e) => return Err(e).context(|| format!("mknod {}", d.path)),
        }
    }
    Ok(())
}

fn chown_by_path(
    node: &std::os::fd::OwnedFd,
    uid: u32,
    gid: u32,
) -> std::result::Result<(), Errno> {
    nix::unistd::chown(
        fd_path(node.as_fd()).as_str(),
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
}

fn chmod_by_path(node: &std::os::fd::OwnedFd, mode: u32) -> std::result::Result<(), Errno> {
    nix::sys::stat::fchmodat(
        None,
        fd_path(node.as_fd()).as_str(),
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
}

/// /dev/fd, stdin, stdout, stderr (and core when the host has /proc/kcore); /dev/ptmx points
/// at the container's own devpts instance.
pub fn create_symlinks(root: &Root, with_ptmx: bool) -> Result<()> {
    let mut links = vec![
        ("/proc/self/fd", "dev/fd"),
        ("/proc/self/fd/0", "dev/stdin"),
        ("/proc/self/fd/1", "dev/stdout"),
        ("/proc/self/fd/2", "dev/stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "dev/core"));
    }
    if with_ptmx {
        links.push(("pts/ptmx", "dev/ptmx"));
    }
    let dev = root.mkdir_all(Path::new("/dev"), 0o755)?;
    for (target, link) in links {
        let name = link.trim_start_matches("dev/");
        if name == "ptmx" {
            let _ = nix::unistd::unlinkat(
                Some(dev.as_raw_fd()),
                name,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            );
        }
        match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).context(|| format!("create the symlink /{link}")),
        }
    }
    Ok(())
}
