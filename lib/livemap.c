/* lib/livemap: see livemap.h.
 *
 * Each shard is an open-addressing hash table with the records inline: 32-byte slots
 * {addr, stack, size, weight}, two to a cache line, so that a lookup in the common case
 * touches the shard's header (its own cache line) and one line of slots. addr 0 marks an
 * empty slot (no block lives at address 0). Linear probing from the home slot; the home
 * is taken from the top bits of a multiplicative (Fibonacci) hash, just below the six bits
 * that choose the shard. Removal shifts the following entries of the cluster back (Knuth's
 * algorithm R), so there are no tombstones and a lookup stops at the first empty slot.
 * At least one slot is always empty, so every probe loop ends.
 *
 * A shard doubles when its count passes LOAD_PCT % of its slots. The new table is
 * allocated before the lock is taken (no profiler lock is held across a call into
 * jemalloc: doc/DESIGN.md "Lock order"); under the lock, if the table is still the size
 * the growth was planned for, the entries move into it and it replaces the old one, which
 * is freed after the lock is released. When it cannot grow, the shard fills up to all
 * slots but one; an insert into a full shard that cannot grow fails with -ENOMEM. */
#include <errno.h>
#include <pthread.h>

#include "lock.h"

#include "arena.h"
#include "livemap.h"

#define NSHARDS 64		/* by the top 6 bits of the hash */
#define SHARD_BITS 6
#define INITIAL_LG 4		/* per shard: 16 static slots; then doubled (counted, HP_MEM_LIVE) */
#define INITIAL_SLOTS (1u << INITIAL_LG)
#ifndef LOAD_PCT
#define LOAD_PCT 75		/* grow when count > LOAD_PCT % of the slots (measured: 50 slower) */
#endif

typedef struct slot {
	uintptr_t addr;			/* 0: empty */
	struct hp_stack *stack;
	size_t size;
	double weight;
} slot;

typedef struct shard {
	hp_lock lock;
	slot *slots;			/* guarded by lock; mask + 1 long, a power of two */
	size_t mask;			/* guarded by lock */
	size_t count;			/* guarded by lock; <= mask */
	size_t limit;			/* guarded by lock; limit_of(mask + 1) */
	unsigned shift;			/* guarded by lock; 64 - log2(mask + 1) */
} __attribute__((aligned(64))) shard;

/* One static region (hp_mem_static): the shard headers, a cache line each, then each
 * shard's initial slots. */
static struct {
	shard sh[NSHARDS];
	slot initial[NSHARDS][INITIAL_SLOTS];
} tab;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ready;	/* atomic: init_shards has run (a load instead of pthread_once's call) */

static size_t limit_of(size_t cap);

static void init_shards(void)
{
	for (int i = 0; i < NSHARDS; i++) {
		hp_lock_reset(&tab.sh[i].lock);
		tab.sh[i].slots = tab.initial[i];
		tab.sh[i].mask = INITIAL_SLOTS - 1;
		tab.sh[i].shift = 64 - INITIAL_LG;
		tab.sh[i].limit = limit_of(INITIAL_SLOTS);
	}
	hp_mem_static(HP_MEM_LIVE, &tab, sizeof(tab));
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

static void tab_ready(void)
{
	if (__builtin_expect(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE), 0))
		pthread_once(&once, init_shards);
}

static uint64_t addr_hash(uintptr_t a)
{
	return (uint64_t)a * 0x9e3779b97f4a7c15ull;
}

static shard *shard_of(uint64_t h)
{
	tab_ready();
	return &tab.sh[h >> (64 - SHARD_BITS)];
}

/* The home slot: the hash bits just below the shard's. */
static size_t home_of(uint64_t h, unsigned shift)
{
	return (size_t)((h << SHARD_BITS) >> shift);
}

static int is_initial(const shard *sh, const slot *s)
{
	return s == tab.initial[sh - tab.sh];
}

/* Entries past which the shard grows: LOAD_PCT % of cap, and at most cap - 2 so that the
 * insert that reaches it still leaves a slot empty. */
static size_t limit_of(size_t cap)
{
	size_t l = cap / 100 * LOAD_PCT + cap % 100 * LOAD_PCT / 100;

	return l < cap - 2 ? l : cap - 2;
}

/* Puts e into a table with no entry at e->addr and at least one empty slot. */
static void place(slot *s, size_t mask, unsigned shift, const slot *e)
{
	size_t i = home_of(addr_hash(e->addr), shift);

	while (s[i].addr)
		i = (i + 1) & mask;
	s[i] = *e;
}

/* Doubles sh from old_cap slots. 0 when sh is no longer old_cap slots long on return
 * (this thread or another grew it), -ENOMEM when it could not be grown. */
