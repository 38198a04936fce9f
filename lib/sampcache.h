/* lib/sampcache: per-thread caches of freed sampled blocks.
 *
 * Each sampled block went to jemalloc's sampled arena and back, without a thread cache
 * and with asynchronous signals blocked around the call (two rt_sigprocmask calls: more
 * than the rest of a sample). A thread now keeps freed sampled blocks of each small size
 * class up to HP_SAMPCACHE_MAX bytes — with sampling dense (rate up to
 * HP_SAMPCACHE_RATE_MAX; at rate=1 every allocation is sampled) up to HP_SAMPCACHE_MAG
 * blocks (HP_SAMPCACHE_MAG_BYTES) a class, in an array the thread allocates the first time
 * it caches a block of the class, else two, in its static thread-local storage — and hands
 * them to its next sampled allocations of the class: most samples make no call into
 * jemalloc and no system call. Blocks move between a thread's cache and the arena half a
 * cache at a time, signals blocked once for the batch; a thread's cache is emptied (and its
 * arrays freed) when it exits. Only this
 * thread touches its cache, always with the profiler's guard set (a signal handler's frees
 * are deferred then, its allocations unsampled), so it needs no lock. */
#ifndef HP_SAMPCACHE_H
#define HP_SAMPCACHE_H
#include <stddef.h>

#pragma GCC visibility push(hidden)

#define HP_SAMPCACHE_RATE_MAX ((size_t)64 << 10)
/* jemalloc's second class after 4 KiB (with 4 KiB pages): a 4 KiB request and its 16-byte
 * record (lib/liverec) fit in the first, 5 KiB, and in the 6 KiB that lib/prof rounds
 * them up to at sparse rates. */
#define HP_SAMPCACHE_MAX ((size_t)6144)
#define HP_SAMPCACHE_MAG 512		/* blocks a class, at most */
#define HP_SAMPCACHE_MAG_BYTES 131072	/* and at most this many bytes a class */

/* Learns jemalloc's size classes; called once the sampled arena exists. */
void hp_sampcache_init(void);

/* The usable size every sampled block allocated for size bytes has at least (jemalloc's
 * class for size), for sizes up to HP_SAMPCACHE_MAX; 0 for larger ones or when unknown. */
size_t hp_sampcache_class_size(size_t size);

/* A cached block of at least size bytes (zero-filled if zero), or NULL. */
void *hp_sampcache_get(size_t size, int zero, int dense);

/* Keeps the freed sampled block p, allocated for size bytes (its record's size: its usable
 * size is at least jemalloc's class for size). 0 when it does not take it. */
int hp_sampcache_put(void *p, size_t size, int dense);

/* Bytes of the blocks all threads' caches hold now (to 16 KiB a thread): jemalloc counts
 * them allocated; they are the sampled arena's overhead, not the program's heap. */
size_t hp_sampcache_held(void);

#pragma GCC visibility pop

#endif
