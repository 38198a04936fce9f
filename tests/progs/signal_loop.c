/* tests/progs/signal_loop.c: allocates and frees without pause for a while, so that
 * profiles are requested (by signal) while the allocator is busy.
 *
 *   signal_loop SECONDS [PIDFILE]
 *
 * Keeps a bounded working set (SLOTS blocks of mixed sizes, 16 B to 64 KiB, plus now and
 * then a 1 MiB block) and replaces random blocks with new ones until SECONDS have passed,
 * then frees everything and returns 0. If PIDFILE is given, the pid is written to
 * PIDFILE.tmp and renamed to PIDFILE once main runs (the library, and so its signal
 * handler, is set up by then), so a test can wait for it before sending signals.
 * Prints nothing unless something goes wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pidfile.h"

enum { SLOTS = 4096 };

static void *slot[SLOTS];
static size_t slot_size[SLOTS];
volatile unsigned long sink;

static unsigned long long rng_state = 0x9e3779b97f4a7c15ULL;

static unsigned long long next_rand(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t pick_size(void)
{
	unsigned long long r = next_rand();
	if ((r & 1023) == 0)
		return (size_t)1 << 20;			/* rare large block */
	return (size_t)16 << ((r >> 10) % 13);		/* 16 B .. 64 KiB */
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void replace_one(void)
{
	size_t i = (size_t)(next_rand() % SLOTS);
	size_t n = pick_size();
	char *p;

	free(slot[i]);
	switch (next_rand() % 4) {
	case 0:
		p = calloc(1, n);
		break;
	case 1:
		p = realloc(NULL, n);
		break;
	default:
		p = malloc(n);
		break;
	}
	if (p == NULL) {
		fprintf(stderr, "signal_loop: out of memory\n");
		exit(3);
	}
	p[0] = 1;
	p[n - 1] = 2;
	slot[i] = p;
	slot_size[i] = n;
}

int main(int argc, char **argv)
{
	double seconds, end;
	unsigned long iter = 0;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: signal_loop SECONDS [PIDFILE]\n");
		return 2;
	}
	seconds = strtod(argv[1], NULL);
	if (argc == 3 && write_pidfile(argv[2]) != 0) {
		perror("signal_loop: pidfile");
		return 2;
	}
	end = now() + seconds;
	for (;;) {
		replace_one();
		if ((++iter & 1023) == 0 && now() >= end)
			break;
	}
	for (size_t i = 0; i < SLOTS; i++) {
		if (slot[i] != NULL)
			sink += (unsigned char)((char *)slot[i])[slot_size[i] - 1];
		free(slot[i]);
	}
	return 0;
}
