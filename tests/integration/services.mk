# tests/integration/services.mk: the service triggers of issue 6 that write files:
# peak=, max_files=, interval= at full speed, the trigger comments, bad values
# (tests/integration/services.sh; interval=/every= basics: triggers.sh; http=: http.mk;
# format=: textprof.mk).
check_PROGRAMS += tests/progs/svc_heap
tests_progs_svc_heap_SOURCES = tests/progs/svc_heap.c
tests_progs_svc_heap_CFLAGS = $(HP_PROG_CFLAGS)
TESTS += tests/integration/services.sh
EXTRA_DIST += tests/integration/services.sh
tests/integration/services.log: lib/libheapprof.la tests/progs/svc_heap tests/progs/trig_alloc
