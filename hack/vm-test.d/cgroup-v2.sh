#!/bin/sh
# The cgroup v2 tests run inside the hack/vm-test guest (busybox sh, as PID 1's
# child, cgroup2 mounted at /sys/fs/cgroup with every controller enabled).
# hutch is driven directly; every check compares what hutch did with what the
# kernel shows. It stops at the first failed check, printing
# "VMTEST FAIL: why", and exits non-zero.

CG=/sys/fs/cgroup
ROOT=/run/hutch-vmtest
BUNDLES=/run/bundles
ROOTFS=/rootfs

fail() {
    echo "VMTEST FAIL: $*"
    exit 1
}
checks=0
ok() {
    checks=$((checks + 1))
    echo "ok - $*"
}
hutch() { /bin/hutch --root "$ROOT" "$@"; }

# expect FILE VALUE: FILE's content is VALUE.
expect() {
    got=$(cat "$1" 2>&1)
    [ "$got" = "$2" ] || fail "$1: expected \"$2\", got \"$got\""
    ok "$1 = $2"
}

# state_field ID FIELD: a string or number field of `hutch state ID`.
state_field() {
    hutch state "$1" | tr -d '\n' | sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# bundle NAME RESOURCES ARGS: a bundle whose config.json has
# linux.cgroupsPath /vmtest/NAME, linux.resources RESOURCES (JSON) and
# process.args ARGS (a JSON list).
bundle() {
    mkdir -p "$BUNDLES/$1"
    cat >"$BUNDLES/$1/config.json" <<JSON
{
  "ociVersion": "1.0.2",
  "process": {
    "user": { "uid": 0, "gid": 0 },
    "args": $3,
    "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
    "cwd": "/"
  },
  "root": { "path": "$ROOTFS" },
  "hostname": "vmtest",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] }
  ],
  "linux": {
    "cgroupsPath": "/vmtest/$1",
    "resources": $2,
    "namespaces": [ { "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" } ]
  }
}
JSON
}

# set_path NAME PATH: another linux.cgroupsPath for bundle NAME ("" removes it).
set_path() {
    if [ -z "$2" ]; then
        sed -i '/"cgroupsPath"/d' "$BUNDLES/$1/config.json"
    else
        sed -i "s#\"cgroupsPath\": \"[^\"]*\"#\"cgroupsPath\": \"$2\"#" "$BUNDLES/$1/config.json"
    fi
}

# with_cgroupns NAME: bundle NAME gets a cgroup namespace and a cgroup mount
# at /sys/fs/cgroup.
with_cgroupns() {
    sed -i -e 's#{ "type": "mount" } \]#{ "type": "mount" }, { "type": "cgroup" } ]#' \
        -e 's#"nodev", "ro"\] }#"nodev", "ro"] },\n    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"] }#' \
        "$BUNDLES/$1/config.json"
}

# refused NAME WORDS...: create NAME fails with one line on stderr holding
# every word, and leaves no state and no cgroup.
refused() {
    name=$1
    shift
    if hutch create -b "$BUNDLES/$name" "$name" 2>/run/err; then
        hutch delete --force "$name"
        fail "create $name succeeded"
    fi
    echo "  $name: $(cat /run/err)"
    [ "$(wc -l </run/err)" = 1 ] || fail "create $name: expected one error line"
    for w in "$@"; do
        grep -qF -- "$w" /run/err || fail "create $name: the error lacks \"$w\""
    done
    [ ! -e "$ROOT/$name" ] || fail "$ROOT/$name left behind by a failed create"
    left=$(find "$CG" -mindepth 1 -type d -name "$name")
    [ -z "$left" ] || fail "$left left behind by a failed create"
    ok "create $name refused, nothing left"
}

# wait_for CMD...: retry CMD for up to 10 s.
wait_for() {
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || return 1
        sleep 0.1
    done
}

echo "controllers: $(cat $CG/cgroup.controllers)"
echo "enabled: $(cat $CG/cgroup.subtree_control)"
mkdir -p "$ROOT"

