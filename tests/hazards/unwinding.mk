# tests/hazards/unwinding.mk: see doc/RELIABILITY.md. Included by Makefile.am.
#
# Unwinding hazards: every allocation sampled (rate=1) and unwound while the program
#   - allocates inside dl_iterate_phdr callbacks, loads and unloads libraries, forks
#     (tests/progs/unw_phdr: libunwind 1.6.2's own cache-lock/loader-lock deadlock);
#   - leaks from a plugin it unloads, asking for profiles by signal meanwhile
#     (tests/progs/unw_churn, tests/progs/libunw_plugin.la);
#   - allocates from functions without unwind info, with garbage in rbp
#     (tests/progs/unw_nocfi, its sites in tests/progs/libunw_nocfi_fns.la);
#   - allocates from generated code in an anonymous page it then unmaps (tests/progs/unw_jit);
#   - loads two plugins in turn at one address, the same return address in each with a
#     different frame (tests/progs/unw_swap, tests/progs/libunw_swap_a.la and _b.la from
#     tests/progs/unw_swap_plugin.c), plugins that announce their unloads to heapprof, and
#     then two that do not (_c.la and _d.la: built without the start files), then two
#     whose frames at that return address and stack pointer read the same words while
#     their rules find the caller in different places (_e.la and _f.la, from
#     tests/progs/unw_swap_shape.c);
#   - allocates on coroutine stacks (ucontext) that it unmaps and maps again, smaller, at
#     the same place, so that a walk meets the last walk's innermost frame while that walk's
#     outer frames are in pages that are gone (tests/progs/unw_coro);
#   - allocates under a frame whose saved rbp slot points at a page that cannot be read,
#     while the frame above it finds its caller by rbp (tests/progs/unw_badslot);
#   - allocates and frees in signal handlers that interrupt the profiler
#     (tests/progs/unw_sigalloc: "polite" handlers allocate only outside malloc/free, the
#     stress version adds "rude" ones that allocate whatever they interrupt).
# Each program also runs without the library, to show that it is itself sound.
#
#   tests/hazards/unwinding.sh         the quick version (make check, 3-6 s)
#   tests/hazards/unwinding_stress.sh  the same, longer (make stress, about a minute)
#   tests/hazards/unw_deadlock.sh      its part 1 alone, and
#   tests/hazards/unw_sigalloc.sh      its part 5 alone: run by tests/hazards/unprotected.sh
#                                      against libraries without the protections

UNW_PROGS = \
	tests/progs/unw_phdr \
	tests/progs/unw_churn \
	tests/progs/unw_nocfi \
	tests/progs/unw_jit \
	tests/progs/unw_sigalloc \
	tests/progs/unw_swap \
	tests/progs/unw_coro \
	tests/progs/unw_badslot
check_PROGRAMS += $(UNW_PROGS)

tests_progs_unw_phdr_SOURCES = tests/progs/unw_phdr.c
tests_progs_unw_phdr_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_unw_phdr_LDADD = -ldl -lpthread

tests_progs_unw_churn_SOURCES = tests/progs/unw_churn.c
tests_progs_unw_churn_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_unw_churn_LDADD = -ldl -lpthread

tests_progs_unw_nocfi_SOURCES = tests/progs/unw_nocfi.c tests/progs/unw_nocfi.h
tests_progs_unw_nocfi_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_unw_nocfi_LDADD = tests/progs/libunw_nocfi_fns.la -lpthread

tests_progs_unw_jit_SOURCES = tests/progs/unw_jit.c
tests_progs_unw_jit_CFLAGS = $(HP_PROG_CFLAGS)

tests_progs_unw_sigalloc_SOURCES = tests/progs/unw_sigalloc.c
tests_progs_unw_sigalloc_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_unw_sigalloc_LDADD = -lpthread -lrt

tests_progs_unw_coro_SOURCES = tests/progs/unw_coro.c tests/progs/unw_kept.h
tests_progs_unw_coro_CFLAGS = $(HP_PROG_CFLAGS)

tests_progs_unw_badslot_SOURCES = tests/progs/unw_badslot.c tests/progs/unw_kept.h
tests_progs_unw_badslot_CFLAGS = $(HP_PROG_CFLAGS)

tests_progs_unw_swap_SOURCES = tests/progs/unw_swap.c
tests_progs_unw_swap_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_unw_swap_LDADD = -ldl

