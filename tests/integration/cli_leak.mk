# tests/integration/cli_leak.mk: heapprof run, diff, top --lines and --cum: the leak hunter
# (issue 4, acceptance 1 and 5), on tests/progs/leak_grow. Included by Makefile.am.
check_PROGRAMS += tests/progs/leak_grow
tests_progs_leak_grow_SOURCES = tests/progs/leak_grow.c
tests_progs_leak_grow_CFLAGS = $(HP_PROG_CFLAGS)

TESTS += tests/integration/cli_leak.sh
EXTRA_DIST += tests/integration/cli_leak.sh
tests/integration/cli_leak.log: lib/libheapprof.la tools/heapprof$(EXEEXT) \
	tests/progs/leak_grow$(EXEEXT) tests/progs/demo_leak$(EXEEXT) \
	tests/progs/trig_alloc$(EXEEXT)

# make install into a DESTDIR, --help and man pages of every command.
TESTS += tests/integration/install.sh
EXTRA_DIST += tests/integration/install.sh
tests/integration/install.log: lib/libheapprof.la tools/heapprof$(EXEEXT) \
	tests/progs/demo_leak$(EXEEXT)
