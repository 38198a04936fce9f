/* tests/progs/svc_heap.c: heap shapes for the service triggers (tests/integration/services.sh).
 *
 *   svc_heap rise UP DOWN KIB   allocates UP MiB in blocks of KIB KiB at rise_site (writing
 *                               to each), frees them down to DOWN MiB, then returns 0 from
 *                               main keeping the rest (the exit profile shows DOWN MiB)
 *   svc_heap wait SECONDS       allocates 1 MiB at wait_site, then sleeps SECONDS (a
 *                               decimal; a signal does not cut the sleep short), returns 0
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *keep[1 << 16];

__attribute__((noinline)) static void *rise_site(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, 1, n);
	return p;
}

__attribute__((noinline)) static void *wait_site(size_t n)
{
	void *p = malloc(n);

	if (p)
		memset(p, 2, n);
	return p;
}

static int rise(long up, long down, long kib)
{
	size_t n = (size_t)kib << 10, blocks = ((size_t)up << 20) / n, left = ((size_t)down << 20) / n;

	if (blocks > sizeof(keep) / sizeof(keep[0]) || left > blocks)
		return 2;
	for (size_t i = 0; i < blocks; i++)
		if (!(keep[i] = rise_site(n)))
			return 3;
	for (size_t i = left; i < blocks; i++)
		free(keep[i]);
	return 0;
}

static int wait_for(double secs)
{
	struct timespec t = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };

	keep[0] = wait_site(1 << 20);
	while (nanosleep(&t, &t) != 0)
		if (errno != EINTR)
			return 3;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "rise") == 0)
		return rise(atol(argv[2]), atol(argv[3]), atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "wait") == 0)
		return wait_for(atof(argv[2]));
	fprintf(stderr, "usage: svc_heap rise UP_MIB DOWN_MIB BLOCK_KIB | svc_heap wait SECONDS\n");
	return 2;
}
