#!/bin/bash
# tests/hazards/out_stress.sh: tests/hazards/out_kill.sh for 30 s (make stress): many more
# rounds of SIGUSR1 and SIGKILL at random moments, all in one shared directory.
set -u
OUT_KILL_SECONDS=${OUT_KILL_SECONDS:-30}
OUT_KILL_BITS=${OUT_KILL_BITS:-13}
export OUT_KILL_SECONDS OUT_KILL_BITS
exec bash "${top_srcdir:-$(dirname "$0")/../..}/tests/hazards/out_kill.sh"
