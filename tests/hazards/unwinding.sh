#!/bin/bash
# tests/hazards/unwinding.sh: the unwinder against programs that make unwinding hard, every
# allocation sampled (HEAPPROF=rate=1, so every one is unwound), each program also run
# without the library to show that it is itself sound. See doc/RELIABILITY.md.
#
#   1. tests/progs/unw_phdr: threads allocate inside dl_iterate_phdr callbacks (the loader
#      lock held) while others allocate and the main thread dlopens/dlcloses a library, or
#      forks. libunwind 1.6.2's local unwinder takes its cache lock, then the loader lock;
#      these callbacks take them the other way round: heapprof must not deadlock, a forked
#      child must not hang, and the callbacks' allocations must all be in the profile.
#   2. tests/progs/unw_churn: a plugin loaded, leaking, unloaded, 100s of times, profiles
#      asked for by SIGUSR1 meanwhile: no crash, and the exit profile, written long after
#      the last dlclose, names the plugin's leaking function with exactly the bytes leaked.
#   3. tests/progs/unw_nocfi: allocations from functions without unwind info, some with
#      garbage in rbp (null, odd, unmapped, PROT_NONE, non-canonical, kernel, a loop, pages
#      that were readable at an earlier sample): no crash, every byte counted.
#   4. tests/progs/unw_jit: allocations from generated code in an anonymous page, some with
#      garbage in rbp, the page unmapped before the dump: no crash, every byte counted, each
#      sample's first frame in the JIT page.
#   6. tests/progs/unw_swap: two plugins loaded in turn at one address, with the same return
#      address after a call of malloc but different frames there (tests/progs/
#      unw_swap_plugin.c): every block's stack must go on through the plugin's frame to its
#      caller, so a rule kept from the plugin unloaded before is not applied (heapprof takes
#      only start-up objects as never unloaded: doc/DESIGN.md, "The fast walk"). Twice:
#      plugins whose unloads call heapprof's __cxa_finalize first ("announced", which then
#      spares the walks through them a question to the loader), and the same two built
#      without the start files, which do not (heapprof must ask the loader). Then a third
#      pair (tests/progs/unw_swap_shape.c): the same return address, stack pointer and
#      stack words at the allocation, one frame more in the second: a walk kept by where it
#      started (lib/unwind.c, "recalled walks") must not be taken again once the plugin
#      whose rules it used is unloaded (recall-rules-unheld.patch takes that check out).
#   5. tests/progs/unw_sigalloc polite: per-thread timers every 200 us whose handlers free
#      sampled blocks the interrupted code allocated at the same call site (so the handler
#      may need the very shard lock the interrupted profiler holds), and malloc and free
#      when the code is not in malloc or free: no hang, no corruption, allocations and frees
#      all accounted for (nothing left in use). The stress version adds short runs of
#      unw_sigalloc rude, whose handlers also allocate while the code is in malloc or free
#      (inside heapprof, which may be inside jemalloc): no crash, no hang.
#   7. tests/progs/unw_coro: allocations on coroutine stacks (ucontext), each unmapped and
#      mapped again smaller at the same place, so that a walk meets the last walk's
#      innermost frame (same return address, same stack pointer) while that walk's outer
#      frames (a walk stopped at the depth limit, which the next may take up) lie in pages
#      that are gone: no crash, and every block's stack through its own frames. lib/unwind
#      reads the words under the last walk's frames only within the thread's own stack;
#      tests/hazards/unprotected/reuse-unbounded.patch takes that out. The same with a
#      short chain whose walk is whole (its first frame has no caller), which lib/unwind
#      keeps by where it started at rate=1 (hp_unwind_recall): recall-unbounded.patch takes
#      its range test out. (The walk's own words on a coroutine stack are read through
#      readable().)
#   8. tests/progs/unw_badslot: allocations under a frame (with exact CFI) whose saved rbp
#      slot holds, every other round, a pointer to an unmapped page or a PROT_NONE one,
#      while the frame above it finds its caller by rbp: the rules are right (made on the
#      good rounds), the word they point at is not on the stack. The walk must check it before it reads it (lib/unwind reads a word
#      directly only within the thread's stack: step_word) and end there: no crash, every
#      block's stack from the leaf to badslot_f. tests/hazards/unprotected/
#      walk-untrusted.patch reads every word directly.
#
# Quick version (make check). tests/hazards/unwinding_stress.sh runs this script with
# UNW_STRESS=1: the same checks with many more rounds (make stress). UNW_ONLY="phdr jit"
# (say) runs only those parts: tests/hazards/unw_deadlock.sh (phdr) and
# tests/hazards/unw_sigalloc.sh (sigalloc) do, for tests/hazards/unprotected.sh.
# Every run is wrapped in timeout (UNW_LIMIT seconds; 120, or 300 for the stress version);
# a hang is "not ok ... (hung ...)".
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool gzip timeout readelf nm
need_prog unw_phdr unw_churn unw_nocfi unw_jit unw_sigalloc unw_swap unw_coro unw_badslot

