/* tests/progs/http_app.c: a program with known allocation sites that runs while its HTTP
 * endpoint is queried (tests/integration/http.sh).
 *
 *   http_app MARKER SECONDS [--pthread-exit | --fork]
 *
 * Keeps 64 blocks of 64 KiB live from http_keep_early (4 MiB, allocated at the start),
 * then loops every millisecond: http_churn allocates a 4 KiB block, fills it, checks it
 * and frees it. Once the file MARKER exists (looked for every 10 ms), http_keep_late
 * allocates 32 blocks of 32 KiB (1 MiB) once and keeps them, and the program prints
 * "late done" on stdout. The loop ends when stdin reaches end of file or after SECONDS
 * (a decimal); the program then frees everything, prints "http_app: ok N" (N: the
 * loop's rounds, each checked) and returns 0 (3 if a check failed).
 * --pthread-exit: main starts a thread that does the above and ends with pthread_exit.
 * --fork: before returning, forks a child that sleeps 3 s and exits 0 (not waited for). */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EARLY_N = 64, EARLY_SIZE = 64 << 10, LATE_N = 32, LATE_SIZE = 32 << 10 };

static const char *marker;
static double limit;
static char *early[EARLY_N], *late[LATE_N];

__attribute__((noinline)) static void http_keep_early(void)
{
	for (int i = 0; i < EARLY_N; i++) {
		early[i] = malloc(EARLY_SIZE);
		if (!early[i])
			exit(4);
		memset(early[i], 1, EARLY_SIZE);
	}
}

__attribute__((noinline)) static void http_keep_late(void)
{
	for (int i = 0; i < LATE_N; i++) {
		late[i] = malloc(LATE_SIZE);
		if (!late[i])
			exit(4);
		memset(late[i], 2, LATE_SIZE);
	}
}

/* One round: 0 if the block held what was written. */
__attribute__((noinline)) static int http_churn(unsigned round)
{
	unsigned char *volatile p = malloc(4096);
	int bad = 0;

	if (!p)
		return 1;
	memset(p, (int)(round & 0xff), 4096);
	for (int i = 0; i < 4096; i += 512)
		bad |= p[i] != (unsigned char)(round & 0xff);
	free(p);
	return bad;
}

static double seconds(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *run(void *arg)
{
	struct pollfd in = { .fd = 0, .events = POLLIN };
	double end = seconds() + limit;
	unsigned rounds = 0;
	int bad = 0, have_late = 0;

	http_keep_early();
	while (seconds() < end) {
		char c;

		if (poll(&in, 1, 1) > 0 && read(0, &c, 1) <= 0)
			break;
		bad |= http_churn(rounds++);
		if (!have_late && rounds % 10 == 0 && access(marker, F_OK) == 0) {
			http_keep_late();
			have_late = 1;
			printf("late done\n");
			fflush(stdout);
		}
	}
	for (int i = 0; i < EARLY_N; i++)
		free(early[i]);
	for (int i = 0; i < LATE_N; i++)
		free(late[i]);
	printf("http_app: ok %u\n", rounds);
	fflush(stdout);
	if (bad)
		exit(3);
	return arg;
}

int main(int argc, char **argv)
{
	pthread_t t;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--pthread-exit") &&
				     strcmp(argv[3], "--fork"))) {
		fprintf(stderr, "usage: http_app MARKER SECONDS [--pthread-exit | --fork]\n");
		return 2;
	}
	marker = argv[1];
	limit = atof(argv[2]);
	if (argc == 4 && !strcmp(argv[3], "--pthread-exit")) {
		if (pthread_create(&t, NULL, run, NULL))
			return 5;
		pthread_exit(NULL);
	}
	run(NULL);
	if (argc == 4 && fork() == 0) {
		sleep(3);
		_exit(0);
	}
	return 0;
}
