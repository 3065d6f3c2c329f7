#!/usr/bin/env bash
# containerd (a private daemon) running containers through the runc v2 shim with vrun as its
# runtime binary: `ctr run --rm` passes output and exit status on; a detached task is killed
# and deleted. The daemon, its state and every mount it made are removed at the end.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need containerd containerd python3 python3
build_vrun

work=$(mktemp -d /tmp/vrun-containerd.XXXXXX)
sock=$work/containerd.sock
daemon=
cleanup() {
  set +e
  if [ -n "$daemon" ]; then
    for t in $(ctr --address "$sock" tasks ls -q 2>/dev/null); do ctr --address "$sock" tasks kill -s KILL "$t"; done
    sleep 0.5
    for t in $(ctr --address "$sock" tasks ls -q 2>/dev/null); do ctr --address "$sock" tasks delete -f "$t"; done
    for c in $(ctr --address "$sock" containers ls -q 2>/dev/null); do ctr --address "$sock" containers delete "$c"; done
    kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null
  fi
  grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
  # The runc shim keeps its runtime root (--root for vrun) and fifos under /run/containerd,
  # whatever the daemon's own state dir: remove those directories if this run left them empty
  # (a system containerd's would not be).
  rmdir /run/containerd/runc/default /run/containerd/fifo /run/containerd/runc /run/containerd/s /run/containerd 2>/dev/null
}
trap cleanup EXIT
fail() { echo "containerd.sh: FAIL: $*" >&2; exit 1; }
C=(ctr --address "$sock")

log "start a private containerd"
cat >"$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
TOML
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${C[@]}" version >/dev/null || { cat "$work/containerd.log"; fail "containerd did not start"; }

log "import a local busybox image"
busybox_rootfs "$work/rootfs"
python3 "$top/integration/lib/oci-image.py" "$work/rootfs" localhost/vrun-busybox:latest "$work/image.tar"
"${C[@]}" images import "$work/image.tar" >/dev/null

RUN=(run --runc-binary "$VRUN" --snapshotter native)
log "ctr run --rm: output and exit status"
set +e
out=$("${C[@]}" "${RUN[@]}" --rm localhost/vrun-busybox:latest vrun-ctr-1 sh -c 'echo hi from pid $$; exit 3')
rc=$?
set -e
[ "$out" = "hi from pid 1" ] || fail "ctr run printed '$out'"
[ "$rc" = 3 ] || fail "ctr run exited $rc, not 3"
echo "ctr run --rm: printed '$out', exit $rc"

log "ctr run -d, tasks ps, kill, delete"
"${C[@]}" "${RUN[@]}" -d localhost/vrun-busybox:latest vrun-ctr-2 sleep 1000 >/dev/null
status=$("${C[@]}" tasks ls | awk '$1=="vrun-ctr-2"{print $3}')
[ "$status" = RUNNING ] || fail "detached task is '$status'"
n=$("${C[@]}" tasks ps vrun-ctr-2 | tail -n +2 | wc -l)
[ "$n" = 1 ] || fail "tasks ps shows $n processes"
"${C[@]}" tasks kill -s KILL vrun-ctr-2
for _ in $(seq 50); do
  status=$("${C[@]}" tasks ls | awk '$1=="vrun-ctr-2"{print $3}')
  [ "$status" = STOPPED ] && break
  sleep 0.1
done
[ "$status" = STOPPED ] || fail "killed task is '$status'"
"${C[@]}" tasks delete vrun-ctr-2 >/dev/null
"${C[@]}" containers delete vrun-ctr-2
echo "run -d / ps / kill / delete: ok"
echo "containerd.sh: 4 passed, 0 failed"
