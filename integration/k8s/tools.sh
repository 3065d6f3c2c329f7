#!/usr/bin/env bash
# Builds today's Kubernetes stack from Go modules at the versions of versions.sh: containerd 2
# (containerd, ctr, containerd-shim-runc-v2), runc (cgo, libseccomp), crictl and critest (and
# ginkgo, which runs critest in parallel; for containerd 2, and the release for Debian's
# containerd 1.6), etcd, and Kubernetes' kubelet,
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl; and today's dockerd
# (moby, for integration/docker.sh).
#
# Each tool's binaries go to $K8S_TOOLS_CACHE/NAME-VERSION/, written last by a finished build
# (a `.built` file), so a second run builds nothing; Go's own build and module caches
# (GOCACHE, GOMODCACHE) are shared too. Source it to get the directories (k8s_tool_dir NAME) and
# build_k8s_tools; run it to build everything and print where it went.
#
# Kubernetes and etcd cannot be `go install`ed: their go.mod files replace modules by local
# directories (Kubernetes' staging/src/k8s.io/*, which its module zip does not hold). So each is
# built from a module file written here: it requires the tool's module and replaces every
# staging module by its published version (K8S_STAGING_VERSION), the list read from Kubernetes'
# own go.mod, so a version bump edits versions.sh only.
set -euo pipefail
k8s_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$k8s_dir/versions.sh"
: "${K8S_TOOLS_CACHE:=/var/cache/vrun-k8s-tools}"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
command -v go >/dev/null || { echo "tools.sh: needs Go (1.26 here; etcd $ETCD_VERSION needs 1.26)" >&2; exit 1; }

k8s_tool_dir() { # NAME: the cache directory of a tool at its pinned version
  case $1 in
  kubernetes) echo "$K8S_TOOLS_CACHE/kubernetes-$K8S_VERSION" ;;
  etcd) echo "$K8S_TOOLS_CACHE/etcd-$ETCD_VERSION" ;;
  containerd) echo "$K8S_TOOLS_CACHE/containerd-$CONTAINERD_VERSION" ;;
  runc) echo "$K8S_TOOLS_CACHE/runc-$RUNC_VERSION" ;;
  cri-tools) echo "$K8S_TOOLS_CACHE/cri-tools-$CRI_TOOLS_VERSION" ;;
  cri-tools-16) echo "$K8S_TOOLS_CACHE/cri-tools-$CRI_TOOLS_16_VERSION" ;;
  moby) echo "$K8S_TOOLS_CACHE/moby-$MOBY_VERSION" ;;
  *) echo "tools.sh: no tool $1" >&2; return 1 ;;
  esac
}

# module_dir NAME: a fresh directory for a module file of our own
module_dir() {
  local d="$K8S_TOOLS_CACHE/modules/$1"
  rm -rf "$d" && mkdir -p "$d" && echo "$d"
}

build_containerd() { # OUT
  local m=github.com/containerd/containerd/v2 v=$CONTAINERD_VERSION
  # no_btrfs: the btrfs snapshotter needs libbtrfs headers and is not used here
  CGO_ENABLED=0 GOBIN=$1 go install -tags no_btrfs \
    -ldflags "-X $m/version.Version=$v -X $m/version.Revision=$v" \
    "$m/cmd/containerd@$v" "$m/cmd/ctr@$v" "$m/cmd/containerd-shim-runc-v2@$v"
}

build_runc() { # OUT: as runc's Makefile builds it, seccomp through libseccomp
  CGO_ENABLED=1 GOBIN=$1 go install -tags seccomp -ldflags "-X main.version=${RUNC_VERSION#v}" \
    "github.com/opencontainers/runc@$RUNC_VERSION"
}

