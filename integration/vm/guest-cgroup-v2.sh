# Runs inside the VM (busybox sh): guest-cgroup-v2.sh VRUN BUNDLE. Prints "N passed, M failed".
vrun=$1 bundle=$2
pass=0 fail=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
cd "$bundle"
cp config.json config-run.json

# 1. run: the container sees its own cgroup as / (cgroup namespace) with the v2 limits in it
out=$("$vrun" run --bundle "$bundle" v2-run | tr '\n' ' ')
check "container view of its cgroup and limits" "0::/ 67108864 50 50000 100000 39 " "$out"

# 2. create with a nested relative path: placed under the caller's cgroup (here the root)
cp config-sleep.json config.json
"$vrun" create --bundle "$bundle" v2-sleep
check "cgroup created at outer/inner" "yes" "$([ -f /sys/fs/cgroup/outer/inner/cgroup.procs ] && echo yes)"
check "memory.max" "67108864" "$(cat /sys/fs/cgroup/outer/inner/memory.max)"
check "pids.max" "50" "$(cat /sys/fs/cgroup/outer/inner/pids.max)"
check "cpu.max" "50000 100000" "$(cat /sys/fs/cgroup/outer/inner/cpu.max)"
check "cpu.weight from shares 1024" "39" "$(cat /sys/fs/cgroup/outer/inner/cpu.weight)"
pid=$("$vrun" state v2-sleep | grep '"pid"' | tr -dc 0-9)
check "init is in the cgroup" "$pid" "$(cat /sys/fs/cgroup/outer/inner/cgroup.procs)"
check "controllers enabled for the child" "yes" "$(grep -q memory /sys/fs/cgroup/outer/cgroup.subtree_control && echo yes)"
"$vrun" start v2-sleep
"$vrun" delete --force v2-sleep
check "delete removes the cgroup and the parent it made" "gone" "$([ -e /sys/fs/cgroup/outer ] || echo gone)"

# 3. the default placement vrun/<id>, removed with its shared parent
cp config-run.json config.json
"$vrun" run --bundle "$bundle" v2-default >/dev/null
check "default placement removed" "gone" "$([ -e /sys/fs/cgroup/vrun ] || echo gone)"

# 4. a memory limit the container exceeds: the kernel's OOM killer acts inside the cgroup
sed 's/"limit": 67108864/"limit": 16777216/' config-sleep.json > config.json
"$vrun" create --bundle "$bundle" v2-oom
"$vrun" start v2-oom
check "events --stats: memory limit from memory.max" "yes" "$("$vrun" events --stats v2-oom | grep -q '"usage":{[^}]*"limit":16777216' && echo yes)"
"$vrun" events --interval 30s v2-oom > /tmp/events.out &
events=$!
"$vrun" exec v2-oom sh -c 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>/dev/null; echo dd-survived' > /tmp/oom.out 2>&1
check "oom_kill counted in memory.events" "yes" "$(grep -q '^oom_kill [1-9]' /sys/fs/cgroup/outer/inner/memory.events && echo yes)"
sleep 1
kill $events 2>/dev/null
check "events stream reports the oom" "yes" "$(grep -q '"type":"oom"' /tmp/events.out && echo yes)"
"$vrun" delete --force v2-oom
check "no cgroup left" "" "$(ls -d /sys/fs/cgroup/outer /sys/fs/cgroup/vrun 2>/dev/null)"

# 5. pause/resume (cgroup.freeze) and update on v2
cp config-sleep.json config.json
"$vrun" run -d --bundle "$bundle" v2-pause
"$vrun" pause v2-pause
check "cgroup.freeze after pause" "1" "$(cat /sys/fs/cgroup/outer/inner/cgroup.freeze)"
check "cgroup.events reports frozen" "frozen 1" "$(grep frozen /sys/fs/cgroup/outer/inner/cgroup.events)"
check "state says paused" '"status": "paused"' "$("$vrun" state v2-pause | grep -o '"status": "[a-z]*"')"
"$vrun" resume v2-pause
check "cgroup.events after resume" "frozen 0" "$(grep frozen /sys/fs/cgroup/outer/inner/cgroup.events)"
"$vrun" update --memory 32m --pids-limit 5 --cpu-quota 10000 v2-pause
check "update: memory.max" "33554432" "$(cat /sys/fs/cgroup/outer/inner/memory.max)"
check "update: pids.max" "5" "$(cat /sys/fs/cgroup/outer/inner/pids.max)"
check "update: cpu.max" "10000 100000" "$(cat /sys/fs/cgroup/outer/inner/cpu.max)"
"$vrun" update --cpu-period 200000 v2-pause
check "update: a period alone keeps the quota" "10000 200000" "$(cat /sys/fs/cgroup/outer/inner/cpu.max)"
echo '{"cpu": {"shares": 0, "quota": 0, "period": 0}, "memory": {"limit": 50331648, "swap": 67108864}, "pids": {"limit": 60}}' > /tmp/docker-update.json
"$vrun" update -r /tmp/docker-update.json v2-pause
check "update with Docker's zeros: memory.max, swap, pids, cpu.max kept" "50331648 16777216 60 10000 200000" \
  "$(cat /sys/fs/cgroup/outer/inner/memory.max /sys/fs/cgroup/outer/inner/memory.swap.max /sys/fs/cgroup/outer/inner/pids.max /sys/fs/cgroup/outer/inner/cpu.max 2>&1 | tr '\n' ' ' | sed 's/ $//')"
"$vrun" pause v2-pause
"$vrun" delete --force v2-pause
check "paused container deleted" "" "$(ls -d /sys/fs/cgroup/outer 2>/dev/null)"

