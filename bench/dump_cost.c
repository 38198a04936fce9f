/* dump_cost: the cost of heapprof_dump() with many distinct stacks, and how long an
 * allocating thread waits while a dump runs; for bench/micro.sh.
 *
 * usage: LD_PRELOAD=libheapprof.so HEAPPROF=rate=1,at_exit=0 dump_cost STACKS DIR [ROUNDS]
 *   STACKS  distinct call stacks to create (1 to 2^20)
 *   DIR     directory for the profiles (each round's file is removed after its timing)
 *   ROUNDS  dumps timed (default 3)
 * heapprof_dump, heapprof_get_totals and heapprof_set_rate are found with dlsym, so the
 * program runs (and says why it cannot measure) without the library too.
 *
 * Stacks: leaf number i walks `levels` (ceil(log2(STACKS))) frames of two noinline
 * functions, bit k of i choosing which one is called at level k, then allocates 64 bytes
 * that stay live until the end: 2^levels possible paths, the first STACKS of them taken.
 *
 * Then, for each round, and for each waiter rate (1: every pair of the waiter sampled;
 * 524288: the default), a second thread runs malloc(64)+free pairs, timing each with
 * clock_gettime(CLOCK_MONOTONIC), in two windows of equal length: one with no dump
 * ("idle"), then one while the main thread runs heapprof_dump ("dump"). Each pair is
 * bracketed by getrusage(RUSAGE_THREAD), so a slow pair is classed: "blocked" (the thread
 * slept: a lock held by the dump, or I/O), "preempted" (only involuntary switches: the
 * scheduler gave the CPU to another task, e.g. on a machine with fewer free cores than
 * runnable threads), or "running" (no switch). Per window: pairs, 99.9th percentile and
 * maximum of all pairs, then the count and maximum of blocked pairs, the count of
 * preempted ones, and the maximum of running ones. The rusage calls are outside the timed
 * part but slow the loop (fewer pairs per window). Output, one line each:
 *   stacks N created C(according to heapprof_get_totals) setup_ms T
 *   dump round R ms T bytes B
 *   dump median_ms T
 *   wait rate W round R window idle|dump pairs P p999_us X max_us Y blocked NB
 *        max_blocked_us YB preempted NP max_running_us YR
 *   wait rate W round R dump_ms T
 * Exit status 0, or 2 when it cannot measure (library missing, too few stacks made).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "heapprof.h"

static int (*dump_fn)(const char *);
static int (*totals_fn)(heapprof_totals *);
static int (*set_rate_fn)(size_t);

static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static void die(const char *msg)
{
	fprintf(stderr, "dump_cost: %s\n", msg);
	exit(2);
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ---- distinct stacks ---- */
static void **blocks;

static __attribute__((noinline)) void leaf(unsigned long i)
{
	blocks[i] = malloc(64);
	if (!blocks[i])
		die("malloc failed");
}

static void walk_a(unsigned long i, unsigned long bits, int level);
static void walk_b(unsigned long i, unsigned long bits, int level);

static __attribute__((noinline)) void walk_a(unsigned long i, unsigned long bits, int level)
{
	if (level == 0)
		leaf(i);
	else if (bits & 1)
		walk_a(i, bits >> 1, level - 1);
	else
		walk_b(i, bits >> 1, level - 1);
	escape(&bits);	/* no sibling calls: every level keeps its frame and call site */
}

static __attribute__((noinline)) void walk_b(unsigned long i, unsigned long bits, int level)
{
	if (level == 0)
		leaf(i);
	else if (bits & 1)
		walk_a(i, bits >> 1, level - 1);
	else
		walk_b(i, bits >> 1, level - 1);
	escape(&bits);
}

/* ---- the waiter ---- */
/* Latency histogram: 10 ns buckets below 100 us, 10 us buckets to 100 ms, then one. */
#define FINE 10000
#define COARSE 10000
typedef struct hist {
	uint64_t b[FINE + COARSE + 1];
	uint64_t n;
	double max;
	double max_blocked;	/* longest pair during which the thread slept (a lock, I/O) */
	double max_running;	/* longest pair with no context switch at all */
	uint64_t nblocked;	/* pairs with a voluntary context switch */
	uint64_t npreempted;	/* pairs with only involuntary ones (the scheduler) */
} hist;

