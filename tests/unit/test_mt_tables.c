/* tests/unit/test_mt_tables.c: lib/stacktab and lib/liverec used together by many threads,
 * the way the profiler uses them, while another thread takes snapshots.
 *
 * ADDERS threads each record samples: hp_stacktab_add (on stacks shared by every thread, so
 * first insertions race, and on stacks of their own, so every shard grows), then
 * hp_liverec_put of a fresh block's record; a while later they free most of their own blocks
 * (hp_liverec_take + hp_stacktab_sub). A thief thread frees blocks of every adder at the
 * same time, so owner and thief race for the same blocks; a program frees a block once,
 * which the test stands for with a claim on a flag, and the winner's take must find the
 * record intact and leave it spoiled (a second take refused). A snapshot thread meanwhile calls hp_stacktab_snapshot and the count
 * functions and checks what must hold at any instant (no duplicate entries, frees never
 * above allocations, counters never decreasing).
 *
 * Weights are multiples of 1/4 and sizes integers, so every sum is exact in a double: at
 * the end the table's counters must equal, exactly, what the threads recorded, per stack
 * and in total, and hp_stacktab_live must count exactly the blocks nobody removed. Then every
 * remaining block is removed and each stack's in-use counters must be exactly zero.
 *
 * Written to be run under ThreadSanitizer too (tests/hazards/sanitizers.sh builds it with
 * -fsanitize=thread/address/undefined): the data shared between the test's own threads goes
 * through __atomic builtins or the barrier, so any report is about lib/.
 *
 * Invoked with no arguments; prints TAP. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/tap.h"
#include "liverec.h"
#include "stacktab.h"

#define ADDERS 4
#define PER_ADDER 60000		/* samples recorded by each adder */
#define SHARED 1024		/* stacks every adder uses */
#define OWN 9000		/* stacks of one adder; with ~35700 stacks used in all (~560
				 * a shard), most of the table's 64 shards pass 512 and grow */
#define NSTACKS (SHARED + ADDERS * OWN)
#define LAG 256			/* an adder frees its block i - LAG after recording block i */
#define KEEP(i) ((i) % 5 < 3)	/* ... unless KEEP(i - LAG): 3 in 5 stay live till the end,
				 * ~144000 blocks */
#define MAXDEPTH 8
#define PC_BASE 0x5a0000000000ull
#define SLOT 32			/* a block's record and 16 bytes of block */

/* What one thread recorded, per stack (doubles stay exact: multiples of 1/4, < 2^50). */
typedef struct tally {
	double ao[NSTACKS], as[NSTACKS], fo[NSTACKS], fs[NSTACKS];
} tally;

typedef struct adder {
	int id;
	tally *t;
	unsigned char *mem;		/* PER_ADDER slots of SLOT bytes */
	size_t progress;		/* blocks inserted so far; __atomic, read by the thief */
	unsigned char *taken;		/* per block: removed (by anyone); __atomic */
	size_t add_fail, insert_fail, removed, bad_record, double_take;
} adder;

static adder adders[ADDERS];
static pthread_barrier_t start;
static int adders_left = ADDERS;	/* __atomic */

/* ---- the made-up samples ------------------------------------------------------------ */

static uint32_t stack_pcs(size_t idx, uint64_t *pcs)
{
	uint32_t depth = 1 + (uint32_t)(idx % MAXDEPTH);

	for (uint32_t j = 0; j < depth; j++)
		pcs[j] = PC_BASE + (uint64_t)idx * 16 + j;
	return depth;
}

