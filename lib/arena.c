/* lib/arena: the sampled arena over one reserved address range, and the profiler's own
 * allocations. See arena.h for why. The only module that includes jemalloc's header. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#define JEMALLOC_NO_DEMANGLE
#include <jemalloc/jemalloc.h>

#include "arena.h"
#include "huge.h"
#include "log.h"

/* Built-in defaults for jemalloc's options (doc/SETTINGS.md, "jemalloc's own settings").
 * jemalloc reads this string (its malloc_conf, renamed) before /etc/malloc.conf and the
 * MALLOC_CONF environment variable, so both still override it.
 * tcache_gc_incr_bytes: a thread cache is trimmed (the unused part of one bin returned to
 * its arena) each time the thread has allocated this many bytes through it; jemalloc's
 * 64 KiB makes that event cost 2.3 instructions per malloc+free pair on small-object churn
 * (callgrind). What a thread cache can hold is capped by its slot counts whatever the
 * interval, an idle thread's cache is never trimmed by this event at any interval (only its
 * own allocations trigger it), and exit flushes it: 1 MiB only makes a busy thread whose
 * working set shrank hand back its surplus after 1 MiB of allocation instead of 64 KiB. */
const char *hpje_malloc_conf = "tcache_gc_incr_bytes:1048576";

uintptr_t hp_range_key = UINTPTR_MAX;
uintptr_t hp_range_base;
uintptr_t hp_range_size;

/* Next free address of the range; extents are carved upwards and never given back
 * (jemalloc retains and reuses them: our dalloc hook declines). */
static _Atomic uintptr_t bump;
static uintptr_t bump_limit;	/* the arena's part of the range: all of it, or the lower half */
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
	uintptr_t cur, start, end, limit = bump_limit;

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
	bump_limit = hp_range_base + hp_range_size;
	/* A whole aligned TiB: its upper half holds the slots of large sampled blocks. */
	if (hp_range_size == (uintptr_t)1 << HP_RANGE_SHIFT) {
		bump_limit = hp_range_base + hp_range_size / 2;
		hp_huge_init(bump_limit, hp_range_size / 2);
	}
	return 0;
}

static void tune_sampled_arena(unsigned ind);	/* with the profiler's own memory, below */

/* jemalloc 5.3 creates arena 0 before it reads its options, so arena 0 keeps the default
 * oversize threshold (8 MiB: a free run of dirty pages that coalesces to at least that much
 * is returned at once) whatever MALLOC_CONF says; the arenas created later follow the
 * option. Make arena 0 follow it too, so that MALLOC_CONF=oversize_threshold:N means the
 * same for every arena. (0, "disabled", is jemalloc's "larger than any extent".) */
static void fix_arena0_oversize(void)
{
	size_t v, sz = sizeof(v);

	if (hpje_mallctl("opt.oversize_threshold", &v, &sz, NULL, 0) != 0)
		return;
	if (v == 0)
		v = SIZE_MAX;
	hpje_mallctl("arena.0.oversize_threshold", NULL, NULL, &v, sizeof(v));
}

static sigset_t je_async;	/* every signal but the synchronous ones */
static __thread int je_depth;
static __thread sigset_t je_old;

void hp_je_enter(void)
{
	if (je_depth++ == 0)
		pthread_sigmask(SIG_BLOCK, &je_async, &je_old);
}

void hp_je_leave(void)
{
	if (--je_depth == 0)
		pthread_sigmask(SIG_SETMASK, &je_old, NULL);
}

void hp_je_all_blocked(void)
{
	je_depth++;
}

void hp_arena_thread_whole(void)
{
	/* nallocx fetches the thread's state the full way (malloc's), not free's minimal one */
	(void)hpje_nallocx(1, 0);
}

