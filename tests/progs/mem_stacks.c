/* tests/progs/mem_stacks.c: N distinct call stacks, for the stack-table part of the
 * profiler's own-memory comment (tests/integration/memreport.sh).
 *
 *   mem_stacks N     (1 <= N <= 4096)
 *
 * For each i below N, descends 12 levels through left() or right() as the bits of i say
 * and allocates 32 bytes at the bottom, so every i has its own stack (12 frames above the
 * malloc, each either left's or right's call site). Every block is kept to the end.
 * Prints nothing; exits 0, or 2 on a bad argument. */
#include <stdlib.h>

#define LEVELS 12

static void *keep[1 << LEVELS];
static volatile unsigned lefts, rights;

static void *rec(unsigned bits, int level);

/* left and right differ (different counters), so the compiler cannot fold them into one;
 * the empty asm after each call keeps the call from becoming a tail jump. */
__attribute__((noinline)) static void *left(unsigned bits, int level)
{
	void *p;

	lefts++;
	p = rec(bits, level);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

__attribute__((noinline)) static void *right(unsigned bits, int level)
{
	void *p;

	rights += 2;
	p = rec(bits, level);
	__asm__ volatile("" : : "r"(p) : "memory");
	return p;
}

__attribute__((noinline)) static void *rec(unsigned bits, int level)
{
	void *p;

	if (level == 0) {
		p = malloc(32);
		__asm__ volatile("" : : "r"(p) : "memory");
		return p;
	}
	return (bits & 1) ? left(bits >> 1, level - 1) : right(bits >> 1, level - 1);
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? strtol(argv[1], NULL, 10) : 0;

	if (n < 1 || n > (1 << LEVELS))
		return 2;
	for (long i = 0; i < n; i++)
		keep[i] = rec((unsigned)i, LEVELS);
	return 0;
}
