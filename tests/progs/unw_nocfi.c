/* tests/progs/unw_nocfi.c: allocations from functions without unwind information, some of
 * them with garbage in the frame pointer register.
 *
 *   unw_nocfi basic ROUNDS
 *   unw_nocfi stale ROUNDS
 *
 * The allocation sites are in tests/progs/unw_nocfi_fns.c, compiled without unwind tables
 * and without a frame pointer. Every block is kept (in an mmap'd array, so that the program
 * allocates nothing else with malloc) until exit, and the program prints nothing but its
 * tallies, so the exit profile (HEAPPROF=rate=1) must hold exactly these bytes and blocks.
 *
 * basic: ROUNDS times, from the main thread: unw_nocfi_leaf, unw_nocfi_mid (whose block
 *   counts for unw_nocfi_leaf, the caller of malloc), unw_nocfi_deep (40 frames deep), and
 *   unw_nocfi_badrbp once with each of the bad frame pointers of bad_values() below.
 * stale: a thread whose stack is the lower part of a mapping the program made, with two
 *   pages just above the stack: rbp first points into them while they are readable (ROUNDS
 *   allocations), then one is made PROT_NONE and the other unmapped and rbp points into
 *   them again (ROUNDS allocations each). An unwinder that remembered those pages as
 *   readable (they lie above the stack pointer, like the thread's own stack) faults.
 *
 * Output on stdout, one line each: "site NAME BYTES BLOCKS" for unw_nocfi_leaf,
 * unw_nocfi_deep, unw_nocfi_badrbp, then "total BYTES BLOCKS". Exit 0 from main (an exit
 * profile is written); 2: usage; 3: setup failed (mmap, thread). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unw_nocfi.h"

enum { LEAF, DEEP, BADRBP, NSITES, MAX_BAD = 32, DEEP_FRAMES = 40 };

static const char *const site_names[NSITES] = { "unw_nocfi_leaf", "unw_nocfi_deep",
						 "unw_nocfi_badrbp" };
static unsigned long site_bytes[NSITES], site_blocks[NSITES];
static void **kept;
static size_t nkept, maxkept;

/* Fake frames in readable memory: a loop, and a frame whose caller is garbage. */
static uintptr_t loop_frame[2];
static uintptr_t chain_frame[4];

static void keep(int site, void *p, size_t n)
{
	if (!p || nkept == maxkept) {
		fprintf(stderr, "unw_nocfi: %s\n", p ? "kept array full" : "malloc failed");
		exit(3);
	}
	kept[nkept++] = p;
	site_bytes[site] += n;
	site_blocks[site]++;
}

static void *map_pages(size_t n, int prot)
{
	void *p = mmap(NULL, n * 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("unw_nocfi: mmap");
		exit(3);
	}
	return p;
}

/* The garbage frame pointers: each one something an unwinder reading [rbp] and [rbp+8]
 * must survive. */
static int bad_values(uintptr_t *v)
{
	int n = 0;
	char *unmapped = map_pages(1, PROT_READ), *none = map_pages(1, PROT_NONE);
	char *edge = map_pages(2, PROT_READ | PROT_WRITE);

	munmap(unmapped, 4096);
	munmap(edge + 4096, 4096);	/* a readable page followed by a hole */
	loop_frame[0] = (uintptr_t)loop_frame;	/* [rbp] = rbp: a cycle */
	loop_frame[1] = (uintptr_t)unw_nocfi_leaf + 4;	/* a "return address" without CFI */
	chain_frame[0] = (uintptr_t)none;	/* the next frame is unreadable */
	chain_frame[1] = (uintptr_t)keep + 1;	/* a return address into code with CFI */
	chain_frame[2] = 0x1;
	chain_frame[3] = (uintptr_t)unmapped;

	v[n++] = 0;
	v[n++] = 1;
	v[n++] = 7;
	v[n++] = (uintptr_t)unmapped;
	v[n++] = (uintptr_t)unmapped + 2048;
	v[n++] = (uintptr_t)none;
	v[n++] = (uintptr_t)edge + 4088;	/* [rbp] readable, [rbp+8] in the hole */
	v[n++] = (uintptr_t)edge + 4092;	/* [rbp] straddles the hole */
	v[n++] = (uintptr_t)edge + 3;		/* misaligned, readable */
	v[n++] = 0x0000800000000000ull;		/* just above user space */
	v[n++] = 0x8000000000000000ull;		/* non-canonical */
	v[n++] = 0xffffffff81000000ull;		/* kernel text */
	v[n++] = 0xffffffffff600000ull;		/* the vsyscall page */
	v[n++] = 0xfffffffffffffff8ull;		/* [rbp+8] wraps around */
	v[n++] = (uintptr_t)loop_frame;
	v[n++] = (uintptr_t)chain_frame;
	v[n++] = (uintptr_t)unw_nocfi_leaf;	/* code bytes as a frame */
	v[n++] = (uintptr_t)&n - (64u << 20);	/* far below this stack */
	return n;
}

