/* tests/hazards/san_canary.c: known-bad code, one bug per mode, for tests/hazards/sanitizers.sh
 * to prove that each sanitizer build really detects what it is meant to before trusting its
 * silence on the unit tests.
 *
 *   san_canary heap-overflow     writes one byte past a malloc'd block     (AddressSanitizer)
 *   san_canary leak              loses the only pointer to a block         (LeakSanitizer)
 *   san_canary signed-overflow   INT_MAX + 1 in int arithmetic             (UBSan)
 *   san_canary race              two threads increment a plain int         (ThreadSanitizer)
 *   san_canary clean             none of these: must run silently, exit 0
 *
 * The values come from argv/volatile so that nothing is folded at compile time. Built by the
 * script with clang and one -fsanitize= at a time; not part of check_PROGRAMS. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int shared_counter;	/* deliberately unsynchronised in "race" mode */
static pthread_barrier_t both;
static void *volatile sink;

static void *bump(void *arg)
{
	pthread_barrier_wait(&both);
	for (int i = 0; i < 1000; i++)
		shared_counter++;
	return arg;
}

static int race(void)
{
	pthread_t a, b;

	pthread_barrier_init(&both, NULL, 2);
	if (pthread_create(&a, NULL, bump, NULL) || pthread_create(&b, NULL, bump, NULL))
		return 2;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	printf("%d\n", shared_counter);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	volatile size_t n = 16;
	volatile int big = INT_MAX;

	if (strcmp(mode, "heap-overflow") == 0) {
		char *p = malloc(n);

		if (!p)
			return 2;
		p[n] = 1;	/* one past the end */
		sink = p;
		free(p);
		return 0;
	}
	if (strcmp(mode, "leak") == 0) {
		sink = malloc(n);
		sink = NULL;	/* the block is now unreachable */
		return 0;
	}
	if (strcmp(mode, "signed-overflow") == 0) {
		int x = big;

		x += argc;	/* INT_MAX + 2 */
		printf("%d\n", x);
		return 0;
	}
	if (strcmp(mode, "race") == 0)
		return race();
	if (strcmp(mode, "clean") == 0) {
		char *p = malloc(n);

		if (!p)
			return 2;
		memset(p, 0, n);
		free(p);
		return 0;
	}
	fprintf(stderr, "usage: san_canary heap-overflow|leak|signed-overflow|race|clean\n");
	return 2;
}