# 6. the eBPF device filter
cp config-dev.json config.json
check "device filter denies c 1:11, allows /dev/null" "head: /tmp/kmsg: Operation not permitted null-ok" "$("$vrun" run --bundle "$bundle" v2-dev 2>&1 | tr '\n' ' ' | sed 's/ $//')"
cp config-dev-open.json config.json
check "an allow-all rule opens it" "kmsg-opened null-ok" "$("$vrun" run --bundle "$bundle" v2-dev-open 2>&1 | tr '\n' ' ' | sed 's/ $//')"

# 7. io.max for a loop device (the virtual disk's bandwidth)
dd if=/dev/zero of=/tmp/disk.img bs=1M count=8 2>/dev/null
losetup /dev/loop0 /tmp/disk.img
cp config-io.json config.json
"$vrun" create --bundle "$bundle" v2-io
check "io.max from the blockIO throttles" "7:0 rbps=1048576 wbps=max riops=max wiops=100" "$(grep '^7:0 ' /sys/fs/cgroup/vrun/v2-io/io.max)"
check "hugetlb.2MB.max from hugepageLimits" "4194304" "$(cat /sys/fs/cgroup/vrun/v2-io/hugetlb.2MB.max)"
check "cpu.max.burst" "20000" "$(cat /sys/fs/cgroup/vrun/v2-io/cpu.max.burst)"
check "cpu.idle" "1" "$(cat /sys/fs/cgroup/vrun/v2-io/cpu.idle)"
"$vrun" delete --force v2-io
losetup -d /dev/loop0

# 8. cpu.max throttling visible in cpu.stat, pids.max refusing a fork, a unified key
cp config-misc.json config.json
"$vrun" create --bundle "$bundle" v2-misc
"$vrun" start v2-misc
sleep 3
check "cpu.stat shows throttling" "yes" "$(awk '$1=="nr_throttled" && $2>0 {print "yes"}' /sys/fs/cgroup/vrun/v2-misc/cpu.stat)"
check "pids.max refused a fork" "status=2" "$(cat "$bundle/rootfs/tmp/pids-status" 2>/dev/null)"
check "unified memory.high" "33554432" "$(cat /sys/fs/cgroup/vrun/v2-misc/memory.high)"
"$vrun" delete --force v2-misc
check "no cgroup left at the end" "" "$(ls -d /sys/fs/cgroup/vrun /sys/fs/cgroup/outer 2>/dev/null)"

# 9. twenty containers sharing one cgroupsPath, started together: none loses /dev/null while
# the others join (each device program replaces the last), zeros and "pids": {} set nothing,
# and the last one out removes the cgroup
cp config-shared.json config.json
i=0
while [ $i -lt 20 ]; do
  ("$vrun" run --bundle "$bundle" "v2-shared-$i" > "/tmp/shared-$i.out" 2>&1; echo "rc=$?" >> "/tmp/shared-$i.out") &
  i=$((i + 1))
done
n=0
while [ ! -e /sys/fs/cgroup/shared-cg/cpu.max ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
check "a sharer's pids.max and cpu.max untouched" "max max 100000" "$(cat /sys/fs/cgroup/shared-cg/pids.max /sys/fs/cgroup/shared-cg/cpu.max 2>&1 | tr '\n' ' ' | sed 's/ $//')"
wait
check "20 runs sharing a cgroup all succeed" "20" "$(cat /tmp/shared-*.out | tr '\n' ' ' | grep -o 'null-ok null-ok rc=0' | wc -l)"
check "the shared cgroup is removed by the last one" "" "$(ls -d /sys/fs/cgroup/shared-cg 2>/dev/null)"

# 10. a cgroup frozen by someone else is refused at create, at once; a parent limited to half
# a CPU lets every valid cpu.max change through; memory -1 is "max"
echo "+cpu +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/outer
echo "+cpu +memory +pids" > /sys/fs/cgroup/outer/cgroup.subtree_control
mkdir /sys/fs/cgroup/outer/inner
echo 1 > /sys/fs/cgroup/outer/inner/cgroup.freeze
cp config-sleep.json config.json
out=$("$vrun" create --bundle "$bundle" v2-frozen 2>&1)
check "a frozen cgroup is refused" "yes" "$(echo "$out" | grep -q "container's cgroup unexpectedly frozen" && echo yes)"
check "nothing left of the refused container" "" "$("$vrun" list -q)"
echo 0 > /sys/fs/cgroup/outer/inner/cgroup.freeze
echo "50000 100000" > /sys/fs/cgroup/outer/cpu.max
"$vrun" run -d --bundle "$bundle" v2-cpu
"$vrun" update --cpu-period 10000 --cpu-quota 5000 v2-cpu
check "cpu.max down under a limited parent" "5000 10000" "$(cat /sys/fs/cgroup/outer/inner/cpu.max)"
"$vrun" update --cpu-period 100000 --cpu-quota 50000 v2-cpu
check "cpu.max up under a limited parent" "50000 100000" "$(cat /sys/fs/cgroup/outer/inner/cpu.max)"
"$vrun" update --memory -1 v2-cpu
check "memory -1 is max" "max" "$(cat /sys/fs/cgroup/outer/inner/memory.max)"
"$vrun" delete --force v2-cpu
rmdir /sys/fs/cgroup/outer/inner /sys/fs/cgroup/outer 2>/dev/null
check "no cgroup left after the frozen and cpu checks" "" "$(ls -d /sys/fs/cgroup/outer 2>/dev/null)"

echo "cgroup-v2: $pass passed, $fail failed"
[ "$fail" = 0 ]
