# Real programs under the library (tests/integration/real_programs.sh: python3, gcc, perl,
# sort, tests/progs/mt_cxx; outputs identical with and without it, one profile per process)
# and the fast-path cost against plain jemalloc (tests/integration/fastpath.sh, which runs
# bench/callgrind.sh --check 12; bench/churn is built in bench/local.mk).
check_PROGRAMS += tests/progs/mt_cxx
tests_progs_mt_cxx_SOURCES = tests/progs/mt_cxx.cc
tests_progs_mt_cxx_CXXFLAGS = -std=c++17 -O2 -g -pthread -Wall -Wextra
tests_progs_mt_cxx_LDADD = -lpthread

REAL_TESTS = tests/integration/real_programs.sh tests/integration/fastpath.sh
TESTS += $(REAL_TESTS)
EXTRA_DIST += $(REAL_TESTS)

# The tests need the library itself, not only what check_PROGRAMS depend on.
$(REAL_TESTS:.sh=.log): lib/libheapprof.la

# C++ operators in every form under the library (tests/integration/cxx.sh).
check_PROGRAMS += tests/progs/cxx_new
tests_progs_cxx_new_SOURCES = tests/progs/cxx_new.cc
tests_progs_cxx_new_CXXFLAGS = -std=c++17 -O1 -g -Wall -Wextra -fno-builtin
TESTS += tests/integration/cxx.sh
EXTRA_DIST += tests/integration/cxx.sh
