/* Unit test of lib/stacktab: one entry per distinct stack with exact counters, frees,
 * count and snapshot, growth of every shard, and concurrent insertion of the same stacks.
 *
 * The table is global to the process and entries are never removed, so each part uses its
 * own range of program counters and checks the change of hp_stacktab_count(). */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tests/tap.h"
#include "stacktab.h"

#define MAXDEPTH 8
#define GROW_N 200000
#define CONC_THREADS 4
#define CONC_STACKS 10000
#define CONC_ROUNDS 5

/* Distinct pc ranges, one per part of the test. */
#define PC_BASIC 0x100000000000ull
#define PC_GROW 0x300000000000ull
#define PC_CONC 0x400000000000ull

/* Stack number i of a part: depth 1..MAXDEPTH, frames base + i * 16 + j. */
static uint32_t make_stack(uint64_t base, size_t i, uint64_t *pcs)
{
	uint32_t depth = 1 + (uint32_t)(i % MAXDEPTH);

	for (uint32_t j = 0; j < depth; j++)
		pcs[j] = base + (uint64_t)i * 16 + j;
	return depth;
}

static int counters_are(const hp_stack *s, double ao, double as, double fo, double fs)
{
	return s->alloc_objects == ao && s->alloc_space == as && s->free_objects == fo &&
	       s->free_space == fs;
}

/* No NULL and no two the same among v[0..n). */
static int all_distinct(hp_stack *const *v, int n)
{
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (!v[i] || !v[j] || v[i] == v[j])
				return 0;
	return n == 0 || v[0] != NULL;
}

static void test_same_stack(void)
{
	uint64_t pcs[5] = { PC_BASIC + 1, PC_BASIC + 2, PC_BASIC + 3, PC_BASIC + 4, PC_BASIC + 5 };
	const uint64_t want[5] = { PC_BASIC + 1, PC_BASIC + 2, PC_BASIC + 3, PC_BASIC + 4,
				   PC_BASIC + 5 };
	size_t before = hp_stacktab_count();
	hp_stack *s = hp_stacktab_add(pcs, 5, 100, 1.5), *again = s;
	int same = 1;

	ok(s != NULL, "add returns an entry");
	if (!s)
		return;
	ok(s->depth == 5 && memcmp(s->pcs, want, sizeof(want)) == 0,
	   "the entry holds the depth and the frames");
	ok(s->hash == hp_stack_hash(want, 5) && s->shard < 64, "the entry's hash is the stack's");
	ok(counters_are(s, 1.5, 150, 0, 0), "first sample: 1.5 objects, 150 bytes (%g, %g)",
	   s->alloc_objects, s->alloc_space);
	for (int i = 0; i < 2; i++) {
		again = hp_stacktab_add(pcs, 5, 100, 1.5);
		same &= again == s;
	}
	again = hp_stacktab_add(pcs, 5, 7, 2.0);
	same &= again == s;
	ok(same, "adding the same stack again returns the same entry");
	ok(counters_are(s, 6.5, 464, 0, 0),
	   "counters sum exactly: 3 x (1.5, 100) + (2, 7) = 6.5 objects, 464 bytes (%g, %g)",
	   s->alloc_objects, s->alloc_space);
	ok(hp_stacktab_count() - before == 1, "the same stack four times is one entry (+%zu)",
	   hp_stacktab_count() - before);
	pcs[2] = 0;
	ok(memcmp(s->pcs, want, sizeof(want)) == 0, "the entry has its own copy of the frames");
}

