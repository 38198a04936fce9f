/* lib/livemap: the sampled blocks that are still live, keyed by address, so that free and
 * realloc of a sampled block can take it off its stack's in-use counters.
 * 64 shards by address hash, each an open-addressing table (linear probing, records inline
 * in 32-byte slots, backward-shift deletion) under its own mutex, doubled at three quarters
 * full; the new table is allocated outside the lock (lib/livemap.c). Only sampled blocks
 * are here: free reaches this map only for pointers in the sampled arena's range
 * (lib/arena.h).
 * Address 0 is not a key (it marks an empty slot): no block lives there. */
#ifndef HP_LIVEMAP_H
#define HP_LIVEMAP_H
#include <stddef.h>
#include <stdint.h>

struct hp_stack;

/* A record as hp_livemap_remove hands it out (the map stores it without next). */
typedef struct hp_live {
	struct hp_live *next;		/* always NULL in a copy */
	uintptr_t addr;
	struct hp_stack *stack;
	size_t size;			/* requested bytes */
	double weight;			/* allocations this sample stands for */
} hp_live;

/* Adds a live sampled block. 0, or -ENOMEM when its shard is full and cannot grow (the
 * map is left as it was), or -EINVAL for addr 0. */
int hp_livemap_insert(uintptr_t addr, struct hp_stack *stack, size_t size, double weight);

/* Removes the block at addr; copies its record into *out and returns 1, or returns 0 when
 * addr is not in the map. */
int hp_livemap_remove(uintptr_t addr, hp_live *out);

/* A hint: starts loading the cache line where addr's record is or would go (no lock, no
 * effect on the map). Called early on the sample path, the line is there by the insert. */
void hp_livemap_prefetch(uintptr_t addr);

size_t hp_livemap_count(void);

/* fork: take every shard lock (ascending) before; release after in the parent,
 * make anew in the child. */
void hp_livemap_lock_all(void);
void hp_livemap_unlock_all(void);
/* fork child: the locks held by the forking thread are made anew. */
void hp_livemap_reinit_all(void);

#endif
