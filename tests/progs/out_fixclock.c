/* tests/progs/out_fixclock.c: an LD_PRELOAD shim (a libtool module, tests/progs/out_fixclock.la)
 * that makes the temporary file names of heapprof's dumps predictable, so that a test can
 * plant symlinks and FIFOs at them (tests/hazards/out_planted.sh).
 *
 *   LD_PRELOAD="tests/progs/.libs/out_fixclock.so lib/.libs/libheapprof.so" PROGRAM ...
 *
 * clock_gettime(CLOCK_MONOTONIC) returns the real seconds with tv_nsec fixed to 1, the
 * value heapprof derives its temporary name from; every other clock is passed through. The
 * time is read with the raw system call, so the shim needs no dlsym (which may allocate,
 * and the allocator is heapprof). */
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_gettime(clockid_t id, struct timespec *ts);

int clock_gettime(clockid_t id, struct timespec *ts)
{
	long r = syscall(SYS_clock_gettime, id, ts);

	if (r != 0)
		return -1;	/* errno set by syscall() */
	if (id == CLOCK_MONOTONIC)
		ts->tv_nsec = 1;
	return 0;
}
