#!/usr/bin/env bash
# The systemd cgroup driver, checked where systemd is PID 1 on cgroup v2 (run-in-systemd-vm.sh,
# a copy of the project's runner; this host has no systemd): `vrun --systemd-cgroup` makes a
# transient scope with the limits as unit properties and in its files, update, exec,
# pause/resume, delete stopping the unit, org.systemd.property.* annotations, the default
# path, a create killed half-way cleaned by delete --force, containerd's runc shim with
# SystemdCgroup = true running vrun, vrun's own shim (a scope for a systemd cgroupsPath, and
# ctr task metrics from cgroup v2's Metrics), and a rootless container whose limits hold through the
# cgroup the user's systemd delegates. One boot.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need python3 python3
build_vrun
(cd "$top" && cargo build --release -q -p containerd-shim-vrun-v2)
shim=$(release_dir)/containerd-shim-vrun-v2

work=$(mktemp -d /tmp/vrun-sdvm.XXXXXX)
trap 'rm -rf "$work"' EXIT
make_bundle "$work/bundle" sleep 1000
python3 - "$work/bundle" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/config.json"))
c["linux"]["cgroupsPath"] = "system.slice:vrun:sd1"
c["linux"]["resources"].update({"memory": {"limit": 67108864}, "pids": {"limit": 50},
                                "cpu": {"shares": 1024, "quota": 50000, "period": 100000}})
c["annotations"] = {"org.systemd.property.CollectMode": "'inactive-or-failed'",
                    "org.systemd.property.TimeoutStopUSec": "uint64 123456789"}
json.dump(c, open(d + "/config.json", "w"), indent=2)
c.pop("annotations")
c["linux"].pop("cgroupsPath")
c["process"]["args"] = ["sh", "-c", "cat /proc/self/cgroup"]
json.dump(c, open(d + "/config-default.json", "w"), indent=2)
# rootless, with a memory and pids limit through the user's own systemd (UID is replaced in
# the guest by the user's uid)
c = json.load(open(d + "/config.json"))
c.pop("annotations")
c["linux"]["cgroupsPath"] = ":vrun:rl1"
c["root"]["path"] = d + "/rootfs"
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user", "cgroup")]
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 4242424, "size": 1}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 4242424, "size": 1}]
c["linux"]["resources"] = {"memory": {"limit": 33554432}, "pids": {"limit": 20}}
c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/sys/fs/cgroup"]
for m in c["mounts"]:
    if m["destination"] == "/sys":
        m.update({"type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
    if m["destination"] == "/dev/pts":
        m["options"] = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
json.dump(c, open(d + "/config-rootless.json", "w"), indent=2)
PY
chmod -R a+rX "$work"
# an OCI image of the same rootfs, for containerd
python3 "$top/integration/lib/oci-image.py" "$work/bundle/rootfs" localhost/vrun-busybox:sd "$work/image.tar" >/dev/null
cp "$(dirname "$0")/guest-systemd.sh" "$work/guest.sh"
SYSD_EXTRA=containerd,dbus-user-session "$(dirname "$0")/run-in-systemd-vm.sh" --add "$VRUN" --add "$shim" --add "$work" -- \
  sh "$work/guest.sh" "$VRUN" "$work" "$shim"
