# tools/: the heapprof command line tool, which reads the profiles the library writes
# (or any pprof profile) without Go. Included by Makefile.am; paths are relative to the
# top of the tree. A normal program: not linked to libheapprof; it shares only the gzip
# module (lib/gzout.c) with the library.
#
#   tools/heapprof.c   main and the command table
#   tools/cli.c        shared command-line plumbing: error format, exit codes
#   tools/profile.c    the defensive pprof (profile.proto) decoder
#   tools/stacks.c     samples as merged, sorted stacks (for collapse and flame)
#   tools/units.c      value formatting (KiB/MiB/GiB)
#   tools/sites.c      values by site (function or line), for top and diff
#   tools/top.c        heapprof top
#   tools/collapse.c   heapprof collapse
#   tools/flame.c      heapprof flame
#   tools/diff.c       heapprof diff
#   tools/run.c        heapprof run
#   tools/convert.c    heapprof convert
#   tools/symbolize.c  heapprof symbolize, and file/line for top --lines and flame (libdw)
#   tools/legacy.c     the legacy gperftools heap text format, read and written
#   tools/encode.c     pprof encoding (symbolize and convert write profiles)
#
# Tested by tests/integration/cli.sh, on tests/progs/demo_leak (the README's demo).

bin_PROGRAMS = tools/heapprof
# One man page for the tool, one per command (make install puts them in man1).
dist_man_MANS = doc/heapprof.1 doc/heapprof-run.1 doc/heapprof-top.1 doc/heapprof-diff.1 \
	doc/heapprof-flame.1 doc/heapprof-collapse.1 doc/heapprof-symbolize.1 \
	doc/heapprof-convert.1
tools_heapprof_SOURCES = \
	tools/heapprof.c \
	tools/cli.c tools/cli.h \
	tools/profile.c tools/profile.h \
	tools/stacks.c tools/stacks.h \
	tools/units.c tools/units.h \
	tools/sites.c tools/sites.h \
	tools/top.c tools/top.h \
	tools/collapse.c tools/collapse.h \
	tools/flame.c tools/flame.h \
	tools/diff.c tools/diff.h \
	tools/run.c tools/run.h \
	tools/convert.c tools/convert.h \
	tools/symbolize.c tools/symbolize.h \
	tools/legacy.c tools/legacy.h \
	tools/encode.c tools/encode.h \
	lib/gzout.c lib/gzout.h
tools_heapprof_CPPFLAGS = $(AM_CPPFLAGS) -DHP_LIBDIR='"$(libdir)"' \
	-DHP_BUILD_TOOLDIR='"$(abs_top_builddir)/tools"' \
	-DHP_BUILD_LIBDIR='"$(abs_top_builddir)/lib/.libs"'
tools_heapprof_LDADD = -ldw -lelf -lz -lm

check_PROGRAMS += tests/progs/demo_leak
tests_progs_demo_leak_SOURCES = tests/progs/demo_leak.c
tests_progs_demo_leak_CFLAGS = $(AM_CFLAGS) -O2 -g -fno-omit-frame-pointer

TESTS += tests/integration/cli.sh
EXTRA_DIST += tests/integration/cli.sh
# The test runs the library and the tool, not only what check_PROGRAMS depend on.
tests/integration/cli.log: lib/libheapprof.la tools/heapprof$(EXEEXT)