/* Prefix, extension, other last frame, other first frame, first frame alone: distinct. */
static void test_distinct(void)
{
	const uint64_t base[6] = { PC_BASIC + 1, PC_BASIC + 2, PC_BASIC + 3, PC_BASIC + 4,
				   PC_BASIC + 5, PC_BASIC + 6 };
	static const uint32_t depths[6] = { 5, 4, 6, 5, 5, 1 };
	uint64_t other_last[5], other_first[5];
	size_t before = hp_stacktab_count();
	hp_stack *v[6], *full = hp_stacktab_add(base, 5, 0, 0);

	memcpy(other_last, base, sizeof(other_last));
	memcpy(other_first, base, sizeof(other_first));
	other_last[4] = PC_BASIC + 99;
	other_first[0] = PC_BASIC + 99;
	v[0] = full;
	v[1] = hp_stacktab_add(base, 4, 10, 1);
	v[2] = hp_stacktab_add(base, 6, 20, 1);
	v[3] = hp_stacktab_add(other_last, 5, 30, 1);
	v[4] = hp_stacktab_add(other_first, 5, 40, 1);
	v[5] = hp_stacktab_add(base, 1, 50, 1);
	ok(all_distinct(v, 6), "prefix, extension, other last pc, other first pc, one frame: "
	   "distinct entries");
	ok(hp_stacktab_count() - before == 5, "five new entries (+%zu; the 5-frame one existed)",
	   hp_stacktab_count() - before);
	ok(full && counters_are(full, 6.5, 464, 0, 0), "the existing entry is unchanged by "
	   "a zero-weight add and by its neighbours");
	for (int i = 1; i < 6; i++)
		if (v[i] && !ok(counters_are(v[i], 1, 10.0 * i, 0, 0) && v[i]->depth == depths[i],
				"entry %d (depth %u) holds only its own sample", i, depths[i]))
			diag("entry %d: depth %u, %g objects, %g bytes", i, v[i]->depth,
			     v[i]->alloc_objects, v[i]->alloc_space);
}

/* Stacks of depth 2 with equal hashes, from the hash's own steps (lib/stacktab.h): the
 * chain takes the outer frame pcs[1] first, x = step(SEED, pcs[1]), then the inner one,
 * step(x, pcs[0]) = f(x ^ pcs[0]); so every (pcs[0], pcs[1]) with the same x ^ pcs[0]
 * collides. */
static void make_collisions(uint64_t pcs[4][2])
{
	uint64_t x = hp_stack_hash_step(HP_STACK_HASH_SEED, PC_BASIC + 0x100) ^ (PC_BASIC + 0x101);

	for (int k = 0; k < 4; k++) {
		pcs[k][1] = PC_BASIC + 0x100 + (uint64_t)k;
		pcs[k][0] = x ^ hp_stack_hash_step(HP_STACK_HASH_SEED, pcs[k][1]);
	}
}

/* Equal hash (same shard, same bucket), different frames: four distinct entries. */
static void test_collisions(void)
{
	uint64_t pcs[4][2];
	hp_stack *v[4];
	size_t before = hp_stacktab_count();
	int own = 1;

	make_collisions(pcs);
	if (!ok(hp_stack_hash(pcs[0], 2) == hp_stack_hash(pcs[1], 2) &&
		hp_stack_hash(pcs[0], 2) == hp_stack_hash(pcs[2], 2) &&
		hp_stack_hash(pcs[0], 2) == hp_stack_hash(pcs[3], 2),
		"four stacks built to one hash have it (hp_stack_hash is the chain of its steps)"))
		return;
	for (int k = 0; k < 4; k++)
		v[k] = hp_stacktab_add(pcs[k], 2, 100 * (size_t)(k + 1), 1);
	for (int k = 0; k < 4; k++)
		own &= v[k] && hp_stacktab_add(pcs[k], 2, 100 * (size_t)(k + 1), 1) == v[k];
	ok(all_distinct(v, 4), "four stacks with one hash are four entries");
	ok(own, "re-adding each finds its own entry in the shared bucket");
	for (int k = 0; own && k < 4; k++)
		own &= counters_are(v[k], 2, 200.0 * (k + 1), 0, 0) &&
		       memcmp(v[k]->pcs, pcs[k], sizeof(pcs[k])) == 0;
	ok(own, "each holds its own frames and two samples");
	ok(hp_stacktab_count() - before == 4, "count +4 (+%zu)", hp_stacktab_count() - before);
}

