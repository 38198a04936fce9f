/* lib/sampcache: see sampcache.h. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "sampcache.h"

#define MAX_CLASSES 32	/* jemalloc's classes up to HP_SAMPCACHE_MAX: 31 with 4 KiB pages */

static size_t class_size[MAX_CLASSES];
static unsigned class_cap[MAX_CLASSES];	/* blocks cached a class, at most, at dense rates */
static unsigned char class_of8[HP_SAMPCACHE_MAX / 8 + 1];	/* (size + 7) / 8 -> class */
static int ready;
static pthread_key_t exit_key;

/* At sparse rates (the default) a class keeps at most SPARSE_CAP blocks, in the magazine's
 * own slots: enough for a program that frees its sampled block before the next one of its
 * class is sampled to make no call into jemalloc. At dense rates the thread allocates the
 * class an array of class_cap[c] slots the first time it caches one of its blocks (kept
 * until the thread exits; if it cannot, the class stays at SPARSE_CAP). The batches that
 * move between the cache and the arena are half of that: at rate=1, python allocates and
 * frees tens of thousands of blocks in a row, and each batch is two rt_sigprocmask calls
 * (with 64 slots a class those calls were 8% of its time). */
#define SPARSE_CAP 2

typedef struct mag {
	unsigned n, room;		/* blocks cached; slots in b */
	void **b;			/* own, or the class's array at dense rates */
	void *own[SPARSE_CAP];
} mag;

static __thread mag mags[MAX_CLASSES];
static __thread int registered;

/* The bytes of the blocks all threads' caches hold (hp_sampcache_held): jemalloc counts
 * them allocated, but they are the profiler's. Each thread adds its changes up in
 * held_delta and hands them to the shared count once they pass HELD_STEP either way, so
 * that a sample does not pay a shared atomic: the count is right to HELD_STEP a thread. */
#define HELD_STEP 16384
static long held_total;
static __thread long held_delta;

static void held_publish(void)
{
	__atomic_add_fetch(&held_total, held_delta, __ATOMIC_RELAXED);
	held_delta = 0;
}

static inline void held(long d)
{
	held_delta += d;
	if (__builtin_expect((unsigned long)(held_delta + HELD_STEP) > 2 * HELD_STEP, 0))
		held_publish();	/* over HELD_STEP either way */
}

size_t hp_sampcache_held(void)
{
	long n = __atomic_load_n(&held_total, __ATOMIC_RELAXED);

	return n > 0 ? (size_t)n : 0;	/* below 0 by what threads have not handed in yet */
}

/* Thread exit: the cached blocks go back to the arena. */
static void flush_thread(void *arg)
{
	(void)arg;
	hp_je_enter();
	for (int c = 0; c < MAX_CLASSES; c++) {
		held_delta -= (long)(mags[c].n * class_size[c]);
		while (mags[c].n)
			hp_arena_batch_free(mags[c].b[--mags[c].n]);
		if (mags[c].b && mags[c].b != mags[c].own)
			hp_ifree_k(HP_MEM_OTHER, mags[c].b);
		mags[c].b = NULL;
		mags[c].room = 0;
	}
	held_publish();
	hp_arena_batch_close();
	hp_je_leave();
}

void hp_sampcache_init(void)
{
	unsigned nbins, n = 0;
	size_t len = sizeof(nbins), sz;
	char name[64];

	if (hpje_mallctl("arenas.nbins", &nbins, &len, NULL, 0) != 0)
		return;
	for (unsigned i = 0; i < nbins && n < MAX_CLASSES; i++) {
		snprintf(name, sizeof(name), "arenas.bin.%u.size", i);
		len = sizeof(sz);
		if (hpje_mallctl(name, &sz, &len, NULL, 0) != 0)
			return;
		if (sz > HP_SAMPCACHE_MAX)
			break;
		class_cap[n] = HP_SAMPCACHE_MAG_BYTES / sz < HP_SAMPCACHE_MAG ?
			       (unsigned)(HP_SAMPCACHE_MAG_BYTES / sz) : HP_SAMPCACHE_MAG;
		class_size[n++] = sz;
	}
	if (!n || class_size[n - 1] != HP_SAMPCACHE_MAX)
		return;	/* not the classes expected: no cache */
	/* jemalloc's class for a request of s bytes is the smallest class >= s, which is the
	 * smallest class >= s rounded up to 8 (every class is a multiple of 8). */
	for (unsigned i = 0, c = 0; i <= HP_SAMPCACHE_MAX / 8; i++) {
		while (class_size[c] < (size_t)i * 8)
			c++;
		class_of8[i] = (unsigned char)c;
	}
	if (pthread_key_create(&exit_key, flush_thread) != 0)
		return;
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

static void check_in(void)
{
	if (!registered) {
		registered = 1;
		pthread_setspecific(exit_key, (void *)1);	/* flush_thread at exit */
	}
}

size_t hp_sampcache_class_size(size_t size)
{
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || size > HP_SAMPCACHE_MAX)
		return 0;
	return class_size[class_of8[(size + 7) / 8]];
}

/* The slots class c may use now: its array's at dense rates (allocated here the first
 * time), else SPARSE_CAP. */
static unsigned cap(mag *m, unsigned c, int dense)
{
	void **b;

	if (!m->b) {
		m->b = m->own;
		m->room = SPARSE_CAP;
	}
	if (!dense)
		return SPARSE_CAP;
	if (m->room == SPARSE_CAP && (b = hp_ialloc_k(HP_MEM_OTHER, class_cap[c] * sizeof(*b)))) {
		hp_je_enter();
		hp_arena_batch_open();	/* once a thread */
		hp_je_leave();
		for (unsigned i = 0; i < m->n; i++)
			b[i] = m->b[i];
		m->b = b;
		m->room = class_cap[c];
	}
	return m->room;
}

void *hp_sampcache_get(size_t size, int zero, int dense)
{
	mag *m;
	void *p;
	unsigned c;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || size > HP_SAMPCACHE_MAX)
		return NULL;
	c = class_of8[(size + 7) / 8];
	m = &mags[c];
	if (!m->n) {
		unsigned half = cap(m, c, dense) / 2;

		check_in();
		hp_je_enter();
		while (m->n < half &&
		       (p = hp_arena_batch_alloc(class_size[c])) != NULL) {
			if (!hp_is_sampled(p)) {
				hp_arena_free(p);	/* served elsewhere: not for this cache, nor
							 * for the batches' */
				break;
			}
			m->b[m->n++] = p;
		}
		hp_je_leave();
		if (!m->n)
			return NULL;
		held((long)(m->n * class_size[c]));
	}
	p = m->b[--m->n];
	held(-(long)class_size[c]);
	if (zero)
		memset(p, 0, size);
	return p;
}

int hp_sampcache_put(void *p, size_t size, int dense)
{
	unsigned c, n;
	mag *m;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || size > HP_SAMPCACHE_MAX)
		return 0;
	c = class_of8[(size + 7) / 8];
	m = &mags[c];
	n = cap(m, c, dense);
	if (m->n >= n) {
		held(-(long)((m->n - n / 2) * class_size[c]));
		hp_je_enter();
		while (m->n > n / 2)
			hp_arena_batch_free(m->b[--m->n]);
		hp_je_leave();
	}
	check_in();
	m->b[m->n++] = p;
	held((long)class_size[c]);
	return 1;
}
