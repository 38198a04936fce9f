# bench/bench.mk: heapprof against its peers (bench/run.sh, doc/BENCH.md).
# Included by Makefile.am; paths are relative to the top of the tree.
#
#   make bench                      every workload under every configuration, 5 rounds
#   make bench BENCH_ARGS='--quick' one short round (see bench/run.sh --help for options)
#
# The workload programs have plain rules (not automake programs): built only when make bench
# asks for them, never by make all or make check, and no shared automake variable
# (EXTRA_PROGRAMS must be set with '=' once) is claimed. bench/churn comes from
# bench/local.mk. Nothing here joins TESTS or STRESS_TESTS. `bench` only names its
# prerequisites, so other fragments can hang their own benchmarks on it the same way.
BENCH_WL_CFLAGS = $(AM_CFLAGS) $(CFLAGS) -O2
bench/wl_xfree$(EXEEXT): bench/wl_xfree.c
	$(AM_V_CC)$(MKDIR_P) bench && $(CC) $(CPPFLAGS) $(BENCH_WL_CFLAGS) -pthread -o $@ $(srcdir)/bench/wl_xfree.c -lpthread
bench/wl_realloc$(EXEEXT): bench/wl_realloc.c
	$(AM_V_CC)$(MKDIR_P) bench && $(CC) $(CPPFLAGS) $(BENCH_WL_CFLAGS) -o $@ $(srcdir)/bench/wl_realloc.c

EXTRA_DIST += bench/run.sh bench/wl_json.py bench/wl_gen_c.py bench/wl_xfree.c bench/wl_realloc.c bench/je_jump.c
CLEANFILES += bench-peers.tsv bench/wl_xfree$(EXEEXT) bench/wl_realloc$(EXEEXT)

BENCH_ARGS = --tsv bench-peers.tsv

bench: bench-peers
bench-peers: lib/libheapprof.la bench/churn$(EXEEXT) bench/wl_xfree$(EXEEXT) bench/wl_realloc$(EXEEXT)
	top_builddir='$(abs_top_builddir)' HP_LIB='$(abs_top_builddir)/lib/.libs/libheapprof.so' \
	$(SHELL) $(srcdir)/bench/run.sh $(BENCH_ARGS)
.PHONY: bench bench-peers
