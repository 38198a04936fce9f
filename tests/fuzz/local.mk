# tests/fuzz/: fuzzing the profile reader (doc/FUZZING.md). Included by Makefile.am; paths
# are relative to the top of the tree.
#
#   tests/fuzz/fuzz_profile.c  the libFuzzer target: pf_parse (pprof and legacy text) and
#                              what the commands do with a profile, with property checks
#   tests/fuzz/replay.c        a main that runs files through the target (no libFuzzer)
#   tests/fuzz/replay.sh       make check: the corpus through the replay, built plain and
#                              with gcc's ASan+UBSan (tests/fuzz/replay_san), and through
#                              heapprof's reading commands (tests/fuzz/heapprof_san)
#   tests/fuzz/run.sh          a libFuzzer campaign (clang), also `make fuzz`
#   tests/fuzz/corpus/         seeds + crash regressions + minimized findings (checked in)
#   tests/fuzz/make_seeds.sh   regenerates the seeds (with gen_seeds.py, gen_go_heap.go)

FUZZ_TARGET_SOURCES = \
	tests/fuzz/fuzz_profile.c tests/fuzz/fuzz_profile.h tests/fuzz/replay.c \
	tools/profile.c tools/profile.h \
	tools/stacks.c tools/stacks.h \
	tools/encode.c tools/encode.h \
	tools/legacy.c tools/legacy.h \
	tools/units.c tools/units.h \
	lib/gzout.c lib/gzout.h
FUZZ_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tools -I$(top_srcdir)/tests/fuzz
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all

check_PROGRAMS += tests/fuzz/replay tests/fuzz/replay_san
tests_fuzz_replay_SOURCES = $(FUZZ_TARGET_SOURCES)
tests_fuzz_replay_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_replay_CFLAGS = $(AM_CFLAGS) -O1 -g
tests_fuzz_replay_LDADD = -lz -lm
# The same with AddressSanitizer and UndefinedBehaviorSanitizer (gcc or clang).
tests_fuzz_replay_san_SOURCES = $(FUZZ_TARGET_SOURCES)
tests_fuzz_replay_san_CPPFLAGS = $(FUZZ_CPPFLAGS)
tests_fuzz_replay_san_CFLAGS = $(AM_CFLAGS) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN)
tests_fuzz_replay_san_LDFLAGS = $(FUZZ_SAN)
tests_fuzz_replay_san_LDADD = -lz -lm

# The heapprof command itself with the same sanitizers: replay.sh runs its reading
# commands on every corpus file.
check_PROGRAMS += tests/fuzz/heapprof_san
tests_fuzz_heapprof_san_SOURCES = $(tools_heapprof_SOURCES)
tests_fuzz_heapprof_san_CPPFLAGS = $(tools_heapprof_CPPFLAGS)
tests_fuzz_heapprof_san_CFLAGS = $(AM_CFLAGS) -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN)
tests_fuzz_heapprof_san_LDFLAGS = $(FUZZ_SAN)
tests_fuzz_heapprof_san_LDADD = $(tools_heapprof_LDADD)

TESTS += tests/fuzz/replay.sh
EXTRA_DIST += tests/fuzz/replay.sh tests/fuzz/run.sh tests/fuzz/make_seeds.sh \
	tests/fuzz/gen_seeds.py tests/fuzz/gen_go_heap.go tests/fuzz/profile.dict \
	tests/fuzz/corpus
tests/fuzz/replay.log: tests/fuzz/replay$(EXEEXT) tests/fuzz/replay_san$(EXEEXT) \
	tests/fuzz/heapprof_san$(EXEEXT)

# A libFuzzer campaign from the build tree: make fuzz [FUZZ_SECONDS=600]; its work
# directory (binary, new corpus, artifacts, log) is fuzz-work/.
FUZZ_SECONDS = 600
fuzz:
	$(SHELL) $(top_srcdir)/tests/fuzz/run.sh -t $(FUZZ_SECONDS) -o $(abs_top_builddir)/fuzz-work
.PHONY: fuzz