static void basic(unsigned long rounds)
{
	uintptr_t bad[MAX_BAD];
	int nbad = bad_values(bad);

	for (unsigned long r = 0; r < rounds; r++) {
		size_t n = 64 + (r % 16) * 8;

		keep(LEAF, unw_nocfi_leaf(n), n);
		keep(LEAF, unw_nocfi_mid(n + 1), n + 1);
		keep(DEEP, unw_nocfi_deep(n + 2, DEEP_FRAMES), n + 2);
		for (int i = 0; i < nbad; i++) {
			size_t m = 200 + (size_t)i * 8;

			keep(BADRBP, unw_nocfi_badrbp(m, bad[i]), m);
		}
	}
}

typedef struct stale_arg {
	unsigned long rounds;
	char *above;	/* two pages just above the thread's stack */
} stale_arg;

static void *stale_thread(void *arg)
{
	stale_arg *a = arg;
	uintptr_t p0 = (uintptr_t)a->above + 64, p1 = (uintptr_t)a->above + 4096 + 64;
	void *volatile warm = malloc(8);	/* the thread's first allocation, not counted */

	free(warm);

	if ((uintptr_t)&a <= (uintptr_t)a->above - (1u << 20) || (uintptr_t)&a >= p0) {
		fprintf(stderr, "unw_nocfi: stale: the stack is not just below the pages\n");
		exit(3);
	}
	for (unsigned long r = 0; r < a->rounds; r++) {
		keep(BADRBP, unw_nocfi_badrbp(96, p0), 96);
		keep(BADRBP, unw_nocfi_badrbp(104, p1), 104);
	}
	if (mprotect(a->above, 4096, PROT_NONE) != 0 || munmap(a->above + 4096, 4096) != 0) {
		perror("unw_nocfi: mprotect/munmap");
		exit(3);
	}
	for (unsigned long r = 0; r < a->rounds; r++) {
		keep(BADRBP, unw_nocfi_badrbp(112, p0), 112);
		keep(BADRBP, unw_nocfi_badrbp(120, p1), 120);
	}
	return NULL;
}

static void stale(unsigned long rounds)
{
	const size_t stack = 1u << 20;
	char *region = map_pages(stack / 4096 + 2, PROT_READ | PROT_WRITE);
	stale_arg a = { rounds, region + stack };
	pthread_attr_t attr;
	pthread_t t;

	memset(a.above, 0, 2 * 4096);	/* [rbp] = 0: the chain ends there, cleanly */
	if (pthread_attr_init(&attr) != 0 || pthread_attr_setstack(&attr, region, stack) != 0 ||
	    pthread_create(&t, &attr, stale_thread, &a) != 0) {
		fprintf(stderr, "unw_nocfi: cannot start the thread\n");
		exit(3);
	}
	pthread_join(t, NULL);
}

static void say(const char *line, int n)
{
	if (n <= 0 || write(1, line, (size_t)n) != n)
		exit(3);
}

int main(int argc, char **argv)
{
	unsigned long rounds, bytes = 0, blocks = 0;
	char *end, line[160];
	void *volatile warm;

	if (argc != 3 || (strcmp(argv[1], "basic") != 0 && strcmp(argv[1], "stale") != 0) ||
	    (rounds = strtoul(argv[2], &end, 10)) == 0 || *end || rounds > 1000000) {
		fprintf(stderr, "usage: unw_nocfi basic|stale ROUNDS\n");
		return 2;
	}
	warm = malloc(8);	/* the thread's first allocation, not counted */
	free(warm);
	maxkept = rounds * (3 + MAX_BAD) + 4 * rounds;
	kept = map_pages((maxkept * sizeof(void *) + 4095) / 4096, PROT_READ | PROT_WRITE);
	if (strcmp(argv[1], "basic") == 0)
		basic(rounds);
	else
		stale(rounds);
	for (int s = 0; s < NSITES; s++) {
		say(line, snprintf(line, sizeof(line), "site %s %lu %lu\n", site_names[s],
				   site_bytes[s], site_blocks[s]));
		bytes += site_bytes[s];
		blocks += site_blocks[s];
	}
	say(line, snprintf(line, sizeof(line), "total %lu %lu\n", bytes, blocks));
	return 0;
}
