/* lib/arena: jemalloc inside heapprof.
 *
 * jemalloc's PIC archive is linked in with its public names prefixed hpje_ (see
 * lib/jemalloc.syms), so the entry points in lib/alloc.c call it directly. Sampled
 * allocations are served from one dedicated arena whose extent hooks carve memory out of a
 * single reserved address range, so "was this pointer sampled?" is a range check that
 * touches no shared memory: free's fast path is two loads, a subtract and a compare.
 * The profiler's own memory (stack table, live map, dump buffers) comes from jemalloc
 * through hp_ialloc/hp_ifree, never through the interposed malloc. */
#ifndef HP_ARENA_H
#define HP_ARENA_H
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* The sampled range is carved from a 1 TiB block aligned to 1 TiB, so the fast check is a
 * shift and a compare with hp_range_key (the block's number, written once at
 * initialisation; an impossible value before, so nothing matches). When the address space
 * is too limited for that block (ulimit -v), a smaller, unaligned range is used: the fast
 * check may then say yes for other pointers of the same 1 TiB block, and the slow path
 * asks hp_is_sampled for the exact answer. */
#define HP_RANGE_SHIFT 40
extern uintptr_t hp_range_key;
extern uintptr_t hp_range_base;
extern uintptr_t hp_range_size;

static inline int hp_maybe_sampled(const void *p)
{
	return ((uintptr_t)p >> HP_RANGE_SHIFT) == hp_range_key;
}

static inline int hp_is_sampled(const void *p)
{
	return (uintptr_t)p - hp_range_base < hp_range_size;
}

/* Reserves the range and creates the sampled arena. 0 or -errno. Called once. */
int hp_arena_init(void);

/* Allocation in the sampled arena (no thread cache: a freed block must never come back
 * to an unsampled malloc). size 0 is treated as 1; align 0 means the default. NULL on
 * failure (range exhausted or out of memory). */
void *hp_arena_alloc(size_t size, size_t align, int zero);
void hp_arena_free(void *p);

/* The same through jemalloc's ordinary arenas (unsampled). */
void *hp_plain_alloc(size_t size, size_t align, int zero);

/* Bytes of jemalloc's usable size of p (any pointer jemalloc returned). */
size_t hp_usable_size(const void *p);

/* The profiler's own memory. */
void *hp_ialloc(size_t n);
void *hp_icalloc(size_t n);
void hp_ifree(void *p);

/* jemalloc's entry points, renamed (lib/jemalloc.syms). */
void *hpje_malloc(size_t size);
void *hpje_calloc(size_t n, size_t size);
void *hpje_realloc(void *p, size_t size);
void hpje_free(void *p);
int hpje_posix_memalign(void **out, size_t align, size_t size);
void *hpje_mallocx(size_t size, int flags);
void hpje_dallocx(void *p, int flags);
void hpje_sdallocx(void *p, size_t size, int flags);
size_t hpje_malloc_usable_size(const void *p);
int hpje_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

#pragma GCC visibility pop

#endif
