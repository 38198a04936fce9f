/* lib/lock: the profiler's short-held mutex, for the stack table's shards.
 *
 * One int: 0 free, 1 held, 2 held and somebody may be asleep on it (a futex). Taking a
 * free lock is one compare-and-swap, giving it back one exchange: about 8 instructions
 * for the pair where glibc's pthread_mutex_lock/unlock take about 50 (the kind check, the
 * owner and user counts, elision), and a sampled block takes four of them. A waiter spins
 * a little (the holders keep these locks for tens of nanoseconds), then sleeps in the
 * kernel. Not recursive, no owner: the same rules as a default pthread mutex, and, like
 * one, safe to re-create in a fork child by storing 0 (hp_lock_reset). A zeroed hp_lock
 * (a static one) is free.
 * The futex calls are made without touching errno (the allocator preserves it). */
#ifndef HP_LOCK_H
#define HP_LOCK_H

typedef struct hp_lock {
	int v;
} hp_lock;

/* The contended paths (lib/lock.c). */
void hp_lock_wait(hp_lock *l);
void hp_lock_wake(hp_lock *l);

static inline void hp_lock_take(hp_lock *l)
{
	int free_ = 0;

	if (__builtin_expect(__atomic_compare_exchange_n(&l->v, &free_, 1, 0, __ATOMIC_ACQUIRE,
							 __ATOMIC_RELAXED), 1))
		return;
	hp_lock_wait(l);
}

static inline void hp_lock_give(hp_lock *l)
{
	if (__builtin_expect(__atomic_exchange_n(&l->v, 0, __ATOMIC_RELEASE) == 2, 0))
		hp_lock_wake(l);
}

/* A fork child's copy of a lock another thread of the parent may have held. */
static inline void hp_lock_reset(hp_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELAXED);
}

#endif
