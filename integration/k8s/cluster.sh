#!/usr/bin/env bash
# A two-node Kubernetes cluster whose pods run on vrun, as a RuntimeClass beside runc:
#
#   cluster.sh [RUNTIME...]   the checks with each RuntimeClass in turn (vrun, vrun-shim and runc
#                             without an argument; runc, at its newest release, is the yardstick)
#
# vrun runs under containerd's runc shim (handler vrun), and under its own (handler vrun-shim,
# runtime_type io.containerd.vrun.v2).
#
# etcd, kube-apiserver (a CA and service-account keys made here), kube-controller-manager and
# kube-scheduler in a network namespace `vrun-k8s-cp`; two nodes, each in a network namespace of
# its own (`vrun-k8s-node1`, `-node2`) joined to the control plane's by a bridge there, each a
# kubelet with its own containerd 2 (handlers runc, vrun and vrun-shim), root, state, and cgroups: a node of
# lib.sh, a cgroup and mount namespace rooted at OWN/vrun-k8s-nodeN, so the kubelet's cgroupfs
# driver makes /kubepods under the caller's own cgroup. Pods get addresses from the CNI bridge
# and host-local plugins, 10.244.N.0/24 on node N, with routes between the nodes. Every address
# lives in the namespaces made here; the host's own carries none. Images come from registry.py,
# one per node, on the node's 127.0.0.1, as containerd's mirror.
#
# On this hybrid-cgroup host the kubelets use the cgroupfs driver on cgroup v1, which Kubernetes
# 1.34 still runs when failCgroupV1 is false (it is maintained, not developed, on v1).
#
# Prints per runtime a `N passed, M failed` line, and the pod start latency (creation to Ready,
# median of 20 pods, the runtimes interleaved on the same nodes).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/lib.sh"
need python3 python3 /usr/lib/cni/bridge containernetworking-plugins /usr/bin/catatonit catatonit gcc gcc \
  curl curl openssl openssl ip iproute2 nsenter util-linux
