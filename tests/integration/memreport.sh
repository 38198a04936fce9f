#!/bin/bash
# tests/integration/memreport.sh: the profiler's own memory, the last comment of every
# profile (lib/dump.c; doc/DESIGN.md, "The profiler's own memory"):
#   heapprof: own memory T MiB = P% of the live heap (stack table A MiB, block records B MiB,
#   unwinder and other C MiB, symbols D MiB, dump buffers E MiB, sampled arena overhead
#   F MiB, of which freed pages kept for reuse G MiB); live heap L MiB (jemalloc
#   allocated, less heapprof's own); process anonymous resident R MiB = Q%
# Checks, with go tool pprof -comments (the real reader): the comment is in the exit and
# the signal profile of tests/progs/signal_loop; it parses; A..F add up to T (each printed
# to 0.01 MiB); G is at most F; P = T/L and Q = T/R within that rounding; and at rate=1 the stack-table
# part grows by at least 4000 stacks' worth (72 bytes each, the entry without its frames)
# from tests/progs/mem_stacks 1 to tests/progs/mem_stacks 4096, and the block-records part
# by 4095 records of 16 bytes (every block is kept live to the end); and tests/progs/
# mem_purge's 20 MiB of freed sampled blocks are counted as freed pages kept right after
# the frees (G of its first signal profile 5 MiB or more) and are purged while signals
# keep the helper thread busy (the exit profile's F under 1 MiB, G under 0.5); tests/progs/
# mem_round's sampled blocks of every small size class cost the sampled arena under
# 0.25 MiB at the default rate, the blocks lib/sampcache keeps are not in the live heap,
# and its random reallocs and frees keep every block whole while those blocks are
# rounded up and when rounding stops.
. "$top_srcdir/tests/integration/lib.sh"

need_env
need_go
need_prog signal_loop
need_prog mem_stacks
need_prog mem_purge
need_prog mem_round

SL=$top_builddir/tests/progs/signal_loop
MS=$top_builddir/tests/progs/mem_stacks
MP=$top_builddir/tests/progs/mem_purge
MR=$top_builddir/tests/progs/mem_round

# comment_of FILE: the own-memory comment as go tool pprof -comments prints it.
comment_of() {
	pprof -comments "$1" 2>"$tmp/pprof.err" | grep '^heapprof: own memory '
}

# check_comment LABEL FILE: the comment is there, parses, adds up, and its percentages
# agree with its figures. Sets $stacks_mib, $records_mib, $arena_mib and $heap_mib (the
# stack-table, block-records and sampled-arena parts, and the live heap).
check_comment() {
	local label=$1 c parsed
	stacks_mib=
	records_mib=
	arena_mib=
	heap_mib=
	c=$(comment_of "$2")
	[ -n "$c" ]
	ok $? "$label: go tool pprof -comments shows the own-memory comment" || {
		diag_file "$tmp/pprof.err"
		return
	}
	diag "$c"
	local num='([0-9]+\.[0-9]+)'
	local re="^heapprof: own memory $num MiB = $num% of the live heap \(stack table $num MiB, block records $num MiB, unwinder and other $num MiB, symbols $num MiB, dump buffers $num MiB, sampled arena overhead $num MiB, of which freed pages kept for reuse $num MiB\); live heap $num MiB \(jemalloc allocated, less heapprof's own\); process anonymous resident $num MiB = $num%$"
	parsed=
	if [[ $c =~ $re ]]; then
		parsed="${BASH_REMATCH[*]:1}"
	fi
	[ -n "$parsed" ]
	ok $? "$label: the comment parses (total, percentage, 6 parts, freed pages, live heap, process)" ||
		return
	# shellcheck disable=SC2086
	set -- $parsed
	stacks_mib=$3
	records_mib=$4
	arena_mib=$8
	freed_mib=$9
	heap_mib=${10}
	awk -v t="$1" -v a="$3" -v b="$4" -v c="$5" -v d="$6" -v e="$7" -v f="$8" \
		'BEGIN { s = a + b + c + d + e + f; d = s - t; if (d < 0) d = -d; exit !(d <= 0.035) }'
	ok $? "$label: the parts add up to the total ($1 MiB; each rounded to 0.01)"
	awk -v a="$8" -v f="$9" 'BEGIN { exit !(f <= a) }'
	ok $? "$label: the freed pages kept ($9 MiB) are part of the sampled arena's overhead ($8 MiB)"
	awk -v t="$1" -v p="$2" -v l="${10}" \
		'BEGIN { if (l <= 0) exit 1; e = 100 * t / l; tol = 100 * (0.005 / l + (t + 0.005) * 0.005 / (l * (l - 0.005))) + 0.006
			 d = e - p; if (d < 0) d = -d; exit !(d <= tol) }'
	ok $? "$label: $2% of the live heap agrees with $1 MiB / ${10} MiB"
	awk -v t="$1" -v p="${12}" -v l="${11}" \
		'BEGIN { if (l <= 0) exit 1; e = 100 * t / l; tol = 100 * (0.005 / l + (t + 0.005) * 0.005 / (l * (l - 0.005))) + 0.006
			 d = e - p; if (d < 0) d = -d; exit !(d <= tol) }'
	ok $? "$label: ${12}% of the process's anonymous memory agrees with $1 MiB / ${11} MiB"
	awk -v a="$3" -v l="${10}" 'BEGIN { exit !(a > 0 && l > 0) }'
	ok $? "$label: stack table and live heap are not zero"
}