P=$top_builddir/tests/progs
PLUGIN=$P/.libs/libunw_plugin.so
if [ ! -f "$PLUGIN" ]; then
	fail "plugin built: $PLUGIN not found"
	done_testing
fi

if [ "${UNW_STRESS:-0}" = 1 ]; then
	MODE=stress
	PHDR_ROUNDS=6000 PHDR_FORKS=100
	CHURN_ROUNDS=3000 CHURN_EVERY=25
	NOCFI_ROUNDS=3000
	JIT_GENS=40 JIT_CALLS=2000
	SIG_ITERS=1500000 SIG_MIN=8000
	RUDE_RUNS=12
	SWAP_ROUNDS=400 SWAP_CALLS=50
	CORO_ROUNDS=1000
	BADSLOT_ROUNDS=20000
	LIMIT=300
else
	MODE=quick
	PHDR_ROUNDS=1000 PHDR_FORKS=12
	CHURN_ROUNDS=300 CHURN_EVERY=25
	NOCFI_ROUNDS=200
	JIT_GENS=4 JIT_CALLS=1000
	SIG_ITERS=100000 SIG_MIN=1000
	RUDE_RUNS=0
	SWAP_ROUNDS=40 SWAP_CALLS=50
	CORO_ROUNDS=100
	BADSLOT_ROUNDS=1000
	LIMIT=120
fi
LIMIT=${UNW_LIMIT:-$LIMIT}
LEAK=1000
CHILD_ALLOCS=16
diag "$MODE version; each run limited to $LIMIT s"

# --- running ---------------------------------------------------------------------------

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f s", b - a }'; }

# launch plain|lib DIR CMD...: runs CMD in DIR (created empty) under timeout, without or
# with the library (HEAPPROF=rate=1,prefix=DIR/p); stdout in DIR.out, stderr in DIR.err.
# Sets $status (1 if it exited 0 but printed anything but heapprof: lines on stderr), $why
# (what went wrong, or empty: a timeout, or a program saying it hung, is "hung") and
# $took; returns $status.
launch() {
	local how=$1 d=$2 t0
	shift 2
	rm -rf "$d"
	mkdir -p "$d"
	t0=$(now)
	if [ "$how" = lib ]; then
		(cd "$d" && exec timeout -k 10 "$LIMIT" env LD_PRELOAD="$HP_LIB" \
			HEAPPROF="rate=1,prefix=$d/p" "$@") >"$d.out" 2>"$d.err"
	else
		(cd "$d" && exec timeout -k 10 "$LIMIT" "$@") >"$d.out" 2>"$d.err"
	fi
	status=$?
	took=$(since "$t0")
	why=
	case $status in
	0) ;;
	124 | 137) why="hung: killed by timeout after $LIMIT s" ;;
	*) if grep -q 'hung' "$d.err"; then
		why="hung: $(grep -m1 hung "$d.err")"
	   elif [ "$status" -gt 128 ]; then
		why="killed by signal $((status - 128))"
	   else
		why="exit status $status"
	   fi ;;
	esac
	if [ "$status" -eq 0 ] && grep -qv '^heapprof: ' "$d.err"; then
		why="but it printed errors"
		status=1
	fi
	return "$status"
}

