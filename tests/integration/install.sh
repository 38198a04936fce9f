#!/bin/bash
# tests/integration/install.sh: `make install` (into a DESTDIR) puts the tool, the library,
# the header and a man page per command in place; every command of `heapprof --help`
# answers --help and has its man page, which man(1) renders without warnings; the
# installed heapprof runs a program under the installed library (HEAPPROF_LIB, as the
# DESTDIR is not its configured libdir) and says how to fix a missing library.
set -u
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/lib.sh"

need_env
need_tool make man
need_prog demo_leak

HP=$top_builddir/tools/heapprof
dest=$tmp/dest
make -s -C "$top_builddir" install DESTDIR="$dest" >"$tmp/install.out" 2>&1
ok $? "make install DESTDIR=... succeeds" || { diag_file "$tmp/install.out"; done_testing; }

# Where the configured directories landed inside DESTDIR.
bindir=$(sed -n 's/^bindir = //p' "$top_builddir/Makefile")
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
bindir=${bindir//\$\{exec_prefix\}/$prefix}
libdir=$(sed -n 's/^libdir = //p' "$top_builddir/Makefile")
libdir=${libdir//\$\{exec_prefix\}/$prefix}
man1=$dest$prefix/share/man/man1
inc=$dest$prefix/include

[ -x "$dest$bindir/heapprof" ]
ok $? "installed: $bindir/heapprof"
[ -f "$dest$libdir/libheapprof.so" ] || [ -L "$dest$libdir/libheapprof.so" ]
ok $? "installed: $libdir/libheapprof.so"
[ -f "$inc/heapprof.h" ]
ok $? "installed: $prefix/include/heapprof.h"

cmds=$("$HP" --help | awk '/^Commands:/ { c = 1; next } c && NF == 0 { exit } c { print $1 }')
[ "$(echo "$cmds" | wc -w)" -ge 7 ]
ok $? "heapprof --help lists the commands ($(echo $cmds))"
for c in $cmds; do
	"$HP" "$c" --help >"$tmp/help" 2>&1 && grep -q "^usage: heapprof $c" "$tmp/help"
	ok $? "heapprof $c --help: usage, exit 0"
	page=$man1/heapprof-$c.1
	if [ -f "$page" ]; then
		MANWIDTH=80 man --warnings -l "$page" >"$tmp/man.txt" 2>"$tmp/man.err" &&
			[ ! -s "$tmp/man.err" ] && grep -q "heapprof $c" "$tmp/man.txt" &&
			grep -q "EXIT STATUS" "$tmp/man.txt"
		ok $? "man page heapprof-$c.1 installed, renders without warnings, has EXIT STATUS" ||
			diag_file "$tmp/man.err"
	else
		fail "man page heapprof-$c.1 installed"
	fi
done
# refers_to_all FILE: FILE names the page of every command.
refers_to_all() {
	local c
	for c in $cmds; do
		grep -q "heapprof-$c(1)" "$1" || return 1
	done
}
MANWIDTH=80 man --warnings -l "$man1/heapprof.1" >"$tmp/man.txt" 2>"$tmp/man.err" &&
	[ ! -s "$tmp/man.err" ] && refers_to_all "$tmp/man.txt"
ok $? "heapprof.1 installed, renders, and refers to every command's page" || diag_file "$tmp/man.err"

ihp=$dest$bindir/heapprof
mkdir -p "$tmp/p"
HEAPPROF_LIB=$dest$libdir/libheapprof.so timeout 60 "$ihp" run --rate 1 --prefix "$tmp/p/x" -- \
	"$top_builddir/tests/progs/demo_leak" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] && grep -q ' leak_sessions$' "$tmp/err"
ok $? "installed heapprof run with the installed library (HEAPPROF_LIB): leak_sessions on top" ||
	diag_file "$tmp/err"
if [ ! -e "$libdir/libheapprof.so" ]; then
	timeout 60 "$ihp" run -- true >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq 125 ] && grep -q "the library $libdir/libheapprof.so is missing (run 'make install'" "$tmp/err"
	ok $? "installed heapprof without its library installed: says where it looked and the fix (125)" ||
		diag_file "$tmp/err"
else
	timeout 60 "$ihp" run -- true >"$tmp/out" 2>"$tmp/err"
	ok $? "installed heapprof runs a program with the library installed in $libdir"
fi

done_testing
