# Shared by the integration scripts: installing Debian packages, building vrun, and a busybox
# rootfs. Source it; it sets `top` (the repository) and `VRUN` (the release binary).
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '\n== %s\n' "$*" >&2; }

# apt-get install the named packages if their commands (or files) are missing: need CMD PKG [CMD PKG...]
need() {
  local pkgs=()
  while (($#)); do
    command -v "$1" >/dev/null 2>&1 || [ -e "$1" ] || pkgs+=("$2")
    shift 2
  done
  if ((${#pkgs[@]})); then
    log "installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${pkgs[@]}" >/dev/null
  fi
}

# Where cargo puts release builds: .cargo/config.toml names the target (the host's), which
# puts them in target/<host>/release.
release_dir() { echo "$top/target/$(rustc -vV | sed -n 's/^host: //p')/release"; }

# Builds the release binary once; VRUN may point at another build.
build_vrun() {
  if [ -z "${VRUN:-}" ]; then
    (cd "$top" && cargo build --release -q -p vrun)
    VRUN=$(release_dir)/vrun
  fi
  export VRUN
}

# Builds containerd-shim-vrun-v2 once, and a directory SHIM_DIR (in DIR) holding it alone, for
# containerd's PATH (containerd finds a shim of type io.containerd.vrun.v2 by that name).
build_shim() { # DIR
  (cd "$top" && cargo build --release -q -p containerd-shim-vrun-v2)
  SHIM_DIR=$1/shim-bin
  mkdir -p "$SHIM_DIR"
  ln -sf "$(release_dir)/containerd-shim-vrun-v2" "$SHIM_DIR/"
}

# absent_dirs DIR...: those of the directories that do not exist now, for remove_made_dirs at
# the end: what a run's daemons make under a directory that was already there (/run/containerd
# left by someone else) is still the run's to remove, and only that
absent_dirs() { local d; for d in "$@"; do [ -e "$d" ] || echo "$d"; done; }
# remove_made_dirs DIR...: removes each, deepest first as given, if it is empty now
remove_made_dirs() { local d; for d in "$@"; do rmdir "$d" 2>/dev/null; done; true; }

# remove_made_run_netns: /run/netns, which this run made (`ip netns add` makes it and mounts it on
# itself, shared): unmounted and removed, once no namespace is left in it
remove_made_run_netns() {
  [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ] || return 0
  if mountpoint -q /run/netns; then umount /run/netns; fi
  rmdir /run/netns 2>/dev/null
  true
}

# vrun_delete_under ROOT DIR: deletes (forced) the containers of vrun's state root ROOT whose
# bundle is under DIR: what a failed run of a shim of vrun's left, and no one else's.
vrun_delete_under() {
  local id
  for id in $(ls "$1" 2>/dev/null); do
    grep -qF "\"bundle\":\"$2/" "$1/$id/state.json" 2>/dev/null && "$VRUN" --root "$1" delete -f "$id"
  done
  true
}

# busybox_rootfs DIR: a rootfs of busybox-static and its applets, with /etc/passwd and group.
busybox_rootfs() {
  local dir=$1 bb
  need /bin/busybox busybox-static
  bb=/bin/busybox
  mkdir -p "$dir"/{bin,dev,etc,proc,sys,tmp,root}
  cp "$bb" "$dir/bin/busybox"
  for a in $("$bb" --list); do [ -e "$dir/bin/$a" ] || ln -s busybox "$dir/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
  echo 'root:x:0:' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
}

# bundle DIR ARGS...: DIR/config.json from `vrun spec`, without a terminal, running ARGS.
make_bundle() {
  local dir=$1; shift
  busybox_rootfs "$dir/rootfs"
  rm -f "$dir/config.json"
  "$VRUN" spec --bundle "$dir"
  python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
json.dump(c, open(path, "w"), indent=2)
PY
}

# The caller's own cgroup directory in every mounted hierarchy (v1 controllers, and the v2
# tree wherever it is mounted): where containers of a relative cgroup parent nest.
own_cgroup_dirs() {
  local line hier path
  while IFS= read -r line; do
    hier=${line#*:}; hier=${hier%%:*}; path=${line##*:}; hier=${hier#name=}
    if [ -z "$hier" ]; then
      [ -f /sys/fs/cgroup/unified/cgroup.controllers ] && echo "/sys/fs/cgroup/unified$path"
      [ -f /sys/fs/cgroup/cgroup.controllers ] && echo "/sys/fs/cgroup$path"
    else
      [ -d "/sys/fs/cgroup/$hier" ] && echo "/sys/fs/cgroup/$hier$path"
    fi
  done </proc/self/cgroup
  true
}

# cgroups_under NAME DEPTH: the cgroup directories of NAME/ under the caller's own cgroups,
# NAME itself too with DEPTH 0, only those inside it with DEPTH 1.
cgroups_under() {
  local d
  for d in $(own_cgroup_dirs); do
    [ -d "${d%/}/$1" ] && find "${d%/}/$1" -mindepth "$2" -type d
  done
  true
}

# remove_cgroups_under NAME: removes NAME/ and the empty cgroups in it, deepest first.
remove_cgroups_under() {
  local d
  for d in $(own_cgroup_dirs); do
    [ -d "${d%/}/$1" ] && find "${d%/}/$1" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  true
}

# shims_of TEXT: the pids of containerd shims whose command line holds TEXT (a daemon's socket).
shims_of() {
  ps -eo pid=,args= | awk -v s="$1" '$2 ~ /containerd-shim/ && index($0, s) {print $1}'
}

# tty_run COMMAND-LINE: runs it on a new pseudo-terminal (CI has none), output without \r.
tty_run() { script -qec "$*" /dev/null </dev/null | tr -d '\r'; }
