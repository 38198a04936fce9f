#!/bin/bash
# tests/integration/signal.sh: profiles on demand by signal, while the program allocates.
#
# tests/progs/signal_loop allocates and frees without pause for a few seconds under
# LD_PRELOAD. One SIGUSR1 must give a complete *.signal.pb.gz within a second; then a burst
# of 200 SIGUSR1 must neither crash nor hang the program, and leave only complete,
# well-named profiles (signals arriving during a dump may be coalesced, so not 200 files).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool gzip timeout
need_prog signal_loop

SL=$top_builddir/tests/progs/signal_loop
RUN_SECONDS=5

# start_loop DIR HEAPPROF SECONDS [ignore_usr1]: starts signal_loop in DIR (created empty) in the
# background (with SIGUSR1 ignored, inherited through exec, if asked); sets $bg (the
# timeout process) and $pid (the program), or fails.
start_loop() {
	dir=$1
	rm -rf "$dir"
	mkdir -p "$dir"
	(if [ "${4:-}" = ignore_usr1 ]; then trap '' USR1; fi
	 cd "$dir" && exec timeout 60 env LD_PRELOAD="$HP_LIB" HEAPPROF="$2" \
		"$SL" "$3" "$dir.pid") >"$dir.out" 2>"$dir.err" &
	bg=$!
	pid=
	if wait_for_file "$dir.pid" 5 >/dev/null; then
		pid=$(cat "$dir.pid")
	fi
	[ -n "$pid" ]
	ok $? "signal_loop started (pid ${pid:-none})" || {
		kill "$bg" 2>/dev/null
		diag_file "$dir.err"
	}
}

# finish_loop LABEL: waits for the program; checks its exit.
finish_loop() {
	wait "$bg"
	status=$?
	case $status in
	0) pass "$1: exit status 0" ;;
	124) fail "$1: exit status 0 (hung: killed by timeout)" ;;
	*) fail "$1: exit status 0 (got $status$([ "$status" -gt 128 ] &&
		echo ", signal $((status - 128))"))" ;;
	esac
	[ -z "$(find "$dir" -maxdepth 1 -name 'core*' -print -quit)" ]
	ok $? "$1: no core file"
	if grep -qv '^heapprof: ' "$dir.err" || [ -s "$dir.out" ]; then
		fail "$1: nothing printed but heapprof: warnings"
	else
		pass "$1: nothing printed but heapprof: warnings"
	fi
	diag_file "$dir.err"
	diag_file "$dir.out"
}

# --- one signal, then a burst --------------------------------------------------------

start_loop "$tmp/s" "prefix=$tmp/s/s" "$RUN_SECONDS"
[ -n "$pid" ] || done_testing

t0=$(date +%s.%N)
kill -USR1 "$pid"
ok $? "SIGUSR1 sent"
first=$(wait_for_file "$dir/s.$pid.*.signal.pb.gz" 1)
ok $? "a signal profile appears within 1 s"
if [ -n "$first" ]; then
	diag "first: $(basename "$first") after $(awk -v a="$t0" -v b="$(date +%s.%N)" \
		'BEGIN { printf "%.3f s", b - a }')"
	[ "$(basename "$first")" = "s.$pid.0001.signal.pb.gz" ]
	ok $? "first profile is s.$pid.0001.signal.pb.gz"
	gzip -t "$first"
	ok $? "first signal profile passes gzip -t"
	pprof_reads "$first"
	ok $? "go tool pprof reads the first signal profile"
	diag_file "$tmp/pprof.err" 5
fi

sent=0
for i in $(seq 1 200); do
	kill -USR1 "$pid" 2>/dev/null || break
	sent=$((sent + 1))
	[ $((i % 10)) -ne 0 ] || sleep 0.005
done
[ "$sent" -eq 200 ]
ok $? "200 more SIGUSR1 sent while the program runs (sent $sent)"
kill -0 "$pid" 2>/dev/null
ok $? "program still running after the burst"

finish_loop "after 201 signals"