# --- limits land in the container's cgroup -------------------------------------
bundle lim '{
      "memory": { "limit": 67108864, "reservation": 33554432, "swap": 100663296 },
      "pids": { "limit": 10 },
      "cpu": { "quota": 50000, "period": 100000, "cpus": "0", "mems": "0", "shares": 1024 },
      "blockIO": { "weight": 500 },
      "hugepageLimits": [ { "pageSize": "2MB", "limit": 4194304 } ],
      "unified": { "memory.high": "50331648", "memory.oom.group": "1" }
    }' '["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >/tmp/lim-counter; sleep 0.05; done"]'
hutch create -b "$BUNDLES/lim" lim || fail "create lim"
d=$CG/vmtest/lim
[ -d "$d" ] || fail "$d missing after create"
expect "$d/memory.max" 67108864
expect "$d/pids.max" 10
expect "$d/cpu.max" "50000 100000"
expect "$d/cpu.weight" 39
expect "$d/cpuset.cpus" 0
expect "$d/cpuset.mems" 0
# swap is memory+swap in the config, swap alone in memory.swap.max.
expect "$d/memory.swap.max" 33554432
expect "$d/memory.low" 33554432
expect "$d/memory.high" 50331648
expect "$d/memory.oom.group" 1
if [ -e "$d/io.weight" ]; then
    # blkio 10..1000 to io 1..10000, as runc: 1 + (500 - 10) * 9999 / 990.
    expect "$d/io.weight" "default 4950"
else
    echo "  (no io.weight: this kernel has neither iocost nor bfq)"
fi
if [ -e "$d/hugetlb.2MB.max" ]; then
    expect "$d/hugetlb.2MB.max" 4194304
    [ ! -e "$d/hugetlb.2MB.rsvd.max" ] || expect "$d/hugetlb.2MB.rsvd.max" 4194304
else
    echo "  (no hugetlb.2MB.max: no hugetlb controller)"
fi
pid=$(state_field lim pid)
[ -n "$pid" ] && [ "$pid" -gt 0 ] || fail "no init pid in hutch state lim"
grep -qx "$pid" "$d/cgroup.procs" || fail "init $pid not in $d/cgroup.procs ($(cat "$d/cgroup.procs"))"
ok "init $pid in $d/cgroup.procs (before start)"
expect "/proc/$pid/cgroup" "0::/vmtest/lim"
hutch start lim || fail "start lim"
wait_for test -s "$ROOTFS/tmp/lim-counter" || fail "lim does not count"
[ "$(state_field lim status)" = running ] || fail "lim not running after start"
ok "lim running"

# --- update -----------------------------------------------------------------------
hutch update --pids-limit 20 --memory 134217728 lim || fail "update lim"
expect "$d/pids.max" 20
expect "$d/memory.max" 134217728
# cpu.max holds quota and period together: one alone keeps the other.
hutch update --cpu-period 200000 lim || fail "update --cpu-period"
expect "$d/cpu.max" "50000 200000"
hutch update --cpu-quota 30000 lim || fail "update --cpu-quota"
expect "$d/cpu.max" "30000 200000"
hutch update --cpu-share 512 --memory-reservation 16777216 lim || fail "update --cpu-share"
expect "$d/cpu.weight" 20
expect "$d/memory.low" 16777216
echo '{"pids": {"limit": 30}, "unified": {"memory.high": "max"}}' >/run/res.json
hutch update -r /run/res.json lim || fail "update -r"
expect "$d/pids.max" 30
expect "$d/memory.high" max

# --- exec'd processes start in the container's cgroup --------------------------------
got=$(hutch exec lim cat /proc/self/cgroup) || fail "exec lim"
[ "$got" = "0::/vmtest/lim" ] || fail "exec'd process in $got"
ok "exec'd process in 0::/vmtest/lim"
# exec --cgroup: an existing sub-cgroup of the container's, found beneath it.
mkdir "$CG/vmtest/lim/sub"
got=$(hutch exec --cgroup sub lim cat /proc/self/cgroup) || fail "exec --cgroup sub lim"
[ "$got" = "0::/vmtest/lim/sub" ] || fail "exec --cgroup sub: process in $got"
hutch exec --cgroup ../.. lim true 2>/dev/null && fail "exec --cgroup ../.. was not refused"
ok "exec --cgroup sub: process in $got; ../.. refused"

