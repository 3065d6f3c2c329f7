//! The virtual disk: an overlay whose lower layers are the image (never modified) and whose
//! upper layer is the container's own, on a plain directory, a size-limited tmpfs, or an
//! ext4 image of a fixed size attached through a loop device.
//!
//! The overlay is mounted with the new mount API, one `fsconfig("lowerdir+")` per layer, so
//! that no option string has to fit in a page however many layers there are (kernels before
//! 6.8 lack "lowerdir+": vrun then passes one "lowerdir" string and says so if it is too
//! long). Every mount of the disk is made by the container's init inside its own mount
//! namespace: the host never sees them, and they go away with the container. The loop device
//! is attached with LO_FLAGS_AUTOCLEAR, so that it detaches itself when its last user (the
//! container's mount, or vrun before it mounted) is gone, also when vrun is killed.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};

use crate::error::{Context, Error, Result};
use crate::sys::{self, FsContext};

const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;
/// mkfs.ext4 needs room for its metadata: below this it cannot make a useful filesystem.
pub const MIN_IMAGE_SIZE: u64 = 4 << 20;

/// A loop device backed by an image file.
#[derive(Debug)]
pub struct LoopDevice {
    pub path: PathBuf,
    pub major: u64,
    pub minor: u64,
    /// Held until the container's init has mounted it: autoclear detaches the device once
    /// the last fd and mount are gone.
    pub fd: OwnedFd,
}

/// Makes a sparse image of `size` bytes at `image` with an empty ext4 filesystem in it: a
/// copy of the template of that size in `templates`, made once with mkfs.ext4.
///
/// Why a template: mkfs.ext4 is a process to start and a filesystem to lay out, most of a
/// `--disk-size` run's time; a fresh empty filesystem is the same bytes each time, and the
/// few dozen KiB of it that are not holes copy in well under a millisecond. The copies
/// share the template's filesystem UUID, as cloned disks do; ext4 and the kernel accept
/// that, and vrun mounts each by its loop device, never by UUID.
pub fn make_image(image: &Path, size: u64, templates: &Path) -> Result<()> {
    let template = templates.join(format!("ext4-{size}.img"));
    if !template.exists() {
        make_template(&template, size)?;
    }
    let from = std::fs::File::open(&template)
        .context(|| format!("open the disk template {}", template.display()))?;
    let to = sparse_file(image, size)?;
    copy_data(&from, &to, size)
        .context(|| format!("copy {} to {}", template.display(), image.display()))
}

/// The template: made under a temporary name and renamed, so that a create running at the
/// same time never sees half of one (two may both make it; one rename wins, both are whole).
fn make_template(template: &Path, size: u64) -> Result<()> {
    let dir = template
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{}: no directory", template.display())))?;
    std::fs::create_dir_all(dir).context(|| format!("create {}", dir.display()))?;
    let partial = dir.join(format!(".{}.{}", std::process::id(), size));
    let _ = std::fs::remove_file(&partial);
    let made = mkfs(&partial, size).and_then(|()| {
        std::fs::rename(&partial, template)
            .context(|| format!("rename {} to {}", partial.display(), template.display()))
    });
    if made.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    made
}

/// A new file of `size` bytes, all of it a hole.
fn sparse_file(image: &Path, size: u64) -> Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(image)
        .context(|| format!("create the disk image {}", image.display()))?;
    f.set_len(size)
        .context(|| format!("size the disk image {}", image.display()))?;
    Ok(f)
}

/// The overlay's upper and work directories at the root of a disk image's filesystem. The
/// template has them already: made at each container's start they were its first writes to
/// a freshly mounted ext4, a journal transaction on the way to its exec (issue 14).
pub const UPPER: &str = "upper";
pub const WORK: &str = "work";

