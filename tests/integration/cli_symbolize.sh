#!/bin/bash
# tests/integration/cli_symbolize.sh: `heapprof symbolize` (tools/symbolize.c): file, line
# and inlined frames from DWARF, checked with go tool pprof -traces -lines against the
# LINE: marks of tests/progs/sym_alloc.c and sym_alloc_fn.c (never hard-coded numbers).
#
# sym_alloc runs under the library at rate=1 (every allocation recorded), from copies in
# the scratch directory so that they can be stripped, moved and replaced. Its four sites,
# each a size of its own, must come out as (leaf first, up to main):
#   111 B  inl_alloc sym_alloc.c:alloc_inline (inline); sym_via_inline :call_inline; main :call_via
#   222 B  main sym_alloc.c:alloc_main
#   333 B  sym_fn_alloc sym_alloc_fn.c:alloc_fn; main :call_fn
#   555 B  fn_static_alloc sym_alloc_fn.c:alloc_static; sym_fn_alloc :call_static; main :call_fn
# for PIE, non-PIE and "moved" (ELF addresses not file offsets) builds; from a separate
# debug file (--debug-dir, build-id layout) for a stripped and for a missing binary; by
# build id when the path holds another binary; and through a local debuginfod server.
# Without debug information (stripped, missing, or a rebuilt binary at the same path)
# the program's locations must stay exactly as the library wrote them. Also: damaged
# input, bad command lines, output names, and speed on 4096 locations (sym_many).
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_go
need_tool objcopy readelf timeout debuginfod curl gzip
need_prog sym_alloc sym_alloc_v2 sym_alloc_nopie sym_alloc_moved sym_many

HP=$top_builddir/tools/heapprof
if [ ! -x "$HP" ]; then
	fail "tool built: $HP not found"
	done_testing
fi
PROGS=$top_builddir/tests/progs
SRC=$top_srcdir/tests/progs/sym_alloc.c
SRCFN=$top_srcdir/tests/progs/sym_alloc_fn.c

# Nothing may reach a debuginfod server but the test's own, nor the user's cache.
unset DEBUGINFOD_URLS
export DEBUGINFOD_CACHE_PATH=$tmp/debuginfod-cache DEBUGINFOD_TIMEOUT=5

# line_of TAG FILE: the number of the line marked LINE:TAG (exactly one).
line_of() {
	local n
	n=$(grep -n "LINE:$1 " "$2" | cut -d: -f1)
	[ "$(echo "$n" | wc -w)" -eq 1 ] && echo "$n"
}

L_INL=$(line_of alloc_inline "$SRC") && L_CALLINL=$(line_of call_inline "$SRC") &&
	L_VIA=$(line_of call_via "$SRC") && L_MAIN=$(line_of alloc_main "$SRC") &&
	L_CALLFN=$(line_of call_fn "$SRC") && L_FN=$(line_of alloc_fn "$SRCFN") &&
	L_STATIC=$(line_of alloc_static "$SRCFN") && L_CALLST=$(line_of call_static "$SRCFN")
if ! ok $? "each LINE: mark appears once in sym_alloc.c and sym_alloc_fn.c"; then
	done_testing
fi
EXPECT=$(printf '%s\n' \
	"111B inl_alloc sym_alloc.c:$L_INL (inline);sym_via_inline sym_alloc.c:$L_CALLINL;main sym_alloc.c:$L_VIA" \
	"222B main sym_alloc.c:$L_MAIN" \
	"333B sym_fn_alloc sym_alloc_fn.c:$L_FN;main sym_alloc.c:$L_CALLFN" \
	"555B fn_static_alloc sym_alloc_fn.c:$L_STATIC;sym_fn_alloc sym_alloc_fn.c:$L_CALLST;main sym_alloc.c:$L_CALLFN" |
	sort)

