/* lib/lock: see lock.h. The waiting side is Drepper's "mutex2" ("Futexes Are Tricky",
 * 2011): a thread that finds the lock held marks it 2 before it sleeps, so that the
 * holder's release, which sees 2, wakes one sleeper; a woken thread takes the lock as 2
 * again, since others may still sleep. */
#include <linux/futex.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "lock.h"

#define SPINS 128

/* futex(2) without the libc wrapper, which would set errno on EAGAIN and EINTR. */
static long futex(int *uaddr, int op, int val)
{
	long ret;
	register void *timeout __asm__("r10") = NULL;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"((long)SYS_futex), "D"(uaddr), "S"((long)op), "d"((long)val),
			   "r"(timeout)
			 : "rcx", "r11", "memory");
	return ret;
}

void hp_lock_wait(hp_lock *l)
{
	int v;

	for (int i = 0; i < SPINS; i++) {
		__builtin_ia32_pause();
		v = __atomic_load_n(&l->v, __ATOMIC_RELAXED);
		if (v == 2)
			break;	/* others already sleep: queue behind them */
		if (v == 0 && __atomic_compare_exchange_n(&l->v, &v, 1, 0, __ATOMIC_ACQUIRE,
							  __ATOMIC_RELAXED))
			return;
	}
	while (__atomic_exchange_n(&l->v, 2, __ATOMIC_ACQUIRE) != 0)
		futex(&l->v, FUTEX_WAIT_PRIVATE, 2);
}

void hp_lock_wake(hp_lock *l)
{
	futex(&l->v, FUTEX_WAKE_PRIVATE, 1);
}
