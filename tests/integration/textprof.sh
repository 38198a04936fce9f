#!/bin/bash
# tests/integration/textprof.sh: the legacy gperftools heap text format written by the
# library (HEAPPROF=format=text|both; issue 6, acceptance 3).
#
# tests/progs/textprof_app (known sites: keep_buffers 40 x 1 MiB kept, keep_strings 20000
# blocks of mixed sizes kept, churn 3000 x 32 KiB freed) runs under the library with
# format=both, at rate=1 (every allocation: figures exact) and at rate=64k (sampled). Its
# exit dump writes both <prefix>.<pid>.0001.exit.pb.gz and .heap. Checks:
#   - both files, with the same name but for the extension;
#   - at rate=1 the .heap's header is known exactly
#       heap profile:  20040: 62253040 [ 23040: 160557040] @ heapprofile
#     and so is each site's line (in use, then allocated);
#   - the .heap is byte for byte what `heapprof convert --to text` makes of the .pb.gz
#     (the same arithmetic, shared through lib/textprof.h);
#   - MAPPED_LIBRARIES lists the binary as an r-xp /proc/self/maps line;
#   - google-pprof --text BINARY FILE.heap and jeprof --text BINARY FILE.heap show the same
#     top function and total as go tool pprof -top on the .pb.gz, for each of the four
#     sample types (equal at rate=1, within 1% at 64k), and at rate=1 the expected one;
#   - go tool pprof reads the .heap too, with the same space totals (equal, within 1%);
#   - format=text alone writes only the .heap (the same text), the default only the .pb.gz.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool timeout google-pprof jeprof nm objdump
need_prog textprof_app

HP=$top_builddir/tools/heapprof
BIN=$top_builddir/tests/progs/textprof_app
if [ ! -x "$HP" ]; then
	fail "tool built: $HP not found"
	done_testing
fi
TYPES="inuse_space alloc_space inuse_objects alloc_objects"
HEADER1='heap profile:  20040: 62253040 [ 23040: 160557040] @ heapprofile'
mkdir -p "$tmp/.home"

# app DIR SETTINGS: textprof_app under the library with HEAPPROF=prefix=$tmp/DIR/app,SETTINGS
# in $tmp/DIR (output in $tmp/DIR.run); its status.
app() {
	mkdir -p "$tmp/$1"
	(cd "$tmp/$1" && exec timeout 30 env HEAPPROF="prefix=$tmp/$1/app,$2" \
		LD_PRELOAD="$HP_LIB" "$BIN") >"$tmp/$1.run" 2>&1
}

# files DIR: the names in $tmp/DIR, sorted, with the pid replaced by PID.
files() {
	(cd "$tmp/$1" && ls -A) | sed 's/^app\.[0-9]*\./app.PID./' | LC_ALL=C sort | tr '\n' ' '
}

# readers_agree RATE PROF TEXT TOL: for each sample type, google-pprof and jeprof on TEXT
# against go tool pprof on PROF: same top function, totals within TOL.
readers_agree() {
	local rate=$1 prof=$2 text=$3 tol=$4 t r want got
	for t in $TYPES; do
		want=$(pprof_top "$t" "$prof")
		for r in google-pprof jeprof; do
			got=$(legacy_top "$r" "$t" "$BIN" "$text")
			[ -n "${want#* }" ] && [ "${got#* }" = "${want#* }" ] &&
				within "${got%% *}" "${want%% *}" "$tol"
			ok $? "rate=$rate $t: $r --text on the .heap gives go tool pprof's top" \
				"function and total on the .pb.gz (go '$want', $r '$got'," \
				"$(rel "${got%% *}" "${want%% *}"))" ||
				{ diag_file "$tmp/perl.err" 5; diag_file "$tmp/pprof.err" 5; }
		done
	done
}

# go_reads RATE PROF TEXT TOL: go tool pprof reads TEXT too, with PROF's totals within TOL
# (no names: the text has addresses only).
go_reads() {
	local t want got
	for t in inuse_space alloc_space; do
		want=$(pprof_top "$t" "$2")
		got=$(pprof_top "$t" "$3")
		[ -n "${want%% *}" ] && within "${got%% *}" "${want%% *}" "$4"
		ok $? "rate=$1 $t: go tool pprof reads the .heap with the .pb.gz's total" \
			"(${got%% *} vs ${want%% *}, $(rel "${got%% *}" "${want%% *}"))" ||
			diag_file "$tmp/pprof.err" 5
	done
}

# same_as_convert RATE PROF TEXT: TEXT is what heapprof convert --to text makes of PROF.
same_as_convert() {
	timeout 30 "$HP" convert --to text "$2" >"$tmp/conv.heap" 2>"$tmp/conv.err"
	cmp -s "$tmp/conv.heap" "$3"
	ok $? "rate=$1: the library's .heap is byte for byte heapprof convert --to text of" \
		"its .pb.gz" || { diag_file "$tmp/conv.err"; diff "$tmp/conv.heap" "$3" |
		head -n 10 | sed 's/^/#   /'; }
}

