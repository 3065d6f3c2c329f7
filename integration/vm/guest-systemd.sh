# Runs inside the systemd VM (as root, in a oneshot unit): guest-systemd.sh VRUN WORK SHIM.
vrun=$1 work=$2 bundle=$2/bundle shim=$3
pass=0 fail=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
V="$vrun --systemd-cgroup"
scope=/sys/fs/cgroup/system.slice/vrun-sd1.scope
show() { systemctl show "$1" -p "$2" --value; }

# 1. run -d: a scope in system.slice, limits as properties and in its files
$V run -d --bundle "$bundle" sd1 </dev/null >/dev/null 2>"$work/err"
check "run -d succeeds" "" "$(cat "$work/err")"
pid=$($V state sd1 | grep '"pid"' | tr -dc 0-9)
check "init is in the scope" "0::/system.slice/vrun-sd1.scope" "$(cat /proc/$pid/cgroup)"
check "the unit is active" "active" "$(show vrun-sd1.scope ActiveState)"
check "MemoryMax, TasksMax, CPUWeight, CPUQuotaPerSecUSec" "67108864 50 39 500ms" \
  "$(echo $(show vrun-sd1.scope MemoryMax) $(show vrun-sd1.scope TasksMax) $(show vrun-sd1.scope CPUWeight) $(show vrun-sd1.scope CPUQuotaPerSecUSec))"
check "memory.max, pids.max, cpu.max in the scope" "67108864 50 50000 100000" "$(cat $scope/memory.max $scope/pids.max $scope/cpu.max | tr '\n' ' ' | sed 's/ $//')"
check "Delegate" "yes" "$(show vrun-sd1.scope Delegate)"
check "annotation CollectMode" "inactive-or-failed" "$(show vrun-sd1.scope CollectMode)"
check "annotation TimeoutStopUSec" "2min 3.456789s" "$(show vrun-sd1.scope TimeoutStopUSec)"

# 2. update: properties and files
$V update --memory 32m --pids-limit 20 sd1
check "update: MemoryMax and TasksMax" "33554432 20" "$(echo $(show vrun-sd1.scope MemoryMax) $(show vrun-sd1.scope TasksMax))"
check "update: memory.max and pids.max" "33554432 20" "$(cat $scope/memory.max $scope/pids.max | tr '\n' ' ' | sed 's/ $//')"