need /usr/include/seccomp.h libseccomp-dev pkg-config pkg-config
build_vrun
build_k8s_tools containerd runc cri-tools etcd kubernetes
KBIN=$(k8s_tool_dir kubernetes)
CBIN=$(k8s_tool_dir containerd)
CRICTL=$(k8s_tool_dir cri-tools)/crictl
ETCD=$(k8s_tool_dir etcd)/etcd
# (vrun-shim's containers are vrun's, in its shim's state root, shared by the nodes: told apart
# by their bundles, under each node's containerd state)
declare -A RUNTIME=([vrun]=$VRUN [vrun-shim]=$VRUN [runc]=$(k8s_tool_dir runc)/runc)
SHIM_ROOT=/run/containerd/vrun/k8s.io
runtimes=("$@")
((${#runtimes[@]})) || runtimes=(vrun vrun-shim runc)
for rt in "${runtimes[@]}"; do [ -n "${RUNTIME[$rt]:-}" ] || { echo "cluster.sh: no runtime $rt (vrun, vrun-shim or runc)" >&2; exit 2; }; done
NODES=(node1 node2)
CP=vrun-k8s-cp
for n in "$CP" vrun-k8s-node1 vrun-k8s-node2; do
  [ ! -e "/run/netns/$n" ] || { echo "cluster.sh: /run/netns/$n exists: another run is going on, or one left it" >&2; exit 1; }
done

had_run_netns=$([ -d /run/netns ] && echo yes || true)
made_run_dirs=$(absent_dirs "$SHIM_ROOT" /run/containerd/vrun /run/containerd/s /run/containerd)
work=$(mktemp -d /tmp/vrun-k8s.XXXXXX)
chmod 755 "$work"
build_shim "$work"
touch "$work/crictl.yaml" # (crictl's configuration: its flags say everything)
pids=()
made_dirs=()
cleanup() {
  set +e
  for n in "${NODES[@]}"; do [ -e "$work/$n.pid" ] && stop_node "$n"; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for n in vrun-k8s-node1 vrun-k8s-node2 "$CP"; do [ -e "/run/netns/$n" ] && ip netns del "$n"; done
  [ -n "$had_run_netns" ] || remove_made_run_netns
  remove_made_dirs $made_run_dirs # (the shims' state and sockets, once empty)
  for d in "${made_dirs[@]}"; do rmdir "$d"; done
  rm -rf "$work"
  true
}
trap cleanup EXIT
trap "exit 1" INT TERM
fail() { echo "cluster.sh: FAIL: $*" >&2; exit 1; }
in_cp() { nsenter --net="/run/netns/$CP" -- "$@"; }
# (for daemons: $! of a function run in the background is a subshell's, not the daemon's)
CPNS=(nsenter --net="/run/netns/$CP" --)
K() { in_cp "$KBIN/kubectl" --kubeconfig "$work/pki/admin.kubeconfig" "$@"; }
crictl_on() { local n=$1; shift; "$CRICTL" --config "$work/crictl.yaml" --runtime-endpoint "unix://$work/$n/containerd.sock" --timeout 20s "$@"; }
# waits up to $1 seconds for the command to succeed
until_ok() { local t=$1; shift; for _ in $(seq "$t"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done; "$@"; }

# --- certificates: a CA, the apiserver's serving certificate, a client certificate for each
# component, and the service-account signing key
pki() {
  local d=$work/pki
  mkdir -p "$d"
  cd "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.crt \
    -days 2 -subj /CN=vrun-k8s-ca 2>/dev/null
  cert() { # NAME SUBJECT [SAN]
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -subj "$2" 2>/dev/null |
      openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -out "$1.crt" 2>/dev/null \
        -extfile <(printf 'extendedKeyUsage=serverAuth,clientAuth\n%s' "${3:+subjectAltName=$3}")
  }
  cert apiserver /CN=kube-apiserver \
    "IP:10.240.0.1,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
  cert apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client/O=system:masters"
  # (the controller-manager and the scheduler as the cluster's administrators: this cluster has
  # no other user)
  cert admin "/CN=vrun-k8s-admin/O=system:masters"
  for n in "${NODES[@]}"; do cert "$n" "/CN=system:node:$n/O=system:nodes"; done
  openssl ecparam -name prime256v1 -genkey -noout -out sa.key
  openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
  for u in admin "${NODES[@]}"; do
    cat >"$u.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: vrun-k8s, cluster: {server: "https://10.240.0.1:6443", certificate-authority: "$d/ca.crt"}}]
users: [{name: $u, user: {client-certificate: "$d/$u.crt", client-key: "$d/$u.key"}}]
contexts: [{name: vrun-k8s, context: {cluster: vrun-k8s, user: $u}}]
current-context: vrun-k8s
YAML
  done
  cd "$top"
}

# --- the network: the control plane's namespace holds a bridge; each node's eth0 is a veth on it
network() {
  local i other
  for n in "$CP" vrun-k8s-node1 vrun-k8s-node2; do
    ip netns add "$n"
    ip -n "$n" link set lo up
  done
  ip -n "$CP" link add vkbr type bridge
  ip -n "$CP" addr add 10.240.0.1/24 dev vkbr
  ip -n "$CP" link set vkbr up
  for i in 1 2; do
    other=$((3 - i))
    ip -n "$CP" link add "vk-node$i" type veth peer name eth0 netns "vrun-k8s-node$i"
    ip -n "$CP" link set "vk-node$i" master vkbr up
    ip -n "vrun-k8s-node$i" addr add "10.240.0.1$i/24" dev eth0
    ip -n "vrun-k8s-node$i" link set eth0 up
    ip -n "vrun-k8s-node$i" route add "10.244.$other.0/24" via "10.240.0.1$other"
    ip -n "$CP" route add "10.244.$i.0/24" via "10.240.0.1$i"
    ip netns exec "vrun-k8s-node$i" sysctl -qw net.ipv4.ip_forward=1
  done
}

# --- the control plane
control_plane() {
  local d=$work/pki
  "${CPNS[@]}" "$ETCD" --name vrun-k8s --data-dir "$work/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster vrun-k8s=http://127.0.0.1:2380 \
    --listen-metrics-urls "" --log-level warn >"$work/etcd.log" 2>&1 &
  pids+=($!)
  "${CPNS[@]}" "$KBIN/kube-apiserver" --etcd-servers http://127.0.0.1:2379 --bind-address 10.240.0.1 \
    --advertise-address 10.240.0.1 --secure-port 6443 --cert-dir "$work/apiserver-certs" \
    --tls-cert-file "$d/apiserver.crt" --tls-private-key-file "$d/apiserver.key" --client-ca-file "$d/ca.crt" \
    --kubelet-client-certificate "$d/apiserver-kubelet-client.crt" --kubelet-client-key "$d/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP --service-account-key-file "$d/sa.pub" \
    --service-account-signing-key-file "$d/sa.key" --service-account-issuer https://kubernetes.default.svc \
    --service-cluster-ip-range 10.96.0.0/16 --authorization-mode Node,RBAC \
    --enable-admission-plugins NodeRestriction --allow-privileged=true >"$work/apiserver.log" 2>&1 &
  pids+=($!)
  until_ok 90 K get --raw /readyz || { tail -20 "$work/apiserver.log" "$work/etcd.log"; fail "the apiserver did not start"; }
  "${CPNS[@]}" "$KBIN/kube-controller-manager" --kubeconfig "$d/admin.kubeconfig" --leader-elect=false \
    --service-account-private-key-file "$d/sa.key" --root-ca-file "$d/ca.crt" --use-service-account-credentials=false \
    --cluster-signing-cert-file "$d/ca.crt" --cluster-signing-key-file "$d/ca.key" \
    --bind-address 127.0.0.1 --secure-port 10257 >"$work/controller-manager.log" 2>&1 &
  pids+=($!)
  "${CPNS[@]}" "$KBIN/kube-scheduler" --kubeconfig "$d/admin.kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 10259 >"$work/scheduler.log" 2>&1 &
  pids+=($!)
}

# --- a node: containerd and a kubelet in a node of lib.sh, in the node's network namespace
node_config() { # NAME INDEX
  local n=$1 i=$2 nw=$work/$1 k
  mkdir -p "$nw/cni" "$nw/cni-bin" "$nw/kubelet" "$nw/pod-logs" "$nw/sysctl"
  for p in bridge host-local loopback; do ln -s "/usr/lib/cni/$p" "$nw/cni-bin/$p"; done
  cat >"$nw/cni/10-pods.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "vrun-k8s-pods", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.$i.0/24"}]],
            "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$nw/ipam"}}]}
