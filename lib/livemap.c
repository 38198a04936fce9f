/* lib/livemap: see livemap.h. */
#include <errno.h>
#include <pthread.h>

#include "arena.h"
#include "livemap.h"

#define NSHARDS 64
#define INITIAL_BUCKETS 16	/* per shard, static; then doubled (counted, HP_MEM_*) */

/* Nodes are allocated NODE_CHUNK at a time and recycled through the shard's spare list,
 * never freed: a sample then costs no call into jemalloc for its node (two a sampled block
 * before, a tenth of the sample path at rate=1). The spare nodes are bounded by the
 * shard's peak of live sampled blocks. */
#define NODE_CHUNK 32

typedef struct shard {
	pthread_mutex_t lock;
	hp_live **buckets;		/* guarded by lock; a power of two long */
	size_t nbuckets;		/* guarded by lock */
	size_t count;			/* guarded by lock */
	hp_live *spare;			/* guarded by lock: free nodes, linked by next */
	hp_live *initial[INITIAL_BUCKETS];
} shard;

static shard shards[NSHARDS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_shards(void)
{
	for (int i = 0; i < NSHARDS; i++) {
		pthread_mutex_init(&shards[i].lock, NULL);
		shards[i].buckets = shards[i].initial;
		shards[i].nbuckets = INITIAL_BUCKETS;
	}
	hp_mem_static(HP_MEM_LIVE, shards, sizeof(shards));
}

static uint64_t addr_hash(uintptr_t a)
{
	uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15ull;

	return h ^ (h >> 31);
}

static shard *shard_of(uint64_t h)
{
	pthread_once(&once, init_shards);
	return &shards[h >> 58];
}

static size_t bucket_of(uint64_t h, size_t nbuckets)
{
	return h & (nbuckets - 1);
}

static void grow(shard *sh, size_t old_n)
{
	hp_live **nb = hp_icalloc_k(HP_MEM_LIVE, 2 * old_n * sizeof(*nb)), **old = NULL;

	if (!nb)
		return;
	pthread_mutex_lock(&sh->lock);
	if (sh->nbuckets == old_n) {
		for (size_t i = 0; i < old_n; i++) {
			hp_live *l = sh->buckets[i], *next;

			for (; l; l = next) {
				size_t b = bucket_of(addr_hash(l->addr), 2 * old_n);

				next = l->next;
				l->next = nb[b];
				nb[b] = l;
			}
		}
		old = sh->buckets;
		sh->buckets = nb;
		sh->nbuckets = 2 * old_n;
		nb = NULL;
	}
	pthread_mutex_unlock(&sh->lock);
	if (old && old != sh->initial)
		hp_ifree_k(HP_MEM_LIVE, old);
	if (nb)
		hp_ifree_k(HP_MEM_LIVE, nb);
}

int hp_livemap_insert(uintptr_t addr, struct hp_stack *stack, size_t size, double weight)
{
	uint64_t h = addr_hash(addr);
	shard *sh = shard_of(h);
	hp_live *l;
	size_t b, grow_from = 0;

	pthread_mutex_lock(&sh->lock);
	while (!sh->spare) {
		hp_live *chunk;

		pthread_mutex_unlock(&sh->lock);	/* no jemalloc call under a profiler lock */
		if (!(chunk = hp_ialloc_k(HP_MEM_LIVE, NODE_CHUNK * sizeof(*chunk))))
			return -ENOMEM;
		pthread_mutex_lock(&sh->lock);
		for (int i = 0; i < NODE_CHUNK; i++) {
			chunk[i].next = sh->spare;
			sh->spare = &chunk[i];
		}
	}
	l = sh->spare;
	sh->spare = l->next;
	l->addr = addr;
	l->stack = stack;
	l->size = size;
	l->weight = weight;
	b = bucket_of(h, sh->nbuckets);
	l->next = sh->buckets[b];
	sh->buckets[b] = l;
	if (++sh->count > 2 * sh->nbuckets)
		grow_from = sh->nbuckets;
	pthread_mutex_unlock(&sh->lock);
	if (grow_from)
		grow(sh, grow_from);
	return 0;
}

int hp_livemap_remove(uintptr_t addr, hp_live *out)
{
	uint64_t h = addr_hash(addr);
	shard *sh = shard_of(h);
	hp_live **pp, *l = NULL;

	pthread_mutex_lock(&sh->lock);
	for (pp = &sh->buckets[bucket_of(h, sh->nbuckets)]; *pp; pp = &(*pp)->next)
		if ((*pp)->addr == addr) {
			l = *pp;
			*pp = l->next;
			sh->count--;
			*out = *l;
			out->next = NULL;
			l->next = sh->spare;
			sh->spare = l;
			break;
		}
	pthread_mutex_unlock(&sh->lock);
	return l != NULL;
}

size_t hp_livemap_count(void)
{
	size_t n = 0;

	pthread_once(&once, init_shards);
	for (int i = 0; i < NSHARDS; i++) {
		pthread_mutex_lock(&shards[i].lock);
		n += shards[i].count;
		pthread_mutex_unlock(&shards[i].lock);
	}
	return n;
}

void hp_livemap_lock_all(void)
{
	pthread_once(&once, init_shards);
	for (int i = 0; i < NSHARDS; i++)
		pthread_mutex_lock(&shards[i].lock);
}

void hp_livemap_reinit_all(void)
{
	for (int i = 0; i < NSHARDS; i++)
		pthread_mutex_init(&shards[i].lock, NULL);
}

void hp_livemap_unlock_all(void)
{
	for (int i = NSHARDS - 1; i >= 0; i--)
		pthread_mutex_unlock(&shards[i].lock);
}
