#!/bin/bash
# tests/hazards/proc_threads.sh: threads that come and go, thread-exit destructors that
# allocate and free, and SIGUSR1 dumps plus forks while 8 threads allocate, all at rate=1.
# tests/progs/proc_threads (see its header) prints the exact figures ("expect SITE ...")
# that the exit profile must show for its allocation sites.
# Protections checked:
# - per-thread state (initial-exec TLS counters, the sampler) works for 10,000 threads that
#   each live briefly: every allocation of thread_site/keep_site is in the exit profile
#   exactly once, and the frees are matched to their samples;
# - allocation and free inside thread-exit destructors (pthread key destructors, which
#   run after jemalloc's own per-thread cleanup; __cxa_thread_atexit_impl; C++
#   thread_local): no crash, and every free is counted (in use 0 for each site);
# - fork handlers (lib/prof.c) and the helper thread's restart in the child: 8 threads at
#   rate=1, SIGUSR1 every 2 ms and one fork after another: no child hangs (alarm(20) in
#   each child, a parent timeout), each child writes exactly the profiles its mode asks for,
#   named with its own pid; every profile is complete.
# Knobs (tests/hazards/proc_stress.sh uses them): PARTS (default "many dtors mixed"),
# MANY_THREADS (10000), DTOR_THREADS (2000), MIXED_SECONDS (5).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/proc_lib.sh"

need_env
need_go
need_tool gzip timeout
need_prog proc_threads

PT=$(prog proc_threads)
MANY=${MANY_THREADS:-10000}
DTORS=${DTOR_THREADS:-2000}
MIXED_SECONDS=${MIXED_SECONDS:-5}
PARTS=${PARTS:-many dtors mixed}

# run_pt LABEL NAME ARGS...: proc_threads ARGS in $tmp/NAME (HEAPPROF rate=1, prefix
# $tmp/NAME/p); sets $dir, $status; checks the exit status and stderr.
run_pt() {
	local label=$1 name=$2
	shift 2
	dir=$tmp/$name
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && HEAPPROF="rate=1,prefix=$dir/p" preload "$PT" "$@") >"$dir.out" 2>"$dir.err"
	status=$?
	run_status "$label" "$status"
	no_other_output "$label" "$dir.err" 0
}

# exit_profile LABEL: the one exit profile of the last run into $ex (TAP line).
exit_profile() {
	ex=$(ls "$dir"/p.*.exit.pb.gz 2>/dev/null | head -n 1)
	[ -n "$ex" ] && [ "$(count_files "$dir/p.*.exit.pb.gz")" -eq 1 ]
	ok $? "$1: one exit profile"
}

# --- (a) 10,000 short-lived threads -------------------------------------------------------
part_many() {
	label="$MANY threads"
	run_pt "$label" many many "$MANY"
	grep -qx "threads: $MANY" "$dir.out"
	ok $? "$label: all ran" || diag_file "$dir.out"
	exit_profile "$label"
	profiles_complete "$label" "$dir"
	[ -z "$ex" ] || expect_figures "$label" "$ex" "$dir.out"
}

# --- (b) thread-exit destructors that allocate ------------------------------------------
part_dtors() {
	label="$DTORS threads with exit destructors"
	run_pt "$label" dtors dtors "$DTORS"
	line=$(grep '^dtors: ' "$dir.out")
	[ -n "$line" ] && ! grep -q BAD <<<"$line"
	ok $? "$label: every destructor ran (${line:-no output})"
	exit_profile "$label"
	profiles_complete "$label" "$dir"
	[ -z "$ex" ] || expect_figures "$label" "$ex" "$dir.out"
}

# --- (c) signals and forks while 8 threads allocate ---------------------------------------
# stuck_stacks DIR: the stacks proc_threads took of a child still running after 15 s
# (DIR/p.stuck.PID, eu-stack's output), a line a thread: "stuck child PID, thread TID:
# innermost < ... < outermost", at most 16 functions each.
stuck_stacks() {
	local f
	for f in "$1"/p.stuck.*; do
		[ -f "$f" ] || continue
		awk -v pid="${f##*.}" '
			/^TID / { if (line != "") print line; sub(":", "", $2)
				line = "stuck child " pid ", thread " $2 ":"; n = 0; next }
			/^#[0-9]/ && line != "" && n++ < 16 { line = line (n > 1 ? " <" : "") " " $3 }
			END { if (line != "") print line; else print "stuck child " pid ": no stack (" FILENAME ")" }' "$f" |
			while IFS= read -r l; do diag "$l"; done
	done
}

part_mixed() {
	label="${MIXED_SECONDS} s of SIGUSR1 and forks, 8 threads"
	run_pt "$label" mixed mixed "$MIXED_SECONDS" "$tmp/mixed/p" 8
	ppid=$(sed -n 's/^pid: //p' "$dir.out")
	forks=$(sed -n 's/^forks: \([0-9]*\) ok: \([0-9]*\)$/\1 \2/p' "$dir.out")
	set -- $forks 0 0
	[ "$1" -ge 10 ] && [ "$1" -eq "$2" ]
	ok $? "$label: at least 10 forks, all children succeeded ($1 forks, $2 ok)" || diag_file "$dir.out"
	diag "$(grep '^signals sent' "$dir.out")"
	if [ -n "$ppid" ] && [ -f "$dir/p.children" ]; then
		check_children "$label" "$dir" p "$ppid" "$dir/p.children" "0=exit 1=none 2=signal"
		stuck_stacks "$dir"
		[ "${parent_signal:-0}" -ge 1 ]
		ok $? "$label: the parent wrote signal profiles (${parent_signal:-0})"
	else
		fail "$label: the program listed its children (pid: ${ppid:-none})"
	fi
	profiles_complete "$label" "$dir"
	f=$(ls "$dir"/p."$ppid".*.exit.pb.gz 2>/dev/null | head -n 1)
	[ -z "$f" ] || profile_reads_as "$label: parent's exit profile" "$f" "$ppid"
	for trig in exit signal; do
		f=$(ls "$dir"/p.*."$trig".pb.gz 2>/dev/null | grep -v "/p\.$ppid\." | tail -n 1)
		if [ -n "$f" ]; then
			cpid=$(basename "$f" | cut -d. -f2)
			profile_reads_as "$label: a child's $trig profile" "$f" "$cpid"
		else
			fail "$label: a child wrote a $trig profile"
		fi
	done
}

for part in $PARTS; do
	case " many dtors mixed " in
	*" $part "*) "part_$part" ;;
	*) fail "PARTS: unknown part $part" ;;
	esac
done

done_testing