JSON
  containerd2_config "$nw" "$nw/containerd.sock" "$nw/cni-bin" "$nw/cni" \
    "runc=${RUNTIME[runc]}" "vrun=$VRUN" vrun-shim=shim:io.containerd.vrun.v2 >"$nw/config.toml"
  echo "nameserver 10.240.0.1" >"$nw/resolv.conf"
  cat >"$nw/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 10.240.0.1$i
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication: {anonymous: {enabled: false}, webhook: {enabled: false}, x509: {clientCAFile: "$work/pki/ca.crt"}}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: "unix://$nw/containerd.sock"
podLogsDir: "$nw/pod-logs"
resolvConf: "$nw/resolv.conf"
serializeImagePulls: false
allowedUnsafeSysctls: ["net.ipv4.vrun_*"]
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
YAML
  # The kubelet sets kernel tunables it wants (vm.overcommit_memory, kernel.panic, ...) in
  # /proc/sys, which is the host's: each is a file of its own in the kubelet's mount namespace
  # (see start_daemons).
  for k in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
    kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
    cat "/proc/sys/$k" >"$nw/sysctl/${k//\//.}"
  done
}

start_node() { # NAME INDEX
  local n=$1 i=$2 nw=$work/$1 k
  node_start "$n" "$work" "vrun-k8s-$n"
  # what the kubelet and libcni write outside their configured directories, in the node's own
  in_node "$n" "$work" mount -t tmpfs -o mode=755 vrun-k8s /var/lib/cni
  in_node "$n" "$work" mount -t tmpfs -o mode=755 vrun-k8s /var/log/containers
  nsenter --net="/run/netns/vrun-k8s-$n" -- python3 "$k8s_dir/registry.py" serve "$work/registry" "$nw/registry.port" &
  pids+=($!)
  until_ok 10 test -s "$nw/registry.port"
  mirror_hosts "$nw/certs.d" "$(cat "$nw/registry.port")"
  start_daemons "$n" "$i"
}

