#!/bin/bash
# tests/hazards/unw_swap.sh: part 6 of tests/hazards/unwinding.sh alone (two plugins loaded in
# turn at one address, the same return address in each with a different frame), for
# tests/hazards/unprotected.sh: with every object taken as never unloaded, the first
# plugin's frame rule is applied to the second's frames and their stacks stop there.
UNW_ONLY=swap exec bash "${top_srcdir:-$(dirname "$0")/../..}/tests/hazards/unwinding.sh"
