# tests/integration/cli_flame.mk: heapprof flame (issue 4, acceptance 2): the SVG checked
# by reading it and in headless Chromium (screenshot, and the SVG's own script run in a
# page: zoom, search, hover), flame --base on two signal dumps of tests/progs/leak_grow
# (built by cli_leak.mk), bad inputs and outputs. Included by Makefile.am.
TESTS += tests/integration/cli_flame.sh
EXTRA_DIST += tests/integration/cli_flame.sh
# The test runs the library, the tool and both programs, not only what TESTS depends on.
tests/integration/cli_flame.log: lib/libheapprof.la tools/heapprof$(EXEEXT) \
	tests/progs/demo_leak$(EXEEXT) tests/progs/leak_grow$(EXEEXT)
