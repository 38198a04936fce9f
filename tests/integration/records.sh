#!/bin/bash
# tests/integration/records.sh: the record in front of each sampled block (lib/liverec;
# doc/DESIGN.md, "The record of a sampled block"), under programs that misuse their blocks.
# tests/progs/rec_misuse runs under LD_PRELOAD at rate=1 (every block sampled):
#   - double: a block freed twice. The second free is refused: one line on stderr naming
#     it, the block left alone; the program goes on allocating and exits 0.
#   - underflow: a byte written in front of a block. realloc returns NULL with ENOMEM and
#     the block intact, free is refused (the same one line), and the program goes on.
#   - aligned: aligned sampled blocks (their record sits the alignment in) are aligned,
#     have their usable size, keep their content through realloc, and heapprof's in-use
#     count comes back after their frees; nothing on stderr.
# Without the protection (the record trusted as read: tests/hazards/unprotected/
# record-unchecked.patch, run by unprotected.sh) 6 of these 9 checks fail: the double free
# reaches jemalloc twice and nothing names it, and the flipped record is trusted.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool timeout
need_prog rec_misuse

RM=$top_builddir/tests/progs/rec_misuse

run() { # MODE
	(cd "$tmp" && timeout 60 env LD_PRELOAD="$HP_LIB" HEAPPROF="rate=1,at_exit=0,signal=none" \
		"$RM" "$1") >"$tmp/$1.out" 2>"$tmp/$1.err"
}

for mode in double underflow; do
	run $mode
	ok $? "$mode: exits 0" || { diag_file "$tmp/$mode.out"; diag_file "$tmp/$mode.err"; }
	bad=$(grep -c '^bad' "$tmp/$mode.out")
	good=$(grep -c '^ok' "$tmp/$mode.out")
	[ "$bad" -eq 0 ] && [ "$good" -ge 1 ]
	ok $? "$mode: every check of the program holds ($good ok, $bad bad)" || diag_file "$tmp/$mode.out"
	lines=$(wc -l <"$tmp/$mode.err")
	[ "$lines" -eq 1 ] && grep -q "^heapprof: \(free\|realloc\) of 0x[0-9a-f]*: not a block heapprof handed out, or already freed" "$tmp/$mode.err"
	ok $? "$mode: one line on stderr names the refused block ($lines lines)" || diag_file "$tmp/$mode.err"
done

run aligned
ok $? "aligned: exits 0" || { diag_file "$tmp/aligned.out"; diag_file "$tmp/aligned.err"; }
bad=$(grep -c '^bad' "$tmp/aligned.out")
good=$(grep -c '^ok' "$tmp/aligned.out")
[ "$bad" -eq 0 ] && [ "$good" -eq 4 ]
ok $? "aligned: the 4 checks hold ($good ok, $bad bad)" || diag_file "$tmp/aligned.out"
[ ! -s "$tmp/aligned.err" ]
ok $? "aligned: nothing on stderr" || diag_file "$tmp/aligned.err"

done_testing