static void test_sub(void)
{
	const uint64_t pcs[3] = { PC_BASIC + 7, PC_BASIC + 8, PC_BASIC + 9 };
	size_t before = hp_stacktab_count();
	hp_stack *s = hp_stacktab_add(pcs, 3, 64, 2.5);

	if (!ok(s != NULL, "add for the free test"))
		return;
	hp_stacktab_sub(s, 64, 2.5);
	ok(counters_are(s, 2.5, 160, 2.5, 160), "sub adds to the free counters only "
	   "(%g %g %g %g)", s->alloc_objects, s->alloc_space, s->free_objects, s->free_space);
	hp_stacktab_add(pcs, 3, 32, 0.5);
	hp_stacktab_sub(s, 32, 0.5);
	ok(counters_are(s, 3, 176, 3, 176), "a second sample and its free: 3 objects, 176 bytes "
	   "both ways (%g %g %g %g)", s->alloc_objects, s->alloc_space, s->free_objects,
	   s->free_space);
	ok(hp_stacktab_count() - before == 1, "sub does not change the count");
}

static const hp_stack_snap *snap_find(const hp_stack_snap *v, size_t n, const hp_stack *s)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].stack == s)
			return &v[i];
	return NULL;
}

static int snap_matches(const hp_stack_snap *e, const hp_stack *s)
{
	return e && e->alloc_objects == s->alloc_objects && e->alloc_space == s->alloc_space &&
	       e->free_objects == s->free_objects && e->free_space == s->free_space;
}

static int cmp_snap(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const hp_stack_snap *)a)->stack;
	uintptr_t y = (uintptr_t)((const hp_stack_snap *)b)->stack;

	return (x > y) - (x < y);
}

static void test_snapshot(void)
{
	const uint64_t a[2] = { PC_BASIC + 20, PC_BASIC + 21 }, b[2] = { PC_BASIC + 21,
									 PC_BASIC + 20 };
	hp_stack *sa = hp_stacktab_add(a, 2, 1000, 3), *sb = hp_stacktab_add(b, 2, 8, 0.25);
	hp_stack_snap *v = NULL;
	const hp_stack_snap *ea, *eb;
	size_t n = 0, count;
	int unique = 1;

	if (!sa || !sb)
		return (void)ok(0, "adds for the snapshot test");
	hp_stacktab_sub(sb, 8, 0.25);
	count = hp_stacktab_count();
	if (!ok(hp_stacktab_snapshot(&v, &n) == 0, "snapshot returns 0"))
		return;
	ok(n == count, "snapshot has every entry (%zu of %zu)", n, count);
	ea = snap_find(v, n, sa);
	eb = snap_find(v, n, sb);
	ok(snap_matches(ea, sa) && ea->alloc_objects == 3 && ea->alloc_space == 3000 &&
	   ea->free_objects == 0, "snapshot of a: 3 objects, 3000 bytes, nothing freed");
	ok(snap_matches(eb, sb) && eb->alloc_objects == 0.25 && eb->alloc_space == 2 &&
	   eb->free_objects == 0.25 && eb->free_space == 2, "snapshot of b, with its frees");
	qsort(v, n, sizeof(*v), cmp_snap);
	for (size_t i = 0; i < n; i++)
		unique &= v[i].stack != NULL && (i == 0 || v[i].stack != v[i - 1].stack);
	ok(unique, "every snapshot row is a different entry");
	free(v);	/* hp_ifree is free() in the unit tests */
}

static void test_hash(void)
{
	const uint64_t x[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };
	const uint64_t y[4] = { 0x1111, 0x2222, 0x3333, 0x4444 };
	const uint64_t r[4] = { 0x4444, 0x3333, 0x2222, 0x1111 };
	const uint64_t sw[4] = { 0x2222, 0x1111, 0x3333, 0x4444 };
	const uint64_t zero[2] = { 0, 0 };

	ok(hp_stack_hash(x, 4) == hp_stack_hash(y, 4), "same frames in two arrays, same hash");
	ok(hp_stack_hash(x, 4) != hp_stack_hash(r, 4), "reversed order, other hash");
	ok(hp_stack_hash(x, 4) != hp_stack_hash(sw, 4), "two frames swapped, other hash");
	ok(hp_stack_hash(x, 4) != hp_stack_hash(x, 3), "prefix, other hash");
	ok(hp_stack_hash(zero, 1) != hp_stack_hash(zero, 2) &&
	   hp_stack_hash(zero, 0) != hp_stack_hash(zero, 1), "zero frames of depth 0, 1, 2 differ");
}

/* What lib/unwind does with the hash: each frame's chain value from the outer one's, the
 * stack's hash from its innermost frame's value; and the entry found by it. */