static int grow(shard *sh, size_t old_cap)
{
	slot *ns, *old = NULL;
	size_t n = 2 * old_cap;

	if (old_cap > SIZE_MAX / 2 / sizeof(slot) || n > (size_t)1 << (64 - SHARD_BITS))
		return -ENOMEM;
	if (!(ns = hp_icalloc_k(HP_MEM_LIVE, n * sizeof(slot))))
		return -ENOMEM;
	hp_lock_take(&sh->lock);
	if (sh->mask + 1 == old_cap) {
		old = sh->slots;
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].addr)
				place(ns, n - 1, sh->shift - 1, &old[i]);
		__atomic_store_n(&sh->slots, ns, __ATOMIC_RELAXED);
		sh->mask = n - 1;
		sh->limit = limit_of(n);
		__atomic_store_n(&sh->shift, sh->shift - 1, __ATOMIC_RELAXED);
		ns = NULL;
	}
	hp_lock_give(&sh->lock);
	if (old && !is_initial(sh, old))
		hp_ifree_k(HP_MEM_LIVE, old);
	if (ns)
		hp_ifree_k(HP_MEM_LIVE, ns);
	return 0;
}

/* Starts loading (for writing) the line of h's home slot. The shard's table and shift are
 * read without its lock (relaxed atomics; grow stores them with relaxed atomic stores
 * under the lock): they may be stale or mismatched, which only wastes the prefetch, and a
 * prefetch never faults, even on a table replaced and freed meanwhile. The address is
 * computed as an integer: it may lie outside the table. */
static void prefetch_slot(const shard *sh, uint64_t h)
{
	uintptr_t s = (uintptr_t)__atomic_load_n(&sh->slots, __ATOMIC_RELAXED);
	unsigned shift = __atomic_load_n(&sh->shift, __ATOMIC_RELAXED);

	__builtin_prefetch((const void *)(s + home_of(h, shift) * sizeof(slot)), 1);
}

void hp_livemap_prefetch(uintptr_t addr)
{
	uint64_t h = addr_hash(addr);

	prefetch_slot(shard_of(h), h);
}

int hp_livemap_insert(uintptr_t addr, struct hp_stack *stack, size_t size, double weight)
{
	uint64_t h = addr_hash(addr);
	shard *sh = shard_of(h);
	size_t grow_from = 0;
	slot e = { addr, stack, size, weight };

	if (!addr)
		return -EINVAL;
	prefetch_slot(sh, h);
	hp_lock_take(&sh->lock);
	while (sh->count + 1 > sh->mask) {	/* full: it must keep one slot empty */
		size_t cap = sh->mask + 1;
		int err;

		hp_lock_give(&sh->lock);
		err = grow(sh, cap);
		hp_lock_take(&sh->lock);
		if (err && sh->count + 1 > sh->mask) {
			hp_lock_give(&sh->lock);
			return err;
		}
	}
	place(sh->slots, sh->mask, sh->shift, &e);
	if (++sh->count > sh->limit)
		grow_from = sh->mask + 1;
	hp_lock_give(&sh->lock);
	if (grow_from)
		(void)grow(sh, grow_from);	/* on failure the shard fills further */
	return 0;
}

int hp_livemap_remove(uintptr_t addr, hp_live *out)
{
	uint64_t h = addr_hash(addr);
	shard *sh = shard_of(h);
	slot *s;
	size_t i, j, mask;
	unsigned shift;

	if (!addr)
		return 0;
	prefetch_slot(sh, h);
	hp_lock_take(&sh->lock);
	s = sh->slots;
	mask = sh->mask;
	shift = sh->shift;
	for (i = home_of(h, shift); s[i].addr != addr; i = (i + 1) & mask)
		if (!s[i].addr) {
			hp_lock_give(&sh->lock);
			return 0;
		}
	out->next = NULL;
	out->addr = addr;
	out->stack = s[i].stack;
	out->size = s[i].size;
	out->weight = s[i].weight;
	sh->count--;
	/* Backward shift: the hole at i takes the next entry of the cluster whose home is not
	 * cyclically in (i, j], until the cluster ends. */
	for (j = (i + 1) & mask; s[j].addr; j = (j + 1) & mask) {
		size_t k = home_of(addr_hash(s[j].addr), shift);

		if (((j - k) & mask) >= ((j - i) & mask)) {
			s[i] = s[j];
			i = j;
		}
	}
	s[i].addr = 0;
	hp_lock_give(&sh->lock);
	return 1;
}

size_t hp_livemap_count(void)
{
	size_t n = 0;

	tab_ready();
	for (int i = 0; i < NSHARDS; i++) {
		hp_lock_take(&tab.sh[i].lock);
		n += tab.sh[i].count;
		hp_lock_give(&tab.sh[i].lock);
	}
	return n;
}

void hp_livemap_lock_all(void)
{
	tab_ready();
	for (int i = 0; i < NSHARDS; i++)
		hp_lock_take(&tab.sh[i].lock);
}

void hp_livemap_reinit_all(void)
{
	for (int i = 0; i < NSHARDS; i++)
		hp_lock_reset(&tab.sh[i].lock);
}

void hp_livemap_unlock_all(void)
{
	for (int i = NSHARDS - 1; i >= 0; i--)
		hp_lock_give(&tab.sh[i].lock);
}
