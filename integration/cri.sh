#!/usr/bin/env bash
# Kubernetes' view: a private containerd with its CRI plugin, runtime handlers `runc` and `vrun`
# (both through the runc v2 shim, BinaryName set), driven by vrun-cri-check (a CRI client,
# integration/cri-client) as the kubelet would. The same checks run with each handler; vrun must
# pass every one runc passes, and leave no container, cgroup, mount, network namespace or shim.
#
# As on this machine root cannot lower oom_score_adj, the CRI runs with
# restrict_oom_score_adj = true. Pods get a network namespace with only `lo`: the CNI conflist
# holds Debian's loopback plugin only, through integration/cri/loopback-as-eth0, which reports
# its result as eth0's (containerd 1.6 fails a pod whose result has no eth0). Images are built
# here: busybox, and a pause image of Debian's catatonit.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need containerd containerd python3 python3 /usr/lib/cni/loopback containernetworking-plugins \
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
sock=$work/containerd.sock
daemon=
netns_before=$(ls /run/netns 2>/dev/null | sort || true)
had_run_containerd=$([ -d /run/containerd ] && echo yes || true)
had_run_netns=$([ -d /run/netns ] && echo yes || true)
had_cni_cache=$([ -d /var/lib/cni ] && echo yes || true) # (libcni's result cache)
C=(ctr --address "$sock" --namespace k8s.io)

# This run's shims: they were started with this daemon's socket as their address.
shims() { shims_of "-address $sock"; }
mounts_left() { grep -F -e "$work" -e /run/netns/cni- /proc/self/mountinfo | awk '{print $5}' || true; }

cleanup() {
  set +e
  if [ -n "$daemon" ]; then
    # pods left by a failed run: containers first, through ctr, then the daemon
    for t in $("${C[@]}" tasks ls -q 2>/dev/null); do "${C[@]}" tasks kill -s KILL "$t"; done
    sleep 0.5
    for t in $("${C[@]}" tasks ls -q 2>/dev/null); do "${C[@]}" tasks delete -f "$t"; done
    for c in $("${C[@]}" containers ls -q 2>/dev/null); do "${C[@]}" containers delete "$c"; done
    kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null
  fi
  for p in $(shims); do kill -9 "$p"; done
  # (the shim puts each runtime's state under ROOT/NAMESPACE)
  for r in "$work/root-runc/k8s.io" "$work/root-vrun/k8s.io"; do
    [ -d "$r" ] || continue
    for id in $(ls "$r" 2>/dev/null); do
      case "$r" in
      *runc) "$RUNC" --root "$r" delete -f "$id" ;;
      *vrun) "$VRUN" --root "$r" delete -f "$id" ;;
      esac
    done
  done 2>/dev/null
  mounts_left | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for n in $(ls /run/netns 2>/dev/null); do
    echo "$netns_before" | grep -qx "$n" || rm -f "/run/netns/$n"
  done
  remove_cgroups_under vrun-cri
  rm -rf "$work"
  [ -n "$had_run_containerd" ] || rm -rf /run/containerd
  [ -n "$had_run_netns" ] || rmdir /run/netns 2>/dev/null
  [ -n "$had_cni_cache" ] || rm -rf /var/lib/cni
  true
}
trap cleanup EXIT
trap "exit 1" INT TERM
fail() { echo "cri.sh: FAIL: $*" >&2; exit 1; }

log "images: busybox, and a pause image of catatonit"
busybox_rootfs "$work/busybox"
python3 "$top/integration/lib/oci-image.py" "$work/busybox" localhost/vrun-busybox:latest "$work/busybox.tar"
mkdir -p "$work/pause"
cp /usr/bin/catatonit "$work/pause/catatonit"
python3 "$top/integration/lib/oci-image.py" "$work/pause" localhost/vrun-pause:latest "$work/pause.tar" /catatonit -P

log "start a private containerd with the CRI plugin"
mkdir -p "$work/cni" "$work/cni-bin"
ln -s /usr/lib/cni/loopback "$work/cni-bin/loopback" # (containerd's own `lo` setup)
cp "$top/integration/cri/loopback-as-eth0" "$work/cni-bin/"
cat >"$work/cni/10-loopback.conflist" <<'JSON'
{"cniVersion": "0.4.0", "name": "vrun-loopback", "plugins": [{"type": "loopback-as-eth0"}]}
JSON
handler() { # NAME BINARY
  cat <<TOML
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$1]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$1.options]
        BinaryName = "$2"
        Root = "$work/root-$1"
TOML
}
cat >"$work/config.toml" <<TOML
version = 2
root = "$work/root"
state = "$work/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/vrun-pause:latest"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$work/cni-bin"
    conf_dir = "$work/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
$(handler runc "$RUNC")
$(handler vrun "$VRUN")
TOML
containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${C[@]}" version >/dev/null || { cat "$work/containerd.log"; fail "containerd did not start"; }
"${C[@]}" images import "$work/busybox.tar" >/dev/null
"${C[@]}" images import "$work/pause.tar" >/dev/null

status=0
declare -A passed
for h in runc vrun; do
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
  else
    remove_cgroups_under vrun-cri # runc leaves its containers' parent cgroups, as the kubelet removes them
  fi
  if [ -n "${left//[[:space:]]/}" ]; then
    echo "cri.sh: handler $h left: $left" >&2
    [ "$h" = vrun ] && status=1
  fi
done

# vrun must pass every check runc passes
while read -r verdict name; do
  [ "$verdict" = ok ] || continue
  grep -qxF "ok   $name" "$work/vrun.out" || { echo "cri.sh: FAIL: runc passes, vrun does not: $name" >&2; status=1; }
done < <(sed -n 's/^ok   /ok /p' "$work/runc.out")
grep -q '^FAIL' "$work/runc.out" && { echo "cri.sh: (runc fails here too:)"; grep '^FAIL' "$work/runc.out"; }
n_runc=$(grep -c '^ok' "$work/runc.out" || true)
n_vrun=$(grep -c '^ok' "$work/vrun.out" || true)
echo "cri.sh: checks passed: runc $n_runc, vrun $n_vrun"
[ "$status" = 0 ] || { tail -40 "$work/containerd.log" >&2; fail "see above"; }
echo "cri.sh: vrun passes every check runc passes, and leaves nothing"
