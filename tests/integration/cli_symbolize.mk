# tests/integration/cli_symbolize.mk: heapprof symbolize (tools/symbolize.c), included by
# Makefile.am; paths are relative to the top of the tree.
#
#   tests/integration/cli_symbolize.sh  file:line and inlined frames from DWARF, checked
#       against the LINE: marks of tests/progs/sym_alloc.c with go tool pprof; stripped,
#       missing and rebuilt binaries, separate debug files; speed on 4096 locations.
#
# tests/progs/sym_alloc (sym_alloc.c + sym_alloc_fn.c) in four builds, all -g -O2 and
# -rdynamic (global functions stay in .dynsym when stripped):
#   sym_alloc         PIE
#   sym_alloc_v2      PIE with other code (-DSYM_V2): another build id
#   sym_alloc_nopie   ET_EXEC
#   sym_alloc_moved   PIE with .text moved to 0x10000: ELF addresses are not file offsets
# tests/progs/sym_many: 4096 malloc call sites.

SYM_ALLOC_SOURCES = tests/progs/sym_alloc.c tests/progs/sym_alloc_fn.c tests/progs/sym_alloc.h

check_PROGRAMS += \
	tests/progs/sym_alloc \
	tests/progs/sym_alloc_v2 \
	tests/progs/sym_alloc_nopie \
	tests/progs/sym_alloc_moved \
	tests/progs/sym_many

tests_progs_sym_alloc_SOURCES = $(SYM_ALLOC_SOURCES)
tests_progs_sym_alloc_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_sym_alloc_LDFLAGS = -rdynamic

tests_progs_sym_alloc_v2_SOURCES = $(SYM_ALLOC_SOURCES)
tests_progs_sym_alloc_v2_CPPFLAGS = $(AM_CPPFLAGS) -DSYM_V2
tests_progs_sym_alloc_v2_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_sym_alloc_v2_LDFLAGS = -rdynamic

tests_progs_sym_alloc_nopie_SOURCES = $(SYM_ALLOC_SOURCES)
tests_progs_sym_alloc_nopie_CFLAGS = $(HP_PROG_CFLAGS) -fno-pie
tests_progs_sym_alloc_nopie_LDFLAGS = -rdynamic -XCClinker -no-pie

tests_progs_sym_alloc_moved_SOURCES = $(SYM_ALLOC_SOURCES)
tests_progs_sym_alloc_moved_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_sym_alloc_moved_LDFLAGS = -rdynamic -Wl,--section-start=.text=0x10000

tests_progs_sym_many_SOURCES = tests/progs/sym_many.c
tests_progs_sym_many_CFLAGS = $(HP_PROG_CFLAGS)

TESTS += tests/integration/cli_symbolize.sh
EXTRA_DIST += tests/integration/cli_symbolize.sh
# The test runs the library and the tool, not only what check_PROGRAMS depend on.
tests/integration/cli_symbolize.log: lib/libheapprof.la tools/heapprof$(EXEEXT)
