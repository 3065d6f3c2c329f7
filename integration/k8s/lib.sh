# Shared by critest.sh and cluster.sh: the locally built images and their registry, and
# containerd 2's configuration with the runtime handlers. Source it after lib/common.sh.
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

# k8s_busybox_rootfs DIR: the rootfs of the images, as the upstream busybox images the tests
# name are: applets as hard links (a masked /bin/ls must not mask the shell), their users, and
# the few commands critest runs that Debian's static busybox lacks (ipcs, util-linux's, with
# its libraries; pgrep, a script), and the programs of the nginx and nonewprivs images. ipcs's
# libraries stay in a directory of its own: a glibc in /lib would be dlopen'ed by the static
# busybox (NSS, for id or wget) and crash it.
k8s_busybox_rootfs() {
  local d=$1 a f
  mkdir -p "$d"/{bin,dev,etc,proc,sys,tmp,root,var/run,usr/bin,usr/sbin,usr/local/bin,usr/lib/ipcs,home}
  cp /bin/busybox "$d/bin/busybox"
  for a in $(/bin/busybox --list); do [ -e "$d/bin/$a" ] || ln "$d/bin/busybox" "$d/bin/$a"; done
  chmod 1777 "$d/tmp"
  cp /usr/bin/ipcs "$d/usr/lib/ipcs/"
  for f in $(ldd /usr/bin/ipcs | grep -o '/[^ ]*'); do cp -L "$f" "$d/usr/lib/ipcs/"; done
  printf '#!/bin/sh\nexec /usr/lib/ipcs/%s --library-path /usr/lib/ipcs /usr/lib/ipcs/ipcs "$@"\n' \
    "$(basename "$(ldd /usr/bin/ipcs | grep -o '/[^ ]*ld-linux[^ ]*')")" >"$d/usr/bin/ipcs"
  chmod 755 "$d/usr/bin/ipcs"
  cp "$k8s_dir/pgrep" "$d/usr/bin/pgrep"
  cp "$k8s_dir/nginx" "$d/usr/sbin/nginx"
  gcc -static -O2 -o "$d/usr/local/bin/nnp" "$k8s_dir/nnp.c"
}

# k8s_registry WORK [NETNS]: builds the images into WORK/registry and serves them on 127.0.0.1
# of the network namespace NETNS (the caller's without one); sets REGISTRY_PID and REGISTRY_PORT
k8s_registry() {
  local work=$1 in=()
  [ -z "${2:-}" ] || in=(nsenter --net="/run/netns/$2" --)
  k8s_busybox_rootfs "$work/busybox"
  python3 "$k8s_dir/registry.py" build "$work/registry" "$work/busybox" /usr/bin/catatonit
  rm -f "$work/registry.port"
  "${in[@]}" python3 "$k8s_dir/registry.py" serve "$work/registry" "$work/registry.port" &
  REGISTRY_PID=$!
  for _ in $(seq 100); do [ -s "$work/registry.port" ] && break; sleep 0.1; done
  REGISTRY_PORT=$(cat "$work/registry.port")
  "${in[@]}" curl -fsS "http://127.0.0.1:$REGISTRY_PORT/v2/" >/dev/null
}

# mirror_hosts DIR PORT: containerd's hosts.toml files (config_path DIR) sending the pulls of
# every upstream the images name to the registry on 127.0.0.1:PORT
mirror_hosts() {
  local h
  for h in registry.k8s.io k8s.gcr.io gcr.io docker.io; do
    mkdir -p "$1/$h"
    cat >"$1/$h/hosts.toml" <<TOML
server = "https://$h"
[host."http://127.0.0.1:$2"]
  capabilities = ["pull", "resolve"]
TOML
  done
}

# containerd_daemon_toml VERSION WORK SOCK: what both configuration versions say alike: the
# daemon's own root, state and sockets
containerd_daemon_toml() {
  cat <<TOML
version = $1
root = "$2/root"
state = "$2/state"
[grpc]
  address = "$3"
[ttrpc]
  address = "$3.ttrpc"
[debug]
  address = "$3.debug"
TOML
}