start_daemons() { # NAME INDEX: containerd, then the kubelet
  local n=$1 i=$2 nw=$work/$1
  rm -f "$nw/containerd.pid" "$nw/kubelet.pid"
  PATH=$SHIM_DIR:$CBIN:$PATH NODE_PIDFILE=$nw/containerd.pid in_node "$n" "$work" "$CBIN/containerd" --config "$nw/config.toml" >>"$nw/containerd.log" 2>&1 &
  wait_containerd "$CBIN/ctr" --address "$nw/containerd.sock" || { tail "$nw/containerd.log"; fail "containerd of $n did not start"; }
  # The kubelet's own mount namespace, a peer of the node's (the volumes it mounts reach
  # containerd), where its /proc alone is private and carries the tunables' files: a file
  # mounted on the node's /proc would make every new proc mount in a user namespace "too
  # revealing" to the kernel (EPERM), and hostUsers: false pods could not start.
  local binds="mount --make-rprivate /proc" k
  for k in "$nw"/sysctl/*; do binds+=" && mount --bind $k /proc/sys/$(basename "$k" | tr . /)"; done
  NODE_PIDFILE=$nw/kubelet.pid in_node "$n" "$work" unshare --mount --propagation unchanged -- bash -c "$binds && exec \"\$@\"" - \
    "$KBIN/kubelet" --config "$nw/kubelet.yaml" --kubeconfig "$work/pki/$n.kubeconfig" \
    --root-dir "$nw/kubelet" --cert-dir "$nw/kubelet-pki" --hostname-override "$n" --node-ip "10.240.0.1$i" \
    >>"$nw/kubelet.log" 2>&1 &
  until_ok 10 test -s "$nw/kubelet.pid"
}

# state_root NODE RUNTIME: the runtime's state root for the node's containerd
state_root() { if [ "$2" = vrun-shim ]; then echo "$SHIM_ROOT"; else echo "$work/$1/root-$2/k8s.io"; fi; }
# state_ids NODE RUNTIME: the ids of the node's containers in it
state_ids() {
  local f
  if [ "$2" != vrun-shim ]; then ls -A "$(state_root "$1" "$2")" 2>/dev/null || true; return; fi
  for f in "$SHIM_ROOT"/*/state.json; do
    grep -qF "\"bundle\":\"$work/$1/" "$f" 2>/dev/null && basename "$(dirname "$f")"
  done
  true
}

# node_procs NAME: every process in the node's cgroups
node_procs() { while read -r _ d; do cat "$d/cgroup.procs" 2>/dev/null; done < <(node_cgroups "$1") | sort -u; }
node_shims() { for p in $(node_procs "$1"); do tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q '^[^ ]*containerd-shim' && echo "$p"; done; true; }

stop_node() { # NAME: pods, kubelet, containerd, shims, then the node's namespaces and cgroups
  local n=$1 nw=$work/$1 p
  kill "$(cat "$nw/kubelet.pid" 2>/dev/null)" 2>/dev/null
  crictl_on "$n" rmp -f -a >/dev/null 2>&1
  kill "$(cat "$nw/containerd.pid" 2>/dev/null)" 2>/dev/null
  sleep 0.5
  for r in runc vrun vrun-shim; do
    for id in $(state_ids "$n" "$r"); do
      in_node "$n" "$work" "${RUNTIME[$r]}" --root "$(state_root "$n" "$r")" delete -f "$id"
    done
  done 2>/dev/null
  for p in $(node_procs "$n"); do [ "$p" = "$(cat "$work/$n.pid")" ] || kill -9 "$p" 2>/dev/null; done
  node_stop "$n" "$work"
  rm -f "$work/$n.pid"
}

