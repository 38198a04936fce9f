#!/bin/bash
# tests/hazards/proc_fork.sh: fork, posix_spawn and vfork from a process whose 4 threads
# allocate at rate=1 (tests/progs/proc_fork, see its header).
# Protections checked:
# - the fork handlers (pthread_atfork in lib/prof.c: every profiler lock taken before fork,
#   made anew in the child; the dump lock and the helper thread restarted in the child):
#   100 children forked while other threads hold or wait for those locks all allocate,
#   write a profile (by their own SIGUSR1, or at exit) and exit; without the handlers a
#   child inherits a lock held by a thread that does not exist in it and hangs (alarm(20)
#   in each child turns that into a failure here);
# - glibc's time zone lock, which fork leaves as it was: a thread of the program converts
#   times (gmtime_r) without pause, so most children inherit that lock held; their dumps
#   must not need it (a profile's dates are computed by arithmetic);
# - file naming after fork: each child's files carry its own pid and its sequence goes on
#   from the parent's; the parent's earlier profile is never overwritten (the program
#   compares its checksum before and after);
# - posix_spawn and vfork+exec (no fork handlers run for them) of /bin/true and of the
#   program itself under the library: all succeed;
# - every profile is complete and go tool pprof reads a sample of them, with the pid in
#   their comments matching their name.
# NFORKS / NSPAWN (defaults 100 / 200) set the counts (tests/hazards/proc_stress.sh runs more).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/proc_lib.sh"

need_env
need_go
need_tool gzip timeout
need_prog proc_fork

NFORKS=${NFORKS:-100}
NSPAWN=${NSPAWN:-200}
PF=$(prog proc_fork)
dir=$tmp/fork
mkdir -p "$dir"
label="$NFORKS forks, $NSPAWN posix_spawn, $NSPAWN vfork"

(cd "$dir" && HEAPPROF="rate=1,prefix=$dir/f" preload "$PF" run "$NFORKS" "$NSPAWN" "$dir/f") \
	>"$dir.out" 2>"$dir.err"
run_status "$label" $?
no_other_output "$label" "$dir.err" 0

ppid=$(sed -n 's/^parent: \([0-9]*\) profile .*/\1/p' "$dir.out")
pfile=$(sed -n 's/^parent: [0-9]* profile //p' "$dir.out")
[ -n "$ppid" ] && [ -n "$pfile" ]
ok $? "$label: the parent wrote its first profile before forking (${pfile:-none})" ||
	diag_file "$dir.out"

grep -qx "forks: $NFORKS ok: $NFORKS" "$dir.out"
ok $? "$label: $NFORKS forked children from a threaded rate=1 process allocated, dumped and exited ($(grep '^forks:' "$dir.out"))"
grep -qx "posix_spawn: $NSPAWN ok: $NSPAWN" "$dir.out"
ok $? "$label: $NSPAWN posix_spawn children succeeded ($(grep '^posix_spawn:' "$dir.out"))"
grep -qx "vfork: $NSPAWN ok: $NSPAWN" "$dir.out"
ok $? "$label: $NSPAWN vfork+exec children succeeded ($(grep '^vfork:' "$dir.out"))"
grep -q '^parent profile unchanged: yes' "$dir.out"
ok $? "$label: the parent's first profile is unchanged after the forks (checksum)" ||
	diag "$(grep '^parent profile' "$dir.out")"

if [ -n "$ppid" ] && [ -f "$dir/f.children" ]; then
	check_children "$label" "$dir" f "$ppid" "$dir/f.children" "0=signal 1=exit"
	[ "${parent_signal:-0}" -eq 1 ]
	ok $? "$label: the parent has exactly its one signal profile (got ${parent_signal:-0})"
	[ "${min_child_seq:-0}" -ge 2 ] && [ "$min_child_seq" -lt 1000000 ]
	ok $? "$label: the children's sequence numbers go on from the parent's (lowest ${min_child_seq:-none})"
else
	fail "$label: the program listed its children"
fi
profiles_complete "$label" "$dir"

# A sample for go tool pprof: the parent's two, and three children's.
if [ -n "$ppid" ]; then
	for f in "$pfile" $(ls "$dir"/f."$ppid".*.exit.pb.gz 2>/dev/null); do
		profile_reads_as "$label: parent" "$f" "$ppid"
	done
	ls "$dir" | grep -E '^f\.[0-9]+\.[0-9]{4}\.(signal|exit)\.pb\.gz$' | grep -v "^f\.$ppid\." \
		>"$tmp/childfiles"
	n=$(wc -l <"$tmp/childfiles")
	for k in 1 $(((n + 1) / 2)) "$n"; do
		[ "$n" -gt 0 ] || break
		f=$(sed -n "${k}p" "$tmp/childfiles")
		profile_reads_as "$label: child" "$dir/$f" "$(cut -d. -f2 <<<"$f")"
	done
	[ "$n" -gt 0 ] || fail "$label: children's profiles exist"
fi

done_testing
