# tests/integration/unwind_shapes.mk: the unwinder's stacks (fast walk by compact rules and
# slow walk by libunwind) against glibc's backtrace(), frame by frame, across frame shapes
# (tests/progs/unw_shapes), and the same stacks with the rules packed (tests/progs/unw_packed).
# Included by Makefile.am.
check_PROGRAMS += tests/progs/unw_shapes tests/progs/unw_hash tests/progs/unw_packed
tests_progs_unw_shapes_SOURCES = tests/progs/unw_shapes.c
tests_progs_unw_shapes_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_unw_shapes_LDADD = -ldl -lpthread
# libunwind's _Ux86_64_init_remote, defined by the program to count heapprof's slow
# walks, must be seen by libheapprof.so.
tests_progs_unw_shapes_LDFLAGS = -Wl,--export-dynamic-symbol=_Ux86_64_init_remote
# The hash lib/unwind carries through its walks (unwind_shapes.sh, last part).
tests_progs_unw_hash_SOURCES = tests/progs/unw_hash.c
tests_progs_unw_hash_CFLAGS = $(HP_PROG_CFLAGS)
# Stacks through a signal frame at a sparse rate and at rate=1 (unwind_shapes.sh, end).
tests_progs_unw_packed_SOURCES = tests/progs/unw_packed.c
tests_progs_unw_packed_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_unw_packed_LDADD = -ldl
tests_progs_unw_packed_LDFLAGS = -Wl,--export-dynamic-symbol=_Ux86_64_init_remote

TESTS += tests/integration/unwind_shapes.sh
EXTRA_DIST += tests/integration/unwind_shapes.sh
tests/integration/unwind_shapes.log: lib/libheapprof.la tools/heapprof$(EXEEXT) \
	tests/progs/unw_shapes$(EXEEXT) tests/progs/unw_hash$(EXEEXT) tests/progs/unw_packed$(EXEEXT)