# The plugin: a shared library dlopen'ed by path from the build tree (.libs/); the rpath
# only makes libtool build it shared, it is never installed.
# The sites without unwind info: a convenience library with its own flags (no unwind
# tables, no frame pointer; tests/hazards/unwinding.sh checks that no .eh_frame entry
# covers them, whatever CFLAGS add).
check_LTLIBRARIES += tests/progs/libunw_plugin.la tests/progs/libunw_nocfi_fns.la \
	tests/progs/libunw_swap_a.la tests/progs/libunw_swap_b.la \
	tests/progs/libunw_swap_c.la tests/progs/libunw_swap_d.la \
	tests/progs/libunw_swap_e.la tests/progs/libunw_swap_f.la
tests_progs_libunw_plugin_la_SOURCES = tests/progs/unw_plugin.c
tests_progs_libunw_plugin_la_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_libunw_plugin_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
# The swap plugins: one source, two frame sizes, both under a page (no stack probes) and
# over 127 bytes (the same instruction lengths), so that the code lines up; no frame
# pointer, so that the frame rules differ (the stack pointer plus the frame size).
tests_progs_libunw_swap_a_la_SOURCES = tests/progs/unw_swap_plugin.c
tests_progs_libunw_swap_a_la_CFLAGS = $(AM_CFLAGS) -O2 -g -fomit-frame-pointer -DSWAP_FRAME=1024
tests_progs_libunw_swap_a_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
tests_progs_libunw_swap_b_la_SOURCES = tests/progs/unw_swap_plugin.c
tests_progs_libunw_swap_b_la_CFLAGS = $(AM_CFLAGS) -O2 -g -fomit-frame-pointer -DSWAP_FRAME=3072
tests_progs_libunw_swap_b_la_LDFLAGS = -module -avoid-version -shared -rpath /nowhere
# The same two without the compiler's start files (crtbeginS.o and the rest): no finalizer
# calls __cxa_finalize when they are unloaded, so heapprof is not told (lib/unwind.c,
# "unloads we see") and must ask the loader.
tests_progs_libunw_swap_c_la_SOURCES = tests/progs/unw_swap_plugin.c
tests_progs_libunw_swap_c_la_CFLAGS = $(tests_progs_libunw_swap_a_la_CFLAGS)
tests_progs_libunw_swap_c_la_LDFLAGS = $(tests_progs_libunw_swap_a_la_LDFLAGS) -Wc,-nostartfiles
tests_progs_libunw_swap_d_la_SOURCES = tests/progs/unw_swap_plugin.c
tests_progs_libunw_swap_d_la_CFLAGS = $(tests_progs_libunw_swap_b_la_CFLAGS)
tests_progs_libunw_swap_d_la_LDFLAGS = $(tests_progs_libunw_swap_b_la_LDFLAGS) -Wc,-nostartfiles
# Two plugins in assembly (in a C file), one frame more in f than in e between the same
# allocation and its caller (tests/progs/unw_swap_shape.c).
tests_progs_libunw_swap_e_la_SOURCES = tests/progs/unw_swap_shape.c
tests_progs_libunw_swap_e_la_CFLAGS = $(AM_CFLAGS) -O2 -g -DSWAP_TRAMP=0
tests_progs_libunw_swap_e_la_LDFLAGS = $(tests_progs_libunw_swap_a_la_LDFLAGS)
tests_progs_libunw_swap_f_la_SOURCES = tests/progs/unw_swap_shape.c
tests_progs_libunw_swap_f_la_CFLAGS = $(AM_CFLAGS) -O2 -g -DSWAP_TRAMP=1
tests_progs_libunw_swap_f_la_LDFLAGS = $(tests_progs_libunw_swap_a_la_LDFLAGS)
tests_progs_libunw_nocfi_fns_la_SOURCES = tests/progs/unw_nocfi_fns.c tests/progs/unw_nocfi.h
tests_progs_libunw_nocfi_fns_la_CFLAGS = $(AM_CFLAGS) -O2 -fno-asynchronous-unwind-tables \
	-fno-unwind-tables -fomit-frame-pointer

TESTS += tests/hazards/unwinding.sh
STRESS_TESTS += tests/hazards/unwinding_stress.sh
EXTRA_DIST += tests/hazards/unwinding.sh tests/hazards/unw_deadlock.sh \
	tests/hazards/unw_sigalloc.sh tests/hazards/unw_swap.sh

tests/hazards/unwinding.log tests/hazards/unwinding_stress.log: lib/libheapprof.la \
	$(UNW_PROGS) tests/progs/libunw_plugin.la tests/progs/libunw_swap_a.la \
	tests/progs/libunw_swap_b.la tests/progs/libunw_swap_c.la tests/progs/libunw_swap_d.la
