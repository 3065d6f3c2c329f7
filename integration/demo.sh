#!/usr/bin/env bash
# A real container from nothing: builds vrun, makes a busybox bundle, runs it with its own
# namespaces, a memory and pids limit, and shows what the container sees. Run as root.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need python3 python3
build_vrun

work=$(mktemp -d /tmp/vrun-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
make_bundle "$work/bundle" sh -c '
  echo "hello from a vrun container"
  echo "pid:       $$ (the container has its own pid namespace)"
  echo "hostname:  $(hostname)"
  echo "user:      $(id)"
  if [ -f /sys/fs/cgroup/memory.max ]; then mem=$(cat /sys/fs/cgroup/memory.max); pids=$(cat /sys/fs/cgroup/pids.max)
  else mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes); pids=$(cat /sys/fs/cgroup/pids/pids.max); fi
  echo "memory:    $mem bytes (linux.resources.memory.limit)"
  echo "pids:      $pids (linux.resources.pids.limit)"
  echo "network:   $(ls /sys/class/net | tr "\n" " ")(a network namespace of its own)"
  echo "rootfs:    $(ls / | tr "\n" " ")"
  exit 7'
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["hostname"] = "vrun-demo"
c["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
c["linux"]["resources"]["pids"] = {"limit": 32}
json.dump(c, open(sys.argv[1], "w"), indent=2)
PY
log "$VRUN run --bundle $work/bundle demo"
set +e
"$VRUN" --root "$work/state" run --bundle "$work/bundle" vrun-demo
rc=$?
set -e
echo "exit status: $rc (the container's own, passed through)"
[ "$rc" = 7 ]
