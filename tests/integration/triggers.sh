#!/bin/bash
# tests/integration/triggers.sh: the scheduled triggers interval= and every= (lib/trigger),
# which `heapprof run --interval/--every` set.
#   interval=100m while 1 GiB is allocated (1 MiB blocks, sampled almost surely at the
#   default rate, 1 ms apart): 10 +- 1 interval profiles, then the exit profile (the same
#   at full speed: tests/integration/services.sh);
#   every=1 in a program idle for 3.5 s: 3 +- 1 timer profiles (the helper keeps the time);
#   every=0 and interval=0: none.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_prog trig_alloc
P=$top_builddir/tests/progs/trig_alloc

# under DIR SETTINGS ARGS...: runs trig_alloc ARGS with HEAPPROF=prefix=DIR/p,SETTINGS.
under() {
	local d=$1 s=$2
	shift 2
	mkdir -p "$d"
	timeout 60 env HEAPPROF="prefix=$d/p,$s" LD_PRELOAD="$HP_LIB" "$P" "$@" >"$d.out" 2>&1
}

under "$tmp/iv" interval=100m 1024 0 1000
ok $? "interval=100m: the program runs and exits 0"
n=$(count_files "$tmp/iv/p.*.interval.pb.gz")
[ "$n" -ge 9 ] && [ "$n" -le 11 ]
ok $? "interval=100m over 1 GiB: 10 +- 1 interval profiles (got $n)" || diag_file "$tmp/iv.out"
[ "$(count_files "$tmp/iv/p.*.exit.pb.gz")" -eq 1 ]
ok $? "interval=100m: and one exit profile"
seqs=$(ls "$tmp/iv" | sed -n 's/^p\.[0-9]*\.\([0-9]*\)\..*/\1/p' | sort -n | tr '\n' ' ')
want=$(seq -f %04g 1 $((n + 1)) | tr '\n' ' ')
[ "$seqs" = "$want" ]
ok $? "interval=100m: sequence numbers 1..$((n + 1)) without gaps ($seqs)"
pprof_reads "$(ls "$tmp"/iv/p.*.interval.pb.gz | tail -n 1)"
ok $? "interval=100m: the last interval profile reads in go tool pprof"

under "$tmp/ev" every=1 0 3.5
ok $? "every=1: the program runs and exits 0"
n=$(count_files "$tmp/ev/p.*.timer.pb.gz")
[ "$n" -ge 2 ] && [ "$n" -le 4 ]
ok $? "every=1 while idle 3.5 s: 3 +- 1 timer profiles (got $n)" || diag_file "$tmp/ev.out"

under "$tmp/off" interval=0,every=0 300 1.2
ok $? "interval=0,every=0: the program runs and exits 0"
[ "$(count_files "$tmp/off/p.*")" -eq 1 ] && [ "$(count_files "$tmp/off/p.*.exit.pb.gz")" -eq 1 ]
ok $? "interval=0,every=0: only the exit profile" || diag "files: $(ls "$tmp/off")"

under "$tmp/bad" every=1m,interval=lots 0 0
grep -q 'every=1m is not a number of seconds' "$tmp/bad.out" &&
	grep -q 'interval=lots is not a size' "$tmp/bad.out" &&
	[ "$(count_files "$tmp/bad/p.*.timer.pb.gz")" -eq 0 ]
ok $? "bad every= and interval=: one warning each, both off" || diag_file "$tmp/bad.out"

done_testing
