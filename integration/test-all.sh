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

# Each step's time, printed at the end, also of a failed run (CI's whole run has to stay under
# 75 minutes on a fresh machine: these say where it goes).
step_times=()
trap '((${#step_times[@]})) && printf "%s\n" "${step_times[@]}" >&2' EXIT
step() { # TITLE COMMAND...
  local title=$1 t0=$SECONDS
  shift
  log "$title"
  "$@"
  step_times+=("$(printf '%5d s  %s' $((SECONDS - t0)) "$title")")
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings" cargo clippy --workspace --all-targets -q -- -D warnings
step "cargo test (unit tests and real containers)" cargo test --workspace
step "packaging: cargo install, the Debian package (man pages, completions)" bash integration/package/check.sh
step "podman with vrun" bash integration/podman.sh
step "rootless podman with vrun (an ordinary user)" bash integration/rootless.sh
step "containerd with vrun" bash integration/containerd.sh
step "Kubernetes' CRI (containerd) with runc, vrun, and vrun under its own shim" bash integration/cri.sh
step "critest on containerd 2 and 1.6, handlers runc, vrun and vrun-shim (the Kubernetes tools are built once: integration/k8s/tools.sh)" bash integration/k8s/critest.sh
step "containerd-shim-vrun-v2 under containerd 1.6 and 2 (ctr)" bash integration/shim.sh
step "a two-node Kubernetes cluster, RuntimeClass vrun, vrun-shim, then runc" bash integration/k8s/cluster.sh
step "Docker with runc and vrun (Debian's 20.10), and today's dockerd with vrun's own shim" bash integration/docker.sh
step "cgroup v2 in a microVM" bash integration/vm/cgroup-v2.sh
step "the systemd cgroup driver and rootless limits, in a microVM with systemd" bash integration/vm/systemd.sh
step "checkpoint and restore with CRIU, in a microVM" bash integration/vm/criu.sh
step "the OCI conformance suite, on this host and in the microVM, beside runc and crun" bash integration/conformance.sh
step "fuzzing config.json and state.json parsing" bash integration/fuzz.sh
step "the hot code blocks (cli/hot-code.ld, shim/hot-code.ld) still hold what vrun and its shim run" bash integration/hot-code/run.sh --check
step "benchmark: vrun, crun, runc (short; fails only on a gross regression)" bash integration/bench/run.sh --quick
step "benchmark: vrun's shim against runc's (short), and no growth over 500 containers in one pod" bash integration/bench/shim.sh --quick
log "test-all.sh: every step passed, in $((SECONDS / 60)) min"
