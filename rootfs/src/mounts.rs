//! `mounts` of config.json, in order, each target resolved inside the rootfs.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;

use crate::error::{Context, Error, Result};
use crate::mount_options::{self, MountOptions};
use crate::resolve::{fd_path, relative, Root};
use crate::sys::{mount_setattr, FsContext};

/// Where a `cgroup` mount gets its contents from: the container's own cgroup directories.
#[derive(Debug, Clone)]
pub enum CgroupSource {
    /// cgroup v1: per hierarchy, its mount name (e.g. "cpu,cpuacct") and the host directory
    /// of the container's cgroup in it.
    V1(Vec<(String, PathBuf)>),
    /// cgroup v2: the container's cgroup directory; with a new cgroup namespace a fresh
    /// cgroup2 mount shows exactly it.
    V2 {
        host_dir: PathBuf,
        new_namespace: bool,
    },
}

pub struct MountContext<'a> {
    pub root: &'a Root,
    pub bundle: &'a Path,
    pub cgroup: Option<&'a CgroupSource>,
    /// Bind mount sources the runtime cloned with its own credentials (see
    /// [`open_bind_sources`]), by index in `mounts`.
    pub sources: &'a [Option<OwnedFd>],
    /// A proc mount made before init joined a user namespace by path (see [`premade_proc`]),
    /// attached at the first proc mount.
    pub proc: std::cell::Cell<Option<OwnedFd>>,
}

/// A detached mount of a new procfs for the first proc mount of `mounts`, with its flags,
/// made while init still has the host's credentials. A container that joins a user namespace
/// by path gets a pid namespace owned by the host's user namespace (it is cloned with it, or
/// joins a pod's that was), and the kernel lets only that namespace's root mount a /proc for
/// it: once init has joined the container's user namespace it could not. runc forks once more, in the joined namespace, to
/// give the pid namespace that owner; a procfs made now and attached later needs no process.
/// None when there is no proc mount.
pub fn premade_proc(mounts: &[Mount]) -> Result<Option<OwnedFd>> {
    let Some((i, m)) = mounts
        .iter()
        .enumerate()
        .find(|(_, m)| m.typ().as_deref() == Some("proc"))
    else {
        return Ok(None);
    };
    let field = format!("mounts[{i}] ({})", m.destination().display());
    let opts = mount_options::parse(m.options().as_deref().unwrap_or(&[]), &field)?;
    let mut attrs = 0u64;
    for (flag, attr) in [
        (MsFlags::MS_RDONLY, mount_options::MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, mount_options::MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, mount_options::MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, mount_options::MOUNT_ATTR_NOEXEC),
    ] {
        if opts.flags.contains(flag) {
            attrs |= attr;
        }
    }
    let fs = FsContext::open("proc").context(|| format!("{field}: open a procfs"))?;
    for option in opts.data.split(',').filter(|o| !o.is_empty()) {
        let (key, value) = option.split_once('=').unwrap_or((option, ""));
        fs.set(key, value)
            .context(|| format!("{field}: the procfs option {option}"))?;
    }
    fs.mount(attrs as libc::c_uint)
        .map(Some)
        .context(|| format!("{field}: mount a procfs"))
}

/// Clones the source of every bind mount (open_tree) while the process still has the host's
/// credentials: in a new user namespace, the container's root cannot open a source under a
/// directory only the host's root may search (runc hands such sources to its init the same
/// way). A detached clone rather than an fd of the file, because a bind mount's source must be
/// in the caller's mount namespace and init has its own by then. A source that cannot be
/// cloned now is None and opened again, by path, at mount time, where the error names it.
pub fn open_bind_sources(mounts: &[Mount], bundle: &Path) -> Vec<Option<OwnedFd>> {
    mounts
        .iter()
        .map(|m| {
            let rbind = m.options().iter().flatten().any(|o| o == "rbind");
            let source = m.source().as_deref().filter(|_| is_bind(m))?;
            crate::sys::open_tree_clone(&bundle.join(source), rbind).ok()
        })
        .collect()
}

/// Whether a mount of config.json is a bind mount: type "bind", or a `bind`/`rbind` option.
pub fn is_bind(m: &Mount) -> bool {
    m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind")
}

