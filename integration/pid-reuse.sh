#!/bin/bash
# PID-reuse scenario for the lifecycle tests, run by lifecycle.rs as
#   unshare --pid --fork --mount-proc --kill-child bash pid-reuse.sh
# so that this bash is PID 1 of a private PID namespace: it reaps the
# orphaned container init, PIDs are small, and ns_last_pid steers the next one.
#
# Env: RUNTIME ROOT BUNDLE ID SCRATCH. Prints key=value lines for the test.
set -u

rt() { "$RUNTIME" --root "$ROOT" "$@"; }
fail() { echo "fail=$*"; exit 1; }
# One line of `state` JSON field $1 (a number or a string).
field() { rt state "$ID" 2>/dev/null | tr -d ' \n' | sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"; }
# State letter of a process, empty if it does not exist.
pstate() { sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null; }

[ "$$" = 1 ] || fail "not PID 1 of a new PID namespace"

rt create --bundle "$BUNDLE" "$ID" >"$SCRATCH/container.out" 2>&1 </dev/null || fail create
rt start "$ID" || fail start
P=$(field pid)
echo "pid=$P"
[ -n "$P" ] && [ "$P" -gt 0 ] || fail "no pid in state"

# Kill the container's init behind the runtime's back; being PID 1, this bash
# reaps it.
kill -9 "$P"
for _ in $(seq 500); do [ -e "/proc/$P" ] || break; sleep 0.01; done
[ -e "/proc/$P" ] && fail "pid $P still exists ($(pstate "$P"))"

# Give an unrelated process the same PID.
S=
for _ in $(seq 20); do
    echo $((P - 1)) >/proc/sys/kernel/ns_last_pid
    sleep 1000 &
    S=$!
    [ "$S" = "$P" ] && break
    kill "$S"
    wait "$S"
done
echo "reused=$S"
[ "$S" = "$P" ] || fail "could not get pid $P again"

rt kill "$ID" KILL >"$SCRATCH/kill.out" 2>"$SCRATCH/kill.err"
echo "kill_rc=$?"
echo "kill_err=$(tr '\n' ' ' <"$SCRATCH/kill.err")"
sleep 0.2 # a wrongly sent SIGKILL takes effect asynchronously
echo "after_kill=$(pstate "$S")"
echo "status=$(field status)"

rt delete --force "$ID" >/dev/null 2>"$SCRATCH/delete.err"
echo "delete_rc=$?"
sleep 0.2
echo "after_delete=$(pstate "$S")"
kill "$S" 2>/dev/null
echo "done=1"
