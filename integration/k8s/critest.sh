#!/usr/bin/env bash
# critest, Kubernetes' CRI validation suite, through containerd with handler `runc` and handler
# `vrun` (both under containerd-shim-runc-v2, BinaryName set) and handler `vrun-shim` (vrun's
# own shim, runtime_type io.containerd.vrun.v2), one run each on the same containerd: vrun
# under either shim must fail nothing runc passes. On containerd 2, then, one pod through crictl
# with handler vrun-shim-runc-type (runc's type, runtime_path naming vrun's shim): runc's Root
# option, as the CRI gives it, is its state root.
#
#   critest.sh [2|1.6]...   (both without an argument)
#   2:   containerd 2 and critest at Kubernetes' version, runc at its newest release as the peer
#        (all built by tools.sh)
#   1.6: Debian's containerd 1.6 and its runc, with the critest release of versions.sh
#   CRITEST_HANDLERS="runc vrun vrun-shim" (the default): the handlers run, in turn;
#   CRITEST_FOCUS: a spec pattern to run alone; CRITEST_PARALLEL: ginkgo's processes (4)
#
# Each containerd runs as a node (lib.sh): its cgroups under the caller's own, in a cgroup and
# mount namespace of its own, and in a network namespace `vrun-critest` where critest runs too.
# Pods get addresses there from the CNI bridge, host-local and portmap plugins (10.88.0.0/16 on
# cni0, inside that namespace only). The images critest pulls are built here and served by
# registry.py on that namespace's 127.0.0.1, containerd's mirror for registry.k8s.io and
# gcr.io: the Image Manager tests pull through the CRI. The one test that pulls an upstream image
# by its digest is skipped by name, with the reason printed.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
need containerd containerd python3 python3 /usr/lib/cni/loopback containernetworking-plugins \
  /usr/bin/catatonit catatonit runc runc curl curl iptables iptables gcc gcc
need /usr/include/seccomp.h libseccomp-dev pkg-config pkg-config
build_vrun
which=("$@")
SHIM_ROOT=/run/containerd/vrun/k8s.io # (vrun's shim's state root for containerd's k8s.io)
((${#which[@]})) || which=(2 1.6)
tools=()
for w in "${which[@]}"; do
  case $w in 2) tools+=(containerd runc cri-tools) ;; 1.6) tools+=(cri-tools-16) ;;
  *) echo "critest.sh: no containerd $w (2 or 1.6)" >&2; exit 2 ;; esac
done
build_k8s_tools "${tools[@]}"

# name|reason: the specs skipped for both runtimes
SKIPS=(
  "image with digest|pulls an upstream image by its digest, which no image built here can have"
  "runtime should support MaskedPaths|masks /bin/ls and expects sh -c ls to fail, but Debian's static busybox, the only one here, runs ls as an applet inside sh (a masked /bin/ls is never executed); masked paths are checked by integration/cri.sh and tests/"
)
NETNS=vrun-critest
[ ! -e "/run/netns/$NETNS" ] || { echo "critest.sh: /run/netns/$NETNS exists: another run is going on, or one left it" >&2; exit 1; }

had_run_netns=$([ -d /run/netns ] && echo yes || true)
made_run_dirs=$(absent_dirs "$SHIM_ROOT" /run/containerd/vrun /run/containerd/s /run/containerd)
work=$(mktemp -d /tmp/vrun-critest.XXXXXX)
chmod 755 "$work" # (a user namespace's root reaches its rootfs under containerd's state here)
build_shim "$work"
REGISTRY_PID=
daemon=
node=
cleanup() {
  set +e
  [ -n "$node" ] && stop_containerd
  [ -n "$REGISTRY_PID" ] && kill "$REGISTRY_PID" 2>/dev/null && wait "$REGISTRY_PID" 2>/dev/null
  [ -e "/run/netns/$NETNS" ] && ip netns del "$NETNS"
  [ -n "$had_run_netns" ] || remove_made_run_netns
  remove_made_dirs $made_run_dirs # (the shims' state and sockets, once empty)
  rm -rf "$work"
  true
}
trap cleanup EXIT
trap "exit 1" INT TERM

