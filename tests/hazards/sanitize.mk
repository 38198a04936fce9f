# tests/hazards/sanitize.mk: see doc/RELIABILITY.md. Included by Makefile.am.
#
#   tests/unit/test_mt_tables       stack table + live map under concurrent add/insert/remove
#                                   and snapshots; exact totals at the end (make check)
#   tests/hazards/sanitizers.sh     lib/libhpmod's modules and every unit test under clang's
#                                   ASan+LSan, UBSan and TSan, with canaries (make check)
#                                   rate=1, compared with a run without the library (make stress)

check_PROGRAMS += tests/unit/test_mt_tables
TESTS += tests/unit/test_mt_tables
tests_unit_test_mt_tables_LDADD = lib/libhpmod.la -lm -lpthread

TESTS += tests/hazards/sanitizers.sh
EXTRA_DIST += tests/hazards/sanitizers.sh tests/hazards/san_canary.c

