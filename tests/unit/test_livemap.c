/* Unit test of lib/livemap: insert/remove round trips copy the record, unknown and
 * already-removed addresses are not found, a million entries (every shard grows) come back
 * out intact, and threads working on disjoint address ranges do not disturb each other.
 * White-box part (the test includes lib/livemap.c, so it sees the shards' tables; the
 * archive's copy is then not linked): a shard that cannot grow (allocations made to fail in
 * tests/unit/ialloc_stub.c) fills to all slots but one and then fails inserts with -ENOMEM,
 * and works again once memory is back; addresses forced onto one home slot near the end of
 * a table wrap around to its start, and removal shifts the cluster back to exact, expected
 * slots; and two million random inserts and removes (absent keys included) checked against
 * a reference model, with the linear-probing invariant (no empty slot between an entry's
 * home and its slot; count = occupied slots; one slot always empty) checked on every shard
 * as the tables grow through several doublings.
 *
 * The map never dereferences the stack pointer, so the records carry tokens: addresses in
 * a static array, distinct per address. An alarm ends a hung run. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/tap.h"
#include "livemap.c"

extern int hp_stub_fail_alloc;

#define BIG_N 1000000
#define NTHREADS 4
#define PER_THREAD 200000
#define BATCH 1000

static char tokens[64];

/* The made-up record of block i of a range: 16-byte aligned addresses like malloc's. */
static uintptr_t addr_of(uintptr_t base, size_t i)
{
	return base + (uintptr_t)i * 16;
}

static struct hp_stack *stack_of(size_t i)
{
	return (struct hp_stack *)(void *)&tokens[i % sizeof(tokens)];
}

static double weight_of(size_t i)
{
	return 1.0 + (double)(i % 7) * 0.25;
}

static int insert_nth(uintptr_t base, size_t i)
{
	return hp_livemap_insert(addr_of(base, i), stack_of(i), i + 1, weight_of(i));
}

/* Removes block i of the range; 1 when found with exactly its record. */
static int remove_nth(uintptr_t base, size_t i)
{
	hp_live out;

	memset(&out, 0xa5, sizeof(out));
	if (hp_livemap_remove(addr_of(base, i), &out) != 1)
		return 0;
	return out.addr == addr_of(base, i) && out.stack == stack_of(i) && out.size == i + 1 &&
	       out.weight == weight_of(i) && out.next == NULL;
}

static void test_round_trip(void)
{
	uintptr_t a = 0x7f0000001230, b = 0x7f0000001240;
	size_t before = hp_livemap_count();
	hp_live out;

	ok(hp_livemap_insert(a, stack_of(3), 4096, 2.5) == 0, "insert returns 0");
	ok(hp_livemap_insert(b, stack_of(4), 24, 1.0) == 0, "a second insert returns 0");
	ok(hp_livemap_count() - before == 2, "count +2 (+%zu)", hp_livemap_count() - before);
	memset(&out, 0, sizeof(out));
	ok(hp_livemap_remove(a, &out) == 1, "remove of an inserted address returns 1");
	ok(out.addr == a && out.stack == stack_of(3) && out.size == 4096 && out.weight == 2.5,
	   "remove copies addr, stack, size and weight (%#lx %p %zu %g)",
	   (unsigned long)out.addr, (void *)out.stack, out.size, out.weight);
	ok(hp_livemap_count() - before == 1, "count +1 after one remove");
	memset(&out, 0x5a, sizeof(out));
	ok(hp_livemap_remove(a, &out) == 0, "removing it a second time returns 0");
	ok(hp_livemap_remove(a + 0x1000, &out) == 0 && hp_livemap_remove(0, &out) == 0,
	   "remove of never-inserted addresses returns 0");
	ok(hp_livemap_count() - before == 1, "failed removes leave the count alone");
	ok(hp_livemap_remove(b, &out) == 1 && out.addr == b && out.stack == stack_of(4) &&
	   out.size == 24 && out.weight == 1.0, "the neighbour is still there, intact");
	ok(hp_livemap_count() == before, "count back to where it was");
}

static size_t insert_range(uintptr_t base, size_t from, size_t to)
{
	size_t failed = 0;

	for (size_t i = from; i < to; i++)
		failed += insert_nth(base, i) != 0;
	return failed;
}

