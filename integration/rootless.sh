#!/usr/bin/env bash
# Rootless podman with vrun: an ordinary user (made here, with subordinate uid and gid ranges,
# removed at the end) runs containers with `podman --runtime vrun`: its own id is root
# inside, its subordinate ranges map the rest (newuidmap/newgidmap), the state goes to its
# $XDG_RUNTIME_DIR, and, on this host where a user may make no cgroup, vrun runs the
# containers without one. run --rm with an exit status, run -d + exec + stop + rm.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need podman podman newuidmap uidmap /usr/bin/catatonit catatonit setpriv util-linux
build_vrun

user=vrunrl$$
work=$(mktemp -d /tmp/vrun-rootless.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/home" "$work/xdg"
# far from the ranges distributions hand out
first=$((2000000 + ($$ % 1000) * 65536))
range="$first-$((first + 65535))"
made_user=
as_user() {
  setpriv --reuid "$user" --regid "$user" --init-groups --reset-env \
    env XDG_RUNTIME_DIR="$work/xdg" HOME="$work/home" "$@"
}
P=(podman --storage-driver vfs --cgroup-manager cgroupfs --events-backend file --runtime "$work/vrun")
cleanup() {
  set +e
  if [ -n "$made_user" ]; then
    as_user "${P[@]}" rm -af -t 0 >/dev/null 2>&1
    # podman's user namespace holder, and anything else the user still runs (all started here)
    for pid in $(pgrep -u "$user" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    userdel "$user" 2>/dev/null
    sed -i "/^$user:/d" /etc/subuid /etc/subgid
  fi
  grep -F "$work" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$work"
  true
}
trap cleanup EXIT
fail() { echo "rootless.sh: FAIL: $*" >&2; exit 1; }

log "an ordinary user, $user, with subordinate ids $range"
useradd --no-create-home --home-dir "$work/home" --shell /bin/sh "$user"
made_user=yes
usermod --add-subuids "$range" --add-subgids "$range" "$user"
chown "$user:$user" "$work/home" "$work/xdg"
chmod 700 "$work/xdg"
cp "$VRUN" "$work/vrun"
chmod 755 "$work/vrun"
uid=$(id -u "$user")

log "import a local busybox image into the user's storage"
busybox_rootfs "$work/rootfs"
tar -C "$work/rootfs" -c . | as_user "${P[@]}" import - localhost/vrun-busybox >/dev/null

log "podman run --rm as $user: root inside is the user, the rest its subordinate ids"
set +e
out=$(as_user "${P[@]}" run --rm --network none localhost/vrun-busybox sh -c 'id -u; cat /proc/self/uid_map; exit 3')
rc=$?
set -e
echo "$out"
[ "$rc" = 3 ] || fail "run exited $rc, not 3"
[ "$(echo "$out" | head -1)" = 0 ] || fail "not root inside: $out"
echo "$out" | grep -Eq "^ +0 +$uid +1$" || fail "the user's uid $uid is not root's: $out"
echo "$out" | grep -Eq " $first +65536$" || fail "the range $range is not mapped: $out"

log "podman run -d, exec, stop, rm as $user"
as_user "${P[@]}" run -d --name rl-d --network none localhost/vrun-busybox sleep 300 >/dev/null
out=$(as_user "${P[@]}" exec rl-d sh -c 'echo exec-ok; id -u')
[ "$out" = "exec-ok
0" ] || fail "exec printed '$out'"
state_dirs=$(ls "$work/xdg/vrun" | grep -v '^@' | wc -l)
[ "$state_dirs" = 1 ] || fail "vrun's state is not in the user's \$XDG_RUNTIME_DIR/vrun"
as_user "${P[@]}" stop -t 1 rl-d >/dev/null
as_user "${P[@]}" rm rl-d >/dev/null
left=$(ls "$work/xdg/vrun" | grep -v '^@' || true)
[ -z "$left" ] || fail "left in the user's runtime dir: $left"
echo "rootless.sh: podman as $user ran, exec'd into, stopped and removed a vrun container"