/// The mount points of config.json's mounts, made in the rootfs before CRIU restores a
/// container into it, as runc makes them (`prepareCriuRestoreMounts`): CRIU mounts on what is
/// there and stops at a missing one ("Can't stat mountpoint"). A rootfs restored into is often
/// not the checkpointed one: containerd's `ctr containers restore` without `--rw`, and
/// podman's `--import`, make a fresh snapshot of the image, without the files `create` made for
/// /etc/hosts or /etc/resolv.conf. A bind's point is a file or a directory like its source
/// (relative to `bundle`), any other mount's a directory; each is made by the rootfs's safe
/// resolution (a symlink of the image stays inside it). Skipped: mounts inside a tmpfs, whose
/// whole contents CRIU restores, and inside a bind mount, whose points are in its source (made
/// there by `create` already, and not the rootfs's to make).
pub fn make_restore_mountpoints(root: &Root, mounts: &[Mount], bundle: &Path) -> Result<()> {
    let covers = |m: &Mount| m.typ().as_deref() == Some("tmpfs") || is_bind(m);
    for m in mounts {
        let dest = m.destination();
        let inside_another = mounts
            .iter()
            .any(|o| o.destination() != dest && dest.starts_with(o.destination()) && covers(o));
        if inside_another || relative(dest)?.is_empty() {
            continue;
        }
        let source_is_file = m
            .source()
            .as_deref()
            .filter(|_| is_bind(m))
            .is_some_and(|s| std::fs::metadata(bundle.join(s)).is_ok_and(|st| !st.is_dir()));
        if source_is_file {
            root.create_file(dest, 0o644)?;
        } else {
            root.mkdir_all(dest, 0o755)?;
        }
    }
    Ok(())
}

/// The source of an idmapped bind mount (`idmap`/`ridmap`): cloned (with its submounts for
/// `rbind`) and given the mapping of the user namespace `userns` is open on, recursively for
/// `ridmap`. Made by `create` (which made that namespace with the mount's or the container's
/// mappings) and attached by init like any cloned source.
pub fn open_idmapped_source(
    source: &Path,
    opts: &MountOptions,
    userns: std::os::fd::BorrowedFd,
    field: &str,
) -> Result<OwnedFd> {
    let tree = crate::sys::open_tree_clone(source, opts.flags.contains(MsFlags::MS_REC))
        .context(|| format!("{field}: open the mount source {}", source.display()))?;
    crate::sys::mount_setattr_idmap(tree.as_fd(), opts.idmap.unwrap_or(false), userns).context(
        || {
            format!(
                "{field}: make {} an idmapped mount (does its filesystem support idmapped mounts?)",
                source.display()
            )
        },
    )?;
    Ok(tree)
}

/// Makes the mount tree private to the container (rslave unless `propagation` says
/// otherwise): nothing mounted after this reaches the host.
pub fn isolate(propagation: MsFlags) -> Result<()> {
    mount(None::<&str>, "/", None::<&str>, propagation, None::<&str>)
        .context(|| "set the propagation of / (linux.rootfsPropagation)".into())
}

/// Makes sure the rootfs's parent mount is not shared (pivot_root refuses that) and
/// bind-mounts the rootfs onto itself so that it is a mount point. Returns the rootfs.
pub fn bind_root(rootfs: &Path) -> Result<Root> {
    make_parent_mount_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .context(|| format!("bind-mount the rootfs {} onto itself", rootfs.display()))?;
    Root::open(rootfs)
}

fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")
        .context(|| "read /proc/self/mountinfo".into())?;
    let mut best: Option<(&str, bool)> = None;
    for line in info.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if fields.len() < 7 {
            continue;
        }
        let mnt = fields[4];
        let contains = mnt == "/" || rootfs.starts_with(mnt);
        if contains && best.is_none_or(|(b, _)| mnt.len() >= b.len()) {
            let shared = fields[6..]
                .iter()
                .take_while(|f| **f != "-")
                .any(|f| f.starts_with("shared:"));
            best = Some((mnt, shared));
        }
    }
    if let Some((mnt, true)) = best {
        mount(
            None::<&str>,
            mnt,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context(|| format!("make the rootfs's parent mount {mnt} private"))?;
    }
    Ok(())
}

