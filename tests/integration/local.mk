# Integration tests: real programs under the library, profiles read back by real readers.
# Included by Makefile.am; paths are relative to the top of the tree.
#
#   tests/integration/sites.sh    known allocation sites, figures checked (LD_PRELOAD, linked, API)
#   tests/integration/signal.sh   profiles on SIGUSR1/SIGUSR2 while allocating, signal bursts
#   tests/integration/exports.sh  the exact set of symbols libheapprof.so exports
#   tests/integration/triggers.sh the interval= and every= triggers
# Shared helpers: tests/integration/lib.sh. Single test: make check TESTS=tests/integration/sites.sh

HP_PROG_CFLAGS = $(AM_CFLAGS) -O2 -g -fno-omit-frame-pointer

check_PROGRAMS += \
	tests/progs/known_sites \
	tests/progs/known_sites_linked \
	tests/progs/signal_loop \
	tests/progs/trig_alloc

# Plain: no heapprof at all, run under LD_PRELOAD.
tests_progs_known_sites_SOURCES = tests/progs/known_sites.c
tests_progs_known_sites_CFLAGS = $(HP_PROG_CFLAGS)

# Same source linked with the library (-no-install: runs from the build tree), with the
# API options (--dump, --dump=PATH).
tests_progs_known_sites_linked_SOURCES = tests/progs/known_sites.c
tests_progs_known_sites_linked_CPPFLAGS = $(AM_CPPFLAGS) -DUSE_API
tests_progs_known_sites_linked_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_known_sites_linked_LDADD = lib/libheapprof.la
tests_progs_known_sites_linked_LDFLAGS = -no-install

tests_progs_trig_alloc_SOURCES = tests/progs/trig_alloc.c
tests_progs_trig_alloc_CFLAGS = $(HP_PROG_CFLAGS)

tests_progs_signal_loop_SOURCES = tests/progs/signal_loop.c tests/progs/pidfile.h
tests_progs_signal_loop_CFLAGS = $(HP_PROG_CFLAGS)

INTEGRATION_TESTS = \
	tests/integration/exports.sh \
	tests/integration/sites.sh \
	tests/integration/signal.sh \
	tests/integration/triggers.sh
TESTS += $(INTEGRATION_TESTS)
EXTRA_DIST += $(INTEGRATION_TESTS) tests/integration/lib.sh

# The tests need the library itself, not only what check_PROGRAMS depend on.
$(INTEGRATION_TESTS:.sh=.log): lib/libheapprof.la
