# Runs inside the VM (busybox sh): guest-criu.sh VRUN BUNDLE SHIM TASK_CALL [CONTAINERD CTR
# IMAGE_TAR]. Prints "N passed, M failed".
vrun=$1 bundle=$2 shim=$3 task_call=$4 containerd=$5 ctr=$6 image_tar=$7
pass=0 fail=0
check() { # check NAME EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1: expected [$2], got [$3]"; fi
}
# (module dependencies: a second pass loads what the first could not)
for m in /lib/modules/*.ko; do insmod "$m" 2>/dev/null; done
for t in iptables-save iptables-restore ip6tables-save ip6tables-restore; do
  ln -sf xtables-nft-multi "/usr/sbin/$t"
done
criu check >/tmp/criu-check 2>&1
check "criu check on the guest kernel" "Looks good." "$(tail -1 /tmp/criu-check)"
cd "$bundle"
count() { cat "$bundle/rootfs/count" 2>/dev/null; }
# count_until TEST N: polls (15 s at most: the VM is emulated and CI may be loaded) until
# [ count TEST N ] holds, then prints that count; prints the last count seen if it never does.
count_until() {
  n=0
  while [ $n -lt 150 ]; do
    c=$(count)
    [ -n "$c" ] && [ "$c" "$1" "$2" ] && break
    sleep 0.1; n=$((n + 1))
  done
  echo "$c"
}
dump_log() { for f in "$1"/*.log; do echo "--- $f"; grep -v "mnt:" "$f" | grep -B4 "Error" | tail -24; done; }

# 1. run -d, checkpoint: the container is gone; restore: it counts on from where it was
"$vrun" run -d --bundle "$bundle" c1 </dev/null >/dev/null 2>&1
count_until -gt 5 >/dev/null
"$vrun" checkpoint --image-path /tmp/img1 c1 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img1; }
check "checkpoint: the container is gone" "gone" "$("$vrun" state c1 >/dev/null 2>&1 || echo gone)"
at=$(count)
sleep 1
check "nothing counts after the checkpoint" "$at" "$(count)"
"$vrun" restore -d --image-path /tmp/img1 --bundle "$bundle" c1 </dev/null >/dev/null 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img1; }
check "restore: running" "running" "$("$vrun" state c1 2>/dev/null | grep -o '"status": "[a-z]*"' | cut -d'"' -f4)"
# the first value written after the restore: at+1 if the process went on, 1 if it started again
now=$(count_until -ne "${at:-0}")
check "the count went on from the checkpoint, not from 1" "yes (at $at, then $now)" \
  "$([ "${now:-0}" -gt "${at:-0}" ] && [ "${at:-0}" -gt 5 ] && echo yes) (at $at, then $now)"
pid=$("$vrun" state c1 | grep '"pid"' | tr -dc 0-9)
check "the restored init is in the container's cgroup" "yes" "$(grep -q c1 /proc/$pid/cgroup && echo yes)"
"$vrun" delete --force c1
check "delete after restore removes the cgroup" "gone" "$([ -e /sys/fs/cgroup/vrun ] || echo gone)"

# 2. pre-dump, then a dump with the pre-dump as parent
"$vrun" run -d --bundle "$bundle" c2 </dev/null >/dev/null 2>&1
sleep 1
"$vrun" checkpoint --pre-dump --image-path /tmp/img2/pre c2 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img2/pre; }
check "pre-dump leaves the container running" "running" "$("$vrun" state c2 | grep -o '"status": "[a-z]*"' | cut -d'"' -f4)"
check "pre-dump wrote pages" "yes" "$(ls /tmp/img2/pre | grep -q pages && echo yes)"
"$vrun" checkpoint --parent-path ../pre --image-path /tmp/img2/final c2 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img2/final; }
check "dump after pre-dump: gone" "gone" "$("$vrun" state c2 >/dev/null 2>&1 || echo gone)"
"$vrun" restore -d --image-path /tmp/img2/final --bundle "$bundle" c2 </dev/null >/dev/null 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img2/final; }
check "restore from a pre-dumped chain" "running" "$("$vrun" state c2 2>/dev/null | grep -o '"status": "[a-z]*"' | cut -d'"' -f4)"
"$vrun" delete --force c2 2>/dev/null

# 3. --leave-running: the container keeps counting
"$vrun" run -d --bundle "$bundle" c3 </dev/null >/dev/null 2>&1
sleep 1
"$vrun" checkpoint --leave-running --image-path /tmp/img3 c3 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img3; }
check "leave-running: still running" "running" "$("$vrun" state c3 | grep -o '"status": "[a-z]*"' | cut -d'"' -f4)"
a=$(count)
check "leave-running: still counting" "yes" "$([ "$(count_until -gt "${a:-0}")" -gt "${a:-0}" ] && echo yes)"
"$vrun" delete --force c3

# 3b. a paused container (containerd pauses a task before its checkpoint): the dump does not
# wait on the frozen processes, and leaves them frozen; resumed, they count on; restored
# from the images, it counts on from there
"$vrun" run -d --bundle "$bundle" c5 </dev/null >/dev/null 2>&1
count_until -gt 5 >/dev/null
"$vrun" pause c5
timeout 60 "$vrun" checkpoint --leave-running --image-path /tmp/img3b c5 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img3b; }
check "checkpoint of a paused container: done, and it is still paused" "paused" \
  "$("$vrun" state c5 | grep -o '"status": "[a-z]*"' | cut -d'"' -f4)"
a=$(count)
sleep 0.5
check "checkpoint of a paused container: nothing counts while paused" "$a" "$(count)"
"$vrun" resume c5
check "checkpoint of a paused container: resumed, it counts on" "yes" "$([ "$(count_until -gt "${a:-0}")" -gt "${a:-0}" ] && echo yes)"
"$vrun" delete --force c5
"$vrun" restore -d --image-path /tmp/img3b --bundle "$bundle" c5 </dev/null >/dev/null 2>/tmp/err || { cat /tmp/err; dump_log /tmp/img3b; }
check "restore of a paused container's checkpoint: running" "running" "$("$vrun" state c5 2>/dev/null | grep -o '"status": "[a-z]*"' | cut -d'"' -f4)"
"$vrun" delete --force c5

# 4. bad input: a missing image directory, a bad cgroup mode
out=$("$vrun" restore --image-path /tmp/none --bundle "$bundle" c4 2>&1)
check "restore from nothing fails with CRIU's error, and no log named" "yes" \
  "$(echo "$out" | grep -q "criu restore failed (.*it wrote no log): .*Couldn't open image dir /tmp/none" && echo yes)"
check "a failed restore leaves no container" "gone" "$("$vrun" state c4 >/dev/null 2>&1 || echo gone)"
out=$("$vrun" checkpoint --manage-cgroups-mode nope c9 2>&1)
check "an unknown container is named" "yes" "$(echo "$out" | grep -q 'c9.* does not exist' && echo yes)"

# 5. containerd-shim-vrun-v2's Checkpoint and a create from a checkpoint, as containerd calls
# them (task_call stands in for containerd, and serves its events): ctr's `checkpoint --exit`,
# then a task created from the images, which the shim restores at Start
s=/tmp/shim
mkdir -p $s
"$task_call" events $s/events.sock $s/events &
evpid=$!
n=0; while [ ! -S $s/events.sock ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
# (containerd makes the shim's log fifo in the bundle; the shim cannot start without it)
mkfifo "$bundle/log"
cat "$bundle/log" > $s/shim.log &
logpid=$!
addr=$(cd "$bundle" && TTRPC_ADDRESS=$s/events.sock "$shim" -namespace vmtest -address $s/containerd.sock -id s1 start)
task() { "$task_call" "$addr" "$@" 2>>$s/err; }
# state_until STATUS ID: polls (15 s at most) until the task's state begins with STATUS
state_until() {
  n=0
  while [ $n -lt 150 ]; do
    st=$(task state "$2")
    case "$st" in "$1"*) break ;; esac
    sleep 0.1; n=$((n + 1))
  done
  echo "$st"
}
task create s1 "$bundle" >/dev/null
pid1=$(task start s1)
pid1=${pid1#pid }
count_until -gt 5 >/dev/null
# what the container's init holds, seen from the host: after the restore it must hold the same
# fds, none of the maker's, the shim's or CRIU's
fds_of() { ls /proc/"$1"/fd 2>/dev/null | sort -n | tr '\n' ' '; }
fds_before=$(fds_of "${pid1:-0}")
task checkpoint s1 /tmp/img5 exit >/dev/null || { cat $s/err; dump_log "$bundle"; }
check "shim checkpoint --exit: the task stopped (killed by CRIU's dump)" "stopped" "$(state_until stopped s1 | cut -d' ' -f1)"
check "shim checkpoint --exit: its exit reached containerd" "/tasks/exit s1 137" "$(grep '^/tasks/exit s1' $s/events)"
at=$(count)
sleep 1
check "shim checkpoint --exit: nothing counts after it" "$at" "$(count)"
check "shim checkpoint: its CRIU work directory is gone" "gone" "$([ -e "$bundle/criu-work" ] || echo gone)"
task delete s1 >/dev/null
check "shim: the checkpointed task deletes" "gone" "$(task state s1 >/dev/null 2>&1 || echo gone)"
task create s2 "$bundle" /tmp/img5 >/dev/null
check "shim create from a checkpoint: created, restored only at Start" "created 0 0" "$(task state s2)"
pid=$(task start s2) || { cat $s/err; dump_log /tmp/img5; }
pid=${pid#pid }
check "shim Start restores it: running" "running $pid 0" "$(task state s2)"
check "shim restore: the restored init holds the fds it held at the checkpoint, no more" \
  "${fds_before:-none}" "$(fds_of "${pid:-0}")"
now=$(count_until -ne "${at:-0}")
check "shim restore: the count went on from the checkpoint" "yes (at $at, then $now)" \
  "$([ "${now:-0}" -gt "${at:-0}" ] && [ "${at:-0}" -gt 5 ] && echo yes) (at $at, then $now)"
# its parent must be the maker (the shim's child, and a subreaper), which reaps it and reports
# its exit; CRIU, its parent at the restore, has exited
cmd() { tr '\0' ' ' </proc/"$1"/cmdline 2>/dev/null; }
parent() { awk '/^PPid:/ {print $2}' /proc/"$1"/status 2>/dev/null; }
maker=$(parent "${pid:-0}")
check "shim restore: the restored init is the child of the shim's maker" "yes" \
  "$(cmd "${maker:-0}" | grep -q containerd-shim-vrun-v2 && cmd "$(parent "${maker:-0}")" | grep -q containerd-shim-vrun-v2 && echo yes)"
task kill s2 9 >/dev/null
check "shim restore: a kill's exit is reported" "stopped $pid 137" "$(state_until stopped s2)"
check "shim restore: its exit reached containerd" "/tasks/exit s2 137" "$(grep '^/tasks/exit s2' $s/events)"
task delete s2 >/dev/null
# a restore CRIU cannot make: Start's error names CRIU's log, kept in the bundle; the task
# deletes and leaves nothing
mkdir /tmp/no-images
task create s3 "$bundle" /tmp/no-images >/dev/null
out=$("$task_call" "$addr" start s3 2>&1)
echo "$out" >>$s/err
check "shim: a failed restore's error names CRIU's log, kept in the bundle" "yes" \
  "$(echo "$out" | grep -q "criu restore failed.*$bundle/criu-restore.log" && [ -s "$bundle/criu-restore.log" ] && echo yes)"
task delete s3 >/dev/null
check "shim: the task of a failed restore deletes" "gone" "$(task state s3 >/dev/null 2>&1 || echo gone)"
task shutdown s2 >/dev/null
n=0; while [ -S "${addr#unix://}" ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
check "shim: Shutdown ends it" "gone" "$([ -S "${addr#unix://}" ] || echo gone)"
check "shim: no container is left" "" "$("$vrun" --root /run/containerd/vrun/vmtest list -q 2>/dev/null)"
[ "$fail" -gt 0 ] && { echo "--- task_call's errors"; cat $s/err; echo "--- the shim's log"; cat $s/shim.log; }
kill $evpid $logpid 2>/dev/null

# 6. The same through a real containerd (Debian's 1.6, no CRI) and ctr: a container of
# containerd's (its rootfs a snapshot containerd mounts, its io containerd's fifos) on vrun's
# shim, checkpointed with `ctr containers checkpoint --task` (containerd pauses the task, has
# the shim checkpoint it, resumes it, and keeps the images in its content store), then removed
# and restored with `ctr containers restore --live` (containerd unpacks the images into the
# create's checkpoint directory).
if [ -n "$containerd" ]; then
  d=/tmp/ctrd
  mkdir -p $d
  cat >$d/config.toml <<TOML
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/sock"
[debug]
  level = "debug"
TOML
  C() { "$ctr" --address $d/sock --namespace vmtest "$@"; }
  # (ctr's --net-host binds the host's /etc/hosts and /etc/resolv.conf into the container)
  [ -e /etc/hosts ] || echo "127.0.0.1 localhost" >/etc/hosts
  [ -e /etc/resolv.conf ] || : >/etc/resolv.conf
  PATH=$(dirname "$shim"):$PATH "$containerd" --config $d/config.toml >$d/log 2>&1 &
  cpid=$!
  n=0; while ! C version >/dev/null 2>&1 && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
  C images import "$image_tar" >/dev/null 2>>$d/err
  # (the host's network namespace: see the bundle's above; the count in a file of the rootfs)
  C run -d --runtime io.containerd.vrun.v2 --snapshotter native --net-host localhost/vrun-busybox:latest c1 \
    sh -c 'i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.1; done' \
    >/dev/null 2>>$d/err
  # (the count as the container's rootfs has it: the snapshot the shim mounted in the bundle)
  ccount() { cat $d/state/io.containerd.runtime.v2.task/vmtest/c1/rootfs/count 2>/dev/null; }
  ccount_until() { # TEST N, as count_until
    n=0
    while [ $n -lt 60 ]; do
      c=$(ccount)
      [ -n "$c" ] && [ "$c" "$1" "$2" ] && break
      sleep 0.2; n=$((n + 1))
    done
    echo "$c"
  }
  check "containerd: ctr run on vrun's shim counts" "yes" "$([ "$(ccount_until -gt 5)" -gt 5 ] 2>/dev/null && echo yes)"
  timeout 90 "$ctr" --address $d/sock --namespace vmtest containers checkpoint --task c1 localhost/c1-checkpoint:1 >$d/out 2>>$d/err
  check "containerd: ctr containers checkpoint --task" "0" "$?"
  ps -o pid,ppid,stat,args | grep -v "ps -o" >$d/ps
  at=$(ccount)
  check "containerd: the task runs on after the checkpoint (containerd resumes it)" "yes" \
    "$([ "$(ccount_until -gt "${at:-0}")" -gt "${at:-0}" ] 2>/dev/null && echo yes)"
  check "containerd: the checkpoint is an image in its store" "localhost/c1-checkpoint:1" \
    "$(C images ls -q 2>>$d/err | grep -x localhost/c1-checkpoint:1)"
  C tasks kill -s KILL c1 2>>$d/err
  n=0; while [ "$(C tasks ls 2>/dev/null | awk '$1=="c1" {print $3}')" != STOPPED ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  C tasks delete c1 >/dev/null 2>>$d/err
  C containers delete c1 2>>$d/err
  C containers restore --live c1 localhost/c1-checkpoint:1 >$d/out 2>>$d/err
  check "containerd: ctr containers restore --live" "0" "$?"
  check "containerd: the restored task runs" "RUNNING" "$(C tasks ls 2>/dev/null | awk '$1=="c1" {print $3}')"
  # (the restore's rootfs is a fresh snapshot, without the count file: the first count the
  # restored loop writes is where it stood at the checkpoint, above 5; a new loop's is 1)
  now=$(ccount_until -gt 0)
  check "containerd: the restored count went on from the checkpoint (about $at), not from 1 (got $now)" "yes" \
    "$([ "${now:-0}" -gt 5 ] && echo yes)"
  C tasks kill -s KILL c1 2>>$d/err
  n=0; while [ "$(C tasks ls 2>/dev/null | awk '$1=="c1" {print $3}')" != STOPPED ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  C tasks delete c1 >/dev/null 2>>$d/err
  C containers delete c1 2>>$d/err
  check "containerd: no container is left" "" "$("$vrun" --root /run/containerd/vrun/vmtest list -q 2>/dev/null)"
  [ "$fail" -gt 0 ] && { echo "--- ctr's errors"; cat $d/err; echo "--- containerd's log"; grep -v "level=debug msg=\"\(event\|forward\)" $d/log | tail -40; echo "--- after the checkpoint"; cat $d/ps; for f in $(find $d/state -name 'criu-*.log'); do echo "--- $f"; tail -20 $f; done; }
  kill $cpid 2>/dev/null
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
