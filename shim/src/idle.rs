//! What an idle shim, and an idle maker, keep mapped of their binary's code: dropped.
//!
//! A pod's shim idles most of its life, yet keeps in its page tables every page of its binary
//! it has run since it started, and the kernel maps 64 KiB around each page it faults in:
//! measured, 2 MB of a one-container pod's shim's 2.5 MB of RSS, and 1.2 MB of its
//! re-exec'd maker's 1.3 MB, against their 0.5 MB of memory of their own. Those pages are the
//! page cache's, one copy for every shim of the node. Once idle, each drops its mappings of
//! them (madvise MADV_DONTNEED on its private, read-only file mappings none of whose pages it
//! has a private copy of: those pages are the file's bytes, which the next access maps again,
//! a minor fault while they are cached). That frees no memory of the node by itself (the
//! cached pages stay, as long as the kernel keeps them), but its RSS and PSS are then its
//! own: what a node's monitoring counts per shim, and what issue 24 measures. The next call
//! faults back the pages it runs.
//!
//! When: the maker once it has re-exec'd itself (maker.rs's `shed`, after a second idle), the
//! shim once none of its threads has run for `QUIET` (its process's CPU time, less this
//! watcher's own, grown by no more than `RAN` in that time), again after each time it worked.

use std::time::Duration;

/// How long the shim's threads must not run before it drops its code's mappings, and how
/// often its watcher looks: it drops them between `QUIET` and twice that after it worked.
const QUIET: Duration = Duration::from_millis(500);

/// More CPU time than the other threads take in a `QUIET` when they do not run: the two
/// clocks, read one after the other, differ by this thread's time between the reads.
const RAN: Duration = Duration::from_micros(100);

/// A private, read-only mapping of this process's own binary with no page of its own (no
/// page written, by a relocation or a debugger's breakpoint), as /proc/self/smaps showed it:
/// made only by `clean_file_mappings`. (Only the binary's: its mappings are made at exec and
/// never unmapped, where a library's or a data file's might be, and its range reused.)
#[derive(Debug, PartialEq)]
pub struct CleanFileMapping {
    pub start: usize,
    pub len: usize,
}

/// A file as /proc/PID/smaps names it: device (`MAJOR:MINOR`, in hex) and inode.
#[derive(Debug, PartialEq)]
pub struct FileId {
    pub dev: String,
    pub inode: String,
}

impl FileId {
    /// This process's binary, as /proc/self/exe gives it (its file, even once replaced).
    pub fn of_own_binary() -> std::io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata("/proc/self/exe")?;
        let dev = m.dev();
        Ok(FileId {
            dev: format!("{:02x}:{:02x}", libc::major(dev), libc::minor(dev)),
            inode: m.ino().to_string(),
        })
    }
}

/// The mappings of `smaps` (the text of /proc/self/smaps) of `file` whose pages are all the
/// file's and some are mapped: not writable, private, no Anonymous pages, not locked.
pub fn clean_file_mappings(smaps: &str, file: &FileId) -> Vec<CleanFileMapping> {
    struct Vma {
        start: usize,
        len: usize,
        candidate: bool,
        rss_kb: u64,
        anonymous_kb: Option<u64>,
        flags_ok: bool,
    }
    let done = |v: Vma, out: &mut Vec<CleanFileMapping>| {
        if v.candidate && v.rss_kb > 0 && v.anonymous_kb == Some(0) && v.flags_ok {
            out.push(CleanFileMapping {
                start: v.start,
                len: v.len,
            });
        }
    };
    let mut out = Vec::new();
    let mut vma: Option<Vma> = None;
    for line in smaps.lines() {
        let mut words = line.split_ascii_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((from, to)) = first.split_once('-') {
            // a mapping's header: START-END PERMS OFFSET DEV INODE [PATH]
            let (Ok(from), Ok(to)) = (
                usize::from_str_radix(from, 16),
                usize::from_str_radix(to, 16),
            ) else {
                continue;
            };
            if let Some(v) = vma.take() {
                done(v, &mut out);
            }
            let perms = words.next().unwrap_or("").as_bytes();
            let dev = words.nth(1).unwrap_or("");
            let inode = words.next().unwrap_or("");
            let candidate = perms.len() == 4
                && perms[1] == b'-'
                && perms[3] == b'p'
                && dev == file.dev
                && inode == file.inode;
            vma = Some(Vma {
                start: from,
                len: to.saturating_sub(from),
                candidate,
                rss_kb: 0,
                anonymous_kb: None,
                flags_ok: true,
            });
            continue;
        }
        let Some(v) = vma.as_mut() else { continue };
        let number = || words.clone().next().and_then(|n| n.parse::<u64>().ok());
        match first {
            "Rss:" => v.rss_kb = number().unwrap_or(0),
            "Anonymous:" => v.anonymous_kb = number(),
            "VmFlags:" => v.flags_ok = !words.clone().any(|f| f == "lo"),
            _ => {}
        }
    }
    if let Some(v) = vma {
        done(v, &mut out);
    }
    out
}

/// Drops this process's mappings of its clean file pages (see the module's comment); the
/// bytes of their pages that it dropped, or why it could not read its mappings.
pub fn drop_clean_file_mappings() -> std::io::Result<usize> {
    let file = FileId::of_own_binary()?;
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mappings = clean_file_mappings(&smaps, &file);
    Ok(crate::sys::drop_mapped_pages(&mappings))
}

