/* tests/progs/trig_alloc.c: allocation volume and idle time, for the interval= and every=
 * triggers (tests/integration/triggers.sh).
 *
 *   trig_alloc MIB SECONDS [PAUSE_US]
 *
 * Allocates and frees MIB blocks of 1 MiB (writing to each), pausing PAUSE_US
 * microseconds (default 0) after each, then sleeps SECONDS (a decimal) without
 * allocating, then returns 0 from main. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	long mib = argc > 1 ? atol(argv[1]) : -1;
	double secs = argc > 2 ? atof(argv[2]) : -1;
	long pause = argc > 3 ? atol(argv[3]) : 0;
	struct timespec t, gap = { pause / 1000000, (pause % 1000000) * 1000 };

	if (argc < 3 || argc > 4 || mib < 0 || secs < 0 || pause < 0) {
		fprintf(stderr, "usage: trig_alloc MIB SECONDS [PAUSE_US]\n");
		return 2;
	}
	for (long i = 0; i < mib; i++) {
		char *volatile p = malloc(1 << 20);
		if (!p)
			return 3;
		memset(p, (int)i, 4096);
		free(p);
		if (pause)
			nanosleep(&gap, NULL);
	}
	t.tv_sec = (time_t)secs;
	t.tv_nsec = (long)((secs - (double)t.tv_sec) * 1e9);
	nanosleep(&t, NULL);
	return 0;
}