# run LABEL plain|lib DIR CMD...: launch, and one assertion that the program ran to the end
# and exited 0, printing nothing but heapprof: lines on stderr. Returns $status.
run() {
	local label=$1
	shift
	launch "$@"
	diag "$label: $took"
	ok "$status" "$label: runs to the end and exits 0${why:+ ($why)}"
	[ "$status" -eq 0 ] || { diag_file "$2.err"; diag_file "$2.out" 10; }
	return "$status"
}

# out NAME DIR: the value printed as "NAME value" by the last run in DIR.
out() {
	awk -v n="$1" '$1 == n { print $2; exit }' "$2.out"
}

# same LABEL GOT WANT: one assertion that two figures are equal (and not empty).
same() {
	[ -n "$2" ] && [ "$2" = "$3" ]
	ok $? "$1 (got ${2:-nothing}, want $3)"
}

# --- reading profiles (go tool pprof -raw: exact values, location addresses) -----------

# raw PROFILE: go tool pprof -raw PROFILE into PROFILE.raw; succeeds if pprof read it.
raw() {
	pprof -raw "$1" >"$1.raw" 2>"$1.raw.err" && grep -q '^Samples:' "$1.raw" ||
		{ diag_file "$1.raw.err" 5; return 1; }
}

# samples RAWFILE: one line per sample, "alloc_objects alloc_space inuse_objects
# inuse_space leaf_address frame;frame;..." (frames by function name, leaf first; a location
# without a name is its address).
samples() {
	awk '
	/^Samples:/ { sec = "s"; hdr = 1; next }
	/^Locations/ { sec = "l"; next }
	/^Mappings/ { sec = "m"; next }
	sec == "s" && hdr { hdr = 0; next }
	sec == "s" && index($0, ":") {
		split($0, part, ":")
		ns++
		vals[ns] = part[1]
		ids[ns] = part[2]
		next
	}
	sec == "l" && $1 ~ /^[0-9]+:$/ {
		id = substr($1, 1, length($1) - 1)
		addr[id] = $2
		nm = ""
		if ($3 ~ /^M=/) nm = $4; else if (NF >= 3) nm = $3
		name[id] = (nm == "" || nm ~ /^:/) ? $2 : nm
	}
	END {
		for (i = 1; i <= ns; i++) {
			split(vals[i], v, " ")
			n = split(ids[i], l, " ")
			fr = ""
			for (j = 1; j <= n; j++) fr = fr (j > 1 ? ";" : "") name[l[j]]
			print v[1], v[2], v[3], v[4], addr[l[1]], fr
		}
	}' "$1"
}

# sum RAWFILE COLUMN [LEAF]: the sum of a value (1 alloc_objects, 2 alloc_space,
# 3 inuse_objects, 4 inuse_space) over all samples, or those whose leaf function is LEAF.
sum() {
	samples "$1" | awk -v c="$2" -v f="${3-}" '
		{ split($6, fr, ";") }
		f == "" || fr[1] == f { s += $c }
		END { printf "%.0f\n", s }'
}

# sum_in_pages RAWFILE COLUMN "LO HI ...": the sum over samples whose leaf address lies in
# one of the [LO, HI) ranges (hex).
sum_in_pages() {
	samples "$1" | awk -v c="$2" -v r="$3" '
		function hex(s,   i, n, d) {
			s = tolower(s); sub(/^0x/, "", s); n = 0
			for (i = 1; i <= length(s); i++) {
				d = index("0123456789abcdef", substr(s, i, 1)) - 1
				if (d < 0) return -1
				n = n * 16 + d
			}
			return n
		}
		BEGIN { nr = split(r, rr, " ") }
		{
			a = hex($5)
			for (i = 1; i + 1 <= nr; i += 2)
				if (a >= hex(rr[i]) && a < hex(rr[i + 1])) { s += $c; break }
		}
		END { printf "%.0f\n", s }'
}

# readable_profile LABEL GLOB: one assertion that exactly one profile matches GLOB and go tool
# pprof reads it; sets $prof (its path, or empty).
readable_profile() {
	local n
	prof=
	n=$(count_files "$2")
	if [ "$n" -eq 1 ]; then
		prof=$(echo $2)
		raw "$prof" || prof=
	fi
	[ -n "$prof" ]
	ok $? "$1: one exit profile ($n found), read by go tool pprof"
}