# start_bg NAME HEAPPROF PROG ARGS...: runs PROG ARGS $tmp/NAME.pid (its pid file last) in
# $tmp/NAME, under the library with HEAPPROF, in the background. Sets $dir ($tmp/NAME), $bg
# (the job) and $pid (the program's; empty when no pid file came within 10 s).
start_bg() {
	local conf=$2

	dir=$tmp/$1
	shift 2
	mkdir -p "$dir"
	(cd "$dir" && exec timeout 60 env LD_PRELOAD="$HP_LIB" HEAPPROF="$conf" "$@" "$dir.pid") \
		>"$dir.out" 2>"$dir.err" &
	bg=$!
	pid=
	if wait_for_file "$dir.pid" 10 >/dev/null; then
		pid=$(cat "$dir.pid")
	fi
}

# run_to_exit LABEL NAME HEAPPROF PROG ARGS...: runs PROG ARGS in $tmp under the library
# with HEAPPROF,prefix=$tmp/NAME; checks that it exits 0 and leaves an exit profile, and
# checks that profile's comment (check_comment, which sets the parts).
run_to_exit() {
	local label=$1 name=$2 conf=$3 f
	shift 3
	(cd "$tmp" && timeout 120 env LD_PRELOAD="$HP_LIB" HEAPPROF="$conf,prefix=$tmp/$name" \
		"$@") >"$tmp/$name.out" 2>"$tmp/$name.err"
	ok $? "$label exits 0" || diag_file "$tmp/$name.err"
	f=$(wait_for_file "$tmp/$name.*.exit.pb.gz" 5)
	ok $? "$label: an exit profile was written" && check_comment "$label" "$f"
}

# --- the exit and the signal profile of one run ---------------------------------------
start_bg loop "prefix=$tmp/loop/p" "$SL" 3
[ -n "$pid" ]
ok $? "signal_loop started (pid ${pid:-none})" || diag_file "$dir.err"
if [ -n "$pid" ]; then
	sleep 0.5
	kill -USR1 "$pid"
	sig=$(wait_for_file "$dir/p.$pid.*.signal.pb.gz" 20)
	ok $? "a signal profile was written" && check_comment "signal profile" "$sig"
fi
wait "$bg"
ok $? "signal_loop exits 0" || diag_file "$dir.err"
ex=$(wait_for_file "$dir/p.*.exit.pb.gz" 5)
ok $? "an exit profile was written" && check_comment "exit profile" "$ex"

