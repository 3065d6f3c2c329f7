//! An idmapped rootfs: for a pod with its own user namespace (`hostUsers: false`) containerd
//! 2's snapshotter gives the rootfs mount the options `uidmap=` and `gidmap=` (each
//! `container-id:host-id:size[,...]`), which no filesystem knows: containerd's own mount code,
//! which runc's shim uses, turns them into idmapped mounts. containerd-shim's mount_rootfs
//! passes them to the kernel (EINVAL), so they are done here, in the maker: its user namespace
//! helper forks, which the maker, single-threaded, may do.
//!
//! overlay: each lowerdir is cloned with the mapping onto a directory of the bundle, the overlay
//! mounted on those (named relative to that directory: the option stays short however many the
//! layers), and the clones unmounted again (overlay holds its layers). Any other type: mounted,
//! then an idmapped clone of it put over it.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};

/// The mappings of a rootfs mount's options, and its other options; None for a mount without.
pub fn split(options: &[String]) -> Result<Option<(Vec<String>, String, String)>, String> {
    let (mut uid, mut gid, mut rest) = (None, None, Vec::new());
    for o in options {
        if let Some(v) = o.strip_prefix("uidmap=") {
            uid = Some(v.to_string());
        } else if let Some(v) = o.strip_prefix("gidmap=") {
            gid = Some(v.to_string());
        } else {
            rest.push(o.clone());
        }
    }
    match (uid, gid) {
        (None, None) => Ok(None),
        (Some(u), Some(g)) => Ok(Some((rest, u, g))),
        _ => Err("rootfs mount: uidmap and gidmap come together, or not at all".into()),
    }
}

/// `container-id:host-id:size[,...]`, as containerd writes them.
fn mappings(option: &str, text: &str) -> Result<Vec<LinuxIdMapping>, String> {
    text.split(',')
        .map(|m| {
            let bad = || {
                format!(
                    "rootfs mount option {option}={text}: {m:?} is not container-id:host-id:size"
                )
            };
            let n: Vec<u32> = m
                .split(':')
                .map(|p| p.parse::<u32>().map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            let [container, host, size] = n[..] else {
                return Err(bad());
            };
            LinuxIdMappingBuilder::default()
                .container_id(container)
                .host_id(host)
                .size(size)
                .build()
                .map_err(|e| format!("rootfs mount option {option}: {e}"))
        })
        .collect()
}

/// Mounts `kind` `source` with `options` (the mappings split off) on `bundle`/rootfs, idmapped.
pub fn mount(
    bundle: &Path,
    kind: &str,
    source: &str,
    options: &[String],
    uidmap: &str,
    gidmap: &str,
) -> vrun_runtime::Result<()> {
    let uid = mappings("uidmap", uidmap).map_err(vrun_runtime::Error::Invalid)?;
    let gid = mappings("gidmap", gidmap).map_err(vrun_runtime::Error::Invalid)?;
    let userns = vrun_isolation::idmap::user_namespace_with(&uid, &gid, "the rootfs mount")?;
    let target = bundle.join("rootfs");
    if kind == "overlay" {
        return overlay(bundle, source, options, userns.as_fd())
            .map_err(vrun_runtime::Error::Failed);
    }
    plain_mount(kind, source, options, &target).map_err(vrun_runtime::Error::Failed)?;
    if let Err(e) = clone_idmapped(&target, userns.as_fd()) {
        let _ = nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH);
        return Err(vrun_runtime::Error::Failed(e));
    }
    Ok(())
}

/// mount(2) with containerd's options, as its mount package does. (Not containerd-shim's
/// mount_rootfs: it waits for the child it forks through the shim's SIGCHLD thread, which the
/// maker has not.)
fn plain_mount(kind: &str, source: &str, options: &[String], target: &Path) -> Result<(), String> {
    use nix::mount::MsFlags;
    let failed = |e: nix::errno::Errno| format!("mount the rootfs ({kind} {source}): {e}");
    let opts = vrun_rootfs::mount_options::parse(options, "the rootfs mount")
        .map_err(|e| e.to_string())?;
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    nix::mount::mount(Some(source), target, Some(kind), opts.flags, data).map_err(failed)?;
    let flags_after = || {
        let remount = opts.remount_flags();
        if opts.is_bind() && !remount.is_empty() {
            let flags = remount | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
            nix::mount::mount(None::<&str>, target, None::<&str>, flags, None::<&str>)?;
        }
        for p in &opts.propagation {
            nix::mount::mount(None::<&str>, target, None::<&str>, *p, None::<&str>)?;
        }
        Ok(())
    };
    flags_after().map_err(|e| {
        let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        failed(e)
    })
}

