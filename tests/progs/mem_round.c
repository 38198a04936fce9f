/* tests/progs/mem_round.c: the rounding of sampled small blocks at sparse rates (lib/prof.c,
 * `rounds`), for tests/integration/memreport.sh.
 *
 *   mem_round classes    keeps 512 KiB of blocks of each of jemalloc's 36 small size
 *                        classes (18 MiB, about one sampled block a class at 512 KiB) and
 *                        returns: the exit profile's sampled arena overhead shows what
 *                        their slabs cost.
 *   mem_round mixed MIB  keeps MIB MiB of blocks of 1 to 14 KiB (sizes spread evenly) and
 *                        returns: a heap where the rounding's extra bytes outgrow what it
 *                        saves (doc/PERFORMANCE.md, "The profiler's own memory").
 *   mem_round cached     allocates and frees 600 blocks of each small size up to 6 KiB
 *                        (at rate=1 lib/sampcache keeps 2-4 MiB of them for the next
 *                        samples), keeps 8 blocks of 1 MiB, and returns: the exit profile's
 *                        live heap must be the 8 MiB, not the cached blocks too.
 *   mem_round keep SIZE COUNT
 *                        keeps COUNT blocks of SIZE bytes and returns: the bytes the
 *                        rounding adds (a request of 300 bytes and its record, 316, is
 *                        jemalloc's class 320 but rounded to 384) are counted as the
 *                        sampled arena's while rounding is on, and rounding stops once
 *                        the rounded live blocks reach 256 KiB.
 *   mem_round churn SEED [SWITCH]
 *                        200,000 random mallocs, callocs, reallocs (in place and moving,
 *                        up and down) and frees of 1 byte to 20 KiB among 2,000 live
 *                        blocks, each block filled with a pattern of its own that is
 *                        checked before every realloc and free and at the end, and every
 *                        block's malloc_usable_size checked against its size. With
 *                        SWITCH, heapprof_set_rate (found with dlsym) sets rate=1 for the
 *                        middle third and the starting rate again after it, so blocks
 *                        allocated rounded, unrounded and rounded again meet lib/sampcache.
 *
 * Exit status 0 when every check held; 1 (with a line on stderr) when one did not; 2 for
 * bad arguments; 3 out of memory. */
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NLIVE = 2000, NOPS = 200000, MAXSZ = 20 << 10 };

static const size_t classes[] = {
	8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640,
	768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168,
	8192, 10240, 12288, 14336,
};

static int keep_classes(void)
{
	for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]); c++) {
		/* a size inside the class (above the one before): what programs ask for */
		size_t n = c ? classes[c - 1] + (classes[c] - classes[c - 1]) / 2 + 1 : classes[c];

		for (size_t kept = 0; kept < (512u << 10); kept += n) {
			char *p = malloc(n);

			if (!p)
				return 3;
			memset(p, (int)c, n);	/* kept to the end: never freed */
		}
	}
	return 0;
}

static int keep_mixed(size_t mib)
{
	size_t total = 0;

	for (unsigned i = 0; total < (mib << 20); i++) {
		size_t n = 1 + (i * 7919u) % 14336u;
		char *p = malloc(n);

		if (!p)
			return 3;
		memset(p, 1, n);	/* kept to the end: never freed */
		total += n;
	}
	return 0;
}

static int keep_count(size_t size, unsigned long count)
{
	for (unsigned long i = 0; i < count; i++) {
		char *p = malloc(size);

		if (!p)
			return 3;
		memset(p, 1, size);	/* kept to the end: never freed */
	}
	return 0;
}

static int cache_and_keep(void)
{
	static char *b[600];

	for (size_t c = 0; c < sizeof(classes) / sizeof(classes[0]) && classes[c] <= 6144; c++) {
		size_t n = classes[c] > 16 ? classes[c] - 16 : 1;	/* with its record: the class */

		for (int i = 0; i < 600; i++)
			if (!(b[i] = malloc(n)))
				return 3;
		for (int i = 0; i < 600; i++)
			free(b[i]);
	}
	for (int i = 0; i < 8; i++) {
		char *p = malloc((size_t)1 << 20);

		if (!p)
			return 3;
		memset(p, 1, (size_t)1 << 20);	/* kept to the end: never freed */
	}
	return 0;
}

static uint64_t rng;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

typedef struct slot {
	unsigned char *p;
	size_t n;
	unsigned char tag;
} slot;

