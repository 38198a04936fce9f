#!/bin/bash
# tests/hazards/proc_signals.sh: the program's own SIGUSR1 handler next to heapprof's
# signal trigger, and a storm of SIGUSR1 (tests/progs/proc_signals, proc_sigsend).
# Protections checked:
# - heapprof never takes over a handler the program installs: a handler installed in main
#   or in a constructor (after heapprof installed its trigger) gets every one of 20
#   SIGUSR1 sent one at a time (each acknowledged before the next), no signal profile is
#   written for them, and heapprof says once that the trigger is off (at most one
#   heapprof line, no other output);
# - HEAPPROF=signal=USR2 moves the trigger: SIGUSR2 dumps while the program's SIGUSR1
#   handler still gets all its signals, and heapprof says nothing;
# - a handler installed before heapprof initialises (.preinit_array, preloaded and linked
#   with -lheapprof) is found and left alone: one "signal trigger off" line, the handler
#   works, no signal profile;
# - a storm (SIGUSR1 as fast as proc_sigsend can send, STORM_SECONDS in all, default 3 s,
#   half at the default rate and half at rate=1, 4 threads allocating): the program neither
#   crashes nor hangs, every profile under its final name is complete (gzip -t, go tool
#   pprof reads the first, the last and the exit one), no temporary file is left.
# Knobs (tests/hazards/proc_stress.sh uses them): PARTS (default "handlers storm"),
# STORM_SECONDS (3).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/proc_lib.sh"

need_env
need_go
need_tool gzip timeout awk
need_prog proc_signals proc_signals_linked proc_sigsend

N=20
STORM_SECONDS=${STORM_SECONDS:-3}
PARTS=${PARTS:-handlers storm}

# start_prog LABEL NAME HEAPPROF BINARY ARGS...: starts BINARY (preloaded unless it is the
# linked one) in $tmp/NAME with HEAPPROF, in the background; waits for its pidfile
# ($tmp/NAME.pid). Sets $dir, $bg, $pid.
start_prog() {
	local label=$1 name=$2 hp=$3 bin=$4
	shift 4
	dir=$tmp/$name
	rm -rf "$dir" "$dir.pid" "$dir.ack"
	mkdir -p "$dir"
	if [ "$(basename "$bin")" = proc_signals_linked ]; then
		(cd "$dir" && HEAPPROF="$hp" exec timeout -k 5 "$PROG_TIMEOUT" "$bin" "$@") \
			>"$dir.out" 2>"$dir.err" &
	else
		(cd "$dir" && HEAPPROF="$hp" exec timeout -k 5 "$PROG_TIMEOUT" \
			env LD_PRELOAD="$HP_LIB" "$bin" "$@") >"$dir.out" 2>"$dir.err" &
	fi
	bg=$!
	pid=
	wait_for_file "$dir.pid" 10 >/dev/null && pid=$(cat "$dir.pid")
	[ -n "$pid" ]
	ok $? "$label: started (pid ${pid:-none})" || {
		kill "$bg" 2>/dev/null
		diag_file "$dir.err"
	}
}

# acked: the count the program last acknowledged (in $dir.ack), 0 before the first.
acked() {
	local v=0
	[ -e "$dir.ack" ] && read -r v <"$dir.ack"
	echo "${v:-0}"
}

# send_acked SIG FROM TO: sends SIG to $pid once for each count FROM..TO, each time waiting
# (up to 5 s) for the program to acknowledge that count in $dir.ack. Prints the last
# count acknowledged.
send_acked() {
	local i n=$(($2 - 1)) t
	for i in $(seq "$2" "$3"); do
		kill "-$1" "$pid" 2>/dev/null || break
		t=0
		while [ "$(acked)" != "$i" ] && [ "$t" -lt 500 ]; do
			sleep 0.01
			t=$((t + 1))
		done
		[ "$(acked)" = "$i" ] || break
		n=$i
	done
	echo "$n"
}

# finish LABEL: waits for the program, checks its exit status.
finish() {
	wait "$bg"
	run_status "$1" $?
}

# signal_profile_after N: waits (up to 5 s) for signal profile number N of $pid; prints it.
signal_profile_after() {
	local t=0
	while [ "$(count_files "$dir/p.$pid.*.signal.pb.gz")" -lt "$1" ] && [ "$t" -lt 250 ]; do
		sleep 0.02
		t=$((t + 1))
	done
	[ "$(count_files "$dir/p.$pid.*.signal.pb.gz")" -ge "$1" ]
}

