/* lib/stacktab: see stacktab.h. */
#include <errno.h>
#include <pthread.h>

#include "lock.h"
#include <string.h>

#include "arena.h"
#include "stacktab.h"

#define NSHARDS 64
#define INITIAL_BUCKETS 16	/* per shard, static; then doubled (counted, HP_MEM_*) */

typedef struct shard {
	hp_lock lock;
	hp_stack **buckets;		/* guarded by lock */
	size_t nbuckets;		/* guarded by lock; a power of two */
	size_t count;			/* guarded by lock */
	size_t live;			/* guarded by lock: samples added less those taken off */
	uint64_t added;			/* guarded by lock: samples added */
	hp_stack *initial[INITIAL_BUCKETS];
} shard;

static shard shards[NSHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int ready;	/* atomic: init_shards has run (a load instead of pthread_once's call) */

static void init_shards(void)
{
	for (int i = 0; i < NSHARDS; i++) {
		hp_lock_reset(&shards[i].lock);
		shards[i].buckets = shards[i].initial;
		shards[i].nbuckets = INITIAL_BUCKETS;
	}
	hp_mem_static(HP_MEM_STACKS, shards, sizeof(shards));
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

static shard *shards_ready(void)
{
	if (__builtin_expect(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE), 0))
		pthread_once(&once, init_shards);
	return shards;
}

uint64_t hp_stack_hash(const uint64_t *pcs, uint32_t depth)
{
	uint64_t h = HP_STACK_HASH_SEED;

	for (uint32_t i = depth; i-- > 0;)
		h = hp_stack_hash_step(h, pcs[i]);
	return hp_stack_hash_end(h, depth);
}

/* Equal frames: short stacks inline (memcmp's call and set-up cost more than the loop),
 * longer ones with memcmp (vector compares: a python stack of 30 frames takes a third of
 * the loop's instructions). */
static inline int same_pcs(const uint64_t *a, const uint64_t *b, uint32_t depth)
{
	uint64_t diff = 0;

	if (depth > 8)
		return memcmp(a, b, depth * sizeof(*a)) == 0;
	for (uint32_t i = 0; i < depth; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

static hp_stack *find(shard *sh, uint64_t h, const uint64_t *pcs, uint32_t depth)
{
	hp_stack *s = sh->buckets[(h >> 6) & (sh->nbuckets - 1)];

	for (; s; s = s->next)
		if (s->hash == h && s->depth == depth && same_pcs(s->pcs, pcs, depth))
			return s;
	return NULL;
}

/* Under the shard's lock; hp_stacktab_live reads the count without it. */
static void live_add(shard *sh, size_t d)
{
	__atomic_store_n(&sh->live, sh->live + d, __ATOMIC_RELAXED);
}

static void count_alloc(shard *sh, hp_stack *s, size_t size, double weight)
{
	s->alloc_objects += weight;
	s->alloc_space += weight * (double)size;
	live_add(sh, 1);
	__atomic_store_n(&sh->added, sh->added + 1, __ATOMIC_RELAXED);	/* read without it */
}

/* Doubles a shard's bucket array; the new array is allocated with no lock held. */
static void grow(shard *sh, size_t old_n)
{
	hp_stack **nb = hp_icalloc_k(HP_MEM_STACKS, 2 * old_n * sizeof(*nb)), **old = NULL;

	if (!nb)
		return;
	hp_lock_take(&sh->lock);
	if (sh->nbuckets == old_n) {
		for (size_t i = 0; i < old_n; i++) {
			hp_stack *s = sh->buckets[i], *next;

			for (; s; s = next) {
				size_t b = (s->hash >> 6) & (2 * old_n - 1);

				next = s->next;
				s->next = nb[b];
				nb[b] = s;
			}
		}
		old = sh->buckets;
		/* atomic stores: prefetch_bucket reads both without the lock */
		__atomic_store_n(&sh->buckets, nb, __ATOMIC_RELAXED);
		__atomic_store_n(&sh->nbuckets, 2 * old_n, __ATOMIC_RELAXED);
		nb = NULL;
	}
	hp_lock_give(&sh->lock);
	if (old && old != sh->initial)
		hp_ifree_k(HP_MEM_STACKS, old);
	if (nb)
		hp_ifree_k(HP_MEM_STACKS, nb);
}

hp_stack *hp_stacktab_add(const uint64_t *pcs, uint32_t depth, size_t size, double weight)
{
	return hp_stacktab_add_hashed(pcs, depth, hp_stack_hash(pcs, depth), size, weight);
}

/* The memory a shard's work will touch, asked for before its lock is taken: the lock's
 * locked instruction waits for the thread's pending stores, and no load after it starts
 * until it is done, so a miss asked for here overlaps that wait instead of following it
 * (the table's 13,000 entries on python at rate=1 are out of the core's caches). A
 * prefetch never faults: the bucket's address may be computed from a pointer and a count
 * that grow() is changing (read without the lock), and is then only a wasted hint. */
static inline void prefetch_bucket(const shard *sh, uint64_t h)
{
	hp_stack *const *b = __atomic_load_n(&sh->buckets, __ATOMIC_RELAXED);
	size_t n = __atomic_load_n(&sh->nbuckets, __ATOMIC_RELAXED);

	__builtin_prefetch(&b[(h >> 6) & (n - 1)]);
}

/* An entry's counters (a line or two: entries are not line-aligned). */
static inline void prefetch_counts(const hp_stack *s)
{
	__builtin_prefetch(&s->alloc_objects, 1);
	__builtin_prefetch(&s->free_space, 1);
}

hp_stack *hp_stacktab_add_hashed(const uint64_t *pcs, uint32_t depth, uint64_t h, size_t size,
				 double weight)
{
	shard *sh = &shards_ready()[h % NSHARDS];
	hp_stack *s, *fresh;
	size_t grow_from = 0;

	prefetch_bucket(sh, h);
	hp_lock_take(&sh->lock);
	s = find(sh, h, pcs, depth);
	if (s)
		count_alloc(sh, s, size, weight);
	hp_lock_give(&sh->lock);
	if (s)
		return s;

	fresh = hp_icalloc_k(HP_MEM_STACKS, sizeof(*fresh) + depth * sizeof(*pcs));
	if (!fresh)
		return NULL;
	fresh->hash = h;
	fresh->depth = depth;
	fresh->shard = (uint32_t)(h % NSHARDS);
	memcpy(fresh->pcs, pcs, depth * sizeof(*pcs));

	hp_lock_take(&sh->lock);
	s = find(sh, h, pcs, depth);	/* another thread may have inserted it meanwhile */
	if (!s) {
		size_t b = (h >> 6) & (sh->nbuckets - 1);

		s = fresh;
		fresh = NULL;
		s->next = sh->buckets[b];
		sh->buckets[b] = s;
		if (++sh->count > 2 * sh->nbuckets)
			grow_from = sh->nbuckets;
	}
	count_alloc(sh, s, size, weight);
	hp_lock_give(&sh->lock);
	if (fresh)
		hp_ifree_k(HP_MEM_STACKS, fresh);
	if (grow_from)
		grow(sh, grow_from);
	return s;
}

void hp_stacktab_again(hp_stack *s, size_t size, double weight)
{
	shard *sh = &shards[s->shard];

	prefetch_counts(s);
	hp_lock_take(&sh->lock);
	count_alloc(sh, s, size, weight);
	hp_lock_give(&sh->lock);
}

void hp_stacktab_sub(hp_stack *s, size_t size, double weight)
{
	shard *sh = &shards[s->shard];

	prefetch_counts(s);
	hp_lock_take(&sh->lock);
	s->free_objects += weight;
	s->free_space += weight * (double)size;
	live_add(sh, (size_t)-1);
	hp_lock_give(&sh->lock);
}

size_t hp_stacktab_live(void)
{
	size_t n = 0;

	for (int i = 0; i < NSHARDS; i++)
		n += __atomic_load_n(&shards[i].live, __ATOMIC_RELAXED);
	return n;
}

uint64_t hp_stacktab_samples(void)
{
	uint64_t n = 0;

	for (int i = 0; i < NSHARDS; i++)
		n += __atomic_load_n(&shards[i].added, __ATOMIC_RELAXED);
	return n;
}

size_t hp_stacktab_count(void)
{
	size_t n = 0;

	shards_ready();
	for (int i = 0; i < NSHARDS; i++) {
		hp_lock_take(&shards[i].lock);
		n += shards[i].count;
		hp_lock_give(&shards[i].lock);
	}
	return n;
}

static size_t copy_shard(shard *sh, hp_stack_snap *out, size_t room)
{
	size_t n = 0;

	for (size_t b = 0; b < sh->nbuckets; b++)
		for (hp_stack *s = sh->buckets[b]; s && n < room; s = s->next) {
			out[n].stack = s;
			out[n].alloc_objects = s->alloc_objects;
			out[n].alloc_space = s->alloc_space;
			out[n].free_objects = s->free_objects;
			out[n].free_space = s->free_space;
			n++;
		}
	return n;
}

int hp_stacktab_snapshot(hp_stack_snap **out, size_t *n)
{
	/* Stacks inserted between the count and the copy are left for the next profile:
	 * the array is sized first, with no lock held while allocating it. */
	size_t room = hp_stacktab_count() + 64, used = 0;
	hp_stack_snap *v = hp_ialloc((room ? room : 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	/* Touched now, so that no page fault of a fresh array lands under a shard lock
	 * (100,000 stacks: a 4 MB array, about a thousand faults). */
	memset(v, 0, room * sizeof(*v));
	for (int i = 0; i < NSHARDS && used < room; i++) {
		hp_lock_take(&shards[i].lock);
		used += copy_shard(&shards[i], v + used, room - used);
		hp_lock_give(&shards[i].lock);
	}
	*out = v;
	*n = used;
	return 0;
}

void hp_stacktab_lock_all(void)
{
	shards_ready();
	for (int i = 0; i < NSHARDS; i++)
		hp_lock_take(&shards[i].lock);
}

void hp_stacktab_reinit_all(void)
{
	for (int i = 0; i < NSHARDS; i++)
		hp_lock_reset(&shards[i].lock);
}

void hp_stacktab_unlock_all(void)
{
	for (int i = NSHARDS - 1; i >= 0; i--)
		hp_lock_give(&shards[i].lock);
}
