/* sample_cost: time per malloc(64)+free pair at a given call-stack depth, for bench/micro.sh.
 *
 * usage: sample_cost DEPTH N [SIZE]
 *   DEPTH  frames on the stack where malloc is called (counted with glibc's backtrace(),
 *          main and libc's start-up frames included), 4 to 256
 *   N      timed pairs (after N/10 untimed warm-up pairs)
 *   SIZE   bytes per malloc (default 64)
 * A noinline recursive function descends until the stack holds DEPTH frames, then runs the
 * loop p = malloc(SIZE); free(p). Prints one line: "depth=D frames=F n=N ns_per_pair=X".
 * Run it under LD_PRELOAD=libheapprof.so with HEAPPROF=rate=1 (every pair sampled and
 * unwound) and rate=0 (nothing sampled): the difference is the cost of one sample. Nothing
 * in it depends on heapprof, so the same binary measures glibc and plain jemalloc too.
 */
#include <execinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static void die(const char *msg)
{
	fprintf(stderr, "sample_cost: %s\n", msg);
	exit(2);
}

static long parse_long(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end != '\0' || v < 0)
		die(what);
	return v;
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Frames on the stack of the caller of this function (this one excluded). */
static __attribute__((noinline)) int frames_here(void)
{
	void *buf[512];
	int n = backtrace(buf, 512);

	return n - 1;
}

static __attribute__((noinline)) void loop(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(size);

		if (p == NULL)
			die("malloc failed");
		escape(p);
		free(p);
	}
}

typedef struct run {
	int stop;	/* descend's level that calls loop */
	int got;
	long n;
	size_t size;
	double ns;
} run;

/* Each level adds one frame; the level `stop` calls loop, which calls malloc. */
static __attribute__((noinline)) void descend(run *r, int depth)
{
	if (depth < r->stop) {
		descend(r, depth + 1);
		escape(r);	/* no sibling call: every level keeps its frame */
		return;
	}
	r->got = frames_here() + 1;	/* + loop's own frame */
	loop(r->n / 10, r->size);	/* warm-up: the stack's first sample inserts it */
	double t0 = now_ns();
	loop(r->n, r->size);
	r->ns = now_ns() - t0;
	escape(r);
}

int main(int argc, char **argv)
{
	run r;
	int want, base;

	if (argc < 3)
		die("usage: sample_cost DEPTH N [SIZE]");
	memset(&r, 0, sizeof(r));
	want = (int)parse_long(argv[1], "bad depth");
	r.n = parse_long(argv[2], "bad count");
	r.size = argc > 3 ? (size_t)parse_long(argv[3], "bad size") : 64;
	if (want < 4 || want > 256 || r.n < 1)
		die("depth must be 4..256 and N at least 1");
	/* main and the start-up frames below it (base of them, main included); descend at
	 * level d has base + 1 + d frames, its callee loop base + 2 + d: malloc's caller. */
	base = frames_here();
	r.stop = want - base - 2;
	if (r.stop < 0)
		die("depth smaller than main's own stack");
	descend(&r, 0);
	if (r.got != want)
		fprintf(stderr, "sample_cost: wanted %d frames, got %d\n", want, r.got);
	printf("depth=%d frames=%d n=%ld ns_per_pair=%.1f\n", want, r.got, r.n,
	       r.ns / (double)r.n);
	return 0;
}
