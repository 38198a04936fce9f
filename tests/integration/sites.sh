#!/bin/bash
# tests/integration/sites.sh: known allocation sites come out of the profile with the
# right figures, under LD_PRELOAD and linked, read back by go tool pprof.
#
# tests/progs/known_sites: keep_300mb() keeps 76800 blocks of 4 KiB (314572800 bytes),
# churn_100mb() allocates and frees 25600 blocks of 4 KiB (104857600 bytes).
#
# The acceptance bound is 5% at the default rate. With independent random spacings
# (Go, tcmalloc) that would fail about one run in four (relative sd 1/sqrt(samples): 4.1%
# for keep_300mb's ~600 samples, 7.1% for churn_100mb's ~200); heapprof's golden-ratio
# spacings (doc/DESIGN.md) keep the sample counts within a few of their expectation:
# measured sd 0.6% for keep_300mb and 1.6% for churn_100mb over 16 runs, worst -3.1%.
# The runs at rate=8k (s/R = 1/2, where a weight of R per sample would read 21% low)
# check the weighting itself, also to 5%.
# rate=1 records every allocation: the figures must be exact.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool gzip timeout
need_prog known_sites known_sites_linked

MiB=1048576
BLOCK=4096
KEEP_N=76800
CHURN_N=25600
KEEP_B=$((KEEP_N * BLOCK))
CHURN_B=$((CHURN_N * BLOCK))
DEFAULT_RATE=524288
# Names that must never appear in a stack: the library, jemalloc, the unwinder, the
# allocation entry points themselves (stacks start at malloc's caller).
INTERNAL='^(hp_|heapprof|hpje_|je_|jemalloc|_ULx86|_Ux86|unw_|malloc$|calloc$|realloc$|free$|__libc_(malloc|calloc|realloc|free)|operator new|operator delete|_Zn[wa]|_Zd[la])'

# tolerance N_BLOCKS RATE: the bound on the relative error of an estimate.
tolerance() {
	if [ "$2" -le 1 ]; then echo 0; else echo 0.05; fi
}

# run_in DIR CMD...: runs CMD in DIR (created empty) under a 60 s timeout, stderr to
# DIR.err; sets $status and $dir.
run_in() {
	dir=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	(cd "$dir" && exec timeout 60 "$@") >"$dir.out" 2>"$dir.err"
	status=$?
}

# check_run LABEL: the last run exited 0 and printed nothing.
check_run() {
	ok "$status" "$1: exit status 0 (got $status)"
	if [ -s "$dir.err" ] || [ -s "$dir.out" ]; then
		fail "$1: no output, no warnings"
		diag_file "$dir.err"
		diag_file "$dir.out"
	else
		pass "$1: no output, no warnings"
	fi
}

# only_file LABEL REGEX: exactly one file in $dir, its name matches REGEX; sets $prof.
only_file() {
	local names
	names=$(ls -A "$dir")
	prof=
	if [ "$(printf '%s\n' "$names" | grep -c .)" -eq 1 ] &&
		printf '%s\n' "$names" | grep -Eq "$2"; then
		prof=$dir/$names
		pass "$1: one profile, named $names"
	else
		fail "$1: exactly one file matching $2"
		diag "files: $(echo ${names:-(none)})"
	fi
}

# read_figures LABEL FILE: flat values of every sample type into fig_<type>_<site>.
read_figures() {
	local idx site
	for idx in inuse_space alloc_space inuse_objects alloc_objects; do
		pprof_flat "$2" "$idx" >"$tmp/flat.$idx"
		for site in keep_300mb churn_100mb; do
			eval "fig_${idx}_${site}=\$(flat_of $site <\"\$tmp/flat.$idx\")"
		done
	done
	if [ -s "$tmp/flat.inuse_space" ]; then
		pass "$1: go tool pprof reads the profile"
	else
		fail "$1: go tool pprof reads the profile"
		diag_file "$tmp/pprof.err"
	fi
}