# --- events --stats reads the v2 files ----------------------------------------------
stats=$(hutch events --stats lim) || fail "events --stats lim"
echo "$stats" | grep -q '"limit": *134217728' || fail "events --stats lacks the memory limit: $stats"
echo "$stats" | grep -q '"pids": *{ *"current": *[1-9]' || fail "events --stats lacks pids.current: $stats"
ok "events --stats shows the memory limit and pids"

# --- pause / resume through cgroup.freeze ------------------------------------------
hutch pause lim || fail "pause lim"
expect "$d/cgroup.freeze" 1
grep -qx "frozen 1" "$d/cgroup.events" || fail "cgroup.events does not say frozen 1"
ok "cgroup.events frozen 1"
st=$(state_field lim status)
[ "$st" = paused ] || fail "state says $st while frozen, expected paused"
ok "state paused"
# The init counts in a file (of the shared rootfs): frozen, it stops counting.
c1=$(cat "$ROOTFS/tmp/lim-counter")
sleep 0.5
c2=$(cat "$ROOTFS/tmp/lim-counter")
[ "$c1" = "$c2" ] || fail "the counter advanced while frozen ($c1 -> $c2)"
ok "counter stays at $c1 while frozen"
hutch resume lim || fail "resume lim"
expect "$d/cgroup.freeze" 0
st=$(state_field lim status)
[ "$st" = running ] || fail "state says $st after resume, expected running"
ok "state running after resume"
advanced() { [ "$(cat "$ROOTFS/tmp/lim-counter")" != "$c2" ]; }
wait_for advanced || fail "the counter does not advance after resume"
ok "counter advances after resume"

# --- delete --force removes the cgroup, paused or not --------------------------------
hutch pause lim || fail "pause lim (before delete)"
hutch delete --force lim || fail "delete --force lim"
[ ! -e "$d" ] || fail "$d still there after delete --force"
ok "delete --force of a paused container removed $d"
[ ! -e "/proc/$pid" ] || fail "init $pid still alive after delete --force"
ok "init $pid gone"

# --- pids.max is enforced -----------------------------------------------------------
# An inner shell forks sleeps until the kernel refuses (ash then exits); the
# outer one stays, exec'ing sleep (no fork), so the container keeps running.
bundle forky '{ "pids": { "limit": 5 } }' \
    '["sh", "-c", "sh -c \"while :; do sleep 1000 & done\"; exec sleep 1000"]'
hutch create -b "$BUNDLES/forky" forky || fail "create forky"
hutch start forky || fail "start forky"
d=$CG/vmtest/forky
forks_refused() { ! grep -qx "max 0" "$d/pids.events"; }
wait_for forks_refused || fail "pids.events shows no refused fork: $(cat "$d/pids.events")"
ok "pids.events: $(cat "$d/pids.events")"
# A process that is exiting (the inner shell, a refused fork's parent) still
# counts in pids.current after it has left cgroup.procs: read both until
# they agree.
ps_agrees() {
    cur=$(cat "$d/pids.current")
    n=$(hutch ps --format json forky | tr ',' '\n' | grep -c '[0-9]')
    [ "$n" = "$cur" ]
}
wait_for ps_agrees || fail "hutch ps lists $n processes, pids.current says $cur"
[ "$cur" -gt 0 ] && [ "$cur" -le 5 ] || fail "pids.current is $cur, expected 1..5 (limit 5)"
ok "pids.current $cur <= 5"
[ "$(state_field forky status)" = running ] || fail "forky not running"
ok "hutch ps lists $n processes"
hutch delete --force forky || fail "delete --force forky"
[ ! -e "$d" ] || fail "$d still there after delete --force"
ok "forky deleted"

# --- memory.max is enforced: a hog is OOM-killed --------------------------------------
# tail keeps the whole line-less stream from /dev/zero in memory.
bundle hog '{ "memory": { "limit": 33554432 } }' \
    '["sh", "-c", "head -c 200000000 /dev/zero | tail -n 1 > /dev/null; sleep 1000"]'