static void hist_add(hist *h, double ns, long vol, long invol)
{
	size_t k;

	if (vol > 0) {
		h->nblocked++;
		if (ns > h->max_blocked)
			h->max_blocked = ns;
	} else if (invol > 0) {
		h->npreempted++;
	} else if (ns > h->max_running) {
		h->max_running = ns;
	}

	if (ns < 0)
		ns = 0;
	if (ns < FINE * 10.0)
		k = (size_t)(ns / 10);
	else if (ns < FINE * 10.0 + COARSE * 10000.0)
		k = FINE + (size_t)((ns - FINE * 10.0) / 10000);
	else
		k = FINE + COARSE;
	h->b[k]++;
	h->n++;
	if (ns > h->max)
		h->max = ns;
}

/* Upper edge of the bucket holding quantile q, in ns (the maximum for the last bucket). */
static double hist_quantile(const hist *h, double q)
{
	uint64_t want = (uint64_t)((double)h->n * q), seen = 0;

	for (size_t k = 0; k <= FINE + COARSE; k++) {
		seen += h->b[k];
		if (seen > want) {
			double edge = k < FINE ? (k + 1) * 10.0 :
				      k < FINE + COARSE ? FINE * 10.0 + (k - FINE + 1) * 10000.0 : h->max;
			return edge < h->max ? edge : h->max;
		}
	}
	return h->max;
}

enum { PHASE_OFF, PHASE_IDLE, PHASE_DUMP, PHASE_STOP };
static int phase;		/* atomic */
static int waiter_ready;	/* atomic */
static size_t waiter_rate;	/* set before the thread starts */
static hist hists[2];		/* idle, dump: written by the waiter only */

static void *waiter(void *arg)
{
	int ph;

	(void)arg;
	if (set_rate_fn)
		set_rate_fn(waiter_rate);	/* this thread's rate from its next allocation */
	__atomic_store_n(&waiter_ready, 1, __ATOMIC_RELEASE);
	while ((ph = __atomic_load_n(&phase, __ATOMIC_ACQUIRE)) != PHASE_STOP) {
		struct rusage r0, r1;

		getrusage(RUSAGE_THREAD, &r0);
		double t0 = now_ns();
		void *p = malloc(64);

		escape(p);
		free(p);
		double t1 = now_ns();
		getrusage(RUSAGE_THREAD, &r1);

		if (ph == PHASE_IDLE || ph == PHASE_DUMP) {
			/* The phase may have changed during the pair: count it where it ended. */
			int ph2 = __atomic_load_n(&phase, __ATOMIC_ACQUIRE);

			if (ph2 == ph)
				hist_add(&hists[ph == PHASE_DUMP], t1 - t0,
					 r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw);
		}
	}
	return NULL;
}

