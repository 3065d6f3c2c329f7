#!/usr/bin/env bash
# Packaging, checked as a user would: `cargo install --path cli` gives a working vrun; the
# Debian package installs the binary, containerd's shim for it, man pages and completions, runs
# a container from /usr/bin/vrun, asks the shim what containerd 2 asks, and removes cleanly. Refuses to touch a vrun it did not install.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
cd "$top"
need dpkg-deb dpkg bash-completion bash-completion
work=$(mktemp -d)
installed=
cleanup() {
  [ -n "$installed" ] && dpkg -r vrun >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

log "cargo install --path cli"
CARGO_TARGET_DIR=$top/target cargo install -q --path cli --root "$work/cargo" --locked
"$work/cargo/bin/vrun" --version | grep -q '^vrun ' || fail "cargo-installed vrun --version"

log "the Debian package"
if [ -e /usr/bin/vrun ] || [ -e /usr/bin/containerd-shim-vrun-v2 ] || dpkg -s vrun >/dev/null 2>&1; then
  fail "/usr/bin/vrun, its shim or a vrun package is already here: not replacing what this test did not install"
fi
deb=$(bash integration/package/build-deb.sh "$work/deb")
dpkg -i "$deb" >/dev/null
installed=1
dpkg -L vrun >"$work/files"
for f in /usr/bin/vrun /usr/bin/containerd-shim-vrun-v2 /usr/share/man/man8/vrun.8.gz /usr/share/man/man8/vrun-create.8.gz \
  /usr/share/man/man8/vrun-exec.8.gz /usr/share/bash-completion/completions/vrun \
  /usr/share/zsh/vendor-completions/_vrun /usr/share/fish/vendor_completions.d/vrun.fish; do
  grep -qx "$f" "$work/files" || fail "the package lacks $f"
  [ -e "$f" ] || fail "$f not installed"
done
zcat /usr/share/man/man8/vrun-exec.8.gz | grep -q 'pidfd\\-socket' || fail "vrun-exec(8) lacks --pidfd-socket"
# bash completes commands and flags
got=$(bash -c '. /usr/share/bash-completion/bash_completion; . /usr/share/bash-completion/completions/vrun
  COMP_WORDS=(vrun ex); COMP_CWORD=1; _vrun vrun ex vrun; echo "${COMPREPLY[*]}"')
[[ " $got " == *" exec "* ]] || fail "bash completion of 'vrun ex': $got"
got=$(bash -c '. /usr/share/bash-completion/bash_completion; . /usr/share/bash-completion/completions/vrun
  COMP_WORDS=(vrun exec --pidfd); COMP_CWORD=2; _vrun vrun --pidfd exec; echo "${COMPREPLY[*]}"')
[[ "$got" == *"--pidfd-socket"* ]] || fail "bash completion of 'vrun exec --pidfd': $got"
# a real container from the installed binary
VRUN=/usr/bin/vrun make_bundle "$work/bundle" sh -c 'echo packaged-ok'
VRUN=/usr/bin/vrun
out=$(cd "$work/bundle" && /usr/bin/vrun --root "$work/state" run "pkg-$$")
[ "$out" = packaged-ok ] || fail "run from the package: $out"

# the installed shim answers containerd 2's question about its runtime (RuntimeInfo: its name
# and vrun's features, user namespaces with idmapped mounts among them)
info=$(/usr/bin/containerd-shim-vrun-v2 -info </dev/null | tr -c '[:print:]' ' ')
grep -q "io.containerd.vrun.v2" <<<"$info" && grep -q '"idmap":{"enabled":true}' <<<"$info" ||
  fail "the installed shim's -info answer: $(cut -c1-200 <<<"$info")"

dpkg -r vrun >/dev/null
installed=
[ ! -e /usr/bin/vrun ] && [ ! -e /usr/bin/containerd-shim-vrun-v2 ] && [ ! -e /usr/share/man/man8/vrun.8.gz ] ||
  fail "files left after dpkg -r"
log "packaging: ok"
