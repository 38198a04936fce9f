#!/bin/bash
# tests/integration/cli_leak.sh: the leak hunter, end to end (issue 4, acceptance 1 and 5):
# `heapprof run` starts tests/progs/leak_grow (1 MiB leaked per iteration by
# leak_session, no growth elsewhere once its cache is full); two dumps a few seconds
# apart through `kill -USR1` on heapprof run's pid (passed on to the program); then
#   heapprof diff      lists leak_session first, growth within 10% of the truth (the
#                      program prints "iter N" after its N-th leaked MiB), and with --min
#                      nothing else;
#   heapprof top --lines  names leak_session's file and line (the line of its malloc,
#                      found in the source, not hard-coded).
# Also: run's exit status pass-through (exit code, a signal), its summary, its options
# (--every, --interval reach the library), children that exec, its errors; diff's and
# top --cum's known output on demo_leak at rate=1, and their bad command lines.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool python3 timeout awk
need_prog leak_grow demo_leak trig_alloc

HP=$top_builddir/tools/heapprof
if [ ! -x "$HP" ]; then
	fail "tool built: $HP not found"
	done_testing
fi
LG=$top_builddir/tests/progs/leak_grow
SRC=$top_srcdir/tests/progs/leak_grow.c
MIB=1048576

# run CMD...: runs CMD under a 60 s timeout; sets $rc, output in $tmp/out, $tmp/err.
run() {
	timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# iters: the number of MiB leaked so far (leak_grow's last complete "iter N" line).
iters() {
	awk '/^iter [0-9]+$/ { n = $2 } END { print n + 0 }' "$tmp/lg.out"
}

# wait_iters N: waits (up to 30 s) until leak_grow has done N iterations.
wait_iters() {
	local i
	for i in $(seq 1500); do
		[ "$(iters)" -ge "$1" ] && return 0
		sleep 0.02
	done
	return 1
}

# dump SEQ: asks heapprof run for a profile, waits for it; sets $before, $after (the
# truth at the dump lies between them) and $file.
dump() {
	before=$(iters)
	kill -USR1 "$runpid"
	file=$(wait_for_file "$tmp/d/lg.*.$1.signal.pb.gz" 30)
	after=$(iters)
}

# --- two dumps of a leaking program ----------------------------------------------------

mkdir -p "$tmp/d"
# No timeout(1) in between: the signals go to heapprof run itself. leak_grow ends by
# itself after 60 s, so nothing can hang.
"$HP" run --rate 64k --prefix "$tmp/d/lg" -- "$LG" 20 60 >"$tmp/lg.out" 2>"$tmp/lg.err" &
runpid=$!
if ! wait_iters 70; then
	fail "leak_grow runs under heapprof run (70 iterations)"
	diag_file "$tmp/lg.err"
	kill -KILL "$runpid" 2>/dev/null
	done_testing
fi
pass "leak_grow runs under heapprof run (70 iterations: its cache is full)"
dump 0001
b1=$before a1=$after base=$file
sleep 2.5
dump 0002
b2=$before a2=$after new=$file
kill -TERM "$runpid"
wait "$runpid"
st=$?
[ -n "$base" ] && [ -n "$new" ]
ok $? "kill -USR1 on heapprof run's pid: two profiles (${base##*/}, ${new##*/})" ||
	{ diag_file "$tmp/lg.err"; done_testing; }
[ "$st" -eq 143 ]
ok $? "kill -TERM: passed on, and heapprof run ends as the program did (143, got $st)"
grep -q "was killed by SIGTERM; 2 profiles of 1 process in $tmp/d:" "$tmp/lg.err"
ok $? "run's summary names the signal, the two profiles and their directory" ||
	diag_file "$tmp/lg.err"

# Truth: the MiB leaked between the dumps, bounded by the iteration counts around each.
lo=$((b2 - a1)) hi=$((a2 - b1))
mid=$(awk -v a="$lo" -v b="$hi" 'BEGIN { printf "%.1f", (a + b) / 2 }')
diag "truth: $lo to $hi MiB leaked between the dumps"

run "$HP" diff --raw "$base" "$new"
first=$(awk 'NR == 3 { print $NF, $1 }' "$tmp/out")
name=${first% *}
growth=${first#* }
growth=${growth#+}
[ "$rc" -eq 0 ] && [ "$name" = leak_session ]
ok $? "diff: leak_session is the first row (got '$first')" || diag_file "$tmp/out"
gm=$(awk -v g="$growth" -v m=$MIB 'BEGIN { printf "%.2f", g / m }')
awk -v g="$gm" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(g >= lo * 0.9 && g <= hi * 1.1) }'
ok $? "diff: its growth $gm MiB is within 10% of the truth ($lo to $hi MiB)"
head -n 1 "$tmp/out" | grep -q '^Type: inuse_space, base [0-9]*, new [0-9]*, growth +[0-9]*, [0-9.]* s apart$'
ok $? "diff: header with the type, both totals, the growth and the time apart" ||
	diag_file "$tmp/out" 3

run "$HP" diff --min 1m "$base" "$new"
rows=$(awk 'NR > 2' "$tmp/out" | wc -l)
[ "$rc" -eq 0 ] && [ "$rows" -eq 1 ] && awk 'NR == 3' "$tmp/out" | grep -q ' leak_session$'
ok $? "diff --min 1m: leak_session is the only site that grew or shrank by 1 MiB ($rows rows)" ||
	diag_file "$tmp/out"

run "$HP" diff "$new" "$base"
last=$(awk 'NR > 2 { l = $0 } END { print l }' "$tmp/out")
grep -q "is older than" "$tmp/err" && [[ "${last#"${last%%[! ]*}"}" == -* ]] && [[ "$last" == *leak_session ]]
ok $? "diff NEW BASE: a warning that they are swapped, leak_session last, shrinking" ||
	{ diag_file "$tmp/err"; diag "$last"; }

line=$(grep -n 'struct session \*s = malloc' "$SRC" | cut -d: -f1)
run "$HP" top --lines -n 3 "$new"
row=$(awk '$1 == "flat" { h = 1; next } h { print; exit }' "$tmp/out")
[ -n "$line" ] && [[ "$row" == *" leak_session "*"tests/progs/leak_grow.c:$line" ]]
ok $? "top --lines: first row is leak_session at leak_grow.c:$line (got '$row')" ||
	{ diag_file "$tmp/out"; diag_file "$tmp/err"; }
head -n 1 "$tmp/out" | grep -q 'showing top 3 of [0-9]* lines$'
ok $? "top --lines: the header counts lines"

# --- known output on demo_leak at rate=1 -------------------------------------------------

mkdir -p "$tmp/demo"
run "$HP" run --rate 1 --prefix "$tmp/demo/p" -- "$top_builddir/tests/progs/demo_leak"
demo=$(ls "$tmp"/demo/p.*.exit.pb.gz 2>/dev/null)
[ "$rc" -eq 0 ] && [ -n "$demo" ]
ok $? "run --rate 1 demo_leak: exit 0, an exit profile" || diag_file "$tmp/err"
grep -q "^heapprof: top sites of ${demo##*/}:$" "$tmp/err" &&
	grep -q '^   40.0MiB  [0-9.]*% *[0-9.]*% *40.0MiB  [0-9.]*%  leak_sessions$' "$tmp/err" &&
	[ "$(awk '$1 == "flat" { h = 1; next } h' "$tmp/err" | wc -l)" -eq 5 ]
ok $? "run: summary with the top five sites of the exit profile, leak_sessions 40.0MiB" ||
	diag_file "$tmp/err"
[ ! -s "$tmp/out" ]
ok $? "run: nothing of its own on standard output"

run "$HP" diff --raw -n 0 "$demo" "$demo"
[ "$rc" -eq 0 ] && grep -q '(no site changed)' "$tmp/out" &&
	head -n 1 "$tmp/out" | grep -q 'base 42423040, new 42423040, growth +0, 0.0 s apart'
ok $? "diff of a profile with itself: no site changed, growth +0" || diag_file "$tmp/out"

run "$HP" top --cum --raw -n 0 "$demo"
awk '$1 == "flat" { h = 1; next } h { print $4 }' "$tmp/out" >"$tmp/cums"
sort -n -r -c "$tmp/cums" 2>/dev/null && [ "$(head -n 1 "$tmp/cums")" = 42423040 ] &&
	grep -q '^ *41943040 .* 41943040 .*  leak_sessions$' "$tmp/out"
ok $? "top --cum: sorted by cum, the first with the whole 42423040 bytes" || diag_file "$tmp/out"

# --- run: status, python, options, children ------------------------------------------------

mkdir -p "$tmp/py"
run "$HP" run --prefix "$tmp/py/p" -- python3 -c 'import sys; x = [bytearray(1 << 20) for i in range(8)]; sys.exit(3)'
[ "$rc" -eq 3 ] && grep -q 'python3 (pid [0-9]*) exited with status 3; [0-9]* profiles\? of [0-9]* process' "$tmp/err" &&
	grep -q '^heapprof: top sites of ' "$tmp/err"
ok $? "run -- python3 -c ...: exit status 3 passed through, summary printed" || diag_file "$tmp/err"

run "$HP" run --prefix "$tmp/py/k" -- python3 -c 'import os, signal; os.kill(os.getpid(), signal.SIGKILL)'
[ "$rc" -eq 137 ] && grep -q 'was killed by SIGKILL' "$tmp/err"
ok $? "run: a program killed by SIGKILL: heapprof run dies the same way (137, got $rc)" ||
	diag_file "$tmp/err"

mkdir -p "$tmp/opt"
run "$HP" run --every 1 --interval 100m --prefix "$tmp/opt/p" -- \
	"$top_builddir/tests/progs/trig_alloc" 400 1.6 1000
t=$(count_files "$tmp/opt/p.*.timer.pb.gz")
i=$(count_files "$tmp/opt/p.*.interval.pb.gz")
[ "$rc" -eq 0 ] && [ "$t" -ge 1 ] && [ "$i" -ge 3 ] && [ "$i" -le 5 ]
ok $? "run --every 1 --interval 100m: timer ($t) and interval ($i of 4 +- 1) profiles" ||
	{ diag_file "$tmp/err"; diag "$(ls "$tmp/opt")"; }

mkdir -p "$tmp/ch"
run "$HP" run --rate 1 --prefix "$tmp/ch/p" -- sh -c \
	"'$top_builddir/tests/progs/demo_leak'; exec '$top_builddir/tests/progs/demo_leak'"
n=0
for f in "$tmp"/ch/p.*.exit.pb.gz; do
	"$HP" top -n 1 "$f" 2>/dev/null | grep -q ' leak_sessions$' && n=$((n + 1))
done
[ "$rc" -eq 0 ] && [ "$n" -eq 2 ]
ok $? "run: a forked child and an exec'd program each write their own profile ($n of 2)" ||
	{ diag_file "$tmp/err"; diag "$(ls "$tmp/ch")"; }

run "$HP" run -- /nonexistent/prog
[ "$rc" -eq 127 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	grep -q '^heapprof: run: /nonexistent/prog: No such file or directory$' "$tmp/err"
ok $? "run: a missing command: one line, status 127" || diag_file "$tmp/err"
for bad in "--rate 12x" "--every 0" "--interval -5" "--prefix $tmp/nodir/p" "--bogus"; do
	# shellcheck disable=SC2086
	run "$HP" run $bad -- true
	[ "$rc" -eq 125 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^heapprof: run: ' "$tmp/err"
	ok $? "run $bad: one line naming the problem, status 125, nothing run" || diag_file "$tmp/err"
done
run env HEAPPROF_LIB=/nonexistent.so "$HP" run -- true
[ "$rc" -eq 125 ] && grep -q 'HEAPPROF_LIB=/nonexistent.so is not' "$tmp/err"
ok $? "run: a bad HEAPPROF_LIB is reported (125)" || diag_file "$tmp/err"

# --- diff: bad command lines and files --------------------------------------------------------

run "$HP" diff "$demo"
[ "$rc" -eq 2 ] && grep -q 'wants two profiles' "$tmp/err"
ok $? "diff with one operand: usage error (2)"
run "$HP" diff "$demo" "$tmp/missing.pb.gz"
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^heapprof: $tmp/missing.pb.gz: " "$tmp/err"
ok $? "diff with a missing file: one line naming it (1)"
head -c 300 "$demo" >"$tmp/cut.pb.gz"
run "$HP" diff "$tmp/cut.pb.gz" "$demo"
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^heapprof: $tmp/cut.pb.gz: " "$tmp/err"
ok $? "diff with a damaged base: one line naming it (1)"
run "$HP" diff --min lots "$demo" "$demo"
[ "$rc" -eq 2 ] && grep -q -- "--min wants a size" "$tmp/err"
ok $? "diff --min lots: usage error (2)"
run "$HP" diff --sample bogus "$demo" "$demo"
[ "$rc" -eq 2 ] && grep -q "no sample type 'bogus'" "$tmp/err"
ok $? "diff --sample bogus: usage error naming the types (2)"
run "$HP" diff "$base" "$demo"
[ "$rc" -eq 0 ] && grep -q 'warning: .* is of pid [0-9]* and .* of pid [0-9]*' "$tmp/err"
ok $? "diff of two processes: a warning, figures still printed" || diag_file "$tmp/err"
run "$HP" diff --help
[ "$rc" -eq 0 ] && grep -q '^usage: heapprof diff' "$tmp/out"
ok $? "diff --help"
run "$HP" run --help
[ "$rc" -eq 0 ] && grep -q '^usage: heapprof run' "$tmp/out"
ok $? "run --help"

done_testing
