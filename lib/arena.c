/* lib/arena: the sampled arena over one reserved address range, and the profiler's own
 * allocations. See arena.h for why. The only module that includes jemalloc's header. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#define JEMALLOC_NO_DEMANGLE
#include <jemalloc/jemalloc.h>

#include "arena.h"
#include "log.h"

uintptr_t hp_range_key = UINTPTR_MAX;
uintptr_t hp_range_base;
uintptr_t hp_range_size;

/* Next free address of the range; extents are carved upwards and never given back
 * (jemalloc retains and reuses them: our dalloc hook declines). */
static _Atomic uintptr_t bump;
static unsigned sampled_arena;
static int range_full_reported;

/* Largest reservation first: with rate=1 the whole heap lives in the range. A smaller one
 * is taken when the address space is limited (ulimit -v). */
#define RANGE_MAX ((uintptr_t)1 << 40)
#define RANGE_MIN ((uintptr_t)1 << 30)

static uintptr_t align_up(uintptr_t x, uintptr_t a)
{
	return (x + a - 1) & ~(a - 1);
}

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment,
			bool *zero, bool *commit, unsigned ind)
{
	uintptr_t cur, start, end, limit = hp_range_base + hp_range_size;

	if (new_addr != NULL)
		return NULL;	/* growing in place is optional for jemalloc */
	if (alignment < 4096)
		alignment = 4096;
	cur = atomic_load_explicit(&bump, memory_order_relaxed);
	do {
		start = align_up(cur, alignment);
		end = start + size;
		if (end < start || end > limit) {
			/* A request that could never fit (new char[1ull << 62]) is just ENOMEM;
			 * only a modest one that no longer fits means the range is full. */
			if (size <= hp_range_size / 16 && alignment <= hp_range_size / 16)
				hp_log_once(&range_full_reported, "the sampled arena's address range "
					    "is full; further samples are not recorded (lower the rate)");
			return NULL;
		}
	} while (!atomic_compare_exchange_weak_explicit(&bump, &cur, end, memory_order_relaxed,
							 memory_order_relaxed));
	if (mprotect((void *)start, size, PROT_READ | PROT_WRITE) != 0)
		return NULL;
	*zero = true;	/* never touched before: the kernel gives zero pages */
	*commit = true;
	return (void *)start;
}

static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned ind)
{
	return true;	/* declined: jemalloc keeps the extent for reuse */
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned ind)
{
	madvise(addr, size, MADV_DONTNEED);
}

static bool hook_commit(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
			unsigned ind)
{
	return mprotect((char *)addr + off, len, PROT_READ | PROT_WRITE) != 0;
}

static bool hook_decommit(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
			  unsigned ind)
{
	return true;	/* not supported: jemalloc purges instead */
}

static bool hook_purge_lazy(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
			    unsigned ind)
{
	return madvise((char *)addr + off, len, MADV_FREE) != 0;
}

static bool hook_purge_forced(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
			      unsigned ind)
{
	return madvise((char *)addr + off, len, MADV_DONTNEED) != 0;
}

static bool hook_split(extent_hooks_t *h, void *addr, size_t size, size_t a, size_t b,
		       bool committed, unsigned ind)
{
	return false;
}

static bool hook_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb,
		       bool committed, unsigned ind)
{
	return false;
}

static extent_hooks_t hooks = {
	hook_alloc, hook_dalloc, hook_destroy, hook_commit, hook_decommit,
	hook_purge_lazy, hook_purge_forced, hook_split, hook_merge
};

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