static void test_growth(void)
{
	const uintptr_t base = 0x7e0000000000;
	size_t before = hp_livemap_count(), failed = 0, found = 0, again = 0;
	int counts_ok = 1;

	for (size_t i = 0; i < BIG_N; i += BIG_N / 10) {
		failed += insert_range(base, i, i + BIG_N / 10);
		counts_ok &= hp_livemap_count() - before == i + BIG_N / 10;
	}
	ok(failed == 0, "%d inserts, %zu failed", BIG_N, failed);
	ok(counts_ok && hp_livemap_count() - before == BIG_N, "count follows the inserts (+%zu)",
	   hp_livemap_count() - before);
	/* Out in another order: odd ones, then even ones from the top down. */
	for (size_t i = 1; i < BIG_N; i += 2)
		found += remove_nth(base, i);
	ok(hp_livemap_count() - before == BIG_N / 2, "count after removing half: +%zu",
	   hp_livemap_count() - before);
	for (size_t i = BIG_N; i > 0; i -= 2)
		found += remove_nth(base, i - 2);
	ok(found == BIG_N, "every remove found its record intact (%zu/%d)", found, BIG_N);
	ok(hp_livemap_count() == before, "count back to %zu (%zu)", before, hp_livemap_count());
	for (size_t i = 0; i < BIG_N; i += 997)
		again += remove_nth(base, i);
	ok(again == 0, "removed addresses are gone (%zu found again)", again);
}

typedef struct worker {
	pthread_barrier_t *start;
	uintptr_t base;
	size_t failed_inserts, found, bad_counts;
} worker;

/* Batches of inserts then removes of its own range, so the shards grow under contention
 * and each thread's count never goes below what it holds. */
static void *run_worker(void *p)
{
	worker *w = p;

	pthread_barrier_wait(w->start);
	for (size_t i = 0; i < PER_THREAD; i += BATCH) {
		w->failed_inserts += insert_range(w->base, i, i + BATCH);
		w->bad_counts += hp_livemap_count() < BATCH;
		/* Leave half of each batch in the map until the end. */
		for (size_t k = i; k < i + BATCH; k += 2)
			w->found += remove_nth(w->base, k);
	}
	for (size_t i = 1; i < PER_THREAD; i += 2)
		w->found += remove_nth(w->base, i);
	return NULL;
}

static void test_threads(void)
{
	pthread_t th[NTHREADS];
	worker w[NTHREADS];
	pthread_barrier_t start;
	size_t before = hp_livemap_count(), failed = 0, found = 0, bad_counts = 0;
	int started = 0;

	pthread_barrier_init(&start, NULL, NTHREADS);
	for (int t = 0; t < NTHREADS; t++) {
		/* Interleaved but disjoint: addresses = t * 4 mod 16. */
		w[t] = (worker){ .start = &start, .base = 0x7d0000000000 + (uintptr_t)t * 4 };
		started += pthread_create(&th[t], NULL, run_worker, &w[t]) == 0;
	}
	if (!ok(started == NTHREADS, "%d threads started", started))
		exit(tap_done() | 1);	/* the others wait at the barrier for ever */
	for (int t = 0; t < NTHREADS; t++) {
		pthread_join(th[t], NULL);
		failed += w[t].failed_inserts;
		found += w[t].found;
		bad_counts += w[t].bad_counts;
	}
	ok(failed == 0, "%d threads x %d inserts, %zu failed", NTHREADS, PER_THREAD, failed);
	ok(found == (size_t)NTHREADS * PER_THREAD, "every remove found its own record intact "
	   "(%zu/%d)", found, NTHREADS * PER_THREAD);
	ok(bad_counts == 0, "the count never fell below what a thread held (%zu times)",
	   bad_counts);
	ok(hp_livemap_count() == before, "final count %zu (was %zu)", hp_livemap_count(), before);
	pthread_barrier_destroy(&start);
}

/* --- white box ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A random malloc-like address: 16-byte aligned, below 2^47, never 0. */
static uintptr_t rnd_addr(void)
{
	return (uintptr_t)((rnd() & 0x7ffffffffff0ull) | 0x10);
}

/* Checks every shard: count = occupied slots, at least one slot empty, and no empty slot
 * between an entry's home and its slot (what lookups and the backward shift rely on).
 * Returns the number of faults; *max_cap gets the largest table. */