/* The stack index of an entry of ours, or -1 for anything else in the table. */
static long stack_index(const hp_stack *s)
{
	uint64_t pc = s->depth ? s->pcs[0] : 0;

	if (pc < PC_BASE || pc >= PC_BASE + (uint64_t)NSTACKS * 16 || (pc - PC_BASE) % 16)
		return -1;
	return (long)((pc - PC_BASE) / 16);
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

/* Block i of adder a: its stack (half shared, half its own), size and weight. */
static size_t block_stack(int a, size_t i)
{
	uint64_t h = mix((uint64_t)a << 32 | i);

	return h % 2 ? (size_t)(h >> 8) % SHARED : SHARED + (size_t)a * OWN + (size_t)(h >> 8) % OWN;
}

static size_t block_size(int a, size_t i)
{
	return 1 + (size_t)(mix((uint64_t)a << 40 ^ i ^ 0x5555) % 70000);
}

static double block_weight(int a, size_t i)
{
	return 1.0 + (double)(mix(i * 7 + (size_t)a) % 13) * 0.25;
}

static void *block_addr(int a, size_t i)
{
	return adders[a].mem + i * SLOT + HP_LIVEREC_BYTES;
}

/* ---- removal, by the owner or the thief --------------------------------------------- */

/* Removes block i of adder a; on success checks the record, marks the block taken (a
 * second taker is an error) and tallies the free. Returns 1 if this call removed it. */
static int take(adder *a, size_t i, tally *t, size_t *bad_record, size_t *double_take)
{
	hp_liverec out, again;
	void *bp = block_addr(a->id, i);
	long idx;

	if (__atomic_exchange_n(&a->taken[i], 1, __ATOMIC_ACQ_REL))
		return 0;	/* freed already: the program frees a block once */
	memset(&out, 0xa5, sizeof(out));
	if (!hp_liverec_take(bp, hp_liverec_front(bp), &out)) {
		(*bad_record)++;
		return 1;
	}
	idx = stack_index(out.stack);
	if (out.size != block_size(a->id, i) || out.lg_off != 4 ||
	    out.weight != block_weight(a->id, i) || idx != (long)block_stack(a->id, i)) {
		(*bad_record)++;
		return 1;	/* its counters are unknown: the totals will show it too */
	}
	if (hp_liverec_take(bp, hp_liverec_front(bp), &again))
		(*double_take)++;
	hp_stacktab_sub(out.stack, out.size, out.weight);
	t->fo[idx] += out.weight;
	t->fs[idx] += out.weight * (double)out.size;
	return 1;
}

static void *run_adder(void *p)
{
	adder *a = p;
	uint64_t pcs[MAXDEPTH];

	pthread_barrier_wait(&start);
	for (size_t i = 0; i < PER_ADDER; i++) {
		size_t idx = block_stack(a->id, i), size = block_size(a->id, i);
		double w = block_weight(a->id, i);
		uint32_t depth = stack_pcs(idx, pcs);
		hp_stack *s = hp_stacktab_add(pcs, depth, size, w);

		if (!s || stack_index(s) != (long)idx) {
			a->add_fail++;
			continue;
		}
		a->t->ao[idx] += w;
		a->t->as[idx] += w * (double)size;
		hp_liverec r = { s, size, w, 4 };
		void *bp = block_addr(a->id, i);

		if (!hp_liverec_put(bp, hp_liverec_front(bp), &r)) {
			/* Not live: take the sample back off the table, as the profiler would. */
			a->insert_fail++;
			hp_stacktab_sub(s, size, w);
			a->t->fo[idx] += w;
			a->t->fs[idx] += w * (double)size;
			__atomic_store_n(&a->taken[i], 1, __ATOMIC_RELEASE);
		}
		__atomic_store_n(&a->progress, i + 1, __ATOMIC_RELEASE);
		if (i >= LAG && !KEEP(i - LAG))
			a->removed += take(a, i - LAG, a->t, &a->bad_record, &a->double_take);
	}
	__atomic_sub_fetch(&adders_left, 1, __ATOMIC_ACQ_REL);
	return NULL;
}

typedef struct thief {
	tally *t;
	size_t tries, removed, bad_record, double_take;
} thief;

/* Removes recent blocks of every adder, racing with their owners. */
static void *run_thief(void *p)
{
	thief *th = p;
	uint64_t r = 12345;

	pthread_barrier_wait(&start);
	while (__atomic_load_n(&adders_left, __ATOMIC_ACQUIRE) > 0) {
		for (int a = 0; a < ADDERS; a++) {
			size_t n = __atomic_load_n(&adders[a].progress, __ATOMIC_ACQUIRE), i;

			if (n == 0)
				continue;
			r = mix(r + 1);
			/* Mostly blocks the owner is about to free, sometimes kept ones. */
			i = n > LAG ? n - 1 - (size_t)(r % (2 * LAG)) % n : (size_t)r % n;
			th->tries++;
			th->removed += take(&adders[a], i, th->t, &th->bad_record, &th->double_take);
		}
	}
	return NULL;
}

/* ---- the snapshot thread ------------------------------------------------------------ */

typedef struct snapper {
	double last_ao[NSTACKS], last_fo[NSTACKS];
	unsigned seen[NSTACKS];		/* snapshot number in which index was last seen */
	size_t snaps, during, snap_fail, dup, free_above, decrease, count_decrease, too_many;
	size_t max_entries;
} snapper;

static void check_snapshot(snapper *sn, const hp_stack_snap *v, size_t n, size_t count_before)
{
	size_t ours = 0;

	sn->snaps++;
	for (size_t k = 0; k < n; k++) {
		long idx = stack_index(v[k].stack);

		if (idx < 0)
			continue;
		ours++;
		if (sn->seen[idx] == sn->snaps)
			sn->dup++;
		sn->seen[idx] = (unsigned)sn->snaps;
		/* One shard lock is held while an entry is copied: its frees never exceed its
		 * allocations, and nothing ever goes down. */
		if (v[k].free_objects > v[k].alloc_objects || v[k].free_space > v[k].alloc_space)
			sn->free_above++;
		if (v[k].alloc_objects < sn->last_ao[idx] || v[k].free_objects < sn->last_fo[idx])
			sn->decrease++;
		sn->last_ao[idx] = v[k].alloc_objects;
		sn->last_fo[idx] = v[k].free_objects;
	}
	if (ours > NSTACKS || n > count_before + 64 + (size_t)NSTACKS)
		sn->too_many++;
	if (ours > sn->max_entries)
		sn->max_entries = ours;
}

static void *run_snapper(void *p)
{
	snapper *sn = p;
	size_t last_count = 0;

	pthread_barrier_wait(&start);
	for (;;) {
		int running = __atomic_load_n(&adders_left, __ATOMIC_ACQUIRE) > 0;
		size_t count = hp_stacktab_count(), n = 0;
		hp_stack_snap *v = NULL;

		if (count < last_count)
			sn->count_decrease++;
		last_count = count;
		if (hp_stacktab_snapshot(&v, &n) != 0) {
			sn->snap_fail++;
		} else {
			check_snapshot(sn, v, n, count);
			free(v);	/* hp_ifree is free() in the unit-test build */
		}
		(void)hp_stacktab_live();
		if (!running)
			break;	/* one last snapshot after the adders are done */
		sn->during++;
	}
	return NULL;
}

/* ---- the test ----------------------------------------------------------------------- */

int main(void)
{
	static thief th;
	static snapper sn;
	static tally total;
	pthread_t tid[ADDERS + 2];
	size_t stacks_before = hp_stacktab_count(), live_before = hp_stacktab_live();
	size_t add_fail = 0, insert_fail = 0, removed = 0, bad_record = 0, double_take = 0;
	size_t live_expected = 0, untaken = 0, drained = 0, drain_bad = 0, ours = 0, used = 0;
	size_t wrong = 0, nonzero = 0, n;
	double sum[4] = { 0 }, want[4] = { 0 };
	hp_stack_snap *v;
	int started = 0;

	th.t = calloc(1, sizeof(tally));
	if (!th.t)
		return 2;
	for (int a = 0; a < ADDERS; a++) {
		adders[a].id = a;
		adders[a].t = calloc(1, sizeof(tally));
		adders[a].taken = calloc(PER_ADDER, 1);
		adders[a].mem = aligned_alloc(16, (size_t)PER_ADDER * SLOT);
		if (!adders[a].t || !adders[a].taken || !adders[a].mem)
			return 2;
	}
	pthread_barrier_init(&start, NULL, ADDERS + 2);
	for (int a = 0; a < ADDERS; a++)
		started += pthread_create(&tid[a], NULL, run_adder, &adders[a]) == 0;
	started += pthread_create(&tid[ADDERS], NULL, run_thief, &th) == 0;
	started += pthread_create(&tid[ADDERS + 1], NULL, run_snapper, &sn) == 0;
	if (!ok(started == ADDERS + 2, "%d adders, a thief and a snapshot thread started",
		ADDERS))
		return tap_done() | 1;	/* the others wait at the barrier for ever */
	for (int k = 0; k < ADDERS + 2; k++)
		pthread_join(tid[k], NULL);

	for (int a = 0; a < ADDERS; a++) {
		add_fail += adders[a].add_fail;
		insert_fail += adders[a].insert_fail;
		removed += adders[a].removed;
		bad_record += adders[a].bad_record;
		double_take += adders[a].double_take;
	}
	ok(add_fail == 0 && insert_fail == 0, "%d x %d samples recorded (%zu adds and %zu "
	   "inserts failed)", ADDERS, PER_ADDER, add_fail, insert_fail);
	ok(th.removed > 0, "the thief took %zu blocks in %zu tries, the owners %zu", th.removed,
	   th.tries, removed);
	ok(bad_record == 0 && th.bad_record == 0, "every removed record was the one inserted "
	   "(%zu + %zu wrong)", bad_record, th.bad_record);
	ok(double_take == 0 && th.double_take == 0, "a taken record is refused a second time (%zu + %zu accepted)",
	   double_take, th.double_take);
	diag("%zu snapshots while the adders ran, %zu entries of ours at most", sn.during,
	     sn.max_entries);
	ok(sn.during >= 2, "snapshots were taken while the adders ran (%zu)", sn.during);
	ok(sn.snap_fail == 0 && sn.dup == 0 && sn.too_many == 0, "every snapshot succeeded, "
	   "with no entry twice and no more entries than exist (%zu failed, %zu duplicates, "
	   "%zu too long)", sn.snap_fail, sn.dup, sn.too_many);
	ok(sn.free_above == 0, "in every snapshot frees <= allocations per entry (%zu not)",
	   sn.free_above);
	ok(sn.decrease == 0 && sn.count_decrease == 0, "counters and counts never went down "
	   "between snapshots (%zu entries, %zu counts)", sn.decrease, sn.count_decrease);

	/* The exact expected state: sum of every thread's tallies. */
	for (int a = 0; a <= ADDERS; a++) {
		const tally *t = a < ADDERS ? adders[a].t : th.t;

		for (size_t k = 0; k < NSTACKS; k++) {
			total.ao[k] += t->ao[k];
			total.as[k] += t->as[k];
			total.fo[k] += t->fo[k];
			total.fs[k] += t->fs[k];
		}
	}
	for (int a = 0; a < ADDERS; a++)
		for (size_t i = 0; i < PER_ADDER; i++)
			live_expected += !adders[a].taken[i];
	for (size_t k = 0; k < NSTACKS; k++) {
		used += total.ao[k] > 0;
		want[0] += total.ao[k];
		want[1] += total.as[k];
		want[2] += total.fo[k];
		want[3] += total.fs[k];
	}
	ok(hp_stacktab_count() - stacks_before == used, "one entry per distinct stack: %zu new "
	   "entries for %zu stacks used", hp_stacktab_count() - stacks_before, used);
	ok(hp_stacktab_live() - live_before == live_expected, "hp_stacktab_live counts exactly "
	   "the blocks nobody removed (%zu, expected %zu)", hp_stacktab_live() - live_before,
	   live_expected);

	if (!ok(hp_stacktab_snapshot(&v, &n) == 0, "final snapshot"))
		return tap_done() | 1;
	for (size_t k = 0; k < n; k++) {
		long idx = stack_index(v[k].stack);

		if (idx < 0)
			continue;
		ours++;
		wrong += v[k].alloc_objects != total.ao[idx] || v[k].alloc_space != total.as[idx] ||
			 v[k].free_objects != total.fo[idx] || v[k].free_space != total.fs[idx];
		sum[0] += v[k].alloc_objects;
		sum[1] += v[k].alloc_space;
		sum[2] += v[k].free_objects;
		sum[3] += v[k].free_space;
	}
	free(v);
	ok(ours == used, "the final snapshot has every stack used (%zu of %zu)", ours, used);
	ok(wrong == 0, "every entry's four counters are exactly what the threads recorded "
	   "(%zu differ)", wrong);
	ok(sum[0] == want[0] && sum[1] == want[1] && sum[2] == want[2] && sum[3] == want[3],
	   "totals exact: alloc %.2f objects %.0f bytes, free %.2f objects %.0f bytes "
	   "(expected %.2f %.0f %.2f %.0f)", sum[0], sum[1], sum[2], sum[3], want[0], want[1],
	   want[2], want[3]);

	/* Free everything still live: the in-use figures must come back to exactly zero. */
	for (int a = 0; a < ADDERS; a++)
		for (size_t i = 0; i < PER_ADDER; i++) {
			hp_liverec out;

			if (adders[a].taken[i]) {
				untaken += hp_liverec_get(block_addr(a, i), hp_liverec_front(block_addr(a, i)), &out);
				continue;
			}
			drained += take(&adders[a], i, th.t, &drain_bad, &drain_bad);
		}
	ok(untaken == 0, "removed blocks' records are refused (%zu read)", untaken);
	ok(drained == live_expected && drain_bad == 0, "every remaining block removed intact "
	   "(%zu of %zu, %zu bad)", drained, live_expected, drain_bad);
	ok(hp_stacktab_live() == live_before, "hp_stacktab_live is back to %zu (%zu)",
	   live_before, hp_stacktab_live());
	nonzero = 0;
	if (hp_stacktab_snapshot(&v, &n) == 0) {
		for (size_t k = 0; k < n; k++)
			if (stack_index(v[k].stack) >= 0 &&
			    (v[k].alloc_objects != v[k].free_objects ||
			     v[k].alloc_space != v[k].free_space))
				nonzero++;
		free(v);
	} else {
		nonzero = (size_t)-1;
	}
	ok(nonzero == 0, "every stack's in-use objects and bytes are exactly 0 (%zu not)",
	   nonzero);

	for (int a = 0; a < ADDERS; a++) {
		free(adders[a].t);
		free(adders[a].taken);
	}
	free(th.t);
	pthread_barrier_destroy(&start);
	return tap_done();
}
