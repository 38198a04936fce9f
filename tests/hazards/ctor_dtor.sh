#!/bin/bash
# tests/hazards/ctor_dtor.sh: allocations before main (constructors of the program and of
# a library it links), in atexit handlers and destructors, and after heapprof's exit
# profile (doc/DESIGN.md: the exit profile is written by the library's destructor, after
# the program's atexit handlers).
#
# tests/progs/sem_ctor_main (linked with tests/progs/.libs/libsem_ctor_lib.so; see both
# sources for the sites) runs at rate=1, under LD_PRELOAD and linked with -lheapprof
# (sem_ctor_main_linked). Checked:
#   - exit status 0, the program's stdout (one line per stage, in order) identical to the
#     run without the library, nothing on stderr: the frees and allocations after the
#     exit profile (very_late, an atexit handler registered from a destructor, and the
#     library's destructor when the loader runs it after heapprof's) neither crash nor
#     print;
#   - the exit profile has the allocations made before main by name, exactly:
#     lib_ctor_alloc (the library's constructor) and main_ctor_alloc (the program's);
#   - it was written after the atexit handler and the program's destructors, as documented:
#     main_alloc's blocks freed by the atexit handler are not in use, atexit_alloc,
#     main_dtor_churn and late_dtor_alloc (destructor priority 101) are in it, and
#     very_late_alloc, which runs after it, is not;
#   - lib_ctor_alloc is either all in use (the loader ran the library's destructor after
#     heapprof's: the LD_PRELOAD case) or all freed (before it), never anything else.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool timeout
need_prog sem_ctor_main sem_ctor_main_linked

PROG=$top_builddir/tests/progs/sem_ctor_main
PROGL=$top_builddir/tests/progs/sem_ctor_main_linked
STAGES='main ctor
main
atexit handler
main destructor
late destructor
lib destructor
very late handler'

# The linked programs load the library under test ($HP_LIB, which tests/hazards/
# unprotected.sh may point at a modified copy) rather than the build tree's found through
# their rpath: LD_LIBRARY_PATH comes first.
mkdir -p "$tmp/hplib" && ln -sf "$HP_LIB" "$tmp/hplib/libheapprof.so.0"

(cd "$tmp" && exec timeout 60 env -u LD_PRELOAD -u HEAPPROF "$PROG") >"$tmp/ref.out" 2>"$tmp/ref.err"
status=$?
[ "$status" -eq 0 ] && [ ! -s "$tmp/ref.err" ] && [ "$(cat "$tmp/ref.out")" = "$STAGES" ]
ok $? "without the library: every stage runs, in order (exit $status)"
diag_file "$tmp/ref.out"
diag_file "$tmp/ref.err"

# site alloc_objects alloc_bytes inuse_objects inuse_bytes (empty: absent)
WANT="main_ctor_alloc 30 150000 0 0
main_alloc 40 280000 0 0
atexit_alloc 50 55000 50 55000
main_dtor_churn 10 20000 0 0
late_dtor_alloc 60 54000 60 54000
very_late_alloc 0 0 0 0"

# got SITE: "alloc_objects alloc_bytes inuse_objects inuse_bytes" of SITE from the last
# profile read (0 where absent).
got() {
	local s=$1 idx v line=
	for idx in alloc_objects alloc_space inuse_objects inuse_space; do
		v=$(flat_of "$s" <"$tmp/flat.$idx")
		line="$line ${v:-0}"
	done
	echo "${line# }"
}

for variant in preload linked; do
	label="$variant rate=1"
	dir=$tmp/$variant
	mkdir -p "$dir"
	if [ "$variant" = preload ]; then
		(cd "$dir" && exec timeout 60 env HEAPPROF="prefix=$dir/p,rate=1" LD_PRELOAD="$HP_LIB" \
			"$PROG") >"$dir.out" 2>"$dir.err"
	else
		(cd "$dir" && exec timeout 60 env -u LD_PRELOAD LD_LIBRARY_PATH="$tmp/hplib" \
			HEAPPROF="prefix=$dir/p,rate=1" "$PROGL") >"$dir.out" 2>"$dir.err"
	fi
	status=$?
	if [ "$status" -eq 124 ]; then
		fail "$label: finishes (hung)"
		continue
	fi
	ok "$status" "$label: exit status 0 (got $status)"
	cmp -s "$dir.out" "$tmp/ref.out"
	ok $? "$label: every stage runs, in the same order as without the library"
	cmp -s "$dir.out" "$tmp/ref.out" || diag_file "$dir.out"
	[ ! -s "$dir.err" ]
	ok $? "$label: nothing on stderr (frees and allocations after the exit profile are silent)"
	diag_file "$dir.err"

	prof=$(ls "$dir"/p.*.exit.pb.gz 2>/dev/null)
	if [ "$(count_files "$dir/p.*.exit.pb.gz")" -ne 1 ]; then
		fail "$label: one exit profile"
		diag "files: $(ls -A "$dir" | tr '\n' ' ')"
		continue
	fi
	for idx in alloc_objects alloc_space inuse_objects inuse_space; do
		pprof_flat "$prof" "$idx" >"$tmp/flat.$idx"
	done
	if [ ! -s "$tmp/flat.alloc_space" ]; then
		fail "$label: go tool pprof reads the profile"
		diag_file "$tmp/pprof.err"
		continue
	fi
	while read -r site ao as io is; do
		g=$(got "$site")
		[ "$g" = "$ao $as $io $is" ]
		ok $? "$label: $site: alloc objects, bytes, inuse objects, bytes are $ao $as $io $is (got $g)"
	done <<<"$WANT"
	g=$(got lib_ctor_alloc)
	case $g in
	"20 60000 20 60000") diag "$label: the library's destructor ran after the exit profile" ;;
	"20 60000 0 0") diag "$label: the library's destructor ran before the exit profile" ;;
	esac
	[ "$g" = "20 60000 20 60000" ] || [ "$g" = "20 60000 0 0" ]
	ok $? "$label: lib_ctor_alloc (library constructor): 20 blocks, 60000 bytes, all in use or all freed (got $g)"
done

done_testing