# --- the stack-table part grows with the number of distinct stacks --------------------
for n in 1 4096; do
	run_to_exit "mem_stacks $n at rate=1" "ms$n" rate=1 "$MS" $n
	eval "st_$n=\${stacks_mib:-0}"
	eval "rec_$n=\${records_mib:-0}"
done
# 4096 distinct stacks of at least 12 frames: >= 4000 entries of >= 72 + 12 * 8 bytes.
awk -v a="${st_1:-0}" -v b="${st_4096:-0}" 'BEGIN { exit !(b - a >= 4000 * (72 + 96) / 1048576) }'
ok $? "the stack table part grows with 4096 distinct stacks (${st_1:-?} -> ${st_4096:-?} MiB, want +0.64 MiB or more)"
# 4096 blocks live at exit, each with its 16-byte record: 0.0625 MiB, printed 0.06.
awk -v a="${rec_1:-0}" -v b="${rec_4096:-0}" 'BEGIN { exit !(a <= 0.01 && b >= 0.06 && b <= 0.08) }'
ok $? "the block records part counts the 4096 live sampled blocks (${rec_1:-?} -> ${rec_4096:-?} MiB, want 0.06)"

# --- freed sampled pages go back while signals keep the helper thread busy ------------
# mem_purge frees 12 MiB of large sampled blocks and 8 MiB of lib/huge's, then sleeps 4 s
# while a signal asks for a profile every 0.25 s: the helper thread is woken long before
# its one-second timeout every time, and must purge the sampled arena all the same
# (lib/trigger.c, decay_when_due). The exit profile's sampled arena overhead is then what
# the arena keeps with nothing freed in the last seconds: its metadata, well under 1 MiB.
start_bg purge "rate=64k,prefix=$tmp/purge/p" "$MP" 4
[ -n "$pid" ]
ok $? "mem_purge started (pid ${pid:-none})" || diag_file "$dir.err"
nsig=0
while [ -n "$pid" ] && kill -USR1 "$pid" 2>/dev/null; do
	nsig=$((nsig + 1))
	sleep 0.25
done
wait "$bg"
ok $? "mem_purge exits 0 after $nsig signals" || diag_file "$dir.err"
[ "$(count_files "$dir/p.*.signal.pb.gz")" -ge 8 ]
ok $? "mem_purge: at least 8 signal profiles ($(count_files "$dir/p.*.signal.pb.gz"))"
# The first signal profile comes right after the frees (the pid file is written after
# them): the comment says most of the 20 MiB are freed pages kept for reuse.
first=$(ls "$dir"/p.*.signal.pb.gz 2>/dev/null | sort | head -n 1)
[ -n "$first" ] && check_comment "mem_purge first signal profile" "$first"
awk -v f="${freed_mib:-0}" -v a="${arena_mib:-0}" 'BEGIN { exit !(f >= 5 && f <= a) }'
ok $? "mem_purge: right after the frees the freed pages kept are counted (${freed_mib:-?} MiB of ${arena_mib:-?}, want >= 5 of the 20 MiB freed)"
ex=$(wait_for_file "$dir/p.*.exit.pb.gz" 5)
ok $? "mem_purge: an exit profile was written" && check_comment "mem_purge exit" "$ex"
awk -v a="${arena_mib:-99}" -v f="${freed_mib:-99}" 'BEGIN { exit !(a < 1.0 && f < 0.5) }'
ok $? "mem_purge: the sampled arena gave the freed pages back (overhead ${arena_mib:-?} MiB, want < 1 MiB of the 20 MiB freed; freed pages kept ${freed_mib:-?} MiB, want < 0.5)"

