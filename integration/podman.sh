#!/usr/bin/env bash
# podman with vrun as its OCI runtime: run --rm with an exit status, run -d + exec + stop + rm.
# podman gets its own storage (vfs) and run dirs under a temp dir, removed at the end.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need podman podman python3 python3
build_vrun

work=$(mktemp -d /tmp/vrun-podman.XXXXXX)
# podman's cgroupfs manager makes libpod_parent/conmon in every hierarchy and never removes it
had_libpod_parent=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null || true)
# podman calls the runtime without --root: vrun's default state root appears
had_run_vrun=$([ -d /run/vrun ] && echo yes || true)
# and podman its own under /run (its lock and events, its networks' runtime dir)
had_run_podman=$([ -d /run/libpod ] || [ -d /run/containers ] && echo yes || true)
P=(podman --root "$work/storage" --runroot "$work/run" --storage-driver vfs --cgroup-manager cgroupfs
   --events-backend file --runtime "$VRUN")
RUN=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
cleanup() {
  "${P[@]}" rm -af -t 0 >/dev/null 2>&1 || true
  "${P[@]}" rmi -af >/dev/null 2>&1 || true
  grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
  if [ -z "$had_libpod_parent" ]; then
    for d in /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent; do
      [ -d "$d" ] && { rmdir "$d/conmon" 2>/dev/null; rmdir "$d" 2>/dev/null; }
    done
  fi
  [ -n "$had_run_vrun" ] || rmdir /run/vrun 2>/dev/null
  [ -n "$had_run_podman" ] || rm -rf /run/libpod /run/containers
  true
}
trap cleanup EXIT
fail() { echo "podman.sh: FAIL: $*" >&2; exit 1; }

log "import a local busybox image"
busybox_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | "${P[@]}" import - localhost/vrun-busybox >/dev/null

log "podman run --rm: output and exit status"
set +e
out=$("${P[@]}" run --rm "${RUN[@]}" localhost/vrun-busybox sh -c 'echo hi; exit 3')
rc=$?
set -e
[ "$out" = hi ] || fail "run printed '$out', not 'hi'"
[ "$rc" = 3 ] || fail "run exited $rc, not 3"
echo "run --rm: printed '$out', exit $rc"

log "podman's default seccomp profile is loaded"
# podman passes its default profile (x86_64/x86/x32, hundreds of rules, conditions on
# arguments): vrun must compile and load it. (What a filter denies is checked by
# tests/seccomp.rs; busybox makes none of the calls podman's profile denies to root.)
out=$("${P[@]}" run --rm "${RUN[@]}" localhost/vrun-busybox sh -c 'grep "^Seccomp" /proc/self/status | tr "\t" " "')
case "$out" in
*"Seccomp: 2"*"Seccomp_filters: 1"*) echo "seccomp: podman's profile loaded ($(echo $out))" ;;
*) fail "no seccomp filter in the container: $out" ;;
esac

log "podman with vrun's virtual disk, through annotations"
# podman passes --annotation into config.json: a 32 MiB disk under the container's root.
out=$("${P[@]}" run --rm "${RUN[@]}" --annotation run.vrun.rootfs.size=32M localhost/vrun-busybox \
    sh -c 'df -k / | tail -1 | awk "{print \$2}"; dd if=/dev/zero of=/fill bs=1M count=40 2>&1 | grep -c "No space left"')
size=$(echo "$out" | head -1)
[ "$size" -gt 16000 ] && [ "$size" -lt 33000 ] || fail "root is not the 32M disk: $out"
[ "$(echo "$out" | tail -1)" = 1 ] || fail "40M fit on a 32M disk: $out"
echo "annotation disk: / is ${size}K, 40M refused"

log "podman run -d, exec, stop, rm"
"${P[@]}" run -d --name vrun-podman-d "${RUN[@]}" localhost/vrun-busybox sleep 1000 >/dev/null
state=$("${P[@]}" inspect -f '{{.State.Status}}' vrun-podman-d)
[ "$state" = running ] || fail "detached container is '$state'"
out=$("${P[@]}" exec vrun-podman-d sh -c 'echo pid1=$(cat /proc/1/cmdline | tr "\0" " ")')
[ "$out" = "pid1=sleep 1000" ] || fail "exec printed '$out'"
# sleep as pid 1 ignores SIGTERM: podman kills it after the timeout, as with runc
"${P[@]}" stop -t 2 vrun-podman-d >/dev/null
state=$("${P[@]}" inspect -f '{{.State.Status}}' vrun-podman-d)
[ "$state" = exited ] || fail "stopped container is '$state'"
"${P[@]}" rm vrun-podman-d >/dev/null
echo "run -d / exec / stop / rm: ok"
echo "podman.sh: 6 passed, 0 failed"
