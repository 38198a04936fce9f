/* tests/progs/sem_echo.c: a small program with a known output and exit status, for
 * tests/hazards/settings.sh (bad HEAPPROF values must change neither).
 *
 *   sem_echo STATUS WORD...
 *
 * keep_8mb() allocates 8 MiB in 2048 blocks of 4 KiB and keeps them (so that an exit
 * profile at any rate has samples); then the program prints "sem_echo:" and its words on
 * stdout, "sem_echo: stderr line" on stderr, and exits with STATUS through exit(), a
 * normal exit that writes the exit profile. */
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum { BLOCK = 4096, BLOCKS = 2048 };

char *kept[BLOCKS];

void keep_8mb(void);

SITE void keep_8mb(void)
{
	for (int i = 0; i < BLOCKS; i++) {
		kept[i] = malloc(BLOCK);
		if (!kept[i])
			abort();
		kept[i][0] = (char)i;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sem_echo STATUS WORD...\n");
		return 2;
	}
	keep_8mb();
	printf("sem_echo:");
	for (int i = 2; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	fprintf(stderr, "sem_echo: stderr line\n");
	fflush(NULL);
	exit(atoi(argv[1]));
}