/// A sparse file of `size` bytes with an ext4 filesystem made in it, holding empty
/// [`UPPER`] and [`WORK`] directories.
fn mkfs(image: &Path, size: u64) -> Result<()> {
    drop(sparse_file(image, size)?);
    let content = image.with_extension("root");
    let _ = std::fs::remove_dir_all(&content);
    for d in [UPPER, WORK] {
        std::fs::create_dir_all(content.join(d))
            .context(|| format!("create {}", content.join(d).display()))?;
    }
    let out = Command::new("mkfs.ext4")
        .args([
            "-q",
            "-F",
            "-m",
            "0",
            "-E",
            "nodiscard,lazy_itable_init=1,lazy_journal_init=1",
            // No blocks reserved for growing the filesystem online (vrun's disks keep their
            // size): they were 256 of the template's 316 KiB of data, copied per container.
            "-O",
            "^resize_inode",
            "-d",
        ])
        .arg(&content)
        .arg(image)
        .output();
    let _ = std::fs::remove_dir_all(&content);
    let out = out.map_err(|e| Error::Invalid(format!("run mkfs.ext4 (install e2fsprogs): {e}")))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "mkfs.ext4 {}: {}",
            image.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Copies the data of `from` into `to` at the same offsets, skipping its holes (SEEK_DATA,
/// SEEK_HOLE): `to` stays as sparse as `from`. In the kernel (copy_file_range) where the
/// filesystems allow it: a buffer in vrun cost a 256 KiB allocation, its page faults and two
/// copies per container (issue 14).
fn copy_data(from: &std::fs::File, to: &std::fs::File, size: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = Vec::new();
    let mut in_kernel = true;
    let mut at = 0i64;
    while (at as u64) < size {
        let data = match nix::unistd::lseek(from.as_raw_fd(), at, nix::unistd::Whence::SeekData) {
            Ok(d) => d,
            Err(Errno::ENXIO) => break, // no data after `at`
            Err(e) => return Err(e.into()),
        };
        let hole = nix::unistd::lseek(from.as_raw_fd(), data, nix::unistd::Whence::SeekHole)?;
        let mut off = data as u64;
        while off < hole as u64 {
            let left = (hole as u64 - off) as usize;
            if in_kernel {
                let (mut src, mut dst) = (off as i64, off as i64);
                match nix::fcntl::copy_file_range(from, Some(&mut src), to, Some(&mut dst), left) {
                    Ok(0) => break,
                    Ok(n) => {
                        off += n as u64;
                        continue;
                    }
                    // not between these filesystems: through vrun's memory, as before
                    Err(Errno::EXDEV | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {
                        in_kernel = false;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            if buf.is_empty() {
                buf = vec![0u8; 256 * 1024];
            }
            let want = buf.len().min(left);
            let n = from.read_at(&mut buf[..want], off)?;
            if n == 0 {
                break;
            }
            to.write_all_at(&buf[..n], off)?;
            off += n as u64;
        }
        at = hole;
    }
    Ok(())
}

/// Attaches `image` to a free loop device, with autoclear.
pub fn attach_loop(image: &Path) -> Result<LoopDevice> {
    let backing: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .context(|| format!("open the disk image {}", image.display()))?
        .into();
    let control: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/loop-control")
        .context(|| "open /dev/loop-control".into())?
        .into();
    // Another process may take the free device between the two calls: try again.
    for _ in 0..16 {
        let n = sys::loop_get_free(&control).context(|| "find a free loop device".into())?;
        let path = PathBuf::from(format!("/dev/loop{n}"));
        let dev: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .context(|| format!("open {}", path.display()))?
            .into();
        match sys::loop_configure(&dev, &backing, sys::LO_FLAGS_AUTOCLEAR) {
            Ok(()) => {
                let st = nix::sys::stat::fstat(dev.as_raw_fd())
                    .context(|| format!("stat {}", path.display()))?;
                return Ok(LoopDevice {
                    path,
                    major: nix::sys::stat::major(st.st_rdev),
                    minor: nix::sys::stat::minor(st.st_rdev),
                    fd: dev,
                });
            }
            Err(Errno::EBUSY) => continue,
            Err(e) => {
                return Err(e)
                    .context(|| format!("attach {} to {}", image.display(), path.display()))
            }
        }
    }
    Err(Error::Invalid("no free loop device after 16 tries".into()))
}

/// Whether `dir` can hold an overlay upper layer: not on overlayfs itself.
pub fn check_upper_filesystem(dir: &Path) -> Result<()> {
    let fs = nix::sys::statfs::statfs(dir).context(|| format!("statfs {}", dir.display()))?;
    if fs.filesystem_type().0 as i64 == OVERLAYFS_SUPER_MAGIC {
        return Err(Error::Invalid(format!(
            "{} is on overlayfs, which cannot hold an overlay upper layer",
            dir.display()
        )));
    }
    Ok(())
}

/// What backs the upper layer.
#[derive(Debug, Clone)]
pub enum UpperFs<'a> {
    /// The upper and work directories as they are (or on a filesystem mounted already,
    /// see [`mount_image`]).
    Dir,
    /// A tmpfs of this many bytes, mounted at the given directory.
    Tmpfs(u64, &'a Path),
}

/// Mounts the loop device's ext4 at `at`. The caller must still be outside the container's
/// cgroup: its device rules (rightly) do not let the container open the loop device.
pub fn mount_image(dev: &Path, at: &Path) -> Result<()> {
    // noinit_itable: the image's inode tables are left uninitialised (mkfs's
    // lazy_itable_init, which ext4 tracks per group, so this is safe); without it each mount
    // would start the kernel's lazyinit thread to zero them in the background, writing
    // megabytes into the sparse image of every container.
    mount(
        Some(dev),
        at,
        Some("ext4"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("noinit_itable"),
    )
    .context(|| format!("mount the disk {} (ext4)", dev.display()))
}

/// Mounts the disk (in the caller's mount namespace, which must not propagate to the
/// host's) at `merged`: the upper filesystem first, then the overlay of `layers` (lowest
/// first) under `upper`/`work`.
pub fn mount_disk(
    layers: &[PathBuf],
    upper_fs: UpperFs,
    upper: &Path,
    work: &Path,
    merged: &Path,
) -> Result<()> {
    match upper_fs {
        UpperFs::Dir => {}
        UpperFs::Tmpfs(size, at) => mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(format!("size={size},mode=700").as_str()),
        )
        .context(|| format!("mount the {size}-byte tmpfs of the disk"))?,
    }
    for d in [upper, work] {
        match std::fs::create_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).context(|| format!("create {}", d.display())),
        }
    }
    let fs = FsContext::open("overlay")
        .context(|| "open an overlay filesystem context (is overlayfs available?)".into())?;
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let per_layer = layers
        .iter()
        .rev()
        .try_for_each(|l| fs.set("lowerdir+", &s(l)));
    match per_layer {
        Ok(()) => {}
        Err(Errno::EINVAL) => {
            // A kernel before 6.8: one string, which must fit in a page.
            let joined: Vec<String> = layers.iter().rev().map(|l| s(l)).collect();
            let joined = joined.join(":");
            if joined.len() >= 4096 {
                return Err(Error::Invalid(format!(
                    "{} layers make a lowerdir option of {} bytes: this kernel takes one layer per call only from 6.8 on, and one string of at most a page before",
                    layers.len(),
                    joined.len()
                )));
            }
            fs.set("lowerdir", &joined)
                .context(|| "overlay lowerdir".into())?;
        }
        Err(e) => return Err(e).context(|| "overlay lowerdir+".into()),
    }
    fs.set("upperdir", &s(upper))
        .context(|| format!("overlay upperdir {}", upper.display()))?;
    fs.set("workdir", &s(work))
        .context(|| format!("overlay workdir {}", work.display()))?;
    let mnt = fs.mount(0).context(|| "create the overlay".into())?;
    sys::move_mount_to(&mnt, merged)
        .context(|| format!("mount the overlay at {}", merged.display()))
}

/// Bytes the disk takes on the host: the image's allocated blocks, or the upper
/// directory's files.
pub fn used_bytes(image: Option<&Path>, upper: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    if let Some(img) = image {
        return std::fs::metadata(img).ok().map(|m| m.blocks() * 512);
    }
    fn walk(p: &Path, total: &mut u64) {
        if let Ok(entries) = std::fs::read_dir(p) {
            for e in entries.flatten() {
                if let Ok(m) = e.metadata() {
                    *total += m.blocks() * 512;
                    if m.is_dir() {
                        walk(&e.path(), total);
                    }
                }
            }
        }
    }
    let mut total = 0;
    walk(upper, &mut total);
    Some(total)
}
