/* lib/unwind: call stacks of sampled allocations, with libunwind (local unwinding).
 * The only module that includes libunwind. Frames inside libheapprof (the entry points,
 * the profiler, the embedded jemalloc) are skipped, so a stack starts at the allocator's
 * caller. */
#ifndef HP_UNWIND_H
#define HP_UNWIND_H
#include <stdint.h>

/* Initialises libunwind once (per-thread caches, see unwind.c). 0 or -errno. */
int hp_unwind_init(void);

/* Fills pcs with up to max return addresses, innermost first; returns how many. Takes no
 * profiler lock; must be called with the thread's re-entrancy guard set. */
int hp_unwind_capture(uint64_t *pcs, int max);

/* fork: hold off / let through unwinding threads (see unwind.c). */
void hp_unwind_fork_prepare(void);
void hp_unwind_fork_parent(void);
void hp_unwind_fork_child(void);

#endif