# --- 1. allocations inside dl_iterate_phdr callbacks ----------------------------------------

test_phdr() {
	local any='([^;]*;)*'
	for mode in dlopen fork; do
		rounds=$PHDR_ROUNDS
		[ "$mode" = fork ] && rounds=$PHDR_FORKS
		label="phdr $mode"
		run "$label without heapprof" plain "$tmp/phdr-$mode-plain" \
			"$P/unw_phdr" "$mode" "$rounds" "$PLUGIN"
		d=$tmp/phdr-$mode
		run "$label at rate=1" lib "$d" "$P/unw_phdr" "$mode" "$rounds" "$PLUGIN" || continue
		cb=$(out cb_allocs "$d")
		[ "${cb:-0}" -gt 0 ]
		ok $? "$label: allocations were made inside dl_iterate_phdr callbacks (${cb:-0})"
		pid=$(out pid "$d")
		readable_profile "$label" "$d/p.$pid.*.exit.pb.gz"
		if [ -n "$prof" ]; then
			same "$label: every callback allocation is in the profile (unw_phdr_cb_alloc)" \
				"$(sum "$prof.raw" 1 unw_phdr_cb_alloc)" "$cb"
			same "$label: and their bytes (alloc_space at unw_phdr_cb_alloc)" \
				"$(sum "$prof.raw" 2 unw_phdr_cb_alloc)" "$(out cb_bytes "$d")"
			same "$label: every worker allocation too (unw_phdr_worker_alloc)" \
				"$(sum "$prof.raw" 1 unw_phdr_worker_alloc)" "$(out worker_allocs "$d")"
			samples "$prof.raw" | awk '{ print $6 }' |
				grep -Eq "^unw_phdr_cb_alloc;unw_phdr_cb;$any[^;]*dl_iterate_phdr;${any}unw_phdr_thread(;|\$)"
			ok $? "$label: callback stacks unwound through dl_iterate_phdr to the thread"
			same "$label: nothing left in use at unw_phdr_cb_alloc" \
				"$(sum "$prof.raw" 4 unw_phdr_cb_alloc)" 0
		fi
		if [ "$mode" = fork ]; then
			same "$label: every fork done" "$(out forks "$d")" "$rounds"
			nchild=0 badgz=
			for f in "$d"/p.*.exit.pb.gz; do
				[ -e "$f" ] || continue
				case $f in "$d/p.$pid."*) continue ;; esac
				nchild=$((nchild + 1))
				gzip -t "$f" 2>/dev/null || badgz="$badgz $(basename "$f")"
				child=$f
			done
			same "$label: each child wrote its exit profile" "$nchild" "$rounds"
			[ -z "$badgz" ]
			ok $? "$label: every child profile passes gzip -t${badgz:+ (corrupt:$badgz)}"
			if [ "$nchild" -gt 0 ] && raw "$child"; then
				same "$label: a child's profile holds its allocations (unw_phdr_child_alloc)" \
					"$(sum "$child.raw" 1 unw_phdr_child_alloc)" "$CHILD_ALLOCS"
			else
				fail "$label: a child's profile is read by go tool pprof"
			fi
		fi
	done
}

# --- 2. a plugin loaded, leaking and unloaded again and again -----------------------------

