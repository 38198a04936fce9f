#!/bin/bash
# tests/hazards/proc_fdreuse.sh: a program that closes every descriptor and reuses the low
# numbers keeps its files to itself, and heapprof keeps no descriptor open.
#
# tests/progs/proc_fdreuse (see its header) allocates at rate=1 (also through
# proc_nouw_alloc, which has no unwind info), closes fds 3..RLIMIT_NOFILE, puts its own
# pipes, files and a socket pair on 3..13, writes and reads known data through them while
# allocating and while profiles are written, and reads everything back.
# Protections checked:
# - heapprof never uses libunwind's local address space, whose "validated" reads (the
#   frame-chain fallback for code without unwind info) write to and read from a pipe
#   libunwind opened at initialisation; with reused numbers that pipe is the program's
#   pipe A (fds 3, 4): its data would come back changed, or the read would block.
# - heapprof closes that pipe after initialising (and dumps close what they open): the
#   descriptors listed at four points are the same as without the library.
# Runs: the program without the library (reference), preloaded with SIGUSR1 dumps, and
# linked with -lheapprof with heapprof_dump() dumps.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"
. "$top_srcdir/tests/hazards/proc_lib.sh"

need_env
need_go
need_tool gzip timeout readelf nm
need_prog proc_fdreuse proc_fdreuse_linked

PLAIN=$(prog proc_fdreuse)
LINKED=$(prog proc_fdreuse_linked)

# --- precondition: the no-unwind-info site really has none ----------------------------

# no_fde BINARY FUNCTION: no FDE of BINARY's .eh_frame covers FUNCTION's address.
no_fde() {
	local addr
	addr=$(nm "$1" | awk -v f="$2" '$3 == f { print $1 }')
	[ -n "$addr" ] || return 1
	readelf --debug-dump=frames "$1" 2>/dev/null | awk -v a="$addr" '
		function hex(s,   i, c, v) {
			v = 0; s = tolower(s)
			for (i = 1; i <= length(s); i++) {
				c = index("0123456789abcdef", substr(s, i, 1)) - 1
				v = v * 16 + c
			}
			return v
		}
		/^Contents of the / { eh = ($0 ~ /\.eh_frame/) }
		eh && / FDE / && match($0, /pc=[0-9a-f]+\.\.[0-9a-f]+/) {
			split(substr($0, RSTART + 3, RLENGTH - 3), r, /\.\./)
			if (hex(r[1]) <= hex(a) && hex(a) < hex(r[2])) covered = 1
		}
		END { exit covered }'
}
for b in "$PLAIN" "$LINKED"; do
	no_fde "$b" proc_nouw_alloc
	ok $? "precondition: no .eh_frame FDE covers proc_nouw_alloc in $(basename "$b")"
done

# --- runs ------------------------------------------------------------------------------

# run LABEL DIR CMD...: runs CMD in DIR (created empty), output in DIR.out, DIR.err.
run() {
	local label=$1
	dir=$2
	shift 2
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && "$@") >"$dir.out" 2>"$dir.err"
	status=$?
	run_status "$label" "$status"
}

# fds LABEL POINT: the "fds POINT:" line of the last run.
fds_at() {
	sed -n "s/^fds $1: //p" "$dir.out"
}

run "without the library" "$tmp/plain" timeout -k 5 "$PROG_TIMEOUT" "$PLAIN" plain "$tmp/plain/fd"
grep -qx 'data: ok' "$tmp/plain.out"
ok $? "without the library: data intact (the reference run works)" || diag_file "$tmp/plain.out"
for point in start init open dumped end; do
	eval "ref_$point=\$(fds_at $point)"
done

# check_variant LABEL TRIGGER: the checks of a run with the library.
check_variant() {
	local label=$1 trigger=$2 pid nd n ex want got point ref mine
	grep -q '^data: BAD' "$dir.out" && sed -n 's/^data: BAD/BAD/p' "$dir.out" | head -n 10 |
		sed 's/^/# /'
	grep -qx 'data: ok' "$dir.out"
	ok $? "$label: every pipe, file and socket holds exactly the data written (nothing added, lost or changed)"
	for point in start init open dumped end; do
		eval "ref=\$ref_$point"
		mine=$(fds_at $point)
		[ -n "$ref" ] && [ "$mine" = "$ref" ]
		ok $? "$label: descriptors at '$point' are those of the run without the library ($mine)" ||
			diag "without the library: $ref"
	done
	no_other_output "$label" "$dir.err" 0
	pid=$(ls "$dir" | sed -n "s/^fd\.\([0-9]*\)\.[0-9]*\.$trigger\.pb\.gz$/\1/p" | head -n 1)
	nd=$(sed -n 's/^dumps: //p' "$dir.out")
	n=$(count_files "$dir/fd.*.$trigger.pb.gz")
	[ -n "$nd" ] && [ "$nd" -eq 7 ] && [ "$n" -eq 7 ]
	ok $? "$label: 7 profiles by $trigger (program says ${nd:-?}, files $n)"
	profiles_complete "$label" "$dir"
	ex=$(ls "$dir"/fd.*.exit.pb.gz 2>/dev/null | head -n 1)
	if [ -z "$ex" ]; then
		fail "$label: an exit profile was written"
		return
	fi
	want=$(sed -n 's/^nouw allocs: //p' "$dir.out")
	got=$(pprof_flat "$ex" alloc_objects | flat_of proc_nouw_alloc)
	[ -n "$want" ] && [ "$got" = "$want" ]
	ok $? "$label: exit profile counts every allocation made in proc_nouw_alloc (no unwind info): ${got:-none} of ${want:-?}" ||
		diag_file "$tmp/pprof.err" 5
}

run "preloaded, SIGUSR1 dumps" "$tmp/sig" env HEAPPROF="prefix=$tmp/sig/fd,rate=1" \
	timeout -k 5 "$PROG_TIMEOUT" env LD_PRELOAD="$HP_LIB" "$PLAIN" signal "$tmp/sig/fd"
check_variant "preloaded, SIGUSR1 dumps" signal

run "linked, heapprof_dump() dumps" "$tmp/api" env HEAPPROF="prefix=$tmp/api/fd,rate=1" \
	timeout -k 5 "$PROG_TIMEOUT" "$LINKED" api "$tmp/api/fd"
check_variant "linked, heapprof_dump() dumps" api

done_testing