int hp_arena_init(void)
{
	extent_hooks_t *hp = &hooks;
	unsigned ind;
	size_t sz = sizeof(ind);
	uintptr_t base;
	int err = reserve_range();

	sigfillset(&je_async);	/* faults stay deliverable */
	sigdelset(&je_async, SIGSEGV);
	sigdelset(&je_async, SIGBUS);
	sigdelset(&je_async, SIGILL);
	sigdelset(&je_async, SIGFPE);
	sigdelset(&je_async, SIGTRAP);

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
	tune_sampled_arena(ind);
	fix_arena0_oversize();
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

/* This thread's explicit cache for the batches: its index, NO_TC before the thread asked
 * for one, FAILED_TC if jemalloc gave none (tcache:false, or its 4093 explicit caches in
 * use: the batches then make plain calls). */
#define NO_TC (-1)
#define FAILED_TC (-2)
static __thread int batch_tc = NO_TC;

void hp_arena_batch_open(void)
{
	unsigned tc;
	size_t sz = sizeof(tc);

	if (batch_tc == NO_TC)
		batch_tc = hpje_mallctl("tcache.create", &tc, &sz, NULL, 0) == 0 && tc <= INT_MAX ?
				   (int)tc : FAILED_TC;
}

void hp_arena_batch_close(void)
{
	unsigned tc;

	if (batch_tc >= 0) {
		tc = (unsigned)batch_tc;
		hpje_mallctl("tcache.destroy", NULL, NULL, &tc, sizeof(tc));
	}
	batch_tc = NO_TC;
}

void *hp_arena_batch_alloc(size_t size)
{
	if (batch_tc < 0)
		return hp_arena_alloc(size, 0, 0);
	return hpje_mallocx(size ? size : 1, MALLOCX_ARENA(sampled_arena) | MALLOCX_TCACHE(batch_tc));
}

void hp_arena_batch_free(void *p)
{
	if (batch_tc < 0) {
		hp_arena_free(p);
		return;
	}
	hpje_dallocx(p, MALLOCX_TCACHE(batch_tc));
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
	if (hp_huge_has(p)) {
		hp_huge_free(p);
		return;
	}
	hpje_dallocx(p, MALLOCX_TCACHE_NONE);
}

size_t hp_usable_size(const void *p)
{
	if (hp_huge_has(p))
		return hp_huge_usable(p);
	return hpje_malloc_usable_size(p);
}

int hp_arena_resize(void *p, size_t n)
{
	if (hp_huge_has(p))
		return hp_huge_resize(p, n);
	return hpje_xallocx(p, n, 0, 0) >= n;
}

size_t hp_arena_small_max(void)
{
	unsigned nbins;
	size_t size, len = sizeof(nbins);
	char name[64];

	if (hpje_mallctl("arenas.nbins", &nbins, &len, NULL, 0) != 0 || nbins == 0)
		return 0;
	snprintf(name, sizeof(name), "arenas.bin.%u.size", nbins - 1);
	len = sizeof(size);
	return hpje_mallctl(name, &size, &len, NULL, 0) == 0 ? size : 0;
}

/* ---- the profiler's own memory (doc/DESIGN.md, "The profiler's own memory") ---------- */

/* Freed sampled blocks must not stay resident for long: the sampled blocks are the big
 * ones (a block of s bytes is sampled with probability 1 - e^(-s/rate)), and the dirty
 * pages of a few freed ones were 15% of python's live heap. But purging each one at once
 * (decay 0) made a program that allocates and frees large buffers pay the page faults
 * of a fresh block on every sampled one: 256 KiB buffers in a loop ran 4-5x slower at the
 * default rate. So freed pages stay dirty for reuse up to a second (dirty decay 1 s, then
 * straight to MADV_DONTNEED: muzzy decay 0). jemalloc's decay only runs on its allocation
 * ticks, which a sampled arena sees a few of a second: the helper thread calls
 * hp_arena_decay() once a second as well. */
#define SAMPLED_DIRTY_DECAY_MS 1000

static void tune_sampled_arena(unsigned ind)
{
	static const char *const knobs[] = { "dirty_decay_ms", "muzzy_decay_ms" };
	const ssize_t ms[] = { SAMPLED_DIRTY_DECAY_MS, 0 };
	char name[64];

	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(name, sizeof(name), "arena.%u.%s", ind, knobs[i]);
		hpje_mallctl(name, NULL, NULL, (void *)&ms[i], sizeof(ms[i]));
	}
}

void hp_arena_decay(void)
{
	char name[48];

	if (__atomic_load_n(&hp_range_key, __ATOMIC_ACQUIRE) == UINTPTR_MAX)
		return;	/* no sampled arena */
	snprintf(name, sizeof(name), "arena.%u.decay", sampled_arena);
	hpje_mallctl(name, NULL, NULL, NULL, 0);
	hp_huge_decay();
}

/* One counter per kind, each on its own cache line: the stack table and lib/sampcache's
 * arrays grow on the sample path of every thread. */
static struct {
	size_t bytes;
	char pad[64 - sizeof(size_t)];
} __attribute__((aligned(64))) own[HP_MEM_NKINDS];

static void own_add(int kind, const void *p)
{
	if (p)
		__atomic_fetch_add(&own[kind].bytes, hpje_malloc_usable_size(p), __ATOMIC_RELAXED);
}

static void own_sub(int kind, const void *p)
{
	if (p)
		__atomic_fetch_sub(&own[kind].bytes, hpje_malloc_usable_size(p), __ATOMIC_RELAXED);
}

/* Without the thread cache (the profiler's blocks never mix with the program's cached
 * ones), and with asynchronous signals blocked (hp_je_enter). */
void *hp_ialloc_k(int kind, size_t n)
{
	void *p;

	hp_je_enter();
	p = hpje_mallocx(n ? n : 1, MALLOCX_TCACHE_NONE);
	own_add(kind, p);
	hp_je_leave();
	return p;
}

