#!/usr/bin/env bash
# podman with vrun as its OCI runtime: run --rm with an exit status, podman's seccomp profile,
# vrun's disk through annotations, run -d + exec + logs + exec -it + top + stats + pause/unpause +
# update + stop + rm, run -it, --read-only, --init, --uidmap, and a pod of two containers.
# podman gets its own storage (vfs) and run dirs under a temp dir, removed at the end.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need podman podman python3 python3 script util-linux /usr/bin/catatonit catatonit
build_vrun

work=$(mktemp -d /tmp/vrun-podman.XXXXXX)
# podman's cgroupfs manager makes libpod_parent/conmon in every hierarchy and never removes it
had_libpod_parent=$(ls -d /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null || true)
# podman calls the runtime without --root: vrun's default state root appears
had_run_vrun=$([ -d /run/vrun ] && echo yes || true)
# and, with the disk annotation, its cache of empty disk templates there
had_disk_templates=$([ -d /run/vrun/@disk-templates ] && echo yes || true)
# and podman its own under /run (its lock and events, its networks' runtime dir)
had_run_podman=$([ -d /run/libpod ] || [ -d /run/containers ] && echo yes || true)
# and its blob-info cache, whatever --root says
had_containers_cache=$([ -d /var/lib/containers ] && echo yes || true)
# Without CAP_SYS_RESOURCE no runtime can raise a hard rlimit to podman's defaults (nofile and
# nproc at the maximum): lowered for every container, the pod's infra container too.
export CONTAINERS_CONF=$work/containers.conf
printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n' >"$CONTAINERS_CONF"
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
  [ -n "$had_disk_templates" ] || rm -rf /run/vrun/@disk-templates
  [ -n "$had_run_vrun" ] || rmdir /run/vrun 2>/dev/null || true
  [ -n "$had_run_podman" ] || rm -rf /run/libpod /run/containers
  [ -n "$had_containers_cache" ] || rm -rf /var/lib/containers
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
# podman reads the runtime's words: a missing command is 127, one it cannot run 126
set +e
"${P[@]}" run --rm "${RUN[@]}" localhost/vrun-busybox no-such-command >/dev/null 2>&1
missing=$?
"${P[@]}" run --rm "${RUN[@]}" localhost/vrun-busybox /etc/passwd >/dev/null 2>&1
denied=$?
set -e
[ "$missing" = 127 ] && [ "$denied" = 126 ] || fail "a missing command exited $missing (not 127), a file that is no program $denied (not 126)"
echo "run: a missing command exits 127, a file that is no program 126"

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

P_LINE="${P[*]}"

log "podman run -d, exec, logs, exec -it, top, stats, pause/unpause, update, stop, rm"
"${P[@]}" run -d --name vrun-podman-d "${RUN[@]}" localhost/vrun-busybox sh -c 'echo started; exec sleep 1000' >/dev/null
state=$("${P[@]}" inspect -f '{{.State.Status}}' vrun-podman-d)
[ "$state" = running ] || fail "detached container is '$state'"
out=$("${P[@]}" exec vrun-podman-d sh -c 'echo pid1=$(cat /proc/1/cmdline | tr "\0" " ")')
[ "$out" = "pid1=sleep 1000" ] || fail "exec printed '$out'"
out=$("${P[@]}" logs vrun-podman-d)
[ "$out" = started ] || fail "logs printed '$out'"
out=$(tty_run "$P_LINE exec -it vrun-podman-d tty")
case "$out" in *"/dev/pts/"*) ;; *) fail "exec -it: tty says '$out'" ;; esac
out=$("${P[@]}" top vrun-podman-d pid comm | tail -n +2 | tr -s ' ' | sed 's/^ //')
[ "$out" = "1 sleep" ] || fail "top printed '$out'"
mem=$("${P[@]}" stats --no-stream --format '{{.MemUsage}}' vrun-podman-d)
case "$mem" in 0B*|"") fail "stats: memory '$mem'" ;; esac
"${P[@]}" pause vrun-podman-d >/dev/null
state=$("${P[@]}" inspect -f '{{.State.Status}}' vrun-podman-d)
[ "$state" = paused ] || fail "paused container is '$state'"
"${P[@]}" unpause vrun-podman-d >/dev/null
state=$("${P[@]}" inspect -f '{{.State.Status}}' vrun-podman-d)
[ "$state" = running ] || fail "unpaused container is '$state'"
"${P[@]}" update --memory 64m --cpus 0.5 vrun-podman-d >/dev/null
out=$("${P[@]}" exec vrun-podman-d sh -c 'cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us 2>/dev/null || { cat memory.max; cut -d" " -f1 cpu.max; }' | tr '\n' ' ')
[ "$out" = "67108864 50000 " ] || fail "update: the container sees '$out'"
echo "exec / logs / exec -it / top / stats / pause / update: ok"
# sleep as pid 1 ignores SIGTERM: podman kills it after the timeout, as with runc
"${P[@]}" stop -t 2 vrun-podman-d >/dev/null
state=$("${P[@]}" inspect -f '{{.State.Status}}' vrun-podman-d)
[ "$state" = exited ] || fail "stopped container is '$state'"
"${P[@]}" rm vrun-podman-d >/dev/null
echo "run -d / stop / rm: ok"

