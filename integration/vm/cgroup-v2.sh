#!/usr/bin/env bash
# cgroup v2 checks that this hybrid host cannot show, run inside a throwaway microVM with a
# pure cgroup v2 hierarchy (run-in-vm.sh, a copy of the project's VM runner): placement,
# the limits in the v2 files, the container's view through its cgroup namespace, and delete
# removing the cgroup.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need python3 python3
build_vrun

work=$(mktemp -d /tmp/vrun-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
make_bundle "$work/bundle" sh -c 'cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight'
python3 - "$work/bundle" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/config.json"))
c["linux"]["resources"].update({"memory": {"limit": 67108864}, "pids": {"limit": 50},
                                "cpu": {"shares": 1024, "quota": 50000, "period": 100000}})
json.dump(c, open(d + "/config.json", "w"), indent=2)
# a long-running variant, with a nested relative cgroupsPath
c["process"]["args"] = ["sleep", "1000"]
c["linux"]["cgroupsPath"] = "outer/inner"
json.dump(c, open(d + "/config-sleep.json", "w"), indent=2)
# the device filter: CAP_MKNOD lets the container make /dev/kmsg's node (c 1:11) (CAP_SYSLOG:
# reading it needs that too under dmesg_restrict); the default rules deny opening it, an
# allow-all rule lets it
c["linux"].pop("cgroupsPath")
c["root"]["readonly"] = False
for s in ("bounding", "effective", "permitted"):
    c["process"]["capabilities"][s] += ["CAP_MKNOD", "CAP_SYSLOG"]
c["process"]["args"] = ["sh", "-c", "rm -f /tmp/kmsg; mknod /tmp/kmsg c 1 11; head -c 1 /tmp/kmsg 2>&1 >/dev/null && echo kmsg-opened; echo x > /dev/null && echo null-ok"]
json.dump(c, open(d + "/config-dev.json", "w"), indent=2)
c["linux"]["resources"]["devices"] = [{"allow": True, "access": "rwm"}]
json.dump(c, open(d + "/config-dev-open.json", "w"), indent=2)
# io.max on the guest's first loop device (7:0)
c["process"]["args"] = ["sleep", "1000"]
c["linux"]["resources"]["blockIO"] = {"throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}],
                                      "throttleWriteIOPSDevice": [{"major": 7, "minor": 0, "rate": 100}]}
c["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4194304}]
c["linux"]["resources"]["cpu"].update({"burst": 20000, "idle": 1})
json.dump(c, open(d + "/config-io.json", "w"), indent=2)
# throttling in cpu.stat, pids.max refusing a fork, a `unified` key
c = json.load(open(d + "/config.json"))
c["root"]["readonly"] = False
c["process"]["args"] = ["sh", "-c", "(while :; do :; done) & sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait' 2>/dev/null; echo status=$? > /tmp/pids-status; wait"]
c["linux"]["resources"] = {"cpu": {"quota": 10000, "period": 100000}, "pids": {"limit": 4}, "unified": {"memory.high": "33554432"}}
json.dump(c, open(d + "/config-misc.json", "w"), indent=2)
# many containers sharing one cgroupsPath: each opens /dev/null while others join and leave
c = json.load(open(d + "/config.json"))
c["process"]["args"] = ["sh", "-c", "echo x > /dev/null && echo null-ok; sleep 0.5; echo x > /dev/null && echo null-ok"]
c["linux"]["cgroupsPath"] = "shared-cg"
c["linux"]["resources"] = {"pids": {}, "cpu": {"shares": 0, "quota": 0, "period": 0}}
json.dump(c, open(d + "/config-shared.json", "w"), indent=2)
PY
cp "$(dirname "$0")/guest-cgroup-v2.sh" "$work/guest.sh"
"$(dirname "$0")/run-in-vm.sh" --add "$VRUN" --add "$work" -- sh "$work/guest.sh" "$VRUN" "$work/bundle"