/// Puts an idmapped clone of the mount on `target` (with its submounts) over it.
fn clone_idmapped(target: &Path, userns: std::os::fd::BorrowedFd) -> Result<(), String> {
    let ctx = |what: &str, e: nix::errno::Errno| format!("{what} {}: {e}", target.display());
    let tree = vrun_rootfs::sys::open_tree_clone(target, true)
        .map_err(|e| ctx("clone the mount of", e))?;
    vrun_rootfs::sys::mount_setattr_idmap(tree.as_fd(), true, userns)
        .map_err(|e| ctx("idmap (does its filesystem support idmapped mounts?)", e))?;
    vrun_rootfs::sys::move_mount_to(&tree, target)
        .map_err(|e| ctx("attach the idmapped clone of", e))
}

/// The directory of the bundle the idmapped layers are put on, while the overlay is mounted.
const LAYERS: &str = ".vrun-idmapped-layers";

fn overlay(
    bundle: &Path,
    source: &str,
    options: &[String],
    userns: std::os::fd::BorrowedFd,
) -> Result<(), String> {
    let lower = options
        .iter()
        .position(|o| o.starts_with("lowerdir="))
        .ok_or("rootfs overlay mount: no lowerdir option")?;
    let layers: Vec<PathBuf> = options[lower]["lowerdir=".len()..]
        .split(':')
        .map(PathBuf::from)
        .collect();
    let dir = bundle.join(LAYERS);
    Layers::remove(&dir); // (what a maker killed half-way left)
    let made = Layers::make(&dir, &layers, userns);
    let result = made.and_then(|made| {
        let mut options = options.to_vec();
        options[lower] = format!(
            "lowerdir={}",
            (0..made.count)
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(":")
        );
        // (the layers named relative to their directory: the maker's cwd, for the mount)
        let back = std::fs::File::open(".").map_err(|e| format!("open the cwd: {e}"))?;
        std::env::set_current_dir(&dir).map_err(|e| format!("chdir {}: {e}", dir.display()))?;
        let mounted = plain_mount("overlay", source, &options, &bundle.join("rootfs"));
        let _ = nix::unistd::fchdir(std::os::fd::AsRawFd::as_raw_fd(&back));
        mounted
    });
    // the overlay holds its layers: their clones go, mounted or not
    Layers::remove(&dir);
    result
}

struct Layers {
    count: usize,
}

impl Layers {
    fn make(
        dir: &Path,
        layers: &[PathBuf],
        userns: std::os::fd::BorrowedFd,
    ) -> Result<Layers, String> {
        std::fs::create_dir(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        for (n, layer) in layers.iter().enumerate() {
            let at = dir.join(n.to_string());
            std::fs::create_dir(&at).map_err(|e| format!("mkdir {}: {e}", at.display()))?;
            let tree = vrun_rootfs::sys::open_tree_clone(layer, false)
                .map_err(|e| format!("clone the layer {}: {e}", layer.display()))?;
            vrun_rootfs::sys::mount_setattr_idmap(tree.as_fd(), false, userns).map_err(|e| {
                format!(
                    "idmap the layer {} (does its filesystem support idmapped mounts?): {e}",
                    layer.display()
                )
            })?;
            vrun_rootfs::sys::move_mount_to(&tree, &at)
                .map_err(|e| format!("attach the idmapped layer {}: {e}", layer.display()))?;
        }
        Ok(Layers {
            count: layers.len(),
        })
    }

    /// Unmounts and removes what `make` made, all or part of it.
    fn remove(dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(e.path());
        }
        let _ = std::fs::remove_dir(dir);
    }
}
