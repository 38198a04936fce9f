#!/bin/bash
# tests/integration/unwind_shapes.sh: heapprof's stacks, from its fast walk (compact
# per-return-address rules, no libunwind) and its slow walk (libunwind), against an
# independent unwinder (glibc's backtrace(), libgcc's DWARF unwinder), frame by frame,
# for every allocation of tests/progs/unw_shapes: call chains of many frame shapes (see
# that program's header: frameless and frame-pointer C, alloca, 40 KB frames, stack
# realignment with rbp and with a DRAP register, recursion 100 deep, a tail call, signal
# handlers on the stack and on a sigaltstack, traps at CFI row edges, a thread, qsort's
# callback in libc, assembly with exact CFA/rbp/return-address offsets on both sides
# of the packed slot's limits, and walks that may reuse the last walk's outer frames only
# after checking the words under them: return addresses, and a saved rbp).
#
# The program runs once without heapprof (it is sound; its expectation file is
# well formed) and once under HEAPPROF=rate=1,depth=256 (every allocation unwound). Then:
#   - the exit profile is read by go tool pprof -raw (location addresses, exact counts);
#   - per site, the multiset of stacks of its allocations in the profile (a site is
#     recognised by its unique size, so a wrong walk cannot hide in another site) equals
#     the multiset of the program's backtrace()s, each turned into the stack heapprof
#     must give: frame 0 is the return address of the leaf's malloc call (objdump) instead
#     of backtrace's own, every address minus 1 (the profile's convention), down to _start
#     (or clone3 for the thread): same frames, same order, same count;
#   - walks: the program counts heapprof's slow walks (it interposes on libunwind's
#     _Ux86_64_init_remote, called once per slow walk). A walk through a return address
#     no earlier walk saw must be slow, a site whose chain holds a frame no compact rule
#     fits (signal frames, CFA expressions, offsets beyond the packed slot) must walk slow
#     every time, and the other walks must be fast: so both paths are shown to give the
#     exact stacks. Two return addresses of one chain may share a slot of the rule table
#     (16384 slots, addresses vary with ASLR): that site then walks slow every time. One
#     such site per run is tolerated, and named.
#   - shapes: the tail call really is one (its caller is on no stack).
# Last, tests/progs/unw_packed's stacks through a signal frame (slow walks that apply the
# cached rules of the frames around it) are the same at rate=65537, where the rules keep
# libunwind's state packed, as at rate=1, where they keep it whole.
# Every run is limited by timeout (60 s); the whole test takes about a second.
#
# Known bugs (KNOWN_BUGS below: site names) are reported "not ok ... # TODO <why>": an
# expected failure for the TAP driver, that turns into an unexpected pass (XPASS, which
# fails make check) once fixed, so that the entry is then removed.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool timeout objdump nm gzip
need_prog unw_shapes

PROG=$top_builddir/tests/progs/unw_shapes
LIMIT=60

# A frame interrupted by a signal is looked up by lib/unwind.c's step() at pc - 1, as if
# its pc were a return address: the rule of the row before the ud2 (trap_edge: CFA =
# rsp + 8 instead of rsp + 16, so a saved rbp is taken for the return address), or no row
# of the FDE at all (trap_entry: then unw_step, also told pc - 1 by then, finds no FDE and
# guesses with rbp, skipping the caller).
KNOWN_BUGS=""
KNOWN_WHY=""

# ok_or_known SITE STATUS DESC: ok, or for a known bug "ok/not ok ... # TODO".
ok_or_known() {
	local site=$1 st=$2
	shift 2
	case " $KNOWN_BUGS " in
	*" $site "*)
		tap_n=$((tap_n + 1))
		if [ "$st" -eq 0 ]; then
			echo "ok $tap_n - $* # TODO $KNOWN_WHY"
		else
			echo "not ok $tap_n - $* # TODO $KNOWN_WHY"
		fi
		return "$st" ;;
	esac
	ok "$st" "$@"
}