# build_cri_tools OUT VERSION: crictl, and critest (a test binary), as cri-tools' Makefile makes
# them: in its own module, from the module zip. (Its releases before 1.31 declare the module
# path github.com/kubernetes-sigs/cri-tools, which the proxy does not serve, so they cannot be
# required by a module of ours; the zip under sigs.k8s.io builds as the main module.)
build_cri_tools() {
  local out=$1 v=$2 zip d mod
  zip=$(go mod download -json "sigs.k8s.io/cri-tools@$v" | sed -n 's/.*"Zip": "\(.*\)",/\1/p')
  d=$(module_dir "cri-tools-$v")
  (cd "$d" && python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(".")' "$zip")
  cd "$d/sigs.k8s.io/cri-tools@$v"
  chmod -R u+w .
  mod=$(go list -m -mod=mod)
  go mod download
  CGO_ENABLED=0 go build -mod=mod -o "$out/crictl" -ldflags "-X $mod/pkg/version.Version=$v" ./cmd/crictl
  CGO_ENABLED=0 go test -mod=mod -c -o "$out/critest" -ldflags "-X $mod/pkg/version.Version=$v" ./cmd/critest
  # critest --parallel runs its specs through the ginkgo command, at the version cri-tools uses
  CGO_ENABLED=0 go build -mod=mod -o "$out/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
}

build_kubernetes() { # OUT
  local out=$1 d gomod ldflags c v=$K8S_VERSION
  d=$(module_dir "kubernetes-$v")
  gomod=$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  cd "$d"
  go mod init vrun.local/kubernetes >/dev/null 2>&1
  # every staging module Kubernetes replaces by ./staging/src/k8s.io/NAME, by its published version
  for m in $(sed -n 's#^\t\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$gomod"); do
    go mod edit -replace "$m=$m@$K8S_STAGING_VERSION"
  done
  go mod edit -require "k8s.io/kubernetes@$v"
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go mod tidy
  # the version the binaries report (the kubelet's node status, `kubectl version`), as
  # Kubernetes' hack/lib/version.sh sets it
  ldflags=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=$(echo "${v#v}" | cut -d. -f1)"
    ldflags+=" -X $p.gitMinor=$(echo "$v" | cut -d. -f2) -X $p.gitTreeState=clean -X $p.gitCommit=$v"
  done
  for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out/$c" "k8s.io/kubernetes/cmd/$c"
  done
}

build_moby() { # OUT: dockerd; the module installs as it is (its go.mod replaces nothing)
  # exclude_graphdriver_btrfs, no_btrfs: the btrfs driver and snapshotter need libbtrfs headers
  GOBIN=$1 go install -tags 'exclude_graphdriver_btrfs no_btrfs' \
    -ldflags "-X github.com/moby/moby/v2/dockerversion.Version=moby-$MOBY_VERSION" \
    "github.com/moby/moby/v2/cmd/dockerd@$MOBY_VERSION"
}

build_etcd() { # OUT: the etcd server (its module's root package is etcd's main)
  local out=$1 d
  d=$(module_dir "etcd-$ETCD_VERSION")
  cd "$d"
  go mod init vrun.local/etcd >/dev/null 2>&1
  go mod edit -require "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
  go mod tidy
  CGO_ENABLED=0 go build -trimpath -o "$out/etcd" go.etcd.io/etcd/server/v3
}

# build_k8s_tools [NAME...]: builds the named tools (all without a name) that the cache lacks
build_k8s_tools() {
  local names=("$@") n out start
  ((${#names[@]})) || names=(containerd runc cri-tools cri-tools-16 etcd kubernetes moby)
  for n in "${names[@]}"; do
    out=$(k8s_tool_dir "$n")
    [ -e "$out/.built" ] && continue
    start=$(date +%s)
    echo "tools.sh: building $n into $out" >&2
    rm -rf "$out" && mkdir -p "$out"
    case $n in
    containerd) (build_containerd "$out") ;;
    runc) (build_runc "$out") ;;
    cri-tools) (build_cri_tools "$out" "$CRI_TOOLS_VERSION") ;;
    cri-tools-16) (build_cri_tools "$out" "$CRI_TOOLS_16_VERSION") ;;
    etcd) (build_etcd "$out") ;;
    kubernetes) (build_kubernetes "$out") ;;
    moby) (build_moby "$out") ;;
    esac
    echo "$(($(date +%s) - start))s" >"$out/.built"
    echo "tools.sh: built $n in $(cat "$out/.built")" >&2
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  build_k8s_tools "$@"
  for n in containerd runc cri-tools cri-tools-16 etcd kubernetes moby; do
    printf '%-13s %s\n' "$n" "$(k8s_tool_dir "$n")"
  done
fi