test_churn() {
	local leak_total=$((CHURN_ROUNDS * LEAK))
	run "churn without heapprof" plain "$tmp/churn-plain" \
		"$P/unw_churn" "$PLUGIN" "$CHURN_ROUNDS" "$LEAK" "$CHURN_EVERY" &&
		same "churn without heapprof: the plugin is unloaded at the end" \
			"$(out unloaded "$tmp/churn-plain")" 1
	d=$tmp/churn
	if run "churn at rate=1" lib "$d" "$P/unw_churn" "$PLUGIN" "$CHURN_ROUNDS" "$LEAK" "$CHURN_EVERY"
	then
		same "churn: the plugin is unloaded at the end (dlopen RTLD_NOLOAD)" "$(out unloaded "$d")" 1
		same "churn: SIGUSR1 sent every $CHURN_EVERY rounds" "$(out signals "$d")" \
			$((CHURN_ROUNDS / CHURN_EVERY))
		nsig=$(count_files "$d/p.*.signal.pb.gz")
		[ "$nsig" -ge 1 ]
		ok $? "churn: profiles written on SIGUSR1 while libraries came and went ($nsig)"
		badgz=
		for f in "$d"/p.*.pb.gz; do
			[ -e "$f" ] || continue
			gzip -t "$f" 2>/dev/null || badgz="$badgz $(basename "$f")"
		done
		[ -z "$badgz" ]
		ok $? "churn: every profile passes gzip -t${badgz:+ (corrupt:$badgz)}"
		last=$(ls "$d" | grep '\.signal\.pb\.gz$' | sort | tail -n 1)
		[ -n "$last" ] && raw "$d/$last"
		ok $? "churn: go tool pprof reads the last signal profile (${last:-none})"
		readable_profile "churn" "$d/p.*.exit.pb.gz"
		if [ -n "$prof" ]; then
			same "churn: the unloaded plugin's leak is named, with the bytes leaked (unw_plugin_leak)" \
				"$(sum "$prof.raw" 4 unw_plugin_leak)" "$leak_total"
			same "churn: and the blocks (inuse_objects at unw_plugin_leak)" \
				"$(sum "$prof.raw" 3 unw_plugin_leak)" "$CHURN_ROUNDS"
			same "churn: the plugin's other site is named too (unw_plugin_churn)" \
				"$(sum "$prof.raw" 1 unw_plugin_churn)" "$CHURN_ROUNDS"
			sed -n '/^Mappings/,$p' "$prof.raw" | grep -q 'libunw_plugin\.so'
			ok $? "churn: the exit profile has a mapping for the unloaded plugin"
		fi
	fi
}

# --- 3. no unwind info, garbage frame pointers ----------------------------------------------

test_nocfi() {
	local covered nsyms
	# The build must really have left the sites without .eh_frame entries (CFLAGS may add -g,
	# which gives .debug_frame only; heapprof reads .eh_frame_hdr alone).
	covered=$(nm "$P/unw_nocfi" | awk '$3 ~ /^unw_nocfi_(leaf|mid|deep|badrbp)$/ { print $1, $3 }' |
		while read -r a name; do
			readelf --debug-dump=frames "$P/unw_nocfi" 2>/dev/null | awk -v a="$a" -v n="$name" '
				function hex(s,   i, v, d) {
					s = tolower(s); sub(/^0x/, "", s); v = 0
					for (i = 1; i <= length(s); i++) {
						d = index("0123456789abcdef", substr(s, i, 1)) - 1
						v = v * 16 + d
					}
					return v
				}
				/^Contents of the/ { eh = ($0 ~ /\.eh_frame/) }
				eh && / FDE / && match($0, /pc=[0-9a-f]+\.\.[0-9a-f]+/) {
					r = substr($0, RSTART + 3, RLENGTH - 3); split(r, b, /\.\./)
					if (hex(a) >= hex(b[1]) && hex(a) < hex(b[2])) { print n; exit }
				}'
		done)
	nsyms=$(nm "$P/unw_nocfi" | grep -cE ' T unw_nocfi_(leaf|mid|deep|badrbp)$')
	[ "$nsyms" -eq 4 ] && [ -z "$covered" ]
	ok $? "nocfi: the 4 sites are in the program, no .eh_frame entry covers them" \
		"(found $nsyms${covered:+, covered: $covered})"

	for mode in basic stale; do
		run "nocfi $mode without heapprof" plain "$tmp/nocfi-$mode-plain" \
			"$P/unw_nocfi" "$mode" "$NOCFI_ROUNDS"
		d=$tmp/nocfi-$mode
		run "nocfi $mode at rate=1" lib "$d" "$P/unw_nocfi" "$mode" "$NOCFI_ROUNDS" || continue
		readable_profile "nocfi $mode" "$d/p.*.exit.pb.gz"
		[ -n "$prof" ] || continue
		while read -r what name bytes blocks; do
			[ "$what" = site ] && [ "$blocks" -gt 0 ] || continue
			same "nocfi $mode: bytes in use at $name" "$(sum "$prof.raw" 4 "$name")" "$bytes"
			same "nocfi $mode: blocks in use at $name" "$(sum "$prof.raw" 3 "$name")" "$blocks"
		done <"$d.out"
		same "nocfi $mode: the profile's total in use is every byte allocated" \
			"$(sum "$prof.raw" 4)" "$(awk '$1 == "total" { print $2 }' "$d.out")"
	done
}

