# tests/integration/http.mk: the HTTP endpoint (HEAPPROF=http=ADDR:PORT, lib/http.c),
# included by Makefile.am; paths relative to the top of the tree.
#
#   tests/integration/http.sh  go tool pprof against /debug/pprof/heap and /allocs, delta
#       profiles (?seconds=N), the index, 400/404/405/408/431 answers, a client that never
#       finishes its request, 50 concurrent clients, the port in use, a bad address, main
#       ending with pthread_exit, and a fork child that does not serve.
#
# tests/progs/http_app: known allocation sites, a late one after a marker file appears.

check_PROGRAMS += tests/progs/http_app
tests_progs_http_app_SOURCES = tests/progs/http_app.c
tests_progs_http_app_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_http_app_LDADD = -lpthread

TESTS += tests/integration/http.sh
EXTRA_DIST += tests/integration/http.sh
# The test runs the library, not only what check_PROGRAMS depend on.
tests/integration/http.log: lib/libheapprof.la
