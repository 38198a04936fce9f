# tests/integration/textprof.mk: the legacy gperftools heap text format written by the
# library (HEAPPROF=format=text|both, issue 6 acceptance 3). Included by Makefile.am.
#
#   tests/unit/test_textprof       lib/textprof on synthetic profiles, parsed back
#   tests/integration/textprof.sh  textprof_app's dump in both formats, read by google-pprof,
#                                  jeprof and go tool pprof, which must agree
#   tests/progs/textprof_app       known allocation sites for it

check_PROGRAMS += tests/unit/test_textprof
TESTS += tests/unit/test_textprof
tests_unit_test_textprof_LDADD = $(UNIT_LDADD)

check_PROGRAMS += tests/progs/textprof_app
tests_progs_textprof_app_SOURCES = tests/progs/textprof_app.c
tests_progs_textprof_app_CFLAGS = $(HP_PROG_CFLAGS)

TESTS += tests/integration/textprof.sh
EXTRA_DIST += tests/integration/textprof.sh
# The test runs the library, the tool and textprof_app, not only what TESTS depends on.
tests/integration/textprof.log: lib/libheapprof.la tools/heapprof$(EXEEXT) \
	tests/progs/textprof_app$(EXEEXT)
