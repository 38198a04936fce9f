#!/bin/bash
# tests/hazards/libc_semantics.sh: the C allocation functions keep glibc 2.36's semantics
# under heapprof, on both of its paths (the sampled arena and jemalloc's ordinary arenas).
#
# tests/progs/sem_libc prints a normalized transcript of what the functions do (NULL or
# not, errno names, alignment, usable size, content kept; see its header for the cases).
# It runs
#   - without the library: glibc's malloc, the reference;
#   - under LD_PRELOAD at rate=1: every block is sampled, so served by the sampled arena;
#   - under LD_PRELOAD at the default rate: most blocks are not sampled;
#   - linked with -lheapprof (sem_libc_linked), at rate=1 and at the default rate;
# and every transcript must be identical to the reference, with nothing on stderr and
# exit status 0. Under the library the program finds heapprof_set_rate with dlsym
# (--expect-api makes that required) and switches the rate between 1 and 0 during its
# realloc and free sections, so blocks move between the two paths in both directions.
# The rate=1 exit profile must also count its known sites exactly: usable_site (2 blocks per
# size of the usable-size sweep) and after_huge_site (100 blocks right after a failed
# malloc(SIZE_MAX-65535): a failed request must not make rate=1 skip allocations).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool timeout diff
need_prog sem_libc sem_libc_linked

SL=$top_builddir/tests/progs/sem_libc
SLL=$top_builddir/tests/progs/sem_libc_linked

# The linked programs load the library under test ($HP_LIB, which tests/hazards/
# unprotected.sh may point at a modified copy) rather than the build tree's found through
# their rpath: LD_LIBRARY_PATH comes first.
mkdir -p "$tmp/hplib" && ln -sf "$HP_LIB" "$tmp/hplib/libheapprof.so.0"

# run LABEL DIR CMD...: runs CMD in DIR (created empty) under a 120 s timeout; stdout to
# DIR.out, stderr to DIR.err; sets $status.
run() {
	local label=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	(cd "$dir" && exec timeout 120 "$@") >"$dir.out" 2>"$dir.err"
	status=$?
	if [ "$status" -eq 124 ]; then
		fail "$label: finishes (hung)"
	else
		ok "$status" "$label: exit status 0 (got $status)"
	fi
}

# The reference: glibc alone.
run "glibc" "$tmp/ref" env -u LD_PRELOAD -u HEAPPROF "$SL"
ref=$tmp/ref.out
[ ! -s "$tmp/ref.err" ]
ok $? "glibc: nothing on stderr"
diag_file "$tmp/ref.err"
# The transcript must be complete and show the cases it is meant to show (a program that
# printed nothing would compare equal to anything else that printed nothing).
sweep=$(awk '$1 == "usable" && $2 == "sweep:" { print $3 }' "$ref")
grep -qx 'end of transcript' "$ref" &&
	grep -qx 'realloc(p of 100, 0): NULL, errno kept' "$ref" &&
	grep -qx 'malloc(SIZE_MAX-0): NULL ENOMEM' "$ref" &&
	grep -qx 'realloc(p, SIZE_MAX-4096): NULL ENOMEM, old block intact' "$ref" &&
	grep -qx 'posix_memalign alignment 4097..8191: EINVAL, \*out untouched' "$ref" &&
	grep -qx 'posix_memalign alignment 8388608: non-NULL, aligned, usable>=n, writable, errno kept' "$ref" &&
	grep -qx 'memalign alignment 0..65536: non-NULL, aligned, usable>=n, writable, errno kept' "$ref" &&
	grep -qx 'memalign(16, 1): non-NULL, aligned, usable>=n, writable, errno kept' "$ref" &&
	grep -qx 'pvalloc(4097): non-NULL, aligned, usable>=n, writable, errno kept' "$ref" &&
	grep -qx 'errno across realloc grow: kept' "$ref" &&
	[ -n "$sweep" ] && [ "$sweep" -gt 4096 ] &&
	! grep -Eq 'MISALIGNED|USABLE|CORRUPTED|CHANGED|CONTENT LOST|NOT |FAILED|OUT CHANGED' "$ref"