static void test_hash_chain(void)
{
	const uint64_t pcs[5] = { PC_BASIC + 0x501, PC_BASIC + 0x502, PC_BASIC + 0x503,
				  PC_BASIC + 0x504, PC_BASIC + 0x505 };
	uint64_t h = HP_STACK_HASH_SEED, outer3 = 0;
	hp_stack *s, *t;

	for (int i = 4; i >= 0; i--) {
		h = hp_stack_hash_step(h, pcs[i]);
		if (i == 2)
			outer3 = h;
	}
	ok(hp_stack_hash_end(h, 5) == hp_stack_hash(pcs, 5),
	   "the chain of steps from the outermost frame, ended, is hp_stack_hash");
	h = hp_stack_hash_step(hp_stack_hash_step(outer3, pcs[1]), pcs[0]);
	ok(hp_stack_hash_end(h, 5) == hp_stack_hash(pcs, 5),
	   "continued from an outer frame's value, the chain gives the same hash");
	ok(hp_stack_hash_end(outer3, 3) == hp_stack_hash(pcs + 2, 3),
	   "an outer frame's value is the hash of the stack it ends (ended at its depth)");
	s = hp_stacktab_add(pcs, 5, 8, 1);
	t = hp_stacktab_add_hashed(pcs, 5, hp_stack_hash_end(h, 5), 8, 1);
	ok(s && s == t && counters_are(s, 2, 16, 0, 0),
	   "add and add_hashed with the carried hash count on one entry");
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(const hp_stack *const *)a;
	uintptr_t y = (uintptr_t)*(const hp_stack *const *)b;

	return (x > y) - (x < y);
}

/* Every entry of v (sorted) is in the snapshot exactly once. */
static size_t count_in_snapshot(hp_stack **sorted, size_t n)
{
	hp_stack_snap *v = NULL;
	size_t nv = 0, found = 0;

	if (hp_stacktab_snapshot(&v, &nv))
		return 0;
	for (size_t i = 0; i < nv; i++) {
		hp_stack *key = (hp_stack *)v[i].stack;

		found += bsearch(&key, sorted, n, sizeof(*sorted), cmp_ptr) != NULL &&
			 v[i].alloc_objects == 2;
	}
	free(v);
	return found;
}

/* The fewest of the growth stacks in any one shard (the shard is hash % 64). */
static size_t min_per_shard(void)
{
	size_t per[64] = { 0 }, min = SIZE_MAX;
	uint64_t pcs[MAXDEPTH];

	for (size_t i = 0; i < GROW_N; i++)
		per[hp_stack_hash(pcs, make_stack(PC_GROW, i, pcs)) % 64]++;
	for (int k = 0; k < 64; k++)
		min = per[k] < min ? per[k] : min;
	return min;
}

static void test_growth(void)
{
	hp_stack **first = calloc(GROW_N, sizeof(*first));
	size_t before = hp_stacktab_count(), same = 0, nulls = 0, contents = 0;
	uint64_t pcs[MAXDEPTH];

	if (!first)
		return (void)ok(0, "calloc for the growth test");
	/* 16 buckets at first, doubled past 2 entries a bucket: > 2048 is seven doublings. */
	ok(min_per_shard() > 2048, "every shard gets > 2048 of the stacks, so grows 7 times "
	   "(fewest %zu)", min_per_shard());
	for (size_t i = 0; i < GROW_N; i++) {
		first[i] = hp_stacktab_add(pcs, make_stack(PC_GROW, i, pcs), i, 1);
		nulls += first[i] == NULL;
	}
	ok(nulls == 0 && hp_stacktab_count() - before == GROW_N,
	   "%d distinct stacks: %zu new entries, %zu NULL", GROW_N, hp_stacktab_count() - before,
	   nulls);
	for (size_t i = 0; i < GROW_N; i++) {
		uint32_t d = make_stack(PC_GROW, i, pcs);
		hp_stack *s = hp_stacktab_add(pcs, d, i, 1);

		same += s == first[i];
		contents += s && s->depth == d && memcmp(s->pcs, pcs, d * sizeof(*pcs)) == 0 &&
			    s->alloc_objects == 2 && s->alloc_space == 2.0 * (double)i;
	}
	ok(same == GROW_N, "after growth every stack is found again: same entry %zu/%d", same,
	   GROW_N);
	ok(contents == GROW_N, "and holds its frames and two samples (%zu/%d)", contents, GROW_N);
	ok(hp_stacktab_count() - before == GROW_N, "re-adding made no entry (+%zu)",
	   hp_stacktab_count() - before);
	qsort(first, GROW_N, sizeof(*first), cmp_ptr);
	ok(count_in_snapshot(first, GROW_N) == GROW_N, "a snapshot after growth has all of them");
	free(first);
}