# --- the checks
declare -A passed failed
check() { # NAME COMMAND...: runs a check of the runtime $rt (errexit on), records and prints its verdict
  local name=$1 out=$work/check.out; shift
  (set -e; "$@") >"$out" 2>&1 &
  if wait $!; then
    passed[$rt]=$((${passed[$rt]:-0} + 1)); echo "ok   [$rt] $name"
  else
    failed[$rt]=$((${failed[$rt]:-0} + 1)); echo "FAIL [$rt] $name"
  fi
  tail -25 "$out" | sed 's/^/     /'
}
# (no reader that leaves early in a pipeline: under pipefail, the writer's SIGPIPE fails it)
pod_of() { K -n "$ns" get pods -l "$1" --field-selector spec.nodeName="$2",status.phase=Running -o jsonpath='{.items[0].metadata.name}'; }
wait_pod() { K -n "$ns" wait --for=condition=Ready "pod/$1" --timeout="${2:-90}s" >/dev/null; }
image=registry.k8s.io/e2e-test-images/busybox:1.36

deployment_spans_nodes() {
  K -n "$ns" apply -f - <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      runtimeClassName: $rt
      topologySpreadConstraints:
      # (Honor: a cordoned or drained node is no domain to spread over)
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Honor, labelSelector: {matchLabels: {app: web}}}
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: $image
        command: [sh, -c, 'mkdir -p /www && hostname >/www/index.html && echo "started on \$(hostname)" && exec httpd -f -p 8080 -h /www']
YAML
  K -n "$ns" rollout status deployment/web --timeout=180s
  K -n "$ns" get pods -o wide >&2
  local nodes
  nodes=$(K -n "$ns" get pods -l app=web --field-selector status.phase=Running -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort -u | grep -c .)
  echo "$rt pods Running on $nodes nodes" >&2
  [ "$nodes" = 2 ]
}

exec_and_logs() {
  local p got logs; p=$(pod_of app=web node1)
  got=$(K -n "$ns" exec "$p" -- sh -c 'echo "exec $(id -u) $(cat /proc/1/comm)"')
  logs=$(K -n "$ns" logs "$p")
  echo "kubectl exec $p: $got; kubectl logs $p: $logs"
  [ "$got" = "exec 0 httpd" ] && [ "$logs" = "started on $p" ]
}

pod_ip_across_nodes() {
  local a b ip got; a=$(pod_of app=web node1); b=$(pod_of app=web node2)
  ip=$(K -n "$ns" get pod "$b" -o jsonpath='{.status.podIP}')
  case $ip in 10.244.2.*) ;; *) echo "pod on node2 has IP $ip" ; return 1 ;; esac
  # (nc: the wget of Debian's static busybox 1.35 crashes, on the host too)
  got=$(K -n "$ns" exec "$a" -- sh -c "printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 10 $ip 8080 | tail -1" 2>&1) || true
  echo "$a on node1 fetched http://$ip:8080/ of $b on node2: $got"
  [ "$got" = "$b" ] || {
    echo "routes of node1: $(ip -n vrun-k8s-node1 route | xargs)"
    echo "routes of the pod: $(K -n "$ns" exec "$a" -- ip route 2>&1 | xargs)"
    return 1
  }
}

# limits_pod NAME: a pod of requests 100m/64Mi and limits 500m/128Mi
limits_pod() {
  K -n "$ns" apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1}
spec:
  runtimeClassName: $rt
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $image
    command: [sleep, "3600"]
    resources:
      requests: {cpu: 100m, memory: 64Mi}
      limits: {cpu: 500m, memory: 128Mi}
YAML
  wait_pod "$1"
}
cgroup_values() { # POD: memory limit, CFS quota and shares as the container reads them
  K -n "$ns" exec "$1" -- sh -c 'echo $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.shares)'
}
limits_are_cgroup_values() {
  limits_pod limits
  local v; v=$(cgroup_values limits)
  echo "inside: $v (want 134217728 50000 102)"
  [ "$v" = "134217728 50000 102" ]
}

in_place_resize() {
  local id v
  id=$(K -n "$ns" get pod limits -o jsonpath='{.status.containerStatuses[0].containerID}')
  K -n "$ns" patch pod limits --subresource resize --patch \
    '{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"200m","memory":"64Mi"},"limits":{"cpu":"800m","memory":"256Mi"}}}]}}'
  for _ in $(seq 60); do v=$(cgroup_values limits); [ "$v" = "268435456 80000 204" ] && break; sleep 1; done
  echo "inside after the resize: $v (want 268435456 80000 204)"
  [ "$v" = "268435456 80000 204" ] &&
    [ "$(K -n "$ns" get pod limits -o jsonpath='{.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}')" = "$id 0" ]
}

