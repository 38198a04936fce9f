#!/bin/bash
# tests/fuzz/replay.sh: the fuzz corpus (tests/fuzz/corpus: seeds, crash regressions and
# minimized campaign findings) run through the fuzz target's property checks without
# libFuzzer, by tests/fuzz/replay built plain and tests/fuzz/replay_san built with
# AddressSanitizer (+ LeakSanitizer) and UndefinedBehaviorSanitizer, no recovery.
#
# Checks: the corpus is there and under 1 MiB; the sanitized build catches a deliberate
# heap overflow and signed overflow (canaries); each build runs every file without a
# crash, a property failure or a sanitizer report; both builds accept and reject the same
# files; and by name, each valid-* file parses and each bad-* file is rejected with a
# one-line reason (text-* and crash-* files and libFuzzer's hashed names only must not
# crash). Then heapprof itself, built with the same sanitizers (tests/fuzz/heapprof_san),
# runs its reading commands on every named file (valid-*, bad-*, text-*, crash-*): each
# must exit 0, or 1 with a one-line error.
# Sanitizer reports go to $tmp/rep.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

if [ -z "${top_builddir:-}" ] || [ -z "${top_srcdir:-}" ]; then
	fail "environment set (top_srcdir, top_builddir: run through make check)"
	done_testing
fi
corpus=$top_srcdir/tests/fuzz/corpus
plain=$top_builddir/tests/fuzz/replay
san=$top_builddir/tests/fuzz/replay_san
for b in "$plain" "$san" "$top_builddir/tests/fuzz/heapprof_san"; do
	if [ ! -x "$b" ]; then
		fail "replay program built: $b not found"
		done_testing
	fi
done
need_tool timeout
mkdir -p "$tmp/rep"
SAN_COMMON="halt_on_error=1:exitcode=66"
export ASAN_OPTIONS="$SAN_COMMON:detect_leaks=1:abort_on_error=0:log_path=$tmp/rep/asan"
export UBSAN_OPTIONS="$SAN_COMMON:print_stacktrace=1:log_path=$tmp/rep/ubsan"
REPORT_RE='(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:|property failed'

# --- the corpus ----------------------------------------------------------------------
nfiles=$(find "$corpus" -maxdepth 1 -type f | wc -l)
bytes=$(find "$corpus" -maxdepth 1 -type f -printf '%s\n' | awk '{ b += $1 } END { print b + 0 }')
nvalid=$(find "$corpus" -maxdepth 1 -type f -name 'valid-*' | wc -l)
nbad=$(find "$corpus" -maxdepth 1 -type f -name 'bad-*' | wc -l)
[ "$nfiles" -gt 0 ] && [ "$bytes" -lt 1048576 ] && [ "$nvalid" -gt 0 ] && [ "$nbad" -gt 0 ]
ok $? "corpus: $nfiles files, $bytes bytes (under 1 MiB), $nvalid valid-*, $nbad bad-*"

# --- the sanitizers are live ---------------------------------------------------------
# canary KIND PATTERN: replay_san --canary KIND must fail with a report matching PATTERN.
canary() {
	rm -f "$tmp/rep/"*
	timeout 60 "$san" --canary "$1" >"$tmp/canary.out" 2>&1
	local rc=$?
	cat "$tmp/rep/"* >>"$tmp/canary.out" 2>/dev/null
	[ "$rc" -ne 0 ] && grep -q "$2" "$tmp/canary.out"
	ok $? "canary: the sanitized replay reports a deliberate $3 (exit $rc)" ||
		diag_file "$tmp/canary.out"
}
canary asan 'AddressSanitizer: heap-buffer-overflow' "heap buffer overflow"
canary ubsan 'runtime error: signed integer overflow' "signed integer overflow"

# --- the whole corpus through each build ---------------------------------------------
# replay NAME BIN: runs BIN on the corpus (each file in a child process) into
# $tmp/NAME.{out,err}; ok when every file ran, none crashed and nothing was reported.
replay() {
	local name=$1 bin=$2 rc ran
	rm -f "$tmp/rep/"*
	timeout 120 "$bin" "$corpus" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	cat "$tmp/rep/"* >>"$tmp/$name.err" 2>/dev/null
	ran=$(sed -n 's/^replayed \([0-9]*\) inputs.*/\1/p' "$tmp/$name.out")
	[ "$rc" -eq 0 ] && [ "$ran" = "$nfiles" ] && ! grep -q '^crashed ' "$tmp/$name.out" &&
		! grep -Eq "$REPORT_RE" "$tmp/$name.err"
	ok $? "$name build: all $nfiles corpus files run without a crash or report" \
		"($(tail -1 "$tmp/$name.out"); exit $rc)" || {
		grep '^crashed ' "$tmp/$name.out" | head -10 | sed 's/^/# /'
		grep -v "^running " "$tmp/$name.err" | grep -E -A8 "$REPORT_RE" | head -30 |
			sed "s/^/#   /"
	}
}
replay plain "$plain"
replay sanitized "$san"

