# Real programs under the library (tests/integration/real_programs.sh) and the fast-path
# cost check against plain jemalloc (tests/integration/fastpath.sh, bench/callgrind.sh).
check_PROGRAMS += tests/progs/mt_cxx
tests_progs_mt_cxx_SOURCES = tests/progs/mt_cxx.cc
tests_progs_mt_cxx_CXXFLAGS = -std=c++17 -O2 -g -pthread -Wall -Wextra
tests_progs_mt_cxx_LDADD = -lpthread

TESTS += tests/integration/real_programs.sh tests/integration/fastpath.sh
EXTRA_DIST += tests/integration/real_programs.sh tests/integration/fastpath.sh
