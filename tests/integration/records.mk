# tests/integration/records.mk: the record in front of each sampled block (lib/liverec),
# included by Makefile.am; paths relative to the top of the tree.
#
#   tests/integration/records.sh  a double free and a write in front of a block are
#       refused with one line on stderr and the program goes on; aligned sampled blocks
#       keep malloc's semantics and heapprof's in-use count.
#
# tests/progs/rec_misuse: the program that does it.

check_PROGRAMS += tests/progs/rec_misuse
tests_progs_rec_misuse_SOURCES = tests/progs/rec_misuse.c
tests_progs_rec_misuse_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_rec_misuse_LDADD = -ldl

TESTS += tests/integration/records.sh
EXTRA_DIST += tests/integration/records.sh
# The test runs the library, not only what check_PROGRAMS depend on.
tests/integration/records.log: lib/libheapprof.la