liveness_restarts() {
  K -n "$ns" apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: liveness}
spec:
  runtimeClassName: $rt
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: $image
    command: [sh, -c, 'touch /tmp/healthy; sleep 4; rm /tmp/healthy; sleep 3600']
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}
YAML
  local n=0
  for _ in $(seq 90); do
    n=$(K -n "$ns" get pod liveness -o jsonpath='{.status.containerStatuses[0].restartCount}')
    [ "${n:-0}" -ge 1 ] && break; sleep 1
  done
  K -n "$ns" get events --field-selector involvedObject.name=liveness -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}' | awk '/Unhealthy/ && !n++' 
  [ "${n:-0}" -ge 1 ]
}

init_container_first() {
  K -n "$ns" apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: init}
spec:
  runtimeClassName: $rt
  terminationGracePeriodSeconds: 1
  volumes: [{name: w, emptyDir: {}}]
  initContainers:
  - {name: first, image: $image, command: [sh, -c, 'echo init >/w/order'], volumeMounts: [{name: w, mountPath: /w}]}
  containers:
  - {name: main, image: $image, command: [sh, -c, 'echo main >>/w/order; cat /w/order; sleep 3600'], volumeMounts: [{name: w, mountPath: /w}]}
YAML
  wait_pod init
  [ "$(K -n "$ns" get pod init -o jsonpath='{.status.initContainerStatuses[0].state.terminated.reason}')" = Completed ] &&
    [ "$(K -n "$ns" logs init -c main | tr '\n' ' ')" = "init main " ]
}

user_namespace() {
  K -n "$ns" apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: userns}
spec:
  runtimeClassName: $rt
  hostUsers: false
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: $image, command: [sh, -c, 'cat /proc/self/uid_map; id -u; sleep 3600']}
YAML
  wait_pod userns || {
    K -n "$ns" get events --field-selector involvedObject.name=userns -o jsonpath='{range .items[*]}{.reason}: {.message}{"\n"}{end}' | tail -3
    return 1
  }
  local map inside node cid pid host_uid
  map=$(K -n "$ns" exec userns -- cat /proc/self/uid_map | awk '{print $1, $2, $3}')
  inside=$(K -n "$ns" exec userns -- id -u)
  node=$(K -n "$ns" get pod userns -o jsonpath='{.spec.nodeName}')
  cid=$(K -n "$ns" get pod userns -o jsonpath='{.status.containerStatuses[0].containerID}')
  pid=$(crictl_on "$node" inspect -o go-template --template '{{.info.pid}}' "${cid#containerd://}")
  host_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  echo "uid_map: $map; id -u inside: $inside; the process's uid on $node: $host_uid"
  set -- $map
  [ "$1" = 0 ] && [ "$2" -ge 65536 ] && [ "$3" = 65536 ] && [ "$inside" = 0 ] && [ "$host_uid" = "$2" ]
}

job_completes() {
  K -n "$ns" apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: job}
spec:
  backoffLimit: 0
  template:
    spec:
      runtimeClassName: $rt
      restartPolicy: Never
      containers: [{name: c, image: $image, command: [sh, -c, 'echo job done']}]
YAML
  K -n "$ns" wait --for=condition=complete job/job --timeout=120s &&
    [ "$(K -n "$ns" logs job/job)" = "job done" ]
}

refused_config_event() { # a sysctl the kernel has not: the runtime refuses the pod's sandbox
  K -n "$ns" apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: refused}
spec:
  runtimeClassName: $rt
  securityContext: {sysctls: [{name: net.ipv4.vrun_refused, value: "1"}]}
  containers: [{name: c, image: $image, command: [sleep, "3600"]}]
YAML
  local want text
  case $rt in
  vrun | vrun-shim) want="set sysctl net.ipv4.vrun_refused=1 (linux.sysctl)" ;;
  runc) want="open sysctl net.ipv4.vrun_refused file" ;;
  esac
  for _ in $(seq 60); do
    text=$(K -n "$ns" describe pod refused)
    grep -qF "$want" <<<"$text" && break; sleep 1
  done
  grep -F -m1 "$want" <<<"$text"
  grep -qF "$want" <<<"$text" && K -n "$ns" delete pod refused --wait=true --timeout=60s >/dev/null
}