/// Mounts every entry of `mounts`, in order. Returns whether a /dev mount asked read-only
/// was mounted writable, for [`make_dev_readonly`] once its nodes, links and console exist
/// (runc's order: a read-only /dev would refuse them).
pub fn mount_all(ctx: &MountContext, mounts: &[Mount]) -> Result<bool> {
    let mut dev_readonly_later = false;
    for (i, m) in mounts.iter().enumerate() {
        let field = format!("mounts[{i}] ({})", m.destination().display());
        let source = ctx.sources.get(i).and_then(Option::as_ref);
        dev_readonly_later |= mount_one(ctx, m, source, &field).map_err(|e| e.within(&field))?;
    }
    Ok(dev_readonly_later)
}

/// Makes /dev read-only, after [`mount_all`] mounted it writable.
pub fn make_dev_readonly(root: &Root) -> Result<()> {
    let dev = root
        .open_path("dev")
        .context(|| "reopen /dev to make it read-only".into())?;
    remount_bind(&dev, MsFlags::MS_RDONLY)
        .context(|| "make /dev read-only (its mount's ro option)".into())
}

/// Mounts one entry; true when it is a /dev mount left writable for now (see `mount_all`).
fn mount_one(
    ctx: &MountContext,
    m: &Mount,
    opened_source: Option<&OwnedFd>,
    field: &str,
) -> Result<bool> {
    let mut opts = mount_options::parse(m.options().as_deref().unwrap_or(&[]), field)?;
    let typ = m.typ().as_deref().unwrap_or("");
    let dest = m.destination();
    let rel = relative(dest)?;
    if rel.is_empty() {
        return Err(Error::Invalid(format!(
            "{field}: a mount over the rootfs itself is not allowed"
        )));
    }
    let is_bind = opts.is_bind() || typ == "bind";
    let dev_readonly_later = rel == "dev" && !is_bind && opts.flags.contains(MsFlags::MS_RDONLY);
    if dev_readonly_later {
        opts.flags.remove(MsFlags::MS_RDONLY);
    }
    mount_typed(ctx, m, opened_source, typ, dest, &opts, field)?;
    Ok(dev_readonly_later)
}

fn mount_typed(
    ctx: &MountContext,
    m: &Mount,
    opened_source: Option<&OwnedFd>,
    typ: &str,
    dest: &Path,
    opts: &MountOptions,
    field: &str,
) -> Result<()> {
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(ctx, dest, opts, field);
    }
    if opts.is_bind() || typ == "bind" {
        let source = m
            .source()
            .as_deref()
            .ok_or_else(|| Error::Invalid(format!("{field}: a bind mount needs a source")))?;
        let source = if source.is_absolute() {
            source.to_path_buf()
        } else {
            ctx.bundle.join(source)
        };
        return match opened_source {
            Some(tree) => attach_tree(ctx.root, tree, &source, dest, opts, field),
            None if opts.idmap.is_some() => Err(Error::Invalid(format!(
                "{field}: the idmapped source {} was not prepared",
                source.display()
            ))),
            None => bind(ctx.root, &source, dest, opts, field),
        };
    }
    if typ == "proc" || typ == "sysfs" {
        refuse_non_directory(ctx.root, dest, typ, field)?;
    }
    let target = ctx.root.mkdir_all(dest, 0o755)?;
    if typ == "proc" {
        if let Some(proc) = ctx.proc.take() {
            crate::sys::move_mount_fd(proc.as_fd(), target.as_fd())
                .context(|| format!("{field}: attach the procfs"))?;
            return Ok(());
        }
    }
    // tmpcopyup: what the tmpfs covers, read through this fd once it is covered; the tmpfs
    // is mounted writable for the copy and made read-only after, if asked.
    let covered = match opts.tmpcopyup && typ == "tmpfs" {
        true => Some(crate::copyup::open_dir(target.as_fd())?),
        false => None,
    };
    let mount_flags = match covered {
        Some(_) => opts.flags - MsFlags::MS_RDONLY,
        None => opts.flags,
    };
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| typ.to_string());
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    match mount(
        Some(source.as_str()),
        fd_path(target.as_fd()).as_str(),
        Some(typ),
        mount_flags,
        data,
    ) {
        Ok(()) => {}
        // Without their own network (sysfs) or ipc (mqueue) namespace, a user namespace may
        // not mount these afresh; bind the host's, as runc does.
        Err(Errno::EPERM) if typ == "sysfs" => {
            return bind(ctx.root, Path::new("/sys"), dest, &with_rbind(opts), field)
        }
        Err(Errno::EPERM) if typ == "mqueue" => {
            return bind(
                ctx.root,
                Path::new("/dev/mqueue"),
                dest,
                &with_rbind(opts),
                field,
            )
        }
        Err(e) => return Err(e).context(|| format!("{field}: mount {typ} {source}")),
    }
    if let Some(covered) = covered {
        let rel = relative(dest)?;
        let tmpfs = ctx
            .root
            .open_with(&rel, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .context(|| format!("{field}: open the new tmpfs"))?;
        crate::copyup::copy_tree(covered.as_fd(), tmpfs.as_fd()).map_err(|e| e.within(field))?;
        if opts.flags.contains(MsFlags::MS_RDONLY) {
            let mounted = ctx
                .root
                .open_path(&rel)
                .context(|| format!("{field}: reopen the mount"))?;
            remount_bind(&mounted, opts.remount_flags())
                .context(|| format!("{field}: make the tmpfs read-only after tmpcopyup"))?;
        }
    }
    finish(ctx.root, dest, opts, field)
}

