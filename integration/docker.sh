#!/usr/bin/env bash
# Docker's view: a private dockerd (its own data root, exec root, socket and pid file; no bridge,
# no iptables), and the everyday flows of `docker run --runtime R` checked, one daemon after the
# other:
# - Debian's Docker 20.10 with `--add-runtime vrun=...`: runc and vrun under runc's shim;
# - today's dockerd (moby's module at MOBY_VERSION, built by integration/k8s/tools.sh), whose
#   runtimes may name a shim (`runtimeType`, Docker 23 and later): runc (today's: RUNC_VERSION,
#   under runc's shim), and vrun's own shim
#   (`io.containerd.vrun.v2`), which Docker 20.10 cannot run. Debian's docker client (API 1.41)
#   drives it: DOCKER_MIN_API_VERSION lets the daemon take that version.
# vrun must pass every check runc passes on the same daemon. Everything started is removed; each
# daemon is stopped by its pid.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need /usr/bin/docker docker.io /usr/sbin/dockerd docker.io script util-linux runc runc \
  /usr/include/seccomp.h libseccomp-dev pkg-config pkg-config
build_vrun
. "$top/integration/k8s/tools.sh"
build_k8s_tools moby runc
TODAYS_DOCKERD=$(k8s_tool_dir moby)/dockerd
# today's dockerd gives every container a time namespace entry (the host's: no path), which
# Debian's runc 1.1 does not know: its peer there is today's runc
TODAYS_RUNC=$(k8s_tool_dir runc)/runc

work=$(mktemp -d /tmp/vrun-docker.XXXXXX)
build_shim "$work"
SHIM_ROOT=/run/containerd/vrun/moby # (vrun's shim's state root for Docker's namespace, moby)
sock=$work/docker.sock
daemon=
# what dockerd and its containerd make outside their roots: removed after, if they made it
had_key=$([ -e /etc/docker/key.json ] && echo yes || true)
had_run_docker=$([ -d /run/docker ] && echo yes || true)
had_run_containerd=$([ -d /run/containerd ] && echo yes || true)
made_dirs=$(absent_dirs "$SHIM_ROOT" /run/containerd/vrun /run/containerd/s)
D=(/usr/bin/docker -H "unix://$sock")
IMG=localhost/vrun-busybox
# This run's shims: their command lines hold paths under $work.
shims() { shims_of "$work/"; }

cleanup() {
  set +e
  if [ -n "$daemon" ]; then
    ids=$("${D[@]}" ps -aq 2>/dev/null)
    [ -n "$ids" ] && "${D[@]}" rm -f $ids >/dev/null 2>&1
    kill "$daemon" 2>/dev/null
    wait "$daemon" 2>/dev/null
  fi
  for p in $(shims); do kill -9 "$p"; done
  vrun_delete_under "$SHIM_ROOT" "$work" 2>/dev/null
  grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  remove_cgroups_under vrun-docker
  rm -rf "$work"
  [ -n "$had_key" ] || rm -f /etc/docker/key.json
  [ -n "$had_run_docker" ] || rm -rf /run/docker
  remove_made_dirs $made_dirs
  [ -n "$had_run_containerd" ] || rm -rf /run/containerd
  true
}
trap cleanup EXIT
trap "exit 1" INT TERM
fail() { echo "docker.sh: FAIL: $*" >&2; exit 1; }

# start_dockerd NAME DOCKERD ARGS...: a private daemon, its roots in $work/NAME, and the busybox
# image imported into it
start_dockerd() {
  local name=$1 dir=$work/$1 bin=$2
  shift 2
  log "start a private dockerd: $name ($bin)"
  mkdir -p "$dir"
  dlog=$dir/dockerd.log
  # (container cgroups under vrun-docker/ in the caller's own cgroup: a relative parent)
  "$bin" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$sock" --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
    --storage-driver vfs --cgroup-parent vrun-docker "$@" >"$dlog" 2>&1 &
  daemon=$!
  for _ in $(seq 200); do "${D[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${D[@]}" version >/dev/null || { tail -30 "$dlog"; fail "dockerd did not start"; }
  tar -C "$work/rootfs" -c . | "${D[@]}" import - "$IMG" >/dev/null
}
stop_dockerd() {
  kill "$daemon"
  wait "$daemon" || true
  daemon=
}

