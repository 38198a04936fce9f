#!/bin/bash
# tests/integration/huge.sh: large sampled blocks (>= 1 MiB) in the slots of lib/huge
# (doc/DESIGN.md, "Large sampled blocks"), with tests/progs/huge_blocks (see its header for
# what each mode checks; each of its "ok"/"not ok" lines is one TAP line here).
#
#   preloaded at rate=1 (--strict: every block of 1 MiB or more in a slot of the class the
#       design gives it): basic, realloc, zero, align, many, threads, fork, rss, profile;
#   preloaded at the default rate (HEAPPROF=prefix=...): the same modes, blocks of 8 MiB or
#       more in slots;
#   linked with -lheapprof (huge_blocks_linked), at rate=1 and without HEAPPROF: basic,
#       realloc, zero, align.
# Every run: exits 0 within its timeout, prints "done", and heapprof says nothing on stderr.
# The exit profile of "profile" at rate=1 is read with heapprof top --raw and go tool
# pprof: each site's inuse_space, alloc_space and inuse_objects exactly (requested sizes;
# a block realloc'd in place counts its final size; freed blocks count no in-use bytes).
# Its own-memory comment parses and its live heap includes the live huge blocks.
# rss: 1 GiB of touched blocks freed, resident memory is back within 4 s (the helper thread
# releases the cached slots after 1 s).
# Without the helper thread (linked, HEAPPROF unset) freed slots of 8 MiB and more keep no
# pages: the same check passes there too.
# loop: buffers of 2 and 2.5 MB in turn cost no page faults once the first is made, with
# the helper thread and without it (rate=1, signal=none), and a slot kept since more than
# a second is released by the next allocation.
. "$top_srcdir/tests/integration/lib.sh"

need_env
need_go
need_prog huge_blocks huge_blocks_linked
HP=$top_builddir/tools/heapprof
if [ ! -x "$HP" ]; then
	fail "tools/heapprof built: $HP not found"
	done_testing
fi
HB=$top_builddir/tests/progs/huge_blocks
HBL=$top_builddir/tests/progs/huge_blocks_linked

# run DIR LABEL TIMEOUT ENV... PROG ARGS...: runs in $tmp/DIR/ (made here), turns the
# program's check lines into TAP lines, then checks that it ran to the end, exited 0 and
# heapprof logged nothing.
run() {
	local dir=$tmp/$1 label=$2 secs=$3 line rc
	shift 3
	mkdir -p "$dir"
	(cd "$dir" && exec timeout "$secs" env "$@") >"$dir/out" 2>"$dir/err"
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*) pass "$label: ${line#ok - }" ;;
		"not ok - "*) fail "$label: ${line#not ok - }" ;;
		"# "*) echo "# $label: ${line#\# }" ;;
		esac
	done <"$dir/out"
	[ "$rc" -eq 0 ] && grep -qx "done" "$dir/out"
	ok $? "$label: runs to the end and exits 0 within ${secs}s (status $rc)" ||
		diag_file "$dir/err"
	! grep -q '^heapprof:' "$dir/err"
	ok $? "$label: heapprof logs nothing on stderr" || diag_file "$dir/err"
}

modes="basic realloc zero align many threads fork rss loop"

# The run without the helper thread (below) mostly waits: it runs in the background.
nh=$tmp/nohelper
mkdir -p "$nh"
(cd "$nh" && exec timeout 30 "$HBL" rss) >"$nh/out" 2>"$nh/err" &
nh_pid=$!

# --- preloaded, rate=1 and the default rate ---------------------------------------------
for m in $modes; do
	run "r1-$m" "rate=1 $m" 60 LD_PRELOAD="$HP_LIB" HEAPPROF="rate=1,prefix=$tmp/r1-$m/p" \
		"$HB" "$m" --strict
done
for m in $modes; do
	run "dr-$m" "default rate $m" 60 LD_PRELOAD="$HP_LIB" HEAPPROF="prefix=$tmp/dr-$m/p" \
		"$HB" "$m"
done

# --- linked with -lheapprof -------------------------------------------------------------
for m in basic realloc zero align loop; do
	run "l1-$m" "linked rate=1 $m" 60 HEAPPROF="rate=1,prefix=$tmp/l1-$m/p" "$HBL" "$m" \
		--strict
	run "l0-$m" "linked, no HEAPPROF, $m" 60 "$HBL" "$m"
done

# --- without the helper thread: a freed slot is kept for the next block -----------------
# signal=none and no interval/every/peak trigger: no helper thread. A slot under 8 MiB is
# still kept for the next block (released by a later allocation or free once a second
# has passed), as jemalloc keeps its own dirty pages when no background thread runs.
run "nh-loop" "rate=1, signal=none (no helper thread) loop" 60 LD_PRELOAD="$HP_LIB" \
	HEAPPROF="rate=1,signal=none,prefix=$tmp/nh-loop/p" "$HB" loop --strict