# both DIR RATE: textprof_app at RATE with format=both; its exit dump must be the two files
# app.PID.0001.exit.pb.gz and .heap, whose paths it sets in $prof and $text (the test ends
# here without them).
both() {
	local rc names
	app "$1" "rate=$2,format=both"
	rc=$?
	names=$(files "$1")
	[ "$rc" -eq 0 ] && [ "$names" = "app.PID.0001.exit.heap app.PID.0001.exit.pb.gz " ]
	ok $? "rate=$2 format=both: the exit dump writes app.PID.0001.exit.pb.gz and .heap" \
		"(exit $rc; files: $names)" || diag_file "$tmp/$1.run"
	prof=$(ls "$tmp"/"$1"/app.*.exit.pb.gz 2>/dev/null | head -n 1)
	text=$(ls "$tmp"/"$1"/app.*.exit.heap 2>/dev/null | head -n 1)
	if [ -z "$prof" ] || [ -z "$text" ]; then
		fail "rate=$2: both files to read"
		done_testing
	fi
}

# --- rate=1: exact figures -----------------------------------------------------------

both r1 1
prof1=$prof text1=$text

[ "$(head -n 1 "$text1")" = "$HEADER1" ]
ok $? "rate=1: the .heap's header is the known '$HEADER1'" || diag_file "$text1" 3

# The sample lines' figures, blanks squeezed, sorted: one line per site, exact.
sed -n '2,/^$/p' "$text1" |
	sed -n 's/ *\([0-9]*\): *\([0-9]*\) \[ *\([0-9]*\): *\([0-9]*\)\] @ .*/\1 \2 \3 \4/p' |
	LC_ALL=C sort >"$tmp/t1.figs"
printf '%s\n' "0 0 3000 98304000" "20000 20310000 20000 20310000" \
	"40 41943040 40 41943040" >"$tmp/t1.want"
cmp -s "$tmp/t1.figs" "$tmp/t1.want"
ok $? "rate=1: one line per site with the exact figures (in use, then allocated)" ||
	diag_file "$tmp/t1.figs"

same_as_convert 1 "$prof1" "$text1"

grep -qx "[0-9a-f]*-[0-9a-f]* r-xp [0-9a-f]* 00:00 0 $(realpath "$BIN")" \
	<(sed -n '/^MAPPED_LIBRARIES:$/,$p' "$text1")
ok $? "rate=1: MAPPED_LIBRARIES lists textprof_app as an r-xp /proc/self/maps line" ||
	diag_file "$text1" 12

readers_agree 1 "$prof1" "$text1" 0
go_reads 1 "$prof1" "$text1" 0

# The top functions are the known sites.
for tw in inuse_space:keep_buffers alloc_space:churn inuse_objects:keep_strings \
	alloc_objects:keep_strings; do
	t=${tw%%:*}
	want=${tw#*:}
	for r in google-pprof jeprof; do
		got=$(legacy_top "$r" "$t" "$BIN" "$text1")
		[ "${got#* }" = "$want" ]
		ok $? "rate=1 $t: $r's top function is $want ('$got')" ||
			diag_file "$tmp/perl.err" 5
	done
done

# --- rate=64k: sampled, unbiased by every reader -------------------------------------

both r64 64k
prof64=$prof text64=$text

head -n 1 "$text64" | grep -q '^heap profile: *[0-9]*: *[0-9]* \[ *[0-9]*: *[0-9]*\] @ heap_v2/65536$'
ok $? "rate=64k: the .heap's header ends '@ heap_v2/65536'" || diag_file "$text64" 3

same_as_convert 64k "$prof64" "$text64"

readers_agree 64k "$prof64" "$text64" 0.01
go_reads 64k "$prof64" "$text64" 0.01

# --- format=text alone, and the default -----------------------------------------------

app text "rate=1,format=text"
rc=$?
names=$(files text)
[ "$rc" -eq 0 ] && [ "$names" = "app.PID.0001.exit.heap " ]
ok $? "format=text: only app.PID.0001.exit.heap is written (exit $rc; files: $names)" ||
	diag_file "$tmp/text.run"
textonly=$(ls "$tmp"/text/app.*.exit.heap 2>/dev/null | head -n 1)
[ -n "$textonly" ] && [ "$(head -n 1 "$textonly")" = "$HEADER1" ] &&
	sed -n '2,/^$/p' "$textonly" |
	sed -n 's/ *\([0-9]*\): *\([0-9]*\) \[ *\([0-9]*\): *\([0-9]*\)\] @ .*/\1 \2 \3 \4/p' |
	LC_ALL=C sort | cmp -s - "$tmp/t1.want"
ok $? "format=text: the same header and figures as with format=both" ||
	diag_file "$textonly" 5

app pprof "rate=1"
rc=$?
names=$(files pprof)
[ "$rc" -eq 0 ] && [ "$names" = "app.PID.0001.exit.pb.gz " ]
ok $? "no format= (pprof): only app.PID.0001.exit.pb.gz is written (exit $rc; files:" \
	"$names)" || diag_file "$tmp/pprof.run"

done_testing