# run plain|lib DIR: runs the program in DIR, its expectations in DIR/expect. Sets $why.
run() {
	local how=$1 d=$2 st
	rm -rf "$d"
	mkdir -p "$d"
	if [ "$how" = lib ]; then
		(cd "$d" && exec timeout -k 5 "$LIMIT" env LD_PRELOAD="$HP_LIB" \
			HEAPPROF="rate=1,depth=256,prefix=$d/p" "$PROG" "$d/expect") \
			>"$d.out" 2>"$d.err"
	else
		(cd "$d" && exec timeout -k 5 "$LIMIT" "$PROG" "$d/expect") >"$d.out" 2>"$d.err"
	fi
	st=$?
	why=
	case $st in
	0) grep -qv '^heapprof: ' "$d.err" && why="it printed errors" ;;
	124 | 137) why="hung: killed after $LIMIT s" ;;
	*) why="exit status $st" ;;
	esac
	[ -z "$why" ]
}

run plain "$tmp/plain"
ok $? "unw_shapes runs without heapprof${why:+ ($why)}" || diag_file "$tmp/plain.err"
run lib "$tmp/lib"
ok $? "unw_shapes runs under heapprof at rate=1, depth=256${why:+ ($why)}" ||
	{ diag_file "$tmp/lib.err"; done_testing; }

E=$tmp/lib/expect
nsites=$(grep -c '^site ' "$E")
[ "$nsites" -ge 25 ] && [ "$(grep -c '^site ' "$tmp/plain/expect")" = "$nsites" ]
ok $? "expectation files list the sites ($nsites) with and without heapprof"

# --- the addresses heapprof must give ---------------------------------------------------

# The leaves' malloc return addresses (link-time), and main's, for the load bias.
objdump -d --no-show-raw-insn "$PROG" | awk '
	/^[0-9a-f]+ <[^>]*>:$/ { fn = $2; gsub(/[<>:]/, "", fn); next }
	want { a = $1; sub(/:$/, "", a); print fn0, a; want = 0 }
	/call.*<malloc@plt>/ { fn0 = fn; want = 1 }' >"$tmp/mallocs"
main_link=$(nm "$PROG" | awk '$3 == "main" { print $1 }')

# leafs: "LEAF ADDR" the runtime address (hex) of the return from each leaf's malloc
# call, minus 1. (bash does the arithmetic: awk's printf %x stops at 32 bits.)
main_rt=$(awk '$1 == "main" { sub(/^0x/, "", $2); print $2 }' "$E")
: >"$tmp/leafs"
while read -r fn a; do
	printf '%s %x\n' "$fn" $((0x$main_rt - 0x$main_link + 0x$a - 1)) >>"$tmp/leafs"
done <"$tmp/mallocs"

# expect.stacks: "SITE COUNT STACK" per distinct stack of a site, STACK the addresses
# heapprof must record (hex, no 0x), leaf first, ";"-joined. expect.walks: "SITE SEQ SLOW
# WANT" per call, WANT slow, fast, or new (first walk through a return address: slow).
awk -v out="$tmp/expect.walks" '
	# dec(hex): hex - 1, as a string (no leading zeros, no 0x)
	function dec(s,   i, d, h) {
		h = "0123456789abcdef"
		s = tolower(s); sub(/^0x/, "", s)
		for (i = length(s); i >= 1; i--) {
			d = index(h, substr(s, i, 1)) - 1
			if (d > 0) { s = substr(s, 1, i - 1) substr(h, d, 1) substr(s, i + 1); break }
			s = substr(s, 1, i - 1) "f" substr(s, i + 1)
		}
		sub(/^0+/, "", s)
		return s
	}
	FILENAME ~ /leafs$/ { mret[$1] = $2; nmal[$1]++; next }
	$1 == "site" { leaf[$2] = $6; walks[$2] = $4; next }
	$1 == "call" {
		s = $2; n = $5
		if (nmal[leaf[s]] != 1) { print "no single malloc call in " leaf[s] > "/dev/stderr"; bad = 1 }
		k = mret[leaf[s]]
		st = k; isnew = !(k in seen); seen[k] = 1
		for (i = 7; i <= 5 + n; i++) {
			k = dec($i)
			st = st ";" k
			if (!(k in seen)) { isnew = 1; seen[k] = 1 }
		}
		cnt[s " " st]++
		printf "%s %s %s %s\n", s, $3, $4, (walks[s] == "slow" ? "slow" : isnew ? "new" : "fast") > out
	}
	END {
		for (x in cnt) { split(x, p, " "); print p[1], cnt[x], p[2] }
		exit bad
	}' "$tmp/leafs" "$E" | sort >"$tmp/expect.stacks"
