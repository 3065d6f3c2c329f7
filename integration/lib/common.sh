# Shared by the integration scripts: installing Debian packages, building vrun, and a busybox
# rootfs. Source it; it sets `top` (the repository) and `VRUN` (the release binary).
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

log() { printf '\n== %s\n' "$*" >&2; }

# apt-get install the named packages if their commands are missing: need CMD PKG [CMD PKG...]
need() {
  local pkgs=()
  while (($#)); do
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || pkgs+=("$2")
    shift 2
  done
  if ((${#pkgs[@]})); then
    log "installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${pkgs[@]}" >/dev/null
  fi
}

# Builds the release binary once; VRUN may point at another build.
build_vrun() {
  if [ -z "${VRUN:-}" ]; then
    (cd "$top" && cargo build --release -q -p vrun)
    VRUN=$top/target/release/vrun
  fi
  export VRUN
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