ok $? "glibc: the transcript is complete ($(wc -l <"$ref") lines) and glibc passes its own checks"

# split_sections FILE DIR: FILE cut at its "== name" lines into DIR/00, DIR/01, ...
split_sections() {
	mkdir -p "$2"
	awk -v d="$2" '/^== / { n++ } { f = sprintf("%s/%02d", d, n); print > f }' "$1"
}
split_sections "$ref" "$tmp/ref.sections"

# check_same LABEL DIR: each section of the run's transcript is the reference's (one TAP
# line per section, so that one difference does not hide another); stderr is empty.
check_same() {
	local label=$1 dir=$2 sec name
	split_sections "$dir.out" "$dir.sections"
	for sec in "$tmp/ref.sections"/*; do
		name=$(head -n 1 "$sec" | sed 's/^== //')
		[ "${sec##*/}" = 00 ] && name="first lines"
		if diff "$sec" "$dir.sections/${sec##*/}" >"$dir.diff" 2>&1; then
			pass "$label: $name: same as glibc"
		else
			fail "$label: $name: same as glibc ($(grep -c '^[<>]' "$dir.diff") lines differ)"
			diag "< glibc, > heapprof:"
			diag_file "$dir.diff" 14
		fi
	done
	[ "$(ls "$dir.sections" | wc -l)" -eq "$(ls "$tmp/ref.sections" | wc -l)" ]
	ok $? "$label: as many sections as glibc's transcript"
	[ ! -s "$dir.err" ]
	ok $? "$label: nothing on stderr"
	diag_file "$dir.err"
}

# only_profile DIR: the one exit profile in DIR, or empty.
only_profile() {
	local f n
	n=$(count_files "$1/x.*.exit.pb.gz")
	f=$(ls "$1"/x.*.exit.pb.gz 2>/dev/null | head -1)
	[ "$n" -eq 1 ] && echo "$f"
}

# check_exact_sites LABEL PROFILE: rate=1 counts of the known sites.
check_exact_sites() {
	local label=$1 prof=$2 u a
	pprof_flat "$prof" alloc_objects >"$tmp/flat.ao"
	u=$(flat_of usable_site <"$tmp/flat.ao")
	a=$(flat_of after_huge_site <"$tmp/flat.ao")
	[ "$u" = $((2 * sweep)) ]
	ok $? "$label: usable_site made exactly $((2 * sweep)) blocks in the profile (got ${u:-none})"
	[ -n "$u" ] || diag_file "$tmp/pprof.err"
	[ "$a" = 100 ]
	ok $? "$label: after_huge_site's 100 blocks after a failed malloc(SIZE_MAX-65535) all recorded (got ${a:-none})"
	pprof_flat "$prof" inuse_space >"$tmp/flat.is"
	u=$(flat_of usable_site <"$tmp/flat.is")
	[ "${u:-0}" = 0 ]
	ok $? "$label: usable_site has nothing in use at exit (got ${u:-0} bytes)"
}

for variant in preload linked; do
	for rate in 1 default; do
		label="$variant rate=$rate"
		dir=$tmp/$variant-$rate
		hp="prefix=$dir/x"
		[ "$rate" = default ] || hp="$hp,rate=$rate"
		if [ "$variant" = preload ]; then
			run "$label" "$dir" env HEAPPROF="$hp" LD_PRELOAD="$HP_LIB" "$SL" --expect-api
		else
			run "$label" "$dir" env -u LD_PRELOAD LD_LIBRARY_PATH="$tmp/hplib" HEAPPROF="$hp" "$SLL" \
				--expect-api
		fi
		check_same "$label" "$dir"
		prof=$(only_profile "$dir")
		if [ -z "$prof" ]; then
			fail "$label: one exit profile written"
			diag "files: $(ls -A "$dir" | tr '\n' ' ')"
			continue
		fi
		if [ "$rate" = 1 ]; then
			check_exact_sites "$label" "$prof"
		else
			pprof_reads "$prof"
			ok $? "$label: go tool pprof reads the exit profile"
		fi
	done
done

done_testing
