/* tests/progs/unw_hash.c: two call chains that share all but their innermost frames,
 * allocating in turn, ROUNDS times each, for the stack table's hash that lib/unwind carries
 * through its walks (hp_unwind_hash): after the first walk of each chain (a slow one: its
 * return addresses are new), every walk is a fast one that takes the shared outer frames
 * from the walk before (the other chain's) and hashes only its own frames. Every allocation
 * of a chain must still be counted under one stack: at rate=1 the exit profile then holds
 * one sample of ROUNDS allocations for each chain. A carried hash that is not the one the
 * table computes from the frames would split a chain in two samples (its slow walk's and
 * the others').
 *
 *   unw_hash DEPTH    the shared part is DEPTH frames of down() (1 to 200) under main
 *
 * Chain A allocates 1001 bytes in leaf_a, chain B 1002 bytes in leaf_b: the sizes tell
 * the chains apart in the profile. Each block is freed at once. */
#include <stdio.h>
#include <stdlib.h>

#define ROUNDS 1000

static volatile unsigned long sink;

static __attribute__((noinline)) void leaf_a(void)
{
	char *p = malloc(1001);

	sink += (unsigned long)p;
	free(p);
}

static __attribute__((noinline)) void leaf_b(void)
{
	char *p = malloc(1002);

	sink += (unsigned long)p;
	free(p);
}

/* Not a tail call, not a loop: each level is a frame of its own. */
static __attribute__((noinline)) void down(int d)
{
	if (d > 0)
		down(d - 1);
	else {
		leaf_a();
		leaf_b();
	}
	sink++;
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? atoi(argv[1]) : 0;

	if (argc != 2 || depth < 1 || depth > 200) {
		fprintf(stderr, "usage: unw_hash DEPTH (1 to 200)\n");
		return 2;
	}
	for (int i = 0; i < ROUNDS; i++)
		down(depth);
	return 0;
}
