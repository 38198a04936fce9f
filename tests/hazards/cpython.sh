#!/bin/bash
# tests/hazards/cpython.sh (make stress): CPython's own regression tests (Debian's
# libpython3.11-testsuite, run by /usr/bin/python3.11, never a pyenv python) under
# LD_PRELOAD=libheapprof.so at HEAPPROF=rate=1 (every allocation recorded, unwound and
# later freed through its record), with PYTHONMALLOC=malloc so that every Python object
# goes through our malloc. The same modules run first without the library: each module's
# result (regrtest's status word, and the number of test cases, failed cases and skipped
# cases in its --junit-xml) must be identical, and all must pass.
#
# The modules: process creation (fork, fork from a thread, posix_spawn, subprocess, pty,
# wait3/4, os.popen), threads (threading, _thread, queue, thread-locals, atexit), and the
# allocation-heavy object machinery (dict, gc, exceptions, traceback, collections, ctypes,
# struct, array, marshal, typing, zlib, gzip, mmap, tempfile, sys). About 35 s without the
# library and 3 to 4 minutes with it on 2 cores (regrtest -j2). Chosen because they passed
# every time without the library here, need no network, tty or extra resources (-u), and
# fit the time: test_signal, test_concurrent_futures, test_multiprocessing_* and test_io
# take minutes even without the library.
#
# Also checked:
# - the library was really loaded: exit profiles were written (HEAPPROF=prefix=$tmp/py/p),
#   the main process's among them and at least one per module (each -j2 worker process
#   runs one module), never two exit profiles for one pid, all pass gzip -t, and go tool
#   pprof reads three of them (the main process's and the two largest others) with the right
#   pid and rate and Python's own function names;
# - no process is left behind by either run: both run under tests/hazards/san_reaper.py, a
#   child subreaper, so every orphaned descendant becomes its child whatever its session;
#   those still alive 5 s after regrtest ended are listed and killed. A process kept alive
#   by the library after its last application thread ended shows here.
# Each run is bounded: regrtest's --timeout kills a module after 240 s (a hang shows as
# "crashed"), and the whole run is killed after 900 s ("hung").
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool gzip awk

PY=/usr/bin/python3.11
MODULES="test_subprocess test_threading test_os test_queue test_exceptions test_traceback
	test_collections test_fork1 test_wait4 test_posix test_sys test_struct test_gc
	test_tempfile test_dict test_ctypes test_array test_typing test_marshal test_select
	test_zlib test_gzip test_thread test_threading_local test_popen test_atexit test_pty
	test_threadedtempfile test_mmap"
MODULES=$(echo $MODULES)
N=$(echo "$MODULES" | wc -w)
MODULE_TIMEOUT=240
RUN_TIMEOUT=900
SUMMARISE=$top_srcdir/tests/hazards/san_regrtest.py
REAPER=$top_srcdir/tests/hazards/san_reaper.py

if [ ! -x "$PY" ]; then
	fail "$PY found (apt-get install python3.11 libpython3.11-testsuite)"
	done_testing
fi
if ! env -u LD_PRELOAD "$PY" -c 'import test.libregrtest, test.test_threading' 2>"$tmp/import.err"; then
	fail "CPython's test suite importable (apt-get install libpython3.11-testsuite)"
	diag_file "$tmp/import.err"
	done_testing
fi

# run_suite NAME ENV...: runs regrtest on MODULES with ENV added, stdin from /dev/null,
# SIGINT back to its default action (a job started with & by a shell without job control,
# a CI runner's, ignores it, and test_threading's interrupt_main tests then fail with and
# without heapprof alike),
# output to $tmp/NAME.out, XML to $tmp/NAME.xml, under tests/hazards/san_reaper.py (a
# child subreaper: the processes the run leaves behind are listed in $tmp/NAME.left, then
# killed). Sets run_rc (124: killed after RUN_TIMEOUT, hung), run_s, run_pid (the main
# python process).
run_suite() {
	local name=$1 t0
	shift
	mkdir -p "$tmp/$name/tmp"
	t0=$(date +%s)
	(cd "$tmp/$name" && env -u LD_PRELOAD -u HEAPPROF "$PY" "$REAPER" "$RUN_TIMEOUT" \
		"$tmp/$name.pid" "$tmp/$name.left" \
		env --default-signal=INT -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP \
		-u PYTHONMALLOC PYTHONMALLOC=malloc TMPDIR="$tmp/$name/tmp" "$@" \
		"$PY" -m test -j2 --timeout "$MODULE_TIMEOUT" --junit-xml "$tmp/$name.xml" \
		$MODULES </dev/null >"$tmp/$name.out" 2>&1)
	run_rc=$?
	run_s=$(($(date +%s) - t0))
	run_pid=$(cat "$tmp/$name.pid" 2>/dev/null)
}

