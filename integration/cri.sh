#!/usr/bin/env bash
# Kubernetes' view: a private containerd with its CRI plugin, runtime handlers `runc` and `vrun`
# (both through the runc v2 shim, BinaryName set) and `vrun-shim` (vrun's own shim,
# runtime_type io.containerd.vrun.v2), driven by vrun-cri-check (a CRI client,
# integration/cri-client) as the kubelet would. The same checks run with each handler; vrun
# under either shim must pass every one runc passes, and leave no container, cgroup, mount,
# network namespace or shim.
#
# As on this machine root cannot lower oom_score_adj, the CRI runs with
# restrict_oom_score_adj = true. Pods get a network namespace with only `lo`: the CNI conflist
# holds Debian's loopback plugin only, through integration/cri/loopback-as-eth0, which reports
# its result as eth0's (containerd 1.6 fails a pod whose result has no eth0). Images are built
# here: busybox, and a pause image of Debian's catatonit.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need containerd containerd /usr/bin/python3 python3 /usr/lib/cni/loopback containernetworking-plugins \
  /usr/bin/catatonit catatonit protoc protobuf-compiler runc runc
build_vrun
log "build the CRI client (integration/cri-client), formatted and lint-clean"
(
  cd "$top/integration/cri-client"
  export CARGO_TARGET_DIR="$top/target"
  cargo fmt -- --check
  cargo clippy --release -q -- -D warnings
  cargo build --release -q
)
CHECK=$(release_dir)/vrun-cri-check
RUNC=$(command -v runc)

work=$(mktemp -d /tmp/vrun-cri.XXXXXX)
build_shim "$work"
sock=$work/containerd.sock
. "$top/integration/cri/containerd.sh"
trap cri_containerd_down EXIT
trap "exit 1" INT TERM
fail() { echo "cri.sh: FAIL: $*" >&2; exit 1; }

cri_containerd_up

status=0
declare -A passed
for h in runc vrun vrun-shim; do
  log "CRI checks with handler $h"
  set +e
  "$CHECK" "$sock" "$h" localhost/vrun-busybox:latest "$work" | tee "$work/$h.out"
  set -e
  [ -s "$work/$h.out" ] || fail "the CRI client printed nothing for handler $h"
  # what each handler's run left
  left=$(shims; mounts_left; ls /run/netns 2>/dev/null | grep -vxF "$netns_before" || true)
  # (pods' cgroups go under vrun-cri/ in the caller's own cgroup: cgroup_parent vrun-cri/POD,
  # relative, as a kubelet's cgroupfs driver passes kubepods/...)
  if [ "$h" = vrun ]; then
    left+=$(cgroups_under vrun-cri 0; ls -A "$work/root-vrun/k8s.io" 2>/dev/null)
  elif [ "$h" = vrun-shim ]; then
    left+=$(cgroups_under vrun-cri 0; grep -lF "\"bundle\":\"$work/" "$SHIM_ROOT"/*/state.json 2>/dev/null || true)
  else
    remove_cgroups_under vrun-cri # runc leaves its containers' parent cgroups, as the kubelet removes them
  fi
  if [ -n "${left//[[:space:]]/}" ]; then
    echo "cri.sh: handler $h left: $left" >&2
    [ "$h" != runc ] && status=1
  fi
done

# vrun, under either shim, must pass every check runc passes
for h in vrun vrun-shim; do
  while read -r verdict name; do
    [ "$verdict" = ok ] || continue
    grep -qxF "ok   $name" "$work/$h.out" || { echo "cri.sh: FAIL: runc passes, $h does not: $name" >&2; status=1; }
  done < <(sed -n 's/^ok   /ok /p' "$work/runc.out")
done
grep -q '^FAIL' "$work/runc.out" && { echo "cri.sh: (runc fails here too:)"; grep '^FAIL' "$work/runc.out"; }
n() { grep -c '^ok' "$work/$1.out" || true; }
echo "cri.sh: checks passed: runc $(n runc), vrun $(n vrun), vrun-shim $(n vrun-shim)"
[ "$status" = 0 ] || { tail -40 "$work/containerd.log" >&2; fail "see above"; }
echo "cri.sh: vrun (runc's shim and its own) passes every check runc passes, and leaves nothing"