# count_case LABEL NAME HEAPPROF BINARY WHEN WANT_DISPOSITION TRIGGER_OFF MIN_SECONDS: the
# program's own SIGUSR1 handler installed at WHEN (WANT_DISPOSITION: what main finds);
# TRIGGER_OFF 1 when heapprof must say (once) that its SIGUSR1 trigger is off, 0 when it
# must say nothing; the program runs at least MIN_SECONDS (heapprof notices a handler that
# replaced its own within a second, on a sample).
count_case() {
	local label=$1 name=$2 hp=$3 bin=$4 when=$5 disp=$6 off=$7 min=$8 n
	start_prog "$label" "$name" "$hp" "$bin" count "$when" "$N" "$min" "$tmp/$name.pid" \
		"$tmp/$name.ack"
	[ -n "$pid" ] || return
	grep -qx "handler at main: $disp" "$dir.out"
	ok $? "$label: SIGUSR1's handler when main starts is $disp ($(sed -n 's/^handler at main: //p' "$dir.out"))"
	if [ "$off" = 0 ]; then
		# signal=USR2: the trigger moved; SIGUSR2 dumps before and amid the USR1s.
		kill -USR2 "$pid"
		signal_profile_after 1
		ok $? "$label: SIGUSR2 writes a profile"
		n=$(send_acked USR1 1 $((N / 2)))
		kill -USR2 "$pid"
		signal_profile_after 2
		ok $? "$label: SIGUSR2 still writes a profile after $n SIGUSR1s"
		n=$(send_acked USR1 $((n + 1)) "$N")
	else
		n=$(send_acked USR1 1 "$N")
	fi
	[ "$n" -eq "$N" ]
	ok $? "$label: the program's handler got each of $N SIGUSR1 sent one at a time ($n)"
	finish "$label"
	grep -qx "received: $N" "$dir.out"
	ok $? "$label: the program counted $N SIGUSR1 ($(sed -n 's/^received: //p' "$dir.out"))"
	if [ "$off" = 1 ]; then
		n=$(count_files "$dir/p.*.signal.pb.gz")
		[ "$n" -eq 0 ]
		ok $? "$label: no signal profile: the SIGUSR1s were the program's (got $n)"
		no_other_output "$label" "$dir.err" 1
		[ "$(grep -c '^heapprof: signal trigger off: .*SIGUSR1' "$dir.err")" -eq 1 ]
		ok $? "$label: one line says heapprof's SIGUSR1 trigger is off"
	else
		no_other_output "$label" "$dir.err" 0
	fi
	[ "$(count_files "$dir/p.*.exit.pb.gz")" -eq 1 ]
	ok $? "$label: one exit profile"
	profiles_complete "$label" "$dir"
}

PS=$(prog proc_signals)
PSL=$(prog proc_signals_linked)

# --- (a) the program installs its handler after heapprof -----------------------------
part_handlers() {
	count_case "handler installed in main" main "prefix=$tmp/main/p" "$PS" main other 1 1.5
	count_case "handler installed in a constructor" ctor "prefix=$tmp/ctor/p" "$PS" ctor own 1 1.5
	count_case "signal=USR2, handler for SIGUSR1 in main" usr2 "prefix=$tmp/usr2/p,signal=USR2" \
		"$PS" main default 0 0

	# --- (b) the program's handler is there before heapprof initialises ------------------------
	count_case "handler installed before the library (preinit), preloaded" pre \
		"prefix=$tmp/pre/p" "$PS" pre own 1 0
	count_case "handler installed before the library (preinit), linked" prel \
		"prefix=$tmp/prel/p" "$PSL" pre own 1 0
}

# --- (c) a storm of SIGUSR1 -------------------------------------------------------------
part_storm() {
	half=$(awk -v s="$STORM_SECONDS" 'BEGIN { printf "%.1f", s / 2 }')
	send_for=$(awk -v s="$half" 'BEGIN { printf "%.1f", (s > 1 ? s - 0.5 : s * 0.7) }')
	for rate in 512k 1; do
		label="storm of SIGUSR1 for $half s, rate=$rate, 4 threads"
		start_prog "$label" "storm$rate" "prefix=$tmp/storm$rate/p,rate=$rate" "$PS" \
			storm "$half" 4 "$tmp/storm$rate.pid"
		[ -n "$pid" ] || continue
		sent=$(timeout 60 "$(prog proc_sigsend)" "$pid" USR1 "$send_for" | sed -n 's/^sent: //p')
		finish "$label"
		[ "${sent:-0}" -ge 1000 ]
		ok $? "$label: the storm happened (${sent:-0} signals sent)"
		no_other_output "$label" "$dir.err" 0
		bad=$(ls -A "$dir" | grep -Ev "^p\\.$pid\\.[0-9]{4}\\.(signal|exit)\\.pb\\.gz\$" | head -n 5)
		[ -z "$bad" ]
		ok $? "$label: only final profile names, no temporary files" || diag "unexpected: $bad"
		profiles_complete "$label" "$dir"
		nsig=$(count_files "$dir/p.$pid.*.signal.pb.gz")
		[ "$nsig" -ge 1 ] && [ "$(count_files "$dir/p.$pid.*.exit.pb.gz")" -eq 1 ]
		ok $? "$label: signal profiles ($nsig) and one exit profile"
		for f in $(ls "$dir"/p.*.signal.pb.gz 2>/dev/null | sed -n '1p;$p') \
			$(ls "$dir"/p.*.exit.pb.gz 2>/dev/null); do
			profile_reads_as "$label" "$f" "$pid"
		done
	done
}

for part in $PARTS; do
	case " handlers storm " in
	*" $part "*) "part_$part" ;;
	*) fail "PARTS: unknown part $part" ;;
	esac
done

done_testing
