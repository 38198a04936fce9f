# tests/integration/cli_convert.mk: heapprof convert and the legacy gperftools text format
# (issue 4, acceptance 3): our text read by google-pprof, jeprof and go tool pprof, known
# figures at rate=1, round trips, damaged text files, and text profiles written by
# gperftools (tcmalloc's HEAPPROFILE) and jemalloc (prof_final). Included by Makefile.am.
TESTS += tests/integration/cli_convert.sh
EXTRA_DIST += tests/integration/cli_convert.sh
# The test runs the library, the tool and demo_leak, not only what TESTS depends on.
tests/integration/cli_convert.log: lib/libheapprof.la tools/heapprof$(EXEEXT) \
	tests/progs/demo_leak$(EXEEXT)
