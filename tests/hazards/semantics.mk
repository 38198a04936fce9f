# tests/hazards/semantics.mk: see doc/RELIABILITY.md. Included by Makefile.am.
# The allocator's and the settings' semantics (all quick: make check):
#
#   tests/hazards/libc_semantics.sh  glibc 2.36's malloc family semantics, transcripts of
#                                    tests/progs/sem_libc identical without the library,
#                                    preloaded at rate=1 and at the default rate, linked
#   tests/hazards/settings.sh        bad HEAPPROF values: one warning each, the program
#                                    unchanged, the default rate kept (tests/progs/sem_echo)
#   tests/hazards/setuid.sh          a set-uid program ignores HEAPPROF and writes nothing
#                                    (needs root; compiles tests/progs/sem_suid.c itself)
#   tests/hazards/cxx_dlopen.sh      a C program dlopens a C++ plugin: every new/delete form
#                                    reaches heapprof, exact figures at rate=1
#   tests/hazards/ctor_dtor.sh       allocations in constructors, atexit handlers and
#                                    destructors, before main and after the exit profile

check_PROGRAMS += \
	tests/progs/sem_libc \
	tests/progs/sem_libc_linked \
	tests/progs/sem_echo \
	tests/progs/sem_dlopen_cxx \
	tests/progs/sem_dlopen_cxx_linked \
	tests/progs/sem_ctor_main \
	tests/progs/sem_ctor_main_linked

# -fno-builtin: every call in the source reaches the allocator (no folding of malloc(0) !=
# NULL, no elided malloc/free pairs).
tests_progs_sem_libc_SOURCES = tests/progs/sem_libc.c
tests_progs_sem_libc_CFLAGS = $(HP_PROG_CFLAGS) -fno-builtin
tests_progs_sem_libc_LDADD = -ldl
tests_progs_sem_libc_linked_SOURCES = tests/progs/sem_libc.c
tests_progs_sem_libc_linked_CFLAGS = $(HP_PROG_CFLAGS) -fno-builtin
tests_progs_sem_libc_linked_LDADD = lib/libheapprof.la -ldl
tests_progs_sem_libc_linked_LDFLAGS = -no-install

tests_progs_sem_echo_SOURCES = tests/progs/sem_echo.c
tests_progs_sem_echo_CFLAGS = $(HP_PROG_CFLAGS)

# Shared libraries for the tests only: -rpath makes libtool build them shared (in
# tests/progs/.libs); nothing installs them.
SEMANTICS_LTLIBS = tests/progs/libsem_cxx_plugin.la tests/progs/libsem_ctor_lib.la
check_LTLIBRARIES += $(SEMANTICS_LTLIBS)

tests_progs_libsem_cxx_plugin_la_SOURCES = tests/progs/sem_cxx_plugin.cc
tests_progs_libsem_cxx_plugin_la_CXXFLAGS = -std=c++17 -O1 -g -fno-omit-frame-pointer -Wall -Wextra
tests_progs_libsem_cxx_plugin_la_LDFLAGS = -module -avoid-version -rpath /nowhere

# A C program: linked by the C compiler driver, without libstdc++.
tests_progs_sem_dlopen_cxx_SOURCES = tests/progs/sem_dlopen_cxx.c
tests_progs_sem_dlopen_cxx_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_sem_dlopen_cxx_LDADD = -ldl
tests_progs_sem_dlopen_cxx_linked_SOURCES = tests/progs/sem_dlopen_cxx.c
tests_progs_sem_dlopen_cxx_linked_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_sem_dlopen_cxx_linked_LDADD = lib/libheapprof.la -ldl
# The program calls nothing of the library itself: --no-as-needed keeps it linked.
tests_progs_sem_dlopen_cxx_linked_LDFLAGS = -no-install -Wl,--no-as-needed

tests_progs_libsem_ctor_lib_la_SOURCES = tests/progs/sem_ctor_lib.c
tests_progs_libsem_ctor_lib_la_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_libsem_ctor_lib_la_LDFLAGS = -avoid-version -rpath /nowhere

tests_progs_sem_ctor_main_SOURCES = tests/progs/sem_ctor_main.c
tests_progs_sem_ctor_main_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_sem_ctor_main_LDADD = tests/progs/libsem_ctor_lib.la
tests_progs_sem_ctor_main_LDFLAGS = -no-install
tests_progs_sem_ctor_main_linked_SOURCES = tests/progs/sem_ctor_main.c
tests_progs_sem_ctor_main_linked_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_sem_ctor_main_linked_LDADD = tests/progs/libsem_ctor_lib.la lib/libheapprof.la
tests_progs_sem_ctor_main_linked_LDFLAGS = -no-install

SEMANTICS_TESTS = \
	tests/hazards/libc_semantics.sh \
	tests/hazards/settings.sh \
	tests/hazards/setuid.sh \
	tests/hazards/cxx_dlopen.sh \
	tests/hazards/ctor_dtor.sh
TESTS += $(SEMANTICS_TESTS)
EXTRA_DIST += $(SEMANTICS_TESTS) tests/progs/sem_suid.c

# The tests need the library itself (and the test libraries), not only what
# check_PROGRAMS depend on.
$(SEMANTICS_TESTS:.sh=.log): lib/libheapprof.la $(SEMANTICS_LTLIBS)
