#!/bin/bash
# tests/integration/services.sh: the service triggers that write files (issue 6; doc/SETTINGS.md).
#   interval=100m while 1 GiB is allocated at full speed (no pause): 10 +- 1 interval
#     profiles, each saying in its comment how much was allocated;
#   peak=10: a heap that rises to 200 MiB and falls to 20 MiB leaves a peak profile, written
#     at exit, showing 200 MiB in use (within 5%), the exit profile shows 20 MiB, and the
#     peak profiles written on the way up each stand 10% or more above the one before;
#   max_files=3 with 20 signal triggers leaves exactly the 3 newest profiles; with
#     format=both a dump's two files count as one profile;
#   every profile says what fired it and when (its "trigger:" and "time:" comments);
#   bad peak=, max_files=, format= and http= values: one warning each, the default kept.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_prog svc_heap
need_prog trig_alloc
S=$top_builddir/tests/progs/svc_heap
T=$top_builddir/tests/progs/trig_alloc

# under DIR SETTINGS PROG ARGS...: runs PROG with HEAPPROF=prefix=DIR/p,SETTINGS.
under() {
	local d=$1 s=$2
	shift 2
	mkdir -p "$d"
	timeout 120 env HEAPPROF="prefix=$d/p,$s" LD_PRELOAD="$HP_LIB" "$@" >"$d.out" 2>&1
}

# total FILE INDEX: the profile's total of one sample type, bytes or objects ("none" if
# go tool pprof gives none, after a second try).
total() {
	local v try
	for try in 1 2; do
		v=$(pprof -top -unit=B -sample_index="$2" "$1" 2>>"$tmp/pprof.errs" |
			sed -n 's/^Showing nodes accounting for .* of \([0-9.]*\)B* total.*/\1/p' | head -n 1)
		[ -n "$v" ] && break
	done
	echo "${v:-none}"
}

# comment FILE KEY: the text after "KEY: " in the profile's comments.
comment() {
	pprof -comments "$1" 2>/dev/null | sed -n "s/^$2: //p" | head -n 1
}

# --- interval= at full speed -----------------------------------------------------------
under "$tmp/iv" interval=100m,at_exit=0 "$T" 1024 0
ok $? "interval=100m: the program allocates 1 GiB at full speed and exits 0"
n=$(count_files "$tmp/iv/p.*.interval.pb.gz")
[ "$n" -ge 9 ] && [ "$n" -le 11 ]
ok $? "interval=100m over 1 GiB at full speed: 10 +- 1 interval profiles (got $n)" ||
	diag_file "$tmp/iv.out"
last=$(ls "$tmp"/iv/p.*.interval.pb.gz | tail -n 1)
c=$(comment "$last" trigger)
[[ $c =~ ^interval\ \(interval=100\ MiB:\ ([0-9.]+)\ (MiB|GiB)\ allocated ]]
ok $? "the last interval profile says what fired it ('$c')"
[ "$n" -ge 1 ] && [ "$(comment "$last" trigger | grep -c "$((n * 100)) MiB\|$(awk -v k="$n" 'BEGIN { printf "%.4g", k * 100 / 1024 }') GiB")" -eq 1 ]
ok $? "... and counts the intervals: the ${n}th says $((n * 100)) MiB"

# --- peak= ---------------------------------------------------------------------------
under "$tmp/pk" peak=10,rate=64k "$S" rise 200 20 256
ok $? "peak=10: the program rises to 200 MiB, falls to 20 MiB and exits 0"
atexit=""
for f in "$tmp"/pk/p.*.peak.pb.gz; do
	[ -e "$f" ] || continue
	case $(comment "$f" trigger) in *"written at exit"*) atexit=$f ;; esac
done
[ -n "$atexit" ]
ok $? "peak=10: a peak profile written at exit" || diag "files: $(ls "$tmp/pk")"
v=$(total "$atexit" inuse_space)
within "$v" 209715200 0.05
ok $? "the peak profile shows 200 MiB in use ($(rel "$v" 209715200))"
c=$(comment "$atexit" trigger)
[[ $c == "peak (the highest live heap of the run, "*" MiB, as it stood then; written at exit)" ]]
ok $? "its comment says so ('$c')"
ex=$(ls "$tmp"/pk/p.*.exit.pb.gz 2>/dev/null | head -n 1)
v=$(total "$ex" inuse_space)
within "$v" 20971520 0.05
ok $? "the exit profile shows 20 MiB in use ($(rel "$v" 20971520))"
[ "$(basename "$atexit" | cut -d. -f3)" -lt "$(basename "$ex" | cut -d. -f3)" ]
ok $? "the peak profile comes before the exit profile in sequence"
# the profiles written on the way up, in sequence: each 10% or more above the one before
: >"$tmp/pk.heaps"
for f in "$tmp"/pk/p.*.peak.pb.gz; do
	[ "$f" = "$atexit" ] && continue
	echo "$(total "$f" inuse_space) $(basename "$f")" >>"$tmp/pk.heaps"
done
n=$(wc -l <"$tmp/pk.heaps")
[ "$n" -ge 20 ] && awk '$1 == "none" { bad = 1; print $2, "unread"; next }
	NR > 1 && $1 < prev * 1.1 * 0.999 { bad = 1; print pf, prev, $2, $1 } { prev = $1; pf = $2 }
	END { exit bad }' "$tmp/pk.heaps" >"$tmp/pk.bad"
