# bench/micro.mk: the sample-path and dump micro-benchmarks (issue 5, targets 4 and 5).
# `make bench-micro` builds bench/sample_cost.c and bench/dump_cost.c (gcc -O2 -g
# -fno-omit-frame-pointer, into a temporary directory) and runs them against this build's
# lib/.libs/libheapprof.so, printing tables (doc/BENCH-MICRO.md explains them). Slow
# (several minutes) and machine-dependent: never part of TESTS or STRESS_TESTS.
# BENCH_MICRO_FLAGS passes options through, e.g. make bench-micro BENCH_MICRO_FLAGS=--quick
EXTRA_DIST += bench/micro.sh bench/sample_cost.c bench/dump_cost.c

BENCH_MICRO_FLAGS =

.PHONY: bench-micro
bench-micro: lib/libheapprof.la
	top_builddir=$(abs_top_builddir) HP_LIB=$(abs_top_builddir)/lib/.libs/libheapprof.so \
		$(SHELL) $(srcdir)/bench/micro.sh $(BENCH_MICRO_FLAGS)

# make bench runs these too (after bench-peers).
bench: bench-micro
