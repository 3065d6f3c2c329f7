#!/usr/bin/env bash
# Times `RUNTIME run` of one busybox /bin/true bundle, N times per runtime, interleaved (vrun,
# runc, crun; youki too with BENCH_YOUKI=1, see below), and prints the median and each one's
# ratio to vrun. Two more rows are vrun with its virtual disk: an overlay root (--overlay)
# and an overlay whose upper layer is a fresh 64 MiB ext4 image on a loop device
# (--disk-size 64M), so that the cost of the disk is known.
#
# crun refuses hybrid cgroup hosts, so every runtime runs in one private mount namespace where
# /sys/fs/cgroup/unified is unmounted: the same view of the machine for all of them.
#   N=200 integration/bench/lifecycle.sh
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need runc runc crun crun python3 python3
build_vrun
N=${N:-100}

work=$(mktemp -d /tmp/vrun-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
make_bundle "$work/bundle" /bin/true

runtimes=(vrun=$VRUN runc=$(command -v runc) crun=$(command -v crun) vrun-overlay=$VRUN vrun-disk64m=$VRUN)
# youki 0.7 (cargo install youki --features v1,v2) now and then never reaps its process and
# hangs (seen twice in 800 runs here); it is measured only on request.
if [ "${BENCH_YOUKI:-0}" = 1 ] && command -v youki >/dev/null; then runtimes+=(youki=$(command -v youki)); fi

export N work
unshare -m --propagation private bash -s "${runtimes[@]}" <<'INNER'
set -euo pipefail
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
declare -A bin
names=()
declare -A flags=([vrun-overlay]="--overlay" [vrun-disk64m]="--disk-size 64M")
for r in "$@"; do names+=("${r%%=*}"); bin[${r%%=*}]=${r#*=}; done
# one warm-up run each (page cache, first-run setup), not timed
for n in "${names[@]}"; do "${bin[$n]}" --root "$work/state-$n" run ${flags[$n]:-} --bundle "$work/bundle" warm-$n </dev/null >/dev/null; done
for i in $(seq "$N"); do
  for n in "${names[@]}"; do
    t0=$EPOCHREALTIME
    # A peer that hangs costs its run, not the bench.
    if timeout -s KILL 20 "${bin[$n]}" --root "$work/state-$n" run ${flags[$n]:-} --bundle "$work/bundle" bench-$n-$i </dev/null >/dev/null 2>&1; then
      t1=$EPOCHREALTIME
      echo "$n ${t0/./} ${t1/./}" >>"$work/times"
    else
      echo "$n failed" >>"$work/times"
      timeout -s KILL 20 "${bin[$n]}" --root "$work/state-$n" delete --force bench-$n-$i >/dev/null 2>&1 || true
    fi
  done
done
INNER

python3 - "$work/times" "$N" <<'PY'
import statistics, sys
runs, failed = {}, {}
for line in open(sys.argv[1]):
    name, *rest = line.split()
    if rest == ["failed"]:
        failed[name] = failed.get(name, 0) + 1
        continue
    runs.setdefault(name, []).append((int(rest[1]) - int(rest[0])) / 1000.0)
base = statistics.median(runs["vrun"])
print(f"run of a busybox /bin/true bundle, {sys.argv[2]} runs each, interleaved (milliseconds)")
print(f"{'runtime':13} {'median':>8} {'p10':>8} {'p90':>8} {'vs vrun':>8} {'failed':>7}")
for name, t in runs.items():
    t.sort()
    med = statistics.median(t)
    print(f"{name:13} {med:8.2f} {t[len(t)//10]:8.2f} {t[len(t)*9//10]:8.2f} {med/base:7.2f}x {failed.get(name, 0):7}")
PY
