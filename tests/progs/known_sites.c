/* tests/progs/known_sites.c: a program whose heap profile is known in advance.
 *
 *   keep_300mb()   allocates 300 MiB in 4 KiB blocks (76800 blocks) and keeps them all
 *                  (in-use at exit: 314572800 bytes);
 *   churn_100mb()  allocates 100 MiB in 4 KiB blocks (25600 blocks), freeing each at once
 *                  (allocated: 104857600 bytes, in use at exit: 0).
 *
 * Each site is its own noinline function calling malloc directly, so the first frame of a
 * sampled stack (the caller of malloc) is the site itself. The program prints nothing and
 * returns 0 from main, so that an exit profile is written.
 *
 * The plain build uses only the C library: it runs under LD_PRELOAD=libheapprof.so. Built
 * with -DUSE_API (known_sites_linked, linked with -lheapprof), it also accepts
 *   --dump          call heapprof_dump(NULL) after the allocations (automatic name)
 *   --dump=PATH     call heapprof_dump(PATH)
 * and exits 2 with a message if the dump fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef USE_API
#include <heapprof.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#define SITE __attribute__((noinline, noclone, used))
#else
#define SITE __attribute__((noinline, used))
#endif

enum {
	BLOCK = 4096,
	KEEP_BLOCKS = 300 * 1024 * 1024 / BLOCK,	/* 76800 */
	CHURN_BLOCKS = 100 * 1024 * 1024 / BLOCK,	/* 25600 */
};

/* The kept blocks: global, so neither the compiler nor a leak checker can drop them. */
char *kept[KEEP_BLOCKS];
/* Touched bytes are summed here so that no store is dead. */
volatile unsigned long sink;

void keep_300mb(void);
void churn_100mb(void);

SITE void keep_300mb(void)
{
	for (size_t i = 0; i < KEEP_BLOCKS; i++) {
		char *p = malloc(BLOCK);
		if (p == NULL)
			abort();
		p[0] = (char)i;
		kept[i] = p;
	}
}

SITE void churn_100mb(void)
{
	unsigned long sum = 0;
	for (size_t i = 0; i < CHURN_BLOCKS; i++) {
		char *volatile p = malloc(BLOCK);
		if (p == NULL)
			abort();
		p[0] = (char)i;
		sum += (unsigned char)p[0];
		free(p);
	}
	sink += sum;
}

int main(int argc, char **argv)
{
#ifdef USE_API
	int dump = 0;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dump") == 0) {
			dump = 1;
		} else if (strncmp(argv[i], "--dump=", 7) == 0) {
			dump = 1;
			path = argv[i] + 7;
		} else {
			fprintf(stderr, "known_sites: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
#else
	if (argc > 1) {
		fprintf(stderr, "known_sites: %s needs the build with -DUSE_API "
			"(known_sites_linked)\n", argv[1]);
		return 2;
	}
#endif
	keep_300mb();
	churn_100mb();
	sink += (unsigned char)kept[KEEP_BLOCKS - 1][0];
#ifdef USE_API
	if (dump) {
		int err = heapprof_dump(path);
		if (err != 0) {
			fprintf(stderr, "known_sites: heapprof_dump: %s\n", heapprof_strerror(err));
			return 2;
		}
	}
#endif
	return 0;
}
