/* tests/progs/sem_suid.c: a program linked with -lheapprof for tests/hazards/setuid.sh,
 * which compiles it itself (with an rpath to a copy of the library that any user can
 * read) and installs a copy set-uid root.
 *
 *   sem_suid [--dump | --dump=PATH]
 *
 * keep_8mb() allocates 8 MiB in 4 KiB blocks and keeps them; the program prints
 * "sem_suid: secure=N" (getauxval(AT_SECURE): 1 in a set-uid process) and, with --dump,
 * calls heapprof_dump(NULL or PATH) and prints "sem_suid: dump: ok" or the error's
 * heapprof_strerror. Exit status 0 (2 on a usage error), through return from main, so an
 * exit profile would be written if heapprof were running. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <heapprof.h>

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
	int dump = 0;
	const char *path = NULL;

	if (argc > 2) {
		fprintf(stderr, "usage: sem_suid [--dump | --dump=PATH]\n");
		return 2;
	}
	if (argc == 2) {
		if (strcmp(argv[1], "--dump") == 0) {
			dump = 1;
		} else if (strncmp(argv[1], "--dump=", 7) == 0) {
			dump = 1;
			path = argv[1] + 7;
		} else {
			fprintf(stderr, "usage: sem_suid [--dump | --dump=PATH]\n");
			return 2;
		}
	}
	keep_8mb();
	printf("sem_suid: secure=%lu\n", getauxval(AT_SECURE));
	if (dump) {
		int err = heapprof_dump(path);

		printf("sem_suid: dump: %s\n", err ? heapprof_strerror(err) : "ok");
	}
	return 0;
}
