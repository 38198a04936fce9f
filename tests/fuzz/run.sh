#!/bin/bash
# tests/fuzz/run.sh: builds the libFuzzer binary of the profile reader
# (tests/fuzz/fuzz_profile.c with clang -fsanitize=fuzzer,address,undefined) and runs a
# fuzzing campaign on one core, starting from the checked-in corpus (tests/fuzz/corpus).
#
#   tests/fuzz/run.sh [-t SECONDS] [-o WORKDIR] [-m] [-- LIBFUZZER_OPTIONS...]
#   make fuzz [FUZZ_SECONDS=600]          (the same from a build directory, -m not set)
#
#   -t SECONDS  length of the campaign (default 600)
#   -o WORKDIR  where the binary, the new corpus (WORKDIR/corpus, kept between runs),
#               crash artifacts (WORKDIR/artifacts) and the log (WORKDIR/fuzz.log) go
#               (default ./fuzz-work)
#   -m          after the run, merge the inputs that add coverage into tests/fuzz/corpus
#               (libFuzzer -merge=1; the checked-in corpus must stay under 1 MB)
#
# One process (one core), stopped at the first crash, timeout (10 s per input) or
# out-of-memory (2 GB); the reproducer is then in WORKDIR/artifacts, to be replayed with
# WORKDIR/fuzz_profile FILE or the make check replay (tests/fuzz/replay FILE). At the end
# it prints a summary (command, duration, executions, corpus before and after, artifacts)
# for doc/FUZZING.md. Exit status: 0 with no artifact, 1 with one, 2 for a usage or build
# error. Needs clang with libclang_rt.fuzzer (Debian: clang, tests/setup-debian.sh).
set -u

src=$(cd "$(dirname "$0")/../.." && pwd)
seconds=600
work=$PWD/fuzz-work
merge=0
while getopts "t:o:m" opt; do
	case $opt in
	t) seconds=$OPTARG ;;
	o) work=$OPTARG ;;
	m) merge=1 ;;
	*) echo "usage: $0 [-t SECONDS] [-o WORKDIR] [-m] [-- LIBFUZZER_OPTIONS...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
case $seconds in
'' | *[!0-9]*) echo "$0: -t wants a number of seconds, not '$seconds'" >&2; exit 2 ;;
esac
CC=${FUZZ_CC:-clang}
command -v "$CC" >/dev/null || { echo "$0: $CC not found: install clang" >&2; exit 2; }
mkdir -p "$work/corpus" "$work/artifacts" || exit 2
work=$(cd "$work" && pwd)
seeds=$src/tests/fuzz/corpus
bin=$work/fuzz_profile
[ -d "$seeds" ] || { echo "$0: $seeds not found" >&2; exit 2; }

# --- build ---------------------------------------------------------------------------
SOURCES="tests/fuzz/fuzz_profile.c tools/profile.c tools/stacks.c tools/encode.c
	tools/legacy.c tools/units.c lib/gzout.c"
echo "building $bin with $("$CC" --version | head -1)"
(cd "$src" && "$CC" -std=gnu11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Itools -Ilib -Iinclude -Itests/fuzz $SOURCES -lz -o "$bin") || exit 2

# --- run -----------------------------------------------------------------------------
# count_dir DIR: "N files, B bytes".
count_dir() {
	find "$1" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%d files, %d bytes\n", n, b }'
}
before_seeds=$(count_dir "$seeds")
before_work=$(count_dir "$work/corpus")
opts=(-max_total_time="$seconds" -print_final_stats=1 -dict="$src/tests/fuzz/profile.dict"
	-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/" "$@")
cmd="$bin ${opts[*]} $work/corpus $seeds"	# as run, for the summary
echo "running: $cmd"
start=$(date +%s)
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
	"$bin" "${opts[@]}" "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
status=$?
end=$(date +%s)

# --- merge ---------------------------------------------------------------------------
# Only inputs of at most 2 KiB are offered, which keeps the checked-in corpus small
# (and make check fast) for almost all the coverage.
if [ "$merge" = 1 ]; then
	echo "merging new coverage (inputs up to 2 KiB) into $seeds"
	rm -rf "$work/small" && mkdir -p "$work/small" &&
		find "$work/corpus" -type f -size -2049c -exec cp {} "$work/small/" \;
	"$bin" -merge=1 -artifact_prefix="$work/artifacts/" "$seeds" "$work/small" \
		>"$work/merge.log" 2>&1 || echo "merge failed: see $work/merge.log"
	grep 'MERGE-OUTER: .* new files' "$work/merge.log"
	rm -rf "$work/small"
fi

# --- summary -------------------------------------------------------------------------
stat() { sed -n "s/^stat::$1: *//p" "$work/fuzz.log" | tail -1; }
artifacts=$(find "$work/artifacts" -type f -newer "$bin" | sort)
cat <<SUMMARY

=== fuzz_profile campaign ===
command:         ${HP_FUZZ_TEXT_LAX:+HP_FUZZ_TEXT_LAX=$HP_FUZZ_TEXT_LAX }$cmd
started:         $(date -u -d "@$start" '+%Y-%m-%d %H:%M:%S UTC')
duration:        $((end - start)) s (asked: $seconds s), exit status $status
executions:      $(stat number_of_executed_units) ($(stat average_exec_per_sec)/s), peak RSS $(stat peak_rss_mb) MB
new units:       $(stat new_units_added)
libFuzzer start: $(grep -m1 'INITED' "$work/fuzz.log" | sed 's/^#[0-9]*[[:space:]]*//')
libFuzzer end:   $(grep -E '(DONE|NEW|REDUCE|pulse)[[:space:]]+cov' "$work/fuzz.log" | tail -1 | sed 's/^#[0-9]*[[:space:]]*//')
checked-in corpus before: $before_seeds; after: $(count_dir "$seeds") (keep under 1 MiB)
work corpus before:       $before_work; after: $(count_dir "$work/corpus")
artifacts (crashes, timeouts, ooms): $(echo "$artifacts" | grep -c .)
SUMMARY
for a in $artifacts; do
	echo "  $a"
done
if [ -n "$artifacts" ] || [ "$status" -ne 0 ]; then
	echo "log: $work/fuzz.log"
	grep -m5 -E 'ERROR|runtime error|property failed|SUMMARY' "$work/fuzz.log"
	exit 1
fi
exit 0