static size_t check_shards(size_t *max_cap)
{
	size_t faults = 0;

	for (int i = 0; i < NSHARDS; i++) {
		shard *sh = &tab.sh[i];
		size_t n = 0;

		hp_lock_take(&sh->lock);
		for (size_t j = 0; j <= sh->mask; j++) {
			const slot *e = &sh->slots[j];

			if (!e->addr)
				continue;
			n++;
			faults += addr_hash(e->addr) >> (64 - SHARD_BITS) != (uint64_t)i;
			for (size_t t = home_of(addr_hash(e->addr), sh->shift); t != j;
			     t = (t + 1) & sh->mask)
				if (!sh->slots[t].addr) {
					faults++;
					break;
				}
		}
		faults += n != sh->count || n > sh->mask;
		if (max_cap && sh->mask + 1 > *max_cap)
			*max_cap = sh->mask + 1;
		hp_lock_give(&sh->lock);
	}
	return faults;
}

static size_t shard_count(int i)
{
	size_t n;

	hp_lock_take(&tab.sh[i].lock);
	n = tab.sh[i].count;
	hp_lock_give(&tab.sh[i].lock);
	return n;
}

#define FULL_N 6000

/* With the allocator failing, each shard keeps its 16 static slots: it takes 15 entries
 * (past 12 its growth fails and it fills further) and then refuses with -ENOMEM. */
static void test_full_part1(uintptr_t *addrs, int *in)
{
	size_t okays = 0, enomem = 0, other = 0, full_shards = 0, found = 0, absent = 0;
	hp_live out;

	hp_stub_fail_alloc = 1;
	for (int i = 0; i < FULL_N; i++) {
		int r;

		addrs[i] = rnd_addr();
		r = hp_livemap_insert(addrs[i], stack_of((size_t)i), (size_t)i + 1, weight_of((size_t)i));
		in[i] = r == 0;
		okays += r == 0;
		enomem += r == -ENOMEM;
		other += r != 0 && r != -ENOMEM;
	}
	for (int i = 0; i < NSHARDS; i++)
		full_shards += shard_count(i) == INITIAL_SLOTS - 1 &&
			       tab.sh[i].mask == INITIAL_SLOTS - 1;
	ok(okays == NSHARDS * (INITIAL_SLOTS - 1) && enomem == FULL_N - okays && other == 0,
	   "no memory: %zu inserts succeed (every shard's 16 slots but one), the other %zu fail "
	   "with -ENOMEM (%zu other results)", okays, enomem, other);
	ok(full_shards == NSHARDS, "every shard full at its initial size (%zu of %d)",
	   full_shards, NSHARDS);
	ok(hp_livemap_count() == okays, "count = the successful inserts (%zu)",
	   hp_livemap_count());
	ok(check_shards(NULL) == 0, "full tables are consistent");
	for (int i = 0; i < FULL_N; i++) {
		memset(&out, 0x5a, sizeof(out));
		if (in[i])
			found += hp_livemap_remove(addrs[i], &out) == 1 && out.addr == addrs[i] &&
				 out.stack == stack_of((size_t)i) && out.size == (size_t)i + 1 &&
				 out.weight == weight_of((size_t)i) && out.next == NULL;
		else
			absent += hp_livemap_remove(addrs[i], &out) == 0;
	}
	ok(found == okays && absent == FULL_N - okays, "every stored record comes back intact "
	   "(%zu), no refused one is there (%zu)", found, absent);
	ok(hp_livemap_count() == 0 && check_shards(NULL) == 0, "empty again, consistent");
	hp_stub_fail_alloc = 0;
}

/* Memory back: the same inserts all succeed, the shards grow, and all come out intact. */
static void test_full_part2(const uintptr_t *addrs)
{
	size_t failed = 0, found = 0, max_cap = 0, faults;

	for (int i = 0; i < FULL_N; i++)
		failed += hp_livemap_insert(addrs[i], stack_of((size_t)i), (size_t)i + 1,
					    weight_of((size_t)i)) != 0;
	ok(failed == 0 && hp_livemap_count() == FULL_N, "memory back: %d inserts, %zu failed",
	   FULL_N, failed);
	faults = check_shards(&max_cap);
	ok(faults == 0 && max_cap > INITIAL_SLOTS,
	   "the shards grew (largest %zu slots), consistent (%zu faults)", max_cap, faults);
	for (int i = 0; i < FULL_N; i++) {
		hp_live out;

		found += hp_livemap_remove(addrs[i], &out) == 1 && out.addr == addrs[i] &&
			 out.size == (size_t)i + 1;
	}
	ok(found == FULL_N && hp_livemap_count() == 0, "all %zu removed intact", found);
}

