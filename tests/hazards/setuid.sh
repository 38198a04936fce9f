#!/bin/bash
# tests/hazards/setuid.sh: a set-uid program linked with heapprof ignores HEAPPROF entirely
# (doc/SETTINGS.md, "Set-uid programs"): the invoker's environment must not make a root
# process write files where the invoker chooses, nor print anything.
#
# Needs root (make check and CI run as root): it installs a set-uid-root copy of a program
# and runs it as user nobody. Not root is a failure, not a skip.
#
# tests/progs/sem_suid.c is compiled here, linked with a copy of libheapprof.so in a fresh
# 0755 directory under $tmp through an absolute rpath (the build tree may not be readable
# by nobody; LD_LIBRARY_PATH is ignored for set-uid programs, $ORIGIN too). Two copies of
# the binary, both owned by root: one plain (the control), one mode 4755. Each runs as
# nobody (setpriv) with HEAPPROF=prefix=<a 1777 directory>/p,rate=1, the same directory as
# its working directory (the default prefix is relative to it), and also with its API
# option --dump[=PATH] (heapprof_dump). Checked:
#   - the control writes its exit profile and its --dump file: the test can see a write;
#   - the set-uid copy really runs with AT_SECURE (it prints getauxval(AT_SECURE));
#   - the set-uid copy's output and status are those of the same copy without HEAPPROF,
#     nothing appears on stderr (not even for a bad HEAPPROF value: it is not parsed),
#     and no file is written in the directory (exit profile, --dump=PATH, --dump).
# LD_PRELOAD of heapprof into a set-uid program is not tested: glibc ignores LD_PRELOAD
# entries outside the system directories for AT_SECURE processes, so it cannot happen with
# the library in a build tree or under /usr/local.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
if [ "$(id -u)" -ne 0 ]; then
	fail "set-uid test needs root (run make check as root)"
	done_testing
fi
CC=${CC:-cc}
need_tool timeout setpriv "$CC"
if ! id nobody >/dev/null 2>&1 || ! getent group nogroup >/dev/null 2>&1; then
	fail "user nobody and group nogroup exist (needed to run as another user)"
	done_testing
fi

# A directory every user can traverse, with the library and the program.
chmod 0755 "$tmp"
sdir=$tmp/suid
mkdir -p "$sdir/lib" "$sdir/bin"
chmod 0755 "$sdir" "$sdir/lib" "$sdir/bin"
cp -L "$HP_LIB" "$sdir/lib/libheapprof.so.0"
ln -s libheapprof.so.0 "$sdir/lib/libheapprof.so"
chmod 0755 "$sdir/lib/libheapprof.so.0"
"$CC" -std=gnu11 -O1 -g -I"$top_srcdir/include" -o "$sdir/bin/sem_suid" \
	"$top_srcdir/tests/progs/sem_suid.c" -L"$sdir/lib" -Wl,-rpath,"$sdir/lib" -lheapprof \
	2>"$tmp/cc.err"
ok $? "sem_suid compiled and linked with a copy of the library (rpath $sdir/lib)"
diag_file "$tmp/cc.err"
if [ ! -x "$sdir/bin/sem_suid" ]; then
	done_testing
fi
cp "$sdir/bin/sem_suid" "$sdir/bin/sem_suid_root"
chown root:root "$sdir/bin/sem_suid" "$sdir/bin/sem_suid_root"
chmod 0755 "$sdir/bin/sem_suid"
chmod 4755 "$sdir/bin/sem_suid_root"

# as_nobody DIR OUTNAME [VAR=VALUE...] -- PROG ARGS...: runs as nobody in DIR (created mode
# 1777) under a 60 s timeout; stdout and stderr to $tmp/OUTNAME.{out,err}; sets $status.
as_nobody() {
	local dir=$1 name=$2
	shift 2
	mkdir -p "$dir"
	chmod 1777 "$dir"
	(cd "$dir" && exec timeout 60 setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env -u LD_PRELOAD -u HEAPPROF "$@") >"$tmp/$name.out" 2>"$tmp/$name.err"
	status=$?
}

# files DIR: the names in DIR, space-separated.
files() {
	ls -A "$1" | tr '\n' ' '
}

out=$tmp/out
mkdir -p "$out"
chmod 1777 "$out"

# --- the control: no set-uid bit ---------------------------------------------------------
as_nobody "$out/c0" c0 "$sdir/bin/sem_suid"
[ "$status" -eq 0 ] && grep -qx 'sem_suid: secure=0' "$tmp/c0.out" && [ ! -s "$tmp/c0.err" ]
ok $? "control (no set-uid bit) as nobody, no HEAPPROF: runs, secure=0 (exit $status)"
diag_file "$tmp/c0.out"
diag_file "$tmp/c0.err"

