#!/usr/bin/env bash
# Builds the Debian package of vrun: the release binary, containerd's shim for it
# (containerd-shim-vrun-v2, runtime_type io.containerd.vrun.v2), a man page per command and the
# bash, zsh and fish completions, all generated from the clap definitions by the binary
# itself (`vrun man`, `vrun completion`). Plain dpkg-deb: nothing to install first.
#   build-deb.sh [OUTDIR]   (default: target/debian) -> prints the .deb's path
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
cd "$top"
out=${1:-$top/target/debian}
build_vrun
cargo build --release -q -p containerd-shim-vrun-v2
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$VRUN" "$stage/usr/bin/vrun"
# (containerd finds a shim of runtime_type io.containerd.vrun.v2 by this name on its PATH)
install -D -m 0755 "$(release_dir)/containerd-shim-vrun-v2" "$stage/usr/bin/containerd-shim-vrun-v2"
man=$stage/usr/share/man/man8
mkdir -p "$man"
"$VRUN" man | gzip -9n >"$man/vrun.8.gz"
# every command of `vrun --help`, each its own page (vrun-create(8), as runc names them)
for cmd in $("$VRUN" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
  [ "$cmd" = help ] && continue
  "$VRUN" man "$cmd" | gzip -9n >"$man/vrun-$cmd.8.gz"
done
install -d "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
  "$stage/usr/share/fish/vendor_completions.d" "$stage/usr/share/doc/vrun"
"$VRUN" completion bash >"$stage/usr/share/bash-completion/completions/vrun"
"$VRUN" completion zsh >"$stage/usr/share/zsh/vendor-completions/_vrun"
"$VRUN" completion fish >"$stage/usr/share/fish/vendor_completions.d/vrun.fish"
cat >"$stage/usr/share/doc/vrun/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: vrun
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPY
gzip -9n <README.md >"$stage/usr/share/doc/vrun/README.md.gz"

mkdir -p "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: vrun
Version: $version
Architecture: $arch
Maintainer: vrun developers <vrun@localhost>
Installed-Size: $size
Built-Using: glibc (= $(dpkg-query -W -f '${Version}' libc6-dev))
Recommends: uidmap
Suggests: criu
Section: admin
Priority: optional
Homepage: https://example.invalid/vrun
Description: OCI container runtime (a drop-in for runc)
 vrun runs containers from OCI bundles, flag for flag as runc does, for
 containerd (Kubernetes, Docker), podman and people: namespaces, cgroups v1
 and v2 (and systemd's), seccomp, capabilities, rootless containers, and a
 virtual disk (an overlay rootfs of a given size). With containerd's shim of
 its own, containerd-shim-vrun-v2 (runtime_type io.containerd.vrun.v2), which
 runs containers in its process rather than exec'ing a runtime per call.
CONTROL

mkdir -p "$out"
deb=$out/vrun_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