/* An address of shard 0 whose home in a 16-slot table is home, not in used[0..n). */
static uintptr_t addr_with_home(size_t home, const uintptr_t *used, size_t n)
{
	for (;;) {
		uintptr_t a = rnd_addr();
		uint64_t h = addr_hash(a);
		int dup = 0;

		if (h >> (64 - SHARD_BITS) != 0 || home_of(h, 64 - INITIAL_LG) != home)
			continue;
		for (size_t i = 0; i < n; i++)
			dup |= used[i] == a;
		if (!dup)
			return a;
	}
}

/* Where a is in shard 0's table; -1 when absent. */
static long slot_of(uintptr_t a)
{
	for (size_t j = 0; j <= tab.sh[0].mask; j++)
		if (tab.sh[0].slots[j].addr == a)
			return (long)j;
	return -1;
}

/* Shard 0 at its initial 16 slots, empty: A1..A3 have home 14, B home 0, C home 1, D home
 * 4. Inserted in that order they sit at 14 15 0 1 2 4 (the cluster wraps around). */
static void test_collisions(void)
{
	enum { A1, A2, A3, B, C, D, N };
	static const size_t homes[N] = { 14, 14, 14, 0, 1, 4 };
	uintptr_t a[N];
	size_t ins_failed = 0;
	hp_live out;

	ok(tab.sh[0].mask == INITIAL_SLOTS - 1 && tab.sh[0].count == 0,
	   "shard 0 is empty with its %u initial slots", INITIAL_SLOTS);
	for (int i = 0; i < N; i++) {
		a[i] = addr_with_home(homes[i], a, (size_t)i);
		ins_failed += hp_livemap_insert(a[i], stack_of((size_t)i), 100 + (size_t)i, 1.0) != 0;
	}
	ok(ins_failed == 0, "6 colliding inserts succeed");
	ok(slot_of(a[A1]) == 14 && slot_of(a[A2]) == 15 && slot_of(a[A3]) == 0 &&
	   slot_of(a[B]) == 1 && slot_of(a[C]) == 2 && slot_of(a[D]) == 4,
	   "probing wraps past the end: slots %ld %ld %ld %ld %ld %ld (want 14 15 0 1 2 4)",
	   slot_of(a[A1]), slot_of(a[A2]), slot_of(a[A3]), slot_of(a[B]), slot_of(a[C]),
	   slot_of(a[D]));
	ok(hp_livemap_remove(addr_with_home(14, a, N), &out) == 0 &&
	   hp_livemap_remove(addr_with_home(0, a, N), &out) == 0,
	   "absent keys whose probe crosses the wrapped cluster are not found");
	/* Remove A1: A2 A3 shift back across the end, B and C to their homes; D stays. */
	ok(hp_livemap_remove(a[A1], &out) == 1 && out.addr == a[A1] && out.size == 100,
	   "remove the head of the wrapped cluster");
	ok(slot_of(a[A2]) == 14 && slot_of(a[A3]) == 15 && slot_of(a[B]) == 0 &&
	   slot_of(a[C]) == 1 && slot_of(a[D]) == 4 && tab.sh[0].slots[2].addr == 0,
	   "backward shift: slots %ld %ld %ld %ld %ld, slot 2 empty (want 14 15 0 1 4)",
	   slot_of(a[A2]), slot_of(a[A3]), slot_of(a[B]), slot_of(a[C]), slot_of(a[D]));
	/* Remove B (at its home 0): C is at its home 1 and stays, so 0 empties. */
	ok(hp_livemap_remove(a[B], &out) == 1 && out.addr == a[B] && out.size == 103,
	   "remove an entry at its home inside the cluster");
	ok(slot_of(a[A2]) == 14 && slot_of(a[A3]) == 15 && slot_of(a[C]) == 1 &&
	   tab.sh[0].slots[0].addr == 0 && slot_of(a[D]) == 4,
	   "entries at their homes do not move: slots %ld %ld %ld %ld, slot 0 empty",
	   slot_of(a[A2]), slot_of(a[A3]), slot_of(a[C]), slot_of(a[D]));
	/* Remove A2 at 14: A3 (home 14, at 15) moves to 14; the cluster ends at the empty 0. */
	ok(hp_livemap_remove(a[A2], &out) == 1 && slot_of(a[A3]) == 14 &&
	   tab.sh[0].slots[15].addr == 0, "A3 shifts back to 14, 15 empties");
	ok(check_shards(NULL) == 0, "consistent after the shifts");
	ok(hp_livemap_remove(a[A3], &out) == 1 && hp_livemap_remove(a[C], &out) == 1 &&
	   hp_livemap_remove(a[D], &out) == 1 && hp_livemap_remove(a[A1], &out) == 0 &&
	   hp_livemap_count() == 0, "the rest come out, the removed ones stay gone");
}

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return (x > y) - (x < y);
}