# containerd2_config WORK SOCK CNI_BIN CNI_CONF NAME=BINARY...: containerd 2's
# configuration (version 3): its own root, state and socket, the CRI with the registry mirror, and
# one runc-shim handler per NAME whose runtime is BINARY, each with its own state root (or,
# for NAME=shim:TYPE, a handler of runtime_type TYPE: vrun's own shim, io.containerd.vrun.v2)
containerd2_config() {
  local work=$1 sock=$2 cni_bin=$3 cni_conf=$4 h name
  shift 4
  containerd_daemon_toml 3 "$work" "$sock"
  cat <<TOML
[plugins.'io.containerd.internal.v1.opt']
  path = "$work/opt"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "registry.k8s.io/pause:3.10.1"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "$work/certs.d"
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$cni_bin"]
    conf_dir = "$cni_conf"
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
TOML
  for h in "$@"; do
    name=${h%%=*}
    handler_toml "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.$name" "${h#*=}" "$work/root-$name"
  done
  cat <<TOML
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
}

# containerd16_config WORK SOCK CNI_BIN CNI_CONF NAME=BINARY...: the same for containerd 1.6
# (configuration version 2)
containerd16_config() {
  local work=$1 sock=$2 cni_bin=$3 cni_conf=$4 h name p='plugins."io.containerd.grpc.v1.cri"'
  shift 4
  containerd_daemon_toml 2 "$work" "$sock"
  cat <<TOML
[plugins."io.containerd.internal.v1.opt"]
  path = "$work/opt"
[$p]
  sandbox_image = "registry.k8s.io/pause:3.10.1"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [$p.registry]
    config_path = "$work/certs.d"
  [$p.cni]
    bin_dir = "$cni_bin"
    conf_dir = "$cni_conf"
  [$p.containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
TOML
  for h in "$@"; do
    name=${h%%=*}
    handler_toml "$p.containerd.runtimes.$name" "${h#*=}" "$work/root-$name"
  done
}

# handler_toml TABLE BINARY|shim:TYPE|runtime_path:SHIM ROOT: one runtime handler, through runc's
# shim (BinaryName and Root its options), a shim of its own type (its state under
# /run/containerd/vrun), or a shim at a path as one of runc's type (Root its options)
handler_toml() {
  case "$2" in
  runtime_path:*)
    cat <<TOML
    [$1]
      runtime_type = "io.containerd.runc.v2"
      runtime_path = "${2#runtime_path:}"
      [$1.options]
        Root = "$3"
TOML
    ;;
  shim:*)
    cat <<TOML
    [$1]
      runtime_type = "${2#shim:}"
TOML
    ;;
  *)
    cat <<TOML
    [$1]
      runtime_type = "io.containerd.runc.v2"
      [$1.options]
        BinaryName = "$2"
        Root = "$3"
TOML
    ;;
  esac
}