# each pod's container and restart count on node1, but the liveness pod's, which its failing
# probe restarts on its own
containers_on_node1() {
  K -n "$ns" get pods --field-selector spec.nodeName=node1 -o jsonpath='{range .items[*]}{.metadata.name}={.status.containerStatuses[0].containerID}/{.status.containerStatuses[0].restartCount}{"\n"}{end}' |
    grep -v '^liveness=' | xargs
}

restarts_keep_containers() { # kubelet and containerd of node1 killed with SIGKILL, then started again
  local nw=$work/node1 before after listed
  before=$(containers_on_node1)
  kill -9 "$(cat "$nw/kubelet.pid")" "$(cat "$nw/containerd.pid")"
  local p
  for p in $(cat "$nw/kubelet.pid" "$nw/containerd.pid"); do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    ! kill -0 "$p" 2>/dev/null || { echo "pid $p survived SIGKILL"; return 1; }
  done
  echo "killed kubelet and containerd of node1 (SIGKILL)"
  start_daemons node1 1
  until_ok 120 K wait --for=condition=Ready node/node1 --timeout=5s
  sleep 5
  after=$(containers_on_node1)
  echo "pods on node1 before: $before"
  echo "pods on node1 after:  $after"
  # the CRI's running containers and ready pod sandboxes are the runtime's running containers
  # (each pod of the namespace runs on this runtime, and no other pod runs on node1)
  cri=$( (crictl_on node1 ps -q --state running; crictl_on node1 pods -q --state ready) | sort)
  listed=$(state_ids node1 "$rt" | while read -r id; do
    in_node node1 "$work" "${RUNTIME[$rt]}" --root "$(state_root node1 "$rt")" state "$id" | grep '"status": "running"' >/dev/null && echo "$id"
  done | sort)
  echo "crictl ps and pods (running, ready): $(echo $cri)"
  echo "$rt list (running):                  $(echo $listed)"
  [ -n "$before" ] && [ "$before" = "$after" ] && [ -n "$cri" ] && [ "$cri" = "$listed" ]
}

drain_moves_pods() {
  K -n "$ns" delete pod limits liveness init userns --wait=true --timeout=60s >/dev/null
  K drain node2 --ignore-daemonsets --delete-emptydir-data --force --grace-period=1 --timeout=120s >&2
  K -n "$ns" rollout status deployment/web --timeout=120s >&2
  local where
  where=$(K -n "$ns" get pods -l app=web --field-selector status.phase=Running -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | sort | uniq -c | xargs)
  echo "web pods after draining node2: $where"
  K uncordon node2 >&2
  [ "$where" = "4 node1" ]
}

nothing_left() { # after the namespace is deleted, on both nodes
  K delete namespace "$ns" --wait=true --timeout=120s >/dev/null
  local n left=""
  for n in "${NODES[@]}"; do
    local nw=$work/$n
    for _ in $(seq 60); do
      left=$(crictl_on "$n" pods -q; crictl_on "$n" ps -aq; node_shims "$n"; state_ids "$n" "$rt"
        node_cgroups_left "$n" | grep -E '/pod[0-9a-f-]+(/|$)'
        in_node "$n" "$work" cat /proc/self/mountinfo | awk '{print $5}' | grep -E "^$nw/(root|state)/|/kubelet/pods/" || true
        ls -A "$nw/state/io.containerd.grpc.v1.cri/netns" 2>/dev/null || true)
      [ -z "$left" ] && break; sleep 1
    done
    [ -z "$left" ] || { echo "$n left: $left"; return 1; }
  done
  echo "no pod, container, shim, pod cgroup, mount, network namespace or $rt state left on ${NODES[*]}"
}