ok $? "expected stacks built (objdump finds each leaf's one malloc call)"

# --- the stacks heapprof gave -------------------------------------------------------------

prof=
n=$(count_files "$tmp/lib/p.*.exit.pb.gz")
if [ "$n" = 1 ]; then
	prof=$(echo "$tmp"/lib/p.*.exit.pb.gz)
	pprof -raw "$prof" >"$tmp/raw" 2>"$tmp/raw.err" && grep -q '^Samples:' "$tmp/raw" || prof=
fi
[ -n "$prof" ]
ok $? "one exit profile ($n found), read by go tool pprof -raw" || diag_file "$tmp/raw.err" 5

# got.stacks: "SITE COUNT STACK" per sample whose every allocation has one site's size.
awk -v sites="$E" '
	BEGIN {
		while ((getline line < sites) > 0) {
			split(line, w, " ")
			if (w[1] == "site") size[w[5]] = w[2]
		}
	}
	/^Samples:/ { sec = "s"; hdr = 1; next }
	/^Locations/ { sec = "l"; next }
	/^Mappings/ { sec = "m"; next }
	sec == "s" && hdr { hdr = 0; next }
	sec == "s" && index($0, ":") {
		split($0, part, ":")
		ns++; vals[ns] = part[1]; ids[ns] = part[2]
		next
	}
	sec == "l" && $1 ~ /^[0-9]+:$/ {
		id = substr($1, 1, length($1) - 1)
		a = tolower($2); sub(/^0x/, "", a); sub(/^0+/, "", a)
		addr[id] = a
	}
	END {
		for (i = 1; i <= ns; i++) {
			split(vals[i], v, " ")
			if (v[1] <= 0 || v[2] % v[1] || !((v[2] / v[1]) in size)) continue
			n = split(ids[i], l, " "); st = ""
			for (j = 1; j <= n; j++) st = st (j > 1 ? ";" : "") addr[l[j]]
			print size[v[2] / v[1]], v[1], st
		}
	}' "$tmp/raw" | sort >"$tmp/got.stacks"

# names: address -> function, from the profile, for diagnostics.
awk '/^Locations/ { l = 1; next } /^Mappings/ { l = 0 }
	l && $1 ~ /^[0-9]+:$/ { a = tolower($2); sub(/^0x/, "", a); sub(/^0+/, "", a)
		nm = ($3 ~ /^M=/) ? $4 : $3; print a, nm }' "$tmp/raw" >"$tmp/names"

# show FILE: a stacks file's lines with names, as diagnostics.
show() {
	awk -v names="$tmp/names" '
		BEGIN { while ((getline line < names) > 0) { split(line, w, " "); nm[w[1]] = w[2] } }
		{
			n = split($3, f, ";"); s = ""
			for (i = 1; i <= n; i++) s = s (i > 1 ? " " : "") f[i] "(" (f[i] in nm ? nm[f[i]] : "?") ")"
			print "x" $2 ": " s
		}' "$1" | cut -c1-400 | sed 's/^/#     /'
}

# --- per site: the stacks ---------------------------------------------------------------