hutch create -b "$BUNDLES/hog" hog || fail "create hog"
hutch start hog || fail "start hog"
d=$CG/vmtest/hog
oom_killed() { ! grep -qx "oom_kill 0" "$d/memory.events"; }
wait_for oom_killed || fail "no OOM kill in memory.events: $(tr '\n' ' ' <"$d/memory.events")"
ok "memory.events: $(grep oom_kill "$d/memory.events")"
peak=$(cat "$d/memory.peak" 2>/dev/null || echo n/a)
echo "memory.peak: $peak"
hutch delete --force hog || fail "delete --force hog"
[ ! -e "$d" ] || fail "$d still there after delete --force"

# --- no cgroupsPath: the default /<id>, as crun's, removed at delete ------------------
bundle dflt '{ "pids": { "limit": 7 } }' '["sleep", "1000"]'
set_path dflt ""
hutch create -b "$BUNDLES/dflt" dflt || fail "create dflt"
hutch create -b "$BUNDLES/dflt" dflt2 || fail "create dflt2"
expect "$CG/dflt/pids.max" 7
pid=$(state_field dflt pid)
expect "/proc/$pid/cgroup" "0::/dflt"
hutch delete --force dflt || fail "delete --force dflt"
[ ! -e "$CG/dflt" ] || fail "$CG/dflt left behind by delete --force"
[ -d "$CG/dflt2" ] || fail "$CG/dflt2 went with dflt"
ok "default path $CG/dflt removed, $CG/dflt2 kept"
# runtime.md: deleting a container that is not stopped (created is not) fails.
! hutch delete dflt2 2>/dev/null || fail "delete of created dflt2 without --force succeeded"
hutch kill dflt2 KILL || fail "kill dflt2"
dflt2_stopped() { [ "$(state_field dflt2 status)" = stopped ]; }
wait_for dflt2_stopped || fail "dflt2 not stopped after kill"
hutch delete dflt2 || fail "delete dflt2 (stopped)"
[ ! -e "$CG/dflt2" ] || fail "$CG/dflt2 left behind after delete"
ok "default path $CG/dflt2 removed with its container"
# An ID that names a control file of the root is refused, and nothing is written.
bundle procs '{}' '["true"]'
set_path procs ""
! hutch create -b "$BUNDLES/procs" cgroup.procs 2>/tmp/procs.err || fail "create with ID cgroup.procs succeeded"
grep -q "control file" /tmp/procs.err || fail "no 'control file' in: $(cat /tmp/procs.err)"
ok "ID cgroup.procs refused: $(cat /tmp/procs.err)"

# --- a relative cgroupsPath is below the caller's cgroup ------------------------------
# The caller sits in /caller, so /caller may not enable controllers for its
# children (cgroup v2's no-internal-processes rule): a container without
# limits works there, one with limits is refused with the reason.
mkdir "$CG/caller"
in_caller() { sh -c "echo \$\$ >$CG/caller/cgroup.procs && exec /bin/hutch --root $ROOT $*"; }
bundle rel '{}' '["sleep", "1000"]'
set_path rel "rel/c"
in_caller create -b "$BUNDLES/rel" rel || fail "create rel"
pid=$(state_field rel pid)
expect "/proc/$pid/cgroup" "0::/caller/rel/c"
hutch delete --force rel || fail "delete rel"
[ ! -e "$CG/caller/rel" ] || fail "$CG/caller/rel (made by create rel) left behind"
ok "$CG/caller/rel/c and the parent it made removed"
bundle relpids '{ "pids": { "limit": 5 } }' '["true"]'
set_path relpids "rel/p"
if in_caller create -b "$BUNDLES/relpids" relpids 2>/run/err; then
    hutch delete --force relpids
    fail "create relpids succeeded without a pids controller"
fi
echo "  relpids: $(cat /run/err)"
grep -q "has processes of its own" /run/err || fail "relpids: the error does not say why"
[ ! -e "$CG/caller/rel" ] || fail "$CG/caller/rel left behind by a failed create"
ok "limits below a cgroup with processes: refused, saying why, nothing left"
rmdir "$CG/caller" || fail "cannot remove $CG/caller"

