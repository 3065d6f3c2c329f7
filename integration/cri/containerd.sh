# A private containerd 1.6 with its CRI plugin and the handlers runc and vrun (runc's shim,
# BinaryName set) and vrun-shim (vrun's own shim), as integration/cri.sh and
# integration/bench/shim.sh use it. Source it after lib/common.sh, with build_vrun and
# build_shim run, and set: work (the run's directory), sock (containerd's socket), RUNC; then
# cri_containerd_up starts it (daemon is its pid) and cri_containerd_down (the EXIT trap)
# ends it and removes everything its pods left. fail() is the caller's. pods and pods_end
# (below) make pods through vrun-cri-check: they need CHECK (its path) and IMAGE.
SHIM_ROOT=/run/containerd/vrun/k8s.io # (vrun's shim's state root for containerd's k8s.io)
daemon=
netns_before=$(ls /run/netns 2>/dev/null | sort || true)
had_run_containerd=$([ -d /run/containerd ] && echo yes || true)
made_dirs=$(absent_dirs "$SHIM_ROOT" /run/containerd/vrun /run/containerd/s)
had_run_netns=$([ -d /run/netns ] && echo yes || true)
had_cni_cache=$([ -d /var/lib/cni ] && echo yes || true) # (libcni's result cache)
C=(ctr --address "$sock" --namespace k8s.io)

# This run's shims: they were started with this daemon's socket as their address.
shims() { shims_of "-address $sock"; }
mounts_left() { grep -F -e "$work" -e /run/netns/cni- /proc/self/mountinfo | awk '{print $5}' || true; }

cri_containerd_down() {
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
  vrun_delete_under "$SHIM_ROOT" "$work" 2>/dev/null
  mounts_left | sort -r | xargs -r -n1 umount -l 2>/dev/null
  for n in $(ls /run/netns 2>/dev/null); do
    echo "$netns_before" | grep -qx "$n" || rm -f "/run/netns/$n"
  done
  remove_cgroups_under vrun-cri
  rm -rf "$work"
  remove_made_dirs $made_dirs
  [ -n "$had_run_containerd" ] || rm -rf /run/containerd
  [ -n "$had_run_netns" ] || remove_made_run_netns
  [ -n "$had_cni_cache" ] || rm -rf /var/lib/cni
  true
}

cri_containerd_up() {
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
  handler() { # NAME BINARY | NAME shim:TYPE
    if [ "${2#shim:}" != "$2" ]; then
      cat <<TOML
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.$1]
      runtime_type = "${2#shim:}"
TOML
      return
    fi
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
  # overlayfs, containerd's default and what nodes run (containerd 2's runs in k8s/lib.sh use
  # it too); CRI_SNAPSHOTTER=native copies every layer for every container, which a pod start
  # then spends most of its time on (README, "containerd-shim-vrun-v2": the numbers)
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${CRI_SNAPSHOTTER:-overlayfs}"
    default_runtime_name = "runc"
$(handler runc "$RUNC")
$(handler vrun "$VRUN")
$(handler vrun-shim shim:io.containerd.vrun.v2)
TOML
  PATH=$SHIM_DIR:$PATH containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
  daemon=$!
  for _ in $(seq 100); do [ -S "$sock" ] && "${C[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
  "${C[@]}" version >/dev/null || { cat "$work/containerd.log"; fail "containerd did not start"; }
  "${C[@]}" images import "$work/busybox.tar" >/dev/null
  "${C[@]}" images import "$work/pause.tar" >/dev/null
}

# the processes of the shim serving pod ID: its command line names the pod (vrun's maker is a
# fork of the shim, with the same command line)
shim_pids() { ps -eo pid=,args= | awk -v id="-id $1 " '$2 ~ /containerd-shim/ && index($0 " ", id) {print $1}'; }
# pods HANDLER N CONTAINERS: starts vrun-cri-check --pods as a coprocess (POD_PIDS: the pods'
# shims, once ready); pods_end removes them. (The coprocess's fds and pid are kept apart:
# bash unsets its array once it ends.)
pods() {
  coproc PODS { "$CHECK" --pods "$sock" "$IMAGE" "$work" "$1" "$2" "$3"; }
  p_in=${PODS[0]} p_out=${PODS[1]} p_pid=$PODS_PID
  local line ids=()
  while read -r line <&"$p_in"; do
    case $line in pod\ *) ids+=("${line#pod }") ;; ready) break ;; esac
  done
  [ "$line" = ready ] || fail "vrun-cri-check --pods $1 $2 did not get ready"
  POD_PIDS=()
  local id
  for id in "${ids[@]}"; do POD_PIDS+=($(shim_pids "$id")); done
}
pods_end() {
  eval "exec $p_out>&-"
  local line
  while read -r line <&"$p_in"; do [ "$line" = removed ] && break; done
  wait "$p_pid" || fail "vrun-cri-check --pods failed"
}