bad=
for f in "$dir"/* "$dir"/.[!.]*; do
	[ -e "$f" ] || continue
	b=$(basename "$f")
	printf '%s\n' "$b" | grep -Eq "^s\\.$pid\\.[0-9]{4}\\.(signal|exit)\\.pb\\.gz\$" ||
		bad="$bad $b"
done
[ -z "$bad" ]
ok $? "only <prefix>.<pid>.NNNN.(signal|exit).pb.gz files, no temporaries"
[ -z "$bad" ] || diag "unexpected:$bad"

nsig=$(count_files "$dir/s.$pid.*.signal.pb.gz")
nexit=$(count_files "$dir/s.$pid.*.exit.pb.gz")
diag "signal profiles: $nsig, exit profiles: $nexit (201 signals sent)"
[ "$nsig" -ge 2 ]
ok $? "more signal profiles written during the burst"
[ "$nexit" -eq 1 ]
ok $? "one exit profile"

badgz=
for f in "$dir"/*.pb.gz; do
	[ -e "$f" ] || continue
	gzip -t "$f" 2>/dev/null || badgz="$badgz $(basename "$f")"
done
[ -z "$badgz" ]
ok $? "every profile passes gzip -t"
[ -z "$badgz" ] || diag "corrupt:$badgz"

dups=$(ls "$dir" | sed -n 's/^s\.[0-9]*\.\([0-9]\{4\}\)\..*/\1/p' | sort | uniq -d)
[ -z "$dups" ]
ok $? "sequence numbers are unique"
[ -z "$dups" ] || diag "repeated: $dups"

last=$(ls "$dir" | grep '\.signal\.pb\.gz$' | sort | tail -n 1)
if [ -n "$last" ]; then
	pprof_reads "$dir/$last"
	ok $? "go tool pprof reads the last signal profile ($last)"
fi
ex=$(ls "$dir" | grep '\.exit\.pb\.gz$' | head -n 1)
if [ -n "$ex" ]; then
	pprof_reads "$dir/$ex"
	ok $? "go tool pprof reads the exit profile ($ex)"
fi

# --- signal=USR2 ---------------------------------------------------------------------

start_loop "$tmp/u" "prefix=$tmp/u/u,signal=USR2,at_exit=0" 2
if [ -n "$pid" ]; then
	kill -USR2 "$pid"
	f=$(wait_for_file "$dir/u.$pid.*.signal.pb.gz" 1)
	ok $? "signal=USR2: a signal profile appears within 1 s after SIGUSR2"
	[ -z "$f" ] || { gzip -t "$f"; ok $? "signal=USR2: profile passes gzip -t"; }
	finish_loop "signal=USR2"
	[ "$(count_files "$dir/u.$pid.*.exit.pb.gz")" -eq 0 ]
	ok $? "at_exit=0: no exit profile"
fi

# --- an ignored signal is the program's choice: never taken over ----------------------

# The shell's `trap '' USR1` makes the program start with SIGUSR1 ignored (SIG_IGN is
# inherited across exec). heapprof must say once that the trigger is off and leave it so:
# a SIGUSR1 then neither dumps nor kills the program.
start_loop "$tmp/i" "prefix=$tmp/i/i,at_exit=0" 2 ignore_usr1
if [ -n "$pid" ]; then
	kill -USR1 "$pid"
	sleep 1
	[ "$(count_files "$dir/i.$pid.*.pb.gz")" -eq 0 ]
	ok $? "SIGUSR1 ignored by the program: no profile, the handler was not taken over"
	finish_loop "SIGUSR1 ignored"
	[ "$(grep -c 'signal trigger off: SIGUSR1' "$dir.err")" -eq 1 ]
	ok $? "SIGUSR1 ignored: one line says the signal trigger is off, and how to move it"
fi

# --- no descriptor kept open ------------------------------------------------------------

# The same program from the same shell, without and with the library (rate=1, the signal
# trigger on): the running process has the same descriptors. (libunwind opens a pipe when
# it initialises; heapprof closes it, since its own unwinder never uses it.)
fds_of() {
	ls "/proc/$1/fd" 2>/dev/null | sort -n | tr '\n' ' '
}
mkdir -p "$tmp/fd"
for mode in plain preload; do
	rm -f "$tmp/fd/$mode.pid"
	if [ "$mode" = plain ]; then
		timeout 30 "$SL" 2 "$tmp/fd/$mode.pid" >/dev/null 2>&1 &
	else
		timeout 30 env LD_PRELOAD="$HP_LIB" HEAPPROF="prefix=$tmp/fd/p,rate=1,at_exit=0" \
			"$SL" 2 "$tmp/fd/$mode.pid" >/dev/null 2>&1 &
	fi
	if wait_for_file "$tmp/fd/$mode.pid" 5 >/dev/null; then
		sleep 0.5
		eval "fds_$mode=\$(fds_of \"\$(cat \"$tmp/fd/$mode.pid\")\")"
	fi
	wait
done
diag "descriptors without the library: ${fds_plain:-?}; with it: ${fds_preload:-?}"
[ -n "${fds_plain:-}" ] && [ "${fds_plain:-}" = "${fds_preload:-}" ]
ok $? "no descriptor kept open by heapprof while the program runs"

done_testing