# --- a cgroup namespace: the container is at / and its cgroup mount shows its files ---
bundle ns '{ "pids": { "limit": 17 } }' \
    '["sh", "-c", "cat /proc/self/cgroup; cat /sys/fs/cgroup/pids.max; cat /sys/fs/cgroup/cgroup.procs | tr \"\\n\" \" \"; echo; grep \" /sys/fs/cgroup \" /proc/self/mountinfo"]'
with_cgroupns ns
out=$(hutch run -b "$BUNDLES/ns" ns) || fail "run ns: $out"
echo "$out" | sed 's/^/  ns| /'
[ "$(echo "$out" | sed -n 1p)" = "0::/" ] || fail "ns: /proc/self/cgroup is not 0::/"
ok "ns: /proc/self/cgroup is 0::/"
[ "$(echo "$out" | sed -n 2p)" = 17 ] || fail "ns: /sys/fs/cgroup/pids.max is not its own (17)"
ok "ns: /sys/fs/cgroup/pids.max is the container's 17"
echo "$out" | sed -n 3p | grep -qw 1 || fail "ns: its own init (pid 1) not in /sys/fs/cgroup/cgroup.procs"
ok "ns: /sys/fs/cgroup/cgroup.procs lists its init as 1"
echo "$out" | sed -n 4p | grep -q ' / /sys/fs/cgroup ro,.* - cgroup2 ' ||
    fail "ns: /sys/fs/cgroup is not a read-only cgroup2 mount rooted at /"
ok "ns: /sys/fs/cgroup is cgroup2, read-only, rooted at its cgroup"
[ ! -e "$CG/vmtest/ns" ] || fail "$CG/vmtest/ns left after run"

# --- the init is cloned into its cgroup (CLONE_INTO_CGROUP) --------------------------
# With pids.max 0 nothing may be forked into the cgroup: a clone straight
# into it fails, where a fork elsewhere then a move would have worked.
bundle into '{ "unified": { "pids.max": "0" } }' '["true"]'
refused into "clone3" "pids.max"

# --- no runtime fd is open at the program's execve ------------------------------------
# The init and exec'd processes are cloned into the cgroup through an fd of its
# directory, a host directory: it must be closed before anything of the
# container runs, since a shebang or PT_INTERP of /proc/self/fd/N/.. is
# resolved while close-on-exec fds are still open. The debug build stops
# each right before its execve (HUTCH_TEST_PAUSE_AT=program-exec); the only
# directory it may hold then is the program's own, /bin of the rootfs. No PID
# namespace: its init would ignore its own SIGSTOP.
# no_dir_fds PID WHO: fail if PID holds a directory fd other than /bin's.
no_dir_fds() {
    bin=$(stat -L -c %d:%i "$ROOTFS/bin")
    for f in /proc/$1/fd/*; do
        [ -d "$f" ] || continue
        [ "$(stat -L -c %d:%i "$f")" = "$bin" ] && continue
        fail "$2: fd ${f##*/} open at the execve is a directory: $(readlink "$f")"
    done
    ok "$2: no runtime directory fd at the execve"
}
stopped() { grep -q '^State:.*T' "/proc/$1/status"; }
bundle fds '{}' '["/bin/sleep", "1000"]'
sed -i 's/{ "type": "pid" }, //' "$BUNDLES/fds/config.json"
HUTCH_TEST_PAUSE_AT=program-exec hutch create -b "$BUNDLES/fds" fds || fail "create fds"
pid=$(state_field fds pid)
# start returns once the program is exec'd, after the pause: in the background.
/bin/hutch --root "$ROOT" start fds 2>/run/start.err &
starter=$!
wait_for stopped "$pid" || fail "fds: the init never stopped before its execve (a release build?)"
no_dir_fds "$pid" "init"
kill -CONT "$pid"
wait "$starter" || fail "start fds: $(cat /run/start.err)"
# The binary itself, not the hutch function: $! must be its PID.
HUTCH_TEST_PAUSE_AT=program-exec /bin/hutch --root "$ROOT" exec fds /bin/true 2>/run/exec.err &
execer=$!
wait_for grep -q . "/proc/$execer/task/$execer/children" ||
    fail "fds: exec made no process: $(cat /run/exec.err)"
