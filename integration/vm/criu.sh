#!/usr/bin/env bash
# checkpoint and restore with CRIU, in the microVM: Debian's criu 3.17 cannot start on this
# host's kernel (its vDSO check), but passes `criu check` on the guest's Debian kernel once
# the nf_tables and sock_diag modules are in (run-in-vm.sh loads them). One boot: a counting
# container checkpointed, gone, restored and counting on; pre-dump then dump; leave-running;
# a paused one; through vrun's shim (task_call standing in for containerd), and through
# Debian's containerd 1.6 and ctr.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
need python3 python3 /usr/sbin/criu criu /usr/sbin/iptables-save iptables /usr/bin/ip iproute2
build_vrun
# the shim, and task_call, which makes containerd's calls of it (no containerd in the VM)
(cd "$top" && cargo build --release -q -p containerd-shim-vrun-v2 --bin containerd-shim-vrun-v2 --example task_call)
shim=$(release_dir)/containerd-shim-vrun-v2 task_call=$(release_dir)/examples/task_call

work=$(mktemp -d /tmp/vrun-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
# counts into /count (the rootfs: files survive a checkpoint, and a restarted count would
# start again at 1), by rename: a checkpoint taken between `>`'s truncation and the write would
# otherwise find it empty; stdio to /dev/null, which CRIU reopens
make_bundle "$work/bundle" sh -c 'i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.1; done'
python3 - "$work/bundle" <<'PY'
import json, sys
d = sys.argv[1]
c = json.load(open(d + "/config.json"))
c["root"]["readonly"] = False
# The host's network namespace: Debian's criu 3.17 cannot dump a network namespace's links
# on the guest's 6.1 kernel (RTM_GETLINK answered EINVAL, "Dumping netns links"), for any
# runtime; a newer criu is needed for that.
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
json.dump(c, open(d + "/config.json", "w"), indent=2)
PY
# a real containerd (Debian's 1.6) and ctr, and the busybox image they run
need containerd containerd
busybox_rootfs "$work/busybox"
python3 "$top/integration/lib/oci-image.py" "$work/busybox" localhost/vrun-busybox:latest "$work/busybox.tar"
rm -rf "$work/busybox"
cp "$(dirname "$0")/guest-criu.sh" "$work/guest.sh"
# CRIU saves tmpfs contents with GNU tar, and a network namespace's routes and rules with
# ip and iptables
# (Debian's iptables is xtables-nft-multi, which the guest calls by its names, with its
# match extensions: CRIU's network lock uses the mark match).
"$(dirname "$0")/run-in-vm.sh" --mem 2G --add "$VRUN" --add "$shim" --add "$task_call" --add /usr/sbin/criu --add /usr/bin/ip --add /usr/bin/tar \
  --add "$(command -v containerd)" --add "$(command -v ctr)" \
  --add "$(readlink -f /usr/sbin/iptables-save)" --add "$(dirname "$(readlink -f /usr/sbin/iptables-save)")/../lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)/xtables" \
  --add "$work" -- \
  sh "$work/guest.sh" "$VRUN" "$work/bundle" "$shim" "$task_call" "$(command -v containerd)" "$(command -v ctr)" "$work/busybox.tar"