# approx LABEL WHAT VALUE EXPECTED TOLERANCE
approx() {
	local pct
	pct=$(awk -v t="$5" 'BEGIN { printf "%.1f", t * 100 }')
	diag "$1: $2 ${3:-absent} expected $4 ($(rel "${3:-}" "$4"), bound ±$pct%)"
	within "${3:-}" "$4" "$5"
	ok $? "$1: $2 within $pct% of $4"
}

# exact LABEL WHAT VALUE EXPECTED
exact() {
	diag "$1: $2 ${3:-absent} expected $4"
	[ "${3:-}" = "$4" ]
	ok $? "$1: $2 is exactly $4"
}

# check_estimates LABEL FILE RATE
check_estimates() {
	local label=$1 tk tc
	read_figures "$label" "$2"
	[ -n "$fig_alloc_space_keep_300mb" ] && [ -n "$fig_alloc_space_churn_100mb" ]
	ok $? "$label: keep_300mb and churn_100mb named in the profile"
	tk=$(tolerance "$KEEP_N" "$3")
	tc=$(tolerance "$CHURN_N" "$3")
	approx "$label" "keep_300mb inuse_space" "$fig_inuse_space_keep_300mb" "$KEEP_B" "$tk"
	approx "$label" "keep_300mb alloc_space" "$fig_alloc_space_keep_300mb" "$KEEP_B" "$tk"
	approx "$label" "churn_100mb alloc_space" "$fig_alloc_space_churn_100mb" "$CHURN_B" "$tc"
	diag "$label: churn_100mb inuse_space ${fig_inuse_space_churn_100mb:-absent (0)}"
	[ "${fig_inuse_space_churn_100mb:-0}" -lt $((5 * MiB)) ]
	ok $? "$label: churn_100mb inuse_space below 5 MiB"
}

# check_exact LABEL FILE
check_exact() {
	local label=$1
	read_figures "$label" "$2"
	exact "$label" "keep_300mb alloc_objects" "$fig_alloc_objects_keep_300mb" "$KEEP_N"
	exact "$label" "keep_300mb inuse_objects" "$fig_inuse_objects_keep_300mb" "$KEEP_N"
	exact "$label" "keep_300mb alloc_space" "$fig_alloc_space_keep_300mb" "$KEEP_B"
	exact "$label" "keep_300mb inuse_space" "$fig_inuse_space_keep_300mb" "$KEEP_B"
	exact "$label" "churn_100mb alloc_objects" "$fig_alloc_objects_churn_100mb" "$CHURN_N"
	exact "$label" "churn_100mb alloc_space" "$fig_alloc_space_churn_100mb" "$CHURN_B"
	exact "$label" "churn_100mb inuse_objects" "${fig_inuse_objects_churn_100mb:-0}" 0
	exact "$label" "churn_100mb inuse_space" "${fig_inuse_space_churn_100mb:-0}" 0
}

# check_stacks LABEL FILE: no library frame anywhere; samples through a site start at it,
# called from main.
check_stacks() {
	local label=$1 traces=$tmp/traces bad
	pprof_traces "$2" >"$traces"
	if [ ! -s "$traces" ]; then
		fail "$label: go tool pprof -traces lists samples"
		diag_file "$tmp/pprof.err"
		return
	fi
	diag "$label: $(wc -l <"$traces") stacks; leaves: $(cut -d';' -f1 "$traces" |
		sort | uniq -c | sort -rn | awk '{ printf "%s%s x%d", sep, $2, $1; sep = ", " }')"
	bad=$(tr ';' '\n' <"$traces" | sed 's/ (inline)$//' | grep -E "$INTERNAL" | sort -u)
	[ -z "$bad" ]
	ok $? "$label: no heapprof/allocator frames in any stack"
	[ -z "$bad" ] || diag "frames: $bad"
	bad=$(grep -E '(^|;)(keep_300mb|churn_100mb)(;|$)' "$traces" |
		grep -Ev '^(keep_300mb|churn_100mb);main(;|$)' | head -5)
	[ -z "$bad" ] && grep -q '^keep_300mb;main' "$traces" && grep -q '^churn_100mb;main' "$traces"
	ok $? "$label: stacks through the sites start at keep_300mb / churn_100mb, then main"
	[ -z "$bad" ] || diag "stacks: $bad"
}