child=$(cut -d' ' -f1 "/proc/$execer/task/$execer/children")
wait_for stopped "$child" ||
    fail "fds: the exec'd process $child never stopped before its execve: $(cat /run/exec.err)"
no_dir_fds "$child" "exec"
kill -CONT "$child"
wait "$execer" || fail "fds: exec of /bin/true failed"
hutch delete --force fds || fail "delete --force fds"

# --- devices default closed (issue 15 item 1) ----------------------------------------
# No linux.resources at all, CAP_MKNOD given: the eBPF program still denies
# every device but runc's defaults. The container makes a node for /dev/kmsg
# (c 1:11), which it may not open (for writing: no capability needed, only
# the device program can refuse); /dev/null it may.
bundle devs '{}' '["sh", "-c", "mknod /dev/hk c 1 11 && echo mknod=ok; e=$( (: >/dev/hk) 2>&1) && echo kmsg=open || echo kmsg=$e; e=$( (echo x >/dev/null) 2>&1) && echo null=ok || echo null=$e"]'
sed -i -e '/"resources":/d' \
    -e 's#"cwd": "/"#"cwd": "/", "capabilities": { "bounding": ["CAP_MKNOD"], "effective": ["CAP_MKNOD"], "permitted": ["CAP_MKNOD"] }#' \
    "$BUNDLES/devs/config.json"
out=$(hutch run -b "$BUNDLES/devs" devs 2>&1) || fail "run devs: $out"
echo "$out" | sed 's/^/  devs| /'
echo "$out" | grep -qx "mknod=ok" || fail "devs: mknod of c 1 11 failed with CAP_MKNOD"
echo "$out" | grep -q "^kmsg=.*not permitted" || fail "devs: /dev/kmsg (c 1:11) not refused with EPERM"
ok "devs: c 1:11 refused without device rules"
echo "$out" | grep -qx "null=ok" || fail "devs: /dev/null not writable"
ok "devs: /dev/null still open"
[ ! -e "$CG/vmtest/devs" ] || fail "$CG/vmtest/devs left after run"

