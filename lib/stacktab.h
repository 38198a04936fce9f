/* lib/stacktab: the stack table. One entry per distinct call stack, in 64 shards chosen by
 * the stack's hash, each a chained hash table under its own mutex.
 *
 * An entry holds the unbiased counters of its stack. Entries are never removed, so a
 * pointer to one stays valid for the life of the process (block records, lib/liverec, and
 * lib/prof's last stack of each thread keep them).
 * Memory comes from hp_ialloc, always outside the shard lock: a profiler lock is never
 * held across a call into jemalloc (doc/DESIGN.md, lock order). */
#ifndef HP_STACKTAB_H
#define HP_STACKTAB_H
#include <stddef.h>
#include <stdint.h>

typedef struct hp_stack {
	struct hp_stack *next;		/* bucket chain; guarded by the shard lock */
	uint64_t hash;			/* immutable */
	uint32_t depth;			/* immutable */
	uint32_t shard;			/* immutable */
	double alloc_objects;		/* guarded by the shard lock, as are the three below */
	double alloc_space;
	double free_objects;
	double free_space;
	uint64_t pcs[];			/* immutable: return addresses, innermost first */
} hp_stack;

/* A copy of one entry's counters, taken under its shard lock. */
typedef struct hp_stack_snap {
	const hp_stack *stack;
	double alloc_objects, alloc_space, free_objects, free_space;
} hp_stack_snap;

/* Finds or inserts the stack and adds one sample of `size` bytes standing for `weight`
 * allocations. NULL when out of memory (the sample is then not recorded). */
hp_stack *hp_stacktab_add(const uint64_t *pcs, uint32_t depth, size_t size, double weight);

/* The same, for a caller that has the stack's hash already: h must be
 * hp_stack_hash(pcs, depth) (lib/unwind carries it through its walks: hp_unwind_hash). */
hp_stack *hp_stacktab_add_hashed(const uint64_t *pcs, uint32_t depth, uint64_t h, size_t size,
				 double weight);

/* Adds one sample to s, an entry hp_stacktab_add returned (entries stay for the life of
 * the process): for a stack known to be s's without looking it up. */
void hp_stacktab_again(hp_stack *s, size_t size, double weight);

/* Samples added since start (hp_stacktab_add and hp_stacktab_again), each shard's count
 * read without its lock. */
uint64_t hp_stacktab_samples(void);

/* Records the free of a sample recorded by hp_stacktab_add. */
void hp_stacktab_sub(hp_stack *s, size_t size, double weight);

/* Copies every entry's counters, one shard lock at a time, into a hp_ialloc'd array
 * (*out, *n); free it with hp_ifree. 0 or -ENOMEM. */
int hp_stacktab_snapshot(hp_stack_snap **out, size_t *n);

/* Number of distinct stacks. */
size_t hp_stacktab_count(void);

/* Samples added less samples taken off (hp_stacktab_sub): the sampled blocks still
 * recorded, as a relaxed sum without locks. */
size_t hp_stacktab_live(void);

/* fork: take every shard lock (ascending) before; release after in the parent,
 * make anew in the child. */
void hp_stacktab_lock_all(void);
void hp_stacktab_unlock_all(void);
/* fork child: the locks held by the forking thread are made anew. */
void hp_stacktab_reinit_all(void);

/* The stack hash: a chain from the outermost frame in. h starts at HP_STACK_HASH_SEED, takes
 * each frame from pcs[depth - 1] down to pcs[0] with hp_stack_hash_step, and ends with
 * hp_stack_hash_end. A chain, so that each frame's value stands for it and every frame
 * outside it: a walk that took its outer frames from the last walk (lib/unwind) has their
 * value already and hashes only its own frames. */
#define HP_STACK_HASH_SEED 0x84222325cbf29ce4ull

static inline uint64_t hp_stack_hash_step(uint64_t h, uint64_t pc)
{
	return (h ^ pc) * 0x9e3779b97f4a7c15ull;
}

static inline uint64_t hp_stack_hash_end(uint64_t h, uint32_t depth)
{
	h = (h ^ depth) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 31;
	h *= 0x165667b19e3779f9ull;
	return h ^ (h >> 32);
}

uint64_t hp_stack_hash(const uint64_t *pcs, uint32_t depth);

#endif