# check_run NAME DESC: the run ended in time with exit 0 and "Tests result: SUCCESS".
check_run() {
	local name=$1 desc=$2
	if [ "$run_rc" = 124 ]; then
		fail "$desc: regrtest finished (hung: killed after $RUN_TIMEOUT s)"
		tail -n 20 "$tmp/$name.out" >"$tmp/$name.tail"
		diag_file "$tmp/$name.tail"
		return
	fi
	local result st=1
	result=$(sed -n 's/^Tests result: //p' "$tmp/$name.out" | tail -1)
	[ "$run_rc" = 0 ] && [ "$result" = SUCCESS ] && st=0
	if ! ok $st "$desc: all $N modules pass (exit $run_rc, ${result:-no result}, $run_s s)"; then
		sed -n '/^== Tests result/,$p' "$tmp/$name.out" >"$tmp/$name.summary"
		diag_file "$tmp/$name.summary" 30
		grep -A14 '^Timeout (' "$tmp/$name.out" | grep -E '^Timeout|File .*/test/test_' \
			>"$tmp/$name.timeout"
		diag_file "$tmp/$name.timeout" 20
	fi
}

# check_leftovers NAME DESC: the run left no process behind (san_reaper.py found none
# alive 5 s after the main process ended; it has killed those it found).
check_leftovers() {
	if [ ! -e "$tmp/$1.left" ]; then
		fail "$2: no process left behind after the run (san_reaper.py wrote no report)"
		return
	fi
	if ! ok "$([ ! -s "$tmp/$1.left" ]; echo $?)" \
		"$2: no process left behind after the run ($(wc -l <"$tmp/$1.left") left)"; then
		diag "left alive 5 s after regrtest ended (then killed):"
		diag_file "$tmp/$1.left" 20
	fi
}

# --- without the library ---------------------------------------------------------------
run_suite plain
plain_s=$run_s
check_run plain "without heapprof"
check_leftovers plain "without heapprof"

# --- with the library, every allocation sampled ------------------------------------------
mkdir -p "$tmp/py"
# signal=USR2: test_subprocess checks SIGUSR1's default disposition and Python-level
# handlers (signal.signal returns None for a C handler such as heapprof's); the trigger is
# moved, not turned off, so that its helper thread is there (doc/SETTINGS.md, "signal").
run_suite lib LD_PRELOAD="$HP_LIB" HEAPPROF="rate=1,signal=USR2,prefix=$tmp/py/p"
lib_s=$run_s
main_pid=$run_pid
check_run lib "under heapprof (rate=1)"
check_leftovers lib "under heapprof (rate=1)"
diag "times: without heapprof $plain_s s, under heapprof at rate=1 $lib_s s"
grep '^heapprof:' "$tmp/lib.out" | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn >"$tmp/lib.msgs"
[ -s "$tmp/lib.msgs" ] && diag "heapprof's messages during the run (count, text):" &&
	diag_file "$tmp/lib.msgs" 10

# --- each module: the same result with and without the library ---------------------------
env -u LD_PRELOAD "$PY" "$SUMMARISE" "$tmp/plain.out" "$tmp/plain.xml" $MODULES \
	>"$tmp/plain.sum" 2>&1
env -u LD_PRELOAD "$PY" "$SUMMARISE" "$tmp/lib.out" "$tmp/lib.xml" $MODULES \
	>"$tmp/lib.sum" 2>&1