grep -E '^(parsed|rejected|crashed) ' "$tmp/plain.out" | cut -d: -f1 >"$tmp/plain.verdicts"
grep -E '^(parsed|rejected|crashed) ' "$tmp/sanitized.out" | cut -d: -f1 >"$tmp/san.verdicts"
cmp -s "$tmp/plain.verdicts" "$tmp/san.verdicts"
ok $? "plain and sanitized builds parse and reject the same files" ||
	diff "$tmp/plain.verdicts" "$tmp/san.verdicts" | head -10 | sed 's/^/#   /'

# --- expectations by name ------------------------------------------------------------
# verdict FILE: the sanitized run's line for FILE ("parsed ..." or "rejected ...: why").
verdict() {
	awk -v f="$corpus/$1" '$2 == f || $2 == f ":" { print; exit }' "$tmp/sanitized.out"
}
for f in $(cd "$corpus" && ls valid-* bad-* 2>/dev/null); do
	v=$(verdict "$f")
	case $f in
	valid-*)
		[ "$v" = "parsed $corpus/$f" ]
		ok $? "$f parses" || diag "${v:-no verdict}"
		;;
	bad-*)
		why=${v#rejected "$corpus/$f": }
		[ "${v#rejected }" != "$v" ] && [ -n "$why" ] && [ "$why" != "$v" ]
		ok $? "$f is rejected: $why" || diag "${v:-no verdict}"
		;;
	esac
done
# --- heapprof's reading commands on every file ---------------------------------------
# command_pass DESC ARGS...: runs heapprof_san ARGS... FILE for each corpus file (diff
# gets FILE twice); ok when each exits 0, or 1 with one line "heapprof: ..." on stderr,
# and nothing reported a problem.
hsan=$top_builddir/tests/fuzz/heapprof_san
mkdir -p "$tmp/cmd"
# The named files only (seeds and crash regressions): the hundreds of campaign findings
# would take a minute here; the replays above ran them through the reader.
named=$(cd "$corpus" && ls valid-* bad-* text-* crash-* 2>/dev/null | sed "s|^|$corpus/|")
nnamed=$(echo "$named" | grep -c .)
command_pass() {
	local desc=$1 f rc nbad=0 extra
	shift
	: >"$tmp/cmd/bad"
	for f in $named; do
		extra=
		[ "$1" = diff ] && extra=$f
		rm -f "$tmp/rep/"*
		timeout 30 "$hsan" "$@" $extra "$f" >"$tmp/cmd/out" 2>"$tmp/cmd/err"
		rc=$?
		cat "$tmp/rep/"* >>"$tmp/cmd/err" 2>/dev/null
		if [ "$rc" -eq 0 ] && ! grep -Eq "$REPORT_RE" "$tmp/cmd/err"; then
			continue
		fi
		if [ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/cmd/err")" -eq 1 ] &&
			grep -q '^heapprof: ' "$tmp/cmd/err"; then
			continue
		fi
		nbad=$((nbad + 1))
		{ echo "${f##*/}: exit $rc"; head -6 "$tmp/cmd/err"; } >>"$tmp/cmd/bad"
	done
	[ "$nbad" -eq 0 ]
	ok $? "heapprof $desc on the $nnamed named corpus files: exit 0 or 1 with one error" \
		"line, no sanitizer report ($nbad failed)" || diag_file "$tmp/cmd/bad" 24
}
command_pass "top --lines --cum" top --lines --cum
command_pass "collapse" collapse
command_pass "flame" flame -o "$tmp/cmd/o.svg"
command_pass "convert --to text" convert --to text -o "$tmp/cmd/o.txt"
command_pass "convert --to pprof" convert --to pprof -o "$tmp/cmd/o.pb.gz"
command_pass "diff FILE FILE" diff

ntext=$(cd "$corpus" && ls text-* 2>/dev/null | wc -l)
ncrash=$(cd "$corpus" && ls crash-* 2>/dev/null | wc -l)
diag "also run: $ntext text-* files, $ncrash crash-* regressions," \
	"$((nfiles - nvalid - nbad - ntext - ncrash)) campaign findings"
done_testing
