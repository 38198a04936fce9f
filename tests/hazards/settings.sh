#!/bin/bash
# tests/hazards/settings.sh: bad HEAPPROF values (doc/SETTINGS.md, "Bad values").
#
# tests/progs/sem_echo runs under LD_PRELOAD with each value, in an empty directory of its
# own (the default prefix "heapprof" is relative to it). For each value:
#   - the program's stdout and exit status are those of the run without the library;
#   - stderr is the program's own line plus exactly the expected number of lines starting
#     with "heapprof: " (one per bad item, lib/config.c; zero for valid values such as
#     ",,,", whose empty items are harmless), and nothing else: a value with a newline or
#     escape characters must not make a second line or reach the terminal raw;
#   - the warning names the problem (the bad item, shown literally: "%n" is printed, not
#     interpreted) and fits in one line of at most 512 bytes, even for a 100 KB value;
#   - the exit profile is written (no bad value turns at_exit off) and its period, read
#     back with go tool pprof -raw, is the default 524288, or the last valid rate before
#     the bad item: a rejected rate never falls back to rate=1 (which would sample every
#     allocation). The valid controls rate=8k and rate=1 show the check can see a change.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool timeout
need_prog sem_echo

ECHO=$top_builddir/tests/progs/sem_echo
DEFAULT=524288

# The program alone: its stdout, stderr and status are the reference.
(cd "$tmp" && exec timeout 60 env -u HEAPPROF -u LD_PRELOAD "$ECHO" 7 a b%n c) \
	>"$tmp/base.out" 2>"$tmp/base.err"
base_status=$?
[ "$base_status" -eq 7 ] && [ "$(cat "$tmp/base.out")" = "sem_echo: a b%n c" ] &&
	[ "$(cat "$tmp/base.err")" = "sem_echo: stderr line" ]
ok $? "without the library: sem_echo prints its line and exits 7"

long_digits=$(head -c 100000 /dev/zero | tr '\0' 9)
long_junk=$(head -c 100000 /dev/zero | tr '\0' x)
nl=$'\n'
esc=$'\x1b'

