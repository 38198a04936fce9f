#!/bin/bash
# tests/hazards/unw_sigalloc.sh: part 5 of tests/hazards/unwinding.sh alone (signal handlers
# that free sampled blocks while the interrupted thread is inside the profiler), for
# tests/hazards/unprotected.sh: without the deferred frees it must fail (hung). Each run
# limited to UNW_LIMIT seconds (60 here).
UNW_ONLY=sigalloc UNW_LIMIT=${UNW_LIMIT:-60} \
	exec bash "${top_srcdir:-$(dirname "$0")/../..}/tests/hazards/unwinding.sh"