static int check(const slot *s, const char *when)
{
	size_t u;

	if (!s->p)
		return 0;
	for (size_t i = 0; i < s->n; i++)
		if (s->p[i] != (unsigned char)(s->tag + i * 7)) {
			fprintf(stderr, "mem_round: block of %zu bytes changed at byte %zu (%s)\n",
				s->n, i, when);
			return 1;
		}
	u = malloc_usable_size(s->p);
	if (u < s->n) {
		fprintf(stderr, "mem_round: usable size %zu of a block of %zu bytes (%s)\n", u,
			s->n, when);
		return 1;
	}
	return 0;
}

static void fill(slot *s, size_t from)
{
	for (size_t i = from; i < s->n; i++)
		s->p[i] = (unsigned char)(s->tag + i * 7);
}

static size_t pick_size(void)
{
	/* mostly small, sometimes up to 20 KiB: every small class and the first large ones */
	return next() % 4 ? 1 + next() % 1024 : 1 + next() % MAXSZ;
}

static int churn(uint64_t seed, int with_switch)
{
	typedef int (*set_rate_fn)(size_t);
	typedef size_t (*get_rate_fn)(void);
	set_rate_fn set_rate = NULL;
	size_t rate0 = 0;
	static slot live[NLIVE];

	rng = seed ? seed : 88172645463325252ull;
	if (with_switch) {
		get_rate_fn get_rate = (get_rate_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "heapprof_get_rate");

		set_rate = (set_rate_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "heapprof_set_rate");
		if (!set_rate || !get_rate) {
			fprintf(stderr, "mem_round: heapprof_set_rate not found in the process\n");
			return 2;
		}
		rate0 = get_rate();
	}
	for (int op = 0; op < NOPS; op++) {
		slot *s = &live[next() % NLIVE];
		unsigned k = (unsigned)(next() % 8);

		if (set_rate && op == NOPS / 3)
			set_rate(1);
		if (set_rate && op == 2 * NOPS / 3)
			set_rate(rate0);
		if (check(s, "before its next use"))
			return 1;
		if (!s->p || k == 0) {	/* a new block (the old one freed) */
			free(s->p);
			s->n = pick_size();
			s->tag = (unsigned char)next();
			if (next() % 2) {
				s->p = calloc(1, s->n);
				for (size_t i = 0; s->p && i < s->n; i++)
					if (s->p[i]) {
						fprintf(stderr, "mem_round: calloc(1, %zu): byte %zu "
							"not zero\n", s->n, i);
						return 1;
					}
			} else {
				s->p = malloc(s->n);
			}
			if (!s->p)
				return 3;
			fill(s, 0);
		} else if (k <= 4) {	/* realloc: down within the block, or up */
			size_t n = k <= 2 ? 1 + next() % s->n : s->n + 1 + next() % 4096;
			unsigned char *q = realloc(s->p, n);

			if (!q)
				return 3;
			s->p = q;
			if (n > s->n) {
				size_t old = s->n;

				s->n = n;
				fill(s, old);
			} else {
				s->n = n;
			}
			if (check(s, "after realloc"))
				return 1;
		} else if (k == 5) {
			free(s->p);
			s->p = NULL;
		}
	}
	for (int i = 0; i < NLIVE; i++) {
		if (check(&live[i], "at the end"))
			return 1;
		free(live[i].p);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "classes") == 0)
		return keep_classes();
	if (argc == 2 && strcmp(argv[1], "cached") == 0)
		return cache_and_keep();
	if (argc == 3 && strcmp(argv[1], "mixed") == 0 && atoi(argv[2]) > 0 && atoi(argv[2]) <= 4096)
		return keep_mixed((size_t)atoi(argv[2]));
	if (argc == 4 && strcmp(argv[1], "keep") == 0 && atoi(argv[2]) > 0 &&
	    atoi(argv[2]) <= 16384 && atol(argv[3]) > 0 && atol(argv[3]) <= 10000000)
		return keep_count((size_t)atoi(argv[2]), (unsigned long)atol(argv[3]));
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "churn") == 0 &&
	    (argc == 3 || strcmp(argv[3], "SWITCH") == 0))
		return churn(strtoull(argv[2], NULL, 10), argc == 4);
	fprintf(stderr, "usage: mem_round classes | mem_round cached | mem_round mixed MIB | "
		"mem_round keep SIZE COUNT | mem_round churn SEED [SWITCH]\n");
	return 2;
}
