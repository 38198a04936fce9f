/* Unit test of lib/livemap: insert/remove round trips copy the record, unknown and
 * already-removed addresses are not found, a million entries (every shard grows) come back
 * out intact, and threads working on disjoint address ranges do not disturb each other.
 *
 * The map never dereferences the stack pointer, so the records carry tokens: addresses in
 * a static array, distinct per address. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tests/tap.h"
#include "livemap.h"

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

int main(void)
{
	ok(hp_livemap_count() == 0, "the map starts empty");
	test_round_trip();
	test_growth();
	test_threads();
	return tap_done();
}
