#!/usr/bin/env bash
# vrun against crun and runc, every verb, footprint, concurrency and the virtual disk:
# integration/bench/bench.py does the measuring (see README.md here for the method).
#
#   integration/bench/run.sh                 # the full run: 40 rounds, 5 x 100 concurrent;
#                                            # writes integration/bench/results/
#   integration/bench/run.sh --quick         # CI's: 8 rounds, 2 x 100 concurrent, into a temp
#                                            # dir; fails only if vrun is over 2x crun somewhere
#
# crun refuses hybrid cgroup hosts, so every runtime runs in one private mount namespace where
# /sys/fs/cgroup/unified is unmounted: the same view of the machine for all of them.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need runc runc crun crun python3 python3 cc gcc /usr/lib/x86_64-linux-gnu/libc.a libc6-dev
build_vrun

work=$(mktemp -d /tmp/vrun-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
make_bundle "$work/bundle-true" /bin/true
make_bundle "$work/bundle-wait" sleep 100000
# the launcher that times each command and reads its peak RSS (see spawn.c)
cc -O2 -static -o "$work/spawn" "$top/integration/bench/spawn.c"

if [ "${1:-}" = --quick ]; then
  args=(--spawn "$work/spawn" --out "$work/results" --rounds 8 --concurrent-rounds 2 --check 2)
else
  args=(--spawn "$work/spawn" --out "$top/integration/bench/results" --rounds "${ROUNDS:-40}" --concurrent-rounds "${CONCURRENT_ROUNDS:-5}")
fi
runtimes=(vrun="$VRUN" crun="$(command -v crun)" runc="$(command -v runc)")
# BENCH_BASELINE=/path/to/an/older/vrun: measured beside the others, as "vrun-baseline"
if [ -n "${BENCH_BASELINE:-}" ]; then runtimes+=(vrun-baseline="$BENCH_BASELINE"); fi
unshare -m --propagation private bash -s "$work" "$top" "${args[@]}" -- "${runtimes[@]}" <<'INNER'
set -euo pipefail
work=$1 top=$2; shift 2
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
# State roots on a tmpfs, as /run/vrun, /run/crun and /run/runc are: this host's root
# filesystem is mounted with `discard`, which makes every unlink wait for the disk.
mkdir -p "$work/run" && mount -t tmpfs -o size=2g tmpfs "$work/run"
# Whatever happens, no container of the bench outlives it.
cleanup() {
  for d in "$work"/run/state-*/; do
    [ -d "$d" ] || continue
    name=$(basename "$d"); name=${name#state-}
    case $name in vrun) bin=$VRUN ;; vrun-baseline) bin=$BENCH_BASELINE ;; *) bin=$(command -v "$name") ;; esac
    for c in "$d"*/; do
      [ -d "$c" ] && "$bin" --root "$d" delete --force "$(basename "$c")" >/dev/null 2>&1 || true
    done
  done
}
trap cleanup EXIT INT TERM
args=(); while [ "$1" != -- ]; do args+=("$1"); shift; done; shift
python3 "$top/integration/bench/bench.py" --work "$work" "${args[@]}" "$@"
INNER