typedef struct conc_arg {
	int id;
	pthread_barrier_t *start;
	hp_stack **seen;	/* CONC_STACKS entries: the entry returned for each stack */
	size_t mismatches, nulls;
} conc_arg;

static void *conc_worker(void *p)
{
	conc_arg *a = p;
	uint64_t pcs[MAXDEPTH];

	pthread_barrier_wait(a->start);
	for (int r = 0; r < CONC_ROUNDS; r++)
		for (size_t k = 0; k < CONC_STACKS; k++) {
			/* Each thread walks the set from its own starting point. */
			size_t i = (k + (size_t)a->id * (CONC_STACKS / CONC_THREADS)) % CONC_STACKS;
			hp_stack *s = hp_stacktab_add(pcs, make_stack(PC_CONC, i, pcs), 8, 1);

			a->nulls += s == NULL;
			if (!a->seen[i])
				a->seen[i] = s;
			a->mismatches += s != a->seen[i];
		}
	return NULL;
}

/* All threads returned one entry per stack, with 20 samples of 8 bytes. */
static void conc_check(conc_arg *args)
{
	size_t bad_ptr = 0, bad_counts = 0, bad = 0;

	for (size_t i = 0; i < CONC_STACKS; i++) {
		hp_stack *s = args[0].seen[i];

		for (int t = 1; t < CONC_THREADS; t++)
			bad_ptr += args[t].seen[i] != s;
		bad_counts += !s || !counters_are(s, CONC_THREADS * CONC_ROUNDS,
						  8.0 * CONC_THREADS * CONC_ROUNDS, 0, 0);
	}
	for (int t = 0; t < CONC_THREADS; t++)
		bad += args[t].mismatches + args[t].nulls;
	ok(bad == 0, "each thread got one entry per stack on every round (%zu not)", bad);
	ok(bad_ptr == 0, "all threads got the same entry for each stack (%zu not)", bad_ptr);
	ok(bad_counts == 0, "each entry has alloc_objects 20 and alloc_space 160 (%zu not)",
	   bad_counts);
}

static void test_concurrent(void)
{
	pthread_t th[CONC_THREADS];
	conc_arg args[CONC_THREADS];
	pthread_barrier_t start;
	size_t before = hp_stacktab_count();
	int started = 0;

	pthread_barrier_init(&start, NULL, CONC_THREADS);
	for (int t = 0; t < CONC_THREADS; t++) {
		args[t] = (conc_arg){ .id = t, .start = &start };
		args[t].seen = calloc(CONC_STACKS, sizeof(*args[t].seen));
		if (args[t].seen && pthread_create(&th[t], NULL, conc_worker, &args[t]) == 0)
			started++;
	}
	if (!ok(started == CONC_THREADS, "%d threads started", started))
		exit(tap_done() | 1);	/* the others wait at the barrier for ever */
	for (int t = 0; t < CONC_THREADS; t++)
		pthread_join(th[t], NULL);
	conc_check(args);
	ok(hp_stacktab_count() - before == CONC_STACKS, "%d threads x %d stacks: +%zu entries",
	   CONC_THREADS, CONC_STACKS, hp_stacktab_count() - before);
	for (int t = 0; t < CONC_THREADS; t++)
		free(args[t].seen);
	pthread_barrier_destroy(&start);
}

int main(void)
{
	ok(hp_stacktab_count() == 0, "the table starts empty");
	test_same_stack();
	test_distinct();
	test_collisions();
	test_sub();
	test_snapshot();
	test_hash();
	test_hash_chain();
	test_growth();
	test_concurrent();
	return tap_done();
}
