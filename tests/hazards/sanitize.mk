# tests/hazards/sanitize.mk: see doc/RELIABILITY.md. Included by Makefile.am.
#
#   tests/unit/test_mt_tables       stack table + block records under concurrent add/put/take
#                                   and snapshots; exact totals at the end (make check)
#   tests/hazards/sanitizers.sh     lib/libhpmod's modules and every unit test under clang's
#                                   ASan+LSan, UBSan and TSan, with canaries (make check)
#   tests/hazards/cpython.sh        CPython's own regression tests under LD_PRELOAD at
#                                   rate=1, compared with a run without the library (make stress)

check_PROGRAMS += tests/unit/test_mt_tables
TESTS += tests/unit/test_mt_tables
tests_unit_test_mt_tables_LDADD = lib/libhpmod.la -lm -lpthread

TESTS += tests/hazards/sanitizers.sh
STRESS_TESTS += tests/hazards/cpython.sh
EXTRA_DIST += tests/hazards/sanitizers.sh tests/hazards/san_canary.c \
	tests/hazards/san_regrtest.py tests/hazards/san_reaper.py

tests/hazards/sanitizers.log tests/hazards/cpython.log: lib/libheapprof.la