/* 2 TiB of address space, no memory: keep the 1 TiB-aligned TiB inside, give back the rest. */
static int reserve_aligned_by_trimming(void)
{
	const uintptr_t tib = (uintptr_t)1 << HP_RANGE_SHIFT;
	char *p = mmap(NULL, 2 * tib, PROT_NONE, RESERVE_FLAGS, -1, 0);
	uintptr_t start, end;

	if (p == MAP_FAILED)
		return -errno;
	start = align_up((uintptr_t)p, tib);
	end = start + tib;
	if (start > (uintptr_t)p)
		munmap(p, start - (uintptr_t)p);
	if ((uintptr_t)p + 2 * tib > end)
		munmap((void *)end, (uintptr_t)p + 2 * tib - end);
	hp_range_base = start;
	hp_range_size = tib;
	return 0;
}

/* Where 2 TiB cannot be had at once (valgrind, some limits), an aligned TiB may still be
 * free: ask for a few of them by address, without replacing anything. */
static int reserve_aligned_by_address(void)
{
	const uintptr_t tib = (uintptr_t)1 << HP_RANGE_SHIFT;

	for (uintptr_t k = 0x7e; k >= 0x60; k--) {
		void *want = (void *)(k << HP_RANGE_SHIFT);
		void *p = mmap(want, tib, PROT_NONE, RESERVE_FLAGS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p == want) {
			hp_range_base = (uintptr_t)p;
			hp_range_size = tib;
			return 0;
		}
		if (p != MAP_FAILED)
			munmap(p, tib);	/* a kernel that took the address as a mere hint */
	}
	return -ENOMEM;
}

static int reserve_range(void)
{
	if (reserve_aligned_by_trimming() != 0 && reserve_aligned_by_address() != 0) {
		uintptr_t size = RANGE_MAX >> 1;
		void *p;

		while ((p = mmap(NULL, size, PROT_NONE, RESERVE_FLAGS, -1, 0)) == MAP_FAILED) {
			if ((size >>= 1) < RANGE_MIN)
				return -errno;
		}
		hp_range_base = (uintptr_t)p;
		hp_range_size = size;
	}
	atomic_store(&bump, hp_range_base);
	return 0;
}

int hp_arena_init(void)
{
	extent_hooks_t *hp = &hooks;
	unsigned ind;
	size_t sz = sizeof(ind);
	uintptr_t base;
	int err = reserve_range();


	if (err)
		return err;
	/* The range must not be visible to free() until the arena exists; hp_range_size is
	 * set by reserve_range but nothing is allocated in the range before the arena is. */
	if (hpje_mallctl("arenas.create", &ind, &sz, &hp, sizeof(hp)) != 0) {
		base = hp_range_base;
		munmap((void *)base, hp_range_size);
		hp_range_size = 0;
		hp_range_base = 0;
		return -ENOMEM;
	}
	sampled_arena = ind;
	/* Published last: free() may look at the range only once the arena exists. */
	__atomic_store_n(&hp_range_key, hp_range_base >> HP_RANGE_SHIFT, __ATOMIC_RELEASE);
	return 0;
}

void *hp_arena_alloc(size_t size, size_t align, int zero)
{
	int flags = MALLOCX_ARENA(sampled_arena) | MALLOCX_TCACHE_NONE;

	if (align > 1)
		flags |= MALLOCX_ALIGN(align);
	if (zero)
		flags |= MALLOCX_ZERO;
	return hpje_mallocx(size ? size : 1, flags);
}

void *hp_plain_alloc(size_t size, size_t align, int zero)
{
	int flags = 0;

	if (align > 1)
		flags |= MALLOCX_ALIGN(align);
	if (zero)
		flags |= MALLOCX_ZERO;
	return hpje_mallocx(size ? size : 1, flags);
}

void hp_arena_free(void *p)
{
	hpje_dallocx(p, MALLOCX_TCACHE_NONE);
}

size_t hp_usable_size(const void *p)
{
	return hpje_malloc_usable_size(p);
}

void *hp_ialloc(size_t n)
{
	return hpje_malloc(n);
}

void *hp_icalloc(size_t n)
{
	return hpje_calloc(1, n);
}

void hp_ifree(void *p)
{
	hpje_free(p);
}