ok $? "peak=10 on the way up: $n profiles, each in use 10% or more above the last ($(head -n 1 "$tmp/pk.heaps" | cut -d' ' -f1) .. $(tail -n 1 "$tmp/pk.heaps" | cut -d' ' -f1) bytes)" ||
	{ diag_file "$tmp/pk.bad"; diag_file "$tmp/pprof.errs"
	  for f in $(awk '$2 != "unread" { print $1, $3 }' "$tmp/pk.bad"); do
		pprof -comments "$tmp/pk/$f" | grep '^trigger' | sed 's/^/#   /'; done; }
c=$(comment "$(ls "$tmp"/pk/p.*.peak.pb.gz | head -n 1)" trigger)
[[ $c =~ ^peak\ \(peak=10:\ live\ heap\ [0-9.]+\ MiB,\ past\ the\ first\ mark,\ 1\.0\ MiB\)$ ]]
ok $? "the first peak profile: past the first mark, 1 MiB at rate=64k ('$c')"

under "$tmp/pk0" rate=64k "$S" rise 50 5 256
ok $? "without peak=: the program runs and exits 0"
[ "$(count_files "$tmp/pk0/p.*.peak.pb.gz")" -eq 0 ]
ok $? "without peak=: no peak profile"

# --- max_files= ------------------------------------------------------------------------
mkdir -p "$tmp/mf"
# started without timeout(1), so that $! is the program (a watchdog kills a hung one)
env HEAPPROF="prefix=$tmp/mf/p,max_files=3,at_exit=0" LD_PRELOAD="$HP_LIB" "$S" wait 6 \
	>"$tmp/mf.out" 2>&1 &
pid=$!
(sleep 60 && kill -9 "$pid" 2>/dev/null) &
dog=$!
# the signal trigger is in place once the program has allocated (its wait_site block)
sleep 0.5
for i in $(seq 20); do
	kill -USR1 "$pid" 2>/dev/null
	# the next signal once this one's profile is there (signals while a dump runs make one)
	for _ in $(seq 100); do
		[ "$(ls "$tmp/mf" | sed -n 's/^p\.[0-9]*\.\([0-9]*\)\..*/\1/p' | sort -n | tail -n 1)" = "$(printf %04d "$i")" ] && break
		sleep 0.02
	done
done
wait "$pid"
ok $? "max_files=3: the program takes 20 signal triggers and exits 0"
kill "$dog" 2>/dev/null
got=$(ls "$tmp/mf" | tr '\n' ' ')
want=$(for i in 18 19 20; do printf 'p.%d.%04d.signal.pb.gz ' "$pid" "$i"; done)
[ "$got" = "$want" ]
ok $? "max_files=3 after 20 signal profiles: exactly the 3 newest ($got)"
c=$(comment "$tmp/mf/p.$pid.0020.signal.pb.gz" trigger)
[ "$c" = "signal (SIGUSR1 (kill -USR1 $pid))" ]
ok $? "a signal profile says what fired it ('$c')"
t=$(comment "$tmp/mf/p.$pid.0020.signal.pb.gz" time)
[[ $t =~ ^$(date -u +%Y-%m-%d)T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]] || [[ $t =~ ^$(date -u -d '-1 hour' +%Y-%m-%d)T ]]
ok $? "... and when, in UTC ('$t')"

under "$tmp/mfb" every=1,format=both,max_files=2 "$S" wait 3.5
ok $? "every=1,format=both,max_files=2: the program runs and exits 0"
got=$(ls "$tmp/mfb" | sed 's/^p\.[0-9]*\.//' | tr '\n' ' ')
[ "$(count_files "$tmp/mfb/p.*.pb.gz")" -eq 2 ] && [ "$(count_files "$tmp/mfb/p.*.heap")" -eq 2 ] &&
	[ "$(ls "$tmp/mfb" | grep -c '\.exit\.')" -eq 2 ]
ok $? "max_files=2 with format=both: the last 2 dumps, each as .pb.gz and .heap ($got)"
c=$(comment "$(ls "$tmp"/mfb/p.*.exit.pb.gz)" trigger)
[ "$c" = "exit (the program exited)" ]
ok $? "the exit profile says what fired it ('$c')"

under "$tmp/ev" every=1 "$S" wait 1.5
c=$(comment "$(ls "$tmp"/ev/p.*.timer.pb.gz | head -n 1)" trigger)
[ "$c" = "timer (every=1: a profile every 1 s)" ]
ok $? "a timer profile says what fired it ('$c')"

# --- bad values -----------------------------------------------------------------------
under "$tmp/bad" peak=ten,max_files=-1,format=xml,http=somewhere "$S" wait 0
ok $? "bad peak=, max_files=, format=, http=: the program runs and exits 0"
grep -q '^heapprof: HEAPPROF: peak=ten is not a percentage' "$tmp/bad.out" &&
	grep -q '^heapprof: HEAPPROF: max_files=-1 is not a number' "$tmp/bad.out" &&
	grep -q '^heapprof: HEAPPROF: format=xml is not pprof, text or both; keeping format=pprof' "$tmp/bad.out" &&
	grep -q '^heapprof: HEAPPROF: http=somewhere is not PORT or ADDR:PORT' "$tmp/bad.out"
ok $? "one warning each, naming the setting and the fix" || diag_file "$tmp/bad.out"
[ "$(count_files "$tmp/bad/p.*")" -eq 1 ] && [ "$(count_files "$tmp/bad/p.*.exit.pb.gz")" -eq 1 ]
ok $? "... and the defaults are kept: one exit profile, pprof only, no peak profile" ||
	diag "files: $(ls "$tmp/bad")"

done_testing
