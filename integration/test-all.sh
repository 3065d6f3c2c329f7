#!/usr/bin/env bash
# The whole test suite, as root: formatting and lints, the unit and real-container tests, packaging, the
# podman (root and rootless), containerd, CRI, critest, vrun's own containerd shim, Kubernetes cluster and Docker runs, the cgroup v2, systemd and CRIU checks in microVMs, the OCI conformance suite (host
# and microVM), fuzzing, the hot-code check, and a short benchmark against runc and crun. Installs what it needs
# from Debian.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$top"
need /bin/busybox busybox-static runc runc crun crun podman podman newuidmap uidmap containerd containerd python3 python3 unshare util-linux mkfs.ext4 e2fsprogs losetup mount \
  /usr/sbin/dockerd docker.io protoc protobuf-compiler /usr/lib/cni/loopback containernetworking-plugins \
  /usr/bin/catatonit catatonit

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -q -- -D warnings
log "cargo test (unit tests and real containers)"
cargo test --workspace
log "packaging: cargo install, the Debian package (man pages, completions)"
bash integration/package/check.sh
log "podman with vrun"
bash integration/podman.sh
log "rootless podman with vrun (an ordinary user)"
bash integration/rootless.sh
log "containerd with vrun"
bash integration/containerd.sh
log "Kubernetes' CRI (containerd) with runc, vrun, and vrun under its own shim"
bash integration/cri.sh
log "critest on containerd 2 and 1.6, handlers runc, vrun and vrun-shim (the Kubernetes tools are built once: integration/k8s/tools.sh)"
bash integration/k8s/critest.sh
log "containerd-shim-vrun-v2 under containerd 1.6 and 2 (ctr)"
bash integration/shim.sh
log "a two-node Kubernetes cluster, RuntimeClass vrun, vrun-shim, then runc"
bash integration/k8s/cluster.sh
log "Docker with runc and vrun"
bash integration/docker.sh
log "cgroup v2 in a microVM"
bash integration/vm/cgroup-v2.sh
log "the systemd cgroup driver and rootless limits, in a microVM with systemd"
bash integration/vm/systemd.sh
log "checkpoint and restore with CRIU, in a microVM"
bash integration/vm/criu.sh
log "the OCI conformance suite, on this host and in the microVM, beside runc and crun"
bash integration/conformance.sh
log "fuzzing config.json and state.json parsing"
bash integration/fuzz.sh
log "the hot code block (cli/hot-code.ld) still holds what the commands run"
bash integration/hot-code/run.sh --check
log "benchmark: vrun, crun, runc (short; fails only on a gross regression)"
bash integration/bench/run.sh --quick
log "benchmark: vrun's shim against runc's (short), and no growth over 500 containers in one pod"
bash integration/bench/shim.sh --quick
