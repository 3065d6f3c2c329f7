#!/usr/bin/env bash
# The code vrun's commands run, placed together: traces the commands a container engine and a
# person call (trace.c), and writes cli/hot-code.ld from what they entered (order.py). See
# README.md here for why and for the figures.
#
#   integration/hot-code/run.sh           # writes cli/hot-code.ld (commit it)
#   integration/hot-code/run.sh --check   # CI's: how much of the code the commands enter lies
#                                         # outside the block in the current build; fails over
#                                         # 3% (cli/hot-code.ld has gone stale: run this again)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need gcc gcc python3 python3 nm binutils /usr/lib/x86_64-linux-gnu/libc.a libc6-dev
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

if [ "$mode" = --check ]; then
  python3 "$top/integration/hot-code/order.py" --check "$bin" "$work"/hits.*
else
  python3 "$top/integration/hot-code/order.py" "$bin" "$top/cli/hot-code.ld" "$work"/hits.*
fi