/// procfs and sysfs go only on a real directory: on a symlink (which the mount would follow,
/// inside the rootfs, to wherever the image points it) or a file, refuse, as runc does. A
/// /proc that is anything but /proc is an image trying something.
fn refuse_non_directory(root: &Root, dest: &Path, typ: &str, field: &str) -> Result<()> {
    let (dir, name) = root.parent_of(dest)?;
    match nix::sys::stat::fstatat(
        Some(dir.as_raw_fd()),
        name.as_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => Ok(()),
        Ok(st) => {
            let what = match st.st_mode & libc::S_IFMT {
                libc::S_IFLNK => "a symlink",
                libc::S_IFREG => "a file",
                _ => "not a directory",
            };
            Err(Error::Invalid(format!(
                "{field}: filesystem \"{typ}\" must be mounted on ordinary directory; {} in the rootfs is {what}",
                dest.display()
            )))
        }
        Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e).context(|| format!("{field}: stat {} in the rootfs", dest.display())),
    }
}

fn with_rbind(opts: &MountOptions) -> MountOptions {
    let mut o = opts.clone();
    o.flags |= MsFlags::MS_BIND | MsFlags::MS_REC;
    o
}

/// A bind mount: the target (a directory or a file, like the source) is created inside the
/// rootfs; the source is opened once and mounted through its fd.
pub fn bind(
    root: &Root,
    source: &Path,
    dest: &Path,
    opts: &MountOptions,
    field: &str,
) -> Result<()> {
    let src = std::fs::File::open_path(source)
        .context(|| format!("{field}: open the mount source {}", source.display()))?;
    let target = bind_target(root, &src, source, dest, field)?;
    let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
    mount(
        Some(fd_path(src.as_fd()).as_str()),
        fd_path(target.as_fd()).as_str(),
        None::<&str>,
        flags,
        None::<&str>,
    )
    .context(|| format!("{field}: bind-mount {}", source.display()))?;
    finish(root, dest, opts, field)
}

/// A bind mount from a source [`open_bind_sources`] cloned (`source` names it in errors).
fn attach_tree(
    root: &Root,
    tree: &OwnedFd,
    source: &Path,
    dest: &Path,
    opts: &MountOptions,
    field: &str,
) -> Result<()> {
    let target = bind_target(root, tree, source, dest, field)?;
    crate::sys::move_mount_fd(tree.as_fd(), target.as_fd())
        .context(|| format!("{field}: bind-mount {}", source.display()))?;
    finish(root, dest, opts, field)
}