while read -r _ id name walks size leaf; do
	awk -v s="$id" '$1 == s' "$tmp/expect.stacks" >"$tmp/want.$id"
	awk -v s="$id" '$1 == s' "$tmp/got.stacks" >"$tmp/got.$id"
	calls=$(awk -v s="$id" '$1 == s { n++ } END { print n + 0 }' "$tmp/expect.walks")
	depth=$(awk '{ n = split($3, f, ";"); if (n > m) m = n } END { print m + 0 }' "$tmp/want.$id")
	[ -s "$tmp/want.$id" ] && cmp -s "$tmp/want.$id" "$tmp/got.$id"
	if ! ok_or_known "$name" $? "site $name: all $calls stacks equal backtrace()'s, frame by frame ($depth frames)"; then
		echo "#   want (count: frames, leaf first):"
		show "$tmp/want.$id"
		echo "#   got:"
		show "$tmp/got.$id"
	fi
done < <(grep '^site ' "$E")

# --- the walks: slow where they must be, fast elsewhere ---------------------------------

awk '($4 == "slow" || $4 == "new") && $3 != 1 { print }' "$tmp/expect.walks" >"$tmp/bad.slow"
[ ! -s "$tmp/bad.slow" ]
ok $? "every first walk through a return address, and every walk of a chain with a frame no compact rule fits, is a slow walk (one libunwind walk)" ||
	{ echo "#   site seq slow_walks expected:"; diag_file "$tmp/bad.slow"; }

nfast=$(awk '$4 == "fast" { n++ } END { print n + 0 }' "$tmp/expect.walks")
awk '$4 == "fast" && $3 != 0 { print $1 }' "$tmp/expect.walks" | sort -u >"$tmp/bad.fast"
nbad=$(wc -l <"$tmp/bad.fast")
names=$(while read -r s; do awk -v s="$s" '$1 == "site" && $2 == s { printf "%s ", $3 }' "$E"; done <"$tmp/bad.fast")
diag "walks expected fast: $nfast; sites where some were slow: ${names:-none}"
[ "$nfast" -ge 40 ] && [ "$nbad" -le 1 ]
ok $? "the other walks ($nfast) are fast walks, at all sites but at most one (a rule-table slot shared by two return addresses of one chain)${names:+: slow at $names}"

# --- shapes -------------------------------------------------------------------------------

tail_range=$(nm -S "$PROG" | awk '$4 == "tail_1" { print $1, $2 }')
tail_id=$(awk '$1 == "site" && $3 == "tail" { print $2 }' "$E")
if [ -n "$tail_range" ] && [ -n "$tail_id" ]; then
	awk -v r="$tail_range" -v s="$tail_id" -v mainlink="$main_link" -v E="$E" '
		function hex(x,   i, n) {
			x = tolower(x); sub(/^0x/, "", x); n = 0
			for (i = 1; i <= length(x); i++) n = n * 16 + index("0123456789abcdef", substr(x, i, 1)) - 1
			return n
		}
		BEGIN {
			split(r, rr, " ")
			while ((getline line < E) > 0) {
				split(line, w, " ")
				if (w[1] == "main") bias = hex(w[2]) - hex(mainlink)
				if (w[1] == "call" && w[2] == s) {
					calls++
					for (i = 6; i <= 5 + w[5]; i++) {
						a = hex(w[i]) - 1 - bias
						if (a >= hex(rr[1]) && a < hex(rr[1]) + hex(rr[2])) on = 1
					}
				}
			}
			exit !(calls > 0 && !on)
		}'
	ok $? "shape: tail_1 jumps to tail_2 (tail_1 is on none of the tail site's stacks)"
else
	fail "shape: tail_1 and the tail site found (nm -S, expectation file)"
fi

# --- the hash a walk carries (tests/progs/unw_hash) ---------------------------------------

