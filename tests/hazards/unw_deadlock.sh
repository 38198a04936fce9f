#!/bin/bash
# tests/hazards/unw_deadlock.sh: part 1 of tests/hazards/unwinding.sh alone (allocations
# inside dl_iterate_phdr callbacks while libraries are loaded and unloaded, and while the
# program forks), for tests/hazards/unprotected.sh: with libunwind's own local unwinder it
# must fail (hung). Each run limited to UNW_LIMIT seconds (60 here).
UNW_ONLY=phdr UNW_LIMIT=${UNW_LIMIT:-60} \
	exec bash "${top_srcdir:-$(dirname "$0")/../..}/tests/hazards/unwinding.sh"
