#!/bin/bash
# tests/integration/cli_convert.sh: heapprof convert and the legacy gperftools heap text
# format (issue 4, acceptance 3).
#
# demo_leak is profiled at rate=1 (figures exact) and at rate=64k (sampled), converted to
# text, and the text is read by google-pprof --text and jeprof --text: both must give the
# same top function and total, for each of the four sample types, as go tool pprof -top
# on the pprof file (equal at rate=1, within 1% at 64k). At rate=1 the text is known
# exactly: demo_leak keeps 40 x 1 MiB (leak_sessions) and 10000 x 48 B (build_index), and
# allocates and frees 1000 x 64 KiB (parse_requests), so the header is
#   heap profile:  10040: 42423040 [ 11040: 107959040] @ heapprofile
# (in use objects: bytes [allocated objects: bytes]), the same as gperftools' own heap
# profiler writes for it. Also: round trips, go tool pprof reading the text, the text
# written by gperftools itself (tcmalloc with HEAPPROFILE) and by jemalloc (prof_final),
# damaged text files (one per kind of malformed line: exit 1 and the line number), a
# profile without heap sample types, and the command line.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool python3 gzip timeout google-pprof jeprof nm objdump ldconfig
need_prog demo_leak

HP=$top_builddir/tools/heapprof
BIN=$top_builddir/tests/progs/demo_leak
if [ ! -x "$HP" ]; then
	fail "tool built: $HP not found"
	done_testing
fi
TYPES="inuse_space alloc_space inuse_objects alloc_objects"
HEADER1='heap profile:  10040: 42423040 [ 11040: 107959040] @ heapprofile'
mkdir -p "$tmp/.home"