# --- 4. JIT code -----------------------------------------------------------------------

test_jit() {
	run "jit without heapprof" plain "$tmp/jit-plain" "$P/unw_jit" "$JIT_GENS" "$JIT_CALLS"
	d=$tmp/jit
	if run "jit at rate=1" lib "$d" "$P/unw_jit" "$JIT_GENS" "$JIT_CALLS"; then
		readable_profile "jit" "$d/p.*.exit.pb.gz"
		if [ -n "$prof" ]; then
			want=$(awk '$1 == "jit" { print $2 }' "$d.out")
			same "jit: the profile's total in use is every byte allocated" \
				"$(sum "$prof.raw" 4)" "$want"
			same "jit: and every block" "$(sum "$prof.raw" 3)" \
				"$(awk '$1 == "jit" { print $3 }' "$d.out")"
			pages=$(awk '$1 == "page" { printf "%s %s ", $2, $3 }' "$d.out")
			same "jit: every byte's first frame is in a JIT page (unmapped since)" \
				"$(sum_in_pages "$prof.raw" 4 "$pages")" "$want"
		fi
	fi
}

# --- 5. signal handlers that allocate and free --------------------------------------------

test_sigalloc() {
	local nsig frees allocs i bad what n
	run "sigalloc without heapprof" plain "$tmp/sig-plain" \
		"$P/unw_sigalloc" polite "$SIG_ITERS" "$SIG_MIN"
	d=$tmp/sig
	if run "sigalloc at rate=1" lib "$d" "$P/unw_sigalloc" polite "$SIG_ITERS" "$SIG_MIN"
	then
		nsig=$(out signals "$d")
		frees=$(out handler_frees "$d")
		allocs=$(out handler_allocs "$d")
		diag "sigalloc: $nsig signals handled; in handlers, $frees sampled blocks freed" \
			"and $allocs allocations"
		[ "${nsig:-0}" -ge $((3 * SIG_MIN)) ] && [ "${frees:-0}" -gt 0 ] &&
			[ "${allocs:-0}" -gt 0 ]
		ok $? "sigalloc: handlers ran at least $((3 * SIG_MIN)) times, freed and allocated"
		readable_profile "sigalloc" "$d/p.*.exit.pb.gz"
		if [ -n "$prof" ]; then
			same "sigalloc: every allocation of the code is in the profile" \
				"$(sum "$prof.raw" 1 unw_sigalloc_site)" "$(out site_allocs "$d")"
			same "sigalloc: and every free, those made in handlers included (in use)" \
				"$(sum "$prof.raw" 4 unw_sigalloc_site)" 0
			same "sigalloc: nothing the handlers allocated is left in use" \
				"$(($(sum "$prof.raw" 4 unw_sigalloc_handler_site) +
				    $(sum "$prof.raw" 4 unw_sigalloc_gift_site)))" 0
		fi
	fi
	[ "$RUDE_RUNS" -gt 0 ] || return 0
	# Handlers that allocate even when they interrupt malloc: under heapprof at rate=1 that
	# is inside the profiler, and often inside jemalloc on the profiler's behalf. Short runs
	# (each run's first moments are the likeliest to go wrong), many of them.
	for how in plain lib; do
		bad=0 what=
		for i in $(seq 1 "$RUDE_RUNS"); do
			launch "$how" "$tmp/rude-$how" "$P/unw_sigalloc" rude 100000 1000 ||
				{ bad=$((bad + 1)); what="$what; run $i: $why"; }
		done
		n="sigalloc rude, handlers allocating whatever they interrupt"
		[ "$how" = plain ] && n="$n, without heapprof" || n="$n, at rate=1"
		ok "$bad" "$n: $RUDE_RUNS runs, none crashed or hung ($bad did${what:+: ${what#; }})"
	done
}

