/* lib/huge: see huge.h.
 *
 * The area is cut into five classes of slots, each slot aligned to its own size:
 *   64 MiB x 1024, 256 MiB x 256, 1 GiB x 64, 4 GiB x 32, 16 GiB x 8   (448 GiB).
 * A block takes the smallest class whose slot is at least 4 times its size (room to grow
 * in place), else the smallest it fits. The first `committed` bytes of a slot are readable
 * and writable, the rest of it PROT_NONE; a live block uses `used` <= committed of them.
 * Growing commits more pages (mprotect), shrinking releases the tail: no copy either way.
 *
 * A freed slot keeps its pages for up to a second, for the next block of its class (a
 * program that frees and allocates big buffers in a loop, or restarts a realloc growth,
 * then pays no page faults): at most CACHE_SLOTS per class and CACHE_BYTES in all. The
 * helper thread releases those freed more than a second ago once a second, and so does
 * every allocation and free of a slot's block. Without the helper (no signal, interval,
 * timer or peak trigger) nothing runs while the program is quiet, so the slots kept are
 * the ones jemalloc itself would keep dirty in that case: under NOHELPER_SLOT_MAX bytes
 * (jemalloc's oversize_threshold, above which it purges a freed extent at once), and
 * NOHELPER_BYTES in all. (Releasing every freed slot at once there had made a loop of 2
 * and 2.5 MB buffers 200 times slower than with the helper: 1.6 million page faults for
 * 3,000 iterations.) A slot is released by mapping fresh PROT_NONE pages over it: one
 * system call, nothing left resident, and the range stays ours.
 *
 * One mutex guards the slot stacks (never held across a system call); a live block's
 * `used` and `committed` are its owner's. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "arena.h"
#include "huge.h"
#include "trigger.h"

#define PAGE ((size_t)4096)
#define NCLASSES 5
#define NSLOTS (1024 + 256 + 64 + 32 + 8)
#define CACHE_SLOTS 16
#define CACHE_BYTES ((size_t)256 << 20)
#define CACHE_MS 1000
#define NOHELPER_SLOT_MAX ((size_t)8 << 20)
#define NOHELPER_BYTES ((size_t)32 << 20)

uintptr_t hp_huge_lo, hp_huge_hi;

typedef struct hclass {
	unsigned lg;		/* slot size: 1 << lg */
	unsigned n;		/* slots */
	uintptr_t base;
	unsigned first;		/* its first slot's index in the arrays below */
	unsigned nfree;		/* free_stack[first .. first + nfree): uncommitted slots */
	unsigned ncached;	/* cache_stack[first .. first + ncached): freed, committed */
} hclass;

static hclass classes[NCLASSES] = {
	{ 26, 1024, 0, 0, 0, 0 }, { 28, 256, 0, 0, 0, 0 }, { 30, 64, 0, 0, 0, 0 },
	{ 32, 32, 0, 0, 0, 0 }, { 34, 8, 0, 0, 0, 0 },
};

static struct {
	size_t committed[NSLOTS], used[NSLOTS];
	int64_t freed_ms[NSLOTS];
	unsigned free_stack[NSLOTS], cache_stack[NSLOTS];
	uint64_t rec[NSLOTS][2];	/* the blocks' records (lib/liverec) */
} s;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t live_bytes, cached_bytes;	/* atomic (cached_bytes changes under lock) */
static int64_t next_due_ms;	/* atomic: no cached slot is due for release before this */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void hp_huge_init(uintptr_t lo, uintptr_t size)
{
	uintptr_t off = 0;
	unsigned first = 0;

	if (size < HP_HUGE_AREA || (lo & (((uintptr_t)1 << 26) - 1)))
		return;
	for (int c = 0; c < NCLASSES; c++) {
		hclass *cl = &classes[c];

		cl->base = lo + off;
		cl->first = first;
		for (unsigned i = 0; i < cl->n; i++)	/* low slots first */
			s.free_stack[first + i] = first + cl->n - 1 - i;
		cl->nfree = cl->n;
		off += (uintptr_t)cl->n << cl->lg;
		first += cl->n;
	}
	hp_mem_static(HP_MEM_OTHER, &s, sizeof(s));
	hp_huge_lo = lo;
	hp_huge_hi = lo + off;
}

