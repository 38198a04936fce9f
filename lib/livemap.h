/* lib/livemap: the sampled blocks that are still live, keyed by address, so that free and
 * realloc of a sampled block can take it off its stack's in-use counters.
 * 64 shards by address hash, each a chained hash table under its own mutex; nodes come
 * from hp_ialloc outside the lock, a chunk at a time, and are recycled (never freed). Only sampled blocks are here: free reaches this map
 * only for pointers in the sampled arena's range (lib/arena.h). */
#ifndef HP_LIVEMAP_H
#define HP_LIVEMAP_H
#include <stddef.h>
#include <stdint.h>

struct hp_stack;

typedef struct hp_live {
	struct hp_live *next;		/* guarded by the shard lock */
	uintptr_t addr;
	struct hp_stack *stack;
	size_t size;			/* requested bytes */
	double weight;			/* allocations this sample stands for */
} hp_live;

/* Adds a live sampled block. 0 or -ENOMEM. */
int hp_livemap_insert(uintptr_t addr, struct hp_stack *stack, size_t size, double weight);

/* Removes the block at addr; copies its record into *out and returns 1, or returns 0 when
 * addr is not in the map. */
int hp_livemap_remove(uintptr_t addr, hp_live *out);

size_t hp_livemap_count(void);

/* fork: take every shard lock (ascending) before; release after in the parent,
 * make anew in the child. */
void hp_livemap_lock_all(void);
void hp_livemap_unlock_all(void);
/* fork child: the locks held by the forking thread are made anew. */
void hp_livemap_reinit_all(void);

#endif