# --- 6. two plugins in turn at one address --------------------------------------------------

# in_stack RAWFILE LEAF FRAME...: alloc_objects summed over the samples whose leaf function is
# LEAF and whose stack holds each FRAME after it, in that order.
in_stack() {
	local f=$1 leaf=$2
	shift 2
	samples "$f" | awk -v leaf="$leaf" -v want="$*" '
		BEGIN { nw = split(want, w, " ") }
		{
			n = split($6, fr, ";")
			if (fr[1] != leaf) next
			k = 1
			for (i = 2; i <= n && k <= nw; i++) if (fr[i] == w[k]) k++
			if (k > nw) s += $1
		}
		END { printf "%.0f\n", s }'
}

# swap_run LABEL A B: unw_swap with the plugins A and B (libunw_swap_A.so, _B.so) without
# heapprof, then at rate=1 in $tmp/LABEL ($d), SIZE 333; checks that they took turns at one
# address and reads the exit profile ($prof). Fails (1) when there is nothing to check.
swap_run() {
	local label=$1 a=$P/.libs/libunw_swap_$2.so b=$P/.libs/libunw_swap_$3.so at
	run "$label without heapprof" plain "$tmp/$label-plain" \
		"$P/unw_swap" "$a" "$b" "$SWAP_ROUNDS" "$SWAP_CALLS" 333
	d=$tmp/$label
	run "$label at rate=1" lib "$d" "$P/unw_swap" "$a" "$b" "$SWAP_ROUNDS" "$SWAP_CALLS" 333 ||
		return 1
	at=$(out same_address "$d")
	[ "${at:-0}" -ge $((SWAP_ROUNDS / 2)) ]
	ok $? "$label: the two plugins took turns at one address (${at:-?} of $SWAP_ROUNDS rounds)"
	readable_profile "$label" "$d/p.*.exit.pb.gz"
	[ -n "$prof" ]
}

# swap_pair LABEL A B UNLOADS: part 6 with the plugins A and B; UNLOADS 1 when their
# unloads allocate too (one block a round, outside unw_swap_call).
swap_pair() {
	local label=$1 calls leaf
	swap_run "$label" "$2" "$3" || return
	calls=$(out calls "$d")
	leaf=$((calls + $4 * SWAP_ROUNDS))
	same "$label: every block from the plugins is recorded (at unw_swap_leaf)" \
		"$(sum "$prof.raw" 1 unw_swap_leaf)" "$leaf"
	same "$label: and each one's stack goes on through the plugin's frame to unw_swap_call, main" \
		"$(in_stack "$prof.raw" unw_swap_leaf unw_swap_call main)" "$calls"
}

# frames_before RAWFILE FRAME K COLUMN: the sum of a value over the samples whose stack has
# FRAME right after its first K frames (K frames between the allocation and FRAME).
frames_before() {
	samples "$1" | awk -v f="$2" -v k="$3" -v c="$4" '
		{ split($6, fr, ";") }
		fr[k + 1] == f { s += $c }
		END { printf "%.0f\n", s }'
}

# swap_shape: part 6 with the plugins e and f (tests/progs/unw_swap_shape.c), SIZE 333: e's
# blocks (333 bytes) have one frame before unw_swap_call, f's (334 bytes) two.
swap_shape() {
	local half
	swap_run swap-shape e f || return
	half=$((SWAP_ROUNDS / 2 * SWAP_CALLS))
	same "swap-shape: e's blocks have one frame before unw_swap_call" \
		"$(frames_before "$prof.raw" unw_swap_call 1 1)" "$half"
	same "swap-shape: and are of e's size (333 bytes), none of f's counted with them" \
		"$(frames_before "$prof.raw" unw_swap_call 1 2)" "$((half * 333))"
	same "swap-shape: f's blocks have two (its trampoline's frame too)" \
		"$(frames_before "$prof.raw" unw_swap_call 2 1)" "$half"
	same "swap-shape: and are of f's size (334 bytes)" \
		"$(frames_before "$prof.raw" unw_swap_call 2 2)" "$((half * 334))"
}