# containerd's own and its shims' pids: every process in the node's cgroup
node_pids() { while read -r _ d; do cat "$d/cgroup.procs" 2>/dev/null; done < <(node_cgroups "$node") | sort -u; }
shims() { for p in $(node_pids); do tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q '^[^ ]*containerd-shim' && echo "$p"; done; true; }

stop_containerd() { # kills what a failed run left, in the node, then the node
  local c=(in_node "$node" "$work" "$CTR" --address "$sock" --namespace k8s.io) t r id
  for t in $("${c[@]}" tasks ls -q 2>/dev/null); do "${c[@]}" tasks kill -s KILL "$t"; done
  sleep 0.5
  for t in $("${c[@]}" tasks ls -q 2>/dev/null); do "${c[@]}" tasks delete -f "$t"; done
  kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null
  for p in $(shims); do kill -9 "$p"; done
  for r in runc vrun vrun-shim-runc-type; do
    for id in $(ls "$cwork/root-$r/k8s.io" 2>/dev/null); do
      in_node "$node" "$work" "${RUNTIME[$r]}" --root "$cwork/root-$r/k8s.io" delete -f "$id"
    done
  done 2>/dev/null
  for id in $(shim_containers); do
    in_node "$node" "$work" "$VRUN" --root "$SHIM_ROOT" delete -f "$id"
  done 2>/dev/null
  # (the node's mounts go with its mount namespace, when its last process ends)
  for p in $(node_pids); do kill -9 "$p"; done
  node_stop "$node" "$work"
  node=
}

# the containers of vrun's shim's root that this containerd made (their bundles are its)
shim_containers() {
  local f
  for f in "$SHIM_ROOT"/*/state.json; do
    grep -qF "\"bundle\":\"$cwork/" "$f" 2>/dev/null && basename "$(dirname "$f")"
  done
  true
}

# A handler of runc's type whose runtime_path names vrun's shim (containerd 2 only: 1.6.20's CRI
# reads runtime_path but starts runc's shim all the same, containerd's issue 8207): the CRI gives the shim runc's
# options, and their Root is its containers' state root, as <Root>/k8s.io. One pod of one
# container through crictl, as a kubelet would make it; status=1 when a check fails.
RP_HANDLER=vrun-shim-runc-type
runtime_path_check() {
  local crictl=(in_node "$node" "$work" "$CRICTL" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" --timeout 60s)
  local root=$cwork/root-$RP_HANDLER/k8s.io image=registry.k8s.io/e2e-test-images/busybox:1.36
  local pod ctr p exe want n left bad=0
  rp_fail() { echo "critest.sh: FAIL: handler $RP_HANDLER: $*" >&2; status=1 bad=1; }
  log "containerd $w, handler $RP_HANDLER (runc's type, runtime_path = vrun's shim): runc's Root option"
  mkdir -p "$cwork/rp-logs"
  cat >"$cwork/rp-pod.json" <<JSON
{"metadata": {"name": "runtime-path", "namespace": "vrun-critest", "uid": "runtime-path-uid"},
 "log_directory": "$cwork/rp-logs", "linux": {}}
JSON
  cat >"$cwork/rp-ctr.json" <<JSON
{"metadata": {"name": "sleep"}, "image": {"image": "$image"}, "command": ["sleep", "3600"],
 "log_path": "sleep.log", "linux": {}}
JSON
  "${crictl[@]}" pull "$image" >/dev/null || { rp_fail "crictl pull $image"; return; }
  pod=$("${crictl[@]}" runp --runtime "$RP_HANDLER" "$cwork/rp-pod.json") || { rp_fail "crictl runp"; return; }
  ctr=$("${crictl[@]}" create "$pod" "$cwork/rp-ctr.json" "$cwork/rp-pod.json") &&
    "${crictl[@]}" start "$ctr" >/dev/null || rp_fail "crictl create and start"
  want=$(readlink -f "$SHIM_DIR/containerd-shim-vrun-v2")
  p=$(shims)
  [ -n "$p" ] || rp_fail "no shim serves the pod"
  for p in $p; do
    exe=$(readlink "/proc/$p/exe")
    [ "$exe" = "$want" ] || rp_fail "the pod's shim is $exe, not $want ($(tr '\0' ' ' <"/proc/$p/cmdline"))"
  done
  # (the pod's sandbox and its container, in Root, none in the shim's default root)
  n=$(grep -lF "\"bundle\":\"$cwork/" "$root"/*/state.json 2>/dev/null | wc -l)
  [ "$n" = 2 ] || rp_fail "$n containers in Root ($root), not 2: $(ls -A "$root" 2>&1)"
  [ -z "$(shim_containers)" ] || rp_fail "containers in the shim's default root: $(shim_containers)"
  [ "$("${crictl[@]}" inspect -o go-template --template '{{.status.state}}' "$ctr" 2>/dev/null)" = CONTAINER_RUNNING ] ||
    rp_fail "the container is not running: $("${crictl[@]}" inspect "$ctr" 2>&1 | head -20)"
  "${crictl[@]}" stopp "$pod" >/dev/null && "${crictl[@]}" rmp "$pod" >/dev/null || rp_fail "crictl stopp and rmp"
  for _ in $(seq 50); do [ -z "$(shims)" ] && break; sleep 0.1; done
  left="$(shims)$(ls -A "$root" 2>/dev/null)$(node_cgroups_left "$node" | grep -v '/k8s.io$' || true)"
  [ -z "${left//[[:space:]]/}" ] || rp_fail "left after the pod's removal: $left"
  [ "$bad" = 0 ] && echo "critest.sh: handler $RP_HANDLER: the CRI's runc options reach vrun's shim: its pod's 2 containers in Root, none left after"
  true
}