void *hp_icalloc_k(int kind, size_t n)
{
	void *p;

	hp_je_enter();
	p = hpje_mallocx(n ? n : 1, MALLOCX_ZERO | MALLOCX_TCACHE_NONE);
	own_add(kind, p);
	hp_je_leave();
	return p;
}

void *hp_irealloc_k(int kind, void *p, size_t n)
{
	size_t old;
	void *q;

	hp_je_enter();
	old = p ? hpje_malloc_usable_size(p) : 0;
	q = p ? hpje_rallocx(p, n ? n : 1, MALLOCX_TCACHE_NONE) :
		hpje_mallocx(n ? n : 1, MALLOCX_TCACHE_NONE);
	if (q) {
		__atomic_fetch_sub(&own[kind].bytes, old, __ATOMIC_RELAXED);
		own_add(kind, q);
	}
	hp_je_leave();
	return q;
}

char *hp_istrdup_k(int kind, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = hp_ialloc_k(kind, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

void hp_ifree_k(int kind, void *p)
{
	if (p) {
		hp_je_enter();
		own_sub(kind, p);
		hpje_dallocx(p, MALLOCX_TCACHE_NONE);
		hp_je_leave();
	}
}

void *hp_ialloc(size_t n)
{
	return hp_ialloc_k(HP_MEM_OTHER, n);
}

void *hp_icalloc(size_t n)
{
	return hp_icalloc_k(HP_MEM_OTHER, n);
}

void hp_ifree(void *p)
{
	hp_ifree_k(HP_MEM_OTHER, p);
}

#define MAX_STATICS 16
static struct {
	int kind;
	const void *p;
	size_t len;
} statics[MAX_STATICS];
static unsigned nstatics;	/* registered under the modules' pthread_once */

void hp_mem_static(int kind, const void *p, size_t len)
{
	unsigned i = __atomic_fetch_add(&nstatics, 1, __ATOMIC_ACQ_REL);

	if (i >= MAX_STATICS)
		return;
	statics[i].kind = kind;
	statics[i].p = p;
	statics[i].len = len;
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

/* Resident bytes of [p, p + len): mincore, page by page, 256 pages at a time. */
static size_t resident(const void *p, size_t len)
{
	const uintptr_t page = 4096;
	uintptr_t a = (uintptr_t)p & ~(page - 1), end = ((uintptr_t)p + len + page - 1) & ~(page - 1);
	unsigned char vec[256];
	size_t n = 0;

	while (a < end) {
		size_t pages = (end - a) / page;

		if (pages > sizeof(vec))
			pages = sizeof(vec);
		if (mincore((void *)a, pages * page, vec) != 0)
			return len;	/* cannot tell: count it all */
		for (size_t i = 0; i < pages; i++)
			n += (vec[i] & 1) ? page : 0;
		a += pages * page;
	}
	return n < len ? n : len;
}

size_t hp_mem_bytes(int kind)
{
	size_t n = __atomic_load_n(&own[kind].bytes, __ATOMIC_RELAXED);
	unsigned k = __atomic_load_n(&nstatics, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < k && i < MAX_STATICS; i++)
		if (statics[i].kind == kind && statics[i].p)
			n += resident(statics[i].p, statics[i].len);
	return n;
}

size_t hp_mem_heap(void)
{
	size_t n = 0;

	for (int k = 0; k < HP_MEM_NKINDS; k++)
		n += __atomic_load_n(&own[k].bytes, __ATOMIC_RELAXED);
	return n;
}

static size_t stat_size(const char *name)
{
	size_t v = 0, sz = sizeof(v);

	return hpje_mallctl(name, &v, &sz, NULL, 0) == 0 ? v : 0;
}

int hp_arena_mem_read(hp_arena_mem *m)
{
	uint64_t epoch = 1;
	size_t sz = sizeof(epoch);
	char name[96];

	memset(m, 0, sizeof(*m));
	if (hpje_mallctl("epoch", &epoch, &sz, &epoch, sz) != 0)
		return -ENOSYS;
	/* the slots' blocks are the program's too (jemalloc does not see them) */
	m->allocated = stat_size("stats.allocated") + hp_huge_live_bytes();
	if (!hp_range_size)
		return 0;	/* no sampled arena */
	snprintf(name, sizeof(name), "stats.arenas.%u.resident", sampled_arena);
	m->sampled_resident = stat_size(name) + hp_huge_cached_bytes();	/* freed slots' pages */
	snprintf(name, sizeof(name), "stats.arenas.%u.small.allocated", sampled_arena);
	m->sampled_allocated = stat_size(name);
	snprintf(name, sizeof(name), "stats.arenas.%u.large.allocated", sampled_arena);
	m->sampled_allocated += stat_size(name);
	snprintf(name, sizeof(name), "stats.arenas.%u.pdirty", sampled_arena);
	m->sampled_freed = stat_size(name) * (size_t)sysconf(_SC_PAGESIZE) + hp_huge_cached_bytes();
	return 0;
}