/// The CPU time of this process's threads other than the calling one.
fn others_cpu_time() -> Option<Duration> {
    use nix::time::{clock_gettime, ClockId};
    let all = Duration::from(clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).ok()?);
    let own = Duration::from(clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?);
    Some(all.saturating_sub(own))
}

/// Starts the shim's watcher thread: it drops the shim's code mappings once its other threads
/// have not run for `QUIET`, once for each time they ran.
pub fn watch_shim() {
    let spawned = std::thread::Builder::new().name("idle".into()).spawn(|| {
        let mut seen = others_cpu_time();
        let mut dropped = false;
        loop {
            std::thread::sleep(QUIET);
            let now = others_cpu_time();
            let ran = match (seen, now) {
                (Some(seen), Some(now)) => now.saturating_sub(seen) > RAN,
                _ => true,
            };
            seen = now;
            if ran {
                dropped = false;
            } else if !dropped {
                if let Err(e) = drop_clean_file_mappings() {
                    tracing::warn!("drop the idle shim's code mappings: {e}");
                }
                dropped = true;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("the idle watcher thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
00200000-003f6000 r--p 00000000 fe:00 5318220                            /usr/bin/containerd-shim-vrun-v2
Size:               2008 kB
Rss:                 640 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
003f6000-00ab3000 r-xp 001f5000 fe:00 5318220                            /usr/bin/containerd-shim-vrun-v2
Size:               6900 kB
Rss:                1412 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
00ab3000-00ab8000 r--p 008b1000 fe:00 5318220                            /usr/bin/containerd-shim-vrun-v2
Rss:                  20 kB
Anonymous:            12 kB
VmFlags: rd mr mw me ac
00ab8000-00abd000 rw-p 008b5000 fe:00 5318220                            /usr/bin/containerd-shim-vrun-v2
Rss:                  20 kB
Anonymous:            20 kB
VmFlags: rd wr mr mw me ac
375dd000-375ff000 rw-p 00000000 00:00 0                                  [heap]
Rss:                 124 kB
Anonymous:           124 kB
VmFlags: rd wr mr mw me ac
7f0000000000-7f0000010000 r--p 00000000 fe:00 5318220                    /usr/bin/containerd-shim-vrun-v2
Rss:                   0 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
7f0000100000-7f0000110000 r--s 00000000 fe:00 5318220                    /usr/bin/containerd-shim-vrun-v2
Rss:                  64 kB
Anonymous:             0 kB
VmFlags: rd mr me ms
7f0000200000-7f0000210000 r-xp 00000000 fe:00 5318220                    /usr/bin/containerd-shim-vrun-v2
Rss:                  64 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me lo
7f0000300000-7f0000310000 r-xp 00000000 fe:00 44                         /usr/lib/libother.so
Rss:                  64 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
7f0000400000-7f0000410000 r-xp 00000000 fe:01 5318220                    /other/dev/same/inode
Rss:                  64 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
7ffeb3969000-7ffeb398a000 rw-p 00000000 00:00 0                          [stack]
Rss:                  12 kB
Anonymous:            12 kB
VmFlags: rd wr mr mw me gd ac
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
Rss:                   0 kB
Anonymous:             0 kB
VmFlags: ex
";

    fn shim() -> FileId {
        FileId {
            dev: "fe:00".into(),
            inode: "5318220".into(),
        }
    }

    #[test]
    fn only_the_binarys_read_only_private_mappings_with_no_page_of_their_own() {
        assert_eq!(
            clean_file_mappings(SMAPS, &shim()),
            vec![
                CleanFileMapping {
                    start: 0x200000,
                    len: 0x1f6000
                },
                CleanFileMapping {
                    start: 0x3f6000,
                    len: 0x6bd000
                },
            ]
        );
    }

    #[test]
    fn a_mapping_whose_anonymous_count_is_missing_is_kept() {
        let smaps = "00200000-003f6000 r--p 00000000 fe:00 5318220 /bin/x\nRss: 640 kB\n";
        assert_eq!(clean_file_mappings(smaps, &shim()), vec![]);
    }

    #[test]
    fn this_process_drops_its_code_mappings_and_runs_on() {
        let before = rss_of_clean_mappings();
        assert!(before > 0, "no clean file mapping of this test is mapped");
        drop_clean_file_mappings().expect("read /proc/self/smaps");
        // (this test's code is faulted back in as it runs: a few pages, not all it had)
        let after = rss_of_clean_mappings();
        assert!(
            after < before,
            "{after} kB mapped after, {before} kB before"
        );
    }

    fn rss_of_clean_mappings() -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let clean = clean_file_mappings(&smaps, &FileId::of_own_binary().unwrap());
        let mut total = 0;
        let mut counting = false;
        for line in smaps.lines() {
            let first = line.split_ascii_whitespace().next().unwrap_or("");
            if let Some((from, _)) = first.split_once('-') {
                if let Ok(from) = usize::from_str_radix(from, 16) {
                    counting = clean.iter().any(|m| m.start == from);
                    continue;
                }
            }
            if counting && first == "Rss:" {
                total += line
                    .split_ascii_whitespace()
                    .nth(1)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
            }
        }
        total
    }
}