declare -A RUNTIME
status=0
summary=()

for w in "${which[@]}"; do
  cwork=$work/containerd-$w
  sock=$cwork/containerd.sock
  mkdir -p "$cwork/cni" "$cwork/cni-bin"
  for p in bridge host-local loopback portmap; do ln -s "/usr/lib/cni/$p" "$cwork/cni-bin/$p"; done
  cat >"$cwork/cni/10-critest.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "vrun-critest", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.88.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$cwork/ipam"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  if [ ! -e "/run/netns/$NETNS" ]; then
    ip netns add "$NETNS"
    ip -n "$NETNS" link set lo up
  fi
  [ -n "$REGISTRY_PID" ] || { log "images, served on $NETNS's 127.0.0.1"; k8s_registry "$work" "$NETNS"; }
  mirror_hosts "$cwork/certs.d" "$REGISTRY_PORT"
  if [ "$w" = 2 ]; then
    bin=$(k8s_tool_dir containerd)
    CONTAINERD=$bin/containerd CTR=$bin/ctr
    RUNTIME[runc]=$(k8s_tool_dir runc)/runc
    CRITEST=$(k8s_tool_dir cri-tools)/critest
    containerd2_config "$cwork" "$sock" "$cwork/cni-bin" "$cwork/cni" \
      "runc=${RUNTIME[runc]}" "vrun=$VRUN" vrun-shim=shim:io.containerd.vrun.v2 \
      "$RP_HANDLER=runtime_path:$SHIM_DIR/containerd-shim-vrun-v2" >"$cwork/config.toml"
    CRICTL=$(k8s_tool_dir cri-tools)/crictl
    path=$SHIM_DIR:$bin:$PATH # (its containerd-shim-runc-v2, not Debian's)
  else
    CONTAINERD=$(command -v containerd) CTR=$(command -v ctr)
    RUNTIME[runc]=$(command -v runc)
    CRITEST=$(k8s_tool_dir cri-tools-16)/critest
    containerd16_config "$cwork" "$sock" "$cwork/cni-bin" "$cwork/cni" \
      "runc=${RUNTIME[runc]}" "vrun=$VRUN" vrun-shim=shim:io.containerd.vrun.v2 >"$cwork/config.toml"
    path=$SHIM_DIR:$PATH
  fi
  RUNTIME[vrun]=$VRUN RUNTIME[$RP_HANDLER]=$VRUN
  log "containerd $("$CONTAINERD" --version | awk '{print $3}') as a node, handlers runc ($("${RUNTIME[runc]}" --version | head -1)), vrun and vrun-shim"
  node=critest
  node_start "$node" "$work" "$NETNS"
  PATH=$path NODE_PIDFILE=$cwork/containerd.pid in_node "$node" "$work" "$CONTAINERD" --config "$cwork/config.toml" >"$cwork/containerd.log" 2>&1 &
  wait_containerd "$CTR" --address "$sock" && daemon=$(cat "$cwork/containerd.pid") || { tail -30 "$cwork/containerd.log"; echo "critest.sh: containerd $w did not start" >&2; exit 1; }

  skip=""
  for s in "${SKIPS[@]}"; do skip+="${skip:+|}${s%%|*}"; done
  for h in ${CRITEST_HANDLERS:-runc vrun vrun-shim}; do
    log "critest on containerd $w, handler $h"
    set +e
    # (in the node's namespaces: its mount namespace is the "host" of the mount propagation tests)
    # (--parallel runs the specs on ginkgo's parallel processes, the ginkgo built beside critest)
    PATH=$(dirname "$CRITEST"):$PATH in_node "$node" "$work" "$CRITEST" --parallel "${CRITEST_PARALLEL:-4}" \
      --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock" --runtime-handler "$h" \
      --ginkgo.skip "$skip" ${CRITEST_FOCUS:+--ginkgo.focus "$CRITEST_FOCUS"} --ginkgo.junit-report "$cwork/$h.xml" --ginkgo.no-color --ginkgo.flake-attempts 1 \
      >"$cwork/$h.out" 2>&1
    set -e
    grep -E '^(Ran |FAIL|SUCCESS)' "$cwork/$h.out" | tail -3
    # why each failing spec failed, in a line
    grep -E '^\s*\[FAILED\] ' "$cwork/$h.out" | grep -v '\[FAILED\] in \[' | sort -u | cut -c1-1500 | sed "s/^ */critest: $h: /" || true
    [ -s "$cwork/$h.xml" ] || { tail -40 "$cwork/$h.out"; echo "critest.sh: critest wrote no report for $h" >&2; exit 1; }
    # what the handler's run left: containers, shims, cgroups of the pods, runtime state
    # (containerd does not wait for a shim it told to shut down to end: a moment for that)
    for _ in $(seq 50); do [ -z "$(shims)" ] && break; sleep 0.1; done
    left="$(shims)$(node_cgroups_left "$node" | grep -v '/k8s.io$' || true)$(ls -A "$cwork/root-$h/k8s.io" 2>/dev/null || true)"
    [ "$h" = vrun-shim ] && left+=$(shim_containers)
    if [ -n "${left//[[:space:]]/}" ]; then
      echo "critest.sh: handler $h left: $left" >&2
      for p in $(shims); do # (what a left shim's threads wait on, for the report)
        echo "critest.sh: shim $p ($(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | cut -c1-200)), threads:" \
          "$(for t in /proc/$p/task/*; do echo -n "$(cat "$t/comm" 2>/dev/null):$(cat "$t/wchan" 2>/dev/null) "; done)" >&2
      done
      [ "$h" != runc ] && status=1
    fi
  done
  [ "$w" = 2 ] && runtime_path_check
  # (containerd 2 learns a handler's user namespace and recursive read-only mount support from
  # the runtime's features: for runc's shim from `BINARY features`, for vrun's shim from its
  # `-info` answer; without them critest would skip those specs, which junit.py counts as not
  # passed)
  reports=()
  for h in ${CRITEST_HANDLERS:-runc vrun vrun-shim}; do reports+=("$h=$cwork/$h.xml"); done
  # (the first run's report is the yardstick: runc's, unless CRITEST_HANDLERS leaves it out)
  python3 "$k8s_dir/junit.py" "containerd $w" "${reports[@]}" >"$cwork/compare.out" || status=1
  cat "$cwork/compare.out"
  summary+=("$(grep '^critest' "$cwork/compare.out")")
  stop_containerd || true # (best effort, as in cleanup: what it kills may be gone)
done
for s in "${SKIPS[@]}"; do echo "critest.sh: skipped for both runtimes: \"${s%%|*}\": ${s#*|}"; done
printf '%s\n' "${summary[@]}"
[ "$status" = 0 ] || { echo "critest.sh: FAIL" >&2; exit 1; }
echo "critest.sh: vrun (under runc's shim and its own) fails no critest spec runc passes, and leaves nothing"