# wait_containerd CTR...: waits for a containerd to answer (the ctr command line as an array)
wait_containerd() {
  for _ in $(seq 150); do "$@" version >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# --- nodes: a containerd (and a kubelet) whose cgroups nest under the caller's own ---------
#
# The CRI puts containers of a pod without a cgroup parent at /k8s.io/ID, and a kubelet's
# cgroupfs driver its pods at /kubepods/...: absolute paths, the same in every hierarchy. Here
# the caller's own cgroup is not the root of every hierarchy (memory is not), and nothing may be
# made outside it. So a node runs in a cgroup namespace rooted at a cgroup of its own,
# OWN/vrun-k8s-NAME in each v1 hierarchy, with a mount namespace (a slave of the host's: host
# mounts reach it, its own stay in it; and shared within, as a node's / is, for the pods' mount
# propagation) where /sys/fs/cgroup shows that root, as a kind node or a node container does. The hybrid host's cgroup2 hierarchy (hugetlb only) is left out: the node
# sees cgroup v1 alone. Its network namespace is the caller's, or one given.

# node_cgroups NAME: the node's cgroup directory in every v1 hierarchy, as "MOUNT-NAME DIR"
node_cgroups() {
  local line hier path
  while IFS= read -r line; do
    hier=${line#*:}; hier=${hier%%:*}; path=${line##*:}
    [ -n "$hier" ] || continue
    echo "${hier#name=} /sys/fs/cgroup/${hier#name=}${path%/}/vrun-k8s-$1"
  done </proc/self/cgroup
}

# node_start NAME WORK [NETNS]: starts the node's namespace holder; its pid goes to WORK/NAME.pid
node_start() {
  local name=$1 work=$2 netns=${3:-} mnt dir parent opt mounts=""
  rm -f "$work/$name.ready"
  while read -r mnt dir; do
    mkdir -p "$dir"
    if [ "$mnt" = cpuset ]; then # (a v1 cpuset takes no task before it has cpus and mems)
      parent=$(dirname "$dir")
      cat "$parent/cpuset.cpus" >"$dir/cpuset.cpus"
      cat "$parent/cpuset.mems" >"$dir/cpuset.mems"
    fi
    case $mnt in systemd) opt=none,name=systemd ;; *) opt=$mnt ;; esac
    mounts+="mkdir -p /sys/fs/cgroup/$mnt && mount -t cgroup -o $opt cgroup /sys/fs/cgroup/$mnt && "
  done < <(node_cgroups "$name")
  # the holder: moved into the node's cgroups, it makes the cgroup and mount namespaces, mounts
  # the hierarchies afresh (their root is now the node's cgroup), and waits
  (node_join "$name" unshare --cgroup --mount --propagation slave -- bash -c \
    "mount --make-rshared / && umount -R /sys/fs/cgroup && mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup && $mounts touch $work/$name.ready && exec sleep infinity" \
    ${netns:+--netns "$netns"}) &
  echo $! >"$work/$name.pid" # (each step execs the next: this is the holder's pid)
  for _ in $(seq 50); do [ -e "$work/$name.ready" ] && return 0; sleep 0.1; done
  echo "lib.sh: node $name did not start" >&2
  return 1
}

# node_join NAME COMMAND...: execs COMMAND in the node's cgroups (the caller's cgroup namespace);
# with "--netns NETNS" last, in that network namespace. It replaces the shell: call it in ( ).
node_join() {
  local name=$1; shift
  local netns=""
  if [ "$#" -ge 2 ] && [ "${*: -2:1}" = --netns ]; then
    netns=${*: -1}; set -- "${@:1:$#-2}"
  fi
  # (with NODE_PIDFILE set, the pid of COMMAND goes there: each step execs the next, and
  # nsenter without a pid namespace does not fork)
  exec bash -c 'for d in $(cut -d" " -f2 <<<"$1"); do echo $BASHPID >"$d/cgroup.procs"; done
    [ -z "${NODE_PIDFILE:-}" ] || echo $BASHPID >"$NODE_PIDFILE"
    shift; exec "$@"' - "$(node_cgroups "$name")" ${netns:+nsenter --net="/run/netns/$netns" --} "$@"
}

# in_node NAME WORK COMMAND...: runs COMMAND inside a started node: its cgroups, and its cgroup,
# mount and network namespaces. Run in the background, $! is a subshell's: set NODE_PIDFILE for
# COMMAND's own pid.
in_node() {
  local name=$1 pid; pid=$(cat "$2/$name.pid"); shift 2
  (node_join "$name" nsenter -t "$pid" -C -m -n -- "$@")
}

# node_stop NAME WORK: ends the holder; the caller has ended the node's daemons and containers.
# The node's mounts go with its mount namespace; its cgroups are removed, deepest first.
node_stop() {
  local name=$1 work=$2 pid mnt dir
  pid=$(cat "$work/$name.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  for _ in $(seq 50); do # (a killed process leaves its cgroup a moment later)
    while read -r mnt dir; do
      [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null
    done < <(node_cgroups "$name")
    [ -z "$(node_cgroups "$name" | while read -r mnt dir; do [ -d "$dir" ] && echo "$dir"; done)" ] && return 0
    sleep 0.1
  done
  echo "lib.sh: node $name left cgroups: $(node_cgroups "$name" | cut -d' ' -f2)" >&2
  return 1
}

# node_cgroups_left NAME: the cgroups left inside the node's (none once its containers are gone)
node_cgroups_left() {
  local mnt dir
  while read -r mnt dir; do
    [ -d "$dir" ] && find "$dir" -mindepth 1 -type d
  done < <(node_cgroups "$1")
  true
}
