#!/bin/bash
# tests/hazards/unwinding_stress.sh: tests/hazards/unwinding.sh, the same programs and
# checks with many more rounds, forks, signals and JIT pages (make stress; about a minute).
UNW_STRESS=1 exec bash "${top_srcdir:-$(dirname "$0")/../..}/tests/hazards/unwinding.sh"