/* The slot of p, or -1 when p is not the start of a slot. */
static int slot_of(const void *p, const hclass **out)
{
	uintptr_t a = (uintptr_t)p;

	for (int c = 0; c < NCLASSES; c++) {
		const hclass *cl = &classes[c];
		uintptr_t off = a - cl->base;

		if (off < ((uintptr_t)cl->n << cl->lg)) {
			if (off & (((uintptr_t)1 << cl->lg) - 1))
				return -1;
			*out = cl;
			return (int)(cl->first + (off >> cl->lg));
		}
	}
	return -1;
}

static void *addr_of(const hclass *cl, unsigned idx)
{
	return (void *)(cl->base + ((uintptr_t)(idx - cl->first) << cl->lg));
}

/* Gives pages back: fresh PROT_NONE pages mapped over them. */
static void release(void *p, size_t len)
{
	if (!len)
		return;
	if (mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
		 0) == MAP_FAILED) {
		madvise(p, len, MADV_DONTNEED);
		mprotect(p, len, PROT_NONE);
	}
}

static size_t pages(size_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

void *hp_huge_alloc(size_t n, size_t align, int zero)
{
	size_t need;
	int c = 0;

	if (!hp_huge_hi || n < HP_HUGE_MIN || n > ((size_t)1 << classes[NCLASSES - 1].lg))
		return NULL;
	hp_huge_decay();	/* cheap when none is due */
	need = pages(n);
	while (c < NCLASSES && ((size_t)1 << classes[c].lg) / 4 < need)
		c++;	/* room to grow 4x in place */
	if (c == NCLASSES)
		for (c = 0; ((size_t)1 << classes[c].lg) < need; c++)
			;	/* the smallest it fits (n is at most the largest slot) */
	for (; c < NCLASSES; c++) {
		hclass *cl = &classes[c];
		size_t slot = (size_t)1 << cl->lg;
		unsigned idx;
		int cached = 0;
		char *p;

		if (need > slot || align > slot)
			continue;
		pthread_mutex_lock(&lock);
		if (cl->ncached) {
			idx = s.cache_stack[cl->first + --cl->ncached];
			__atomic_sub_fetch(&cached_bytes, s.committed[idx], __ATOMIC_RELAXED);
			cached = 1;
		} else if (cl->nfree) {
			idx = s.free_stack[cl->first + --cl->nfree];
		} else {
			pthread_mutex_unlock(&lock);
			continue;
		}
		pthread_mutex_unlock(&lock);
		p = addr_of(cl, idx);
		if (s.committed[idx] < need) {
			if (mprotect(p + s.committed[idx], need - s.committed[idx],
				     PROT_READ | PROT_WRITE) != 0) {
				release(p, s.committed[idx]);
				s.committed[idx] = 0;
				pthread_mutex_lock(&lock);
				s.free_stack[cl->first + cl->nfree++] = idx;
				pthread_mutex_unlock(&lock);
				return NULL;
			}
		} else if (s.committed[idx] - need >= HP_HUGE_MIN && s.committed[idx] > 2 * need) {
			release(p + need, s.committed[idx] - need);	/* keep a used slot lean */
			s.committed[idx] = need;
		}
		if (cached && zero)
			memset(p, 0, need);	/* fresh pages are zero already */
		if (s.committed[idx] < need)
			s.committed[idx] = need;
		s.used[idx] = need;
		__atomic_add_fetch(&live_bytes, need, __ATOMIC_RELAXED);
		return p;
	}
	return NULL;
}

void hp_huge_free(void *p)
{
	const hclass *cl;
	int idx = slot_of(p, &cl), helper;
	hclass *mcl;
	size_t cached;

	if (idx < 0 || !s.used[idx])
		return;	/* not a live block's start: a program's double or wild free */
	mcl = &classes[cl - classes];
	__atomic_sub_fetch(&live_bytes, s.used[idx], __ATOMIC_RELAXED);
	s.used[idx] = 0;
	hp_huge_decay();	/* also when no helper thread runs (it is cheap when none is due) */
	helper = hp_trigger_helper_running();
	pthread_mutex_lock(&lock);
	cached = __atomic_load_n(&cached_bytes, __ATOMIC_RELAXED);
	if (mcl->ncached < CACHE_SLOTS &&
	    (helper ? cached + s.committed[idx] <= CACHE_BYTES :
		      s.committed[idx] < NOHELPER_SLOT_MAX &&
			      cached + s.committed[idx] <= NOHELPER_BYTES)) {
		int64_t due;

		s.freed_ms[idx] = now_ms();
		due = s.freed_ms[idx] + CACHE_MS;
		s.cache_stack[mcl->first + mcl->ncached++] = (unsigned)idx;
		__atomic_add_fetch(&cached_bytes, s.committed[idx], __ATOMIC_RELAXED);
		if (!cached || due < __atomic_load_n(&next_due_ms, __ATOMIC_RELAXED))
			__atomic_store_n(&next_due_ms, due, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&lock);
		return;
	}
	pthread_mutex_unlock(&lock);
	release(p, s.committed[idx]);
	s.committed[idx] = 0;
	pthread_mutex_lock(&lock);
	s.free_stack[mcl->first + mcl->nfree++] = (unsigned)idx;
	pthread_mutex_unlock(&lock);
}

int hp_huge_resize(void *p, size_t n)
{
	const hclass *cl;
	int idx = slot_of(p, &cl);
	size_t need = pages(n ? n : 1);

	if (idx < 0 || !s.used[idx] || need > ((size_t)1 << cl->lg))
		return 0;
	if (need > s.committed[idx]) {
		if (mprotect((char *)p + s.committed[idx], need - s.committed[idx],
			     PROT_READ | PROT_WRITE) != 0)
			return 0;
		s.committed[idx] = need;
	} else if (s.committed[idx] - need >= HP_HUGE_MIN / 4) {
		release((char *)p + need, s.committed[idx] - need);
		s.committed[idx] = need;
	}
	__atomic_add_fetch(&live_bytes, need - s.used[idx], __ATOMIC_RELAXED);	/* wraps right */
	s.used[idx] = need;
	return 1;
}

uint64_t *hp_huge_rec(const void *p)
{
	const hclass *cl;
	int idx = slot_of(p, &cl);

	return idx < 0 ? NULL : s.rec[idx];
}

size_t hp_huge_usable(const void *p)
{
	const hclass *cl;
	int idx = slot_of(p, &cl);

	return idx < 0 ? 0 : s.used[idx];
}

size_t hp_huge_live_bytes(void)
{
	return __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
}

size_t hp_huge_cached_bytes(void)
{
	return __atomic_load_n(&cached_bytes, __ATOMIC_RELAXED);
}

void hp_huge_decay(void)
{
	int64_t now, due = INT64_MAX;

	if (!hp_huge_hi || !__atomic_load_n(&cached_bytes, __ATOMIC_RELAXED))
		return;
	now = now_ms();
	if (now < __atomic_load_n(&next_due_ms, __ATOMIC_RELAXED))
		return;
	for (int c = 0; c < NCLASSES; c++) {
		hclass *cl = &classes[c];

		for (;;) {
			unsigned idx = 0, i;
			int found = 0;

			pthread_mutex_lock(&lock);
			for (i = 0; i < cl->ncached; i++) {
				idx = s.cache_stack[cl->first + i];
				if (now - s.freed_ms[idx] >= CACHE_MS) {
					s.cache_stack[cl->first + i] =
						s.cache_stack[cl->first + --cl->ncached];
					__atomic_sub_fetch(&cached_bytes, s.committed[idx],
							   __ATOMIC_RELAXED);
					found = 1;
					break;
				}
			}
			pthread_mutex_unlock(&lock);
			if (!found)
				break;
			release(addr_of(cl, idx), s.committed[idx]);
			s.committed[idx] = 0;
			pthread_mutex_lock(&lock);
			s.free_stack[cl->first + cl->nfree++] = idx;
			pthread_mutex_unlock(&lock);
		}
	}
	/* when the next of those left is due (under the lock, as hp_huge_free sets it) */
	pthread_mutex_lock(&lock);
	for (int c = 0; c < NCLASSES; c++)
		for (unsigned i = 0; i < classes[c].ncached; i++) {
			int64_t d = s.freed_ms[s.cache_stack[classes[c].first + i]] + CACHE_MS;

			due = d < due ? d : due;
		}
	__atomic_store_n(&next_due_ms, due, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&lock);
}

void hp_huge_fork_prepare(void)
{
	pthread_mutex_lock(&lock);
}

void hp_huge_fork_parent(void)
{
	pthread_mutex_unlock(&lock);
}

void hp_huge_fork_child(void)
{
	pthread_mutex_unlock(&lock);
}
