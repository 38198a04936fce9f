# Benchmarks. bench/churn is built by make check: tests/integration/fastpath.sh runs it
# under callgrind through bench/callgrind.sh.
check_PROGRAMS += bench/churn
bench_churn_SOURCES = bench/churn.c
bench_churn_CFLAGS = $(AM_CFLAGS) -O2

EXTRA_DIST += bench/callgrind.sh
