#!/bin/bash
# fastpath.sh: the malloc+free fast path of libheapprof.so (sampling on, default rate) may
# cost at most MAX_EXTRA instructions per pair over plain jemalloc, as counted by callgrind
# (bench/callgrind.sh). TAP output; the figures are printed as diagnostics.
set -u

MAX_EXTRA=${MAX_EXTRA:-12}
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$PWD}"
export top_builddir

ntests=0
nfail=0
ok() {
	ntests=$((ntests + 1))
	echo "ok $ntests - $1"
}
not_ok() {
	ntests=$((ntests + 1))
	nfail=$((nfail + 1))
	echo "not ok $ntests - $1"
}
diag() {
	printf '%s\n' "$@" | sed 's/^/# /'
}

main() {
	local out rc
	if command -v "${VALGRIND:-valgrind}" >/dev/null 2>&1; then
		ok "valgrind is installed"
	else
		not_ok "valgrind is installed"
		diag "valgrind not found: install valgrind"
		echo "1..$ntests"
		return 0
	fi
	out=$("$top_srcdir/bench/callgrind.sh" --check "$MAX_EXTRA" 2>&1)
	rc=$?
	diag "$out"
	case $rc in
	0)
		ok "callgrind measured the malloc+free pair"
		ok "heapprof costs at most $MAX_EXTRA instructions per pair over jemalloc"
		;;
	1)
		ok "callgrind measured the malloc+free pair"
		not_ok "heapprof costs at most $MAX_EXTRA instructions per pair over jemalloc"
		;;
	*)
		not_ok "callgrind measured the malloc+free pair (bench/callgrind.sh exit $rc)"
		not_ok "heapprof costs at most $MAX_EXTRA instructions per pair over jemalloc"
		;;
	esac
	echo "1..$ntests"
	# Exit 0: the TAP lines carry the verdicts (non-zero would be reported as an ERROR).
}

main
