# tests/hazards/output.mk: see doc/RELIABILITY.md. Included by Makefile.am.
#
# The profile files when things go wrong: killed mid-dump, full disk, ulimit -f, unwritable
# or impossible paths, symlinks and FIFOs planted at the names heapprof writes.
#
#   tests/hazards/out_kill.sh      SIGKILL at random moments during dumps (3 s version)
#   tests/hazards/out_fulldisk.sh  a tmpfs that fills up between two dumps
#   tests/hazards/out_fsize.sh     ulimit -f smaller than a profile (SIGXFSZ must not kill)
#   tests/hazards/out_badpath.sh   read-only, unwritable, missing, too long, not a directory
#   tests/hazards/out_planted.sh   symlinks and FIFOs planted at the final and temporary names
#   tests/hazards/out_stress.sh    out_kill.sh for 30 s (make stress)
# Shared helpers: tests/hazards/out_lib.sh. The namespace tests need root (make check runs
# as root on the project's machines); they fail, not skip, without it.

check_PROGRAMS += tests/progs/out_stacks
tests_progs_out_stacks_SOURCES = tests/progs/out_stacks.c tests/progs/pidfile.h
tests_progs_out_stacks_CFLAGS = $(HP_PROG_CFLAGS)

# An LD_PRELOAD shim that fixes CLOCK_MONOTONIC's nanoseconds, so heapprof's temporary names
# are predictable: tests/progs/.libs/out_fixclock.so.
check_LTLIBRARIES += tests/progs/out_fixclock.la
tests_progs_out_fixclock_la_SOURCES = tests/progs/out_fixclock.c
tests_progs_out_fixclock_la_CFLAGS = $(AM_CFLAGS) -O2
tests_progs_out_fixclock_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
EXTRA_DIST += tests/hazards/out_lib.sh

OUTPUT_TESTS = \
	tests/hazards/out_kill.sh \
	tests/hazards/out_fulldisk.sh \
	tests/hazards/out_fsize.sh \
	tests/hazards/out_badpath.sh \
	tests/hazards/out_planted.sh
TESTS += $(OUTPUT_TESTS)
EXTRA_DIST += $(OUTPUT_TESTS)
STRESS_TESTS += tests/hazards/out_stress.sh

$(OUTPUT_TESTS:.sh=.log) tests/hazards/out_stress.log: lib/libheapprof.la tests/progs/out_stacks
tests/hazards/out_planted.log: tests/progs/out_fixclock.la