# --- the pod start latency: creation to Ready, the runtimes interleaved, one pod at a time
latency() {
  local i rt t0 t1
  K create namespace latency >/dev/null
  for i in $(seq 20); do
    for rt in "${runtimes[@]}"; do
      t0=$(date +%s.%N)
      K -n latency run "l-$rt-$i" --image "$image" --restart Never \
        --overrides "{\"spec\":{\"runtimeClassName\":\"$rt\",\"terminationGracePeriodSeconds\":0}}" -- sleep 3600 >/dev/null
      K -n latency wait --for=condition=Ready "pod/l-$rt-$i" --timeout=60s >/dev/null
      t1=$(date +%s.%N)
      awk -v rt="$rt" -v a="$t0" -v b="$t1" 'BEGIN {print rt, b - a}' >>"$work/latency"
      K -n latency delete pod "l-$rt-$i" --wait=false >/dev/null
    done
  done
  K delete namespace latency --wait=true --timeout=120s >/dev/null
  python3 - "$work/latency" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    rt, s = line.split()
    t.setdefault(rt, []).append(float(s))
m = {rt: statistics.median(v) for rt, v in t.items()}
print("pod start latency, creation to Ready as kubectl sees it (median of %d): %s" % (
    len(next(iter(t.values()))), ", ".join("%s %.2fs" % (rt, v) for rt, v in m.items())),
    " ".join("(%s/runc %.2fx)" % (rt, m[rt] / m["runc"]) for rt in m if rt != "runc" and "runc" in m))
PY
}

# --- the run
log "a CA, certificates and service-account keys"
pki
log "network namespaces: $CP (a bridge, 10.240.0.1), vrun-k8s-node1 (10.240.0.11), vrun-k8s-node2 (10.240.0.12)"
network
log "images"
k8s_busybox_rootfs "$work/busybox"
python3 "$k8s_dir/registry.py" build "$work/registry" "$work/busybox" /usr/bin/catatonit
log "etcd $ETCD_VERSION and the control plane, Kubernetes $K8S_VERSION"
control_plane
for d in /var/lib/cni /var/log/containers; do # (mount points of the nodes' own)
  [ -d "$d" ] || { mkdir -p "$d"; made_dirs+=("$d"); }
done
log "two nodes: kubelet and containerd $CONTAINERD_VERSION each (handlers runc $RUNC_VERSION, vrun and vrun-shim)"
for i in 1 2; do node_config "node$i" "$i"; start_node "node$i" "$i"; done
until_ok 120 K wait --for=condition=Ready node/node1 node/node2 --timeout=5s ||
  { tail -20 "$work"/node*/kubelet.log; fail "the nodes did not become Ready"; }
K get nodes -o wide
for rt in runc vrun vrun-shim; do
  K apply -f - <<YAML
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: $rt}
handler: $rt
YAML
done
until_ok 60 K -n default get serviceaccount default

for rt in "${runtimes[@]}"; do
  log "checks with RuntimeClass $rt"
  ns=checks-$rt
  K create namespace "$ns" >/dev/null
  until_ok 60 K -n "$ns" get serviceaccount default
  check "a Deployment of 4 spans both nodes" deployment_spans_nodes
  check "kubectl exec and kubectl logs" exec_and_logs
  check "a pod on node1 reaches a pod on node2 by its pod IP" pod_ip_across_nodes
  check "requests and limits are the container's cgroup values" limits_are_cgroup_values
  check "an in-place resize of CPU and memory is seen inside, no restart" in_place_resize
  check "a failing liveness probe restarts the container" liveness_restarts
  check "an init container runs before the main one" init_container_first
  check "hostUsers: false maps root inside to an unprivileged id outside" user_namespace
  check "a Job runs to completion" job_completes
  check "a config the runtime refuses is an event with its error text" refused_config_event
  check "kubelet and containerd SIGKILLed and started again find the containers as they were" restarts_keep_containers
  check "kubectl drain node2 moves its pods to node1" drain_moves_pods
  check "deleting everything leaves nothing on either node" nothing_left
done
log "pod start latency"
latency
status=0
for rt in "${runtimes[@]}"; do
  echo "cluster.sh: $rt: ${passed[$rt]:-0} passed, ${failed[$rt]:-0} failed"
  [ "$rt" != runc ] && [ "${failed[$rt]:-0}" != 0 ] && status=1
done
[ "$status" = 0 ] || fail "vrun failed cluster checks"
echo "cluster.sh: vrun (under runc's shim and its own) passes every cluster check"
