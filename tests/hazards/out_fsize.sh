#!/bin/bash
# tests/hazards/out_fsize.sh: a file size limit (ulimit -f) smaller than a profile.
#
# Writing past RLIMIT_FSIZE raises SIGXFSZ in the writing thread, and its default action
# kills the process (status 128+25): heapprof's dump must never do that to the program it
# profiles. tests/progs/out_stacks (rate=1, 2^10 stacks: profiles of about 8 KB) runs under
# `ulimit -f 4` (4 KB), its dumps made
#   - by the helper thread (SIGUSR1),
#   - at exit, in the main thread (the library's destructor),
#   - by heapprof_dump() in the main thread,
# and with the program's own SIGXFSZ disposition: a handler that counts its calls, or
# SIG_IGN. Each time: the program exits 0 with the stdout it has without heapprof (under the
# same limit: with --xfsz that includes the disposition at the end, the handler's call
# count and the result of a 64 KiB write of its own, so a SIGXFSZ caused by heapprof that
# reached the program's handler shows as one call too many); exactly one heapprof: message,
# saying "File too large" and "ulimit -f"; no profile and no temporary file left.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/out_lib.sh"

need_env
need_tool timeout
need_prog out_stacks

LIMIT_KB=4
BITS=10

# run_limited DIR [plain] -- ENV... -- ARGS...: out_stacks in DIR (created empty) under
# ulimit -f $LIMIT_KB, stdout DIR.out, stderr DIR.err; with "plain" without the library.
# Runs in the background: sets $bg.
run_limited() {
	local d=$1 mode=preload
	shift
	if [ "$1" = plain ]; then
		mode=plain
		shift
	fi
	shift	# --
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	rm -rf "$d"
	mkdir -p "$d"
	if [ "$mode" = plain ]; then
		(cd "$d" && ulimit -c 0 && ulimit -f "$LIMIT_KB" &&
			exec timeout "$OUT_TIMEOUT" "$OS" --bits "$BITS" "$@") >"$d.out" 2>"$d.err" &
	else
		(cd "$d" && ulimit -c 0 && ulimit -f "$LIMIT_KB" &&
			exec timeout "$OUT_TIMEOUT" env LD_PRELOAD="$HP_LIB" "${envs[@]}" \
			"$OS" --bits "$BITS" "$@") >"$d.out" 2>"$d.err" &
	fi
	bg=$!
}

# check_case LABEL DIR STATUS [API_DUMPS]: the checks common to every case.
check_case() {
	local label=$1 d=$2 st=$3 ndumps=${4:-0}
	status_is "$label" "$st" 0
	same_output "$label" "$d.out" "$d.ref"
	only_hp_on_stderr "$d.err" "$label"
	one_message "$label" "$d.err" "File too large" "ulimit -f" "$d/p."
	local left
	left=$(find "$d" -maxdepth 1 -name 'p.*' -printf '%f ')
	[ -z "$left" ]
	ok $? "$label: no profile and no temporary file left (a partial profile would be over the limit)" ||
		diag "found: $left"
	if [ "$ndumps" -gt 0 ]; then
		diag "heapprof_dump results: $(tr '\n' ';' <"$d/log" 2>/dev/null)"
		[ "$(grep -c ': -27 (File too large)$' "$d/log" 2>/dev/null)" -eq "$ndumps" ]
		ok $? "$label: heapprof_dump returned -EFBIG $ndumps times"
	fi
}

# case LABEL NAME HEAPPROF ARGS...: reference run, then the run under the library.
case_run() {
	local label=$1 name=$2 hp=$3 d=$tmp/$2
	shift 3
	run_limited "$tmp/ref-$name" plain -- -- "$@"
	wait "$bg"
	status_is "$label, without heapprof" $? 0 || diag_file "$tmp/ref-$name.err"
	run_limited "$d" -- HEAPPROF="$hp" -- "$@"
	wait "$bg"
	local st=$?
	cp "$tmp/ref-$name.out" "$d.ref"
	check_case "$label" "$d" "$st" "${API_DUMPS:-0}"
}

# --- the exit profile (main thread, library destructor) ----------------------------------
case_run "exit dump" exit "prefix=p,rate=1"

# --- heapprof_dump() (main thread) -------------------------------------------------------
API_DUMPS=2 case_run "API dumps" api "prefix=p,rate=1,at_exit=0" --dumps 2 --dump-log log

# --- SIGUSR1 (helper thread) -------------------------------------------------------------
d=$tmp/sig
run_limited "$tmp/ref-sig" plain -- -- --ready ready --wait-end go
touch "$tmp/ref-sig/go"
wait "$bg"
status_is "SIGUSR1 dump, without heapprof" $? 0
run_limited "$d" -- HEAPPROF="prefix=p,rate=1,at_exit=0" -- --pidfile pid --ready ready \
	--wait-end go
pid=
wait_for_file "$d/ready" 10 >/dev/null && pid=$(cat "$d/pid")
[ -n "$pid" ]
ok $? "SIGUSR1 dump: out_stacks started and allocated (pid ${pid:-none})"
if [ -n "$pid" ]; then
	kill -USR1 "$pid"
	# the dump is over when its message is out (or the program died)
	for _ in $(seq 1 500); do
		grep -q '^heapprof: cannot write' "$d.err" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
fi
touch "$d/go"
wait "$bg"
st=$?
cp "$tmp/ref-sig.out" "$d.ref"
rm -f "$d/pid" "$d/go" "$d/ready"
check_case "SIGUSR1 dump" "$d" "$st"

# --- the program's own SIGXFSZ disposition is left alone -------------------------------------
for disp in handler ignore; do
	API_DUMPS=2 case_run "SIGXFSZ $disp, API and exit dumps" "x$disp" "prefix=p,rate=1" \
		--dumps 2 --dump-log log --xfsz "$disp" --own-write own
	diag "program's report: $(sed -n 2p "$tmp/x$disp.out")"
	rm -f "$tmp/x$disp/own" "$tmp/ref-x$disp/own"
done

# The handler case once more with a SIGUSR1 dump (the helper thread) as well.
d=$tmp/xsig
run_limited "$tmp/ref-xsig" plain -- -- --ready ready --wait-end go --xfsz handler \
	--own-write own
touch "$tmp/ref-xsig/go"
wait "$bg"
status_is "SIGXFSZ handler, SIGUSR1 and exit dumps, without heapprof" $? 0
run_limited "$d" -- HEAPPROF="prefix=p,rate=1" -- --pidfile pid --ready ready --wait-end go \
	--xfsz handler --own-write own
pid=
wait_for_file "$d/ready" 10 >/dev/null && pid=$(cat "$d/pid")
[ -n "$pid" ]
ok $? "SIGXFSZ handler, SIGUSR1: out_stacks started and allocated (pid ${pid:-none})"
if [ -n "$pid" ]; then
	kill -USR1 "$pid"
	for _ in $(seq 1 500); do
		grep -q '^heapprof: cannot write' "$d.err" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
fi
touch "$d/go"
wait "$bg"
st=$?
cp "$tmp/ref-xsig.out" "$d.ref"
rm -f "$d/pid" "$d/go" "$d/own" "$d/ready"
check_case "SIGXFSZ handler, SIGUSR1 and exit dumps" "$d" "$st"
diag "program's report: $(sed -n 2p "$d.out")"

done_testing