KS=$top_builddir/tests/progs/known_sites
KSL=$top_builddir/tests/progs/known_sites_linked
NAME_RE='^p\.[0-9]+\.0001\.exit\.pb\.gz$'

for variant in preload linked; do
	if [ "$variant" = preload ]; then
		launch="env LD_PRELOAD=$HP_LIB $KS"
	else
		launch="env -u LD_PRELOAD $KSL"
	fi
	for rate in default 8k 1; do
		label="$variant rate=$rate"
		hp="prefix=$tmp/$variant-$rate/p"
		[ "$rate" = default ] || hp="$hp,rate=$rate"
		# shellcheck disable=SC2086 # $launch is split on purpose
		run_in "$tmp/$variant-$rate" env HEAPPROF="$hp" $launch
		check_run "$label"
		only_file "$label" "$NAME_RE"
		if [ -z "$prof" ]; then
			continue
		fi
		gzip -t "$prof" 2>"$tmp/gzip.err"
		ok $? "$label: gzip -t passes"
		case $rate in
		default) check_estimates "$label" "$prof" "$DEFAULT_RATE" ;;
		8k) check_estimates "$label" "$prof" 8192 ;;
		1)
			check_exact "$label" "$prof"
			check_stacks "$label" "$prof"
			;;
		esac
	done
done

# Linked without HEAPPROF: sampling on, no exit profile, dumps through the API only.
run_in "$tmp/api-none" env -u HEAPPROF "$KSL"
check_run "linked, HEAPPROF unset"
[ -z "$(ls -A "$dir")" ]
ok $? "linked, HEAPPROF unset: no profile written at exit"
diag_file "$dir.err"

run_in "$tmp/api-path" env -u HEAPPROF "$KSL" --dump="$tmp/api-path/api.pb.gz"
check_run "heapprof_dump(path)"
only_file "heapprof_dump(path)" '^api\.pb\.gz$'
if [ -n "$prof" ]; then
	gzip -t "$prof" 2>"$tmp/gzip.err"
	ok $? "heapprof_dump(path): gzip -t passes"
	check_estimates "heapprof_dump(path)" "$prof" "$DEFAULT_RATE"
fi

run_in "$tmp/api-auto" env -u HEAPPROF "$KSL" --dump
check_run "heapprof_dump(NULL)"
only_file "heapprof_dump(NULL)" '^heapprof\.[0-9]+\.0001\.api\.pb\.gz$'
if [ -n "$prof" ]; then
	gzip -t "$prof" 2>"$tmp/gzip.err"
	ok $? "heapprof_dump(NULL): gzip -t passes"
	pprof_reads "$prof"
	ok $? "heapprof_dump(NULL): go tool pprof reads it"
fi

# depth=1: every stack is one frame deep, and that frame is the allocator's caller.
run_in "$tmp/depth1" env HEAPPROF="prefix=$tmp/depth1/p,rate=1,depth=1" LD_PRELOAD="$HP_LIB" "$KS"
check_run "depth=1"
only_file "depth=1" "$NAME_RE"
if [ -n "$prof" ]; then
	pprof_traces "$prof" >"$tmp/traces1"
	[ -s "$tmp/traces1" ] && ! grep -q ';' "$tmp/traces1" && grep -qx 'keep_300mb' "$tmp/traces1"
	ok $? "depth=1: every stack is one frame, the allocator's caller"
	diag "depth=1: stacks: $(sort -u "$tmp/traces1" | tr '\n' ' ')"

	# Mappings: the program's executable segment, its absolute path and GNU build id.
	want=$(readelf -n "$KS" 2>/dev/null | awk '/Build ID:/ { print $3; exit }')
	pprof -raw "$prof" 2>"$tmp/pprof.err" | sed -n '/^Mappings/,$p' >"$tmp/maps"
	grep -qE "^[0-9]+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ $KS $want " "$tmp/maps" && [ -n "$want" ]
	ok $? "mapping of $KS with its build id ${want:-?} (readelf -n)"
	diag_file "$tmp/maps"
fi

done_testing
