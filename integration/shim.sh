#!/usr/bin/env bash
# containerd-shim-vrun-v2 under a private containerd, 1.6 (Debian's) and 2 (built by
# integration/k8s/tools.sh), through `ctr run --runtime io.containerd.vrun.v2`: output on
# stdout and stderr, the exit status, a terminal (run -t and exec -t, ctr's size), a detached
# task's ps, exec, pause and resume, kill and delete,
# a config vrun refuses (its message reaches ctr), and a shim killed with SIGKILL (containerd
# reports the task stopped and cleans up), runc's Root option, containerd killed and started again (the task
# runs on, is reached again, and its events reach the new containerd), log URIs (a file, a
# logger binary, an unknown scheme refused), and a Wait on an exec
# that never starts (it ends; so does the shim, with its last container). After each daemon: no
# shim, container state, mount or cgroup of the run is left.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
. "$top/integration/k8s/tools.sh"
need containerd containerd python3 python3
build_k8s_tools containerd
(cd "$top" && cargo build --release -q -p vrun -p containerd-shim-vrun-v2 &&
  cargo build --release -q -p containerd-shim-vrun-v2 --example task_call)
shim_bin=$(release_dir)/containerd-shim-vrun-v2
task_call=$(release_dir)/examples/task_call

work=$(mktemp -d /tmp/vrun-shim.XXXXXX)
daemon="" sock="" passed=0 ctr_bin=ctr
# (containerd 2's ctr warns of cgroup v1 on every call: not this test's business; filtered
# once ctr is done, not by a process substitution, which may still be writing when the caller
# reads what ctr wrote to stderr)
C() {
  local rc=0 e
  e=$(mktemp "$work/ctr-stderr.XXXXXX")
  "$ctr_bin" --address "$sock" "$@" 2>"$e" || rc=$?
  grep -v "support for cgroup v1 is deprecated" "$e" >&2 || true
  rm -f "$e"
  return "$rc"
}
stop_daemon() {
  set +e
  if [ -n "$daemon" ]; then
    for t in $(C tasks ls -q 2>/dev/null); do C tasks kill -s KILL "$t"; done
    sleep 0.5
    for t in $(C tasks ls -q 2>/dev/null); do C tasks delete -f "$t"; done
    for c in $(C containers ls -q 2>/dev/null); do C containers delete "$c"; done
    kill "$daemon" 2>/dev/null
    wait "$daemon" 2>/dev/null
    daemon=""
  fi
  # the shims of this run only: their binary is the copy in $work
  for p in $(pgrep -f "^$work/bin/containerd-shim-vrun-v2" 2>/dev/null); do kill -9 "$p"; done
  set -e
}
fifo_dirs_before=$(ls -d /run/containerd/fifo/*/ 2>/dev/null | sed 's#/$##' || true)
cleanup() {
  set +e
  stop_daemon
  set +e # (stop_daemon gives set -e back)
  grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
  # ctr's fifos of this run's containers (shim-N): those of a task whose shim was killed stay
  # in ctr's fifo directory, one directory each, made during the run
  local f
  for f in /run/containerd/fifo/*/shim-*-stdout; do
    grep -qxF "${f%/*}" <<<"$fifo_dirs_before" && continue
    [ -p "$f" ] && [ -z "$(ls "${f%/*}" | grep -v '^shim-[0-9]*-std\(in\|out\|err\)$')" ] && rm -rf "${f%/*}"
  done
  rmdir /run/containerd/vrun/default /run/containerd/vrun /run/containerd/fifo /run/containerd/s /run/containerd 2>/dev/null
}
trap cleanup EXIT
fail() {
  echo "shim.sh: FAIL ($label): $*" >&2
  [ -f "$work/$label/containerd.log" ] && grep -i -E "error|shim" "$work/$label/containerd.log" | tail -20 >&2
  exit 1
}
ok() { passed=$((passed + 1)); echo "shim.sh ($label): $*"; }

mkdir -p "$work/bin"
cp "$shim_bin" "$work/bin/"
busybox_rootfs "$work/rootfs"
python3 "$top/integration/lib/oci-image.py" "$work/rootfs" localhost/vrun-busybox:latest "$work/image.tar"

# The socket a shim of container ID serves on, as containerd names it (the sha256 of its
# address, namespace and id), so that this run's are told from any other daemon's.
socket_of() { echo "/run/containerd/s/$(printf '%s' "$sock/default/$1" | sha256sum | cut -d' ' -f1)"; }

status_of() { C tasks ls | awk -v t="$1" '$1==t{print $3}'; }
wait_status() { # TASK STATUS
  local s=""
  for _ in $(seq 50); do
    s=$(status_of "$1")
    [ "$s" = "$2" ] && return 0
    sleep 0.1
  done
  fail "task $1 is '$s', not $2"
}

checks() { # LABEL CONTAINERD CTR
  label=$1 ctr_bin=$3
  local d=$work/$1 out rc
  mkdir -p "$d"
  sock=$d/containerd.sock
  cat >"$d/config.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]
[grpc]
  address = "$sock"
TOML
  start_daemon() {
    PATH=$work/bin:$PATH "$containerd" --config "$d/config.toml" >>"$d/containerd.log" 2>&1 &
    daemon=$!
    for _ in $(seq 100); do [ -S "$sock" ] && C version >/dev/null 2>&1 && break; sleep 0.1; done
    C version >/dev/null || fail "containerd did not start"
  }
  containerd=$2
  start_daemon
  C images import "$work/image.tar" >/dev/null
  local R=(run --runtime io.containerd.vrun.v2 --snapshotter native)

  set +e
  out=$(C "${R[@]}" --rm localhost/vrun-busybox:latest shim-1 sh -c 'echo hi from pid $$; echo to stderr >&2; exit 3' </dev/null 2>"$d/err")
  rc=$?
  set -e
  [ "$out" = "hi from pid 1" ] || fail "ctr run printed '$out' (stderr: $(cat "$d/err"))"
  grep -qx "to stderr" "$d/err" || fail "stderr was '$(cat "$d/err")'"
  [ "$rc" = 3 ] || fail "ctr run exited $rc, not 3"
  ok "ctr run --rm: stdout '$out', stderr apart, exit $rc"

  # A terminal: ctr -t needs one of its own (script's pty, sized here); the container's
  # size comes from ctr's ResizePty after the start, hence the shell's wait.
  out=$(tty_run "stty rows 33 cols 101; $ctr_bin --address $sock ${R[*]} -t --rm localhost/vrun-busybox:latest shim-5 sh -c 'sleep 0.5; tty; stty size; exit 5' 2>$d/err; echo rc=\$?")
  # (the pty echoes a NUL that reaches it from script's, as "^@", at any point of the output:
  # so with runc's shim too)
  out=${out//\^@/}
  grep -qx "/dev/pts/0" <<<"$out" || fail "ctr run -t: no terminal in '$out' (stderr: $(cat "$d/err"))"
  grep -qx "33 101" <<<"$out" || fail "ctr run -t: the size was not ctr's 33x101: '$out'"
  grep -qx "rc=5" <<<"$out" || fail "ctr run -t: not exit 5: '$out'"
  ok "ctr run -t: $(echo $out)"

  C "${R[@]}" -d localhost/vrun-busybox:latest shim-2 sleep 1000 >/dev/null
  wait_status shim-2 RUNNING
  [ -S "$(socket_of shim-2)" ] || fail "shim-2's socket is not $(socket_of shim-2): $(pgrep -af "^$work/bin/containerd-shim-vrun-v2")"
  local n
  n=$(C tasks ps shim-2 | tail -n +2 | wc -l)
  [ "$n" = 1 ] || fail "tasks ps shows $n processes"
  set +e
  out=$(C tasks exec --exec-id e1 shim-2 sh -c 'echo exec in pid $$ of $(cat /proc/1/cmdline | tr "\0" " "); exit 4' </dev/null)
  rc=$?
  set -e
  [ "$(echo $out)" = "exec in pid 2 of sleep 1000" ] || fail "tasks exec printed '$out'"
  [ "$rc" = 4 ] || fail "tasks exec exited $rc, not 4"
  ok "tasks exec: '$out', exit $rc"
  out=$(tty_run "$ctr_bin --address $sock tasks exec -t --exec-id e2 shim-2 sh -c 'tty; echo a terminal exec; exit 6' 2>$d/err; echo rc=\$?")
  out=${out//\^@/}
  grep -q "^/dev/pts/[0-9]*$" <<<"$out" || fail "tasks exec -t: no terminal in '$out' (stderr: $(cat "$d/err"))"
  grep -qx "a terminal exec" <<<"$out" || fail "tasks exec -t: its output is not all there: '$out'"
  grep -qx "rc=6" <<<"$out" || fail "tasks exec -t: not exit 6: '$out'"
  ok "tasks exec -t: $(echo $out)"
  # The maker re-execs itself once idle for a second (maker.rs's shed): a process it exec'd
  # before stays its child, and its exit and output still reach ctr.
  set +e
  out=$(C tasks exec --exec-id e4 shim-2 sh -c 'sleep 2.5; echo after the shed; exit 3' </dev/null)
  rc=$?
  set -e
  [ "$out" = "after the shed" ] && [ "$rc" = 3 ] || fail "an exec across the maker's re-exec: '$out', exit $rc"
  local maker
  maker=$(pgrep -af -- "--vrun-maker-resume" | grep -F -- "$work/bin/" | grep -F -- "-id shim-2 " | awk '{print $1}' || true)
  [ -n "$maker" ] || fail "shim-2's maker did not re-exec itself when idle: $(pgrep -af -- "-id shim-2 ")"
  # what a process of the container holds, exec'd by the re-exec'd maker: its stdio alone (and
  # ls's own directory fd), none of the maker's sockets or its binary
  local fds
  fds=$(C tasks exec --exec-id e5 shim-2 ls /proc/self/fd </dev/null)
  [ "$(echo $fds)" = "0 1 2 3" ] || fail "an exec by the re-exec'd maker holds fds '$(echo $fds)'"
  ok "the idle maker re-exec'd itself (pid $maker): an exec begun before ended after, '$out', exit $rc; one begun after holds fds $(echo $fds)"
  # Once idle (the maker re-exec'd, the shim's threads still for half a second), both drop
  # their mappings of the binary's code (idle.rs): what they have mapped of files is then a
  # fraction of the 2 MB a shim maps while it serves. And the next call runs all the same.
  local shim busy idle_shim idle_maker
  shim=$(pgrep -af -- "-id shim-2 " | grep -F -- "$work/bin/" | grep -vF -- "--vrun-maker-resume" | awk '{print $1}')
  [ "$(echo $shim | wc -w)" = 1 ] || fail "shim-2's shim: '$shim' ($(pgrep -af -- "-id shim-2 "))"
  file_kb() { awk '$1=="Rss:" {r=$2} $1=="Anonymous:" {a=$2} END {print r-a}' "/proc/$1/smaps_rollup"; }
  busy=$(file_kb "$shim")
  sleep 2.5
  maker=$(pgrep -af -- "--vrun-maker-resume" | grep -F -- "$work/bin/" | grep -F -- "-id shim-2 " | awk '{print $1}' || true)
  idle_shim=$(file_kb "$shim") idle_maker=$(file_kb "$maker")
  [ "$idle_shim" -lt 1024 ] && [ "$idle_maker" -lt 1024 ] ||
    fail "the idle shim maps $idle_shim kB of files (serving: $busy kB), its maker $idle_maker kB: not under 1 MB each"
  out=$(C tasks exec --exec-id e6 shim-2 sh -c 'echo served after the drop' </dev/null)
  [ "$out" = "served after the drop" ] || fail "an exec after the idle shim dropped its code mappings printed '$out'"
  ok "idle, the shim maps $idle_shim kB of files (serving: $busy kB), its maker $idle_maker kB; the next exec: '$out'"
  # An idle shim sleeps: its threads woke (context switches) a few times in 2 s, its idle
  # watcher's, not 100 times a second (ttrpc's client polls its socket every 10 ms: events.rs).
  switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n+=$2} END {print n}'; }
  local s0 s1
  sleep 1
  s0=$(($(switches "$shim") + $(switches "$maker")))
  sleep 2
  s1=$(($(switches "$shim") + $(switches "$maker")))
  [ $((s1 - s0)) -lt 20 ] || fail "the idle shim and maker woke $((s1 - s0)) times in 2 s"
  ok "idle, the shim and its maker woke $((s1 - s0)) times in 2 s"
  C tasks pause shim-2
  wait_status shim-2 PAUSED
  C tasks resume shim-2
  wait_status shim-2 RUNNING
  C tasks kill -s KILL shim-2
  wait_status shim-2 STOPPED
  out=$(C tasks delete shim-2 2>&1)
  C containers delete shim-2
  [ ! -e "/run/containerd/vrun/default/shim-2" ] || fail "vrun's state of shim-2 is left"
  ok "run -d, ps, pause, resume, kill, delete ($out)"

  # Checkpoint through containerd: CRIU does not run on this host's kernel (the CRIU microVM
  # checks a real checkpoint and restore through the shim, vm/guest-criu.sh), so ctr gets
  # vrun's CRIU error, not containerd's "not implemented", and the task runs on.
  C "${R[@]}" -d localhost/vrun-busybox:latest shim-12 sleep 1000 >/dev/null
  wait_status shim-12 RUNNING
  set +e
  out=$(C tasks checkpoint shim-12 2>&1)
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    C images ls -q | grep -q checkpoint || fail "ctr tasks checkpoint succeeded, but made no checkpoint image"
  else
    grep -q -i "criu" <<<"$out" || fail "ctr tasks checkpoint: not vrun's CRIU error: $out"
  fi
  wait_status shim-12 RUNNING
  C tasks kill -s KILL shim-12
  wait_status shim-12 STOPPED
  C tasks delete shim-12 >/dev/null
  C containers delete shim-12
  ok "ctr tasks checkpoint: $( [ "$rc" = 0 ] && echo "a checkpoint image" || tail -1 <<<"$out" | cut -c1-150); the task runs on"

  set +e
  out=$(C "${R[@]}" --rm --cwd relative/dir localhost/vrun-busybox:latest shim-3 true 2>&1 </dev/null)
  rc=$?
  set -e
  [ "$rc" != 0 ] || fail "a relative process.cwd was run"
  grep -q "cwd" <<<"$out" || fail "ctr's error does not carry vrun's message: $out"
  C containers delete shim-3 >/dev/null 2>&1 || true
  [ ! -e "/run/containerd/vrun/default/shim-3" ] || fail "the refused container's state is left"
  ok "a config vrun refuses: $(tail -1 <<<"$out" | cut -c1-160)"

  C "${R[@]}" -d localhost/vrun-busybox:latest shim-4 sleep 1000 >/dev/null
  wait_status shim-4 RUNNING
  local pid shim
  pid=$(C tasks ls | awk '$1=="shim-4"{print $2}')
  shim=$(pgrep -f "^$work/bin/containerd-shim-vrun-v2 .*-id shim-4" | head -1)
  [ -n "$shim" ] || fail "no shim process for shim-4"
  kill -9 "$shim"
  for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ ! -d "/proc/$pid" ] || fail "the container's init ($pid) outlived containerd's clean-up of its killed shim"
  [ ! -e "/run/containerd/vrun/default/shim-4" ] || fail "vrun's state of shim-4 is left after the shim was killed"
  C tasks delete shim-4 >/dev/null 2>&1 || true
  C containers delete shim-4
  ok "a shim killed with SIGKILL: containerd cleaned its container up"

  # containerd killed and started again: the shim keeps its container, the new containerd
  # reconnects to it, and the shim's events reach the new one (the exit below)
  C "${R[@]}" -d localhost/vrun-busybox:latest shim-6 sleep 1000 >/dev/null
  wait_status shim-6 RUNNING
  pid=$(C tasks ls | awk '$1=="shim-6"{print $2}')
  kill -9 "$daemon"
  wait "$daemon" 2>/dev/null || true
  [ -d "/proc/$pid" ] || fail "shim-6's init died with containerd"
  start_daemon
  wait_status shim-6 RUNNING
  out=$(C tasks exec --exec-id e3 shim-6 sh -c 'echo exec after the restart' </dev/null)
  [ "$out" = "exec after the restart" ] || fail "exec after containerd's restart printed '$out'"
  "$ctr_bin" --address "$sock" events >"$d/events" 2>/dev/null &
  local events=$!
  sleep 0.3
  C tasks kill -s KILL shim-6
  wait_status shim-6 STOPPED
  for _ in $(seq 30); do grep -q "/tasks/exit" "$d/events" && break; sleep 0.1; done
  kill "$events"
  wait "$events" 2>/dev/null || true
  grep -q "/tasks/exit" "$d/events" || fail "shim-6's exit event did not reach the new containerd: $(cat "$d/events")"
  C tasks delete shim-6 >/dev/null
  C containers delete shim-6
  ok "containerd killed and started again: shim-6 ran on, exec '$out', its exit event reached the new containerd"

  # runc's options, which containerd gives a shim of runc's type only (a CRI handler of type
  # io.containerd.runc.v2 whose runtime_path names this shim; here, this shim by the name of
  # runc's on containerd's PATH for one run): Root is vrun's state root, as <Root>/<namespace>
  ln -s "$work/bin/containerd-shim-vrun-v2" "$work/bin/containerd-shim-runc-v2"
  C run --runtime io.containerd.runc.v2 --runc-root "$d/runc-root" --snapshotter native -d \
    localhost/vrun-busybox:latest shim-11 sleep 1000 >/dev/null
  wait_status shim-11 RUNNING
  [ -f "$d/runc-root/default/shim-11/state.json" ] ||
    fail "runc's Root option: no vrun state in $d/runc-root/default ($(ls -R "$d/runc-root" 2>&1 | head -5))"
  [ ! -e "/run/containerd/vrun/default/shim-11" ] || fail "runc's Root option: the state is in the default root"
  C tasks kill -s KILL shim-11
  wait_status shim-11 STOPPED
  C tasks delete shim-11 >/dev/null
  C containers delete shim-11
  sleep 0.5 # (containerd may run the shim's `delete` once it has gone: the same binary)
  rm "$work/bin/containerd-shim-runc-v2"
  [ ! -e "$d/runc-root/default/shim-11" ] || fail "runc's Root option: the state is left after the delete"
  ok "runc's Root option (ctr --runc-root): vrun's state in <Root>/default, removed with the task"

  # log URIs (ctr run --log-uri): a file both streams are appended to, through a pipe (the
  # container holds no fd of the host's file), and a logger binary reading fds 3 and 4
  local log=$d/logs/shim-8.log
  set +e
  C "${R[@]}" --rm --log-uri "file://$log" localhost/vrun-busybox:latest shim-8 \
    sh -c 'echo out is $(readlink /proc/self/fd/1); echo to err >&2; exit 8' </dev/null >/dev/null 2>"$d/err"
  rc=$?
  set -e
  [ "$rc" = 8 ] || fail "ctr run --log-uri file:// exited $rc, not 8 ($(cat "$d/err"))"
  for _ in $(seq 50); do grep -q "to err" "$log" 2>/dev/null && break; sleep 0.1; done
  grep -q "^out is pipe:" "$log" && grep -qx "to err" "$log" ||
    fail "the file:// log holds '$(cat "$log" 2>/dev/null)', not stdout (a pipe) and stderr"
  ok "ctr run --log-uri file://: $(tr '\n' ' ' <"$log")exit $rc"
  cat >"$d/logger" <<'SH'
#!/bin/sh
# a logger binary, as containerd's shims run one: stdout on fd 3, stderr on fd 4, ready when fd 5 closes
PATH=/usr/bin:/bin
echo "$CONTAINER_NAMESPACE/$CONTAINER_ID $*" >"$2.env"
exec 5>&-
sed 's/^/out: /' <&3 >>"$2" &
sed 's/^/err: /' <&4 >>"$2" &
wait
SH
  chmod +x "$d/logger"
  log=$d/logs/shim-9.log
  C "${R[@]}" --rm --log-uri "binary://$d/logger?file=$log" localhost/vrun-busybox:latest shim-9 \
    sh -c 'echo one; echo two >&2' </dev/null >/dev/null 2>"$d/err" || fail "ctr run --log-uri binary:// failed: $(cat "$d/err")"
  for _ in $(seq 50); do grep -q "two" "$log" 2>/dev/null && grep -q one "$log" && break; sleep 0.1; done
  grep -qx "out: one" "$log" && grep -qx "err: two" "$log" || fail "the logger wrote '$(cat "$log" 2>/dev/null)'"
  [ "$(cat "$log.env")" = "default/shim-9 file $log" ] || fail "the logger was given '$(cat "$log.env")'"
  ok "ctr run --log-uri binary://: the logger ($(cat "$log.env")) wrote $(tr '\n' ' ' <"$log")"
  set +e
  out=$(C "${R[@]}" --rm --log-uri "gopher:///x" localhost/vrun-busybox:latest shim-10 true </dev/null 2>&1)
  rc=$?
  set -e
  C containers delete shim-10 >/dev/null 2>&1 || true
  [ "$rc" != 0 ] && grep -q 'unknown io scheme "gopher"' <<<"$out" || fail "a gopher:// log URI: rc $rc, '$out'"
  ok "an unknown log URI scheme is refused: $(tail -1 <<<"$out" | cut -c1-140)"

  # containerd's Wait on an exec that never starts, as when the container exits between the
  # exec's Exec and its Start (ordered here by task_call on the shim's socket, as containerd
  # calls): the Wait ends when the exec is deleted, and the shim when its last container is
  C "${R[@]}" -d localhost/vrun-busybox:latest shim-7 sleep 1000 >/dev/null
  wait_status shim-7 RUNNING
  local s7 waiter wait_ended=yes shim7=""
  s7=$(socket_of shim-7)
  "$task_call" "$s7" exec shim-7 x7 true >/dev/null || fail "task_call could not add an exec"
  "$task_call" "$s7" wait shim-7 x7 >"$d/wait7" 2>&1 &
  waiter=$!
  sleep 0.3
  C tasks kill -s KILL shim-7
  wait_status shim-7 STOPPED
  ! "$task_call" "$s7" start shim-7 x7 >/dev/null 2>&1 || fail "an exec of a stopped container started"
  "$task_call" "$s7" delete shim-7 x7 >/dev/null || fail "task_call could not delete the exec"
  for _ in $(seq 20); do [ -d "/proc/$waiter" ] || break; sleep 0.1; done
  # (one that does not end is given up, as containerd gives up its Wait when the exec fails)
  [ -d "/proc/$waiter" ] && { wait_ended=no; kill "$waiter"; }
  wait "$waiter" 2>/dev/null || true
  C tasks delete shim-7 >/dev/null
  C containers delete shim-7
  for _ in $(seq 50); do
    shim7=$(pgrep -f "^$work/bin/containerd-shim-vrun-v2 .*-id shim-7" || true)
    [ -z "$shim7" ] && break
    sleep 0.1
  done
  [ -z "$shim7" ] || fail "shim-7's shim ($(echo $shim7)) did not end when its last container was deleted (the Wait on the deleted exec ended: $wait_ended)"
  [ "$wait_ended" = yes ] || fail "a Wait on an exec deleted before it started did not end"
  grep -q "not found" "$d/wait7" || fail "the Wait on the deleted exec answered '$(cat "$d/wait7")', not that it is gone"
  ok "a Wait on an exec deleted before its start ends ($(cut -c1-80 "$d/wait7")); the shim ends with its last container"

  stop_daemon
  local left
  left=$({ pgrep -f "^$work/bin/containerd-shim-vrun-v2" || true; } | wc -l)
  [ "$left" = 0 ] || fail "$left shim processes left"
  ! grep -qF "$d/" /proc/self/mountinfo || fail "mounts left: $(grep -F "$d/" /proc/self/mountinfo)"
  local id left_sockets=""
  for id in shim-1 shim-2 shim-3 shim-4 shim-5 shim-6 shim-7 shim-8 shim-9 shim-10 shim-11 shim-12; do
    [ -e "$(socket_of "$id")" ] && left_sockets+=" $id"
  done
  [ -z "$left_sockets" ] || fail "shim sockets left in /run/containerd/s, of:$left_sockets"
}

checks containerd-1.6 "$(command -v containerd)" "$(command -v ctr)"
checks containerd-2 "$(k8s_tool_dir containerd)/containerd" "$(k8s_tool_dir containerd)/ctr"
echo "shim.sh: $passed passed, 0 failed"
