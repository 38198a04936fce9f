# tests/integration/memreport.mk: the profiler's own memory, reported as the last comment of
# every profile (lib/dump.c), included by Makefile.am; paths relative to the top of the tree.
#
#   tests/integration/memreport.sh  the comment is in the exit and signal profiles, go tool
#       pprof -comments shows it, its parts add up to the total, its percentages agree with
#       its figures, and the stack-table part grows with 4096 distinct stacks.
#
#       A program that freed 20 MiB of sampled blocks gets their pages back while signals
#       keep the helper thread busy. Sampled small blocks of every size class cost the
#       sampled arena under 0.25 MiB at the default rate, and stay whole when rounded.
#
# tests/progs/mem_stacks: N distinct call stacks (1 <= N <= 4096).
# tests/progs/mem_purge: frees large sampled blocks, then sleeps.
# tests/progs/mem_round: blocks of every small size class kept; blocks left in lib/sampcache;
# random reallocs and frees.

check_PROGRAMS += tests/progs/mem_stacks
tests_progs_mem_stacks_SOURCES = tests/progs/mem_stacks.c
tests_progs_mem_stacks_CFLAGS = $(HP_PROG_CFLAGS)
check_PROGRAMS += tests/progs/mem_purge
tests_progs_mem_purge_SOURCES = tests/progs/mem_purge.c tests/progs/pidfile.h
tests_progs_mem_purge_CFLAGS = $(HP_PROG_CFLAGS)
check_PROGRAMS += tests/progs/mem_round
tests_progs_mem_round_SOURCES = tests/progs/mem_round.c
tests_progs_mem_round_CFLAGS = $(HP_PROG_CFLAGS)

TESTS += tests/integration/memreport.sh
EXTRA_DIST += tests/integration/memreport.sh
# The test runs the library, not only what check_PROGRAMS depend on.
tests/integration/memreport.log: lib/libheapprof.la tools/heapprof$(EXEEXT)
