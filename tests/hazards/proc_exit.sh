#!/bin/bash
# tests/hazards/proc_exit.sh: a program whose main thread calls pthread_exit ends when its
# last thread ends, as without heapprof: the library's helper thread (the signal trigger)
# must not keep the process alive. tests/progs/proc_mainexit under LD_PRELOAD with the
# trigger on (HEAPPROF set): exit status 0 within a few seconds, its atexit handler ran,
# and the exit profile was written.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool timeout gzip
need_prog proc_mainexit

P=$top_builddir/tests/progs/proc_mainexit
mkdir -p "$tmp/out"
timeout -s KILL 20 "$P" >"$tmp/plain.out" 2>&1
ok $? "without heapprof: exit status 0"

(cd "$tmp/out" && HEAPPROF=prefix=$tmp/out/p LD_PRELOAD="$HP_LIB" timeout -s KILL 20 "$P") \
	>"$tmp/hp.out" 2>"$tmp/hp.err"
status=$?
[ "$status" -eq 0 ]
ok $? "under heapprof: exit status 0 (got $status$([ "$status" -eq 137 ] && echo ': hung, killed after 20 s'))" ||
	diag_file "$tmp/hp.err"
cmp -s "$tmp/plain.out" "$tmp/hp.out"
ok $? "under heapprof: the atexit handler ran, output as without heapprof" || diag_file "$tmp/hp.out"
f=$(ls "$tmp/out"/p.*.exit.pb.gz 2>/dev/null | head -1)
[ -n "$f" ] && gzip -t "$f"
ok $? "under heapprof: the exit profile was written, complete"
done_testing
