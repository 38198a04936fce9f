#!/bin/bash
# tests/hazards/unprotected.sh: the hazard tests can fail. (make stress)
#
# For each protection listed below, builds a copy of libheapprof.so with that protection
# taken out (a patch in tests/hazards/unprotected/), runs the hazard test that guards it
# against that copy (HP_LIB pointing at it), and expects the test to FAIL. A test that
# still passes without its protection proves nothing: that is a failure here.
# The same tests pass against the real library in make check / make stress.
#
# The copies are compiled directly with $CC (the flags of lib_libheapprof_la in
# Makefile.am, but for link-time optimisation: no protection depends on what is inlined)
# and linked with the build's lib/libjemalloc_hp.a. A patch that no longer
# applies is a failure saying so: regenerate it against the current lib/.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool patch timeout "${CC:-cc}"

# (The deferred frees of signal handlers, tests/hazards/unprotected/no-signal-safety.patch,
# are no longer in this list: since issue 5 the profiler holds a table's lock for tens of
# nanoseconds, and unw_sigalloc.sh's timer signals no longer land inside one: the patched
# library ran the stress-size test to the end 4 times in 4; see doc/RELIABILITY.md.)
# patch | test script | what the test shows | extra environment for the test | tries
# (tries: a race the unprotected library loses only now and then; the test must fail in one
# of that many runs, default 1)
PROTECTIONS="
unwind-local|tests/hazards/unw_deadlock.sh|libunwind's local unwinder deadlocks against a thread allocating inside dl_iterate_phdr (many rounds: the race is not hit every time)|UNW_STRESS=1|3
unwind-local|tests/hazards/proc_fdreuse.sh|libunwind's validation pipe writes into the program's reused descriptors|
no-phdr-wrap|tests/hazards/unw_deadlock.sh|a forked child hangs on the loader lock a thread of the program held in dl_iterate_phdr at fork time|
no-atfork|tests/hazards/proc_fork.sh|forked children hang on profiler locks held by other threads|
dump-gmtime|tests/hazards/proc_fork.sh|with a profile's date from gmtime_r, forked children hang in their first dump on glibc's time zone lock, which a thread of the parent held at the fork|
no-xfsz|tests/hazards/out_fsize.sh|a profile past ulimit -f kills the program with SIGXFSZ|
unsafe-write|tests/hazards/out_planted.sh|a planted symlink or FIFO at the profile's name is followed|
no-secure|tests/hazards/setuid.sh|a set-uid program obeys the invoker's HEAPPROF|
all-permanent|tests/hazards/unw_swap.sh|with every object taken as never unloaded, a plugin loaded where another was keeps the first one's frame rules: its stacks stop at its frame|
unannounced-unloads|tests/hazards/unw_swap.sh|with the unloads plugins announce (their finalizers' calls of __cxa_finalize) not counted, a plugin loaded where another was keeps the first one's frame rules: its stacks stop at its frame|
all-announced|tests/hazards/unw_swap.sh|with every object taken as announcing its unload, plugins built without the start files (which do not) are unloaded unseen, and the next one keeps the first one's frame rules|
unload-underway|tests/hazards/unw_swap.sh|with a look at the loader's list taken as settled while an announced plugin is still in it (its unload under way: its finalizers allocate), the next plugin loaded where it was keeps its frame rules|
reuse-unchecked|tests/integration/unwind_shapes.sh|with the last walk's outer frames taken unchecked, a call site reached from another caller at the same stack depth gets the first caller's frames|
reuse-bp-unchecked|tests/integration/unwind_shapes.sh|with the saved rbp words under the last walk's outer frames taken unchecked (return addresses still checked), a frame whose caller is found by its rbp gets the last walk's caller when only that rbp differs|
reuse-bp-unmatched|tests/integration/unwind_shapes.sh|with the rbp of the frame where a walk meets the last walk not compared (where the walk on reads it), a walk whose first frame differs from the last one's in its rbp alone gets the last walk's caller|
again-bp-unmatched|tests/integration/unwind_shapes.sh|with the first frame's rbp not compared before the last walk's frames are taken whole (hp_unwind_again), the same|
recall-unchecked|tests/integration/unwind_shapes.sh|with a walk kept by where it started (hp_unwind_recall) taken again without checking the words under it, a call site reached from another caller at the same stack pointer gets the first caller's frames|
recall-bp-unmatched|tests/integration/unwind_shapes.sh|with the first frame's rbp not compared before a walk kept by where it started is taken again (where the walk on reads rbp), a walk whose first frame differs from the kept one's in its rbp alone gets the kept walk's caller|
reuse-other-rules|tests/hazards/unwinding.sh|with the last walk's outer frames taken under another unload count of the loader than their rules were made at (their words unchanged), a plugin loaded where another was, whose frames at the same return address and stack pointer read the same words but find their caller elsewhere, gets the first plugin's stack: a frame short|UNW_ONLY=swap|
recall-rules-unheld|tests/hazards/unwinding.sh|with a walk kept by where it started taken again without asking whether the rules it used still hold, a plugin loaded where another was, whose frames at the same return address and stack pointer read the same words but find their caller elsewhere, gets the first plugin's stack: a frame short|UNW_ONLY=swap|
recall-unbounded|tests/hazards/unwinding.sh|with the words under a walk kept by where it started read wherever they are (not only within the thread's own stack), an allocation from the same place on a coroutine stack mapped again smaller reads the old stack's pages, which are gone, and the program dies|UNW_ONLY=coro|
reuse-unbounded|tests/hazards/unwinding.sh|with the words under the last walk's outer frames read wherever they are (not only within the thread's own stack), a walk on a coroutine stack mapped again smaller reads the old stack's pages, which are gone, and the program dies|UNW_ONLY=coro|
walk-untrusted|tests/hazards/unwinding.sh|with every word a frame rule points at read directly (not only those within the thread's stack), a walk through a saved rbp slot that holds a pointer to an unmapped page dies|UNW_ONLY=badslot|
record-unchecked|tests/integration/records.sh|with a sampled block's record trusted as read, a double free goes to the allocator twice, and a block with a byte written in front of it is resized and freed from a garbage record|
"

JE=$top_builddir/lib/libjemalloc_hp.a
[ -f "$JE" ]
ok $? "the build's lib/libjemalloc_hp.a exists" || done_testing

# build_variant PATCH: a copy of lib/ with PATCH applied, compiled to $tmp/PATCH/libheapprof.so.
build_variant() {
	local name=$1 d=$tmp/$1
	rm -rf "$d" && mkdir -p "$d" && cp -r "$top_srcdir/lib" "$top_srcdir/include" "$d/" || return 1
	if ! (cd "$d" && patch -p1 -s <"$top_srcdir/tests/hazards/unprotected/$name.patch") \
		>"$d.patch.log" 2>&1; then
		diag "patch $name.patch does not apply to lib/: regenerate it"
		diag_file "$d.patch.log"
		return 1
	fi
	# shellcheck disable=SC2086
	${CC:-cc} -std=gnu11 -O2 -g -fPIC -shared -fvisibility=hidden -ftls-model=initial-exec \
		-fno-semantic-interposition -fno-plt -D_GNU_SOURCE -DHP_VERSION='"unprotected"' \
		-I"$d/include" -I"$d/lib" -o "$d/libheapprof.so" "$d"/lib/*.c \
		-Wl,--version-script="$d/lib/exports.map" -Wl,-z,now -Wl,-Bsymbolic-functions \
		"$JE" -lunwind-x86_64 -lunwind -lz -lm -lpthread -ldl >"$d.cc.log" 2>&1 ||
		{ diag_file "$d.cc.log" 30; return 1; }
}

built=" "
while IFS='|' read -r patch test what env tries; do
	[ -n "$patch" ] || continue
	case $built in
	*" $patch "*) ;;
	*)
		build_variant "$patch"
		ok $? "a library without protection '$patch' builds" || continue
		built="$built$patch "
		;;
	esac
	if [ ! -f "$top_srcdir/$test" ]; then
		fail "$test exists"
		continue
	fi
	# The test's own scratch dirs and timeouts apply; its TAP goes to a log.
	log=$tmp/$patch.$(basename "$test").log
	tries=${tries:-1}
	for ((try = 1; try <= tries; try++)); do
		(cd "$top_builddir" && env $env HP_LIB="$tmp/$patch/libheapprof.so" \
			timeout 600 bash "$top_srcdir/$test") >"$log" 2>&1
		status=$?
		nfail=$(grep -c '^not ok' "$log")
		[ "$status" -ne 0 ] && [ "$nfail" -gt 0 ] && break
	done
	[ "$status" -ne 0 ] && [ "$nfail" -gt 0 ]
	ok $? "without '$patch', $(basename "$test") fails ($nfail not ok, status $status; run $((try > tries ? tries : try)) of at most $tries): $what"
	grep '^not ok' "$log" | head -5 | sed 's/^/#   /'
done <<<"$PROTECTIONS"
done_testing
