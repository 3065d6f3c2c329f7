#!/usr/bin/env bash
# The OCI conformance suite (opencontainers/runtime-tools' validation programs) against vrun:
#  1. on this host: every program, compared with runc's and crun's results on this kind of
#     machine (the suite's baseline/): vrun fails nothing either of them passes, and passes at
#     least as many checks as crun;
#  2. in the cgroup v2 microVM: every program with vrun, crun and runc in one boot: vrun fails
#     nothing crun or runc passes there.
# The suite is not part of this repository (built from runtime-tools with Go, see below); it
# is looked for in $VRUN_CONFORMANCE (only there, when set), or ../shared/conformance and
# /work/shared/conformance.
# Without it the script says how to get it and skips. CONFORMANCE_VM=0 skips the VM part;
# CONFORMANCE_PROGRAMS="default mounts" runs only those programs.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"

suite=""
# VRUN_CONFORMANCE, when set, is the only place looked at.
candidates=("$top/../shared/conformance" /work/shared/conformance)
[ -z "${VRUN_CONFORMANCE:-}" ] || candidates=("$VRUN_CONFORMANCE")
for d in "${candidates[@]}"; do
  if [ -x "$d/run.sh" ] && [ -d "$d/bin/validation" ]; then
    suite=$(cd "$d" && pwd)
    break
  fi
done
if [ -z "$suite" ]; then
  cat >&2 <<'EOF'
conformance: SKIPPED: the OCI validation suite is not on this machine (looked in $VRUN_CONFORMANCE,
  ../shared/conformance, /work/shared/conformance). To get it: build opencontainers/runtime-tools
  (commit 408c51e builds with Debian 12's Go 1.19: `make runtimetest validation-executables`) and
  lay it out as that directory's README.md says: run.sh and compare.sh, bin/validation/*.t,
  bin/runtimetest, bin/rootfs-amd64.tar.gz, and baseline/ with runc's and crun's summaries from
  the same kind of machine. Then: VRUN_CONFORMANCE=DIR bash integration/conformance.sh
EOF
  exit 0
fi
need runc runc crun crun
build_vrun

work=$(mktemp -d /tmp/vrun-conformance.XXXXXX)
# (755: a container in a user namespace of its own must reach its bundle in here)
chmod 755 "$work"
state=$work/state
cleanup() {
  local d
  for d in "$state"/*; do
    if [ -f "$d/state.json" ]; then
      "$VRUN" --root "$state" delete --force "$(basename "$d")" >/dev/null 2>&1 || true
    fi
  done
  # (the suite's bundles are in there: never follow a mount it may have left)
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# The suite calls the runtime without --root: a wrapper gives vrun a private state root.
printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$VRUN" "$state" >"$work/vrun"
chmod +x "$work/vrun"
programs=${CONFORMANCE_PROGRAMS:-$(cd "$suite/bin/validation" && ls | sed 's/\.t$//' | tr '\n' ' ')}

log "conformance on this host: vrun against runc's and crun's results (${suite}/baseline)"
mounts_before=$(wc -l </proc/self/mountinfo)
cgroups_before=$(find /sys/fs/cgroup -type d 2>/dev/null | sort)
# The programs make their bundles under $TMPDIR and do not always remove them.
mkdir -p "$work/tmp"
# shellcheck disable=SC2086
TMPDIR=$work/tmp "$suite/run.sh" "$work/vrun" "$work/host" $programs >/dev/null 2>&1 || true
tail -1 "$work/host/summary.txt"
failed=0
if ! "$suite/compare.sh" "$work/host"; then
  echo "conformance: vrun fails programs that runc or crun passes on this host" >&2
  failed=1
fi
if [ -z "${CONFORMANCE_PROGRAMS:-}" ]; then
  ok=$(sed -n 's/^TOTAL ok=\([0-9]*\).*/\1/p' "$work/host/summary.txt")
  crun_ok=$(sed -n 's/^TOTAL ok=\([0-9]*\).*/\1/p' "$suite"/baseline/crun-*.txt | head -1)
  echo "checks passed: vrun $ok, crun $crun_ok (its baseline)"
  if [ "$ok" -lt "$crun_ok" ]; then
    echo "conformance: vrun passes fewer checks ($ok) than crun ($crun_ok)" >&2
    failed=1
  fi
fi
# Nothing of the suite's containers is left: no state, no mount, no cgroup.
left=$(find "$state" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
mounts_after=$(wc -l </proc/self/mountinfo)
cgroups_left=$(comm -13 <(echo "$cgroups_before") <(find /sys/fs/cgroup -type d 2>/dev/null | sort))
if [ "$left" -ne 0 ] || [ "$mounts_after" -ne "$mounts_before" ] || [ -n "$cgroups_left" ]; then
  echo "conformance: left behind: $left containers, $((mounts_after - mounts_before)) mounts, cgroups: ${cgroups_left:-none}" >&2
  grep ocitest /proc/self/mountinfo >&2 || true
  failed=1
fi

if [ "${CONFORMANCE_VM:-1}" = 1 ]; then
  log "conformance in the cgroup v2 microVM: vrun, crun and runc in one boot"
  # the same wrapper, with a state root in the guest
  printf '#!/bin/sh\nexec %q --root /run/vrun-conformance "$@"\n' "$VRUN" >"$work/vrun-vm"
  chmod +x "$work/vrun-vm"
  crun=$(command -v crun) runc=$(command -v runc)
  # shellcheck disable=SC2086
  VM_TIMEOUT=${VM_TIMEOUT:-2400} "$top/integration/vm/run-in-vm.sh" --mem 2G \
    --add "$suite" --add "$VRUN" --add "$work/vrun-vm" --add "$crun" --add "$runc" \
    --add "$top/integration/conformance/guest.sh" -- \
    sh "$top/integration/conformance/guest.sh" "$suite" 300 \
    "crun=$crun" "runc=$runc" "vrun=$work/vrun-vm" -- $programs | tee "$work/vm.log"
  grep -q '^TIME vrun ' "$work/vm.log" || { echo "conformance: the VM run did not finish" >&2; exit 1; }
  # Per runtime: programs passed, checks passed; then what vrun fails that a peer passes.
  awk '
    $1 == "SUMMARY" { split($4, ok, "="); split($5, nok, "=");
                      checks[$2] += ok[2]; if (nok[2] == 0) { pass[$2, $3] = 1; passed[$2]++ }
                      progs[$3] = 1; rts[$2] = 1 }
    END {
      for (r in rts) printf "in the VM: %s passes %d programs, %d checks\n", r, passed[r], checks[r]
      bad = 0
      for (p in progs)
        if (!pass["vrun", p] && (pass["crun", p] || pass["runc", p])) {
          printf "conformance: in the VM vrun fails %s, which %s passes\n", p, (pass["crun", p] ? "crun" : "runc") > "/dev/stderr"
          bad = 1
        }
      exit bad
    }' "$work/vm.log" || failed=1
fi
exit $failed