# --- a container nesting its own cgroups 2000 deep (issue 18) -----------------------
# With a cgroup namespace and a read-write cgroup mount (as podman gives systemd
# containers) a container nests sub-cgroups below its own: 2000 levels named
# "level", 12 KB of path, beyond PATH_MAX. It moves `sleep 314159` into the
# deepest one and freezes that one itself. ps, kill --all and delete --force
# walk the tree by directory fds, here with at most 64 fds open (ulimit -n).
# ash's `cd -P` reads the cwd back with getcwd, which beyond PATH_MAX climbs
# the chain: 20 cd's of 100 levels each.
deep_script='c=level; i=1; while [ $i -lt 100 ]; do c=$c/level; i=$((i+1)); done; cd -P /sys/fs/cgroup || exit 1; n=0; while [ $n -lt 20 ]; do mkdir -p $c && cd -P $c || exit 1; n=$((n+1)); done; sleep 314159 & echo $! >cgroup.procs && echo 1 >cgroup.freeze && cd / && echo ready >/tmp/deep-ready && exec sleep 1000'
bundle deep '{}' "[\"sh\", \"-c\", \"$deep_script\"]"
with_cgroupns deep
sed -i '/"destination": "\/sys\/fs\/cgroup"/s/"ro"\]/"rw"]/' "$BUNDLES/deep/config.json"
grep -q '"/sys/fs/cgroup", "type": "cgroup".*"rw"' "$BUNDLES/deep/config.json" || fail "deep: no rw cgroup mount in its config"
few_fds() { (ulimit -n 64 && exec /bin/hutch --root "$ROOT" "$@"); }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
# dead PID: no such process, or a zombie.
dead() { ! grep -q '^State:[[:space:]]*[^Z]' "/proc/$1/status" 2>/dev/null; }
# start_deep ID: start a deep container, set $init and $deep (host PIDs).
start_deep() {
    rm -f "$ROOTFS/tmp/deep-ready"
    t0=$(uptime_s)
    hutch create -b "$BUNDLES/deep" "$1" || fail "create $1"
    hutch start "$1" || fail "start $1"
    i=0
    while [ ! -e "$ROOTFS/tmp/deep-ready" ]; do
        i=$((i + 1))
        [ "$i" -lt 1200 ] && [ "$(state_field "$1" status)" = running ] || fail "$1 never nested its cgroups"
        sleep 0.1
    done
    echo "  $1: 2000 levels nested in $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')s"
    init=$(state_field "$1" pid)
    deep=
    for p in /proc/[0-9]*; do
        [ "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" = "sleep 314159 " ] && deep=${p#/proc/}
    done
    [ -n "$deep" ] || fail "$1: no process sleep 314159"
    awk 'length($0) > 4096 { n++ } END { exit !n }' "/proc/$deep/cgroup" ||
        fail "$1: the deep process's cgroup is not beyond PATH_MAX: $(wc -c <"/proc/$deep/cgroup") bytes"
    ok "$1: $deep is 2000 cgroups down, beyond PATH_MAX"
}
start_deep deep1
json=$(few_fds ps --format json deep1) || fail "ps deep1"
for p in "$init" "$deep"; do
    echo "$json" | tr -d '[] ' | tr ',' '\n' | grep -qx "$p" || fail "ps deep1 lacks $p: $json"
done
ok "ps deep1 lists the init $init and the deep $deep"
few_fds kill --all deep1 KILL || fail "kill --all deep1 KILL"
wait_for dead "$deep" || fail "kill --all left the deep $deep alive"
wait_for dead "$init" || fail "kill --all left the init $init alive"
ok "kill --all deep1 KILL killed them all"
few_fds delete deep1 || fail "delete deep1"
[ ! -e "$CG/vmtest/deep1" ] || fail "$CG/vmtest/deep1 left after delete"
[ ! -e "$ROOT/deep1" ] || fail "$ROOT/deep1 left after delete"
ok "delete deep1 removed its 2000 levels"
start_deep deep2
t0=$(uptime_s)
few_fds delete --force deep2 || fail "delete --force deep2"
echo "  delete --force of 2000 levels: $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.2f", b - a }')s"
dead "$deep" || fail "delete --force left the deep $deep alive"
dead "$init" || fail "delete --force left the init $init alive"
[ ! -e "$CG/vmtest/deep2" ] || fail "$CG/vmtest/deep2 left after delete --force"
[ ! -e "$ROOT/deep2" ] || fail "$ROOT/deep2 left after delete --force"
ok "delete --force deep2: no process, no cgroup, no state"
rm -f "$ROOTFS/tmp/deep-ready"

# --- bad values: a clear error and nothing left behind -------------------------------
bundle bad-cpus '{ "cpu": { "cpus": "7-99" } }' '["true"]'
refused bad-cpus linux.resources.cpu.cpus "does not exist"
bundle bad-mems '{ "cpu": { "mems": "5" } }' '["true"]'
refused bad-mems linux.resources.cpu.mems
bundle bad-unified '{ "unified": { "memory.nosuchfile": "1" } }' '["true"]'
refused bad-unified linux.resources.unified memory.nosuchfile
bundle bad-rt '{ "cpu": { "realtimeRuntime": 1000 } }' '["true"]'
refused bad-rt realtimeRuntime "cgroup v2"
bundle bad-swap '{ "memory": { "swap": 100000000 } }' '["true"]'
refused bad-swap memory.swap memory.limit
bundle bad-dev '{ "devices": [ { "allow": false }, { "allow": true, "type": "c", "major": 1 },
    { "allow": false, "type": "c", "major": 1, "minor": 3 } ] }' '["true"]'
refused bad-dev "linux.resources.devices[2]"

# /vmtest went with the container whose create made it.
left=$(find "$CG" -mindepth 1 -type d)
[ -z "$left" ] || fail "cgroups left behind: $left"
[ -z "$(ls "$ROOT")" ] || fail "state left behind: $(ls "$ROOT")"
echo "cgroup-v2.sh: all $checks checks passed"
