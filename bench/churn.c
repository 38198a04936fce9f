/* churn: malloc/free micro-benchmark for bench/callgrind.sh.
 *
 * usage: churn N [MODE]
 *   N     iterations (default 1000000)
 *   MODE  a size in bytes (default 64): each iteration is p = malloc(MODE); free(p);
 *         "mix": sizes cycle through 16, 32, ..., 4096 (small size classes);
 *         "calloc": p = calloc(1, 64); free(p);
 *         "realloc": p = malloc(64); p = realloc(p, 128); free(p);
 * The pointer goes through an empty asm statement, so the compiler can neither elide the
 * pair nor fold it away. Prints the number of iterations done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make p escape: the compiler must assume the asm reads it and touches memory. */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static void die(const char *msg)
{
	fprintf(stderr, "churn: %s\n", msg);
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

static void run_fixed(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(size);
		if (p == NULL)
			die("malloc failed");
		escape(p);
		free(p);
	}
}

static void run_mix(long n)
{
	size_t size = 16;
	for (long i = 0; i < n; i++) {
		void *p = malloc(size);
		if (p == NULL)
			die("malloc failed");
		escape(p);
		free(p);
		size = size >= 4096 ? 16 : size * 2;
	}
}

static void run_calloc(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = calloc(1, 64);
		if (p == NULL)
			die("calloc failed");
		escape(p);
		free(p);
	}
}

static void run_realloc(long n)
{
	for (long i = 0; i < n; i++) {
		void *p = malloc(64);
		if (p == NULL)
			die("malloc failed");
		escape(p);
		void *q = realloc(p, 128);
		if (q == NULL)
			die("realloc failed");
		escape(q);
		free(q);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? parse_long(argv[1], "bad iteration count") : 1000000;
	const char *mode = argc > 2 ? argv[2] : "64";

	if (strcmp(mode, "mix") == 0)
		run_mix(n);
	else if (strcmp(mode, "calloc") == 0)
		run_calloc(n);
	else if (strcmp(mode, "realloc") == 0)
		run_realloc(n);
	else
		run_fixed(n, (size_t)parse_long(mode, "bad size or mode"));
	printf("%ld\n", n);
	return 0;
}