for m in $MODULES; do
	p=$(awk -v m="$m" '$1 == m { print $2, $3, $4, $5 }' "$tmp/plain.sum")
	l=$(awk -v m="$m" '$1 == m { print $2, $3, $4, $5 }' "$tmp/lib.sum")
	set -- $p
	if ! ok "$([ -n "$p" ] && [ "$p" = "$l" ] && [ "$1" = passed ] && [ "${3:-1}" = 0 ] &&
		[ "${2:-0}" -gt 0 ]; echo $?)" \
		"$m: same result with and without heapprof, passed (status cases failed skipped:" \
		"without '$p', with '$l')"; then
		grep "^# $m " "$tmp/plain.sum" "$tmp/lib.sum" | sed "s|^$tmp/||" >"$tmp/$m.why"
		diag_file "$tmp/$m.why" 10
	fi
done

# --- the profiles: the library was loaded in every python process ------------------------
n_exit=$(count_files "$tmp/py/p.*.exit.pb.gz")
n_all=$(count_files "$tmp/py/p.*.pb.gz")
diag "profiles: $n_all files, $n_exit at exit"
ok "$([ "$n_exit" -ge $((N + 1)) ]; echo $?)" \
	"an exit profile from each regrtest worker and the main process at least ($n_exit >= $((N + 1)))"
ok "$([ -e "$tmp/py/p.$main_pid.0001.exit.pb.gz" ] ||
	ls "$tmp/py/p.$main_pid".*.exit.pb.gz >/dev/null 2>&1; echo $?)" \
	"the main regrtest process (pid $main_pid) wrote its exit profile"
dups=$(ls "$tmp/py" | sed -n 's/^p\.\([0-9]*\)\.[0-9]*\.exit\.pb\.gz$/\1/p' | sort | uniq -d |
	tr '\n' ' ')
ok "$([ -z "$dups" ]; echo $?)" "no pid wrote two exit profiles${dups:+ (twice: $dups)}"
: >"$tmp/gzip.bad"
for f in "$tmp"/py/p.*.pb.gz; do
	[ -e "$f" ] || continue
	gzip -t "$f" 2>>"$tmp/gzip.bad" || echo "${f##*/}" >>"$tmp/gzip.bad"
done
ok "$([ "$n_all" -gt 0 ] && [ ! -s "$tmp/gzip.bad" ]; echo $?)" \
	"all $n_all profiles pass gzip -t"
diag_file "$tmp/gzip.bad"

# read_profile FILE: go tool pprof reads FILE: inuse_space by default, its comments give
# the pid of its name and rate 1, and it has a sample in a Python function.
read_profile() {
	local f=$1 pid
	pid=$(echo "${f##*/}" | sed -n 's/^p\.\([0-9]*\)\..*/\1/p')
	pprof -top -nodecount=100000 -sample_index=alloc_objects "$f" >"$tmp/top.out" \
		2>"$tmp/top.err" &&
		grep -q '^Type: alloc_objects' "$tmp/top.out" &&
		grep -qx "pid: $pid" "$tmp/top.out" &&
		grep -qx 'rate: 1 bytes' "$tmp/top.out" &&
		grep -qE ' _?Py[A-Za-z_]+$' "$tmp/top.out"
}
# The main process's profile and the two largest others (python processes: a /bin/true
# run by a test writes a profile too, with no Python in it).
main_prof=$(ls "$tmp/py/p.$main_pid".*.exit.pb.gz 2>/dev/null | head -1)
largest=$(ls -S "$tmp"/py/p.*.exit.pb.gz 2>/dev/null | grep -vF "/p.$main_pid." | head -2)
for f in $main_prof $largest; do
	if ! ok "$(read_profile "$f"; echo $?)" \
		"go tool pprof reads ${f##*/}: its pid, rate 1, Python's functions"; then
		diag_file "$tmp/top.out" 12
		diag_file "$tmp/top.err"
	fi
done
[ -n "$largest" ] || fail "go tool pprof reads the profiles (none written)"

done_testing