n_case=0
sub=
# case_ LABEL VALUE WARNINGS SUBSTRING PERIOD
#   WARNINGS: expected "heapprof: " lines; SUBSTRING: text the warning must contain (a
#   fixed string); PERIOD: the profile's expected period. The profile is looked for in
#   the run's directory, or in its subdirectory $sub/ when $sub is set (created first).
case_() {
	local label=$1 value=$2 want_n=$3 want_sub=$4 want_period=$5 dir status lines n other
	local prof period
	n_case=$((n_case + 1))
	dir=$tmp/case$n_case
	mkdir -p "$dir/$sub"
	(cd "$dir" && exec timeout 60 env HEAPPROF="$value" LD_PRELOAD="$HP_LIB" \
		"$ECHO" 7 a b%n c) >"$dir.out" 2>"$dir.err"
	status=$?
	if [ "$status" -eq 124 ]; then
		fail "$label: runs (hung)"
		return
	fi
	[ "$status" -eq "$base_status" ] && cmp -s "$dir.out" "$tmp/base.out"
	if ! ok $? "$label: same stdout and exit status ($status) as without the library"; then
		diag_file "$dir.out" 3
	fi

	n=$(grep -c '^heapprof: ' "$dir.err")
	other=$(grep -v '^heapprof: ' "$dir.err")
	[ "$n" -eq "$want_n" ] && [ "$other" = "sem_echo: stderr line" ]
	ok $? "$label: stderr is the program's line and $want_n line(s) starting \"heapprof: \""
	if [ "$n" -ne "$want_n" ] || [ "$other" != "sem_echo: stderr line" ]; then
		diag "got $n heapprof line(s); stderr:"
		diag_file "$dir.err" 8
	fi
	if [ "$want_n" -gt 0 ]; then
		lines=$(grep '^heapprof: ' "$dir.err")
		grep -qF -- "$want_sub" <<<"$lines" &&
			[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' \
				<<<"$lines")" -le 512 ]
		ok $? "$label: the warning names the problem ($want_sub), in at most 512 bytes"
		diag "$(head -c 300 <<<"$lines")"
	fi

	prof=$(ls "$dir/$sub"*.exit.pb.gz 2>/dev/null)
	if [ "$(printf '%s' "$prof" | grep -c .)" -ne 1 ]; then
		fail "$label: one exit profile written (at_exit stays on)"
		diag "files: $(ls -A "$dir" | tr '\n' ' ')"
		return
	fi
	period=$(pprof -raw "$prof" 2>"$tmp/pprof.err" | awk '$1 == "Period:" { print $2; exit }')
	[ "$period" = "$want_period" ]
	ok $? "$label: the profile's period is $want_period (got ${period:-none})"
	[ -n "$period" ] || diag_file "$tmp/pprof.err"
}

# Bad values: one warning each, the default rate.
case_ 'HEAPPROF=""' "" 1 "HEAPPROF is set but empty" $DEFAULT
case_ "rate=-1" "rate=-1" 1 "rate=-1 is not a size" $DEFAULT
case_ "rate=abc" "rate=abc" 1 "rate=abc is not a size" $DEFAULT
case_ "rate=1e99" "rate=1e99" 1 "rate=1e99 is not a size" $DEFAULT
case_ "rate=99999999999999999999999" "rate=99999999999999999999999" 1 \
	"rate=99999999999999999999999 is not a size" $DEFAULT
case_ "rate=1,024 (thousands separator)" "rate=1,024" 1 "thousands separator" $DEFAULT
case_ "%n%n" "%n%n" 1 '"%n%n" is not key=value' $DEFAULT
case_ "%s%s%s" "%s%s%s" 1 '"%s%s%s" is not key=value' $DEFAULT
case_ "rate=%n" "rate=%n" 1 "rate=%n is not a size" $DEFAULT
case_ "unknown=1" "unknown=1" 1 'unknown setting "unknown"' $DEFAULT
case_ "rate (no value)" "rate" 1 '"rate" is not key=value' $DEFAULT
case_ "=" "=" 1 'unknown setting ""' $DEFAULT
case_ "100 KB rate" "rate=$long_digits" 1 "rate=9999" $DEFAULT
case_ "100 KB item" "$long_junk" 1 '"xxxx' $DEFAULT
case_ "100 KB prefix" "prefix=$long_junk" 1 "prefix must be a path" $DEFAULT
case_ "newline in a value" "rate=1${nl}2" 1 "rate=1?2 is not a size" $DEFAULT
case_ "newline between items" "rate=1${nl}rate=2" 1 "rate=1?rate=2 is not a size" $DEFAULT
case_ "escape sequence in a key" "${esc}[2J${esc}[31m=1" 1 'unknown setting "?[2J?[31m"' $DEFAULT
case_ "prefix= (empty)" "prefix=" 1 "prefix must be a path" $DEFAULT
case_ "signal=FOO" "signal=FOO" 1 "signal=FOO is not usable" $DEFAULT
case_ "signal=SEGV" "signal=SEGV" 1 "signal=SEGV is not usable" $DEFAULT
case_ "depth=-5" "depth=-5" 1 "depth=-5 is not a number" $DEFAULT
case_ "depth=100000" "depth=100000" 1 "depth=100000 is not a number" $DEFAULT
case_ "at_exit=maybe" "at_exit=maybe" 1 "at_exit=maybe is not 0 or 1" $DEFAULT
# A bad rate after a valid one keeps the valid one.
case_ "rate=64k,rate=abc" "rate=64k,rate=abc" 1 "rate=abc is not a size" 65536
case_ "rate=64k,rate=1,024" "rate=64k,rate=1,024" 1 "thousands separator" 65536
# Valid values: no warning. Empty items are harmless (lib/config.c).
case_ ",,," ",,," 0 "" $DEFAULT
case_ "rate=8k, (trailing comma)" "rate=8k," 0 "" 8192
# A prefix full of conversions is a path like any other, never a format.
sub='%n%s%x%n/'
case_ "prefix=%n%s%x%n/p (a valid path)" 'prefix=%n%s%x%n/p' 0 "" $DEFAULT
sub=
# Controls: the period check sees a valid rate.
case_ "rate=1 (control)" "rate=1" 0 "" 1

done_testing
