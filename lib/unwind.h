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

/* Around any other dl_iterate_phdr call of the profiler (the dump's symbol snapshot):
 * glibc does not reset the loader's dl_iterate_phdr lock in a fork child, so fork must not
 * happen while one of our threads holds it. These hold off fork (the unwind lock, read). */
void hp_unwind_loader_enter(void);
void hp_unwind_loader_exit(void);

/* fork: hold off / let through unwinding threads (see unwind.c). */
void hp_unwind_fork_prepare(void);
void hp_unwind_fork_parent(void);
void hp_unwind_fork_child(void);

#endif
