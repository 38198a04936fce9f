#!/bin/bash
# tests/integration/cli.sh: the heapprof command line tool (tools/heapprof) on a real
# profile of tests/progs/demo_leak, checked against known figures and against
# go tool pprof; damaged files, bad command lines and --help.
#
# demo_leak under rate=1 (every allocation recorded, figures exact):
#   leak_sessions   40 x 1 MiB kept        inuse 41943040 (40.0MiB), alloc 41943040
#   parse_requests  1000 x 64 KiB freed    inuse 0,                  alloc 65536000
#   build_index     10000 x 48 B kept      inuse 480000,             alloc 480000
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool python3 gzip timeout
need_prog demo_leak

HP=$top_builddir/tools/heapprof
if [ ! -x "$HP" ]; then
	fail "tool built: $HP not found"
	done_testing
fi
LEAK_B=41943040
TYPES="alloc_objects alloc_space inuse_objects inuse_space"

# run CMD...: runs CMD under a 10 s timeout; sets $rc, output in $tmp/out, $tmp/err.
run() {
	timeout 10 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# one_error_line FILE: exactly one line on stderr, "heapprof: FILE: why".
one_error_line() {
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "heapprof: $1: " "$tmp/err"
}

# --- the profile ------------------------------------------------------------------

# The library is preloaded into demo_leak only (through env, which execs it): timeout
# itself must not write a profile of its own.
mkdir -p "$tmp/d"
(cd "$tmp/d" && exec timeout 20 env HEAPPROF="prefix=$tmp/d/demo,rate=1" \
	LD_PRELOAD="$HP_LIB" "$top_builddir/tests/progs/demo_leak") >"$tmp/run.out" 2>&1
ok $? "demo_leak runs under the library"
prof=$(ls "$tmp"/d/demo.*.exit.pb.gz 2>/dev/null)
if [ "$(count_files "$tmp/d/demo.*")" -ne 1 ] || [ -z "$prof" ]; then
	fail "demo_leak wrote one exit profile"
	diag "files: $(ls "$tmp/d")"
	diag_file "$tmp/run.out"
	done_testing
fi
pass "demo_leak wrote one exit profile"

# --- top ---------------------------------------------------------------------------

# first_row: the first table row of top's output in $tmp/out, as "flat name".
first_row() {
	awk 'hdr { name = $6; for (i = 7; i <= NF; i++) name = name " " $i; print $1, name; exit }
		$1 == "flat" && $2 == "flat%" { hdr = 1 }' "$tmp/out"
}

run "$HP" top "$prof"
ok "$rc" "top: exit 0"
head -n 1 "$tmp/out" | grep -q '^Type: inuse_space, total ' &&
	pass "top: header names the default type inuse_space and the total" ||
	{ fail "top: header names the default type inuse_space and the total"; diag_file "$tmp/out"; }
row=$(first_row)
[ "$row" = "40.0MiB leak_sessions" ]
ok $? "top: leak_sessions first with 40.0MiB in use (got '$row')"

run "$HP" top --raw "$prof"
row=$(first_row)
[ "$row" = "$LEAK_B leak_sessions" ]
ok $? "top --raw: leak_sessions exactly $LEAK_B bytes (got '$row')"

run "$HP" top --sample alloc_space -n 1 "$prof"
row=$(first_row)
rows=$(awk 'hdr { n++ } $1 == "flat" && $2 == "flat%" { hdr = 1 } END { print n + 0 }' "$tmp/out")
[ "$row" = "62.5MiB parse_requests" ] && [ "$rows" -eq 1 ]
ok $? "top --sample alloc_space -n 1: one row, parse_requests 62.5MiB (got '$row', $rows rows)"

# ours_flat TYPE: "function value" lines of top --raw -n 0, nonzero flat only.
ours_flat() {
	"$HP" top --raw -n 0 --sample "$1" "$prof" | awk '
		hdr && $1 != 0 { name = $6; for (i = 7; i <= NF; i++) name = name " " $i
			print name, $1 }
		$1 == "flat" && $2 == "flat%" { hdr = 1 }' | LC_ALL=C sort
}

for t in $TYPES; do
	ours_flat "$t" >"$tmp/ours.$t"
	pprof_flat "$prof" "$t" | awk '$2 != 0' | LC_ALL=C sort >"$tmp/theirs.$t"
	if [ -s "$tmp/theirs.$t" ] && cmp -s "$tmp/ours.$t" "$tmp/theirs.$t"; then
		pass "top --sample $t: flat values equal go tool pprof's"
	else
		fail "top --sample $t: flat values equal go tool pprof's"
		diag "ours:"; diag_file "$tmp/ours.$t"
		diag "pprof:"; diag_file "$tmp/theirs.$t"; diag_file "$tmp/pprof.err"
	fi
done

# --- collapse ------------------------------------------------------------------------

# total TYPE: the exact total of TYPE, from top --raw's header.
total() {
	"$HP" top --raw --sample "$1" "$prof" | sed -n '1s/^Type: [a-z_]*, total \(-\?[0-9]*\),.*/\1/p'
}

for t in inuse_space alloc_objects; do
	run "$HP" collapse --sample "$t" "$prof"
	want=$(total "$t")
	sum=$(awk '{ s += $NF } END { printf "%.0f\n", s }' "$tmp/out")
	[ "$rc" -eq 0 ] && [ -n "$want" ] && [ "$sum" = "$want" ]
	ok $? "collapse --sample $t: values sum to the total ($sum vs $want)"
done
run "$HP" collapse "$prof"
LC_ALL=C sort -c "$tmp/out" 2>/dev/null &&
	! grep -qv '^[^ ;][^;]*\(;[^;]\+\)* -\?[0-9]\+$' "$tmp/out" &&
	grep -q ';main;leak_sessions 41943040$' "$tmp/out"
ok $? "collapse: sorted 'outer;...;leaf value' lines, main;leak_sessions $LEAK_B"

line=$(grep -n 'malloc(SESSION_SIZE)' "$top_srcdir/tests/progs/demo_leak.c" | head -n 1 | cut -d: -f1)
run "$HP" collapse --lines "$prof"
[ "$rc" -eq 0 ] && [ -n "$line" ] &&
	grep -q ";main [^;]*demo_leak.c:[0-9]*;leak_sessions [^;]*tests/progs/demo_leak.c:$line 41943040\$" "$tmp/out"
ok $? "collapse --lines: frames with file and line, leak_sessions at demo_leak.c:$line" ||
	{ diag_file "$tmp/out" 5; diag_file "$tmp/err"; }

# --- a profile written by Go's runtime ------------------------------------------------------

# tests/fuzz/corpus/valid-go-heap.pb.gz comes from tests/fuzz/gen_go_heap.go (runtime/pprof,
# MemProfileRate 1): its own sample types, labels, and Go's function names.
goprof=$top_srcdir/tests/fuzz/corpus/valid-go-heap.pb.gz
for t in alloc_space inuse_space; do
	"$HP" top --raw -n 0 --sample "$t" "$goprof" 2>"$tmp/err" | awk '
		hdr && $1 != 0 { name = $6; for (i = 7; i <= NF; i++) name = name " " $i
			print name, $1 }
		$1 == "flat" && $2 == "flat%" { hdr = 1 }' | LC_ALL=C sort >"$tmp/go.ours"
	pprof_flat "$goprof" "$t" | awk '$2 != 0' | LC_ALL=C sort >"$tmp/go.theirs"
	[ -s "$tmp/go.theirs" ] && cmp -s "$tmp/go.ours" "$tmp/go.theirs" &&
		grep -q '^main.leak ' "$tmp/go.ours"
	ok $? "a Go runtime heap profile, top --sample $t: flat values equal go tool pprof's" ||
		{ diag_file "$tmp/go.ours"; diag_file "$tmp/go.theirs"; diag_file "$tmp/err"; }
done

# --- a profile without names (the text format) ------------------------------------------

# The reading commands name such a profile's frames from the mapped objects: DWARF, else
# the ELF symbol table (a copy of demo_leak without debug information), else nothing
# (a fully stripped copy keeps module+0xoffset, never a neighbour's name).
if command -v objcopy >/dev/null; then
	mkdir -p "$tmp/sy"
	objcopy --strip-debug "$top_builddir/tests/progs/demo_leak" "$tmp/sy/d_sym"
	objcopy --strip-all "$top_builddir/tests/progs/demo_leak" "$tmp/sy/d_none"
	for b in d_sym d_none; do
		(cd "$tmp/sy" && exec timeout 20 env HEAPPROF="prefix=$tmp/sy/$b,rate=1" \
			LD_PRELOAD="$HP_LIB" "./$b") >/dev/null 2>&1
		"$HP" convert --to text "$tmp"/sy/$b.*.exit.pb.gz >"$tmp/sy/$b.heap" 2>"$tmp/err"
		run "$HP" top --raw -n 1 "$tmp/sy/$b.heap"
		first_row >"$tmp/sy/$b.row"
	done
	[ "$(cat "$tmp/sy/d_sym.row")" = "$LEAK_B leak_sessions" ]
	ok $? "top on a text profile: names from the ELF symbol table without DWARF (got '$(cat "$tmp/sy/d_sym.row")')"
	grep -qx "$LEAK_B d_none+0x[0-9a-f]*" "$tmp/sy/d_none.row"
	ok $? "top on a text profile of a stripped program: module+0xoffset (got '$(cat "$tmp/sy/d_none.row")')"
else
	fail "objcopy found (binutils)"
fi

# --- flame ---------------------------------------------------------------------------

# svg_check SVG: parses the SVG (python3's XML parser) and prints the widest frame just
# above main (its callee with the largest width).
svg_check() {
	python3 - "$1" <<'EOF'
import re, sys
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
frames = []
for g in root.iter(ns + "g"):
    t, r = g.find(ns + "title"), g.find(ns + "rect")
    if t is None or r is None:
        continue
    name = re.sub(r" \([^()]*\)$", "", t.text)
    frames.append((name, float(r.get("x")), float(r.get("width")), float(r.get("y"))))
main = [f for f in frames if f[0] == "main"]
if not main:
    sys.exit("no frame named main")
_, mx, mw, my = max(main, key=lambda f: f[2])
above = [f for f in frames if f[3] < my and abs(f[3] - (my - 16)) < 0.5
         and f[1] >= mx - 0.02 and f[1] + f[2] <= mx + mw + 0.02]
if not above:
    sys.exit("nothing above main")
print(max(above, key=lambda f: f[2])[0])
EOF
}

# xml_ok SVG: well-formed XML, by xmllint when present.
xml_ok() {
	if command -v xmllint >/dev/null 2>&1; then
		xmllint --noout "$1"
	else
		python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$1"
	fi
}

run "$HP" flame "$prof" -o "$tmp/f.svg"
[ "$rc" -eq 0 ] && [ -s "$tmp/f.svg" ] && [ ! -s "$tmp/out" ]
ok $? "flame -o: exit 0, SVG written, nothing on stdout"
xml_ok "$tmp/f.svg" 2>"$tmp/xml.err"
ok $? "flame: the SVG is well-formed XML" || diag_file "$tmp/xml.err"
grep -q '<title>leak_sessions (40.0MiB, ' "$tmp/f.svg" && grep -q '<script' "$tmp/f.svg"
ok $? "flame: a leak_sessions frame with its size, and the script"
w=$(svg_check "$tmp/f.svg" 2>&1)
[ "$w" = leak_sessions ]
ok $? "flame: the widest frame above main is leak_sessions (got '$w')"

run "$HP" flame --sample alloc_space --title 'A <&> title' "$prof" -o "$tmp/a.svg"
w=$(svg_check "$tmp/a.svg" 2>&1)
[ "$rc" -eq 0 ] && xml_ok "$tmp/a.svg" 2>/dev/null && [ "$w" = parse_requests ] &&
	grep -q 'A &lt;&amp;&gt; title' "$tmp/a.svg"
ok $? "flame --sample alloc_space --title: parse_requests widest, title escaped (got '$w')"

run "$HP" flame -s inuse_objects "$prof"
[ "$rc" -eq 0 ] && grep -q '^<svg ' "$tmp/out"
ok $? "flame without -o writes the SVG to stdout"

# --- damaged files ------------------------------------------------------------------

size=$(wc -c <"$prof")
head -c $((size / 2)) "$prof" >"$tmp/trunc.pb.gz"
gzip -dc "$prof" >"$tmp/raw.pb"
rawsize=$(wc -c <"$tmp/raw.pb")
head -c $((rawsize * 2 / 3)) "$tmp/raw.pb" >"$tmp/trunc.pb"
head -c 4096 /dev/urandom >"$tmp/random.bin"
head -c 4096 /dev/urandom | gzip -c >"$tmp/random.gz"
: >"$tmp/empty.pb.gz"
for f in trunc.pb.gz trunc.pb random.bin random.gz empty.pb.gz missing.pb.gz; do
	run "$HP" top "$tmp/$f"
	[ "$rc" -eq 1 ] && one_error_line "$tmp/$f" && [ ! -s "$tmp/out" ]
	ok $? "top $f: exit 1 (got $rc), one 'heapprof: FILE: ...' line" ||
		diag_file "$tmp/err"
done
run "$HP" flame "$tmp/trunc.pb.gz" -o "$tmp/none.svg"
[ "$rc" -eq 1 ] && one_error_line "$tmp/trunc.pb.gz" && [ ! -e "$tmp/none.svg" ]
ok $? "flame on a truncated profile: exit 1, no SVG written"
run "$HP" top "$tmp/raw.pb"
row=$(first_row)
[ "$rc" -eq 0 ] && [ "$row" = "40.0MiB leak_sessions" ]
ok $? "top reads raw (not gzip'd) protobuf too"

# Mutations of the raw profile: any byte may be damaged, the tool must never crash
# (a signal would give a status above 128) nor accept with a garbled message.
python3 - "$tmp/raw.pb" "$tmp/mut" <<'EOF'
import os, random, sys
data = open(sys.argv[1], "rb").read()
os.makedirs(sys.argv[2])
rnd = random.Random(1)
for i in range(300):
    b = bytearray(data)
    for _ in range(rnd.choice((1, 2, 8))):
        b[rnd.randrange(len(b))] = rnd.randrange(256)
    if i % 5 == 0:
        b = b[:rnd.randrange(len(b))]
    open(os.path.join(sys.argv[2], "m%03d.pb" % i), "wb").write(bytes(b))
EOF
bad=0
for f in "$tmp"/mut/m*.pb; do
	for c in top collapse; do
		timeout 10 "$HP" "$c" "$f" >/dev/null 2>"$tmp/err"
		rc=$?
		if [ "$rc" -gt 1 ] || { [ "$rc" -eq 1 ] && ! one_error_line "$f"; }; then
			bad=$((bad + 1))
			[ "$bad" -le 3 ] && diag "$c $(basename "$f"): status $rc: $(head -n 2 "$tmp/err")"
		fi
	done
done
[ "$bad" -eq 0 ]
ok $? "300 damaged profiles: status 0 or 1 with one error line, never a crash ($bad bad)"

# --- usage -------------------------------------------------------------------------

usage_case() {
	local desc=$1
	shift
	run "$HP" "$@"
	[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^heapprof: ' "$tmp/err"
	ok $? "$desc: exit 2 (got $rc), one 'heapprof: ...' line" || diag_file "$tmp/err"
}
usage_case "unknown command" frobnicate "$prof"
usage_case "unknown option" top --frobnicate "$prof"
usage_case "unknown short option" collapse -x "$prof"
usage_case "missing option value" flame "$prof" -o
usage_case "bad -n" top -n many "$prof"
usage_case "unknown sample type" top --sample cpu "$prof"
usage_case "no profile" top
usage_case "two profiles" collapse "$prof" "$prof"
run "$HP"
[ "$rc" -eq 2 ] && grep -q '^usage: heapprof' "$tmp/err"
ok $? "no command: usage on stderr, exit 2"

run "$HP" --help
[ "$rc" -eq 0 ] && grep -q '^usage: heapprof' "$tmp/out" &&
	grep -q '^  top ' "$tmp/out" && grep -q '^  flame ' "$tmp/out" &&
	grep -q '^  collapse ' "$tmp/out"
ok $? "--help lists the commands, exit 0"
for c in top flame collapse; do
	run "$HP" "$c" --help
	[ "$rc" -eq 0 ] && grep -q "^usage: heapprof $c " "$tmp/out" && [ ! -s "$tmp/err" ]
	ok $? "$c --help: usage on stdout, exit 0"
done
run "$HP" --version
[ "$rc" -eq 0 ] && grep -q '^heapprof [0-9]' "$tmp/out"
ok $? "--version"

done_testing