static void sleep_ns(double ns)
{
	struct timespec t = { (time_t)(ns / 1e9), (long)((long long)ns % 1000000000LL) };

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double timed_dump(const char *path, long *bytes)
{
	struct stat st;
	double t0 = now_ns();
	int err = dump_fn(path);
	double t = now_ns() - t0;

	if (err != 0) {
		fprintf(stderr, "dump_cost: heapprof_dump(%s) = %d\n", path, err);
		exit(2);
	}
	*bytes = stat(path, &st) == 0 ? (long)st.st_size : -1;
	unlink(path);
	return t;
}

int main(int argc, char **argv)
{
	unsigned long stacks, rounds = 3;
	int levels = 0;
	char path[4096];
	heapprof_totals tot;
	double t0, setup, dump_ms[64];
	long bytes = 0;

	if (argc < 3)
		die("usage: dump_cost STACKS DIR [ROUNDS]");
	stacks = strtoul(argv[1], NULL, 10);
	if (argc > 3)
		rounds = strtoul(argv[3], NULL, 10);
	if (stacks < 1 || stacks > (1ul << 20) || rounds < 1 || rounds > 64)
		die("STACKS must be 1..2^20, ROUNDS 1..64");
	dump_fn = (int (*)(const char *))dlsym(RTLD_DEFAULT, "heapprof_dump");
	totals_fn = (int (*)(heapprof_totals *))dlsym(RTLD_DEFAULT, "heapprof_get_totals");
	set_rate_fn = (int (*)(size_t))dlsym(RTLD_DEFAULT, "heapprof_set_rate");
	if (!dump_fn || !totals_fn || !set_rate_fn)
		die("heapprof_dump not found: run under LD_PRELOAD=libheapprof.so");
	while ((1ul << levels) < stacks)
		levels++;
	blocks = calloc(stacks, sizeof(*blocks));
	if (!blocks)
		die("out of memory");

	t0 = now_ns();
	for (unsigned long i = 0; i < stacks; i++)
		walk_a(i, i, levels);
	setup = now_ns() - t0;
	if (totals_fn(&tot) != 0)
		die("heapprof_get_totals failed");
	printf("stacks %lu created %llu setup_ms %.1f\n", stacks, (unsigned long long)tot.stacks,
	       setup / 1e6);
	if (tot.stacks < stacks)
		die("fewer distinct stacks than asked (is HEAPPROF=rate=1 set?)");

	/* Dump cost alone. */
	for (unsigned long r = 0; r < rounds; r++) {
		snprintf(path, sizeof(path), "%s/dump_cost.%d.%lu.pb.gz", argv[2], (int)getpid(), r);
		dump_ms[r] = timed_dump(path, &bytes) / 1e6;
		printf("dump round %lu ms %.1f bytes %ld\n", r + 1, dump_ms[r], bytes);
	}
	qsort(dump_ms, rounds, sizeof(dump_ms[0]), cmp_double);
	printf("dump median_ms %.1f\n", dump_ms[rounds / 2]);

	/* The waiter: an idle window as long as the dump, then a window with a dump. */
	static const size_t rates[] = { 1, 524288 };
	for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
		for (unsigned long r = 0; r < rounds; r++) {
			pthread_t th;
			double window = dump_ms[rounds / 2] * 1e6, d;

			memset(hists, 0, sizeof(hists));
			waiter_rate = rates[k];
			__atomic_store_n(&waiter_ready, 0, __ATOMIC_RELEASE);
			__atomic_store_n(&phase, PHASE_OFF, __ATOMIC_RELEASE);
			if (pthread_create(&th, NULL, waiter, NULL) != 0)
				die("pthread_create failed");
			while (!__atomic_load_n(&waiter_ready, __ATOMIC_ACQUIRE))
				sleep_ns(1e5);
			sleep_ns(2e7);	/* the waiter settles (its first sample, its tcache) */
			__atomic_store_n(&phase, PHASE_IDLE, __ATOMIC_RELEASE);
			sleep_ns(window);
			snprintf(path, sizeof(path), "%s/dump_cost.%d.w.pb.gz", argv[2], (int)getpid());
			__atomic_store_n(&phase, PHASE_DUMP, __ATOMIC_RELEASE);
			d = timed_dump(path, &bytes);
			__atomic_store_n(&phase, PHASE_STOP, __ATOMIC_RELEASE);
			pthread_join(th, NULL);
			for (int w = 0; w < 2; w++)
				printf("wait rate %zu round %lu window %s pairs %llu p999_us %.2f "
				       "max_us %.1f blocked %llu max_blocked_us %.1f preempted %llu "
				       "max_running_us %.1f\n", rates[k], r + 1, w ? "dump" : "idle",
				       (unsigned long long)hists[w].n,
				       hist_quantile(&hists[w], 0.999) / 1e3, hists[w].max / 1e3,
				       (unsigned long long)hists[w].nblocked,
				       hists[w].max_blocked / 1e3,
				       (unsigned long long)hists[w].npreempted,
				       hists[w].max_running / 1e3);
			printf("wait rate %zu round %lu dump_ms %.1f\n", rates[k], r + 1, d / 1e6);
		}
	}
	for (unsigned long i = 0; i < stacks; i++)
		free(blocks[i]);
	free(blocks);
	return 0;
}
