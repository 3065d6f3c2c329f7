//! The container's virtual disk (see vrun_rootfs::disk for the mounts): what the flags and
//! annotations ask for, checked before anything is made; what is made in the state store;
//! what `delete` removes; what `vrun disk list` shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vrun_rootfs::disk::{self, LoopDevice};

use crate::error::{Error, Result};
use crate::size::parse_size;

/// Every annotation vrun reads starts with this.
pub const ANNOTATION_PREFIX: &str = "run.vrun.";
pub const ANNOTATION_OVERLAY: &str = "run.vrun.rootfs.overlay";
pub const ANNOTATION_LAYERS: &str = "run.vrun.rootfs.layers";
pub const ANNOTATION_SIZE: &str = "run.vrun.rootfs.size";
pub const ANNOTATION_IO: &str = "run.vrun.disk.io";
/// Where disks made with `--keep-disk` live (not a valid container id, so never a state
/// directory).
pub const KEPT_DISKS: &str = "@kept-disks";
/// Where the empty filesystem images new disks are copied from live, one per size (see
/// vrun_rootfs::disk::make_image). Not a valid container id either.
pub const DISK_TEMPLATES: &str = "@disk-templates";

/// The command line's disk flags (create and run).
#[derive(Debug, Clone, Default)]
pub struct DiskOptions {
    pub overlay: bool,
    pub layers: Vec<PathBuf>,
    pub upper_dir: Option<PathBuf>,
    pub size: Option<String>,
    pub tmpfs: bool,
    pub io: Option<String>,
    pub keep: bool,
}

/// io.max / blkio throttles for the disk's loop device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoLimits {
    pub rbps: Option<u64>,
    pub wbps: Option<u64>,
    pub riops: Option<u64>,
    pub wiops: Option<u64>,
}

/// A container's disk, as recorded in its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiskState {
    /// Read-only layers, lowest first (root.path is the first).
    pub layers: Vec<PathBuf>,
    /// The directory holding what vrun made: image, upper fs mount point, merged.
    pub dir: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub merged: PathBuf,
    /// The upper was given with --upper-dir: delete keeps it.
    pub given_upper: bool,
    /// --keep-disk: delete keeps `dir`.
    pub keep: bool,
    pub size: Option<u64>,
    pub tmpfs: bool,
    pub image: Option<PathBuf>,
    /// "major:minor" and path of the loop device, while attached.
    pub loop_device: Option<(u64, u64, PathBuf)>,
    pub io: Option<IoLimits>,
}

/// What was asked, checked: nothing is made yet.
#[derive(Debug, Clone)]
pub struct DiskPlan {
    layers: Vec<PathBuf>,
    pub(crate) upper_dir: Option<PathBuf>,
    size: Option<u64>,
    tmpfs: bool,
    io: Option<IoLimits>,
    keep: bool,
}

fn parse_io(text: &str, what: &str) -> Result<IoLimits> {
    let mut io = IoLimits::default();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| {
            Error::Invalid(format!(
                "{what}: {part:?} is not KEY=VALUE (rbps, wbps, riops, wiops)"
            ))
        })?;
        let n = if key.ends_with("bps") {
            parse_size(value).ok().filter(|v| *v > 0).map(|v| v as u64)
        } else {
            value.parse::<u64>().ok().filter(|v| *v > 0)
        }
        .ok_or_else(|| {
            Error::Invalid(format!("{what}: {key}={value:?} is not a positive number"))
        })?;
        match key {
            "rbps" => io.rbps = Some(n),
            "wbps" => io.wbps = Some(n),
            "riops" => io.riops = Some(n),
            "wiops" => io.wiops = Some(n),
            _ => {
                return Err(Error::Invalid(format!(
                    "{what}: unknown key {key:?} (rbps, wbps, riops, wiops)"
                )))
            }
        }
    }
    Ok(io)
}

/// How an error names a setting: the flag when it was given, else the annotation.
fn source(from_flag: bool, flag: &str, annotation: &str) -> String {
    if from_flag {
        flag.to_string()
    } else {
        format!("annotation {annotation}")
    }
}