# --- without the helper thread: the freed slots' pages are released ----------------------
# With no helper thread (HEAPPROF unset, or signal=none without every=/interval=) freed
# slots of 8 MiB and more keep no pages (jemalloc's oversize_threshold: nothing would
# release them while the program is quiet), and the rss mode's blocks are 16 MiB.
wait "$nh_pid"
tap_n=$((tap_n + 1))
if grep -q '^ok - resident memory back' "$nh/out"; then
	echo "ok $tap_n - linked, no HEAPPROF (no helper thread): resident memory back within 4 s of freeing 1 GiB"
else
	echo "not ok $tap_n - linked, no HEAPPROF (no helper thread): resident memory back within 4 s of freeing 1 GiB"
	grep '^# rss' "$nh/out" | sed 's/^/#   /'
fi

# --- the profile at rate=1 --------------------------------------------------------------
pdir=$tmp/prof
run prof "profile" 60 LD_PRELOAD="$HP_LIB" HEAPPROF="rate=1,prefix=$pdir/p" "$HB" profile --strict
prof=$(wait_for_file "$pdir/p.*.exit.pb.gz" 5)
ok $? "profile: an exit profile was written" || done_testing

# top_of TYPE FUNCTION: the function's flat value from heapprof top --raw (0 when absent).
top_of() {
	"$HP" top --raw -n 0 -s "$1" "$prof" 2>"$tmp/top.err" |
		awk -v f="$2" '$6 == f && NF == 6 { v = $1 } END { print v == "" ? 0 : v }'
}

# expect TYPE FUNCTION VALUE WHY
expect() {
	local v
	v=$(top_of "$1" "$2")
	[ "$v" = "$3" ]
	ok $? "profile: $1 of $2 is $3 ($4): got $v" || diag_file "$tmp/top.err"
}

MiB=1048576
expect inuse_space site_leak $((3 * 5 * MiB)) "3 blocks of 5 MiB kept"
expect inuse_space site_grow $((7 * MiB + 123)) "2 -> 6 -> 7 MiB + 123 in place: the final size"
expect inuse_space site_shrink $((1536 * 1024 + 7)) "10 MiB -> 1.5 MiB + 7 in place"
expect inuse_space site_move $((80 * MiB)) "16 -> 80 MiB, moved"
expect inuse_space site_freed 0 "4 blocks of 3 MiB freed"
expect inuse_space site_bulk $((10 * 20 * MiB)) "10 blocks of 20 MiB kept"
expect alloc_space site_leak $((3 * 5 * MiB)) "3 x 5 MiB"
expect alloc_space site_grow $((2 * MiB + 6 * MiB + 7 * MiB + 123)) "each realloc counts as an allocation"
expect alloc_space site_shrink $((10 * MiB + 1536 * 1024 + 7)) "10 MiB + 1.5 MiB + 7"
expect alloc_space site_move $((16 * MiB + 80 * MiB)) "16 MiB + 80 MiB"
expect alloc_space site_freed $((4 * 3 * MiB)) "4 x 3 MiB"
expect alloc_space site_bulk $((10 * 20 * MiB)) "10 x 20 MiB"
expect inuse_objects site_leak 3 "3 blocks"
expect inuse_objects site_grow 1 "one block, however often resized"
expect inuse_objects site_move 1 "one block"
expect inuse_objects site_bulk 10 "10 blocks"
expect alloc_objects site_grow 3 "malloc and two reallocs"

# The same figures from the real reader.
pprof_flat "$prof" inuse_space >"$tmp/flat.in"
for f_v in site_leak:$((15 * MiB)) site_move:$((80 * MiB)) site_bulk:$((200 * MiB)) \
	site_grow:$((7 * MiB + 123)); do
	f=${f_v%%:*}
	v=$(flat_of "$f" <"$tmp/flat.in")
	[ "$v" = "${f_v#*:}" ]
	ok $? "profile: go tool pprof shows $f at ${f_v#*:} inuse bytes: got ${v:-nothing}" ||
		diag_file "$tmp/pprof.err"
done

# The own-memory comment: it parses and its live heap includes the live huge blocks (in
# pages: 200 + 80 + 15 MiB, 7 MiB + 4 KiB, 1.5 MiB + 4 KiB = 318251008 bytes).
c=$(pprof -comments "$prof" 2>"$tmp/pprof.err" | grep '^heapprof: own memory ')
num='([0-9]+\.[0-9]+)'
re="^heapprof: own memory $num MiB = $num% of the live heap \(stack table $num MiB, block records $num MiB, unwinder and other $num MiB, symbols $num MiB, dump buffers $num MiB, sampled arena overhead $num MiB, of which freed pages kept for reuse $num MiB\); live heap $num MiB \(jemalloc allocated, less heapprof's own\); process anonymous resident $num MiB = $num%$"
live=
if [[ $c =~ $re ]]; then
	live=${BASH_REMATCH[10]}
fi
[ -n "$live" ]
ok $? "profile: the own-memory comment parses" || diag "comment: ${c:-none}"
awk -v l="${live:-0}" 'BEGIN { want = 318251008 / 1048576; exit !(l >= want - 0.01 && l <= want + 16) }'
ok $? "profile: the comment's live heap (${live:-?} MiB) includes the 303.51 MiB of live huge blocks (and little else)"

done_testing