test_swap() {
	local f n
	# What the two pairs are: a and b finalize through __cxa_finalize (a GOT slot for it,
	# resolved at load), c and d have no reference to it at all.
	for f in a b c d; do
		n=$(nm -D "$P/.libs/libunw_swap_$f.so" 2>/dev/null | grep -c ' __cxa_finalize')
		case $f in
		a | b) same "swap: libunw_swap_$f.so refers to __cxa_finalize" "$n" 1 ;;
		*) same "swap: libunw_swap_$f.so does not refer to __cxa_finalize" "$n" 0 ;;
		esac
	done
	swap_pair swap a b 1
	swap_pair swap-unannounced c d 0
	swap_shape
}

# --- 7. coroutine stacks unmapped and mapped again -----------------------------------------

# kept_run NAME ROUNDS: tests/progs/unw_NAME ROUNDS without heapprof, then at rate=1 in
# $tmp/NAME, whose exit profile is then read ($prof; empty if not); the program's line
# "NAME F2 F3 ..." is in $kept (F2 at index 1). Fails (1) when there is nothing to check.
kept_run() {
	run "$1 without heapprof" plain "$tmp/$1-plain" "$P/unw_$1" "$2"
	run "$1 at rate=1" lib "$tmp/$1" "$P/unw_$1" "$2" || return 1
	read -r -a kept < <(awk -v n="$1" '$1 == n' "$tmp/$1.out")
	readable_profile "$1" "$tmp/$1/p.*.exit.pb.gz"
	[ -n "$prof" ]
}

test_coro() {
	kept_run coro "$CORO_ROUNDS" || return
	local bytes=${kept[1]-} blocks=${kept[2]-} deep=${kept[3]-} near=${kept[4]-} wide=${kept[5]-}
	same "coro: every block from the coroutines is in use at exit (at coro_leaf)" \
		"$(sum "$prof.raw" 4 coro_leaf)" "$bytes"
	same "coro: and every block" "$(sum "$prof.raw" 3 coro_leaf)" "$blocks"
	same "coro: the deep chain's blocks have its frames (coro_pad, coro_deep: 100 of them, past the depth limit)" \
		"$(in_stack "$prof.raw" coro_leaf unw_coro_push coro_pad coro_deep coro_deep)" "$deep"
	same "coro: the near chain's blocks have theirs (coro_pad, then coro_entry_near)" \
		"$(in_stack "$prof.raw" coro_leaf unw_coro_push coro_pad coro_entry_near)" "$near"
	same "coro: the wide chain's blocks have theirs (coro_pad, coro_wide: 6 of them, coro_entry_wide)" \
		"$(in_stack "$prof.raw" coro_leaf unw_coro_push coro_pad coro_wide coro_wide coro_wide coro_wide coro_wide coro_wide coro_entry_wide)" "$wide"
}

# --- 8. a saved rbp slot that points at a page that cannot be read -------------------------

test_badslot() {
	kept_run badslot "$BADSLOT_ROUNDS" || return
	local bytes=${kept[1]-} blocks=${kept[2]-} good=${kept[3]-}
	same "badslot: every block is in use at exit (at badslot_leaf)" \
		"$(sum "$prof.raw" 4 badslot_leaf)" "$bytes"
	same "badslot: and each one's stack goes through unw_badslot_call to badslot_f" \
		"$(in_stack "$prof.raw" badslot_leaf unw_badslot_call badslot_f)" "$blocks"
	same "badslot: those of the rounds that left the slot alone on to main" \
		"$(in_stack "$prof.raw" badslot_leaf unw_badslot_call badslot_f main)" "$good"
}

# --- all of them -------------------------------------------------------------------------

for t in ${UNW_ONLY:-phdr churn nocfi jit sigalloc swap coro badslot}; do
	case $t in
	phdr | churn | nocfi | jit | sigalloc | swap | coro | badslot) "test_$t" ;;
	*) fail "UNW_ONLY: unknown part $t (known: phdr churn nocfi jit sigalloc swap coro badslot)" ;;
	esac
done

done_testing
