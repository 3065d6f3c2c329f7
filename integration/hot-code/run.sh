#!/usr/bin/env bash
# The code vrun's commands run, placed together: traces the commands a container engine and a
# person call (trace.c), and writes cli/hot-code.ld from what they entered (order.py); then
# the same for containerd-shim-vrun-v2 under a private containerd's CRI (shim/hot-code.ld).
# See README.md here for why and for the figures.
#
#   integration/hot-code/run.sh           # writes cli/hot-code.ld and shim/hot-code.ld (commit
#                                         # them)
#   integration/hot-code/run.sh --check   # CI's: how much of the code entered lies outside the
#                                         # block in the current builds; fails over 3% (a
#                                         # script has gone stale: run this again)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need gcc gcc /usr/bin/python3 python3 nm binutils /usr/lib/x86_64-linux-gnu/libc.a libc6-dev \
  containerd containerd /usr/lib/cni/loopback containernetworking-plugins \
  /usr/bin/catatonit catatonit protoc protobuf-compiler runc runc
mode=${1:-write}

work=$(mktemp -d /tmp/vrun-hot-code.XXXXXX)
root=$work/state
cleanup() {
  local c
  for c in "$root"/*/; do
    [ -d "$c" ] && "$bin" --root "$root" delete --force "$(basename "$c")" >/dev/null 2>&1
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The same build as the release binary, with its symbols (stripping changes nothing else).
log "building vrun with symbols"
(cd "$top" && CARGO_PROFILE_RELEASE_STRIP=false cargo build --release -q -p vrun)
bin=$work/vrun
cp "$(release_dir)/vrun" "$bin"
VRUN=$bin
nm "$bin" | awk '$2 ~ /^[tTwW]$/ {print $1}' | sort -u >"$work/functions"
gcc -O2 -Wall -o "$work/trace" "$top/integration/hot-code/trace.c"

make_bundle "$work/true" /bin/true >/dev/null
make_bundle "$work/wait" sleep 100000 >/dev/null
# the wait bundle with a seccomp filter, as the engines' containers have
python3 - "$work/wait/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["linux"]["seccomp"] = {
    "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "syscalls": [{"names": ["add_key", "keyctl", "request_key"], "action": "SCMP_ACT_ERRNO"},
                 {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                  "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}
json.dump(c, open(path, "w"))
PY

n=0
traced() { # traced COMMAND ARGS...: one command of vrun, traced
  n=$((n + 1))
  "$work/trace" "$work/functions" "$work/hits.$(printf %02d $n).$1" -- "$bin" --root "$root" "$@" \
    </dev/null >"$work/out" 2>"$work/err" || { cat "$work/err" >&2; return 1; }
}
log "tracing the commands"
traced spec --bundle "$work"
traced features
traced list
traced create --bundle "$work/wait" c1
traced state c1
traced start c1
traced exec c1 true
traced ps c1
traced events --stats c1
traced pause c1
traced resume c1
traced update --pids-limit 100 c1
traced kill c1 KILL
for _ in $(seq 50); do "$bin" --root "$root" state c1 | grep -q '"stopped"' && break; sleep 0.1; done
traced delete c1
traced run --bundle "$work/true" c2
traced run --bundle "$work/true" --overlay c3
traced run --detach --bundle "$work/wait" c4
traced delete --force c4

order() { # BINARY SCRIPT HITS...: writes SCRIPT, or (--check) checks BINARY against the hits
  local binary=$1 script=$2
  shift 2
  if [ "$mode" = --check ]; then
    python3 "$top/integration/hot-code/order.py" --check "$binary" "$@"
  else
    python3 "$top/integration/hot-code/order.py" "$binary" "$script" "$@"
  fi
}
status=0
order "$bin" "$top/cli/hot-code.ld" "$work"/hits.* || status=1

# The shim: containerd runs it (`start`, which spawns the serving shim, which forks its maker)
# through a wrapper that runs it under `trace --all`, one trace (and hits file) per shim
# command, while vrun-cri-check makes pods as a kubelet does: one of one sleep container (the
# idle pod the shim's memory is measured with), then the CRI checks of a pod's daily life
# (exec, stats, an update, a stop, an exit). What the shim and its maker run at a pod's start
# and while it idles is what their RSS is made of.
log "building containerd-shim-vrun-v2 with symbols"
(cd "$top" && CARGO_PROFILE_RELEASE_STRIP=false cargo build --release -q -p containerd-shim-vrun-v2)
(cd "$top/integration/cri-client" && CARGO_TARGET_DIR="$top/target" cargo build --release -q)
shim=$work/containerd-shim-vrun-v2
cp "$(release_dir)/containerd-shim-vrun-v2" "$shim"
nm "$shim" | awk '$2 ~ /^[tTwW]$/ {print $1}' | sort -u >"$work/shim-functions"
# where the maker takes a call (maker::answer: the idle maker turns busy there)
busy=$(nm "$shim" | awk '$3 ~ /5maker6answer/ && !f {print $1; f = 1}')
[ -n "$busy" ] || { echo "hot-code/run.sh: no maker::answer in $shim" >&2; exit 1; }
hits=$work/shim-hits
mkdir "$hits"
log "tracing the shim under containerd's CRI"
(
  work=$work/cri # (containerd.sh's: it removes it when done)
  mkdir "$work"
  SHIM_DIR=$work/shim-bin
  mkdir "$SHIM_DIR"
  cat >"$SHIM_DIR/containerd-shim-vrun-v2" <<SH
#!/bin/sh
exec "${work%/cri}/trace" --all --busy-at $busy "${work%/cri}/shim-functions" "$hits/\$\$" -- "$shim" "\$@"
SH
  chmod +x "$SHIM_DIR/containerd-shim-vrun-v2"
  sock=$work/containerd.sock
  RUNC=$(command -v runc)
  fail() { echo "hot-code/run.sh: FAIL: $*" >&2; exit 1; }
  . "$top/integration/cri/containerd.sh"
  trap cri_containerd_down EXIT
  cri_containerd_up
  CHECK=$(release_dir)/vrun-cri-check
  IMAGE=localhost/vrun-busybox:latest
  pods vrun-shim 1 1
  sleep 2 # (the idle pod's maker re-execs itself after a second: what it runs then is traced)
  pods_end
  for c in "pod sandbox" ExecSync ContainerStats UpdateContainerResources StopContainer \
    "a container that exits"; do
    "$CHECK" "$sock" vrun-shim "$IMAGE" "$work" "$c" >"$work/check.out" || {
      cat "$work/check.out" >&2
      fail "vrun-cri-check $c"
    }
  done
)
# each trace writes its hits once the last process of its shim has ended
for _ in $(seq 100); do
  left=0
  for l in "$hits"/*.log; do grep -q "functions entered" "$l" || left=1; done
  [ "$left" = 0 ] && break
  sleep 0.1
done
[ "$left" = 0 ] || { echo "hot-code/run.sh: a shim's trace did not end" >&2; exit 1; }
order "$shim" "$top/shim/hot-code.ld" $(ls "$hits"/* | grep -v '\.log$') || status=1
exit $status