log "podman run -it, --read-only, --init, --uidmap"
# podman 4.3 with conmon 2.1.6 loses the output of a terminal container that exits right after it
# writes (here runc's in 9 of 40 runs, vrun's in 1 of 20; none when the shell waits 0.3 s before
# or after `tty`, and none through `exec -it`): the shell waits before it exits.
set +e
out=$(tty_run "$P_LINE run --rm -it ${RUN[*]} localhost/vrun-busybox sh -c 'tty; sleep 1; exit 5'")
rc=$?
set -e
case "$out" in *"/dev/pts/"*) ;; *) fail "run -it: '$out'" ;; esac
[ "$rc" = 5 ] || fail "run -it exited $rc, not 5"
set +e
out=$("${P[@]}" run --rm "${RUN[@]}" --read-only localhost/vrun-busybox touch /newfile 2>&1)
rc=$?
set -e
[ "$rc" != 0 ] && [[ "$out" == *"Read-only file system"* ]] || fail "--read-only: $rc $out"
out=$("${P[@]}" run --rm "${RUN[@]}" --init localhost/vrun-busybox sh -c 'tr "\0" " " </proc/1/cmdline | cut -d" " -f1')
[ "$out" = /run/podman-init ] || fail "--init: pid 1 is '$out'"
out=$("${P[@]}" run --rm "${RUN[@]}" --uidmap 0:100000:65536 --gidmap 0:100000:65536 localhost/vrun-busybox \
  sh -c 'tr -s " " </proc/self/uid_map; id -u; touch /tmp/x && stat -c %u /tmp/x')
[ "$(echo $out)" = "0 100000 65536 0 0" ] || fail "--uidmap: '$(echo $out)'"
echo "run -it / --read-only / --init / --uidmap: ok"

log "a pod: two containers share the infra container's network namespace"
"${P[@]}" pod create --name vrun-podman-pod --network none >/dev/null
for c in a b; do
  "${P[@]}" run -d --pod vrun-podman-pod --name "vrun-podman-pod-$c" localhost/vrun-busybox sleep 1000 >/dev/null
done
a=$("${P[@]}" exec vrun-podman-pod-a readlink /proc/self/ns/net)
b=$("${P[@]}" exec vrun-podman-pod-b readlink /proc/self/ns/net)
host=$(readlink /proc/self/ns/net)
[ "$a" = "$b" ] && [ "$a" != "$host" ] || fail "pod network namespaces: a $a, b $b, host $host"
n=$("${P[@]}" pod inspect -f '{{.NumContainers}}' vrun-podman-pod)
[ "$n" = 3 ] || fail "the pod holds $n containers, not 2 and its infra"
"${P[@]}" pod rm -f -t 0 vrun-podman-pod >/dev/null
echo "pod: ok"
echo "podman.sh: 11 passed, 0 failed"
