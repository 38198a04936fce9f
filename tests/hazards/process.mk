# tests/hazards/process.mk: see doc/RELIABILITY.md. Included by Makefile.am.
#
# Process-level hazards: descriptors the program closes and reuses, threads that come and
# go (and allocate in their exit destructors), fork / posix_spawn / vfork from threaded
# processes, the program's own signal handlers and signal storms.
#
#   tests/hazards/proc_fdreuse.sh  reused descriptor numbers stay the program's; no fd kept
#   tests/hazards/proc_threads.sh  10,000 threads, thread-exit destructors, signals + forks
#   tests/hazards/proc_fork.sh     100 forks, posix_spawn and vfork under rate=1 threads
#   tests/hazards/proc_signals.sh  the program's SIGUSR1 handler, signal=USR2, a 3 s storm
#   tests/hazards/proc_stress.sh   (make stress) the long versions: 30 s of signals + forks,
#                                  a 30 s storm, more forks and threads
# Shared shell helpers: tests/hazards/proc_lib.sh.

# Allocation sites without unwind information (no .eh_frame FDE, no frame pointer): an
# object of its own, compiled by this rule so that these flags come last and win over any
# CFLAGS (-g would add .debug_frame, -fasynchronous-unwind-tables an FDE).
PROC_NOUW_OBJ = tests/progs/proc_nouw-nouw.$(OBJEXT)
PROC_NOUW_FLAGS = -O2 -g0 -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-fno-exceptions -fomit-frame-pointer
$(PROC_NOUW_OBJ): $(srcdir)/tests/progs/proc_nouw.c $(srcdir)/tests/progs/proc_nouw.h
	@$(MKDIR_P) tests/progs
	$(AM_V_CC)$(CC) $(DEFS) $(DEFAULT_INCLUDES) $(INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) \
		$(AM_CFLAGS) $(CFLAGS) $(PROC_NOUW_FLAGS) -c -o $@ $(srcdir)/tests/progs/proc_nouw.c
CLEANFILES += $(PROC_NOUW_OBJ)
EXTRA_DIST += tests/progs/proc_nouw.c tests/progs/proc_nouw.h

check_PROGRAMS += \
	tests/progs/proc_fdreuse \
	tests/progs/proc_fdreuse_linked \
	tests/progs/proc_threads \
	tests/progs/proc_fork \
	tests/progs/proc_signals \
	tests/progs/proc_signals_linked \
	tests/progs/proc_sigsend

tests_progs_proc_fdreuse_SOURCES = tests/progs/proc_fdreuse.c
tests_progs_proc_fdreuse_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_proc_fdreuse_LDADD = $(PROC_NOUW_OBJ)
tests_progs_proc_fdreuse_DEPENDENCIES = $(PROC_NOUW_OBJ)

tests_progs_proc_fdreuse_linked_SOURCES = tests/progs/proc_fdreuse.c
tests_progs_proc_fdreuse_linked_CPPFLAGS = $(AM_CPPFLAGS) -DUSE_API
tests_progs_proc_fdreuse_linked_CFLAGS = $(HP_PROG_CFLAGS)
tests_progs_proc_fdreuse_linked_LDADD = $(PROC_NOUW_OBJ) lib/libheapprof.la
tests_progs_proc_fdreuse_linked_DEPENDENCIES = $(PROC_NOUW_OBJ) lib/libheapprof.la
tests_progs_proc_fdreuse_linked_LDFLAGS = -no-install

# C and C++ (thread_local objects in proc_tls.cc): linked by the C++ driver.
tests_progs_proc_threads_SOURCES = tests/progs/proc_threads.c tests/progs/proc_tls.cc
tests_progs_proc_threads_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_proc_threads_CXXFLAGS = -std=c++17 -O2 -g -fno-omit-frame-pointer -pthread \
	-Wall -Wextra
tests_progs_proc_threads_LDADD = -lpthread

tests_progs_proc_fork_SOURCES = tests/progs/proc_fork.c
tests_progs_proc_fork_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_proc_fork_LDADD = -lpthread

tests_progs_proc_signals_SOURCES = tests/progs/proc_signals.c
tests_progs_proc_signals_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_proc_signals_LDADD = -lpthread

tests_progs_proc_signals_linked_SOURCES = tests/progs/proc_signals.c
tests_progs_proc_signals_linked_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_proc_signals_linked_LDADD = lib/libheapprof.la -lpthread
tests_progs_proc_signals_linked_LDFLAGS = -no-install

tests_progs_proc_sigsend_SOURCES = tests/progs/proc_sigsend.c
tests_progs_proc_sigsend_CFLAGS = $(HP_PROG_CFLAGS)

PROC_TESTS = \
	tests/hazards/proc_fdreuse.sh \
	tests/hazards/proc_threads.sh \
	tests/hazards/proc_fork.sh \
	tests/hazards/proc_signals.sh
PROC_STRESS_TESTS = tests/hazards/proc_stress.sh
TESTS += $(PROC_TESTS)
STRESS_TESTS += $(PROC_STRESS_TESTS)
EXTRA_DIST += $(PROC_TESTS) tests/hazards/proc_lib.sh

# The tests need the library itself, not only what check_PROGRAMS depend on.
$(PROC_TESTS:.sh=.log) $(PROC_STRESS_TESTS:.sh=.log): lib/libheapprof.la

# main calls pthread_exit: the helper thread must not keep the process alive.
check_PROGRAMS += tests/progs/proc_mainexit
tests_progs_proc_mainexit_SOURCES = tests/progs/proc_mainexit.c
tests_progs_proc_mainexit_CFLAGS = $(HP_PROG_CFLAGS) -pthread
tests_progs_proc_mainexit_LDADD = -lpthread
TESTS += tests/hazards/proc_exit.sh
EXTRA_DIST += tests/hazards/proc_exit.sh
tests/hazards/proc_exit.log: lib/libheapprof.la