# --- sampled small blocks at the default rate: their slabs -----------------------------
# mem_round classes keeps 512 KiB of blocks of each of jemalloc's 36 small classes: about
# one sampled block a class at 512 KiB. Each in a slab of 1 to 7 pages of its own class
# made the sampled arena overhead 0.28-0.43 MiB (16 runs); rounded to the classes 2^k and
# 3 * 2^k (lib/prof.c, `rounds`) it is 0.16-0.20 MiB, the bytes the rounding adds counted.
run_to_exit "mem_round classes" mr rate=512k "$MR" classes
awk -v a="${arena_mib:-99}" 'BEGIN { exit !(a < 0.25) }'
ok $? "mem_round classes: sampled small blocks of 36 classes cost the sampled arena under 0.25 MiB (${arena_mib:-?} MiB)"

# The blocks lib/sampcache keeps for a thread's next samples are the profiler's, though
# jemalloc counts them allocated: mem_round cached frees 600 blocks of each size class up
# to 6 KiB at rate=1 (2-4 MiB stay cached) and keeps 8 MiB. The exit profile's live heap
# was 11.77 MiB while they counted as the program's; now 9.04 MiB (the rest is jemalloc's
# thread caches, which count as allocated in every configuration).
run_to_exit "mem_round cached" mc rate=1 "$MR" cached
awk -v l="${heap_mib:-99}" 'BEGIN { exit !(l >= 8 && l < 9.5) }'
ok $? "mem_round cached: the live heap is the 8 MiB kept, not the blocks cached for the next samples (${heap_mib:-?} MiB, want 8 to 9.5)"

# The bytes the rounding adds are the sampled arena's while rounding is on (lib/prof.c,
# `round_count`): blocks of 300 bytes (316 with the record: jemalloc's class 320, rounded
# to 384, 64 bytes more) against blocks of 352 (368: class 384, rounded to 384, nothing
# more), about 690 and 650 sampled at rate=65537 (a sparse rate: rounding is on), under
# the 256 KiB of rounded live blocks at which rounding stops. The first's sampled arena
# overhead is about 690 x 64 bytes = 0.04 MiB higher. With 400,000 blocks of 300 bytes
# (about 1,830 sampled) rounding stops after about 830 of them, and the extra bytes count
# as the program's from then on: that arena is not higher than the 150,000 blocks' one
# (rounding that never stopped would add 0.11 MiB; one that counted nothing, 0).
run_to_exit "mem_round keep 300 150000" mk300 rate=65537 "$MR" keep 300 150000
a300=${arena_mib:-}
run_to_exit "mem_round keep 352 120000" mk352 rate=65537 "$MR" keep 352 120000
a352=${arena_mib:-}
run_to_exit "mem_round keep 300 400000" mk300l rate=65537 "$MR" keep 300 400000
a300l=${arena_mib:-}
awk -v a="${a300:-0}" -v b="${a352:-99}" 'BEGIN { exit !(a - b >= 0.025 && a - b <= 0.07) }'
ok $? "mem_round keep: the rounding's extra bytes are the sampled arena's (${a300:-?} MiB with 300-byte blocks, ${a352:-?} with 352; want 0.025 to 0.07 more)"
awk -v a="${a300:-0}" -v l="${a300l:-99}" 'BEGIN { exit !(l + 0.02 <= a) }'
ok $? "mem_round keep: rounding stops at 256 KiB of rounded blocks (${a300l:-?} MiB with 400,000 blocks, ${a300:-?} with 150,000; want at least 0.02 less)"

# The rounding keeps every block whole: random mallocs, callocs, reallocs and frees with
# their contents and usable sizes checked, at a sparse rate (blocks rounded), and with
# the rate set to 1 for the middle third (rounding stops for good; blocks allocated
# rounded and unrounded are freed into lib/sampcache side by side).
for args in "churn 1" "churn 2 SWITCH"; do
	(cd "$tmp" && timeout 120 env LD_PRELOAD="$HP_LIB" HEAPPROF="rate=128k,at_exit=0" \
		"$MR" $args) >"$tmp/mr.out" 2>"$tmp/mr.err"
	ok $? "mem_round $args at rate=128k: every block whole, every usable size large enough" ||
		diag_file "$tmp/mr.err"
done

done_testing