#define POOL 60000
#define OPS 2000000

/* Random inserts and removes over a pool of addresses against a model. The first half
 * leans to inserts (the shards grow through several doublings), the second to removes. */
static void test_model(void)
{
	uintptr_t *addr = calloc(POOL, sizeof(*addr)), *sorted = calloc(POOL, sizeof(*addr));
	unsigned char *live = calloc(POOL, 1);
	size_t dups = 0;
	size_t nlive = 0, bad_ins = 0, bad_rem = 0, bad_absent = 0, faults = 0, bad_count = 0;
	size_t max_cap = 0, absent_tries = 0, before = hp_livemap_count();

	if (!addr || !live || !sorted)
		exit(tap_done() | 1);
	for (size_t i = 0; i < POOL; i++)
		addr[i] = rnd_addr();
	memcpy(sorted, addr, POOL * sizeof(*addr));
	qsort(sorted, POOL, sizeof(*sorted), cmp_addr);
	for (size_t i = 1; i < POOL; i++)
		dups += sorted[i] == sorted[i - 1];
	ok(dups == 0, "a pool of %d distinct random addresses (%zu duplicates)", POOL, dups);
	for (size_t op = 0; op < OPS; op++) {
		size_t i = rnd() % POOL;
		unsigned insert_pct = op < OPS / 2 ? 70 : 30;
		hp_live out;

		if (!live[i] && rnd() % 100 < insert_pct) {
			bad_ins += hp_livemap_insert(addr[i], stack_of(i), i + 1, weight_of(i)) != 0;
			live[i] = 1;
			nlive++;
		} else if (live[i]) {
			memset(&out, 0xa5, sizeof(out));
			bad_rem += hp_livemap_remove(addr[i], &out) != 1 || out.addr != addr[i] ||
				   out.stack != stack_of(i) || out.size != i + 1 ||
				   out.weight != weight_of(i) || out.next != NULL;
			live[i] = 0;
			nlive--;
		} else {
			absent_tries++;
			bad_absent += hp_livemap_remove(addr[i], &out) != 0;
		}
		if (op % (OPS / 20) == OPS / 20 - 1) {
			faults += check_shards(&max_cap);
			bad_count += hp_livemap_count() - before != nlive;
		}
	}
	ok(bad_ins == 0, "%d random operations: no insert failed", OPS);
	ok(bad_rem == 0, "every remove of a live address returned its exact record (%zu bad)",
	   bad_rem);
	ok(bad_absent == 0 && absent_tries > 100000, "removes of absent addresses return 0 "
	   "(%zu bad of %zu)", bad_absent, absent_tries);
	ok(bad_count == 0, "count = the model's at 20 checkpoints (%zu off)", bad_count);
	ok(faults == 0, "the probing invariant held in every shard at 20 checkpoints (%zu "
	   "faults)", faults);
	ok(max_cap >= INITIAL_SLOTS << 5, "the tables grew through at least 5 doublings "
	   "(largest %zu slots)", max_cap);
	for (size_t i = 0; i < POOL; i++)
		if (live[i]) {
			hp_live out;

			bad_rem += hp_livemap_remove(addr[i], &out) != 1 || out.size != i + 1;
		}
	ok(bad_rem == 0 && hp_livemap_count() == before && check_shards(NULL) == 0,
	   "drained back to %zu entries, consistent", before);
	free(addr);
	free(sorted);
	free(live);
}

int main(void)
{
	static uintptr_t full_addrs[FULL_N];
	static int full_in[FULL_N];

	alarm(60);	/* a hang is a failure (SIGALRM) */
	ok(hp_livemap_count() == 0, "the map starts empty");
	test_full_part1(full_addrs, full_in);
	test_collisions();
	test_full_part2(full_addrs);
	test_round_trip();
	test_model();
	test_growth();
	test_threads();
	return tap_done();
}
