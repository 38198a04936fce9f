# tests/integration/huge.mk: large sampled blocks in the slots of lib/huge (>= 1 MiB), included
# by Makefile.am; paths relative to the top of the tree.
#
#   tests/integration/huge.sh  tests/progs/huge_blocks in every mode, preloaded at rate=1 and
#       at the default rate and linked with -lheapprof: slot placement, usable size, content,
#       in-place realloc growth/shrink and moves, calloc after a dirty free, alignment, more
#       blocks than slots, threads, fork, exact profile figures at rate=1, the own-memory
#       comment's live heap, and resident memory given back after frees.
#
# tests/progs/huge_blocks: the modes (see its header); huge_blocks_linked: the same, linked.

check_PROGRAMS += tests/progs/huge_blocks tests/progs/huge_blocks_linked
tests_progs_huge_blocks_SOURCES = tests/progs/huge_blocks.c
tests_progs_huge_blocks_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_huge_blocks_LDFLAGS = -pthread

tests_progs_huge_blocks_linked_SOURCES = tests/progs/huge_blocks.c
tests_progs_huge_blocks_linked_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_huge_blocks_linked_LDADD = lib/libheapprof.la
tests_progs_huge_blocks_linked_LDFLAGS = -no-install -pthread

TESTS += tests/integration/huge.sh
EXTRA_DIST += tests/integration/huge.sh
# The test runs the library and the reader, not only what check_PROGRAMS depend on.
tests/integration/huge.log: lib/libheapprof.la tools/heapprof$(EXEEXT) \
	tests/progs/huge_blocks$(EXEEXT) tests/progs/huge_blocks_linked$(EXEEXT)