/// The mount point for a bind of `src`: a directory or a file, like the source, made inside
/// the rootfs.
fn bind_target(
    root: &Root,
    src: &OwnedFd,
    source: &Path,
    dest: &Path,
    field: &str,
) -> Result<OwnedFd> {
    let is_dir = nix::sys::stat::fstat(src.as_raw_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .context(|| format!("{field}: stat the mount source {}", source.display()))?;
    if is_dir {
        root.mkdir_all(dest, 0o755)
    } else {
        root.create_file(dest, 0o644)
    }
}

/// After the mount: a remount for the flags a bind ignores, the propagation changes, and the
/// recursive attributes. Each acts on the new mount, reopened inside the rootfs.
fn finish(root: &Root, dest: &Path, opts: &MountOptions, field: &str) -> Result<()> {
    let rel = relative(dest)?;
    let needs_remount = opts.is_bind() && !opts.remount_flags().is_empty();
    if !needs_remount && opts.propagation.is_empty() && opts.rec_set == 0 && opts.rec_clear == 0 {
        return Ok(());
    }
    let mounted = root
        .open_path(&rel)
        .context(|| format!("{field}: reopen the mount"))?;
    if needs_remount {
        remount_bind(&mounted, opts.remount_flags())
            .context(|| format!("{field}: remount with its options"))?;
    }
    for p in &opts.propagation {
        mount(
            None::<&str>,
            fd_path(mounted.as_fd()).as_str(),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .context(|| format!("{field}: set propagation"))?;
    }
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        mount_setattr(mounted.as_fd(), true, opts.rec_set, opts.rec_clear)
            .context(|| format!("{field}: set recursive mount attributes"))?;
    }
    Ok(())
}

/// Binds the directory `source` on a new directory `name` of `dir`, a filesystem of vrun's own
/// (nothing in it can be a symlink), then remounts it with `access` (ro, nosuid, ...).
fn bind_into_fresh_dir(
    dir: &OwnedFd,
    name: &str,
    source: &Path,
    access: MsFlags,
) -> std::result::Result<(), Errno> {
    match nix::sys::stat::mkdirat(
        Some(dir.as_raw_fd()),
        name,
        nix::sys::stat::Mode::from_bits_truncate(0o755),
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let cname = std::ffi::CString::new(name).map_err(|_| Errno::EINVAL)?;
    let open = || {
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        crate::sys::openat_fd(dir.as_fd(), &cname, flags, 0)
    };
    let src = std::fs::File::open_path(source)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let target = open()?;
    mount(
        Some(fd_path(src.as_fd()).as_str()),
        fd_path(target.as_fd()).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    if access.is_empty() {
        return Ok(());
    }
    // (the directory's fd is under the mount: the mount itself is reached by opening again)
    remount_bind(&open()?, access)
}

/// MS_REMOUNT|MS_BIND with `flags`. In a user namespace the kernel refuses to clear the
/// flags the mount was locked with (nosuid, nodev, noexec, atime ones): on EPERM, retry
/// keeping them, as runc does.
pub fn remount_bind(mounted: &OwnedFd, flags: MsFlags) -> std::result::Result<(), Errno> {
    let path = fd_path(mounted.as_fd());
    let base = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags;
    match mount(
        None::<&str>,
        path.as_str(),
        None::<&str>,
        base,
        None::<&str>,
    ) {
        Err(Errno::EPERM) => {
            let st = nix::sys::statvfs::fstatvfs(mounted)?;
            let f = st.flags();
            use nix::sys::statvfs::FsFlags;
            let mut locked = MsFlags::empty();
            for (s, m) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
            ] {
                if f.contains(s) {
                    locked |= m;
                }
            }
            mount(
                None::<&str>,
                path.as_str(),
                None::<&str>,
                base | locked,
                None::<&str>,
            )
        }
        other => other,
    }
}

fn mount_cgroup(ctx: &MountContext, dest: &Path, opts: &MountOptions, field: &str) -> Result<()> {
    let source = ctx
        .cgroup
        .ok_or_else(|| Error::Invalid(format!("{field}: no cgroup to mount")))?;
    let access = opts.flags
        & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    match source {
        CgroupSource::V2 {
            host_dir,
            new_namespace,
        } => {
            let target = ctx.root.mkdir_all(dest, 0o755)?;
            let path = fd_path(target.as_fd());
            let fresh = *new_namespace
                && mount(
                    Some("cgroup2"),
                    path.as_str(),
                    Some("cgroup2"),
                    access,
                    None::<&str>,
                )
                .is_ok();
            if !fresh {
                let o = MountOptions {
                    flags: MsFlags::MS_BIND | MsFlags::MS_REC | access,
                    ..Default::default()
                };
                bind(ctx.root, host_dir, dest, &o, field)?;
            }
            Ok(())
        }
        CgroupSource::V1(hierarchies) => {
            // A tmpfs holding one bind mount per hierarchy, of the container's own cgroup.
            let target = ctx.root.mkdir_all(dest, 0o755)?;
            let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            mount(
                Some("tmpfs"),
                fd_path(target.as_fd()).as_str(),
                Some("tmpfs"),
                tmpfs_flags,
                Some("mode=755"),
            )
            .context(|| format!("{field}: mount the cgroup tmpfs"))?;
            // The tmpfs was mounted a moment ago, empty, by vrun, and nothing of the
            // container runs yet: its entries are made and opened right under it, not looked
            // up from the rootfs's root one level at a time (issue 14).
            let tmpfs = ctx
                .root
                .open_path(&relative(dest)?)
                .context(|| format!("{field}: open the cgroup tmpfs"))?;
            for (name, host_dir) in hierarchies {
                bind_into_fresh_dir(&tmpfs, name, host_dir, access)
                    .context(|| format!("{field}: bind-mount {}", host_dir.display()))?;
                // Co-mounted controllers ("cpu,cpuacct") are reachable by each name too.
                if name.contains(',') {
                    for part in name.split(',') {
                        match nix::unistd::symlinkat(name.as_str(), Some(tmpfs.as_raw_fd()), part) {
                            Ok(()) | Err(Errno::EEXIST) => {}
                            Err(e) => return Err(e).context(|| format!("{field}: link {part}")),
                        }
                    }
                }
            }
            if access.contains(MsFlags::MS_RDONLY) {
                let mounted = ctx
                    .root
                    .open_path(&relative(dest)?)
                    .context(|| format!("{field}: reopen the mount"))?;
                mount(
                    None::<&str>,
                    fd_path(mounted.as_fd()).as_str(),
                    None::<&str>,
                    MsFlags::MS_REMOUNT | tmpfs_flags | MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .context(|| format!("{field}: make the cgroup tmpfs read-only"))?;
            }
            Ok(())
        }
    }
}

/// `File::open` with O_PATH: enough to mount from, and opens sockets and devices without
/// side effects.
trait OpenPath {
    fn open_path(p: &Path) -> std::io::Result<OwnedFd>;
}

impl OpenPath for std::fs::File {
    fn open_path(p: &Path) -> std::io::Result<OwnedFd> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(p)
            .map(OwnedFd::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(json: &str) -> Mount {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn restore_mountpoints_are_made_inside_the_rootfs_where_criu_needs_them() {
        let dir = std::env::temp_dir().join(format!("vrun-restore-points-{}", std::process::id()));
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::write(dir.join("hosts"), "127.0.0.1 localhost\n").unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // the image's /etc is a symlink out of the rootfs: the points stay inside it
        std::os::unix::fs::symlink("/../../../outside-etc", rootfs.join("etc")).unwrap();
        let mounts = [
            mount(
                r#"{"destination": "/etc/hosts", "type": "bind", "source": "hosts", "options": ["rbind"]}"#,
            ),
            mount(r#"{"destination": "/data", "source": "data", "options": ["bind"]}"#),
            mount(r#"{"destination": "/data/inner", "type": "tmpfs", "source": "tmpfs"}"#),
            mount(r#"{"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}"#),
            mount(r#"{"destination": "/dev/shm", "type": "tmpfs", "source": "shm"}"#),
            mount(r#"{"destination": "/proc", "type": "proc", "source": "proc"}"#),
        ];
        let root = Root::open(&rootfs).unwrap();
        make_restore_mountpoints(&root, &mounts, &dir).unwrap();
        assert!(rootfs.join("outside-etc/hosts").is_file());
        assert!(!Path::new("/outside-etc").exists());
        assert!(rootfs.join("data").is_dir());
        assert!(rootfs.join("dev").is_dir());
        assert!(rootfs.join("proc").is_dir());
        // inside a tmpfs (CRIU restores its contents) or a bind (its source's): not made
        assert!(!rootfs.join("dev/shm").exists());
        assert!(!rootfs.join("data/inner").exists());
        assert!(!dir.join("data/inner").exists());
        // made again over what is there: nothing to do
        make_restore_mountpoints(&root, &mounts, &dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