as_nobody "$out/c1" c1 HEAPPROF="prefix=$out/c1/p,rate=1" "$sdir/bin/sem_suid"
[ "$status" -eq 0 ] && cmp -s "$tmp/c1.out" "$tmp/c0.out" &&
	[ "$(count_files "$out/c1/p.*.exit.pb.gz")" -eq 1 ]
ok $? "control with HEAPPROF: same output, writes its exit profile (files: $(files "$out/c1"))"

as_nobody "$out/c2" c2 HEAPPROF="prefix=$out/c2/p,rate=1" "$sdir/bin/sem_suid" \
	--dump="$out/c2/api.pb.gz"
[ "$status" -eq 0 ] && grep -qx 'sem_suid: dump: ok' "$tmp/c2.out" && [ -f "$out/c2/api.pb.gz" ]
ok $? "control with HEAPPROF and --dump=PATH: the dump is written (files: $(files "$out/c2"))"
diag_file "$tmp/c2.out"

# --- set-uid root ------------------------------------------------------------------------
as_nobody "$out/s0" s0 "$sdir/bin/sem_suid_root"
[ "$status" -eq 0 ] && grep -qx 'sem_suid: secure=1' "$tmp/s0.out"
ok $? "set-uid copy as nobody runs with AT_SECURE (secure=1; exit $status)"
if ! grep -qx 'sem_suid: secure=1' "$tmp/s0.out"; then
	diag "the set-uid bit did not take effect: is $tmp on a nosuid mount? output:"
	diag_file "$tmp/s0.out"
fi
diag_file "$tmp/s0.err"

# suid_case LABEL NAME REFNAME [VAR=VALUE...] -- ARGS: the set-uid copy with HEAPPROF gives
# the output and status of reference run REFNAME, nothing on stderr, no file in its dir.
suid_case() {
	local label=$1 name=$2 ref=$3 ref_status=$4
	shift 4
	as_nobody "$out/$name" "$name" "$@"
	if [ "$status" -eq 124 ]; then
		fail "$label: runs (hung)"
		return
	fi
	[ "$status" -eq "$ref_status" ] && cmp -s "$tmp/$name.out" "$tmp/$ref.out"
	ok $? "$label: same output and status as without HEAPPROF (exit $status)"
	cmp -s "$tmp/$name.out" "$tmp/$ref.out" || diag_file "$tmp/$name.out"
	[ ! -s "$tmp/$name.err" ]
	ok $? "$label: nothing on stderr"
	diag_file "$tmp/$name.err"
	[ -z "$(ls -A "$out/$name")" ]
	ok $? "$label: no file written in its directory (files: $(files "$out/$name"))"
}

suid_case "set-uid, HEAPPROF=prefix=DIR/p,rate=1" s1 s0 0 \
	HEAPPROF="prefix=$out/s1/p,rate=1" "$sdir/bin/sem_suid_root"
suid_case "set-uid, HEAPPROF=rate=1 (default prefix, in the working directory)" s2 s0 0 \
	HEAPPROF="rate=1" "$sdir/bin/sem_suid_root"
suid_case "set-uid, bad HEAPPROF (not parsed, no warning)" s3 s0 0 \
	HEAPPROF="rate=abc,%n%n,bogus=1,prefix=$out/s3/p" "$sdir/bin/sem_suid_root"

# The API: heapprof_dump says the profiler is not running, and writes nothing.
as_nobody "$out/s4ref" s4ref "$sdir/bin/sem_suid_root" --dump="$out/s4ref/api.pb.gz"
s4ref_status=$status
grep -q '^sem_suid: dump: the profiler is not running' "$tmp/s4ref.out" && [ "$s4ref_status" -eq 0 ]
ok $? "set-uid, --dump=PATH without HEAPPROF: heapprof_dump reports the profiler is off"
diag_file "$tmp/s4ref.out"
suid_case "set-uid, HEAPPROF and --dump=PATH (heapprof_dump(PATH))" s4 s4ref "$s4ref_status" \
	HEAPPROF="prefix=$out/s4/p,rate=1" "$sdir/bin/sem_suid_root" --dump="$out/s4/api.pb.gz"
as_nobody "$out/s5ref" s5ref "$sdir/bin/sem_suid_root" --dump
s5ref_status=$status
suid_case "set-uid, HEAPPROF and --dump (heapprof_dump(NULL))" s5 s5ref "$s5ref_status" \
	HEAPPROF="prefix=$out/s5/p,rate=1" "$sdir/bin/sem_suid_root" --dump
[ -z "$(ls -A "$out/s4ref")" ] && [ -z "$(ls -A "$out/s5ref")" ]
ok $? "set-uid without HEAPPROF, --dump: no file written either (files: $(files "$out/s4ref")$(files "$out/s5ref"))"

done_testing
