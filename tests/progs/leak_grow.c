/* tests/progs/leak_grow.c: a service with a steady leak, for the leak hunter's tests
 * (tests/integration/cli_leak.sh: heapprof diff and top --lines on two signal dumps;
 * tests/integration/cli_flame.sh: the flame graph of a diff).
 *
 *   leak_grow [ITERATION_MS [MAX_SECONDS]]     (defaults: 20 ms, 60 s)
 *
 * Every iteration (every ITERATION_MS):
 *   leak_session()   allocates a 1 MiB session buffer and keeps it forever: the leak,
 *                    1 MiB of growth per iteration;
 *   handle_request() allocates and frees 4 scratch buffers of 256 KiB: no growth;
 *   cache_put()      replaces one of 64 cache entries of 16 KiB: 1 MiB in use once the
 *                    cache is full (after 64 iterations), no growth after that.
 * After each iteration it prints "iter N" (N leaked MiB so far) on standard output, flushed,
 * so a test knows the truth at any moment to within one iteration. Exits 0 after
 * MAX_SECONDS (an exit profile is written) or on SIGTERM (no exit profile). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum {
	SESSION_SIZE = 1024 * 1024,
	SCRATCH_SIZE = 256 * 1024,
	SCRATCHES = 4,
	CACHE_ENTRIES = 64,
	CACHE_SIZE = 16 * 1024,
};

struct session {
	struct session *next;
	char data[SESSION_SIZE - sizeof(struct session *)];
};

static struct session *sessions;
static char *cache[CACHE_ENTRIES];

SITE static void leak_session(void)
{
	struct session *s = malloc(sizeof(*s));

	if (!s)
		exit(2);
	memset(s->data, 1, sizeof(s->data));
	s->next = sessions;
	sessions = s;
}

SITE static unsigned handle_request(unsigned n)
{
	unsigned sum = 0;

	for (int i = 0; i < SCRATCHES; i++) {
		unsigned char *buf = malloc(SCRATCH_SIZE);
		if (!buf)
			exit(2);
		memset(buf, (int)(n + (unsigned)i), SCRATCH_SIZE);
		sum += buf[n % SCRATCH_SIZE];
		free(buf);
	}
	return sum;
}

SITE static void cache_put(unsigned n)
{
	char **slot = &cache[n % CACHE_ENTRIES];

	free(*slot);
	*slot = malloc(CACHE_SIZE);
	if (!*slot)
		exit(2);
	memset(*slot, 2, CACHE_SIZE);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 20;
	double max = argc > 2 ? atof(argv[2]) : 60, start = now();
	struct timespec pause = { ms / 1000, (ms % 1000) * 1000000L };
	unsigned sum = 0;

	if (ms < 0 || max <= 0) {
		fprintf(stderr, "usage: leak_grow [ITERATION_MS [MAX_SECONDS]]\n");
		return 2;
	}
	for (unsigned n = 1; now() - start < max; n++) {
		leak_session();
		sum += handle_request(n);
		cache_put(n);
		printf("iter %u\n", n);
		fflush(stdout);
		nanosleep(&pause, NULL);
	}
	return sum == 1 ? 3 : 0;	/* keeps sum live */
}
