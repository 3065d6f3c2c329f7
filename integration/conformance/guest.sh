#!/bin/sh
# Inside the cgroup v2 microVM (busybox sh): the OCI validation suite against each runtime
# given, one after the other in this one boot, the same way ../shared/conformance/run.sh runs
# it on a host. Prints one "SUMMARY <runtime> <program> ok=N notok=N skip=N rc=N" line per
# program (what the host compares), and the failing TAP lines of each program.
#   guest.sh SUITE_DIR TIMEOUT RUNTIME_NAME=RUNTIME_PATH... -- PROGRAM...
suite=$1 limit=$2; shift 2
runtimes=""
while [ "$1" != "--" ]; do runtimes="$runtimes $1"; shift; done
shift
wd=$(mktemp -d /tmp/oci-validation.XXXXXX)
cp "$suite/bin/runtimetest" "$wd/"
# The programs run `tar -xf rootfs-amd64.tar.gz`; busybox's tar does not recognise gzip by
# itself, so the file holds the plain tar under the same name.
gunzip -c "$suite/bin/rootfs-amd64.tar.gz" >"$wd/rootfs-amd64.tar.gz"
cd "$wd" || exit 1
for spec in $runtimes; do
  name=${spec%%=*} rt=${spec#*=}
  start=$(cut -d' ' -f1 /proc/uptime)
  for t in "$@"; do
    RUNTIME=$rt timeout "$limit" "$suite/bin/validation/$t.t" >"$wd/$name.$t.tap" 2>&1
    rc=$?
    ok=$(grep -c '^ok ' "$wd/$name.$t.tap")
    nok=$(grep -c '^not ok ' "$wd/$name.$t.tap")
    skip=$(grep -c '^ok .*# *SKIP' "$wd/$name.$t.tap")
    ok=$((ok - skip))
    [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ] && nok=1
    echo "SUMMARY $name $t ok=$ok notok=$nok skip=$skip rc=$rc"
    if [ "$nok" -ne 0 ]; then
      grep -A3 '^not ok ' "$wd/$name.$t.tap" | head -12 | sed "s/^/  $name $t: /"
      [ "$rc" -ne 0 ] && tail -3 "$wd/$name.$t.tap" | sed "s/^/  $name $t: /"
    fi
  done
  echo "TIME $name $(awk -v a="$start" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN{printf "%d", b-a}')s"
done