/// The disk the flags and the config's annotations ask for (flags win), or None. Checks
/// everything that can be checked before anything is made: layers, size, the upper
/// directory's filesystem (whether a live container uses it is the state's to say:
/// [`crate::state::check_upper_dir_unused`]).
pub fn plan(
    opts: &DiskOptions,
    annotations: &HashMap<String, String>,
    rootfs: &Path,
    user_namespace: bool,
) -> Result<Option<DiskPlan>> {
    let ann = |k: &str| {
        annotations
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let mut layers: Vec<PathBuf> = opts.layers.clone();
    let from_annotation = layers.is_empty();
    if from_annotation {
        if let Some(l) = ann(ANNOTATION_LAYERS) {
            layers = l
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect();
        }
    }
    let size_text = opts
        .size
        .clone()
        .or_else(|| ann(ANNOTATION_SIZE).map(String::from));
    let io_text = opts
        .io
        .clone()
        .or_else(|| ann(ANNOTATION_IO).map(String::from));
    let wanted = opts.overlay
        || ann(ANNOTATION_OVERLAY) == Some("true")
        || !layers.is_empty()
        || opts.upper_dir.is_some()
        || size_text.is_some()
        || opts.tmpfs
        || io_text.is_some()
        || opts.keep;
    if !wanted {
        return Ok(None);
    }
    let all = checked_layers(rootfs, &layers, from_annotation)?;
    let size = checked_size(opts, size_text.as_deref())?;
    if opts.tmpfs && size.is_none() {
        return Err(Error::Invalid(
            "--disk-tmpfs needs --disk-size (the tmpfs's size)".into(),
        ));
    }
    let io = match &io_text {
        None => None,
        Some(t) => {
            let what = source(opts.io.is_some(), "--disk-io", ANNOTATION_IO);
            if size.is_none() || opts.tmpfs {
                return Err(Error::Invalid(format!(
                    "{what}: io limits need a disk device of the container's own (--disk-size without --disk-tmpfs)"
                )));
            }
            Some(parse_io(t, &what)?)
        }
    };
    if user_namespace && size.is_some() && !opts.tmpfs {
        return Err(Error::Invalid(
            "--disk-size: an ext4 disk cannot be mounted inside a user namespace (use --disk-tmpfs, or no user namespace)".into(),
        ));
    }
    let upper_dir = checked_upper_dir(opts, size)?;
    Ok(Some(DiskPlan {
        layers: all,
        upper_dir,
        size,
        tmpfs: opts.tmpfs,
        io,
        keep: opts.keep,
    }))
}

/// The rootfs and the layers over it, each an existing directory.
fn checked_layers(
    rootfs: &Path,
    layers: &[PathBuf],
    from_annotation: bool,
) -> Result<Vec<PathBuf>> {
    let mut all = vec![rootfs.to_path_buf()];
    for (i, l) in layers.iter().enumerate() {
        let what = if from_annotation {
            format!("annotation {ANNOTATION_LAYERS} (layer {i})")
        } else {
            "--layer".to_string()
        };
        let abs = std::path::absolute(l).unwrap_or_else(|_| l.clone());
        match std::fs::metadata(&abs) {
            Ok(m) if m.is_dir() => all.push(abs),
            Ok(_) => {
                return Err(Error::Invalid(format!(
                    "{what}: {} is not a directory",
                    l.display()
                )))
            }
            Err(_) => {
                return Err(Error::Invalid(format!(
                    "{what}: {} does not exist",
                    l.display()
                )))
            }
        }
    }
    Ok(all)
}

/// The disk's size (`--disk-size` or its annotation), at least the smallest image.
fn checked_size(opts: &DiskOptions, size_text: Option<&str>) -> Result<Option<u64>> {
    Ok(match size_text {
        None => None,
        Some(t) => {
            let what = source(opts.size.is_some(), "--disk-size", ANNOTATION_SIZE);
            let v = parse_size(t).map_err(|e| Error::Invalid(format!("{what}: {t:?}: {e}")))?;
            if v < disk::MIN_IMAGE_SIZE as i64 {
                return Err(Error::Invalid(format!(
                    "{what}: {t:?} is too small for a disk (at least {} MiB)",
                    disk::MIN_IMAGE_SIZE >> 20
                )));
            }
            Some(v as u64)
        }
    })
}

/// `--upper-dir`: not beside a disk of its own, on a filesystem that can hold an upper layer.
fn checked_upper_dir(opts: &DiskOptions, size: Option<u64>) -> Result<Option<PathBuf>> {
    Ok(match &opts.upper_dir {
        None => None,
        Some(d) => {
            if size.is_some() {
                return Err(Error::Invalid(
                    "--upper-dir and --disk-size: the upper layer is either a directory or a disk of its own".into(),
                ));
            }
            let d = std::path::absolute(d).unwrap_or_else(|_| d.clone());
            // Made by `make`, once everything is checked: here its nearest existing ancestor
            // tells the filesystem it will be on.
            let existing = d.ancestors().find(|a| a.exists()).unwrap_or(Path::new("/"));
            if !existing.is_dir() {
                return Err(Error::Invalid(format!(
                    "--upper-dir {}: {} is not a directory",
                    d.display(),
                    existing.display()
                )));
            }
            disk::check_upper_filesystem(existing)
                .map_err(|e| Error::Invalid(format!("--upper-dir {}: {e}", d.display())))?;
            Some(d)
        }
    })
}

/// What [`make`] made.
pub struct Made {
    pub state: DiskState,
    /// Held until init has mounted the image.
    pub loop_device: Option<LoopDevice>,
    /// The disk's directory did not exist before: a failed create removes it, also when it
    /// is one delete would keep (--upper-dir, --keep-disk).
    pub new_dir: bool,
}

/// Makes the disk's directories (and image and loop device) for container `id`.
pub fn make(plan: &DiskPlan, state_root: &Path, state_dir: &Path, id: &str) -> Result<Made> {
    let io = |what: String| {
        move |e: std::io::Error| Error::Io {
            what: what.clone(),
            source: e,
        }
    };
    let dir = match (&plan.upper_dir, plan.keep) {
        (Some(d), _) => d.clone(),
        (None, true) => state_root.join(KEPT_DISKS).join(id),
        (None, false) => state_dir.join("disk"),
    };
    let new_dir = !dir.exists();
    std::fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
    if plan.upper_dir.is_none() {
        disk::check_upper_filesystem(&dir).map_err(|e| Error::Invalid(e.to_string()))?;
    }
    // merged and the upper fs mount point are only mount points: in the state directory.
    let mounts = state_dir.join("disk-mnt");
    let merged = mounts.join("merged");
    let upper_fs = mounts.join("upper-fs");
    for d in [&merged, &upper_fs] {
        std::fs::create_dir_all(d).map_err(io(format!("create {}", d.display())))?;
    }
    let (base, image, loop_dev) = match plan.size {
        Some(size) if !plan.tmpfs => {
            let image = dir.join("disk.img");
            if !image.exists() {
                disk::make_image(&image, size, &state_root.join(DISK_TEMPLATES))
                    .map_err(|e| Error::Invalid(e.to_string()))?;
            }
            let dev = disk::attach_loop(&image).map_err(|e| Error::Invalid(e.to_string()))?;
            (upper_fs.clone(), Some(image), Some(dev))
        }
        Some(_) => (upper_fs.clone(), None, None),
        None => (dir.clone(), None, None),
    };
    let state = DiskState {
        layers: plan.layers.clone(),
        dir,
        upper: base.join(vrun_rootfs::disk::UPPER),
        work: base.join(vrun_rootfs::disk::WORK),
        merged,
        given_upper: plan.upper_dir.is_some(),
        keep: plan.keep,
        size: plan.size,
        tmpfs: plan.tmpfs,
        image,
        loop_device: loop_dev
            .as_ref()
            .map(|d| (d.major, d.minor, d.path.clone())),
        io: plan.io,
    };
    if state.keep {
        // So that `vrun disk list` still knows it once the container is gone.
        let text = serde_json::to_vec_pretty(&state).map_err(|e| Error::Invalid(e.to_string()))?;
        std::fs::write(state.dir.join(DISK_RECORD), text).map_err(io(format!(
            "write {}",
            state.dir.join(DISK_RECORD).display()
        )))?;
    }
    Ok(Made {
        state,
        loop_device: loop_dev,
        new_dir,
    })
}

const DISK_RECORD: &str = "disk.json";

/// One row of `vrun disk list`.
#[derive(Debug, Clone, Serialize)]
pub struct DiskRow {
    pub id: String,
    /// The container's status, or "kept" for a kept disk whose container is gone.
    pub status: String,
    pub layers: Vec<PathBuf>,
    /// The upper directory, or the image holding it.
    pub upper: PathBuf,
    /// "dir", "tmpfs" or "image" (with the loop device while attached).
    pub kind: String,
    pub size: Option<u64>,
    pub used: Option<u64>,
}

/// Every disk under `root`: the containers' (live or stopped: id, status and disk, see
/// [`crate::state::disks`]) and the kept ones.
pub fn list(root: &Path, containers: Vec<(String, String, DiskState)>) -> Result<Vec<DiskRow>> {
    let row = |id: &str, status: String, d: &DiskState| DiskRow {
        id: id.to_string(),
        status,
        layers: d.layers.clone(),
        // The image (its upper directory is inside it), or the directory itself.
        upper: d.image.clone().unwrap_or_else(|| d.upper.clone()),
        kind: match (&d.image, d.tmpfs) {
            (Some(_), _) => "image".into(),
            (None, true) => "tmpfs".into(),
            _ => "dir".into(),
        },
        size: d.size,
        used: if d.tmpfs {
            None
        } else {
            disk::used_bytes(d.image.as_deref(), &d.upper)
        },
    };
    let mut rows = Vec::new();
    for (id, status, d) in &containers {
        rows.push(row(id, status.clone(), d));
    }
    if let Ok(entries) = std::fs::read_dir(root.join(KEPT_DISKS)) {
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if rows.iter().any(|r| r.id == id) {
                continue;
            }
            let record = std::fs::read(e.path().join(DISK_RECORD)).ok();
            if let Some(d) = record.and_then(|t| serde_json::from_slice::<DiskState>(&t).ok()) {
                rows.push(row(&id, "kept".into(), &d));
            }
        }
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

/// In the container's init, in its own mount namespace and before it is placed in the
/// container's cgroup: mounts the image's filesystem (when the disk has one).
pub fn mount_image(state: &DiskState) -> Result<()> {
    if let Some((_, _, dev)) = &state.loop_device {
        disk::mount_image(dev, &state.merged.with_file_name("upper-fs"))
            .map_err(|e| Error::Invalid(format!("the container's disk: {e}")))?;
    }
    Ok(())
}

/// In the container's init, in its own mount namespace: mounts the disk at `merged`.
pub fn mount(state: &DiskState) -> Result<PathBuf> {
    let upper_fs_dir = state.merged.with_file_name("upper-fs");
    let upper_fs = match (state.tmpfs, state.size) {
        (true, Some(size)) => disk::UpperFs::Tmpfs(size, &upper_fs_dir),
        _ => disk::UpperFs::Dir,
    };
    disk::mount_disk(
        &state.layers,
        upper_fs,
        &state.upper,
        &state.work,
        &state.merged,
    )
    .map_err(|e| Error::Invalid(format!("the container's disk: {e}")))?;
    Ok(state.merged.clone())
}

/// What `delete` removes: the disk's directory, unless it was given (--upper-dir) or kept
/// (--keep-disk). The state-directory parts go with the state directory.
pub fn remove(state: &DiskState) {
    if state.given_upper || state.keep {
        return;
    }
    let _ = std::fs::remove_dir_all(&state.dir);
}

/// What a failed `create` removes: as [`remove`], and the disk's directory whatever its
/// kind when this create made it.
pub fn remove_after_failed_create(state: &DiskState, new_dir: bool) {
    if new_dir {
        let _ = std::fs::remove_dir_all(&state.dir);
        if state.keep {
            // <root>/@kept-disks itself, when this was its only disk.
            if let Some(parent) = state.dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    } else {
        remove(state);
    }
}

/// The throttle lines the disk adds to the container's blockIO.
pub fn add_throttles(
    resources: &mut oci_spec::runtime::LinuxResources,
    state: &DiskState,
) -> Result<()> {
    use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};
    let (Some(io), Some((major, minor, _))) = (state.io, &state.loop_device) else {
        return Ok(());
    };
    let dev = |rate: u64| -> Result<LinuxThrottleDevice> {
        serde_json::from_value(serde_json::json!({"major": major, "minor": minor, "rate": rate}))
            .map_err(|e| Error::Invalid(e.to_string()))
    };
    let mut b: LinuxBlockIo = resources.block_io().clone().unwrap_or_default();
    let add = |list: Option<Vec<LinuxThrottleDevice>>,
               rate: Option<u64>|
     -> Result<Option<Vec<LinuxThrottleDevice>>> {
        let mut l = list.unwrap_or_default();
        if let Some(r) = rate {
            l.push(dev(r)?);
        }
        Ok((!l.is_empty()).then_some(l))
    };
    b.set_throttle_read_bps_device(add(b.throttle_read_bps_device().clone(), io.rbps)?);
    b.set_throttle_write_bps_device(add(b.throttle_write_bps_device().clone(), io.wbps)?);
    b.set_throttle_read_iops_device(add(b.throttle_read_iops_device().clone(), io.riops)?);
    b.set_throttle_write_iops_device(add(b.throttle_write_iops_device().clone(), io.wiops)?);
    resources.set_block_io(Some(b));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_limits_parse() {
        let io = parse_io("rbps=1m,wbps=2048,riops=10,wiops=20", "--disk-io").unwrap();
        assert_eq!(
            io,
            IoLimits {
                rbps: Some(1 << 20),
                wbps: Some(2048),
                riops: Some(10),
                wiops: Some(20)
            }
        );
        assert!(parse_io("speed=1", "--disk-io")
            .unwrap_err()
            .to_string()
            .contains("unknown key"));
        assert!(parse_io("wbps=0", "--disk-io").is_err());
        assert!(parse_io("wbps", "--disk-io").is_err());
    }

    #[test]
    fn every_annotation_is_under_the_prefix_features_reports() {
        for a in [
            ANNOTATION_OVERLAY,
            ANNOTATION_LAYERS,
            ANNOTATION_SIZE,
            ANNOTATION_IO,
        ] {
            assert!(a.starts_with(ANNOTATION_PREFIX), "{a}");
        }
    }
}