busybox_rootfs "$work/rootfs"
mkdir -p "$work/rootfs/data"
mkdir -p "$work/volume"
echo from-the-host >"$work/volume/file"

# run RUNTIME ARGS...: docker run --rm with that runtime, no network (there is no bridge)
run() { local r=$1; shift; "${D[@]}" run --rm --runtime "$r" --network none "$@"; }
daemonized() { local r=$1 name=$2; shift 2; "${D[@]}" run -d --name "$name" --runtime "$r" --network none "$@" >/dev/null; }
inspect() { "${D[@]}" inspect -f "$1" "$2"; }
expect() { # WHAT GOT WANT
  [ "$2" = "$3" ] || { echo "$1: got '$2', want '$3'"; return 1; }
}
CAPEFF='grep CapEff /proc/self/status | cut -f2'
LIMITS='cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes pids/pids.max cpu/cpu.cfs_quota_us 2>/dev/null || cat memory.max memory.swap.max pids.max cpu.max'

check_run_rm() { set +e; local out; out=$(run "$1" "$IMG" sh -c 'echo hi; exit 3'); local rc=$?; set -e
  expect "output" "$out" hi && expect "exit status" "$rc" 3 || return 1
  # Docker reads the runtime's words: a missing command is 127, one it cannot run 126
  set +e
  run "$1" "$IMG" no-such-command >/dev/null 2>&1; local missing=$?
  run "$1" "$IMG" /etc/passwd >/dev/null 2>&1; local denied=$?
  set -e
  expect "a missing command" "$missing" 127 && expect "a file that is no program" "$denied" 126
}
check_detached_logs() {
  daemonized "$1" "logs-$1" "$IMG" sh -c 'echo to-stdout; echo to-stderr >&2; exec sleep 1000'
  expect status "$(inspect '{{.State.Status}}' "logs-$1")" running
  sleep 0.5
  expect logs "$("${D[@]}" logs "logs-$1" 2>&1 | sort | tr '\n' ' ')" "to-stderr to-stdout "
}
check_exec() {
  expect "exec -u -e -w" "$("${D[@]}" exec -u 1000 -e FOO=bar -w /tmp "logs-$1" sh -c 'echo $(id -u) $FOO $(pwd)')" "1000 bar /tmp"
  set +e; local out; out=$("${D[@]}" exec "logs-$1" no-such-command 2>&1); local rc=$?; set -e
  [ "$rc" != 0 ] && [[ "$out" == *"executable file not found"* ]] || { echo "exec of a missing command: $rc $out"; return 1; }
  local t; t=$(tty_run "${D[*]} exec -t logs-$1 tty")
  case "$t" in /dev/pts/*) ;; *) echo "exec -t: tty says '$t'"; return 1 ;; esac
}
check_stats() {
  local mem; mem=$("${D[@]}" stats --no-stream --format '{{.MemUsage}}' "logs-$1")
  case "$mem" in 0B*|"") echo "stats: memory '$mem'"; return 1 ;; esac
}
check_pause() {
  "${D[@]}" pause "logs-$1" >/dev/null
  expect paused "$(inspect '{{.State.Status}}' "logs-$1")" paused || return 1
  "${D[@]}" unpause "logs-$1" >/dev/null
  expect unpaused "$(inspect '{{.State.Status}}' "logs-$1")" running
}
check_update() {
  "${D[@]}" update --memory 128m --memory-swap 256m --pids-limit 60 --cpus 0.5 "logs-$1" >/dev/null || return 1
  local seen; seen=$("${D[@]}" exec "logs-$1" sh -c "$LIMITS" | tr '\n' ' ')
  case "$seen" in
  "134217728 268435456 60 50000 " | "134217728 134217728 60 50000 100000 ") ;;
  *) echo "limits inside: $seen"; return 1 ;;
  esac
}
check_kill_stop_restart_rm() {
  daemonized "$1" "sig-$1" "$IMG" sh -c 'trap "echo got-usr1" USR1; while true; do sleep 0.1; done'
  sleep 0.5
  "${D[@]}" kill -s USR1 "sig-$1" >/dev/null
  sleep 0.5
  expect "kill -s USR1" "$("${D[@]}" logs "sig-$1")" got-usr1 || return 1
  # sleep as pid 1 ignores SIGTERM: docker stop kills it after the timeout
  daemonized "$1" "stop-$1" "$IMG" sleep 1000
  "${D[@]}" stop -t 1 "stop-$1" >/dev/null
  expect "stop: exit code" "$(inspect '{{.State.ExitCode}}' "stop-$1")" 137 || return 1
  local before; before=$(inspect '{{.State.StartedAt}}' "sig-$1")
  "${D[@]}" restart -t 1 "sig-$1" >/dev/null
  expect restarted "$(inspect '{{.State.Status}}' "sig-$1")" running || return 1
  [ "$(inspect '{{.State.StartedAt}}' "sig-$1")" != "$before" ] || { echo "restart: same StartedAt"; return 1; }
  "${D[@]}" rm -f "sig-$1" "stop-$1" >/dev/null
  ! "${D[@]}" inspect "sig-$1" >/dev/null 2>&1
}
check_read_only() {
  set +e; local out; out=$(run "$1" --read-only "$IMG" touch /newfile 2>&1); local rc=$?; set -e
  [ "$rc" != 0 ] && [[ "$out" == *"Read-only file system"* ]] || { echo "--read-only: $rc $out"; return 1; }
}
check_caps() {
  expect "--cap-drop ALL" "$(run "$1" --cap-drop ALL "$IMG" sh -c "$CAPEFF")" 0000000000000000 || return 1
  local p; p=$(run "$1" --privileged "$IMG" sh -c "$CAPEFF; ls /dev | wc -l")
  local caps=${p%%$'\n'*} n=${p##*$'\n'}
  [ -n "$caps" ] && (( (16#$caps & (1 << 21)) != 0 )) || { echo "--privileged: CapEff '$caps'"; return 1; }
  [ "$n" -gt 20 ] || { echo "--privileged: /dev holds $n entries"; return 1; }
}
check_mounts() {
  expect "--tmpfs" "$(run "$1" --tmpfs /scratch:size=1m "$IMG" sh -c 'grep " /scratch " /proc/mounts | cut -d" " -f1,3')" "tmpfs tmpfs" || return 1
  expect "-v" "$(run "$1" -v "$work/volume:/data" "$IMG" sh -c 'cat /data/file; echo from-the-container > /data/back')" from-the-host || return 1
  expect "-v written back" "$(cat "$work/volume/back")" from-the-container || return 1
  expect "--shm-size" "$(run "$1" --shm-size 8m "$IMG" sh -c 'df -k /dev/shm | tail -1 | tr -s " " | cut -d" " -f2')" 8192
}
check_identity() {
  expect "-u" "$(run "$1" -u 1000:1001 "$IMG" sh -c 'echo $(id -u):$(id -g)')" 1000:1001 || return 1
  expect "-h" "$(run "$1" -h vrun-host "$IMG" hostname)" vrun-host || return 1
  expect "--network none" "$(run "$1" "$IMG" sh -c 'ls /sys/class/net | tr "\n" " "')" "lo "
}
check_init() {
  expect "--init" "$(run "$1" --init "$IMG" sh -c 'tr "\0" " " </proc/1/cmdline | cut -d" " -f1-2')" "/sbin/docker-init --"
}
check_oom() {
  set +e
  "${D[@]}" run --name "oom-$1" --runtime "$1" --network none -m 16m --memory-swap 16m --shm-size 64m \
    "$IMG" sh -c 'exec dd if=/dev/zero of=/dev/shm/fill bs=1M count=48' >/dev/null 2>&1
  local rc=$?
  set -e
  local oom; oom=$(inspect '{{.State.OOMKilled}}' "oom-$1")
  "${D[@]}" rm -f "oom-$1" >/dev/null
  expect "OOM exit status" "$rc" 137 && expect "State.OOMKilled" "$oom" true
}
check_sysctl_ulimit_device() {
  expect "--sysctl" "$(run "$1" --sysctl kernel.shm_rmid_forced=1 "$IMG" cat /proc/sys/kernel/shm_rmid_forced)" 1 || return 1
  expect "--ulimit" "$(run "$1" --ulimit nofile=512:512 "$IMG" sh -c 'ulimit -n')" 512 || return 1
  expect "--device" "$(run "$1" --device /dev/null:/dev/mynull "$IMG" sh -c 'echo x > /dev/mynull && stat -c "%t:%T" /dev/mynull')" 1:3
}
check_run_it() {
  set +e
  local out; out=$(tty_run "${D[*]} run --rm -it --runtime $1 --network none $IMG sh -c 'tty; exit 4'")
  local rc=$?
  set -e
  case "$out" in *"/dev/pts/"*) ;; *) echo "run -it: '$out'"; return 1 ;; esac
  expect "run -it: exit status" "$rc" 4
}

status=0
# checks DAEMON RUNTIME...: every check with each runtime, results in $work/DAEMON-RUNTIME.out;
# then nothing of theirs may be left (containers, shims, cgroups)
checks() {
  local d=$1 r c why left
  shift
  for r in "$@"; do
    log "docker run --runtime $r ($d's dockerd)"
    : >"$work/$d-$r.out"
    for c in run_rm detached_logs exec stats pause update kill_stop_restart_rm read_only caps mounts \
      identity init oom sysctl_ulimit_device run_it; do
      if why=$("check_$c" "$r" 2>&1); then
        echo "ok   $c" | tee -a "$work/$d-$r.out"
      else
        echo "FAIL $c: $why" | tr '\n' ' ' | tee -a "$work/$d-$r.out"; echo | tee -a "$work/$d-$r.out"
      fi
    done
    "${D[@]}" rm -f "logs-$r" >/dev/null 2>&1 || true
    left=$("${D[@]}" ps -aq)
    [ -z "$left" ] || { echo "docker.sh: containers left with $r ($d): $left"; status=1; }
  done
  for _ in $(seq 50); do [ -z "$(shims)" ] && break; sleep 0.1; done
  left=$(cgroups_under vrun-docker 1; for p in $(shims); do ps -o pid=,args= -p "$p"; done; true)
  [ -z "$left" ] || { echo "docker.sh: FAIL: left behind ($d): $left" >&2; status=1; }
}
# compare DAEMON REF RUNTIME: RUNTIME passes every check REF passes on that daemon
compare() {
  local verdict name
  while read -r verdict name; do
    grep -qx "ok   $name" "$work/$1-$3.out" || { echo "docker.sh: FAIL: $2 passes, $3 does not ($1's dockerd): $name" >&2; status=1; }
  done < <(grep '^ok' "$work/$1-$2.out")
  grep -q '^FAIL' "$work/$1-$2.out" && { echo "docker.sh: ($2 fails here too, $1's dockerd:)"; grep '^FAIL' "$work/$1-$2.out"; }
  echo "docker.sh: checks passed on $1's dockerd: $2 $(grep -c '^ok' "$work/$1-$2.out"), $3 $(grep -c '^ok' "$work/$1-$3.out")"
}

start_dockerd debian /usr/sbin/dockerd --add-runtime "vrun=$VRUN" --add-runtime "runc-debian=$(command -v runc)"
checks debian runc-debian vrun
compare debian runc-debian vrun
[ "$status" = 0 ] || tail -20 "$dlog" >&2
stop_dockerd

cat >"$work/today.json" <<JSON
{"runtimes": {"runc-today": {"path": "$TODAYS_RUNC"}, "vrun-shim": {"runtimeType": "io.containerd.vrun.v2"}}}
JSON
# (its own containerd, Debian's 1.6, started by it with this PATH: the shim is found there)
PATH=$SHIM_DIR:$PATH DOCKER_MIN_API_VERSION=1.41 start_dockerd today "$TODAYS_DOCKERD" --config-file "$work/today.json"
"${D[@]}" version --format 'today: server {{.Server.Version}}, API {{.Server.APIVersion}}'
checks today runc-today vrun-shim
compare today runc-today vrun-shim
[ "$status" = 0 ] || { tail -20 "$dlog" >&2; fail "see above"; }
echo "docker.sh: vrun passes every check runc passes, under runc's shim (Docker 20.10) and its own (today's dockerd)"
