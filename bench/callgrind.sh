#!/bin/bash
# callgrind.sh: instructions per malloc(64)+free pair, heapprof against plain jemalloc.
#
# usage: bench/callgrind.sh [--check MAX] [--keep]
#   --check MAX  exit 1 when heapprof (rate=512k) costs more than MAX instructions per pair
#                over plain jemalloc
#   --keep       keep the callgrind output files (their directory is printed)
#
# bench/churn runs N1 and N2 iterations under callgrind for each configuration; the cost of
# one pair is (I(N2) - I(N1)) / (N2 - N1), which cancels start-up and exit costs. With
# sampling on, the rare sampled iterations are part of the figure.
#
# Environment: HP_LIB (default $top_builddir/lib/.libs/libheapprof.so, top_builddir
# defaulting to the current directory), CHURN (default $top_builddir/bench/churn, compiled
# from bench/churn.c into a temporary directory when missing), JEMALLOC_SO (default
# /usr/lib/x86_64-linux-gnu/libjemalloc.so.2), VALGRIND (default valgrind).
# Exit status: 0 done (and within MAX), 1 over MAX, 2 could not measure.
set -u

N1=100000
N2=1100000

builddir=${top_builddir:-$PWD}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
hp_lib=${HP_LIB:-$builddir/lib/.libs/libheapprof.so}
jemalloc_so=${JEMALLOC_SO:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}
valgrind=${VALGRIND:-valgrind}
churn=${CHURN:-$builddir/bench/churn}
check_max=""
keep=0

die() {
	echo "callgrind.sh: $*" >&2
	exit 2
}

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--check)
			[ $# -ge 2 ] || die "--check needs a number"
			check_max=$2
			shift 2
			;;
		--keep)
			keep=1
			shift
			;;
		*) die "unknown argument: $1" ;;
		esac
	done
	if [ -n "$check_max" ] && ! [[ $check_max =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		die "--check: not a number: $check_max"
	fi
}

# Use the built bench/churn, or compile one from the sources next to this script.
find_churn() {
	[ -x "$churn" ] && return 0
	local cc=${CC:-cc}
	churn=$work/churn
	"$cc" -O2 -o "$churn" "$srcdir/bench/churn.c" || die "cannot build $churn from $srcdir/bench/churn.c"
}

check_tools() {
	command -v "$valgrind" >/dev/null 2>&1 || die "valgrind not found: install valgrind"
	[ -f "$jemalloc_so" ] || die "$jemalloc_so not found: install libjemalloc2"
	[ -f "$hp_lib" ] || die "$hp_lib not found: build heapprof first (make), or set HP_LIB"
}

# Total instructions (Ir) of one callgrind output file: its "summary:" or "totals:" line.
total_ir() {
	local v
	v=$(awk '/^summary:/ { print $2; exit }' "$1")
	[ -n "$v" ] || v=$(awk '/^totals:/ { print $2; exit }' "$1")
	[ -n "$v" ] || return 1
	echo "$v"
}

# measure NAME N VAR=VALUE...: run churn N under callgrind with the given environment;
# prints the instruction count.
measure() {
	local name=$1 n=$2
	shift 2
	local out="$work/callgrind.$name.$n" log="$work/valgrind.$name.$n.log"
	if ! env "$@" "$valgrind" --tool=callgrind --callgrind-out-file="$out" \
		"$churn" "$n" 64 >"$work/stdout.$name.$n" 2>"$log"; then
		sed 's/^/    /' "$log" >&2
		die "$name: churn $n failed under callgrind (log above)"
	fi
	if [ "$(cat "$work/stdout.$name.$n")" != "$n" ]; then
		die "$name: churn $n printed '$(cat "$work/stdout.$name.$n")'"
	fi
	total_ir "$out" || die "$name: no summary/totals line in $out"
}

# per_pair NAME VAR=VALUE...: instructions per pair for one configuration.
per_pair() {
	local name=$1 i1 i2
	shift
	i1=$(measure "$name" "$N1" "$@") || exit 2
	i2=$(measure "$name" "$N2" "$@") || exit 2
	awk -v a="$i1" -v b="$i2" -v n1="$N1" -v n2="$N2" 'BEGIN { printf "%.2f\n", (b - a) / (n2 - n1) }'
}

main() {
	parse_args "$@"
	check_tools
	work=$(mktemp -d "${TMPDIR:-/tmp}/hp-callgrind.XXXXXX") || die "mktemp failed"
	if [ "$keep" = 1 ]; then
		echo "callgrind files kept in $work"
	else
		trap 'rm -rf "$work"' EXIT
	fi
	find_churn

	local je hp hp0 diff diff0
	je=$(per_pair jemalloc LD_PRELOAD="$jemalloc_so") || exit 2
	hp=$(per_pair heapprof LD_PRELOAD="$hp_lib" HEAPPROF=rate=512k,at_exit=0) || exit 2
	hp0=$(per_pair heapprof-rate0 LD_PRELOAD="$hp_lib" HEAPPROF=rate=0,at_exit=0) || exit 2
	diff=$(awk -v a="$hp" -v b="$je" 'BEGIN { printf "%.2f\n", a - b }')
	diff0=$(awk -v a="$hp0" -v b="$je" 'BEGIN { printf "%.2f\n", a - b }')

	echo "instructions per malloc(64)+free pair (callgrind Ir, N=$N1..$N2)"
	printf '%-28s %10s %10s\n' config instr/pair "- jemalloc"
	printf '%-28s %10s %10s\n' "jemalloc (libjemalloc2)" "$je" ""
	printf '%-28s %10s %10s\n' "heapprof rate=512k" "$hp" "$diff"
	printf '%-28s %10s %10s\n' "heapprof rate=0" "$hp0" "$diff0"
	echo "difference heapprof - jemalloc: $diff"

	if [ -n "$check_max" ]; then
		if awk -v d="$diff" -v m="$check_max" 'BEGIN { exit !(d > m) }'; then
			echo "FAIL: difference $diff exceeds $check_max instructions per pair"
			return 1
		fi
		echo "OK: difference $diff is within $check_max instructions per pair"
	fi
	return 0
}

main "$@"