# Two chains allocate in turn, 1000 times each, sharing DEPTH outer frames: after its first
# (slow) walk, each chain's walks take those frames from the other's last walk, and with
# them the stack hash's chain value at each frame (lib/unwind's hp_unwind_hash). At DEPTH 30
# the walks keep all their frames and carry the hash; at DEPTH 90 (more than the 64 frames
# a walk keeps) they do not, and the table hashes the frames itself. Either way each chain
# must be one sample of 1000 allocations: a carried hash that differs from the table's
# would split it in two (1 + 999).
for depth in 30 90; do
	d=$tmp/hash$depth
	mkdir -p "$d"
	(cd "$d" && exec timeout -k 5 "$LIMIT" env LD_PRELOAD="$HP_LIB" \
		HEAPPROF="rate=1,depth=256,prefix=$d/p" "$top_builddir/tests/progs/unw_hash" "$depth") \
		>"$d.out" 2>"$d.err"
	st=$?
	got=
	if [ "$st" = 0 ] && [ "$(count_files "$d/p.*.exit.pb.gz")" = 1 ]; then
		# The profile's samples as written (pprof's readers merge the samples of equal
		# stacks): "SIZExCOUNT" for each sample of 1001 or 1002-byte blocks.
		got=$(timeout 30 python3 - "$d"/p.*.exit.pb.gz <<'EOF' | sort | tr '\n' ' '
import gzip, sys
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 127) << s; s += 7
        if c < 128:
            return v, i
def fields(b):
    i = 0
    while i < len(b):
        k, i = varint(b, i)
        if k & 7 == 0:
            v, i = varint(b, i)
        elif k & 7 == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % (k & 7))
        yield k >> 3, k & 7, v
for f, w, v in fields(gzip.open(sys.argv[1]).read()):
    if f != 2:
        continue
    vals = []
    for g, wg, x in fields(v):
        if g == 2 and wg == 2:
            j = 0
            while j < len(x):
                y, j = varint(x, j)
                vals.append(y)
        elif g == 2:
            vals.append(x)
    if len(vals) >= 2 and vals[0] > 0 and vals[1] in (1001 * vals[0], 1002 * vals[0]):
        print("%dx%d" % (vals[1] // vals[0], vals[0]))
EOF
)
	fi
	[ "$got" = "1001x1000 1002x1000 " ]
	ok $? "unw_hash $depth: each chain is one stack of 1000 allocations (samples of size x count: ${got:-none, exit status $st})" ||
		diag_file "$d.err" 5
done

# unw_packed: allocations under a signal handler walk through libunwind, which applies
# the cached rules of the frames around the signal frame. At a sparse rate those rules keep
# libunwind's state packed (lib/unwind.c, state_pack), at rate=1 whole: the two runs must
# give the same stacks, the handler's with its signal frame, and the sparse run must have
# walked through libunwind at least once per handler allocation.
for rate in 65537 1; do
	d=$tmp/packed.$rate
	mkdir -p "$d"
	(cd "$d" && exec timeout -k 5 "$LIMIT" env LD_PRELOAD="$HP_LIB" \
		HEAPPROF="rate=$rate,prefix=$d/p" "$top_builddir/tests/progs/unw_packed" 40) \
		>"$d.out" 2>"$d.err"
	st=$?
	f=$(ls "$d"/p.*.exit.pb.gz 2>/dev/null | head -1)
	[ "$st" -eq 0 ] && [ -n "$f" ]
	ok $? "unw_packed runs at rate=$rate and writes its exit profile (exit status $st)" ||
		diag_file "$d.err" 5
	pprof_traces "${f:-/nonexistent}" | grep 'packed_leaf' | sort -u \
		>"$d.traces"
done
slow=$(sed -n 's/^slow_walks //p' "$tmp/packed.65537.out")
[ "${slow:-0}" -ge 40 ]
ok $? "unw_packed at rate=65537 walked through libunwind at least 40 times (${slow:-none})"
grep -q 'packed_leaf;packed_c;packed_b;packed_a;on_usr2;.*;main;' "$tmp/packed.65537.traces" &&
	grep -q 'packed_leaf;packed_c;packed_b;packed_a;main;' "$tmp/packed.65537.traces"
ok $? "unw_packed at rate=65537: the handler's stack through its signal frame, and main's" ||
	diag_file "$tmp/packed.65537.traces" 10
cmp -s "$tmp/packed.65537.traces" "$tmp/packed.1.traces" && [ -s "$tmp/packed.1.traces" ]
ok $? "unw_packed: the same stacks at rate=65537 (rules packed) as at rate=1 (whole)" || {
	diag_file "$tmp/packed.65537.traces" 10
	diag_file "$tmp/packed.1.traces" 10
}

done_testing
