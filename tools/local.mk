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
#   tools/top.c        heapprof top
#   tools/collapse.c   heapprof collapse
#   tools/flame.c      heapprof flame
#
# Tested by tests/integration/cli.sh, on tests/progs/demo_leak (the README's demo).

bin_PROGRAMS = tools/heapprof
tools_heapprof_SOURCES = \
	tools/heapprof.c \
	tools/cli.c tools/cli.h \
	tools/profile.c tools/profile.h \
	tools/stacks.c tools/stacks.h \
	tools/units.c tools/units.h \
	tools/top.c tools/top.h \
	tools/collapse.c tools/collapse.h \
	tools/flame.c tools/flame.h \
	lib/gzout.c lib/gzout.h
tools_heapprof_LDADD = -lz

check_PROGRAMS += tests/progs/demo_leak
tests_progs_demo_leak_SOURCES = tests/progs/demo_leak.c
tests_progs_demo_leak_CFLAGS = $(AM_CFLAGS) -O2 -g -fno-omit-frame-pointer

TESTS += tests/integration/cli.sh
EXTRA_DIST += tests/integration/cli.sh
# The test runs the library and the tool, not only what check_PROGRAMS depend on.
tests/integration/cli.log: lib/libheapprof.la tools/heapprof$(EXEEXT)