# run CMD...: runs CMD under a 20 s timeout; sets $rc, output in $tmp/out, $tmp/err.
run() {
	timeout 20 "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# profile_of DIR BIN: runs BIN (cwd DIR) under the library at rate=1; prints its exit
# profile. The library is preloaded into BIN only (env execs it), not into timeout.
profile_of() {
	(cd "$1" && exec timeout 20 env HEAPPROF="prefix=$1/p,rate=1" LD_PRELOAD="$HP_LIB" \
		"$2") >"$1/run.out" 2>&1 || return 1
	ls "$1"/p.*.exit.pb.gz 2>/dev/null
}

# sites FILE: one line per sample, "VALUE frame;frame;..." from the leaf up to main, as
# pprof -traces -lines prints the frames, with directories dropped from file names.
sites() {
	pprof -traces -lines "$1" 2>"$tmp/pprof.err" | awk '
		/^-+\+-+$/ { if (s != "") print s; s = ""; in_s = 1; first = 1; done = 0; next }
		!in_s || NF == 0 || done { next }
		/^ *[A-Za-z_][A-Za-z0-9_.]*: / && !first { next }
		{
			line = $0
			if (first) { v = $1; sub(/^ *[^ ]+ +/, "", line); s = v " " }
			else { sub(/^ +/, "", line); s = s ";" }
			gsub(/[^ ;]*\//, "", line)
			s = s line
			first = 0
			if (line ~ /^main( |$)/) done = 1
		}
		END { if (s != "") print s }' | sort
}

# prog_locs FILE PATH: the Locations of pprof -raw FILE in the mapping(s) of PATH, one a
# line, inlined lines joined with " | ".
prog_locs() {
	pprof -raw "$1" 2>"$tmp/pprof.err" | awk -v path="$2" '
		/^Locations/ { sec = "L"; next }
		/^Mappings/ { sec = "M"; next }
		sec == "L" && $1 ~ /^[0-9]+:$/ { n++; m[n] = $3; t[n] = $0; next }
		sec == "L" && NF { t[n] = t[n] " | " $0; next }
		sec == "M" && $3 == path { id = $1; sub(/:$/, "", id); want["M=" id] = 1 }
		END { for (i = 1; i <= n; i++) if (m[i] in want) print t[i] }' |
		sed 's/  */ /g; s/ *$//'
}

# expect_sites FILE DESC: the four sites of FILE are EXPECT.
expect_sites() {
	local got
	got=$(sites "$1")
	[ "$got" = "$EXPECT" ]
	if ! ok $? "$2"; then
		diag "expected:"
		diag "$EXPECT"
		diag "got:"
		diag "$got"
	fi
}

# symbolize DESC ARGS...: runs heapprof symbolize ARGS; ok if it exits 0 with a summary.
symbolize() {
	local desc=$1
	shift
	run "$HP" symbolize "$@"
	[ "$rc" -eq 0 ] && grep -q '^heapprof: symbolize: resolved [0-9]* of [0-9]* locations' "$tmp/err"
	ok $? "$desc: exit 0 with a summary (rc $rc)" || diag_file "$tmp/err"
}

# debug_dir BIN DIR: DIR/.build-id/xx/rest.debug made from BIN (objcopy --only-keep-debug).
debug_dir() {
	local id
	id=$(readelf -n "$1" | awk '/Build ID:/ { print $3 }')
	[ -n "$id" ] || return 1
	mkdir -p "$2/.build-id/${id:0:2}" &&
		objcopy --only-keep-debug "$1" "$2/.build-id/${id:0:2}/${id:2}.debug"
}

# --- PIE, non-PIE, moved .text: from the binary's own DWARF ------------------------

for v in sym_alloc sym_alloc_nopie sym_alloc_moved; do
	d=$tmp/$v
	mkdir -p "$d/bin"
	cp "$PROGS/$v" "$d/bin/$v"
	if ! prof=$(profile_of "$d" "$d/bin/$v"); then
		fail "$v: runs under the library and writes an exit profile"
		diag_file "$d/run.out"
		continue
	fi
	symbolize "$v" -o "$d/sym.pb.gz" "$prof"
	expect_sites "$d/sym.pb.gz" "$v: every site's file:line, the inlined frame above its caller"
done

d=$tmp/sym_alloc
prof=$(ls "$d"/p.*.exit.pb.gz 2>/dev/null)

# The file names are the real sources (absolute, or relative to the build directory).
same_file() {
	case $1 in
	/*) [ "$1" -ef "$2" ] ;;
	*) (cd "$top_builddir" && [ "$1" -ef "$2" ]) ;;
	esac
}
f1=$(pprof -raw "$d/sym.pb.gz" 2>/dev/null | grep -o '[^ ]*sym_alloc\.c:' | head -n 1)
f2=$(pprof -raw "$d/sym.pb.gz" 2>/dev/null | grep -o '[^ ]*sym_alloc_fn\.c:' | head -n 1)
same_file "${f1%:}" "$SRC" && same_file "${f2%:}" "$SRCFN"
ok $? "the file names are the sources' paths (${f1%:}, ${f2%:})"

n=$(grep -o 'resolved [0-9]* of [0-9]*' "$tmp/err")
summary_n=$(echo "$n" | awk '{ print $2 }')
[ -n "$summary_n" ] && [ "$summary_n" -ge 7 ]
ok $? "the summary counts the resolved locations (got '$n', at least the program's 7)"

# symbolizing again changes nothing
run "$HP" symbolize -q -o "$d/sym2.pb.gz" "$d/sym.pb.gz"
[ "$rc" -eq 0 ] && [ "$(sites "$d/sym2.pb.gz")" = "$EXPECT" ] && [ ! -s "$tmp/err" ]
ok $? "symbolize -q of a symbolized profile: same sites, nothing on stderr (rc $rc)"

# --- output names ------------------------------------------------------------------

cp "$prof" "$d/copy.pb.gz"
run "$HP" symbolize -q "$d/copy.pb.gz"
[ "$rc" -eq 0 ] && [ "$(sites "$d/copy.sym.pb.gz")" = "$EXPECT" ]
ok $? "default output: PROFILE.pb.gz -> PROFILE.sym.pb.gz (rc $rc)"

run "$HP" symbolize -q -o - "$prof"
mv "$tmp/out" "$d/stdout.pb.gz"
[ "$rc" -eq 0 ] && [ "$(sites "$d/stdout.pb.gz")" = "$EXPECT" ]
ok $? "-o - writes the profile to standard output (rc $rc)"

# --- stripped: no DWARF, names only from the library's ELF reader ------------------

d=$tmp/strip
mkdir -p "$d/bin"
cp "$PROGS/sym_alloc" "$d/bin/sym_alloc"
objcopy --strip-all "$d/bin/sym_alloc"
debug_dir "$PROGS/sym_alloc" "$d/debug" && mkdir -p "$d/empty"
ok $? "debug file in build-id layout made (objcopy --only-keep-debug)"
if prof=$(profile_of "$d" "$d/bin/sym_alloc"); then
	pass "stripped sym_alloc runs under the library"
	before=$(prog_locs "$prof" "$d/bin/sym_alloc")
	symbolize "stripped" -o "$d/a.pb.gz" "$prof"
	grep -qF "heapprof: symbolize: $d/bin/sym_alloc: no debug information" "$tmp/err"
	ok $? "stripped: one note naming the binary without debug information" ||
		diag_file "$tmp/err"
	after=$(prog_locs "$d/a.pb.gz" "$d/bin/sym_alloc")
	[ -n "$before" ] && [ "$before" = "$after" ] && ! echo "$after" | grep -q '\.c:[1-9]'
	ok $? "stripped: the program's locations unchanged, no file:line" ||
		diag "$after"
	got=$(sites "$d/a.pb.gz" | grep '^555B ')
	[ "$got" = "555B [sym_alloc];sym_fn_alloc;main" ]
	ok $? "stripped: .dynsym names kept, the static function stays nameless (got '$got')"

	symbolize "stripped, --debug-dir" -d "$d/empty" --debug-dir "$d/debug" \
		-o "$d/b.pb.gz" "$prof"
	expect_sites "$d/b.pb.gz" "stripped: the separate debug file under --debug-dir is used"

	# missing: the profile's binary is gone
	mv "$d/bin/sym_alloc" "$d/sym_alloc.away"
	symbolize "missing" -o "$d/c.pb.gz" "$prof"
	grep -qF "heapprof: symbolize: $d/bin/sym_alloc: not found" "$tmp/err"
	ok $? "missing: one note naming the binary not found" || diag_file "$tmp/err"
	after=$(prog_locs "$d/c.pb.gz" "$d/bin/sym_alloc")
	[ "$before" = "$after" ]
	ok $? "missing: the program's locations unchanged (nameless ones stay module+0xoffset)"
	symbolize "missing, --debug-dir" --debug-dir "$d/debug" -o "$d/d.pb.gz" "$prof"
	expect_sites "$d/d.pb.gz" "missing: resolved from the debug file alone (by build id)"
else
	fail "stripped sym_alloc runs under the library"
	diag_file "$d/run.out"
fi

# the debug file alone for the moved build too: two executable segments, neither at its
# file offset, rebuilt from the debug file's program headers
d=$tmp/moved
mkdir -p "$d/bin"
cp "$PROGS/sym_alloc_moved" "$d/bin/sym_alloc_moved"
if prof=$(profile_of "$d" "$d/bin/sym_alloc_moved") &&
	debug_dir "$PROGS/sym_alloc_moved" "$d/debug"; then
	rm "$d/bin/sym_alloc_moved"
	symbolize "moved, missing, --debug-dir" --debug-dir "$d/debug" -o "$d/d.pb.gz" "$prof"
	expect_sites "$d/d.pb.gz" "moved, missing: resolved from the debug file alone"
else
	fail "sym_alloc_moved profile and debug file made"
fi

# --- a different binary at the same path --------------------------------------------

d=$tmp/rebuilt
mkdir -p "$d/bin"
cp "$PROGS/sym_alloc" "$d/bin/sym_alloc"
if prof=$(profile_of "$d" "$d/bin/sym_alloc"); then
	before=$(prog_locs "$prof" "$d/bin/sym_alloc")
	cp "$PROGS/sym_alloc_v2" "$d/bin/sym_alloc"	# has DWARF, another build id
	symbolize "rebuilt" -o "$d/a.pb.gz" "$prof"
	grep -q "heapprof: symbolize: $d/bin/sym_alloc: the file's build id .* is not the profile's" \
		"$tmp/err"
	ok $? "rebuilt: one note saying the build id differs" || diag_file "$tmp/err"
	after=$(prog_locs "$d/a.pb.gz" "$d/bin/sym_alloc")
	[ -n "$before" ] && [ "$before" = "$after" ] && ! echo "$after" | grep -q '\.c:[1-9]'
	ok $? "rebuilt: the other binary's DWARF is not used (locations unchanged)" ||
		diag "$after"
	debug_dir "$PROGS/sym_alloc" "$d/debug"
	symbolize "rebuilt, --debug-dir" --debug-dir "$d/debug" -o "$d/b.pb.gz" "$prof"
	expect_sites "$d/b.pb.gz" "rebuilt: the right debug file found by build id instead"
else
	fail "sym_alloc runs under the library (rebuilt)"
fi

# --- debuginfod ---------------------------------------------------------------------

# A local server (debuginfod -F) holding only the debug file of sym_alloc_moved, whose
# binary is gone: symbolize must get the debug file from it, and only with
# DEBUGINFOD_URLS set.
d=$tmp/dbgd
mkdir -p "$d/bin" "$d/srv"
cp "$PROGS/sym_alloc_moved" "$d/bin/sym_alloc_moved"
id=$(readelf -n "$d/bin/sym_alloc_moved" | awk '/Build ID:/ { print $3 }')
objcopy --only-keep-debug "$d/bin/sym_alloc_moved" "$d/srv/sym_alloc_moved.debug"
if prof=$(profile_of "$d" "$d/bin/sym_alloc_moved"); then
	rm "$d/bin/sym_alloc_moved"
	symbolize "debuginfod unset" -o "$d/a.pb.gz" "$prof"
	! grep -q 'sym_alloc.c:' <(sites "$d/a.pb.gz")
	ok $? "without DEBUGINFOD_URLS no server is asked (nothing resolved)"
	srv_pid=
	for try in 1 2 3; do
		port=$((20000 + RANDOM % 20000))
		# under timeout: the server never outlives the test by long, whatever happens
		timeout 60 debuginfod -F "$d/srv" -p "$port" -d "$d/db.sqlite" -t0 -g0 \
			>"$d/srv.log" 2>&1 &
		srv_pid=$!
		for i in $(seq 1 100); do	# up to 10 s for the server to index the file
			curl -sf -o /dev/null "http://127.0.0.1:$port/buildid/$id/debuginfo" && break 2
			kill -0 "$srv_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
		srv_pid=
	done
	if [ -n "$srv_pid" ]; then
		pass "a local debuginfod serves the debug file (port $port)"
		DEBUGINFOD_URLS=http://127.0.0.1:$port symbolize "debuginfod" \
			-d "$d/none" -o "$d/b.pb.gz" "$prof"
		expect_sites "$d/b.pb.gz" "debuginfod: the debug file fetched by build id"
		kill "$srv_pid" 2>/dev/null
		wait "$srv_pid" 2>/dev/null
	else
		fail "a local debuginfod serves the debug file"
		diag_file "$d/srv.log"
	fi
else
	fail "sym_alloc_moved runs under the library (debuginfod)"
fi

# --- thousands of locations ------------------------------------------------------------

d=$tmp/many
mkdir -p "$d"
if prof=$(profile_of "$d" "$PROGS/sym_many"); then
	TIMEFORMAT='%R %U %S'
	{ time "$HP" symbolize -o "$d/sym.pb.gz" "$prof" >/dev/null 2>"$d/err"; } 2>"$d/time"
	read -r real user sys <"$d/time"
	n=$(pprof -raw "$d/sym.pb.gz" 2>/dev/null | grep -c 'sym_many_sites .*sym_many\.c:[1-9]')
	[ "$n" -eq 4096 ]
	ok $? "sym_many: all 4096 call sites resolved (got $n)" || diag_file "$d/err"
	awk -v u="$user" -v s="$sys" 'BEGIN { exit !(u + s < 1.0) }'
	ok $? "sym_many: symbolized in under 1 s of CPU (real ${real}s, user ${user}s, sys ${sys}s)"
else
	fail "sym_many runs under the library"
fi

# --- mappings that are not ELF files ------------------------------------------------

# A legacy text profile (no build ids) whose mappings name a FIFO, which must not be
# opened (it would block), a text file, and [vdso], which is not a file at all.
mkfifo "$tmp/fifo" && echo "not ELF" >"$tmp/text.so"
printf '%s\n' 'heap profile:    1:   111 [     1:   111] @ heap_v2/1' \
	'     1:   111 [     1:   111] @ 0x1010 0x2010 0x3010' '' 'MAPPED_LIBRARIES:' \
	"00001000-00001fff r-xp 00000000 00:00 0 $tmp/fifo" \
	"00002000-00002fff r-xp 00000000 00:00 0 $tmp/text.so" \
	'00003000-00003fff r-xp 00000000 00:00 0 [vdso]' >"$tmp/odd.txt"
run "$HP" symbolize -o "$tmp/odd.pb.gz" "$tmp/odd.txt"
[ "$rc" -eq 0 ] && grep -qF "$tmp/fifo: not a readable regular file" "$tmp/err" &&
	grep -qF "$tmp/text.so: cannot be read as ELF" "$tmp/err" && ! grep -q vdso "$tmp/err" &&
	grep -q 'resolved 0 of 3 locations' "$tmp/err"
ok $? "FIFO, text file and [vdso] mappings: not opened / noted / skipped, exit 0 (rc $rc)" ||
	diag_file "$tmp/err"

# --- bad input and command lines -------------------------------------------------------

# one_error_line FILE: exactly one line on stderr, "heapprof: FILE: why".
one_error_line() {
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF "heapprof: $1: " "$tmp/err"
}

prof=$(ls "$tmp"/sym_alloc/p.*.exit.pb.gz)
head -c 200 "$prof" >"$tmp/trunc.pb.gz"
run "$HP" symbolize -o "$tmp/x.pb.gz" "$tmp/trunc.pb.gz"
[ "$rc" -eq 1 ] && one_error_line "$tmp/trunc.pb.gz" && [ ! -e "$tmp/x.pb.gz" ]
ok $? "truncated profile: exit 1, one line naming the file, nothing written (rc $rc)" ||
	diag_file "$tmp/err"
printf 'not a profile at all\n' | gzip >"$tmp/junk.pb.gz"
run "$HP" symbolize -o "$tmp/x.pb.gz" "$tmp/junk.pb.gz"
[ "$rc" -eq 1 ] && one_error_line "$tmp/junk.pb.gz" && [ ! -e "$tmp/x.pb.gz" ]
ok $? "foreign file: exit 1, one line naming the file (rc $rc)" || diag_file "$tmp/err"
run "$HP" symbolize "$tmp/no-such.pb.gz"
[ "$rc" -eq 1 ] && one_error_line "$tmp/no-such.pb.gz"
ok $? "missing profile: exit 1, one line (rc $rc)" || diag_file "$tmp/err"
run "$HP" symbolize -q -o "$tmp/no-such-dir/x.pb.gz" "$prof"
[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^heapprof: ' "$tmp/err"
ok $? "unwritable output: exit 1, one line (rc $rc)" || diag_file "$tmp/err"
run "$HP" symbolize
[ "$rc" -eq 2 ] && grep -q -- '--help' "$tmp/err"
ok $? "no profile: usage error, exit 2 (rc $rc)"
run "$HP" symbolize "$prof" "$prof"
[ "$rc" -eq 2 ]
ok $? "two profiles: usage error, exit 2 (rc $rc)"
run "$HP" symbolize --frobnicate "$prof"
[ "$rc" -eq 2 ] && grep -q -- '--frobnicate' "$tmp/err"
ok $? "unknown option: exit 2 naming it (rc $rc)"
run "$HP" symbolize --debug-dir "a:b" "$prof"
[ "$rc" -eq 2 ]
ok $? "--debug-dir with ':': usage error, exit 2 (rc $rc)"
run "$HP" symbolize --help
[ "$rc" -eq 0 ] && grep -q '^usage: heapprof symbolize' "$tmp/out" &&
	grep -q -- '--debug-dir' "$tmp/out" && [ ! -s "$tmp/err" ]
ok $? "--help: usage on stdout, exit 0 (rc $rc)"

done_testing