# 3. exec lands in the scope; ps, pause/resume, kill --all
check "exec in the scope" "0::/" "$($V exec sd1 cat /proc/self/cgroup)"
check "ps lists init" "yes" "$($V ps --format json sd1 | grep -q "$pid" && echo yes)"
$V pause sd1
check "pause: cgroup.freeze" "1" "$(cat $scope/cgroup.freeze)"
check "pause: state" '"status": "paused"' "$($V state sd1 | grep -o '"status": "[a-z]*"')"
$V resume sd1
check "resume" "0" "$(cat $scope/cgroup.freeze)"
check "events --stats reads the scope" "yes" "$($V events --stats sd1 | grep -q '"limit":33554432' && echo yes)"
$V exec -d sd1 sleep 600 </dev/null >/dev/null 2>&1
check "exec -d: two processes in the scope" "2" "$(wc -l <$scope/cgroup.procs)"
$V kill --all sd1 KILL
n=0; while [ -s $scope/cgroup.procs ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
check "kill --all empties the scope" "" "$(cat $scope/cgroup.procs 2>/dev/null)"

# 4. delete stops the unit; systemd removes the cgroup
$V delete --force sd1
check "delete: the unit is gone" "inactive" "$(show vrun-sd1.scope ActiveState)"
check "delete: the scope's cgroup is gone" "gone" "$([ -e $scope ] || echo gone)"

# 5. the default path: system.slice/vrun-ID.scope
cp "$bundle/config.json" "$work/config-sd1.json"
cp "$bundle/config-default.json" "$bundle/config.json"
check "default path" "0::/" "$($V run --bundle "$bundle" sd2 2>&1)"
check "its unit is gone after run" "inactive" "$(show vrun-sd2.scope ActiveState)"
cp "$work/config-sd1.json" "$bundle/config.json"

# 6. a create stopped once init is placed (its unit active), killed there: delete --force
# leaves no unit and no state (systemd also drops the scope once init, which dies with
# create, leaves it)
sed 's/system.slice:vrun:sd1/system.slice:vrun:sd3/' "$work/config-sd1.json" >"$bundle/config.json"
VRUN_TEST_STOP_AT=placed $V create --bundle "$bundle" sd3 </dev/null >/dev/null 2>&1 &
cpid=$!
n=0; while [ "$(show vrun-sd3.scope ActiveState)" != active ] && [ $n -lt 200 ]; do sleep 0.1; n=$((n + 1)); done
check "the half-made container's unit is active" "active" "$(show vrun-sd3.scope ActiveState)"
kill -KILL $cpid; wait $cpid 2>/dev/null
$V delete --force sd3
check "delete --force: no unit" "inactive" "$(show vrun-sd3.scope ActiveState)"
check "delete --force: no state" "" "$($V list -q)"
check "no vrun scope left" "" "$(ls -d /sys/fs/cgroup/system.slice/vrun-* 2>/dev/null)"
cp "$work/config-sd1.json" "$bundle/config.json"

# 7. containerd's runc shim, SystemdCgroup = true, running vrun
n=0; while ! ctr version >/dev/null 2>&1 && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done
ctr images import "$work/image.tar" >/dev/null 2>&1
ctr run -d --runc-binary "$vrun" --runc-systemd-cgroup --cgroup system.slice:ctr:sdc localhost/vrun-busybox:sd sdc sleep 1000 >/dev/null 2>"$work/ctr.err"
check "ctr run with the systemd cgroup: a scope" "active" "$(show ctr-sdc.scope ActiveState)"
check "the shim's task in the scope" "0::/system.slice/ctr-sdc.scope" "$(cat /proc/$(ctr task ls | awk '$1=="sdc"{print $2}')/cgroup 2>/dev/null)"
ctr task kill -s KILL sdc >/dev/null 2>&1
n=0; while ctr task ls | grep -q RUNNING && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
ctr task delete sdc >/dev/null 2>&1
ctr container delete sdc >/dev/null 2>&1
check "ctr: the scope is gone" "inactive" "$(show ctr-sdc.scope ActiveState)"
[ -s "$work/ctr.err" ] && cat "$work/ctr.err"

# 7b. vrun's own shim: a cgroupsPath of systemd's form makes a scope (the shim takes the
# systemd driver on a host booted with systemd), and ctr task metrics reads cgroup v2's
# Metrics from it
ln -sf "$shim" /usr/local/bin/containerd-shim-vrun-v2
ctr run -d --runtime io.containerd.vrun.v2 --cgroup system.slice:ctr:sdv --memory-limit 67108864 \
  localhost/vrun-busybox:sd sdv sleep 1000 >/dev/null 2>"$work/shim.err"
check "vrun's shim, a systemd cgroupsPath: a scope" "active" "$(show ctr-sdv.scope ActiveState)"
ctr task metrics sdv >"$work/metrics" 2>&1
check "ctr task metrics (cgroup v2): pids.current, memory.usage_limit" "1 67108864" \
  "$(awk '$1=="pids.current"||$1=="memory.usage_limit"{printf "%s ", $2}' "$work/metrics" | sed 's/ $//')"
check "ctr task metrics (cgroup v2): memory.usage and cpu.usage_usec above 0" "yes yes" \
  "$(awk '($1=="memory.usage"||$1=="cpu.usage_usec"){printf "%s ", ($2>0 ? "yes" : "no")}' "$work/metrics" | sed 's/ $//')"
ctr task kill -s KILL sdv >/dev/null 2>&1
n=0; while ctr task ls | grep -q RUNNING && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
ctr task delete sdv >/dev/null 2>&1
ctr container delete sdv >/dev/null 2>&1
check "vrun's shim: the scope is gone" "inactive" "$(show ctr-sdv.scope ActiveState)"
shims=0
for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' 2>/dev/null <"$f" | grep -q '^[^ ]*containerd-shim-vrun-v2' && shims=$((shims + 1)); done
check "vrun's shim: no shim process left" "0" "$shims"
[ -s "$work/shim.err" ] && cat "$work/shim.err"
grep -q "^METRIC" "$work/metrics" || cat "$work/metrics"

# 8. rootless: an ordinary user (lingering, so that its systemd runs and delegates a cgroup)
# runs a container whose memory and pids limits go through its own systemd
useradd -m rl
uid=$(id -u rl)
loginctl enable-linger rl
n=0; while [ ! -S /run/user/$uid/bus ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
sed "s/4242424/$uid/" "$bundle/config-rootless.json" >"$work/rl-config.json"
mkdir -p "$work/rl"; cp "$work/rl-config.json" "$work/rl/config.json"
chmod 755 "$work" "$work/rl"
as_rl() { setpriv --reuid rl --regid rl --init-groups env XDG_RUNTIME_DIR=/run/user/$uid DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus "$@"; }
as_rl $V run -d --bundle "$work/rl" rl1 </dev/null >/dev/null 2>"$work/rl.err"
check "rootless run -d with the user's systemd" "" "$(cat "$work/rl.err")"
rpid=$(as_rl $vrun state rl1 | grep '"pid"' | tr -dc 0-9)
rcg=$(sed -n 's/^0:://p' /proc/$rpid/cgroup)
check "in a scope of the user's manager" "/user.slice/user-$uid.slice/user@$uid.service/user.slice/vrun-rl1.scope" "$rcg"
check "its memory.max and pids.max" "33554432 20" "$(cat /sys/fs/cgroup$rcg/memory.max /sys/fs/cgroup$rcg/pids.max 2>&1 | tr '\n' ' ' | sed 's/ $//')"
check "the state in the user's runtime dir" "yes" "$([ -d /run/user/$uid/vrun/rl1 ] && echo yes)"
as_rl $V exec rl1 sh -c 'i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i + 1)); done; wait' >/dev/null 2>"$work/rl-fork.err"
check "pids.max refuses the 20th fork" "yes" "$(grep -q "can't fork" "$work/rl-fork.err" && echo yes)"
grep -q "can't fork" "$work/rl-fork.err" || cat "$work/rl-fork.err"
as_rl $V delete --force rl1
check "rootless delete: the scope is gone" "gone" "$([ -e /sys/fs/cgroup$rcg ] || echo gone)"
loginctl disable-linger rl

echo "systemd: $pass passed, $fail failed"
[ "$fail" = 0 ]