# run CMD...: runs CMD under a 30 s timeout; sets $rc, output in $tmp/out, $tmp/err.
run() {
	timeout 30 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# one_error_line FILE: exactly one line on stderr, "heapprof: FILE: why".
one_error_line() {
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "heapprof: $1: " "$tmp/err"
}

# profile RATE DIR: demo_leak under the library at RATE, in $tmp/DIR; prints the exit
# profile's path (nothing if there is not exactly one).
profile() {
	mkdir -p "$tmp/$2"
	(cd "$tmp/$2" && exec timeout 20 env HEAPPROF="prefix=$tmp/$2/demo,rate=$1" \
		LD_PRELOAD="$HP_LIB" "$BIN") >"$tmp/$2.run" 2>&1
	[ "$(count_files "$tmp/$2/demo.*.exit.pb.gz")" -eq 1 ] && ls "$tmp"/"$2"/demo.*.exit.pb.gz
}

# gopprof ARGS...: lib.sh's pprof (state in $tmp, names from the profile only) under a
# timeout.
gopprof() {
	mkdir -p "$tmp/.gopath" "$tmp/.pprof" "$tmp/.gocache"
	timeout 60 env -u GOFLAGS -u GOROOT_FINAL HOME="$tmp/.home" GOPATH="$tmp/.gopath" \
		GOCACHE="$tmp/.gocache" PPROF_TMPDIR="$tmp/.pprof" PPROF_BINARY_PATH=/nonexistent \
		"$GO" tool pprof -symbolize=none "$@"
}

# ours_total TYPE FILE: the exact total from heapprof top --raw.
ours_total() {
	timeout 30 "$HP" top --raw --sample "$1" "$2" 2>/dev/null |
		sed -n '1s/^Type: [a-z_]*, total \(-\?[0-9]*\),.*/\1/p'
}

# first_row FILE [ARGS]: the first row of heapprof top as "flat name".
first_row() {
	local f=$1
	shift
	timeout 30 "$HP" top "$@" "$f" 2>/dev/null | awk '
		hdr { name = $6; for (i = 7; i <= NF; i++) name = name " " $i; print $1, name; exit }
		$1 == "flat" && $2 == "flat%" { hdr = 1 }'
}

# readers_agree RATE PROF TEXT TOL: for each sample type, google-pprof and jeprof on
# TEXT against go tool pprof on PROF: same top function, totals within TOL.
readers_agree() {
	local rate=$1 prof=$2 text=$3 tol=$4 t r want got
	for t in $TYPES; do
		want=$(pprof_top "$t" "$prof")
		for r in google-pprof jeprof; do
			got=$(legacy_top "$r" "$t" "$BIN" "$text")
			[ -n "${want#* }" ] && [ "${got#* }" = "${want#* }" ] &&
				within "${got%% *}" "${want%% *}" "$tol"
			ok $? "rate=$rate $t: $r --text on the text gives go tool pprof's top" \
				"function and total (go '$want', $r '$got', $(rel "${got%% *}" "${want%% *}"))" ||
				{ diag_file "$tmp/perl.err" 5; diag_file "$tmp/pprof.err" 5; }
		done
	done
}

# --- rate=1: exact figures -----------------------------------------------------------

prof1=$(profile 1 r1)
if [ -z "$prof1" ]; then
	fail "demo_leak at rate=1 wrote one exit profile"
	diag_file "$tmp/r1.run"
	done_testing
fi
pass "demo_leak at rate=1 wrote one exit profile"

run "$HP" convert --to text "$prof1"
cp "$tmp/out" "$tmp/t1.heap"
[ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] && [ "$(head -n 1 "$tmp/t1.heap")" = "$HEADER1" ]
ok $? "rate=1: convert --to text writes the known header '$HEADER1'" ||
	{ diag_file "$tmp/t1.heap" 3; diag_file "$tmp/err"; }

# The sample lines' figures, blanks squeezed, sorted: one line per site, exact.
sed -n '2,/^$/p' "$tmp/t1.heap" | sed -n 's/ *\([0-9]*\): *\([0-9]*\) \[ *\([0-9]*\): *\([0-9]*\)\] @ .*/\1 \2 \3 \4/p' |
	LC_ALL=C sort >"$tmp/t1.figs"
printf '%s\n' "0 0 1000 65536000" "10000 480000 10000 480000" "40 41943040 40 41943040" \
	>"$tmp/t1.want"
cmp -s "$tmp/t1.figs" "$tmp/t1.want"
ok $? "rate=1: one sample line per site with the exact figures (in use, then allocated)" ||
	diag_file "$tmp/t1.figs"

grep -qx "[0-9a-f]*-[0-9a-f]* r-xp [0-9a-f]* 00:00 0 $(realpath "$BIN")" \
	<(sed -n '/^MAPPED_LIBRARIES:$/,$p' "$tmp/t1.heap")
ok $? "rate=1: MAPPED_LIBRARIES lists demo_leak as an r-xp /proc/self/maps line" ||
	diag_file "$tmp/t1.heap" 12

# Our locations hold return address - 1; the text holds return addresses.
loc=$(gopprof -raw "$prof1" 2>/dev/null | awk '$3 ~ /^M=/ && $4 == "leak_sessions" { print $2; exit }')
leaf=$(sed -n 's/^ *40: *41943040 \[ *40: *41943040\] @ \(0x[0-9a-f]*\).*/\1/p' "$tmp/t1.heap")
[ -n "$loc" ] && [ -n "$leaf" ] && [ $((leaf - 1)) -eq $((loc)) ]
ok $? "rate=1: the leak's leaf address is the location's address + 1 ($leaf vs $loc)"

readers_agree 1 "$prof1" "$tmp/t1.heap" 0

for t in inuse_space alloc_space; do
	want=$(pprof_top "$t" "$prof1")
	got=$(pprof_top "$t" "$tmp/t1.heap")
	[ -n "${want%% *}" ] && [ "${got%% *}" = "${want%% *}" ]
	ok $? "rate=1 $t: go tool pprof reads the text with the same total (${got%% *} vs ${want%% *})" ||
		diag_file "$tmp/pprof.err" 5
done

# text -> pprof -> text gives the same file back.
run "$HP" convert --to pprof -q -o "$tmp/rt1.pb.gz" "$tmp/t1.heap"
rc1=$rc
run "$HP" convert --to text "$tmp/rt1.pb.gz"
[ "$rc1" -eq 0 ] && [ "$rc" -eq 0 ] && cmp -s "$tmp/out" "$tmp/t1.heap"
ok $? "rate=1: text -> pprof -> text round trip gives the same text" ||
	{ diff "$tmp/t1.heap" "$tmp/out" | head -n 10 | sed 's/^/#   /'; diag_file "$tmp/err"; }

# --- rate=64k: sampled, unbiased by every reader -------------------------------------

prof64=$(profile 64k r64)
if [ -z "$prof64" ]; then
	fail "demo_leak at rate=64k wrote one exit profile"
	diag_file "$tmp/r64.run"
	done_testing
fi
pass "demo_leak at rate=64k wrote one exit profile"

run "$HP" convert -o "$tmp/t64.heap" "$prof64"
[ "$rc" -eq 0 ] && [ ! -s "$tmp/out" ] && [ ! -s "$tmp/err" ] &&
	head -n 1 "$tmp/t64.heap" | grep -q '^heap profile: .* @ heap_v2/65536$'
ok $? "rate=64k: convert -o (pprof in, text by default) writes a heap_v2/65536 header" ||
	{ diag_file "$tmp/t64.heap" 3; diag_file "$tmp/err"; }

readers_agree 64k "$prof64" "$tmp/t64.heap" 0.01

want=$(pprof_top inuse_space "$prof64")
got=$(pprof_top inuse_space "$tmp/t64.heap")
within "${got%% *}" "${want%% *}" 0.01
ok $? "rate=64k: go tool pprof reads the text, inuse_space total within 1% (${got%% *} vs ${want%% *})" ||
	diag_file "$tmp/pprof.err" 5

# text -> pprof (default direction, derived name, symbolized) -> heapprof top.
cp "$tmp/t64.heap" "$tmp/rt64.heap"
run "$HP" convert -q "$tmp/rt64.heap"
[ "$rc" -eq 0 ] && [ "$(cat "$tmp/out")" = "wrote $tmp/rt64.pb.gz" ] && [ -s "$tmp/rt64.pb.gz" ]
ok $? "text in, no --to: pprof written to the derived name rt64.pb.gz and named" ||
	{ diag_file "$tmp/out"; diag_file "$tmp/err"; }
for t in $TYPES; do
	want=$(ours_total "$t" "$prof64")
	got=$(ours_total "$t" "$tmp/rt64.pb.gz")
	within "$got" "$want" 0.001
	ok $? "rate=64k round trip $t: heapprof top total within 0.1% ($got vs $want)"
done
row=$(first_row "$tmp/rt64.pb.gz")
want=$(first_row "$prof64")
[ "$row" = "$want" ]
ok $? "rate=64k round trip: symbolized top row equals the original's ('$row' vs '$want')"

# --- text written by gperftools and jemalloc -------------------------------------------

TCM=$(ldconfig -p | awk '$1 == "libtcmalloc.so.4" { print $NF; exit }')
if [ -z "$TCM" ]; then
	fail "libtcmalloc.so.4 found: install libgoogle-perftools4"
else
	mkdir -p "$tmp/gp"
	(cd "$tmp/gp" && exec timeout 20 env HEAPPROFILE="$tmp/gp/hp" LD_PRELOAD="$TCM" \
		"$BIN") >"$tmp/gp.run" 2>&1
	gp=$tmp/gp/hp.0001.heap
	[ -s "$gp" ] && [ "$(head -n 1 "$gp")" = "$HEADER1" ]
	ok $? "gperftools' HEAPPROFILE writes the same header as ours" ||
		{ diag_file "$gp" 2; diag_file "$tmp/gp.run"; }
	a=$(ours_total inuse_space "$gp")
	b=$(ours_total alloc_space "$gp")
	[ "$a" = 42423040 ] && [ "$b" = 107959040 ]
	ok $? "gperftools' text: heapprof top totals 42423040 in use, 107959040 allocated ($a, $b)"
	# Text has no names: heapprof names the frames from the binary (tools/cli.c), so the
	# top row's address must lie inside leak_sessions.
	row=$(first_row "$gp" --raw)
	[ "$row" = "41943040 leak_sessions" ]
	ok $? "gperftools' text: top row is 41943040 B in leak_sessions, named from the binary ('$row')"
	run "$HP" convert -q -o "$tmp/gp.pb.gz" "$gp"
	row=$(first_row "$tmp/gp.pb.gz")
	[ "$rc" -eq 0 ] && [ "$row" = "40.0MiB leak_sessions" ]
	ok $? "gperftools' text -> pprof (symbolized): top row '40.0MiB leak_sessions' (got '$row')" ||
		diag_file "$tmp/err"
fi

JEM=$(ldconfig -p | awk '$1 == "libjemalloc.so.2" { print $NF; exit }')
if [ -z "$JEM" ]; then
	fail "libjemalloc.so.2 found: install libjemalloc2"
else
	mkdir -p "$tmp/je"
	(cd "$tmp/je" && exec timeout 20 env \
		MALLOC_CONF="prof:true,prof_final:true,lg_prof_sample:16,prof_prefix:$tmp/je/jeprof" \
		LD_PRELOAD="$JEM" "$BIN") >"$tmp/je.run" 2>&1
	je=$(ls "$tmp"/je/jeprof.*.heap 2>/dev/null | head -n 1)
	if [ -z "$je" ]; then
		fail "jemalloc wrote a heap_v2 profile (needs libjemalloc2 built with profiling)"
		diag_file "$tmp/je.run"
	else
		head -n 1 "$je" | grep -q '^heap_v2/65536$' && grep -q '^  t\*: ' "$je"
		ok $? "jemalloc wrote its threaded heap_v2/65536 format"
		for t in inuse_space inuse_objects; do
			got=$(ours_total "$t" "$je")
			want=$(legacy_top jeprof "$t" "$BIN" "$je")
			want=${want%% *}
			within "$got" "$want" 0.01
			ok $? "jemalloc's text $t: heapprof top total equals jeprof's within 1% ($got vs $want)"
		done
	fi
fi

# --- damaged text files ----------------------------------------------------------------

mkdir -p "$tmp/bad"
H='heap profile:      1:     4096 [     1:     4096] @ heap_v2/524288'
S='     1:     4096 [     1:     4096] @ 0x00401000 0x00402000'
M='00400000-00500000 r-xp 00000000 00:00 0 /bin/true'

# damaged NAME LINE PHRASE < TEXT: convert fails with exit 1, one line naming the file,
# the line number and PHRASE, and writes nothing.
damaged() {
	local f=$tmp/bad/$1
	[ -e "$f" ] || cat >"$f"
	run "$HP" convert --to pprof -o "$f.pb.gz" "$f"
	[ "$rc" -eq 1 ] && one_error_line "$f" && grep -qF "heapprof: $f: line $2: " "$tmp/err" &&
		grep -qF -- "$3" "$tmp/err" && [ ! -e "$f.pb.gz" ] && [ ! -s "$tmp/out" ]
	ok $? "damaged ($1): exit 1, 'line $2: ...$3...' (got rc=$rc: $(head -c 160 "$tmp/err"))"
}

# (Process substitution, not a pipe: damaged must run in this shell to count its test.)
damaged header 1 "expected the in-use object count" < <(echo 'heap profile: lots of memory')
damaged type 1 "unsupported profile type 'growthz'" < <(echo 'heap profile: 1: 1 [1: 1] @ growthz')
damaged norate 1 "without a sampling rate" < <(echo 'heap profile: 1: 1 [1: 1] @ heap_v2')
damaged rate0 1 "sampling rate 0" < <(echo 'heap profile: 1: 1 [1: 1] @ heap_v2/0')
damaged number 3 "expected the in-use object count, found 'x'" \
	< <(printf '%s\n' "$H" "$S" '     x: 4096 [1: 4096] @ 0x1')
damaged bracket 2 "expected '['" < <(printf '%s\n' "$H" '1: 4096 1: 4096] @ 0x1')
damaged at 2 "expected '@'" < <(printf '%s\n' "$H" '1: 4096 [1: 4096] 0x1')
damaged address 4 "bad character 'z' in an address" \
	< <(printf '%s\n' "$H" "$S" "$S" '1: 4096 [1: 4096] @ 0x40zz')
damaged hex 2 "expected a 0x address" < <(printf '%s\n' "$H" '1: 4096 [1: 4096] @ 401000')
damaged addrange 2 "address out of range" \
	< <(printf '%s\n' "$H" '1: 4096 [1: 4096] @ 0x12345678901234567')
damaged countrange 2 "out of range" < <(printf '%s\n' "$H" '99999999999999999999: 1 [1: 1] @ 0x1')
damaged zeroobj 2 "4096 bytes in use by 0 objects" < <(printf '%s\n' "$H" '0: 4096 [1: 4096] @ 0x1')
damaged unbias 2 "too large once unbiased" \
	< <(printf '%s\n' 'heap profile: 1: 1 [1: 1] @ heap_v2/1099511627776' \
	'9000000000000000000: 9000000000000000000 [9000000000000000000: 9000000000000000000] @ 0x1')
damaged mapdash 6 "expected '-'" \
	< <(printf '%s\n' "$H" "$S" '' 'MAPPED_LIBRARIES:' "$M" '00400000 r-xp 00000000 00:00 0 /bin/x')
damaged maprange 5 "ends at or before its start" \
	< <(printf '%s\n' "$H" "$S" '' 'MAPPED_LIBRARIES:' '00500000-00400000 r-xp 00000000 00:00 0 /x')
damaged mapperms 5 "bad permissions" \
	< <(printf '%s\n' "$H" "$S" '' 'MAPPED_LIBRARIES:' '00400000-00500000 rxp 00000000 00:00 0 /x')
damaged je-nototal 3 "stack without a 't*:' line" \
	< <(printf '%s\n' 'heap_v2/524288' '  t*: 2: 8192 [0: 0]' '@ 0x1 0x2' '  t0: 1: 4096 [0: 0]' \
	'@ 0x3' '  t*: 1: 4096 [0: 0]')
damaged je-twice 4 "a second 't*:' line" \
	< <(printf '%s\n' 'heap_v2/524288' '@ 0x1' '  t*: 1: 4096 [0: 0]' '  t*: 1: 4096 [0: 0]')
damaged je-junk 3 "expected a stack" \
	< <(printf '%s\n' 'heap_v2/524288' '  t*: 1: 4096 [0: 0]' 'leaked 4096 bytes')
damaged nul 3 "NUL byte" < <(printf '%s\n%s\n%s\0\n' "$H" "$S" "$S")
printf '%s\n' "$H" '1: 4096 1: 4096] @ 0x1' | gzip -c >"$tmp/bad/gzipped"
damaged gzipped 2 "expected '['" </dev/null

run "$HP" top "$tmp/bad/bracket"
[ "$rc" -eq 1 ] && one_error_line "$tmp/bad/bracket" && grep -qF "line 2: expected '['" "$tmp/err"
ok $? "damaged: heapprof top reports the same line (got: $(head -c 160 "$tmp/err"))"

# --- not a heap profile, the command line --------------------------------------------

# A CPU profile (samples/count, cpu/nanoseconds), as go's runtime writes one.
timeout 30 python3 - >"$tmp/cpu.pb.gz" <<'EOF'
import gzip, sys
def varint(n):
    out = b''
    while True:
        b, n = n & 0x7f, n >> 7
        if not n:
            return out + bytes([b])
        out += bytes([b | 0x80])
def vi(f, n): return varint(f << 3) + varint(n)
def ld(f, b): return varint(f << 3 | 2) + varint(len(b)) + b
def vt(t, u): return vi(1, t) + vi(2, u)
m = ld(1, vt(1, 2)) + ld(1, vt(3, 4))
m += ld(2, vi(1, 1) + vi(2, 1) + vi(2, 10000000))
m += ld(4, vi(1, 1) + vi(3, 0x401000))
for s in ["", "samples", "count", "cpu", "nanoseconds"]:
    m += ld(6, s.encode())
m += ld(11, vt(3, 4)) + vi(12, 10000000)
sys.stdout.buffer.write(gzip.compress(m))
EOF
run "$HP" top "$tmp/cpu.pb.gz"
rc1=$rc
run "$HP" convert --to text "$tmp/cpu.pb.gz"
[ "$rc1" -eq 0 ] && [ "$rc" -eq 1 ] && [ ! -s "$tmp/out" ] && one_error_line "$tmp/cpu.pb.gz" &&
	grep -qF "not a heap profile: no sample type alloc_objects" "$tmp/err"
ok $? "a CPU profile (readable by top): convert --to text exits 1, 'not a heap profile', no output" ||
	diag_file "$tmp/err"

run "$HP" convert -o /nonexistent/dir/x.heap "$prof1"
[ "$rc" -eq 1 ] && one_error_line /nonexistent/dir/x.heap && grep -q "cannot write" "$tmp/err"
ok $? "unwritable -o: exit 1, 'heapprof: OUT: cannot write: ...'" || diag_file "$tmp/err"

run "$HP" convert "$tmp/missing.heap"
[ "$rc" -eq 1 ] && one_error_line "$tmp/missing.heap"
ok $? "missing file: exit 1, 'heapprof: FILE: ...'" || diag_file "$tmp/err"

run "$HP" convert
[ "$rc" -eq 2 ] && grep -qF "heapprof: convert: no profile given" "$tmp/err"
ok $? "no profile: exit 2 with a usage error" || diag_file "$tmp/err"

run "$HP" convert --to svg "$prof1"
[ "$rc" -eq 2 ] && grep -qF -- "--to wants text or pprof, not 'svg'" "$tmp/err"
ok $? "--to svg: exit 2 naming the choices" || diag_file "$tmp/err"

run "$HP" convert "$prof1" "$prof64"
[ "$rc" -eq 2 ] && grep -qF "one profile only" "$tmp/err"
ok $? "two profiles: exit 2" || diag_file "$tmp/err"

run "$HP" convert --help
[ "$rc" -eq 0 ] && grep -q '^usage: heapprof convert ' "$tmp/out" && grep -q -- '--no-symbolize' "$tmp/out"
ok $? "--help: exit 0, usage on stdout"

done_testing
