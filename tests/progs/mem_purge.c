/* tests/progs/mem_purge.c: frees large blocks, then idles, so that a test can see the
 * sampled arena give their pages back while profiles are being requested
 * (tests/integration/memreport.sh).
 *
 *   mem_purge SECONDS PIDFILE
 *
 * Allocates, touches and keeps 24 blocks of 512 KiB (jemalloc's large blocks) and 4 of
 * 2 MiB (lib/huge's slots), frees them all, writes its pid to PIDFILE.tmp and renames it
 * to PIDFILE, then sleeps SECONDS and returns 0 (the exit profile is written then). Under
 * HEAPPROF=rate=64k nearly every one of these blocks is sampled, so their freed pages are
 * the sampled arena's. Prints nothing unless something goes wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pidfile.h"

enum { NMID = 24, MID = 512 << 10, NBIG = 4, BIG = 2 << 20 };

int main(int argc, char **argv)
{
	void *keep[NMID + NBIG];
	struct timespec ts;
	double seconds;

	if (argc != 3 || (seconds = strtod(argv[1], NULL)) <= 0 || seconds > 600) {
		fprintf(stderr, "usage: mem_purge SECONDS PIDFILE (0 < SECONDS <= 600)\n");
		return 2;
	}
	for (int i = 0; i < NMID + NBIG; i++) {
		size_t n = i < NMID ? MID : BIG;

		keep[i] = malloc(n);
		if (keep[i] == NULL) {
			fprintf(stderr, "mem_purge: out of memory\n");
			return 3;
		}
		memset(keep[i], i + 1, n);
	}
	for (int i = 0; i < NMID + NBIG; i++)
		free(keep[i]);
	if (write_pidfile(argv[2]) != 0) {
		perror("mem_purge: pidfile");
		return 2;
	}
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0)
		;
	return 0;
}
