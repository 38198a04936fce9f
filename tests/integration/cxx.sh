#!/bin/bash
# tests/integration/cxx.sh: C++ operator new/delete in every form under the library, at
# rate=1 (every block sampled, so through the sampled arena) and at the default rate.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_prog cxx_new

for rate in 1 512k; do
	out=$(env HEAPPROF="rate=$rate,at_exit=0" LD_PRELOAD="$HP_LIB" \
		timeout 60 "$top_builddir/tests/progs/cxx_new" 2>"$tmp/err")
	status=$?
	total=$(grep -c '^ok' <<<"$out")
	bad=$(grep '^not ok' <<<"$out")
	[ "$status" -eq 0 ] && [ "$total" -eq 8 ] && [ -z "$bad" ] && [ ! -s "$tmp/err" ]
	ok $? "rate=$rate: all 8 operator checks pass, nothing on stderr (exit $status)"
	[ -z "$bad" ] || diag "$bad"
	diag_file "$tmp/err"
done

done_testing
